/* test_config.c - agent and hub config loading (SPEC 3): required and
 * unknown keys are named, defaults apply, relative paths resolve against
 * the config file's folder, identifiers are validated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shoal/config.h"
#include "test_util.h"

static void test_config_agent_minimal_gets_defaults(void **state) {
  (void)state;
  const char *p =
      test_write_file("a1.json", "{\"device\":\"pos-1\",\"store\":\"cd-001\",\"region\":\"cn-sw\","
                                 "\"profile\":\"prof.json\",\"db\":\"/var/lib/a.db\"}");
  struct shoal_agent_config c;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_OK);
  assert_string_equal(c.device, "pos-1");
  assert_string_equal(c.mqtt.host, "127.0.0.1");
  assert_int_equal(c.mqtt.port, 1883);
  assert_string_equal(c.topic_prefix, "shoal/v1");
  assert_string_equal(c.db, "/var/lib/a.db");
  /* relative profile path resolves against the config's folder */
  char want[1200];
  snprintf(want, sizeof want, "%s/prof.json", test_tmpdir());
  assert_string_equal(c.profile, want);
  assert_null(c.trust_policy_pub);
  shoal_agent_config_cleanup(&c);
}

static void test_config_unknown_key_is_named(void **state) {
  (void)state;
  const char *p =
      test_write_file("a2.json", "{\"device\":\"pos-1\",\"store\":\"s\",\"region\":\"r\","
                                 "\"profile\":\"p\",\"db\":\"d\",\"mqtt\":{\"hots\":\"x\"}}");
  struct shoal_agent_config c;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "unknown key \"mqtt.hots\""));
  assert_int_equal(shoal_err_exit_code(SHOAL_ECONFIG), 3);
}

static void test_config_missing_required_key_is_named(void **state) {
  (void)state;
  const char *p = test_write_file(
      "a3.json", "{\"device\":\"pos-1\",\"store\":\"s\",\"profile\":\"p\",\"db\":\"d\"}");
  struct shoal_agent_config c;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "missing required key \"region\""));
}

static void test_config_identifier_with_slash_refused(void **state) {
  (void)state;
  const char *p =
      test_write_file("a4.json", "{\"device\":\"pos/1\",\"store\":\"s\",\"region\":\"r\","
                                 "\"profile\":\"p\",\"db\":\"d\"}");
  struct shoal_agent_config c;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "\"device\""));
}

static void test_config_wrong_types_and_ranges(void **state) {
  (void)state;
  struct shoal_agent_config c;
  shoal_diag d = {{0}};
  const char *p =
      test_write_file("a5.json", "{\"device\":\"a\",\"store\":\"s\",\"region\":\"r\","
                                 "\"profile\":\"p\",\"db\":\"d\",\"mqtt\":{\"port\":70000}}");
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "mqtt.port"));
  p = test_write_file(
      "a6.json", "{\"device\":7,\"store\":\"s\",\"region\":\"r\",\"profile\":\"p\",\"db\":\"d\"}");
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "\"device\" must be a string"));
  p = test_write_file("a7.json", "{not json");
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "malformed JSON"));
  p = test_write_file("a8.json",
                      "{\"device\":\"a\",\"store\":\"s\",\"region\":\"r\",\"profile\":\"p\","
                      "\"db\":\"d\",\"topic_prefix\":\"shoal/#\"}");
  assert_int_equal(shoal_agent_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "topic_prefix"));
}

static void test_config_hub_with_http_and_webhooks(void **state) {
  (void)state;
  const char *p = test_write_file(
      "h1.json",
      "{\"db\":\"hub.db\",\"signing_key\":\"/k/policy-key.pem\","
      "\"http\":{\"listen\":\"127.0.0.1:8080\",\"token_file\":\"token\"},"
      "\"webhooks\":[{\"url\":\"http://127.0.0.1:9/x\",\"events\":[\"sale\",\"escalation\"],"
      "\"secret_file\":\"wh.secret\"}]}");
  struct shoal_hub_config c;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_hub_config_load(p, &c, &d), SHOAL_OK);
  assert_string_equal(c.http_listen, "127.0.0.1:8080");
  assert_int_equal(c.webhook_count, 1);
  assert_int_equal(c.webhooks[0].events, SHOAL_WEBHOOK_SALE | SHOAL_WEBHOOK_ESCALATION);
  assert_string_equal(c.signing_key, "/k/policy-key.pem");
  assert_non_null(strstr(c.webhooks[0].secret_file, "/wh.secret"));
  shoal_hub_config_cleanup(&c);

  p = test_write_file(
      "h2.json",
      "{\"db\":\"hub.db\",\"webhooks\":[{\"url\":\"http://x/\",\"events\":[\"salez\"]}]}");
  assert_int_equal(shoal_hub_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "salez"));
  p = test_write_file("h3.json", "{\"mqtt\":{}}");
  assert_int_equal(shoal_hub_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "\"db\""));
}

/* orders.batch_max (group commit of e-commerce orders): default the
 * maximum, 1 allowed (one commit per order), 0 and over the maximum refused. */
static void test_config_hub_orders_batch_max(void **state) {
  (void)state;
  struct shoal_hub_config c;
  shoal_diag d = {{0}};
  const char *p = test_write_file("o1.json", "{\"db\":\"hub.db\"}");
  assert_int_equal(shoal_hub_config_load(p, &c, &d), SHOAL_OK);
  assert_int_equal(c.orders_batch_max, SHOAL_ORDER_BATCH_MAX);
  shoal_hub_config_cleanup(&c);
  p = test_write_file("o2.json", "{\"db\":\"hub.db\",\"orders\":{\"batch_max\":1}}");
  assert_int_equal(shoal_hub_config_load(p, &c, &d), SHOAL_OK);
  assert_int_equal(c.orders_batch_max, 1);
  shoal_hub_config_cleanup(&c);
  p = test_write_file("o3.json", "{\"db\":\"hub.db\",\"orders\":{\"batch_max\":0}}");
  assert_int_equal(shoal_hub_config_load(p, &c, &d), SHOAL_ECONFIG);
  assert_non_null(strstr(d.msg, "batch_max"));
  p = test_write_file("o4.json", "{\"db\":\"hub.db\",\"orders\":{\"batch_max\":257}}");
  assert_int_equal(shoal_hub_config_load(p, &c, &d), SHOAL_ECONFIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_agent_minimal_gets_defaults),
      cmocka_unit_test(test_config_unknown_key_is_named),
      cmocka_unit_test(test_config_missing_required_key_is_named),
      cmocka_unit_test(test_config_identifier_with_slash_refused),
      cmocka_unit_test(test_config_wrong_types_and_ranges),
      cmocka_unit_test(test_config_hub_orders_batch_max),
      cmocka_unit_test(test_config_hub_with_http_and_webhooks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
