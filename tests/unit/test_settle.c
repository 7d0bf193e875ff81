/* test_settle.c - store settlement (SPEC 8): flat and marginal tiers to the
 * fen, tier boundaries at exactly "upto", half up applied once over the
 * whole sum, section validation, and the hub's settlement report with the
 * settlement section taken from the most specific published scope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_ctx.h"
#include "hub_reports.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/settle.h"
#include "store.h"

static struct shoal_settle_scheme scheme_of(const char *json) {
  cJSON *j = NULL;
  shoal_diag d;
  assert_int_equal(shoal_json_parse(json, strlen(json), &j, &d), SHOAL_OK);
  struct shoal_settle_scheme s;
  assert_int_equal(shoal_settle_scheme_parse(j, "x", &s, &d), SHOAL_OK);
  cJSON_Delete(j);
  return s;
}

static int64_t commission(const struct shoal_settle_scheme *s, int64_t total) {
  int64_t out = -999;
  shoal_diag d;
  assert_int_equal(shoal_settle_commission(s, total, &out, &d), SHOAL_OK);
  return out;
}

/* Tiers: up to 1000.00 at 5%, up to 5000.00 at 8%, above at 10%. */
#define TIERS "[{\"upto\":100000,\"bp\":500},{\"upto\":500000,\"bp\":800},{\"bp\":1000}]"

static void test_settle_flat_whole_total_at_tier_rate(void **state) {
  (void)state;
  struct shoal_settle_scheme s = scheme_of("{\"mode\":\"flat\",\"tiers\":" TIERS "}");
  assert_int_equal(commission(&s, 0), 0);
  assert_int_equal(commission(&s, 50000), 2500);     /* 500.00 x 5% */
  assert_int_equal(commission(&s, 100000), 5000);    /* exactly upto: still tier 1 */
  assert_int_equal(commission(&s, 100001), 8000);    /* 100001 x 8% = 8000.08 -> 8000 */
  assert_int_equal(commission(&s, 500000), 40000);   /* exactly upto: tier 2 */
  assert_int_equal(commission(&s, 500001), 50000);   /* 50000.1 -> 50000 */
  assert_int_equal(commission(&s, 1234567), 123457); /* 123456.7 -> 123457 */
  assert_int_equal(commission(&s, 100010), 8001);    /* 8000.8 -> 8001 */
}

static void test_settle_marginal_each_part_at_its_rate(void **state) {
  (void)state;
  struct shoal_settle_scheme s = scheme_of("{\"mode\":\"marginal\",\"tiers\":" TIERS "}");
  assert_int_equal(commission(&s, 50000), 2500);
  assert_int_equal(commission(&s, 100000), 5000);
  /* 100000 x 5% + 1 x 8% = 5000 + 0.08 -> 5000 */
  assert_int_equal(commission(&s, 100001), 5000);
  /* 5000 + 400000 x 8% = 5000 + 32000 */
  assert_int_equal(commission(&s, 500000), 37000);
  /* 37000 + 1 x 10% = 37000.1 -> 37000 */
  assert_int_equal(commission(&s, 500001), 37000);
  /* 37000 + 734567 x 10% = 37000 + 73456.7 -> 110457 */
  assert_int_equal(commission(&s, 1234567), 110457);
}

static void test_settle_half_up_once_over_the_sum(void **state) {
  (void)state;
  /* Two tiers at 0.5 fen each: per-tier rounding would give 1 + 1 = 2,
   * rounding once gives round(0.5 + 0.5) = 1. */
  struct shoal_settle_scheme s =
      scheme_of("{\"mode\":\"marginal\",\"tiers\":[{\"upto\":10,\"bp\":500},{\"bp\":500}]}");
  assert_int_equal(commission(&s, 20), 1);
  /* 0.45 + 0.45 = 0.9 -> 1, while each part alone rounds to 0. */
  struct shoal_settle_scheme t =
      scheme_of("{\"mode\":\"marginal\",\"tiers\":[{\"upto\":9,\"bp\":500},{\"bp\":500}]}");
  assert_int_equal(commission(&t, 18), 1);
  /* Exactly half rounds up: 1 x 5000bp = 0.5 -> 1; 0.4999 -> 0. */
  struct shoal_settle_scheme f = scheme_of("{\"mode\":\"flat\",\"tiers\":[{\"bp\":5000}]}");
  assert_int_equal(commission(&f, 1), 1);
  struct shoal_settle_scheme g = scheme_of("{\"mode\":\"flat\",\"tiers\":[{\"bp\":4999}]}");
  assert_int_equal(commission(&g, 1), 0);
}

static void test_settle_single_tier_and_large_totals(void **state) {
  (void)state;
  struct shoal_settle_scheme s = scheme_of("{\"mode\":\"marginal\",\"tiers\":[{\"bp\":10000}]}");
  assert_int_equal(commission(&s, 123456789), 123456789);
  /* 10^15 x 10000 overflows int64 but not the engine. */
  assert_int_equal(commission(&s, SHOAL_MONEY_MAX), SHOAL_MONEY_MAX);
  int64_t out;
  shoal_diag d;
  assert_int_equal(shoal_settle_commission(&s, SHOAL_MONEY_MAX + 1, &out, &d), SHOAL_ELIMIT);
}

static shoal_err validate(const char *doc) {
  shoal_diag d;
  return shoal_policy_validate(doc, strlen(doc), NULL, &d);
}

static void test_settle_validate_rejects_bad_sections(void **state) {
  (void)state;
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"a\":{\"mode\":"
                            "\"flat\",\"tiers\":[{\"upto\":5,\"bp\":1},{\"bp\":2}]}},"
                            "\"stores\":{\"s1\":\"a\"}}}"),
                   SHOAL_OK);
  /* unknown mode */
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"a\":{\"mode\":"
                            "\"step\",\"tiers\":[{\"bp\":2}]}}}}"),
                   SHOAL_EINPUT);
  /* tiers not ascending */
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"a\":{\"mode\":"
                            "\"flat\",\"tiers\":[{\"upto\":5,\"bp\":1},{\"upto\":5,\"bp\":1},"
                            "{\"bp\":2}]}}}}"),
                   SHOAL_EINPUT);
  /* last tier with upto; middle tier without */
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"a\":{\"mode\":"
                            "\"flat\",\"tiers\":[{\"upto\":5,\"bp\":1}]}}}}"),
                   SHOAL_EINPUT);
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"a\":{\"mode\":"
                            "\"flat\",\"tiers\":[{\"bp\":1},{\"bp\":2}]}}}}"),
                   SHOAL_EINPUT);
  /* store names an unknown scheme */
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"schemes\":{},"
                            "\"stores\":{\"s1\":\"zz\"}}}"),
                   SHOAL_EINPUT);
  /* bp out of range, unknown key */
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"a\":{\"mode\":"
                            "\"flat\",\"tiers\":[{\"bp\":10001}]}}}}"),
                   SHOAL_EINPUT);
  assert_int_equal(validate("{\"scope\":\"global\",\"settlement\":{\"shemes\":{}}}"), SHOAL_EINPUT);
}

static void put_policy(hub_store *db, const char *scope, int version, const char *doc) {
  hub_stmt *st;
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_prepare(db,
                                     "INSERT INTO policies (scope, version, issued_at, doc, "
                                     "envelope, published_ms) VALUES (?1, ?2, 'x', ?3, '{}', 0)",
                                     &st, &d),
                   SHOAL_OK);
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int(st, 2, version);
  hub_store_bind_text(st, 3, doc, -1, HUB_STORE_STATIC);
  assert_int_equal(hub_store_step(st), HUB_STORE_DONE);
  hub_store_finalize(st);
}

static void put_sale(hub_store *db, const char *store, const char *region, int seq, int64_t at_ms,
                     int64_t total) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "INSERT INTO sales (device, epoch, seq, store, region, at_ms, subtotal, discount, "
           "rounding, total, body) VALUES ('%s-d1', '1', %d, '%s', '%s', %lld, %lld, 0, 0, %lld, "
           "'{}')",
           store, seq, store, region, (long long)at_ms, (long long)total, (long long)total);
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_exec(db, sql, &d), SHOAL_OK);
}

static const cJSON *row_of(const cJSON *rows, const char *store) {
  const cJSON *r;
  cJSON_ArrayForEach(r, rows) {
    if (strcmp(cJSON_GetObjectItem(r, "store")->valuestring, store) == 0)
      return r;
  }
  fail_msg("no row for %s", store);
  return NULL;
}

static int64_t num(const cJSON *r, const char *key) {
  return (int64_t)cJSON_GetObjectItem(r, key)->valuedouble;
}

static void test_settle_report_uses_most_specific_scope(void **state) {
  (void)state;
  const char *tmp = getenv("SHOAL_TEST_TMP");
  char dir[512], cfg[600], cmd[1200];
  snprintf(dir, sizeof dir, "%s/settle", tmp ? tmp : "/tmp");
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(cfg, sizeof cfg, "%s/hub.json", dir);
  FILE *f = fopen(cfg, "w");
  assert_non_null(f);
  fprintf(f, "{\"db\": \"hub.db\"}\n");
  fclose(f);
  struct hub_ctx ctx;
  shoal_diag d;
  assert_int_equal(hub_ctx_open(&ctx, cfg, &d), SHOAL_OK);
  /* global v2: franchise (marginal) for F1 and W1, direct (flat) for D1; an
   * older global version mapped F1 differently and must be ignored. */
  put_policy(ctx.db, "global", 1,
             "{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"franchise\":{\"mode\":\"flat\","
             "\"tiers\":[{\"bp\":9999}]}},\"stores\":{\"F1\":\"franchise\"}}}");
  put_policy(ctx.db, "global", 2,
             "{\"scope\":\"global\",\"settlement\":{\"schemes\":{"
             "\"franchise\":{\"mode\":\"marginal\",\"tiers\":" TIERS "},"
             "\"direct\":{\"mode\":\"flat\",\"tiers\":" TIERS "}},"
             "\"stores\":{\"F1\":\"franchise\",\"D1\":\"direct\",\"W1\":\"franchise\"}}}");
  /* A newer global version that takes effect in 2099 does not apply yet. */
  put_policy(ctx.db, "global", 3,
             "{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"franchise\":{\"mode\":\"flat\","
             "\"tiers\":[{\"bp\":1}]}},\"stores\":{\"F1\":\"franchise\",\"Z9\":\"franchise\"}}}");
  assert_int_equal(hub_store_exec(ctx.db,
                                  "UPDATE policies SET effective_at = '2099-01-01T00:00:00+08:00' "
                                  "WHERE scope = 'global' AND version = 3",
                                  &d),
                   SHOAL_OK);
  /* region/west sets its own section for its stores: W1 flat 2%; W2 is
   * mapped but sold nothing (listed with 0). */
  put_policy(ctx.db, "region/west", 1,
             "{\"scope\":\"region/west\",\"settlement\":{\"schemes\":{\"w\":{\"mode\":\"flat\","
             "\"tiers\":[{\"bp\":200}]}},\"stores\":{\"W1\":\"w\",\"W2\":\"w\"}}}");
  /* Its effective_at is past, written as publish accepts it (+HHMM offset,
   * fraction after a comma): it applies. SQLite's julianday() cannot read
   * that form, so queries compare with shoal_time_ms, which parses it as
   * publish did. */
  assert_int_equal(hub_store_exec(ctx.db,
                                  "UPDATE policies SET effective_at = '2020-01-01T00:00:00,5+0800' "
                                  "WHERE scope = 'region/west' AND version = 1",
                                  &d),
                   SHOAL_OK);
  int64_t day = 1767225600000LL; /* 2026-01-01T00:00Z */
  put_sale(ctx.db, "F1", "east", 1, day + 1000, 1000000);
  put_sale(ctx.db, "F1", "east", 2, day + 2000, 234567); /* F1 = 1234567 */
  put_sale(ctx.db, "F1", "east", 3, day + 86400000,
           5000000);                                     /* outside the period (to exclusive) */
  put_sale(ctx.db, "D1", "east", 1, day + 3000, 100000); /* exactly the tier bound */
  put_sale(ctx.db, "W1", "west", 1, day + 4000, 12345);
  put_sale(ctx.db, "X1", "east", 1, day + 5000, 777); /* unmapped store */
  cJSON *rows = NULL;
  assert_int_equal(hub_reports_settlement(ctx.db, day, day + 86400000, &rows, &d), SHOAL_OK);
  assert_int_equal(cJSON_GetArraySize(rows), 5);
  const cJSON *r = row_of(rows, "F1");
  assert_string_equal(cJSON_GetObjectItem(r, "scheme")->valuestring, "franchise");
  assert_int_equal(num(r, "sales_total"), 1234567);
  assert_int_equal(num(r, "commission"), 110457);
  r = row_of(rows, "D1");
  assert_string_equal(cJSON_GetObjectItem(r, "scheme")->valuestring, "direct");
  assert_int_equal(num(r, "commission"), 5000);
  r = row_of(rows, "W1");
  assert_string_equal(cJSON_GetObjectItem(r, "scheme")->valuestring, "w");
  assert_int_equal(num(r, "commission"), 247); /* 246.9 */
  r = row_of(rows, "W2");
  assert_string_equal(cJSON_GetObjectItem(r, "region")->valuestring, "west");
  assert_string_equal(cJSON_GetObjectItem(r, "scheme")->valuestring, "w");
  assert_int_equal(num(r, "sales_total"), 0);
  assert_int_equal(num(r, "commission"), 0);
  r = row_of(rows, "X1");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "scheme")));
  assert_int_equal(num(r, "commission"), 0);
  char *csv = hub_reports_settlement_csv(rows);
  assert_non_null(csv);
  assert_non_null(strstr(csv, "store,region,scheme,sales_total,commission\n"));
  assert_non_null(strstr(csv, "F1,east,franchise,1234567,110457\n"));
  free(csv);
  cJSON_Delete(rows);
  hub_ctx_close(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_settle_flat_whole_total_at_tier_rate),
      cmocka_unit_test(test_settle_marginal_each_part_at_its_rate),
      cmocka_unit_test(test_settle_half_up_once_over_the_sum),
      cmocka_unit_test(test_settle_single_tier_and_large_totals),
      cmocka_unit_test(test_settle_validate_rejects_bad_sections),
      cmocka_unit_test(test_settle_report_uses_most_specific_scope),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
