/* test_hub_submissions.c - the form submissions list behind the dashboard's
 * "form submissions" page: filters by form, store and period, newest first,
 * data and tickets as JSON (a photo field's reference intact). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_ctx.h"
#include "hub_submissions.h"
#include "shoal/jsonx.h"

static struct hub_ctx g_ctx;

static void sql(const char *s) {
  shoal_diag d;
  if (hub_store_exec(g_ctx.db, s, &d) != SHOAL_OK)
    fail_msg("%s: %s", s, d.msg);
}

static int setup(void **state) {
  (void)state;
  const char *tmp = getenv("SHOAL_TEST_TMP");
  char dir[512], cmd[1200], path[600];
  snprintf(dir, sizeof dir, "%s/hub_submissions", tmp ? tmp : "/tmp");
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/hub.json", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"db\": \"hub.db\"}", f);
  fclose(f);
  shoal_diag d;
  assert_int_equal(hub_ctx_open(&g_ctx, path, &d), SHOAL_OK);
  sql("INSERT INTO form_submissions (device, epoch, seq, submission, store, region, form_id, "
      "version, scope, data, tickets, at, at_ms, received_ms) VALUES "
      "('d1','1',1,'sub-1','S1','east','fault',1,'global','{\"what\":\"fridge\"}','[]',"
      "'2026-01-01T10:00:00.000Z',1767261600000,1),"
      "('d1','1',2,'sub-2','S1','east','fault',2,'global',"
      "'{\"what\":\"door\",\"photo\":{\"sha256\":\"ab\",\"bytes\":3,\"type\":\"image/png\"}}',"
      "'[\"t-9\"]','2026-01-02T10:00:00.000Z',1767348000000,2),"
      "('d2','1',1,'sub-3','S2','west','audit',1,'global','{}','[]',"
      "'2026-01-03T10:00:00.000Z',1767434400000,3)");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  hub_ctx_close(&g_ctx);
  return 0;
}

static const char *id_at(const cJSON *arr, int i) {
  return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "id"));
}

static void test_hub_submissions_filters_and_orders(void **state) {
  (void)state;
  shoal_diag d;
  cJSON *out = NULL;
  /* everything, newest first */
  assert_int_equal(hub_submissions_list(g_ctx.db, NULL, NULL, INT64_MIN, INT64_MAX, &out, &d),
                   SHOAL_OK);
  assert_int_equal(cJSON_GetArraySize(out), 3);
  assert_string_equal(id_at(out, 0), "sub-3");
  assert_string_equal(id_at(out, 2), "sub-1");
  cJSON_Delete(out);
  /* by form and store */
  assert_int_equal(hub_submissions_list(g_ctx.db, "fault", "S1", INT64_MIN, INT64_MAX, &out, &d),
                   SHOAL_OK);
  assert_int_equal(cJSON_GetArraySize(out), 2);
  const cJSON *s2 = cJSON_GetArrayItem(out, 0);
  assert_string_equal(id_at(out, 0), "sub-2");
  assert_int_equal(cJSON_GetObjectItem(s2, "version")->valueint, 2);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(s2, "device")), "d1");
  /* data and tickets are JSON, the photo reference intact */
  const cJSON *photo = cJSON_GetObjectItem(cJSON_GetObjectItem(s2, "data"), "photo");
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(photo, "sha256")), "ab");
  assert_int_equal(cJSON_GetObjectItem(photo, "bytes")->valueint, 3);
  assert_string_equal(
      cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(s2, "tickets"), 0)), "t-9");
  cJSON_Delete(out);
  /* period [from, to): only 2026-01-02 */
  assert_int_equal(
      hub_submissions_list(g_ctx.db, NULL, NULL, 1767312000000, 1767398400000, &out, &d), SHOAL_OK);
  assert_int_equal(cJSON_GetArraySize(out), 1);
  assert_string_equal(id_at(out, 0), "sub-2");
  cJSON_Delete(out);
  /* nothing matches: an empty array, not an error */
  assert_int_equal(hub_submissions_list(g_ctx.db, "nope", NULL, INT64_MIN, INT64_MAX, &out, &d),
                   SHOAL_OK);
  assert_int_equal(cJSON_GetArraySize(out), 0);
  cJSON_Delete(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_submissions_filters_and_orders),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
