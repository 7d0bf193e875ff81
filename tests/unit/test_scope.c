/* test_scope.c - the scope vocabulary: "global", "region/<id>" and
 * "store/<id>" parse to their kind and id and nothing else does (overlong,
 * empty or badly formed ids, truncation by an embedded NUL); format writes
 * the same strings back and refuses bad ids and short buffers; a store's
 * chain is global, region/R, store/S with absent slots empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/scope.h"

static void test_parse_accepts_the_three_kinds(void **state) {
  (void)state;
  enum shoal_scope_kind k;
  const char *id = NULL;
  assert_int_equal(shoal_scope_parse("global", &k, &id, NULL), SHOAL_OK);
  assert_int_equal(k, SHOAL_SCOPE_GLOBAL);
  assert_string_equal(id, "");
  assert_int_equal(shoal_scope_parse("region/cn-sw", &k, &id, NULL), SHOAL_OK);
  assert_int_equal(k, SHOAL_SCOPE_REGION);
  assert_string_equal(id, "cn-sw");
  assert_int_equal(shoal_scope_parse("store/cd_001.a", &k, &id, NULL), SHOAL_OK);
  assert_int_equal(k, SHOAL_SCOPE_STORE);
  assert_string_equal(id, "cd_001.a");
}

static void test_parse_refuses_everything_else(void **state) {
  (void)state;
  static const char *const bad[] = {"",          "Global",    "global/",   "region/",   "store/",
                                    "region",    "store",     "region/-x", "store/a b", "store/a/b",
                                    "regions/x", " global",   "global ",   "store/é",   "store/x\n",
                                    "device/d1", "region//x", NULL};
  for (int i = 0; bad[i]; i++) {
    enum shoal_scope_kind k;
    const char *id = NULL;
    shoal_diag d = {{0}};
    assert_int_equal(shoal_scope_parse(bad[i], &k, &id, &d), SHOAL_EINPUT);
    assert_non_null(strstr(d.msg, "bad scope"));
  }
}

static void test_parse_refuses_overlong_ids(void **state) {
  (void)state;
  char scope[SHOAL_SCOPE_MAX + 8];
  char id[SHOAL_ID_MAX + 2];
  enum shoal_scope_kind k;
  const char *got = NULL;
  memset(id, 'a', SHOAL_ID_MAX);
  id[SHOAL_ID_MAX] = '\0'; /* the longest id there is */
  snprintf(scope, sizeof scope, "region/%s", id);
  assert_int_equal(shoal_scope_parse(scope, &k, &got, NULL), SHOAL_OK);
  assert_true(strlen(scope) < SHOAL_SCOPE_MAX);
  id[SHOAL_ID_MAX] = 'a';
  id[SHOAL_ID_MAX + 1] = '\0'; /* one byte too long */
  snprintf(scope, sizeof scope, "store/%s", id);
  assert_int_equal(shoal_scope_parse(scope, &k, &got, NULL), SHOAL_EINPUT);
}

static void test_embedded_nul_cannot_smuggle_a_suffix(void **state) {
  (void)state;
  /* "store/a\0/b": C sees "store/a"; the id is exactly "a", never "a/b". */
  static const char raw[] = "store/a\0/b";
  enum shoal_scope_kind k;
  const char *id = NULL;
  assert_int_equal(shoal_scope_parse(raw, &k, &id, NULL), SHOAL_OK);
  assert_string_equal(id, "a");
  /* and format refuses an id with a NUL where a character should be */
  char buf[SHOAL_SCOPE_MAX];
  assert_int_equal(shoal_scope_format(buf, sizeof buf, SHOAL_SCOPE_STORE, "", NULL), SHOAL_EINPUT);
  assert_string_equal(buf, "");
}

static void test_format_round_trips_and_refuses(void **state) {
  (void)state;
  char buf[SHOAL_SCOPE_MAX];
  shoal_diag d = {{0}};
  assert_int_equal(shoal_scope_format(buf, sizeof buf, SHOAL_SCOPE_GLOBAL, NULL, NULL), SHOAL_OK);
  assert_string_equal(buf, "global");
  assert_int_equal(shoal_scope_format(buf, sizeof buf, SHOAL_SCOPE_REGION, "cn-sw", NULL),
                   SHOAL_OK);
  assert_string_equal(buf, "region/cn-sw");
  assert_int_equal(shoal_scope_format(buf, sizeof buf, SHOAL_SCOPE_STORE, "cd-001", NULL),
                   SHOAL_OK);
  assert_string_equal(buf, "store/cd-001");
  enum shoal_scope_kind k;
  const char *id = NULL;
  assert_int_equal(shoal_scope_parse(buf, &k, &id, NULL), SHOAL_OK);
  assert_int_equal(k, SHOAL_SCOPE_STORE);
  assert_string_equal(id, "cd-001");

  assert_int_equal(shoal_scope_format(buf, sizeof buf, SHOAL_SCOPE_REGION, "a/b", &d),
                   SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "region"));
  assert_string_equal(buf, "");
  assert_int_equal(shoal_scope_format(buf, sizeof buf, SHOAL_SCOPE_STORE, NULL, NULL),
                   SHOAL_EINPUT);
  char small[8];
  assert_int_equal(shoal_scope_format(small, sizeof small, SHOAL_SCOPE_STORE, "cd-001", NULL),
                   SHOAL_ELIMIT);
  assert_string_equal(small, ""); /* never a truncated scope */
  char longest[SHOAL_ID_MAX + 1];
  memset(longest, 'z', SHOAL_ID_MAX);
  longest[SHOAL_ID_MAX] = '\0';
  assert_int_equal(shoal_scope_format(buf, sizeof buf, SHOAL_SCOPE_REGION, longest, NULL),
                   SHOAL_OK);
  assert_int_equal(strlen(buf), strlen("region/") + SHOAL_ID_MAX);
}

static void test_chain_of_a_store(void **state) {
  (void)state;
  struct shoal_scope_chain c;
  assert_int_equal(shoal_scope_chain(&c, "cn-sw", "cd-001", NULL), SHOAL_OK);
  assert_string_equal(c.scope[SHOAL_SCOPE_GLOBAL], "global");
  assert_string_equal(c.scope[SHOAL_SCOPE_REGION], "region/cn-sw");
  assert_string_equal(c.scope[SHOAL_SCOPE_STORE], "store/cd-001");
  for (int k = 0; k < SHOAL_SCOPE_CHAIN_LEN; k++)
    assert_true(shoal_scope_chain_has(&c, (enum shoal_scope_kind)k));
  assert_int_equal(shoal_scope_chain_find(&c, "global"), SHOAL_SCOPE_GLOBAL);
  assert_int_equal(shoal_scope_chain_find(&c, "region/cn-sw"), SHOAL_SCOPE_REGION);
  assert_int_equal(shoal_scope_chain_find(&c, "store/cd-001"), SHOAL_SCOPE_STORE);
  assert_int_equal(shoal_scope_chain_find(&c, "store/cd-002"), -1);
  assert_int_equal(shoal_scope_chain_find(&c, "region/cn"), -1);
  assert_int_equal(shoal_scope_chain_find(&c, ""), -1);
}

static void test_chain_global_and_region_only(void **state) {
  (void)state;
  struct shoal_scope_chain c;
  assert_int_equal(shoal_scope_chain(&c, NULL, NULL, NULL), SHOAL_OK);
  assert_string_equal(c.scope[SHOAL_SCOPE_GLOBAL], "global");
  assert_false(shoal_scope_chain_has(&c, SHOAL_SCOPE_REGION));
  assert_false(shoal_scope_chain_has(&c, SHOAL_SCOPE_STORE));
  assert_int_equal(shoal_scope_chain_find(&c, ""), -1); /* an empty slot never matches */
  assert_int_equal(shoal_scope_chain(&c, "cn-sw", "", NULL), SHOAL_OK);
  assert_string_equal(c.scope[SHOAL_SCOPE_REGION], "region/cn-sw");
  assert_false(shoal_scope_chain_has(&c, SHOAL_SCOPE_STORE));
  assert_int_equal(shoal_scope_chain(&c, NULL, "cd-001", NULL), SHOAL_OK);
  assert_false(shoal_scope_chain_has(&c, SHOAL_SCOPE_REGION));
  assert_string_equal(c.scope[SHOAL_SCOPE_STORE], "store/cd-001");
}

static void test_chain_refuses_bad_ids(void **state) {
  (void)state;
  struct shoal_scope_chain c;
  shoal_diag d = {{0}};
  char longest[SHOAL_ID_MAX + 2];
  memset(longest, 'r', SHOAL_ID_MAX + 1);
  longest[SHOAL_ID_MAX + 1] = '\0';
  assert_int_equal(shoal_scope_chain(&c, longest, "cd-001", &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "region"));
  for (int k = 0; k < SHOAL_SCOPE_CHAIN_LEN; k++)
    assert_string_equal(c.scope[k], ""); /* nothing half-built */
  assert_int_equal(shoal_scope_chain(&c, "cn-sw", "cd 001", &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "store"));
  assert_int_equal(shoal_scope_chain(&c, "cn-sw", "x/../y", NULL), SHOAL_EINPUT);
  assert_string_equal(shoal_scope_kind_name(SHOAL_SCOPE_REGION), "region");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_accepts_the_three_kinds),
      cmocka_unit_test(test_parse_refuses_everything_else),
      cmocka_unit_test(test_parse_refuses_overlong_ids),
      cmocka_unit_test(test_embedded_nul_cannot_smuggle_a_suffix),
      cmocka_unit_test(test_format_round_trips_and_refuses),
      cmocka_unit_test(test_chain_of_a_store),
      cmocka_unit_test(test_chain_global_and_region_only),
      cmocka_unit_test(test_chain_refuses_bad_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
