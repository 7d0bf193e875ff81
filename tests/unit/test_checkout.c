/* test_checkout.c - checkout (SPEC 12): VAT half up, payments and change,
 * policy keys, strict baskets (unknown keys, 2.0), barcodes; refunds exact
 * to the minor unit (a random property test: returning every unit in any
 * split and order refunds each line's total and the sale's total exactly);
 * and the agent API: receipt, idempotent replay and conflict, returns,
 * over-return refused with nothing written, product lookup, concurrency. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_checkout.h"
#include "agent_member.h"
#include "agent_policy.h"
#include "shoal/checkout.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/util.h"
#include "test_util.h"

static void test_checkout_tax_half_up(void **state) {
  (void)state;
  assert_int_equal(shoal_tax_included(11300, 1300), 1300); /* 113.00 incl. 13% */
  assert_int_equal(shoal_tax_included(106, 600), 6);       /* 6.0 */
  assert_int_equal(shoal_tax_included(1, 10000), 1);       /* 0.5 rounds up */
  assert_int_equal(shoal_tax_included(3, 10000), 2);       /* 1.5 rounds up */
  assert_int_equal(shoal_tax_included(1000, 0), 0);
  assert_int_equal(shoal_tax_included(0, 1300), 0);
  /* Exhaustive small range against the definition (2x rounding trick). */
  for (int64_t t = 0; t < 3000; t++)
    for (int64_t bp = 0; bp <= 10000; bp += 97) {
      int64_t num = t * bp, den = 10000 + bp;
      int64_t want = (2 * num + den) / (2 * den);
      assert_int_equal(shoal_tax_included(t, bp), want);
    }
}

static struct shoal_checkout_policy policy_of(const char *doc) {
  cJSON *j = NULL;
  shoal_diag d;
  assert_int_equal(shoal_json_parse(doc, strlen(doc), &j, &d), SHOAL_OK);
  const cJSON *docs[1] = {j};
  struct shoal_checkout_policy p;
  assert_int_equal(shoal_checkout_policy_build(docs, 1, &p, &d), SHOAL_OK);
  cJSON_Delete(j);
  return p;
}

static void test_checkout_payments(void **state) {
  (void)state;
  shoal_diag d;
  struct shoal_checkout_policy p = policy_of("{\"scope\":\"global\"}");
  assert_true(shoal_checkout_method_allowed(&p, "wechat"));
  assert_false(shoal_checkout_method_allowed(&p, "points")); /* only with loyalty */
  assert_int_equal(p.utc_offset_min, 0);
  struct shoal_payment pay[2] = {{"card", 5000}, {"cash", 10000}};
  int64_t change = -1;
  assert_int_equal(shoal_payments_check(&p, pay, 2, 9400, &change, &d), SHOAL_OK);
  assert_int_equal(change, 5600);
  /* Card may not exceed the total: only cash gives change. */
  struct shoal_payment card[1] = {{"card", 9500}};
  assert_int_equal(shoal_payments_check(&p, card, 1, 9400, &change, &d), SHOAL_EINPUT);
  /* Change never more than the cash given. */
  struct shoal_payment mix[2] = {{"card", 9000}, {"cash", 500}};
  assert_int_equal(shoal_payments_check(&p, mix, 2, 9400, &change, &d), SHOAL_OK);
  assert_int_equal(change, 100);
  struct shoal_payment mix2[2] = {{"card", 9500}, {"cash", 50}};
  assert_int_equal(shoal_payments_check(&p, mix2, 2, 9400, &change, &d), SHOAL_EINPUT);
  /* Short payments name the missing amount. */
  assert_int_equal(shoal_payments_check(&p, card, 1, 10000, &change, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "500 missing"));
  struct shoal_payment bad[1] = {{"bitcoin", 9400}};
  assert_int_equal(shoal_payments_check(&p, bad, 1, 9400, &change, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "bitcoin"));
  /* A policy restricting methods; loyalty adds points; offset parsed. */
  p = policy_of("{\"scope\":\"global\",\"payments\":[\"cash\"],\"utc_offset\":\"+08:00\","
                "\"loyalty\":{\"earn_per\":100,\"redeem_value\":1}}");
  assert_false(shoal_checkout_method_allowed(&p, "card"));
  assert_true(shoal_checkout_method_allowed(&p, "points"));
  assert_int_equal(p.utc_offset_min, 480);
  assert_int_equal(p.code_ttl_s, 300);
}

static void expect_policy_error(const char *doc, const char *needle) {
  shoal_diag d = {{0}};
  assert_int_equal(shoal_policy_validate(doc, strlen(doc), NULL, &d), SHOAL_EINPUT);
  if (!strstr(d.msg, needle))
    fail_msg("\"%s\" not in \"%s\"", needle, d.msg);
}

static void test_checkout_policy_validation(void **state) {
  (void)state;
  shoal_diag d;
  const char *ok =
      "{\"scope\":\"global\",\"payments\":[\"cash\",\"card\"],\"utc_offset\":\"-05:30\","
      "\"loyalty\":{\"earn_per\":100,\"redeem_value\":1,\"code_ttl_s\":60,\"grace_s\":0},"
      "\"items\":[{\"sku\":\"A\",\"price\":1,\"barcode\":\"690\",\"tax_bp\":1300}]}";
  assert_int_equal(shoal_policy_validate(ok, strlen(ok), NULL, &d), SHOAL_OK);
  expect_policy_error("{\"scope\":\"global\",\"utc_offset\":\"8\"}", "utc_offset");
  expect_policy_error("{\"scope\":\"global\",\"payments\":[\"cash\",\"cash\"]}", "twice");
  expect_policy_error("{\"scope\":\"global\",\"loyalty\":{\"earn_per\":1}}", "redeem_value");
  expect_policy_error(
      "{\"scope\":\"global\",\"loyalty\":{\"earn_per\":1,\"redeem_value\":1,\"x\":1}}", "\"x\"");
  expect_policy_error(
      "{\"scope\":\"global\",\"items\":[{\"sku\":\"A\",\"price\":1,\"tax_bp\":-1}]}", "tax_bp");
  expect_policy_error(
      "{\"scope\":\"global\",\"items\":[{\"sku\":\"A\",\"price\":1,\"barcode\":\"1\"},"
      "{\"sku\":\"B\",\"price\":1,\"barcode\":\"1\"}]}",
      "barcode \"1\"");
}

static shoal_err parse_basket(const char *text, shoal_diag *d) {
  struct shoal_basket *b = NULL;
  shoal_err rc = shoal_basket_parse_text(text, strlen(text), &b, d);
  shoal_basket_free(b);
  return rc;
}

static void test_checkout_strict_basket(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  assert_int_equal(
      parse_basket("{\"region\":\"r\",\"store\":\"s\",\"lines\":[{\"sku\":\"A\",\"qty\":2}],"
                   "\"request_id\":\"k1\",\"cashier\":\"amy\",\"payments\":[{\"method\":"
                   "\"cash\",\"amount\":5}]}",
                   &d),
      SHOAL_OK);
  assert_int_equal(
      parse_basket("{\"region\":\"r\",\"store\":\"s\",\"lines\":[{\"sku\":\"A\",\"qty\":2.0}]}",
                   &d),
      SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "\"qty\""));
  assert_non_null(strstr(d.msg, "2.0"));
  assert_int_equal(
      parse_basket("{\"region\":\"r\",\"store\":\"s\",\"lines\":[{\"sku\":\"A\",\"qty\":2e0}]}",
                   &d),
      SHOAL_EINPUT);
  assert_int_equal(parse_basket("{\"region\":\"r\",\"store\":\"s\",\"lines\":[],\"tip\":1}", &d),
                   SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "\"tip\""));
  assert_int_equal(
      parse_basket(
          "{\"region\":\"r\",\"store\":\"s\",\"lines\":[{\"sku\":\"A\",\"qty\":1,\"x\":1}]}", &d),
      SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "\"x\""));
  assert_int_equal(
      parse_basket("{\"region\":\"r\",\"store\":\"s\",\"lines\":[],\"customer\":{\"id\":"
                   "\"c\",\"vip\":true}}",
                   &d),
      SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "\"vip\""));
  assert_int_equal(
      parse_basket("{\"region\":\"r\",\"store\":\"s\",\"lines\":[],\"payments\":[{\"method\":"
                   "\"cash\",\"amount\":0}]}",
                   &d),
      SHOAL_EINPUT);
  /* A "2.0" inside a string is text, not a number. */
  assert_int_equal(
      parse_basket("{\"region\":\"r\",\"store\":\"s\",\"cashier\":\"v2.0\",\"lines\":[]}", &d),
      SHOAL_OK);
}

/* ---- refunds ---- */

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(uint64_t n) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return rs % n;
}

static void test_checkout_refund_examples(void **state) {
  (void)state;
  shoal_diag d;
  /* 3 units for 1000: 333, 333, then the last unit takes what remains (334). */
  struct shoal_refund_line l[1] = {{3, 1000, 0, 1, 0}};
  int64_t refund, rounding;
  assert_int_equal(shoal_refund_compute(1000, l, 1, &refund, &rounding, &d), SHOAL_OK);
  assert_int_equal(refund, 333);
  l[0].returned = 1;
  assert_int_equal(shoal_refund_compute(1000, l, 1, &refund, &rounding, &d), SHOAL_OK);
  assert_int_equal(refund, 333);
  l[0].returned = 2;
  assert_int_equal(shoal_refund_compute(1000, l, 1, &refund, &rounding, &d), SHOAL_OK);
  assert_int_equal(refund, 334);
  /* Over-return refused. */
  l[0].returned = 3;
  assert_int_equal(shoal_refund_compute(1000, l, 1, &refund, &rounding, &d), SHOAL_EINPUT);
  /* Rounding (999 -> 990) spread in proportion: 330 + 660. */
  struct shoal_refund_line r[1] = {{3, 999, 0, 1, 0}};
  assert_int_equal(shoal_refund_compute(990, r, 1, &refund, &rounding, &d), SHOAL_OK);
  assert_int_equal(refund, 330);
  assert_int_equal(rounding, -3);
  r[0].returned = 1;
  r[0].want = 2;
  assert_int_equal(shoal_refund_compute(990, r, 1, &refund, &rounding, &d), SHOAL_OK);
  assert_int_equal(refund, 660);
  /* Default split: largest net first, one entry per method. */
  struct shoal_payment net[2] = {{"cash", 4400}, {"card", 5000}}, out[2];
  size_t n = 0;
  assert_int_equal(shoal_refund_default(net, 2, 6000, out, &n, &d), SHOAL_OK);
  assert_int_equal(n, 2);
  assert_string_equal(out[0].method, "card");
  assert_int_equal(out[0].amount, 5000);
  assert_int_equal(out[1].amount, 1000);
  assert_int_equal(shoal_refund_default(net, 2, 9401, out, &n, &d), SHOAL_EINPUT);
}

/* Property: any split of every unit, in any order, refunds each line's
 * total and the sale's total exactly; every partial refund is >= 0. */
static void test_checkout_refund_property(void **state) {
  (void)state;
  shoal_diag d;
  for (int trial = 0; trial < 3000; trial++) {
    size_t n = 1 + (size_t)rnd(6);
    struct shoal_refund_line l[6];
    int64_t sum_lines = 0, line_got[6] = {0};
    for (size_t i = 0; i < n; i++) {
      l[i].qty = 1 + (int64_t)rnd(trial % 3 ? 7 : 1000);
      l[i].total = (int64_t)rnd(trial % 5 ? 100000 : 3); /* tiny totals too, even 0 */
      l[i].returned = 0;
      sum_lines += l[i].total;
    }
    /* Rounding of up to +-99 (never below 0). */
    int64_t sale_total = sum_lines + (int64_t)rnd(199) - 99;
    if (sale_total < 0)
      sale_total = 0;
    if (sum_lines == 0)
      sale_total = 0;
    int64_t got = 0;
    bool done = false;
    while (!done) {
      bool any = false;
      for (size_t i = 0; i < n; i++) {
        int64_t left = l[i].qty - l[i].returned;
        l[i].want = left ? (int64_t)rnd((uint64_t)left + 1) : 0;
        any |= l[i].want > 0;
      }
      if (!any)
        continue;
      int64_t refund = -1, rounding = 0, lines = 0;
      assert_int_equal(shoal_refund_compute(sale_total, l, n, &refund, &rounding, &d), SHOAL_OK);
      assert_true(refund >= 0);
      for (size_t i = 0; i < n; i++) {
        assert_true(l[i].refund >= 0);
        line_got[i] += l[i].refund;
        lines += l[i].refund;
        l[i].returned += l[i].want;
      }
      assert_int_equal(refund, lines + rounding);
      got += refund;
      done = true;
      for (size_t i = 0; i < n; i++)
        done &= l[i].returned == l[i].qty;
    }
    assert_int_equal(got, sale_total);
    for (size_t i = 0; i < n; i++)
      assert_int_equal(line_got[i], l[i].total);
  }
}

/* ---- the agent API ---- */

static const char *POLICY =
    "{\"scope\":\"global\",\"currency\":\"CNY\",\"utc_offset\":\"+08:00\","
    "\"payments\":[\"cash\",\"card\",\"wechat\"],"
    "\"items\":[{\"sku\":\"MT\",\"name\":\"Milk tea\",\"barcode\":\"6901\",\"tax_bp\":1300,"
    "\"categories\":[\"tea\"],\"price\":2800},{\"sku\":\"CK\",\"name\":\"Cake\",\"price\":1800,"
    "\"tax_bp\":600}],\"rules\":[{\"id\":\"t\",\"type\":\"threshold\",\"min\":5000,\"off\":800}],"
    "\"round\":{\"step\":10,\"mode\":\"down\"}}";

static const char *agent_config(void) {
  test_write_file(
      "profile.json",
      "{\"profile\":\"pos\",\"modules\":[\"pricing\",\"sales\"],\"cache\":{\"max_mb\":8},"
      "\"outbox\":{\"max_events\":10000},\"sync\":{\"keepalive_s\":30,\"backoff_min_s\":1,"
      "\"backoff_max_s\":5,\"batch\":10}}");
  return test_write_file("agent.json", "{\"device\":\"pos-1\",\"store\":\"s1\",\"region\":\"r1\","
                                       "\"profile\":\"profile.json\",\"db\":\"co.db\"}");
}

static struct agent_model *setup_agent(struct agent_ctx *ctx) {
  shoal_diag d;
  assert_int_equal(agent_ctx_open(ctx, agent_config(), &d), SHOAL_OK);
  int64_t latest = 0;
  assert_int_equal(agent_policy_latest(ctx, "global", &latest, &d), SHOAL_OK);
  if (latest == 0) {
    struct agent_policy_row row = {.scope = "global",
                                   .version = 1,
                                   .issued_ms = AGENT_POLICY_NO_TIME,
                                   .effective_ms = AGENT_POLICY_NO_TIME,
                                   .expires_ms = AGENT_POLICY_NO_TIME,
                                   .doc = POLICY,
                                   .source = "import"};
    assert_int_equal(agent_policy_store(ctx, &row, &d), SHOAL_OK);
  }
  struct agent_model *m = NULL;
  assert_int_equal(agent_model_load(ctx, shoal_now_ms(), &m, &d), SHOAL_OK);
  return m;
}

static int64_t jint(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_non_null(v);
  return shoal_json_int(v);
}

static cJSON *sale(struct agent_ctx *ctx, struct agent_model *m, const char *body, shoal_err want,
                   bool *replayed) {
  shoal_diag d = {{0}};
  cJSON *r = NULL;
  shoal_err rc =
      agent_checkout_sale(ctx, m, body, strlen(body), true, shoal_now_ms(), &r, replayed, &d);
  if (rc != want)
    fail_msg("sale: want %d got %d (%s)", want, rc, d.msg);
  return r;
}

static int64_t count(struct agent_ctx *ctx, const char *sql) {
  int64_t n = -1;
  shoal_diag d;
  assert_int_equal(shoal_db_query_int(ctx->db, sql, 0, &n, &d), SHOAL_OK);
  return n;
}

static void test_checkout_agent_sale_and_returns(void **state) {
  (void)state;
  struct agent_ctx ctx;
  struct agent_model *m = setup_agent(&ctx);
  shoal_diag d = {{0}};
  const char *b = "{\"region\":\"r1\",\"store\":\"s1\",\"request_id\":\"k1\",\"cashier\":\"amy\","
                  "\"lines\":[{\"sku\":\"MT\",\"qty\":3},{\"sku\":\"CK\",\"qty\":1}],"
                  "\"payments\":[{\"method\":\"card\",\"amount\":5000},{\"method\":\"cash\","
                  "\"amount\":5000}]}";
  bool replayed = true;
  cJSON *r = sale(&ctx, m, b, SHOAL_OK, &replayed);
  assert_false(replayed);
  /* 10200 - 800 = 9400, rounded down to 10 fen: 9400; change 600. */
  assert_int_equal(jint(r, "total"), 9400);
  assert_int_equal(jint(r, "change"), 600);
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(r, "lines");
  const cJSON *l0 = cJSON_GetArrayItem(lines, 0);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(l0, "name")->valuestring, "Milk tea");
  assert_int_equal(jint(l0, "tax"), shoal_tax_included(jint(l0, "total"), 1300));
  assert_int_equal(jint(r, "tax_total"),
                   jint(l0, "tax") + jint(cJSON_GetArrayItem(lines, 1), "tax"));
  const char *at = cJSON_GetObjectItemCaseSensitive(r, "at")->valuestring;
  assert_non_null(strstr(at, "+08:00"));
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "cashier")->valuestring, "amy");
  char id[AGENT_RECEIPT_ID_MAX];
  shoal_strlcpy(id, cJSON_GetObjectItemCaseSensitive(r, "id")->valuestring, sizeof id);

  /* Same key, same body: the first receipt, flagged, nothing recorded. */
  cJSON *r2 = sale(&ctx, m, b, SHOAL_OK, &replayed);
  assert_true(replayed);
  assert_true(cJSON_Compare(r, r2, true));
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM sales"), 1);
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM outbox"), 1);
  cJSON_Delete(r2);
  /* Same key, other body: conflict. */
  char other[1024];
  snprintf(other, sizeof other, "%s", b);
  memcpy(strstr(other, "amy"), "bob", 3);
  sale(&ctx, m, other, SHOAL_ECONFLICT, NULL);
  /* Payments that do not add up, unknown key, member code, far "at". */
  sale(&ctx, m,
       "{\"region\":\"r1\",\"store\":\"s1\",\"request_id\":\"k2\",\"lines\":[{\"sku\":"
       "\"CK\",\"qty\":1}],\"payments\":[{\"method\":\"card\",\"amount\":1}]}",
       SHOAL_EINPUT, NULL);
  sale(&ctx, m,
       "{\"region\":\"r1\",\"store\":\"s1\",\"request_id\":\"k2\",\"lines\":[{\"sku\":"
       "\"CK\",\"qty\":1}],\"member_code\":\"SHOALM1.x\"}",
       SHOAL_ESIG, NULL); /* SPEC 13: a malformed member code is refused, exit 4 */
  sale(&ctx, m,
       "{\"region\":\"r1\",\"store\":\"s1\",\"request_id\":\"k2\",\"at\":"
       "\"2019-01-01T00:00:00+08:00\",\"lines\":[{\"sku\":\"CK\",\"qty\":1}]}",
       SHOAL_EINPUT, NULL);
  sale(&ctx, m, "{\"region\":\"r1\",\"store\":\"s1\",\"lines\":[{\"sku\":\"CK\",\"qty\":1}]}",
       SHOAL_EINPUT, NULL); /* the store API requires request_id */
  sale(&ctx, m,
       "{\"region\":\"r1\",\"store\":\"s9\",\"request_id\":\"k3\",\"lines\":[{\"sku\":"
       "\"CK\",\"qty\":1}]}",
       SHOAL_ESCOPE, NULL);
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM sales"), 1);

  /* Returns: partial, then the rest; together exactly the total. */
  char body[512];
  cJSON *o = NULL;
  snprintf(body, sizeof body,
           "{\"request_id\":\"ret1\",\"sale\":\"%s\",\"lines\":[{\"sku\":\"MT\",\"qty\":1}]}", id);
  assert_int_equal(
      agent_checkout_return(&ctx, m, body, strlen(body), true, shoal_now_ms(), &o, &replayed, &d),
      SHOAL_OK);
  int64_t first = jint(o, "refund");
  cJSON_Delete(o);
  assert_int_equal(
      agent_checkout_return(&ctx, m, body, strlen(body), true, shoal_now_ms(), &o, &replayed, &d),
      SHOAL_OK);
  assert_true(replayed);
  assert_int_equal(jint(o, "refund"), first);
  cJSON_Delete(o);
  /* Over-return: nothing written. */
  int64_t before = count(&ctx, "SELECT COUNT(*) FROM outbox");
  snprintf(body, sizeof body,
           "{\"request_id\":\"ret2\",\"sale\":\"%s\",\"lines\":[{\"sku\":\"MT\",\"qty\":3}]}", id);
  assert_int_equal(
      agent_checkout_return(&ctx, m, body, strlen(body), true, shoal_now_ms(), &o, NULL, &d),
      SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "remain"));
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM outbox"), before);
  /* Given refunds must add up. */
  snprintf(
      body, sizeof body,
      "{\"request_id\":\"ret3\",\"sale\":\"%s\",\"lines\":[{\"sku\":\"MT\",\"qty\":2},{\"sku\":"
      "\"CK\",\"qty\":1}],\"refunds\":[{\"method\":\"cash\",\"amount\":1}]}",
      id);
  assert_int_equal(
      agent_checkout_return(&ctx, m, body, strlen(body), true, shoal_now_ms(), &o, NULL, &d),
      SHOAL_EINPUT);
  snprintf(
      body, sizeof body,
      "{\"request_id\":\"ret4\",\"sale\":\"%s\",\"lines\":[{\"sku\":\"MT\",\"qty\":2},{\"sku\":"
      "\"CK\",\"qty\":1}],\"reason\":\"spilt\"}",
      id);
  assert_int_equal(
      agent_checkout_return(&ctx, m, body, strlen(body), true, shoal_now_ms(), &o, NULL, &d),
      SHOAL_OK);
  assert_int_equal(first + jint(o, "refund"), 9400);
  cJSON_Delete(o);
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM outbox WHERE type = 'return'"), 2);
  /* Unknown sale: not found. */
  const char *unk =
      "{\"request_id\":\"ret5\",\"sale\":\"nope\",\"lines\":[{\"sku\":\"MT\",\"qty\":1}]}";
  assert_int_equal(
      agent_checkout_return(&ctx, m, unk, strlen(unk), true, shoal_now_ms(), &o, NULL, &d),
      SHOAL_ENOTFOUND);
  /* The receipt with its returns. */
  assert_int_equal(agent_checkout_receipt(&ctx, id, &o, &d), SHOAL_OK);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "returns")), 2);
  cJSON_Delete(o);
  assert_int_equal(agent_checkout_receipt(&ctx, "nope", &o, &d), SHOAL_ENOTFOUND);
  /* Products by sku and by barcode. */
  assert_int_equal(agent_products_get(m, NULL, "6901", &o, &d), SHOAL_OK);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "sku")->valuestring, "MT");
  assert_int_equal(jint(o, "tax_bp"), 1300);
  assert_int_equal(jint(o, "base_price"), 2800);
  cJSON_Delete(o);
  assert_int_equal(agent_products_get(m, "CK", NULL, &o, &d), SHOAL_OK);
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "barcode")));
  cJSON_Delete(o);
  assert_int_equal(agent_products_get(m, NULL, "000", &o, &d), SHOAL_ENOTFOUND);
  /* Pruning keeps keys younger than 7 days. */
  assert_int_equal(agent_checkout_prune(&ctx, shoal_now_ms(), 0, &d), SHOAL_OK);
  assert_true(count(&ctx, "SELECT COUNT(*) FROM requests") >= 3);
  assert_int_equal(agent_checkout_prune(&ctx, shoal_now_ms() + 8LL * 86400000, 0, &d), SHOAL_OK);
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM requests"), 0);
  cJSON_Delete(r);
  agent_model_free(m);
  agent_ctx_close(&ctx);
}

/* A store's other device announced a used member code (SPEC 13): the
 * notice is recorded whatever its nonce starts with. Nonces are base64url,
 * so 1 in 32 begins with '-' or '_', which an identifier may not;
 * such notices were refused as "malformed body". */
static void test_checkout_member_notice_nonce_base64url(void **state) {
  (void)state;
  struct agent_ctx ctx;
  struct agent_model *m = setup_agent(&ctx);
  const char *nonces[] = {"_rt-CV_BqDvI3cAG", "-abcdefgh", "Zz09_-zz"};
  for (size_t i = 0; i < sizeof nonces / sizeof nonces[0]; i++) {
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"v\":1,\"device\":\"hub\",\"store\":\"s1\",\"epoch\":\"0\",\"seq\":1,"
             "\"hlc\":1,\"type\":\"member_code\",\"body\":{\"nonce\":\"%s\",\"customer\":"
             "\"M1\",\"expires\":4102444800}}",
             nonces[i]);
    bool handled = false;
    shoal_diag d = {{0}};
    shoal_err rc =
        agent_member_on_notice(&ctx, payload, strlen(payload), shoal_now_ms(), &handled, &d);
    if (rc != SHOAL_OK)
      fail_msg("notice for nonce %s: %s", nonces[i], d.msg);
    assert_true(handled);
  }
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM member_redemptions WHERE sale = ''"), 3);
  /* A nonce that is not base64url (or too short) is still refused. */
  const char *bad = "{\"v\":1,\"device\":\"hub\",\"store\":\"s1\",\"epoch\":\"0\",\"seq\":1,"
                    "\"hlc\":1,\"type\":\"member_code\",\"body\":{\"nonce\":\"a.b\",\"customer\":"
                    "\"M1\",\"expires\":4102444800}}";
  bool handled = false;
  shoal_diag d = {{0}};
  assert_int_equal(agent_member_on_notice(&ctx, bad, strlen(bad), shoal_now_ms(), &handled, &d),
                   SHOAL_EINPUT);
  agent_model_free(m);
  agent_ctx_close(&ctx);
}

/* Lanes on their own connections share one model: no lost or doubled sale. */
struct lane {
  const struct agent_model *m;
  const char *config; /* written once by the main thread */
  int id, ok;
};

static void *lane_run(void *arg) {
  struct lane *l = arg;
  struct agent_ctx ctx;
  shoal_diag d;
  if (agent_ctx_open(&ctx, l->config, &d) != SHOAL_OK) {
    fprintf(stderr, "lane %d: %s\n", l->id, d.msg);
    return NULL;
  }
  for (int i = 0; i < 10; i++) {
    char body[256];
    /* Every lane also resends one shared key: it must record once. */
    snprintf(body, sizeof body,
             "{\"region\":\"r1\",\"store\":\"s1\",\"request_id\":\"%s%d-%d\",\"lines\":[{\"sku\":"
             "\"CK\",\"qty\":1}]}",
             i == 0 ? "shared" : "lane", i == 0 ? 0 : l->id, i);
    cJSON *r = NULL;
    shoal_err rc =
        agent_checkout_sale(&ctx, l->m, body, strlen(body), true, shoal_now_ms(), &r, NULL, &d);
    if (rc == SHOAL_OK)
      l->ok++;
    else
      fprintf(stderr, "lane %d: %s\n", l->id, d.msg);
    cJSON_Delete(r);
  }
  agent_ctx_close(&ctx);
  return NULL;
}

static void test_checkout_agent_concurrent_lanes(void **state) {
  (void)state;
  struct agent_ctx ctx;
  struct agent_model *m = setup_agent(&ctx);
  int64_t before = count(&ctx, "SELECT COUNT(*) FROM sales");
  pthread_t t[4];
  struct lane lanes[4];
  char config[1100];
  shoal_strlcpy(config, agent_config(), sizeof config);
  for (int i = 0; i < 4; i++) {
    lanes[i] = (struct lane){m, config, i, 0};
    assert_int_equal(pthread_create(&t[i], NULL, lane_run, &lanes[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(lanes[i].ok, 10);
  }
  /* 4 x 9 own keys + 1 shared = 37 sales, numbers unique. */
  assert_int_equal(count(&ctx, "SELECT COUNT(*) FROM sales") - before, 37);
  assert_int_equal(count(&ctx, "SELECT COUNT(DISTINCT n) FROM sales"),
                   count(&ctx, "SELECT COUNT(*) FROM sales"));
  agent_model_free(m);
  agent_ctx_close(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_checkout_tax_half_up),
      cmocka_unit_test(test_checkout_payments),
      cmocka_unit_test(test_checkout_policy_validation),
      cmocka_unit_test(test_checkout_strict_basket),
      cmocka_unit_test(test_checkout_refund_examples),
      cmocka_unit_test(test_checkout_refund_property),
      cmocka_unit_test(test_checkout_agent_sale_and_returns),
      cmocka_unit_test(test_checkout_agent_concurrent_lanes),
      cmocka_unit_test(test_checkout_member_notice_nonce_base64url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
