/* test_signing.c - policy envelopes and work-order codes (SPEC 4.3, 7.4):
 * a signed envelope verifies, any altered byte or a foreign key fails, the
 * acceptance rules (scope, rollback, equal version, expiry against the
 * later clock) hold, and codes catch forgery, wrong store and expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/crypto.h"
#include "shoal/signing.h"
#include "test_keys.h"
#include "test_util.h"

static struct shoal_privkey *priv, *other_priv;
static struct shoal_pubkey *pub, *other_pub;

static int setup(void **state) {
  (void)state;
  test_key_pair("hq", &priv, &pub, NULL);
  test_key_pair("evil", &other_priv, &other_pub, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  shoal_privkey_free(priv);
  shoal_privkey_free(other_priv);
  shoal_pubkey_free(pub);
  shoal_pubkey_free(other_pub);
  return 0;
}

static const char *DOC =
    "{\"scope\":\"region/cn-sw\",\"items\":[{\"sku\":\"MT-001\",\"price\":2600}]}";

/* noinline: inlined, GCC -O3 mistakes the returned heap buffer for the local
 * variable holding it (-Wdangling-pointer false positive). */
__attribute__((noinline)) static char *sign_env(struct shoal_privkey *k, const char *scope,
                                                int64_t v, const char *exp) {
  char *out = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(
      shoal_policy_envelope_sign(k, scope, v, "2026-11-22T08:00:00Z", NULL, exp, DOC, &out, &d),
      SHOAL_OK);
  return out;
}

static void test_signing_envelope_verifies_and_keeps_doc_bytes(void **state) {
  (void)state;
  char *env = sign_env(priv, "region/cn-sw", 3, NULL);
  const struct shoal_pubkey *keys[] = {pub};
  struct shoal_policy_envelope e;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_policy_envelope_verify(env, strlen(env), keys, 1, &e, &d), SHOAL_OK);
  assert_string_equal(e.doc, DOC);
  assert_int_equal(e.version, 3);
  assert_string_equal(e.scope, "region/cn-sw");
  assert_true(e.effective_ms == SHOAL_NO_TIME);
  shoal_policy_envelope_cleanup(&e);
  free(env);
}

static void test_signing_envelope_tampering_or_foreign_key_fails(void **state) {
  (void)state;
  const struct shoal_pubkey *keys[] = {pub};
  struct shoal_policy_envelope e;
  shoal_diag d = {{0}};
  /* Price changed after signing. */
  char *env = sign_env(priv, "region/cn-sw", 3, NULL);
  char *p = strstr(env, "2600");
  assert_non_null(p);
  p[0] = '1';
  assert_int_equal(shoal_policy_envelope_verify(env, strlen(env), keys, 1, &e, &d), SHOAL_ESIG);
  free(env);
  /* Version bumped after signing. */
  env = sign_env(priv, "region/cn-sw", 3, NULL);
  p = strstr(env, "\"version\":3");
  p[10] = '9';
  assert_int_equal(shoal_policy_envelope_verify(env, strlen(env), keys, 1, &e, &d), SHOAL_ESIG);
  free(env);
  /* Signed by a key the device does not trust; a second trusted key (rotation) works. */
  env = sign_env(other_priv, "region/cn-sw", 3, NULL);
  assert_int_equal(shoal_policy_envelope_verify(env, strlen(env), keys, 1, &e, &d), SHOAL_ESIG);
  const struct shoal_pubkey *both[] = {pub, other_pub};
  assert_int_equal(shoal_policy_envelope_verify(env, strlen(env), both, 2, &e, &d), SHOAL_OK);
  shoal_policy_envelope_cleanup(&e);
  free(env);
}

static void test_signing_acceptance_rules(void **state) {
  (void)state;
  const struct shoal_pubkey *keys[] = {pub};
  struct shoal_policy_envelope e;
  shoal_diag d = {{0}};
  enum shoal_policy_verdict v;
  char *env = sign_env(priv, "region/cn-sw", 5, "2026-12-01T00:00:00Z");
  assert_int_equal(shoal_policy_envelope_verify(env, strlen(env), keys, 1, &e, &d), SHOAL_OK);
  int64_t now = e.issued_ms + 1000;
  assert_int_equal(shoal_policy_envelope_check(&e, "cn-sw", "cd-001", 4, now, 0, &v, &d), SHOAL_OK);
  assert_int_equal(v, SHOAL_POLICY_ACCEPT);
  assert_int_equal(shoal_policy_envelope_check(&e, "cn-sw", "cd-001", 5, now, 0, &v, &d), SHOAL_OK);
  assert_int_equal(v, SHOAL_POLICY_SAME);
  assert_int_equal(shoal_policy_envelope_check(&e, "cn-sw", "cd-001", 6, now, 0, &v, &d),
                   SHOAL_EROLLBACK);
  assert_int_equal(shoal_policy_envelope_check(&e, "cn-east", "sh-001", 0, now, 0, &v, &d),
                   SHOAL_ESCOPE);
  /* Expired by the device clock... */
  assert_int_equal(
      shoal_policy_envelope_check(&e, "cn-sw", "cd-001", 0, e.expires_ms + 1, 0, &v, &d),
      SHOAL_EEXPIRED);
  /* ...and a clock set back cannot revive it when a newer issued_at was seen. */
  assert_int_equal(
      shoal_policy_envelope_check(&e, "cn-sw", "cd-001", 0, now, e.expires_ms + 5, &v, &d),
      SHOAL_EEXPIRED);
  shoal_policy_envelope_cleanup(&e);
  free(env);
  /* Oversized envelopes are refused before parsing. */
  size_t big = SHOAL_POLICY_ENVELOPE_MAX_BYTES + 1;
  char *blob = malloc(big);
  memset(blob, '{', big);
  assert_int_equal(shoal_policy_envelope_verify(blob, big, keys, 1, &e, &d), SHOAL_ELIMIT);
  free(blob);
}

static void test_signing_work_order_codes(void **state) {
  (void)state;
  const struct shoal_pubkey *keys[] = {pub};
  shoal_diag d = {{0}};
  char *code = NULL;
  assert_int_equal(shoal_wo_code_make(priv, "T-pos.1-7", "cd-001", 2000000000, &code, &d),
                   SHOAL_OK);
  assert_int_equal(strncmp(code, "SHOAL1.T-pos.1-7.cd-001.2000000000.", 35), 0);
  char ticket[SHOAL_ID_MAX + 1];
  int64_t exp = 0;
  assert_int_equal(shoal_wo_code_verify(code, keys, 1, "cd-001", 1900000000, ticket, &exp, &d),
                   SHOAL_OK);
  assert_string_equal(ticket, "T-pos.1-7");
  assert_int_equal(exp, 2000000000);
  assert_int_equal(shoal_wo_code_verify(code, keys, 1, "sh-001", 1900000000, ticket, &exp, &d),
                   SHOAL_ESCOPE);
  assert_int_equal(shoal_wo_code_verify(code, keys, 1, "cd-001", 2000000001, ticket, &exp, &d),
                   SHOAL_EEXPIRED);
  /* Change the store in the code: the signature no longer matches. */
  char *forged = strdup(code);
  memcpy(strstr(forged, "cd-001"), "cd-002", 6);
  assert_int_equal(shoal_wo_code_verify(forged, keys, 1, "cd-002", 1900000000, ticket, &exp, &d),
                   SHOAL_ESIG);
  free(forged);
  free(code);
  /* Signed by another key. */
  assert_int_equal(shoal_wo_code_make(other_priv, "T-1", "cd-001", 2000000000, &code, &d),
                   SHOAL_OK);
  assert_int_equal(shoal_wo_code_verify(code, keys, 1, "cd-001", 1900000000, ticket, &exp, &d),
                   SHOAL_ESIG);
  free(code);
  assert_int_equal(shoal_wo_code_verify("SHOAL1.garbage", keys, 1, "cd-001", 0, ticket, &exp, &d),
                   SHOAL_EINPUT);
}

static void test_signing_hmac_and_base64(void **state) {
  (void)state;
  char hex[65];
  /* RFC 4231 test case 2. */
  shoal_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
  assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  shoal_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  char *b = NULL;
  const unsigned char raw[] = {0xfb, 0xff, 0x01};
  assert_int_equal(shoal_base64_encode(raw, 3, true, &b), SHOAL_OK);
  assert_string_equal(b, "-_8B");
  unsigned char back[8];
  size_t n = 0;
  assert_int_equal(shoal_base64_decode(b, true, back, sizeof back, &n), SHOAL_OK);
  assert_int_equal(n, 3);
  assert_memory_equal(back, raw, 3);
  free(b);
  /* base64url padding is optional (RFC 4648 section 5): a work-order code
   * signed by a tool that pads must verify too; broken padding must not. */
  const unsigned char two[] = {0xfb, 0xff};
  assert_int_equal(shoal_base64_decode("-_8", true, back, sizeof back, &n), SHOAL_OK);
  assert_int_equal(n, 2);
  assert_memory_equal(back, two, 2);
  assert_int_equal(shoal_base64_decode("-_8=", true, back, sizeof back, &n), SHOAL_OK);
  assert_int_equal(n, 2);
  assert_memory_equal(back, two, 2);
  assert_int_equal(shoal_base64_decode("-w==", true, back, sizeof back, &n), SHOAL_OK);
  assert_int_equal(n, 1);
  assert_int_not_equal(shoal_base64_decode("-_8==", true, back, sizeof back, &n), SHOAL_OK);
  assert_int_not_equal(shoal_base64_decode("-_=8", true, back, sizeof back, &n), SHOAL_OK);
  assert_int_not_equal(shoal_base64_decode("-_8+", true, back, sizeof back, &n), SHOAL_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signing_envelope_verifies_and_keeps_doc_bytes),
      cmocka_unit_test(test_signing_envelope_tampering_or_foreign_key_fails),
      cmocka_unit_test(test_signing_acceptance_rules),
      cmocka_unit_test(test_signing_work_order_codes),
      cmocka_unit_test(test_signing_hmac_and_base64),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
