/* store_int.h - what a hub storage backend implements (private to
 * hub/store*.c). A connection and a statement start with their backend's
 * table, so the dispatch in store.c needs no knowledge of either engine. */
#ifndef HUB_STORE_INT_H
#define HUB_STORE_INT_H

#include "store.h"

struct hub_store_vt {
  const char *name;
  enum hub_store_dialect dialect;
  shoal_err (*open_again)(hub_store *db, hub_store **out, shoal_diag *diag);
  void (*close)(hub_store *db);
  shoal_err (*prepare)(hub_store *db, const char *sql, hub_stmt **out, shoal_diag *diag);
  int (*bind_int64)(hub_stmt *st, int i, int64_t v);
  int (*bind_double)(hub_stmt *st, int i, double v);
  int (*bind_null)(hub_stmt *st, int i);
  int (*bind_text)(hub_stmt *st, int i, const char *text, int len, void (*del)(void *));
  int (*bind_blob)(hub_stmt *st, int i, const void *data, int len, void (*del)(void *));
  int (*bind_parameter_count)(hub_stmt *st);
  int (*step)(hub_stmt *st);
  int (*reset)(hub_stmt *st);
  int (*clear_bindings)(hub_stmt *st);
  int (*finalize)(hub_stmt *st);
  int (*column_count)(hub_stmt *st);
  int (*column_type)(hub_stmt *st, int col);
  int64_t (*column_int64)(hub_stmt *st, int col);
  double (*column_double)(hub_stmt *st, int col);
  const unsigned char *(*column_text)(hub_stmt *st, int col);
  const void *(*column_blob)(hub_stmt *st, int col);
  int (*column_bytes)(hub_stmt *st, int col);
  int64_t (*changes)(hub_store *db);
  int64_t (*last_insert_id)(hub_store *db);
  const char *(*errmsg)(hub_store *db);
  shoal_err (*exec)(hub_store *db, const char *sql, shoal_diag *diag);
  shoal_err (*begin)(hub_store *db, shoal_diag *diag);
  void (*rollback)(hub_store *db);
  int (*is_full)(hub_store *db, int rc);
  int (*try_lock)(hub_store *db, int64_t key);
  int (*in_tx)(hub_store *db);
  const char *(*db_name)(hub_store *db);
  void (*set_deadline)(hub_store *db, const int64_t *deadline_mono_ms);
};

struct hub_store {
  const struct hub_store_vt *vt;
};

struct hub_stmt {
  const struct hub_store_vt *vt;
  hub_store *db;
};

extern const struct hub_store_vt hub_store__sqlite;
extern const struct hub_store_vt hub_store__pg;

/* Backend entry points: open (and migrate) the database named by db. */
shoal_err hub_store__sqlite_open(const char *db, hub_store **out, shoal_diag *diag);
shoal_err hub_store__pg_open(const char *uri, hub_store **out, shoal_diag *diag);

/* Test mode (SHOAL_TEST_HUB_PG=URI without a database, or /file holding
 * one): the database a SQLite path stands for, created on first use and
 * named after a hash of the absolute path, so every hub test - and every
 * process of one test - runs unchanged on PostgreSQL. */
shoal_err hub_store__pg_test_uri(const char *path, const char *base, char *out, size_t n,
                                 shoal_diag *diag);

#endif
