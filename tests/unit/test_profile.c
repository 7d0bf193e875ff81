/* test_profile.c - every shipped firmware profile loads and means what
 * SPEC 9 says (a handheld runs forms and tickets, not sales; a kiosk sells
 * on channel kiosk but holds no tickets); malformed profiles are refused naming the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "shoal/profile.h"
#include "test_util.h"

static void test_profile_every_shipped_profile_loads(void **state) {
  (void)state;
  const char *dir = test_source_path("firmware-profiles");
  DIR *d = opendir(dir);
  assert_non_null(d);
  int loaded = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
      continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct shoal_profile p;
    shoal_diag diag = {{0}};
    shoal_err rc = shoal_profile_load(path, &p, &diag);
    if (rc != SHOAL_OK)
      fail_msg("%s: %s", path, diag.msg);
    /* The file name is the profile's name. */
    assert_int_equal(strncmp(e->d_name, p.name, n - 5), 0);
    loaded++;
  }
  closedir(d);
  assert_int_equal(loaded, 3);
}

static void test_profile_device_classes_have_spec_modules(void **state) {
  (void)state;
  struct shoal_profile pos, hand, kiosk;
  shoal_diag d = {{0}};
  assert_int_equal(
      shoal_profile_load(test_source_path("firmware-profiles/pos-terminal.json"), &pos, &d),
      SHOAL_OK);
  assert_int_equal(
      shoal_profile_load(test_source_path("firmware-profiles/handheld-scanner.json"), &hand, &d),
      SHOAL_OK);
  assert_int_equal(shoal_profile_load(test_source_path("firmware-profiles/kiosk.json"), &kiosk, &d),
                   SHOAL_OK);
  assert_int_equal(shoal_profile_require(&pos, SHOAL_MOD_SALES, &d), SHOAL_OK);
  assert_int_equal(shoal_profile_require(&hand, SHOAL_MOD_SALES, &d), SHOAL_EMODULE);
  assert_non_null(strstr(d.msg, "handheld-scanner"));
  assert_int_equal(shoal_profile_require(&hand, SHOAL_MOD_TICKETS, &d), SHOAL_OK);
  assert_int_equal(shoal_profile_require(&hand, SHOAL_MOD_FORMS, &d), SHOAL_OK);
  assert_int_equal(shoal_profile_require(&kiosk, SHOAL_MOD_PRICING, &d), SHOAL_OK);
  assert_int_equal(shoal_profile_require(&kiosk, SHOAL_MOD_SALES, &d), SHOAL_OK);
  assert_int_equal(shoal_profile_require(&kiosk, SHOAL_MOD_TICKETS, &d), SHOAL_EMODULE);
  assert_string_equal(kiosk.channel, "kiosk");
  assert_string_equal(pos.channel, "");
  assert_true(pos.backoff_min_s <= pos.backoff_max_s && pos.batch >= 1);
}

static void test_profile_malformed_is_refused_naming_the_key(void **state) {
  (void)state;
  struct shoal_profile p;
  shoal_diag d = {{0}};
  const char *base = "{\"profile\":\"x\",\"modules\":[\"pricing\"],\"cache\":{\"max_mb\":1},"
                     "\"outbox\":{\"max_events\":10},\"sync\":{\"keepalive_s\":30,"
                     "\"backoff_min_s\":1,\"backoff_max_s\":60,\"batch\":10}";
  char buf[1024];
  snprintf(buf, sizeof buf, "%s}", base);
  assert_int_equal(shoal_profile_parse(buf, strlen(buf), &p, &d), SHOAL_OK);
  snprintf(buf, sizeof buf, "%s,\"turbo\":true}", base);
  assert_int_equal(shoal_profile_parse(buf, strlen(buf), &p, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "turbo"));
  const char *bad_module = "{\"profile\":\"x\",\"modules\":[\"laser\"],\"cache\":{\"max_mb\":1},"
                           "\"outbox\":{\"max_events\":10},\"sync\":{\"keepalive_s\":30,"
                           "\"backoff_min_s\":1,\"backoff_max_s\":60,\"batch\":10}}";
  assert_int_equal(shoal_profile_parse(bad_module, strlen(bad_module), &p, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "laser"));
  const char *bad_backoff = "{\"profile\":\"x\",\"modules\":[],\"cache\":{\"max_mb\":1},"
                            "\"outbox\":{\"max_events\":10},\"sync\":{\"keepalive_s\":30,"
                            "\"backoff_min_s\":9,\"backoff_max_s\":3,\"batch\":10}}";
  assert_int_equal(shoal_profile_parse(bad_backoff, strlen(bad_backoff), &p, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "backoff_max_s"));
  const char *no_batch = "{\"profile\":\"x\",\"modules\":[],\"cache\":{\"max_mb\":1},"
                         "\"outbox\":{\"max_events\":10},\"sync\":{\"keepalive_s\":30,"
                         "\"backoff_min_s\":1,\"backoff_max_s\":3}}";
  assert_int_equal(shoal_profile_parse(no_batch, strlen(no_batch), &p, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "batch"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profile_every_shipped_profile_loads),
      cmocka_unit_test(test_profile_device_classes_have_spec_modules),
      cmocka_unit_test(test_profile_malformed_is_refused_naming_the_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
