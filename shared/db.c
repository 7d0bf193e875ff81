/* db.c - SQLite open/migrate/transaction helpers.
 *
 * Durability: journal_mode=WAL lets the daemon read while a CLI command
 * writes; synchronous=FULL makes every COMMIT fsync the WAL, so a sale that
 * was acknowledged to the cashier (and an outbox row the hub was promised)
 * survives power loss. NORMAL would be faster but can lose the last
 * transactions on power failure, which the outbox contract forbids. */
#include "shoal/db.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shoal/jsonx.h"
#include "shoal/timeutil.h"

/* A full disk surfaces as SQLITE_FULL, or - in WAL mode, when the shared
 * memory file cannot grow - as an I/O error whose errno is ENOSPC. Both are
 * "storage full" to the user: free space, and the device sells again. */
static bool is_full(sqlite3 *db, int rc) {
  if ((rc & 0xff) == SQLITE_FULL || rc == SQLITE_IOERR_SHMSIZE)
    return true;
  return (rc & 0xff) == SQLITE_IOERR && db && sqlite3_system_errno(db) == ENOSPC;
}

shoal_err shoal_db_fail(sqlite3 *db, int sqlite_rc, const char *what, shoal_diag *diag) {
  shoal_err err = is_full(db, sqlite_rc) ? SHOAL_EFULL : SHOAL_EDB;
  return shoal_fail(diag, err, "%s: %s%s (sqlite %d)", what,
                    err == SHOAL_EFULL ? "storage full: " : "",
                    db ? sqlite3_errmsg(db) : "no handle", sqlite_rc);
}

shoal_err shoal_db_exec(sqlite3 *db, const char *sql, shoal_diag *diag) {
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    shoal_err err = is_full(db, rc) ? SHOAL_EFULL : SHOAL_EDB;
    shoal_fail(diag, err, "database: %s%s (sqlite %d)", err == SHOAL_EFULL ? "storage full: " : "",
               msg ? msg : sqlite3_errstr(rc), rc);
    sqlite3_free(msg);
    return err;
  }
  return SHOAL_OK;
}

shoal_err shoal_db_begin(sqlite3 *db, shoal_diag *diag) {
  return shoal_db_exec(db, "BEGIN IMMEDIATE", diag);
}

shoal_err shoal_db_commit(sqlite3 *db, shoal_diag *diag) {
  shoal_err rc = shoal_db_exec(db, "COMMIT", diag);
  if (rc != SHOAL_OK)
    shoal_db_rollback(db);
  return rc;
}

void shoal_db_rollback(sqlite3 *db) {
  if (db && !sqlite3_get_autocommit(db))
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

shoal_err shoal_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, shoal_diag *diag) {
  int rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
  if (rc != SQLITE_OK)
    return shoal_db_fail(db, rc, "prepare", diag);
  return SHOAL_OK;
}

shoal_err shoal_db_query_int(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out,
                             shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW)
    *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, 0);
  else if (s == SQLITE_DONE)
    *out = dflt;
  else
    rc = shoal_db_fail(db, s, "query", diag);
  sqlite3_finalize(st);
  return rc;
}

static shoal_err migrate(sqlite3 *db, const char *path, const struct shoal_migration *migs,
                         size_t nmigs, shoal_diag *diag) {
  int64_t version = 0;
  shoal_err rc = shoal_db_query_int(db, "PRAGMA user_version", 0, &version, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (version > (int64_t)nmigs)
    return shoal_fail(diag, SHOAL_EDB,
                      "%s: database schema version %lld is newer than this build knows (%zu); "
                      "refusing to open it",
                      path, (long long)version, nmigs);
  for (size_t i = (size_t)version; i < nmigs; i++) {
    const struct shoal_migration *m = &migs[i];
    char pragma[64];
    if ((rc = shoal_db_begin(db, diag)) != SHOAL_OK)
      return rc;
    /* Another process may have migrated while we waited for the lock (a
     * daemon and a CLI opening a new database at the same moment). */
    int64_t now_version = 0;
    if ((rc = shoal_db_query_int(db, "PRAGMA user_version", 0, &now_version, diag)) != SHOAL_OK) {
      shoal_db_rollback(db);
      return rc;
    }
    if (now_version >= m->number) {
      shoal_db_rollback(db);
      continue;
    }
    rc = shoal_db_exec(db, m->sql, diag);
    if (rc == SHOAL_OK) {
      snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->number);
      rc = shoal_db_exec(db, pragma, diag);
    }
    if (rc == SHOAL_OK)
      rc = shoal_db_commit(db, diag);
    if (rc != SHOAL_OK) {
      shoal_db_rollback(db);
      shoal_diag_prefix(diag, "%s: migration %s", path, m->name);
      return rc;
    }
  }
  return SHOAL_OK;
}

/* SQL function shoal_time_ms(text): Unix milliseconds of an ISO-8601
 * timestamp as shoal_time_parse reads it (every form the commands accept,
 * e.g. +0800 offsets and comma fractions that SQLite's julianday() cannot
 * read), or NULL. Registered on every connection so queries compare times
 * the same way the C code does. */
static void sql_time_ms(sqlite3_context *c, int argc, sqlite3_value **argv) {
  (void)argc;
  const unsigned char *text = sqlite3_value_text(argv[0]);
  struct shoal_time t;
  if (text && shoal_time_parse((const char *)text, &t, NULL) == SHOAL_OK)
    sqlite3_result_int64(c, t.unix_ms);
  else
    sqlite3_result_null(c);
}

shoal_err shoal_db_open(const char *path, const struct shoal_migration *migs, size_t nmigs,
                        sqlite3 **out, shoal_diag *diag) {
  sqlite3 *db = NULL;
  shoal_err rc = SHOAL_OK;
  int s = sqlite3_open_v2(path, &db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
  if (s != SQLITE_OK) {
    rc = shoal_fail(diag, SHOAL_EDB, "cannot open database %s: %s", path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(s));
    goto fail;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 10000);
  if ((s = sqlite3_create_function(db, "shoal_time_ms", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                   sql_time_ms, NULL, NULL)) != SQLITE_OK) {
    rc = shoal_db_fail(db, s, "register shoal_time_ms", diag);
    goto fail;
  }
  /* Switching a new file to WAL takes an exclusive lock and does not wait
   * on the busy handler: retry while another process holds it. */
  for (int tries = 0;; tries++) {
    s = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    if ((s & 0xff) != SQLITE_BUSY && (s & 0xff) != SQLITE_LOCKED)
      break;
    if (tries >= 1000) /* 10 s, as the busy timeout */
      break;
    usleep(10000);
  }
  if (s != SQLITE_OK) {
    rc = shoal_db_fail(db, s, "set WAL mode", diag);
    shoal_diag_prefix(diag, "%s", path);
    goto fail;
  }
  if ((rc = shoal_db_exec(db, "PRAGMA synchronous=FULL", diag)) != SHOAL_OK ||
      (rc = shoal_db_exec(db, "PRAGMA foreign_keys=ON", diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s", path);
    goto fail;
  }
  if ((rc = migrate(db, path, migs, nmigs, diag)) != SHOAL_OK)
    goto fail;
  *out = db;
  return SHOAL_OK;
fail:
  if (db)
    sqlite3_close(db);
  return rc;
}

void shoal_db_close(sqlite3 *db) {
  if (db)
    sqlite3_close(db);
}

bool shoal_db_json_add_text(cJSON *obj, const char *key, sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? cJSON_AddStringToObject(obj, key, (const char *)t) != NULL
           : cJSON_AddNullToObject(obj, key) != NULL;
}

bool shoal_db_json_add_time(cJSON *obj, const char *key, sqlite3_stmt *st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL)
    return cJSON_AddNullToObject(obj, key) != NULL;
  char buf[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_utc(sqlite3_column_int64(st, col), buf, sizeof buf);
  return cJSON_AddStringToObject(obj, key, buf) != NULL;
}

shoal_err shoal_db_json_rows(sqlite3 *db, sqlite3_stmt *st, const char *what, cJSON **out,
                             shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *item = NULL;
    if ((rc = shoal_json_parse((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), &item, diag)) != SHOAL_OK)
      break;
    cJSON_AddItemToArray(arr, item);
  }
  if (rc == SHOAL_OK && s != SQLITE_DONE)
    rc = shoal_db_fail(db, s, what, diag);
  if (rc != SHOAL_OK) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return SHOAL_OK;
}
