/* test_wire.c - the topic table and event envelopes (SPEC 4.1, 4.2):
 * topics format and parse back, identifiers that could escape a topic are
 * refused, envelopes round-trip with a 64-bit HLC kept exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/hlc.h"
#include "shoal/wire.h"

static void test_wire_topics_format_and_parse(void **state) {
  (void)state;
  char t[SHOAL_TOPIC_MAX], a[SHOAL_ID_MAX + 1], b[SHOAL_ID_MAX + 1];
  enum shoal_topic k;
  assert_int_equal(shoal_topic_format(t, sizeof t, "shoal/v1", SHOAL_TOPIC_UP, "cd-001", "pos-1"),
                   SHOAL_OK);
  assert_string_equal(t, "shoal/v1/up/cd-001/pos-1");
  assert_int_equal(shoal_topic_parse("shoal/v1", t, &k, a, b), SHOAL_OK);
  assert_int_equal(k, SHOAL_TOPIC_UP);
  assert_string_equal(a, "cd-001");
  assert_string_equal(b, "pos-1");
  assert_int_equal(
      shoal_topic_format(t, sizeof t, "shoal/v1", SHOAL_TOPIC_POLICY_REGION, "cn-sw", NULL),
      SHOAL_OK);
  assert_string_equal(t, "shoal/v1/policy/region/cn-sw");
  assert_int_equal(shoal_topic_parse("shoal/v1", t, &k, a, b), SHOAL_OK);
  assert_int_equal(k, SHOAL_TOPIC_POLICY_REGION);
  assert_string_equal(a, "cn-sw");
  assert_int_equal(
      shoal_topic_format(t, sizeof t, "shoal/v1", SHOAL_TOPIC_POLICY_GLOBAL, NULL, NULL), SHOAL_OK);
  assert_string_equal(t, "shoal/v1/policy/global");
  assert_int_equal(
      shoal_topic_format(t, sizeof t, "shoal/v1", SHOAL_TOPIC_DOWN_STORE, "cd-001", NULL),
      SHOAL_OK);
  assert_int_equal(shoal_topic_parse("shoal/v1", t, &k, a, b), SHOAL_OK);
  assert_int_equal(k, SHOAL_TOPIC_DOWN_STORE);
  assert_int_equal(shoal_topic_filter(t, sizeof t, "shoal/v1", SHOAL_TOPIC_UP), SHOAL_OK);
  assert_string_equal(t, "shoal/v1/up/+/+");
}

static void test_wire_topic_refuses_escaping_identifiers(void **state) {
  (void)state;
  char t[SHOAL_TOPIC_MAX], a[SHOAL_ID_MAX + 1], b[SHOAL_ID_MAX + 1];
  enum shoal_topic k;
  assert_int_equal(shoal_topic_format(t, sizeof t, "shoal/v1", SHOAL_TOPIC_UP, "cd-001", "x/../y"),
                   SHOAL_EINPUT);
  assert_int_equal(shoal_topic_format(t, sizeof t, "shoal/v1", SHOAL_TOPIC_UP, "+", "pos"),
                   SHOAL_EINPUT);
  assert_int_equal(shoal_topic_parse("shoal/v1", "shoal/v1/up/cd-001/pos/extra", &k, a, b),
                   SHOAL_EINPUT);
  assert_int_equal(shoal_topic_parse("shoal/v1", "other/up/cd-001/pos", &k, a, b), SHOAL_EINPUT);
  assert_int_equal(shoal_topic_parse("shoal/v1", "shoal/v1/up/cd 1/pos", &k, a, b), SHOAL_EINPUT);
}

static void test_wire_envelope_round_trips_with_exact_hlc(void **state) {
  (void)state;
  struct shoal_event ev = {0};
  strcpy(ev.device, "pos-1");
  strcpy(ev.store, "cd-001");
  strcpy(ev.epoch, "18446744073709551615");
  strcpy(ev.type, "sale");
  ev.seq = 42;
  ev.hlc = SHOAL_HLC_MAKE(1795332600123LL, 65535); /* > 2^53: a double would round it */
  ev.body = cJSON_Parse("{\"total\":2800}");
  char *json = NULL;
  assert_int_equal(shoal_event_encode(&ev, &json), SHOAL_OK);
  struct shoal_event back;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_event_decode(json, strlen(json), &back, &d), SHOAL_OK);
  assert_true(back.hlc == ev.hlc);
  assert_int_equal(back.seq, 42);
  assert_string_equal(back.epoch, ev.epoch);
  assert_int_equal(cJSON_GetObjectItem(back.body, "total")->valueint, 2800);
  shoal_event_cleanup(&back);
  shoal_event_cleanup(&ev);
  free(json);
}

static void test_wire_envelope_refuses_malformed(void **state) {
  (void)state;
  struct shoal_event ev;
  shoal_diag d = {{0}};
  const char *cases[][2] = {
      {"{\"v\":2,\"device\":\"a\",\"store\":\"s\",\"epoch\":\"1\",\"seq\":1,\"hlc\":1,\"type\":"
       "\"sale\",\"body\":{}}",
       "version"},
      {"{\"v\":1,\"device\":\"a/"
       "b\",\"store\":\"s\",\"epoch\":\"1\",\"seq\":1,\"hlc\":1,\"type\":\"sale\",\"body\":{}}",
       "device"},
      {"{\"v\":1,\"device\":\"a\",\"store\":\"s\",\"epoch\":\"x1\",\"seq\":1,\"hlc\":1,\"type\":"
       "\"sale\",\"body\":{}}",
       "epoch"},
      {"{\"v\":1,\"device\":\"a\",\"store\":\"s\",\"epoch\":\"1\",\"seq\":0,\"hlc\":1,\"type\":"
       "\"sale\",\"body\":{}}",
       "seq"},
      {"{\"v\":1,\"device\":\"a\",\"store\":\"s\",\"epoch\":\"1\",\"seq\":1,\"hlc\":1,\"type\":"
       "\"spam\",\"body\":{}}",
       "type"},
      {"{\"v\":1,\"device\":\"a\",\"store\":\"s\",\"epoch\":\"1\",\"seq\":1,\"hlc\":1,\"type\":"
       "\"sale\",\"body\":[]}",
       "body"},
      {"{\"v\":1,\"device\":\"a\",\"store\":\"s\",\"epoch\":\"1\",\"seq\":1,\"hlc\":-1,\"type\":"
       "\"sale\",\"body\":{}}",
       "hlc"},
      {"{\"v\":1,", "JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    shoal_err rc = shoal_event_decode(cases[i][0], strlen(cases[i][0]), &ev, &d);
    assert_int_not_equal(rc, SHOAL_OK);
    if (!strstr(d.msg, cases[i][1]))
      fail_msg("case %zu: message \"%s\" does not name %s", i, d.msg, cases[i][1]);
  }
  /* Oversized payloads are refused before parsing. */
  size_t big = SHOAL_EVENT_MAX_BYTES + 1;
  char *p = malloc(big);
  memset(p, ' ', big);
  assert_int_equal(shoal_event_decode(p, big, &ev, &d), SHOAL_ELIMIT);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wire_topics_format_and_parse),
      cmocka_unit_test(test_wire_topic_refuses_escaping_identifiers),
      cmocka_unit_test(test_wire_envelope_round_trips_with_exact_hlc),
      cmocka_unit_test(test_wire_envelope_refuses_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
