/* store.h - the hub's storage interface: one small prepared-statement API
 * over two backends, SQLite (hub/store_sqlite.c, the embedded default) and
 * PostgreSQL (hub/store_pg.c, libpq), chosen by the config `db` value: a
 * `postgresql://` or `postgres://` URI opens PostgreSQL, anything else is a
 * SQLite path. Every hub module talks to its database only through here.
 *
 * CONVERTING SQLITE CODE (mechanical; scripts/hub_store_convert.sh does it):
 *   `sqlite3 *` -> `hub_store *`;  `sqlite3` + `_stmt` -> `hub_stmt`
 *   `sqlite3` + `_bind_X/_column_X/_step/_reset/_finalize/_clear_bindings/
 *   _changes/_errmsg` -> `hub_store_<same>` (same arguments, same results)
 *   `SQLITE` + `_ROW/_DONE/_OK/_NULL/_STATIC/_TRANSIENT` -> `HUB_STORE_<same>`
 *   `shoal_db` + `_prepare/_exec/_begin/_commit/_rollback/_query_int/_fail/
 *   _json_*` (include/shoal/db.h) -> `hub_store_<same>`; include store.h, not db.h
 *   `shoal_db_open(path, hub_migrations, hub_migrations_count, &db, diag)`
 *   -> `hub_store_open(path, &db, diag)`; `sqlite3_exec(db, sql, ...)` ->
 *   `hub_store_exec(db, sql, diag)`; a new connection: hub_store_open_again
 * SQL both engines accept (keep ONE dialect):
 *   - `?` and `?N` placeholders (rewritten to $n on PostgreSQL; `x IS ?`
 *     becomes IS NOT DISTINCT FROM);
 *   - `INSERT OR IGNORE INTO t ...` (rewritten to `... ON CONFLICT DO
 *     NOTHING`; better: write the ON CONFLICT form yourself); no INSERT OR
 *     REPLACE (use ON CONFLICT (key) DO UPDATE SET c = excluded.c);
 *   - COALESCE not IFNULL; no rowid, PRAGMA, sqlite_master, julianday,
 *     strftime, json_each, json(), json_object, GLOB; comparisons are
 *     case-sensitive on both;
 *   - json_extract(doc, '$.a.b') where the value is read as TEXT, and the
 *     two-argument scalar MAX(a, b)/MIN(a, b) over integers, exist on both
 *     (PostgreSQL twins in hub/migrations_pg/0007 and 0011); JSON numbers,
 *     arrays and objects built in SQL differ: branch on the dialect
 *     (hub_reports.c SQ_/PG_ macros, hub_submissions.c);
 *   - a parameter that may be NULL and is only compared with IS NULL needs
 *     its type: CAST(?1 AS TEXT) IS NULL OR col = ?1;
 *   - no boolean arithmetic: SUM(CASE WHEN x THEN 1 ELSE 0 END), not SUM(x);
 *   - a column named with a word PostgreSQL reserves is double-quoted in
 *     every statement ("user" in audit);
 *   - an integer column is BIGINT on PostgreSQL; booleans come back as 0/1
 *     through hub_store_column_int64; SUM() is read with column_int64;
 *   - shoal_time_ms(iso_text) exists on both;
 *   - a subquery in FROM needs an alias: FROM (SELECT ...) x (PostgreSQL 15);
 *   - in ON CONFLICT ... DO UPDATE SET, name the table's own columns with
 *     the table (SET n = t.n + 1, COALESCE(?1, t.c)): unqualified they are
 *     ambiguous with excluded.* on PostgreSQL;
 *   - ORDER BY whenever more than one row may come back and order matters
 *     (PostgreSQL returns rows in no particular order without it);
 *   - a statement that fails inside a transaction aborts the transaction on
 *     PostgreSQL: never rely on a failing statement and carry on (use
 *     ON CONFLICT, or a SAVEPOINT).
 *   - where the dialects cannot meet, branch on hub_store_dialect(db).
 * Migrations: hub/migrations/NNNN_x.sql (SQLite) and hub/migrations_pg/
 * NNNN_x.sql (PostgreSQL) with the same numbers and the same meaning. */
#ifndef HUB_STORE_H
#define HUB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"

typedef struct hub_store hub_store; /* one connection; one thread at a time */
typedef struct hub_stmt hub_stmt;   /* one prepared statement of a connection */

/* Result codes of the sqlite3-shaped calls (same values as SQLite's). */
enum {
  HUB_STORE_OK = 0,
  HUB_STORE_ERROR = 1,
  HUB_STORE_BUSY = 5,
  HUB_STORE_NOMEM = 7,
  HUB_STORE_FULL = 13,
  HUB_STORE_CONSTRAINT = 19,
  HUB_STORE_RANGE = 25,
  HUB_STORE_ROW = 100,
  HUB_STORE_DONE = 101
};

/* Column types (hub_store_column_type). */
enum {
  HUB_STORE_INTEGER = 1,
  HUB_STORE_FLOAT = 2,
  HUB_STORE_TEXT = 3,
  HUB_STORE_BLOB = 4,
  HUB_STORE_NULL = 5
};

/* Bind destructors: both make the bound value valid until the next bind,
 * clear_bindings or finalize (PostgreSQL always copies). */
#define HUB_STORE_STATIC    ((void (*)(void *))0)
#define HUB_STORE_TRANSIENT ((void (*)(void *)) - 1)

enum hub_store_dialect { HUB_STORE_SQLITE, HUB_STORE_PG };

/* Opens the hub database named by db (a SQLite path, or a postgresql:// /
 * postgres:// URI) and applies the hub migrations of its dialect. A schema
 * newer or older than this build handles, or a database that cannot be
 * reached, is refused with diag naming it. *out: caller closes. */
shoal_err hub_store_open(const char *db, hub_store **out, shoal_diag *diag);

/* Opens another connection to the same database as db (no migrations):
 * for a worker thread or a lock holder. *out: caller closes. */
shoal_err hub_store_open_again(hub_store *db, hub_store **out, shoal_diag *diag);

/* Closes a connection; NULL is a no-op. Statements must be finalized first. */
void hub_store_close(hub_store *db);

/* Which SQL dialect db speaks. */
enum hub_store_dialect hub_store_dialect(const hub_store *db);

/* True if db is a PostgreSQL URI (the test for which backend opens it). */
int hub_store_is_pg_uri(const char *db);

/* Prepares sql (one statement); on failure fills diag. *out: caller
 * finalizes. */
shoal_err hub_store_prepare(hub_store *db, const char *sql, hub_stmt **out, shoal_diag *diag);

/* The sqlite3-shaped statement calls. Indexes: bind from 1, column from 0.
 * step returns HUB_STORE_ROW, HUB_STORE_DONE or an error code (translate it
 * with hub_store_fail). Column text stays valid until the next step, reset
 * or finalize; NULL for SQL NULL. */
int hub_store_bind_int64(hub_stmt *st, int i, int64_t v);
int hub_store_bind_int(hub_stmt *st, int i, int v);
int hub_store_bind_double(hub_stmt *st, int i, double v);
int hub_store_bind_null(hub_stmt *st, int i);
int hub_store_bind_text(hub_stmt *st, int i, const char *text, int len, void (*del)(void *));
int hub_store_bind_blob(hub_stmt *st, int i, const void *data, int len, void (*del)(void *));
int hub_store_bind_parameter_count(hub_stmt *st);
int hub_store_step(hub_stmt *st);
int hub_store_reset(hub_stmt *st);
int hub_store_clear_bindings(hub_stmt *st);
int hub_store_finalize(hub_stmt *st); /* NULL is a no-op */
int hub_store_column_count(hub_stmt *st);
int hub_store_column_type(hub_stmt *st, int col);
int64_t hub_store_column_int64(hub_stmt *st, int col);
int hub_store_column_int(hub_stmt *st, int col);
double hub_store_column_double(hub_stmt *st, int col);
const unsigned char *hub_store_column_text(hub_stmt *st, int col);
const void *hub_store_column_blob(hub_stmt *st, int col);
int hub_store_column_bytes(hub_stmt *st, int col);

/* Rows changed by the last INSERT/UPDATE/DELETE on db. */
int64_t hub_store_changes(hub_store *db);
/* Id of the last row inserted into a table whose id is generated (SQLite
 * rowid; PostgreSQL lastval()). 0 if none. */
int64_t hub_store_last_insert_id(hub_store *db);
/* The last error message of db (never NULL). */
const char *hub_store_errmsg(hub_store *db);

/* Runs SQL with no result rows and no parameters (several statements
 * allowed); errors carry the engine's message. */
shoal_err hub_store_exec(hub_store *db, const char *sql, shoal_diag *diag);

/* Write transaction: writers are serialized (SQLite: BEGIN IMMEDIATE;
 * PostgreSQL: BEGIN plus a transaction advisory lock, so that read-modify-
 * write code keeps SQLite's semantics across hubs). Rollback never fails
 * loudly; a failed commit rolls back. */
shoal_err hub_store_begin(hub_store *db, shoal_diag *diag);
shoal_err hub_store_commit(hub_store *db, shoal_diag *diag);
void hub_store_rollback(hub_store *db);

/* Translates an engine result code at the boundary: full storage becomes
 * SHOAL_EFULL, anything else SHOAL_EDB; diag gets what plus the engine's
 * message (logged once, here). */
shoal_err hub_store_fail(hub_store *db, int rc, const char *what, shoal_diag *diag);

/* Runs a query returning one integer (first column of first row); *out is
 * dflt if there is no row or it is NULL. */
shoal_err hub_store_query_int(hub_store *db, const char *sql, int64_t dflt, int64_t *out,
                              shoal_diag *diag);

/* Adds column col of st's current row to obj under key (JSON null for SQL
 * NULL): _text as a string, _time (Unix ms) as ISO 8601 UTC. False if it
 * could not (obj NULL or no memory): a builder collects these with
 * `ok &= ...` and checks once. */
bool hub_store_json_add_text(cJSON *obj, const char *key, hub_stmt *st, int col);
bool hub_store_json_add_time(cJSON *obj, const char *key, hub_stmt *st, int col);

/* Steps st (prepared and bound by the caller, who finalizes it) and parses
 * column 0 of every row as JSON into a new array *out (caller deletes). */
shoal_err hub_store_json_rows(hub_store *db, hub_stmt *st, const char *what, cJSON **out,
                              shoal_diag *diag);

/* Singleton duties (SPEC 16): tries to hold the cluster-wide lock named key
 * on db (a dedicated connection: the lock lives as long as it). Returns 1
 * if held (now or already), 0 if another hub holds it, -1 if the database
 * is unreachable (the lock, if it was held, is lost). SQLite: always 1. */
int hub_store_try_lock(hub_store *db, int64_t key);

/* 1 while a transaction is open on db (begun and not yet committed or
 * rolled back), else 0. */
int hub_store_in_tx(hub_store *db);

/* What db was opened by: the SQLite path or the PostgreSQL URI (as given;
 * it may hold a password: not for messages). Two connections to one
 * database give equal names (sqlite3_db_filename converts to this). */
const char *hub_store_name(hub_store *db);

/* Bounds every later statement of db by *deadline_mono_ms (shoal_mono_ms();
 * 0 = none; the pointer stays valid until the next call): a statement past
 * it fails. NULL removes the bound. SQLite: a progress handler; PostgreSQL:
 * statement_timeout set from the time left when a statement starts. */
void hub_store_set_deadline(hub_store *db, const int64_t *deadline_mono_ms);

#endif
