/* test_hardening.c - regression tests for foundation fixes made by the
 * security issue: the signer refuses what the verifier would refuse (found
 * by fuzz_policy_envelope), and a full disk is reported as SHOAL_EFULL
 * "storage full" whichever way SQLite surfaces it (test_disk_full). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/signing.h"
#include "test_util.h"

static void test_hardening_sign_refuses_unverifiable_envelopes(void **state) {
  (void)state;
  char *ps = NULL, *pubs = NULL, *out = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_key_generate(&ps, &pubs, &d), SHOAL_OK);
  struct shoal_privkey *k = NULL;
  assert_int_equal(shoal_privkey_load(test_write_file("hk.pem", ps), &k, &d), SHOAL_OK);
  const char *doc = "{\"scope\":\"global\"}";
  /* The fuzzer's input: a scope the verifier rejects was signed all the same. */
  assert_int_equal(shoal_policy_envelope_sign(k, "signatureglobal", 3, "2026-11-22T08:00:00Z", NULL,
                                              NULL, doc, &out, &d),
                   SHOAL_EINPUT);
  assert_null(out);
  assert_int_equal(shoal_policy_envelope_sign(k, "region/a/b", 3, "2026-11-22T08:00:00Z", NULL,
                                              NULL, doc, &out, &d),
                   SHOAL_EINPUT);
  assert_int_equal(
      shoal_policy_envelope_sign(k, "global", 0, "2026-11-22T08:00:00Z", NULL, NULL, doc, &out, &d),
      SHOAL_EINPUT);
  char long_ts[64];
  snprintf(long_ts, sizeof long_ts, "2026-11-22T08:00:00.000000000000000000000+08:00");
  assert_int_equal(shoal_policy_envelope_sign(k, "global", 1, long_ts, NULL, NULL, doc, &out, &d),
                   SHOAL_EINPUT);
  /* A document that is not UTF-8 (the verifier's JSON reader refuses it). */
  assert_int_equal(shoal_policy_envelope_sign(k, "global", 1, "2026-11-22T08:00:00Z", NULL, NULL,
                                              "{\"scope\":\"glo\x90\x91"
                                              "bal\"}",
                                              &out, &d),
                   SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "UTF-8"));
  assert_null(out);
  /* And what it does sign, the verifier reads back. */
  struct shoal_pubkey *pub = NULL;
  assert_int_equal(shoal_pubkey_parse(pubs, strlen(pubs), &pub, &d), SHOAL_OK);
  assert_int_equal(shoal_policy_envelope_sign(k, "store/cd-001", 2, "2026-11-22T08:00:00Z", NULL,
                                              "2027-01-01T00:00:00+08:00", doc, &out, &d),
                   SHOAL_OK);
  struct shoal_policy_envelope env;
  const struct shoal_pubkey *keys[1] = {pub};
  assert_int_equal(shoal_policy_envelope_verify(out, strlen(out), keys, 1, &env, &d), SHOAL_OK);
  assert_string_equal(env.scope, "store/cd-001");
  shoal_policy_envelope_cleanup(&env);
  free(out);
  shoal_pubkey_free(pub);
  shoal_privkey_free(k);
  shoal_secure_free(ps);
  free(pubs);
}

static const struct shoal_migration migs[] = {
    {1, "0001_t.sql", "CREATE TABLE t (x TEXT NOT NULL);"},
};

static void test_hardening_full_database_is_storage_full(void **state) {
  (void)state;
  char path[1100];
  snprintf(path, sizeof path, "%s/full.db", test_tmpdir());
  sqlite3 *db = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_db_open(path, migs, 1, &db, &d), SHOAL_OK);
  assert_int_equal(shoal_db_exec(db, "PRAGMA max_page_count = 8", &d), SHOAL_OK);
  shoal_err rc = SHOAL_OK;
  for (int i = 0; i < 1000 && rc == SHOAL_OK; i++)
    rc = shoal_db_exec(db, "INSERT INTO t VALUES (hex(randomblob(500)))", &d);
  assert_int_equal(rc, SHOAL_EFULL);
  assert_non_null(strstr(d.msg, "storage full"));
  /* Through shoal_db_fail too (the path prepared statements take). */
  sqlite3_stmt *st = NULL;
  assert_int_equal(shoal_db_prepare(db, "INSERT INTO t VALUES (hex(randomblob(500)))", &st, &d),
                   SHOAL_OK);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  assert_int_equal(shoal_db_fail(db, s, "insert", &d), SHOAL_EFULL);
  assert_non_null(strstr(d.msg, "storage full"));
  shoal_db_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hardening_sign_refuses_unverifiable_envelopes),
      cmocka_unit_test(test_hardening_full_database_is_storage_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
