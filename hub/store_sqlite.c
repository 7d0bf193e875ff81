/* store_sqlite.c - the SQLite backend of the hub storage interface: a thin
 * wrapper over sqlite3 (opened, tuned and migrated by shared/db.c, which
 * also registers shoal_time_ms). The embedded default for one hub. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/db.h"
#include "shoal/util.h"
#include "store_int.h"

extern const struct shoal_migration hub_migrations[];
extern const size_t hub_migrations_count;

struct sq_store {
  hub_store base;
  sqlite3 *db;
  char *path;
};

struct sq_stmt {
  hub_stmt base;
  sqlite3_stmt *st;
};

#define DB(x) (((struct sq_store *)(x))->db)
#define ST(x) (((struct sq_stmt *)(x))->st)

static shoal_err sq_wrap(sqlite3 *db, const char *path, hub_store **out, shoal_diag *diag) {
  struct sq_store *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(path))) {
    free(s);
    shoal_db_close(db);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  s->base.vt = &hub_store__sqlite;
  s->db = db;
  *out = &s->base;
  return SHOAL_OK;
}

shoal_err hub_store__sqlite_open(const char *path, hub_store **out, shoal_diag *diag) {
  sqlite3 *db = NULL;
  shoal_err rc = shoal_db_open(path, hub_migrations, hub_migrations_count, &db, diag);
  if (rc != SHOAL_OK)
    return rc;
  return sq_wrap(db, path, out, diag);
}

static shoal_err sq_open_again(hub_store *db, hub_store **out, shoal_diag *diag) {
  return hub_store__sqlite_open(((struct sq_store *)db)->path, out, diag);
}

static void sq_close(hub_store *db) {
  struct sq_store *s = (struct sq_store *)db;
  shoal_db_close(s->db);
  free(s->path);
  free(s);
}

static shoal_err sq_prepare(hub_store *db, const char *sql, hub_stmt **out, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(DB(db), sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  struct sq_stmt *s = calloc(1, sizeof *s);
  if (!s) {
    sqlite3_finalize(st);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  s->base.vt = &hub_store__sqlite;
  s->base.db = db;
  s->st = st;
  *out = &s->base;
  return SHOAL_OK;
}

static int sq_bind_int64(hub_stmt *st, int i, int64_t v) {
  return sqlite3_bind_int64(ST(st), i, v);
}
static int sq_bind_double(hub_stmt *st, int i, double v) {
  return sqlite3_bind_double(ST(st), i, v);
}
static int sq_bind_null(hub_stmt *st, int i) {
  return sqlite3_bind_null(ST(st), i);
}
static int sq_bind_text(hub_stmt *st, int i, const char *t, int len, void (*del)(void *)) {
  return sqlite3_bind_text(ST(st), i, t, len,
                           del == HUB_STORE_STATIC ? SQLITE_STATIC : SQLITE_TRANSIENT);
}
static int sq_bind_blob(hub_stmt *st, int i, const void *d, int len, void (*del)(void *)) {
  return sqlite3_bind_blob(ST(st), i, d, len,
                           del == HUB_STORE_STATIC ? SQLITE_STATIC : SQLITE_TRANSIENT);
}
static int sq_bind_parameter_count(hub_stmt *st) {
  return sqlite3_bind_parameter_count(ST(st));
}
static int sq_step(hub_stmt *st) {
  return sqlite3_step(ST(st));
}
static int sq_reset(hub_stmt *st) {
  return sqlite3_reset(ST(st));
}
static int sq_clear_bindings(hub_stmt *st) {
  return sqlite3_clear_bindings(ST(st));
}
static int sq_finalize(hub_stmt *st) {
  int rc = sqlite3_finalize(ST(st));
  free(st);
  return rc;
}
static int sq_column_count(hub_stmt *st) {
  return sqlite3_column_count(ST(st));
}
static int sq_column_type(hub_stmt *st, int c) {
  return sqlite3_column_type(ST(st), c);
}
static int64_t sq_column_int64(hub_stmt *st, int c) {
  return sqlite3_column_int64(ST(st), c);
}
static double sq_column_double(hub_stmt *st, int c) {
  return sqlite3_column_double(ST(st), c);
}
static const unsigned char *sq_column_text(hub_stmt *st, int c) {
  return sqlite3_column_text(ST(st), c);
}
static const void *sq_column_blob(hub_stmt *st, int c) {
  return sqlite3_column_blob(ST(st), c);
}
static int sq_column_bytes(hub_stmt *st, int c) {
  return sqlite3_column_bytes(ST(st), c);
}
static int64_t sq_changes(hub_store *db) {
  return sqlite3_changes(DB(db));
}
static int64_t sq_last_insert_id(hub_store *db) {
  return sqlite3_last_insert_rowid(DB(db));
}
static const char *sq_errmsg(hub_store *db) {
  return sqlite3_errmsg(DB(db));
}
static shoal_err sq_exec(hub_store *db, const char *sql, shoal_diag *diag) {
  return shoal_db_exec(DB(db), sql, diag);
}
static shoal_err sq_begin(hub_store *db, shoal_diag *diag) {
  return shoal_db_begin(DB(db), diag);
}
static void sq_rollback(hub_store *db) {
  shoal_db_rollback(DB(db));
}

/* As shared/db.c: SQLITE_FULL, or a WAL shared-memory I/O error on ENOSPC. */
static const char *sq_name(hub_store *db) {
  return ((struct sq_store *)db)->path;
}

static int sq_in_tx(hub_store *db) {
  return !sqlite3_get_autocommit(DB(db));
}

/* Interrupts a statement once the deadline passed. */
static int sq_progress_deadline(void *arg) {
  const int64_t *deadline = arg;
  return *deadline && shoal_mono_ms() > *deadline;
}

static void sq_set_deadline(hub_store *db, const int64_t *deadline_mono_ms) {
  if (deadline_mono_ms)
    sqlite3_progress_handler(DB(db), 10000, sq_progress_deadline, (void *)deadline_mono_ms);
  else
    sqlite3_progress_handler(DB(db), 0, NULL, NULL);
}

static int sq_is_full(hub_store *db, int rc) {
  if ((rc & 0xff) == SQLITE_FULL || rc == SQLITE_IOERR_SHMSIZE)
    return 1;
  return (rc & 0xff) == SQLITE_IOERR && sqlite3_system_errno(DB(db)) == ENOSPC;
}

/* One hub per SQLite file: every singleton duty simply runs here. */
static int sq_try_lock(hub_store *db, int64_t key) {
  (void)db;
  (void)key;
  return 1;
}

const struct hub_store_vt hub_store__sqlite = {
    .name = "sqlite",
    .dialect = HUB_STORE_SQLITE,
    .open_again = sq_open_again,
    .close = sq_close,
    .prepare = sq_prepare,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_null = sq_bind_null,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_parameter_count = sq_bind_parameter_count,
    .step = sq_step,
    .reset = sq_reset,
    .clear_bindings = sq_clear_bindings,
    .finalize = sq_finalize,
    .column_count = sq_column_count,
    .column_type = sq_column_type,
    .column_int64 = sq_column_int64,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .column_bytes = sq_column_bytes,
    .changes = sq_changes,
    .last_insert_id = sq_last_insert_id,
    .errmsg = sq_errmsg,
    .exec = sq_exec,
    .begin = sq_begin,
    .rollback = sq_rollback,
    .is_full = sq_is_full,
    .try_lock = sq_try_lock,
    .in_tx = sq_in_tx,
    .db_name = sq_name,
    .set_deadline = sq_set_deadline,
};
