/* store.c - the hub storage interface: picks the backend from the `db`
 * value and dispatches each call through the backend's table; the helpers
 * built on the statement API (query_int, JSON rows) live here once, for
 * both engines. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "shoal/jsonx.h"
#include "shoal/timeutil.h"
#include "store_int.h"

int hub_store_is_pg_uri(const char *db) {
  return db && (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0);
}

shoal_err hub_store_open(const char *db, hub_store **out, shoal_diag *diag) {
  if (!db || !*db)
    return shoal_fail(diag, SHOAL_ECONFIG, "db: empty database name");
  if (hub_store_is_pg_uri(db))
    return hub_store__pg_open(db, out, diag);
  const char *test_pg = getenv("SHOAL_TEST_HUB_PG");
  if (test_pg && *test_pg) {
    char uri[700];
    shoal_err rc = hub_store__pg_test_uri(db, test_pg, uri, sizeof uri, diag);
    return rc != SHOAL_OK ? rc : hub_store__pg_open(uri, out, diag);
  }
  return hub_store__sqlite_open(db, out, diag);
}

shoal_err hub_store_open_again(hub_store *db, hub_store **out, shoal_diag *diag) {
  return db->vt->open_again(db, out, diag);
}

void hub_store_close(hub_store *db) {
  if (db)
    db->vt->close(db);
}

enum hub_store_dialect hub_store_dialect(const hub_store *db) {
  return db->vt->dialect;
}

shoal_err hub_store_prepare(hub_store *db, const char *sql, hub_stmt **out, shoal_diag *diag) {
  return db->vt->prepare(db, sql, out, diag);
}

int hub_store_bind_int64(hub_stmt *st, int i, int64_t v) {
  return st->vt->bind_int64(st, i, v);
}
int hub_store_bind_int(hub_stmt *st, int i, int v) {
  return st->vt->bind_int64(st, i, v);
}
int hub_store_bind_double(hub_stmt *st, int i, double v) {
  return st->vt->bind_double(st, i, v);
}
int hub_store_bind_null(hub_stmt *st, int i) {
  return st->vt->bind_null(st, i);
}
int hub_store_bind_text(hub_stmt *st, int i, const char *text, int len, void (*del)(void *)) {
  return st->vt->bind_text(st, i, text, len, del);
}
int hub_store_bind_blob(hub_stmt *st, int i, const void *data, int len, void (*del)(void *)) {
  return st->vt->bind_blob(st, i, data, len, del);
}
int hub_store_bind_parameter_count(hub_stmt *st) {
  return st->vt->bind_parameter_count(st);
}
int hub_store_step(hub_stmt *st) {
  return st->vt->step(st);
}
int hub_store_reset(hub_stmt *st) {
  return st->vt->reset(st);
}
int hub_store_clear_bindings(hub_stmt *st) {
  return st->vt->clear_bindings(st);
}
int hub_store_finalize(hub_stmt *st) {
  return st ? st->vt->finalize(st) : HUB_STORE_OK;
}
int hub_store_column_count(hub_stmt *st) {
  return st->vt->column_count(st);
}
int hub_store_column_type(hub_stmt *st, int col) {
  return st->vt->column_type(st, col);
}
int64_t hub_store_column_int64(hub_stmt *st, int col) {
  return st->vt->column_int64(st, col);
}
int hub_store_column_int(hub_stmt *st, int col) {
  return (int)st->vt->column_int64(st, col);
}
double hub_store_column_double(hub_stmt *st, int col) {
  return st->vt->column_double(st, col);
}
const unsigned char *hub_store_column_text(hub_stmt *st, int col) {
  return st->vt->column_text(st, col);
}
const void *hub_store_column_blob(hub_stmt *st, int col) {
  return st->vt->column_blob(st, col);
}
int hub_store_column_bytes(hub_stmt *st, int col) {
  return st->vt->column_bytes(st, col);
}
int64_t hub_store_changes(hub_store *db) {
  return db->vt->changes(db);
}
int64_t hub_store_last_insert_id(hub_store *db) {
  return db->vt->last_insert_id(db);
}
const char *hub_store_errmsg(hub_store *db) {
  return db ? db->vt->errmsg(db) : "no handle";
}

shoal_err hub_store_exec(hub_store *db, const char *sql, shoal_diag *diag) {
  return db->vt->exec(db, sql, diag);
}

shoal_err hub_store_begin(hub_store *db, shoal_diag *diag) {
  return db->vt->begin(db, diag);
}

shoal_err hub_store_commit(hub_store *db, shoal_diag *diag) {
  shoal_err rc = db->vt->exec(db, "COMMIT", diag);
  if (rc != SHOAL_OK)
    hub_store_rollback(db);
  return rc;
}

void hub_store_rollback(hub_store *db) {
  if (db)
    db->vt->rollback(db);
}

shoal_err hub_store_fail(hub_store *db, int rc, const char *what, shoal_diag *diag) {
  int full = db && db->vt->is_full(db, rc);
  return shoal_fail(diag, full ? SHOAL_EFULL : SHOAL_EDB, "%s: %s%s (%s %d)", what,
                    full ? "storage full: " : "", hub_store_errmsg(db), db ? db->vt->name : "db",
                    rc);
}

int hub_store_try_lock(hub_store *db, int64_t key) {
  return db->vt->try_lock(db, key);
}

int hub_store_in_tx(hub_store *db) {
  return db->vt->in_tx(db);
}

const char *hub_store_name(hub_store *db) {
  return db->vt->db_name(db);
}

void hub_store_set_deadline(hub_store *db, const int64_t *deadline_mono_ms) {
  db->vt->set_deadline(db, deadline_mono_ms);
}

shoal_err hub_store_query_int(hub_store *db, const char *sql, int64_t dflt, int64_t *out,
                              shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW)
    *out = hub_store_column_type(st, 0) == HUB_STORE_NULL ? dflt : hub_store_column_int64(st, 0);
  else if (s == HUB_STORE_DONE)
    *out = dflt;
  else
    rc = hub_store_fail(db, s, "query", diag);
  hub_store_finalize(st);
  return rc;
}

bool hub_store_json_add_text(cJSON *obj, const char *key, hub_stmt *st, int col) {
  const unsigned char *t = hub_store_column_text(st, col);
  if (t)
    return cJSON_AddStringToObject(obj, key, (const char *)t) != NULL;
  return cJSON_AddNullToObject(obj, key) != NULL;
}

bool hub_store_json_add_time(cJSON *obj, const char *key, hub_stmt *st, int col) {
  if (hub_store_column_type(st, col) == HUB_STORE_NULL)
    return cJSON_AddNullToObject(obj, key) != NULL;
  char buf[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_utc(hub_store_column_int64(st, col), buf, sizeof buf);
  return cJSON_AddStringToObject(obj, key, buf) != NULL;
}

shoal_err hub_store_json_rows(hub_store *db, hub_stmt *st, const char *what, cJSON **out,
                              shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  int s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *item = NULL;
    if ((rc = shoal_json_parse((const char *)hub_store_column_text(st, 0),
                               (size_t)hub_store_column_bytes(st, 0), &item, diag)) != SHOAL_OK)
      break;
    if (!shoal_json_push(arr, item)) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      break;
    }
  }
  if (rc == SHOAL_OK && s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, what, diag);
  if (rc != SHOAL_OK) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return SHOAL_OK;
}
