/* test_member_code.c - member codes and points arithmetic (SPEC 13): a code
 * round-trips and verifies; forged, altered, other-chain, expired and
 * malformed codes are refused with exit-4 errors; points earned and the
 * proportional share of a return are exact integers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/loyalty.h"
#include "shoal/member_code.h"
#include "test_keys.h"
#include "test_util.h"

static struct shoal_privkey *priv, *other_priv;
static struct shoal_pubkey *pub, *other_pub;

static int setup(void **state) {
  (void)state;
  test_key_pair("hq", &priv, &pub, NULL);
  test_key_pair("other", &other_priv, &other_pub, NULL);
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

static struct shoal_member_code sample(void) {
  struct shoal_member_code c;
  memset(&c, 0, sizeof c);
  strcpy(c.customer, "C-1001");
  strcpy(c.tier, "gold");
  strcpy(c.tags[0], "night_buyer");
  strcpy(c.tags[1], "vip-2");
  c.ntags = 2;
  c.points = 500;
  strcpy(c.nonce, "AbCdEfGh_-12");
  c.expires = 2000000000;
  return c;
}

__attribute__((noinline)) static char *make(struct shoal_privkey *k,
                                            const struct shoal_member_code *c) {
  char *code = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_member_code_make(k, c, &code, &d), SHOAL_OK);
  return code;
}

static void test_member_code_round_trip(void **state) {
  (void)state;
  struct shoal_member_code c = sample(), back;
  char *code = make(priv, &c);
  static const char want[] = "SHOALM1.C-1001.gold.night_buyer,vip-2.500.AbCdEfGh_-12.2000000000.";
  assert_true(strncmp(code, want, sizeof want - 1) == 0);
  const struct shoal_pubkey *keys[] = {other_pub, pub}; /* any trusted key */
  shoal_diag d = {{0}};
  assert_int_equal(shoal_member_code_verify(code, keys, 2, 1999999999, &back, &d), SHOAL_OK);
  assert_string_equal(back.customer, "C-1001");
  assert_string_equal(back.tier, "gold");
  assert_int_equal(back.ntags, 2);
  assert_string_equal(back.tags[1], "vip-2");
  assert_int_equal(back.points, 500);
  assert_string_equal(back.nonce, "AbCdEfGh_-12");
  assert_int_equal(back.expires, 2000000000);
  free(code);

  /* No tier and no tags are written "-" and read back empty. */
  c.tier[0] = '\0';
  c.ntags = 0;
  code = make(priv, &c);
  assert_non_null(strstr(code, ".C-1001.-.-.500."));
  assert_int_equal(shoal_member_code_verify(code, keys, 2, 0, &back, &d), SHOAL_OK);
  assert_string_equal(back.tier, "");
  assert_int_equal(back.ntags, 0);
  free(code);
}

static void test_member_code_refusals_are_security_errors(void **state) {
  (void)state;
  struct shoal_member_code c = sample(), back;
  const struct shoal_pubkey *keys[] = {pub};
  shoal_diag d = {{0}};
  char *code = make(priv, &c);

  /* Another chain's key: exit 4. */
  char *foreign = make(other_priv, &c);
  assert_int_equal(shoal_member_code_verify(foreign, keys, 1, 0, &back, &d), SHOAL_ESIG);
  assert_int_equal(shoal_err_exit_code(SHOAL_ESIG), 4);
  free(foreign);

  /* Altered points (more than reserved): the signature fails. */
  char *forged = strdup(code);
  char *p = strstr(forged, ".500.");
  p[1] = '9';
  assert_int_equal(shoal_member_code_verify(forged, keys, 1, 0, &back, &d), SHOAL_ESIG);
  /* Altered tier. */
  strcpy(forged, code);
  memcpy(strstr(forged, "gold"), "GOLD", 4);
  assert_int_equal(shoal_member_code_verify(forged, keys, 1, 0, &back, &d), SHOAL_ESIG);
  /* Flipped signature byte. */
  strcpy(forged, code);
  char *last = strrchr(forged, '.') + 5;
  *last = *last == 'A' ? 'B' : 'A';
  assert_int_equal(shoal_member_code_verify(forged, keys, 1, 0, &back, &d), SHOAL_ESIG);
  free(forged);

  /* Expired at its second and after. */
  assert_int_equal(shoal_member_code_verify(code, keys, 1, 2000000000, &back, &d), SHOAL_EEXPIRED);
  assert_int_equal(shoal_err_exit_code(SHOAL_EEXPIRED), 4);

  /* Malformed: refused as a security error too, and decode names it. */
  static const char *const bad[] = {
      "",
      "SHOAL1.t1.s1.2000000000.sig",
      "SHOALM1.C.gold.-.5.nonce123.99",                 /* 6 fields */
      "SHOALM1.C.gold.-.5.nonce123.99.sig.extra",       /* 8 fields */
      "SHOALM1.C..-.5.nonce123.99.sig",                 /* empty tier */
      "SHOALM1.C.gold.-.-5.nonce123.99.sig",            /* negative points */
      "SHOALM1.C.gold.-.05.nonce123.99.sig",            /* not canonical */
      "SHOALM1.C.gold.-.5.short.99.sig",                /* nonce too short */
      "SHOALM1.C.gold.a,,b.5.nonce1234.99.sig",         /* empty tag */
      "SHOALM1.C/x.gold.-.5.nonce1234.99.sig",          /* not an identifier */
      "SHOALM1.C.gold.-.5.nonce1234.1e9.sig",           /* bad expiry */
      "SHOALM1.C.gold.-.99999999999999.nonce1234.9.sig" /* points over the maximum */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(shoal_member_code_verify(bad[i], keys, 1, 0, &back, &d), SHOAL_ESIG);
    assert_int_equal(shoal_member_code_decode(bad[i], &back, &d), SHOAL_EINPUT);
  }
  free(code);

  /* The hub cannot sign a code its tills could not split. */
  c = sample();
  strcpy(c.customer, "C.1001");
  char *out = NULL;
  assert_int_equal(shoal_member_code_make(priv, &c, &out, &d), SHOAL_EINPUT);
  assert_null(out);
}

static void test_member_code_loyalty_policy(void **state) {
  (void)state;
  struct shoal_loyalty l;
  shoal_diag d = {{0}};
  cJSON *o = NULL;
  const char *good = "{\"earn_per\":100,\"redeem_value\":10}";
  assert_int_equal(shoal_json_parse(good, strlen(good), &o, &d), SHOAL_OK);
  assert_int_equal(shoal_loyalty_parse(o, &l, &d), SHOAL_OK);
  assert_int_equal(l.code_ttl_s, 300);
  assert_int_equal(l.grace_s, 86400);
  cJSON_Delete(o);
  const char *bad[] = {"{\"earn_per\":100}", "{\"earn_per\":0,\"redeem_value\":1}",
                       "{\"earn_per\":1,\"redeem_value\":1,\"bonus\":2}",
                       "{\"earn_per\":1.5,\"redeem_value\":1}",
                       "{\"earn_per\":1,\"redeem_value\":1,\"code_ttl_s\":0}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(shoal_json_parse(bad[i], strlen(bad[i]), &o, &d), SHOAL_OK);
    assert_int_equal(shoal_loyalty_parse(o, &l, &d), SHOAL_EINPUT);
    cJSON_Delete(o);
  }
}

static void test_member_code_points_math(void **state) {
  (void)state;
  struct shoal_loyalty l = {.earn_per = 100, .redeem_value = 10, .code_ttl_s = 300, .grace_s = 0};
  /* 5990 total, 300 paid in points: (5990 - 300) / 100 = 56 points. */
  assert_int_equal(shoal_loyalty_earned(&l, 5990, 300), 56);
  assert_int_equal(shoal_loyalty_earned(&l, 99, 0), 0);
  assert_int_equal(shoal_loyalty_earned(&l, 300, 300), 0);
  struct shoal_loyalty none;
  shoal_loyalty_defaults(&none);
  assert_int_equal(shoal_loyalty_earned(&none, 100000, 0), 0);

  /* 56 points earned on 5990; three returns of 1997 + 1997 + 1996 give
   * back 18 + 19 + 19 = 56: all of it, never more. */
  assert_int_equal(shoal_loyalty_share(56, 0, 1997, 5990), 18);
  assert_int_equal(shoal_loyalty_share(56, 1997, 1997, 5990), 19);
  assert_int_equal(shoal_loyalty_share(56, 3994, 1996, 5990), 19);
  /* Over-returns are clamped; degenerate wholes give nothing. */
  assert_int_equal(shoal_loyalty_share(56, 5990, 10, 5990), 0);
  assert_int_equal(shoal_loyalty_share(56, 0, 9999, 5990), 56);
  assert_int_equal(shoal_loyalty_share(56, 0, 10, 0), 0);
  /* Large values stay exact (128-bit products). */
  assert_int_equal(shoal_loyalty_share(1000000000000LL, 0, 500000000000000LL, 1000000000000000LL),
                   500000000000LL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_member_code_round_trip),
      cmocka_unit_test(test_member_code_refusals_are_security_errors),
      cmocka_unit_test(test_member_code_loyalty_policy),
      cmocka_unit_test(test_member_code_points_math),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
