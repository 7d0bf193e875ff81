/* test_hub_store.c - the hub storage interface behaves the same on both
 * backends (this program runs as unit/test_hub_store on SQLite and as
 * pg/unit/test_hub_store on PostgreSQL): placeholders, NULLs, blobs,
 * INSERT OR IGNORE, changes, transactions, a schema newer than the build,
 * and a database that cannot be reached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/util.h"
#include "store.h"
#include "test_util.h"

static int n_db;

static hub_store *open_db(void) {
  char path[1200];
  shoal_diag d = {{0}};
  hub_store *db = NULL;
  snprintf(path, sizeof path, "%s/store-%d.db", test_tmpdir(), n_db++);
  if (hub_store_open(path, &db, &d) != SHOAL_OK)
    fail_msg("open %s: %s", path, d.msg);
  return db;
}

static void exec_ok(hub_store *db, const char *sql) {
  shoal_diag d = {{0}};
  if (hub_store_exec(db, sql, &d) != SHOAL_OK)
    fail_msg("%s: %s", sql, d.msg);
}

static int64_t q(hub_store *db, const char *sql) {
  int64_t v = -1;
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_query_int(db, sql, -1, &v, &d), SHOAL_OK);
  return v;
}

static void test_hub_store_statements_same_on_both(void **state) {
  (void)state;
  hub_store *db = open_db();
  hub_stmt *st = NULL;
  shoal_diag d = {{0}};
  exec_ok(db, "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, s TEXT, b BYTEA)");
  /* Numbered and bare placeholders; a '?' inside a literal stays text. */
  assert_int_equal(hub_store_prepare(db,
                                     "INSERT OR IGNORE INTO t (k, n, s, b) "
                                     "VALUES (?1, ?2, '?' || ?3, ?4)",
                                     &st, &d),
                   SHOAL_OK);
  static const unsigned char blob[] = {0, 1, 2, 0xff, 0};
  for (int i = 0; i < 2; i++) { /* the second insert is ignored */
    hub_store_reset(st);
    hub_store_bind_text(st, 1, "a", -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 2, 5000000000LL + i);
    hub_store_bind_text(st, 3, "x", 1, HUB_STORE_TRANSIENT);
    hub_store_bind_blob(st, 4, blob, sizeof blob, HUB_STORE_STATIC);
    assert_int_equal(hub_store_step(st), HUB_STORE_DONE);
    assert_int_equal(hub_store_changes(db), i == 0 ? 1 : 0);
  }
  hub_store_reset(st);
  hub_store_clear_bindings(st);
  hub_store_bind_text(st, 1, "b", -1, HUB_STORE_STATIC);
  assert_int_equal(hub_store_step(st), HUB_STORE_DONE); /* unbound: NULL */
  hub_store_finalize(st);

  assert_int_equal(hub_store_prepare(db, "SELECT n, s, b, n > ? FROM t WHERE k = ?", &st, &d),
                   SHOAL_OK);
  hub_store_bind_int64(st, 1, 1);
  hub_store_bind_text(st, 2, "a", -1, HUB_STORE_STATIC);
  assert_int_equal(hub_store_step(st), HUB_STORE_ROW);
  assert_int_equal(hub_store_column_int64(st, 0), 5000000000LL);
  assert_string_equal((const char *)hub_store_column_text(st, 1), "?x");
  assert_int_equal(hub_store_column_bytes(st, 2), sizeof blob);
  assert_memory_equal(hub_store_column_blob(st, 2), blob, sizeof blob);
  assert_int_equal(hub_store_column_int64(st, 3), 1); /* a boolean reads as 1 */
  assert_int_equal(hub_store_step(st), HUB_STORE_DONE);
  hub_store_reset(st);
  hub_store_bind_text(st, 2, "b", -1, HUB_STORE_STATIC);
  assert_int_equal(hub_store_step(st), HUB_STORE_ROW);
  assert_int_equal(hub_store_column_type(st, 0), HUB_STORE_NULL);
  assert_null(hub_store_column_text(st, 1));
  hub_store_finalize(st);
  /* NULL-safe comparison with a parameter (SQLite's IS ?). */
  assert_int_equal(
      hub_store_prepare(db, "SELECT COUNT(*) FROM t WHERE s IS ? AND k IS NOT ?", &st, &d),
      SHOAL_OK);
  hub_store_bind_null(st, 1);
  hub_store_bind_text(st, 2, "a", -1, HUB_STORE_STATIC);
  assert_int_equal(hub_store_step(st), HUB_STORE_ROW);
  assert_int_equal(hub_store_column_int64(st, 0), 1); /* row b: s NULL, k not 'a' */
  hub_store_finalize(st);
  assert_int_equal(q(db, "SELECT shoal_time_ms('2026-01-01T08:00:00,5+0800')"), 1767225600500LL);
  assert_int_equal(q(db, "SELECT shoal_time_ms('not a time') IS NULL"), 1);
  hub_store_close(db);
}

static void test_hub_store_transactions(void **state) {
  (void)state;
  hub_store *db = open_db();
  shoal_diag d = {{0}};
  exec_ok(db, "CREATE TABLE t (k TEXT PRIMARY KEY)");
  assert_int_equal(hub_store_begin(db, &d), SHOAL_OK);
  exec_ok(db, "INSERT INTO t VALUES ('rolled back')");
  hub_store_rollback(db);
  assert_int_equal(q(db, "SELECT COUNT(*) FROM t"), 0);
  assert_int_equal(hub_store_begin(db, &d), SHOAL_OK);
  exec_ok(db, "INSERT INTO t VALUES ('kept')");
  assert_int_equal(hub_store_commit(db, &d), SHOAL_OK);
  assert_int_equal(q(db, "SELECT COUNT(*) FROM t"), 1);
  /* A failing statement is an error on both; a constraint is reported as
   * such. */
  hub_stmt *st = NULL;
  assert_int_equal(hub_store_prepare(db, "INSERT INTO t VALUES (?)", &st, &d), SHOAL_OK);
  hub_store_bind_text(st, 1, "kept", -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  assert_int_equal(s & 0xff, HUB_STORE_CONSTRAINT);
  assert_int_equal(hub_store_fail(db, s, "insert", &d), SHOAL_EDB);
  hub_store_finalize(st);
  if (hub_store_dialect(db) == HUB_STORE_PG) {
    /* PostgreSQL aborts the transaction at the failed statement: COMMIT
     * must then fail (never report a commit that did not happen). */
    assert_int_equal(hub_store_begin(db, &d), SHOAL_OK);
    exec_ok(db, "INSERT INTO t VALUES ('lost')");
    assert_int_not_equal(hub_store_exec(db, "INSERT INTO t VALUES ('kept')", &d), SHOAL_OK);
    assert_int_not_equal(hub_store_commit(db, &d), SHOAL_OK);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM t"), 1);
  }
  hub_store_close(db);
}

/* What the HTTP pool and request bounds rely on: in_tx follows begin /
 * commit / rollback, a second connection names the same database, and a
 * statement past its deadline fails (and a removed bound lets it run). */
static void test_hub_store_session_state(void **state) {
  (void)state;
  hub_store *db = open_db(), *again = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_open_again(db, &again, &d), SHOAL_OK);
  assert_string_equal(hub_store_name(db), hub_store_name(again));
  assert_int_equal(hub_store_in_tx(db), 0);
  assert_int_equal(hub_store_begin(db, &d), SHOAL_OK);
  assert_int_equal(hub_store_in_tx(db), 1);
  assert_int_equal(hub_store_in_tx(again), 0);
  assert_int_equal(hub_store_commit(db, &d), SHOAL_OK);
  assert_int_equal(hub_store_in_tx(db), 0);
  assert_int_equal(hub_store_begin(db, &d), SHOAL_OK);
  hub_store_rollback(db);
  assert_int_equal(hub_store_in_tx(db), 0);
  /* A long query (a million-row recursive count) against a deadline already
   * passed fails; with the bound removed it completes. */
  static const char *slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                            "WHERE x < 3000000) SELECT COUNT(*) FROM c";
  int64_t deadline = shoal_mono_ms() - 1;
  hub_store_set_deadline(again, &deadline);
  int64_t v = 0;
  assert_int_not_equal(hub_store_query_int(again, slow, -1, &v, &d), SHOAL_OK);
  hub_store_set_deadline(again, NULL);
  assert_int_equal(hub_store_query_int(again, slow, -1, &v, &d), SHOAL_OK);
  assert_int_equal(v, 3000000);
  hub_store_close(again);
  hub_store_close(db);
}

static void test_hub_store_refuses_newer_schema(void **state) {
  (void)state;
  char path[1200];
  shoal_diag d = {{0}};
  hub_store *db = NULL;
  snprintf(path, sizeof path, "%s/newer.db", test_tmpdir());
  assert_int_equal(hub_store_open(path, &db, &d), SHOAL_OK);
  exec_ok(db, hub_store_dialect(db) == HUB_STORE_PG ? "UPDATE shoal_schema SET version = 999"
                                                    : "PRAGMA user_version = 999");
  hub_store_close(db);
  db = NULL;
  assert_int_equal(hub_store_open(path, &db, &d), SHOAL_EDB);
  assert_null(db);
  assert_non_null(strstr(d.msg, "newer than this build"));
}

static void test_hub_store_unreachable_uri_refused(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  hub_store *db = NULL;
  assert_int_equal(hub_store_open("postgresql://shoal:secret@127.0.0.1:1/hub", &db, &d), SHOAL_EDB);
  assert_null(db);
  assert_non_null(strstr(d.msg, "cannot connect to PostgreSQL"));
  assert_null(strstr(d.msg, "secret")); /* the password is not echoed */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_store_statements_same_on_both),
      cmocka_unit_test(test_hub_store_transactions),
      cmocka_unit_test(test_hub_store_session_state),
      cmocka_unit_test(test_hub_store_refuses_newer_schema),
      cmocka_unit_test(test_hub_store_unreachable_uri_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
