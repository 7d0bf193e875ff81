/* db.h - SQLite helpers shared by agent and hub: opening with the durability
 * settings Shoal relies on, numbered embedded migrations recorded in
 * PRAGMA user_version (one transaction each), and small statement helpers. */
#ifndef SHOAL_DB_H
#define SHOAL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "shoal/err.h"

struct shoal_migration {
  int number;       /* 1, 2, 3 ... = the user_version after it ran */
  const char *name; /* file name, for messages */
  const char *sql;
};

/* Opens (creating if needed) the database at path, sets WAL,
 * synchronous=FULL, a busy timeout and foreign keys, registers the SQL
 * function shoal_time_ms(iso_text) -> Unix ms or NULL (shoal_time_parse), and applies every
 * migration above the file's user_version. A file whose user_version is
 * newer than this build knows is refused (a downgrade would corrupt it).
 * On success *out is an open handle the caller closes with shoal_db_close. */
shoal_err shoal_db_open(const char *path, const struct shoal_migration *migs, size_t nmigs,
                        sqlite3 **out, shoal_diag *diag);

/* Closes a handle; NULL is a no-op. */
void shoal_db_close(sqlite3 *db);

/* Runs SQL with no result rows; errors carry SQLite's message. */
shoal_err shoal_db_exec(sqlite3 *db, const char *sql, shoal_diag *diag);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Rollback never fails loudly. */
shoal_err shoal_db_begin(sqlite3 *db, shoal_diag *diag);
shoal_err shoal_db_commit(sqlite3 *db, shoal_diag *diag);
void shoal_db_rollback(sqlite3 *db);

/* Translates an SQLite result code at the boundary: SQLITE_FULL becomes
 * SHOAL_EFULL, anything else SHOAL_EDB; diag gets what, plus sqlite's text. */
shoal_err shoal_db_fail(sqlite3 *db, int sqlite_rc, const char *what, shoal_diag *diag);

/* Prepares sql; on failure fills diag. */
shoal_err shoal_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, shoal_diag *diag);

/* Runs a query returning one integer (first column of first row); *out is
 * set to dflt if there is no row. */
shoal_err shoal_db_query_int(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out,
                             shoal_diag *diag);

/* Adds column col of st's current row to obj under key, as JSON null when
 * the column is SQL NULL: _text as a string, _time (Unix ms) as an ISO 8601
 * UTC string (shoal_time_format_utc). False if out of memory (or obj NULL). */
bool shoal_db_json_add_text(cJSON *obj, const char *key, sqlite3_stmt *st, int col);
bool shoal_db_json_add_time(cJSON *obj, const char *key, sqlite3_stmt *st, int col);

/* Steps st (prepared and bound by the caller, who finalizes it) and parses
 * column 0 of every row as JSON into a new array *out (caller deletes).
 * what names the query in a database error. */
shoal_err shoal_db_json_rows(sqlite3 *db, sqlite3_stmt *st, const char *what, cJSON **out,
                             shoal_diag *diag);

#endif
