/* test_hub_forms.c - the hub's ingest of "form" events: each submission is
 * re-validated against the form version it names, found in the published
 * policies of its store's chain (most specific scope with that id AND
 * version); unknown versions and invalid data are refused (EINPUT, which
 * ingest dead-letters) and accepted ones are stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hub_ctx.h"
#include "hub_forms.h"
#include "store.h"

static char dir[512];

#define FORM_V(v, maxq)                                                                            \
  "{\"id\":\"svc\",\"version\":" #v ",\"title\":\"Service\",\"fields\":["                          \
  "{\"id\":\"issue\",\"type\":\"choice\",\"choices\":[\"repair\",\"consult\"],\"required\":true}," \
  "{\"id\":\"qty\",\"type\":\"int\",\"min\":1,\"max\":" #maxq "}]}"

static int setup(void **state) {
  static int n;
  const char *tmp = getenv("SHOAL_TEST_TMP");
  snprintf(dir, sizeof dir, "%s/hub_forms_%d_%d", tmp ? tmp : "/tmp", (int)getpid(), n++);
  mkdir(tmp ? tmp : "/tmp", 0700);
  mkdir(dir, 0700);
  char cfg[600], db[600];
  snprintf(cfg, sizeof cfg, "%s/hub.json", dir);
  snprintf(db, sizeof db, "%s/hub.db", dir);
  unlink(db);
  FILE *f = fopen(cfg, "w");
  assert_non_null(f);
  fprintf(f, "{\"db\": \"hub.db\"}\n");
  fclose(f);
  struct hub_ctx *ctx = calloc(1, sizeof *ctx);
  shoal_diag d = {{0}};
  if (hub_ctx_open(ctx, cfg, &d) != SHOAL_OK)
    fail_msg("hub_ctx_open: %s", d.msg);
  ctx->log.fn = NULL; /* quiet */
  /* Published history: global v1 (max 10) then v2 (max 5), a region
   * variant with form version 7, and another region's version 9. */
  static const char *const rows[][3] = {
      {"global", "1", "{\"scope\":\"global\",\"forms\":[" FORM_V(1, 10) "]}"},
      {"global", "2", "{\"scope\":\"global\",\"forms\":[" FORM_V(2, 5) "]}"},
      {"region/cn-sw", "1", "{\"scope\":\"region/cn-sw\",\"forms\":[" FORM_V(7, 3) "]}"},
      {"region/cn-n", "1", "{\"scope\":\"region/cn-n\",\"forms\":[" FORM_V(9, 3) "]}"},
  };
  hub_stmt *st = NULL;
  assert_int_equal(
      hub_store_prepare(ctx->db,
                        "INSERT INTO policies (scope, version, issued_at, doc, "
                        "envelope, published_ms) VALUES (?, ?, '2026-11-01T00:00:00Z', "
                        "?, '{}', 0)",
                        &st, &d),
      SHOAL_OK);
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    hub_store_reset(st);
    hub_store_bind_text(st, 1, rows[i][0], -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 2, atoi(rows[i][1]));
    hub_store_bind_text(st, 3, rows[i][2], -1, HUB_STORE_STATIC);
    assert_int_equal(hub_store_step(st), HUB_STORE_DONE);
  }
  hub_store_finalize(st);
  *state = ctx;
  return 0;
}

static int teardown(void **state) {
  struct hub_ctx *ctx = *state;
  hub_ctx_close(ctx);
  free(ctx);
  return 0;
}

/* Ingests a form event from device d1 of store cd-001 with the given
 * version and data; returns the result, diag in *d. */
static shoal_err ingest(struct hub_ctx *ctx, int64_t seq, const char *store, const char *region,
                        int version, const char *data, shoal_diag *d) {
  struct shoal_event ev = {0};
  snprintf(ev.device, sizeof ev.device, "d1");
  snprintf(ev.store, sizeof ev.store, "cd-001");
  snprintf(ev.epoch, sizeof ev.epoch, "42");
  snprintf(ev.type, sizeof ev.type, "form");
  ev.seq = seq;
  ev.hlc = 1;
  char body[1024];
  snprintf(
      body, sizeof body,
      "{\"submission\":\"d1-F%lld\",\"form\":\"svc\",\"version\":%d,\"region\":\"%s\","
      "\"store\":\"%s\",\"data\":%s,\"tickets\":[\"T-1\"],\"at\":\"2026-11-22T08:00:00.000Z\"}",
      (long long)seq, version, region, store, data);
  ev.body = cJSON_Parse(body);
  assert_non_null(ev.body);
  assert_int_equal(hub_store_begin(ctx->db, d), SHOAL_OK);
  shoal_err rc = hub_forms_ingest(ctx, &ev, d);
  if (rc == SHOAL_OK)
    assert_int_equal(hub_store_commit(ctx->db, d), SHOAL_OK);
  else
    hub_store_rollback(ctx->db);
  shoal_event_cleanup(&ev);
  return rc;
}

static void stored(struct hub_ctx *ctx, int64_t seq, const char *want_scope,
                   const char *want_data) {
  hub_stmt *st = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(
      hub_store_prepare(ctx->db,
                        "SELECT scope, data, submission, tickets, at_ms FROM "
                        "form_submissions WHERE device = 'd1' AND epoch = '42' AND seq = ?",
                        &st, &d),
      SHOAL_OK);
  hub_store_bind_int64(st, 1, seq);
  assert_int_equal(hub_store_step(st), HUB_STORE_ROW);
  assert_string_equal((const char *)hub_store_column_text(st, 0), want_scope);
  assert_string_equal((const char *)hub_store_column_text(st, 1), want_data);
  char sub[32];
  snprintf(sub, sizeof sub, "d1-F%lld", (long long)seq);
  assert_string_equal((const char *)hub_store_column_text(st, 2), sub);
  assert_string_equal((const char *)hub_store_column_text(st, 3), "[\"T-1\"]");
  assert_int_equal(hub_store_column_int64(st, 4), 1795334400000LL);
  hub_store_finalize(st);
}

static int64_t count(struct hub_ctx *ctx) {
  int64_t n = -1;
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_query_int(ctx->db, "SELECT COUNT(*) FROM form_submissions", 0, &n, &d),
                   SHOAL_OK);
  return n;
}

static void test_hub_forms_accepts_valid_submission_of_named_version(void **state) {
  struct hub_ctx *ctx = *state;
  shoal_diag d = {{0}};
  /* v1 allows qty up to 10 even though global has moved on to v2 (max 5) */
  if (ingest(ctx, 1, "cd-001", "cn-e", 1, "{\"issue\":\"repair\",\"qty\":8}", &d) != SHOAL_OK)
    fail_msg("%s", d.msg);
  stored(ctx, 1, "global", "{\"issue\":\"repair\",\"qty\":8}");
  /* the region's variant (version 7) is found in the region scope */
  if (ingest(ctx, 2, "cd-001", "cn-sw", 7, "{\"issue\":\"consult\",\"qty\":3}", &d) != SHOAL_OK)
    fail_msg("%s", d.msg);
  stored(ctx, 2, "region/cn-sw", "{\"issue\":\"consult\",\"qty\":3}");
  assert_int_equal(count(ctx), 2);
}

static void test_hub_forms_validates_against_that_version(void **state) {
  struct hub_ctx *ctx = *state;
  shoal_diag d = {{0}};
  /* the same data is invalid under v2 (max 5): refused with the reason */
  assert_int_equal(ingest(ctx, 1, "cd-001", "cn-e", 2, "{\"issue\":\"repair\",\"qty\":8}", &d),
                   SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "is invalid: qty: max"));
  assert_int_equal(ingest(ctx, 2, "cd-001", "cn-e", 2, "{\"qty\":2,\"x\":1}", &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "issue: required, x: unknown"));
  assert_int_equal(count(ctx), 0);
}

static void test_hub_forms_refuses_unknown_version(void **state) {
  struct hub_ctx *ctx = *state;
  shoal_diag d = {{0}};
  assert_int_equal(ingest(ctx, 1, "cd-001", "cn-e", 3, "{\"issue\":\"repair\"}", &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "version 3 was never published"));
  /* another region's version does not apply to this store */
  assert_int_equal(ingest(ctx, 2, "cd-001", "cn-sw", 9, "{\"issue\":\"repair\"}", &d),
                   SHOAL_EINPUT);
  assert_int_equal(count(ctx), 0);
}

static void test_hub_forms_refuses_foreign_store_or_region(void **state) {
  struct hub_ctx *ctx = *state;
  shoal_diag d = {{0}};
  assert_int_equal(ingest(ctx, 1, "cd-002", "cn-sw", 7, "{\"issue\":\"repair\"}", &d),
                   SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "store cd-002"));
  assert_int_equal(hub_store_exec(ctx->db,
                                  "INSERT INTO devices (device, store, region) VALUES ('d1', "
                                  "'cd-001', 'cn-e')",
                                  &d),
                   SHOAL_OK);
  /* the hub knows d1 is in cn-e: it cannot borrow cn-sw's variant */
  assert_int_equal(ingest(ctx, 2, "cd-001", "cn-sw", 7, "{\"issue\":\"repair\"}", &d),
                   SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "is in cn-e"));
  assert_int_equal(count(ctx), 0);
}

static void test_hub_forms_sees_versions_published_later(void **state) {
  struct hub_ctx *ctx = *state;
  shoal_diag d = {{0}};
  if (ingest(ctx, 1, "cd-001", "cn-e", 1, "{\"issue\":\"repair\"}", &d) != SHOAL_OK)
    fail_msg("%s", d.msg);
  /* the definitions read so far are indexed once per policy version */
  int64_t n = 0;
  assert_int_equal(hub_store_query_int(ctx->db, "SELECT COUNT(*) FROM form_index", 0, &n, &d),
                   SHOAL_OK);
  assert_int_equal(n, 2); /* global v1 and v2; cn-e and cd-001 have published nothing */
  assert_int_equal(
      hub_store_exec(ctx->db,
                     "INSERT INTO policies (scope, version, issued_at, doc, envelope, "
                     "published_ms) VALUES ('store/cd-001', 1, '2026-11-02T00:00:00Z', "
                     "'{\"scope\":\"store/cd-001\",\"forms\":[" FORM_V(5, 2) "]}', '{}', 0)",
                     &d),
      SHOAL_OK);
  if (ingest(ctx, 2, "cd-001", "cn-e", 5, "{\"issue\":\"repair\",\"qty\":2}", &d) != SHOAL_OK)
    fail_msg("%s", d.msg);
  stored(ctx, 2, "store/cd-001", "{\"issue\":\"repair\",\"qty\":2}");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_hub_forms_accepts_valid_submission_of_named_version,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_hub_forms_validates_against_that_version, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hub_forms_refuses_unknown_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hub_forms_refuses_foreign_store_or_region, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hub_forms_sees_versions_published_later, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
