/* fault_alloc.c - malloc fault injection over the shared engines (issue 16,
 * SQLite's faultsim): each case (a pricing quote, a form validation, a
 * ticket fold with routing and settlement, an expression, an event round
 * trip, a JSON parse) runs once to count its allocations and record its
 * result, then once for every N up to that count with the Nth allocation
 * failing; and the hub's builders over a seeded database (order ingest,
 * the sales, settlement and fleet reports, a customer profile with its
 * timeline and history, rollout status). Proves: no crash, no leak (run
 * under ASan/LSan), and never SHOAL_OK with a missing or different
 * result: a failed allocation is an error or has no visible effect.
 *
 * Allocations are caught by linking with --wrap=malloc,calloc,realloc,
 * strdup,strndup (every call from our static libraries) and cJSON's hooks
 * (the system cJSON); SQLite and mbedTLS are not in these cases. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hub_customers.h"
#include "hub_orders.h"
#include "hub_reports.h"
#include "hub_rollout.h"
#include "shoal/db.h"
#include "shoal/expr.h"
#include "shoal/forms.h"
#include "shoal/hlc.h"
#include "shoal/jsonx.h"
#include "shoal/pricing.h"
#include "shoal/ticket.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "shoal/wire_payloads.h"
#include "store.h"

/* ---- the allocator shim ---- */

static long fault_at;    /* fail the fault_at-th allocation (0: never) */
static long fault_count; /* allocations since armed */
static bool fault_hit;
static bool fault_paused; /* a case's set-up and checks: neither counted nor failed */

static bool fail_now(void) {
  if (!fault_at || fault_paused)
    return false;
  if (++fault_count == fault_at) {
    fault_hit = true;
    return true;
  }
  return false;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n) {
  return fail_now() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b) {
  return fail_now() ? NULL : __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) {
  return fail_now() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
  return fail_now() ? NULL : __real_strndup(s, n);
}

static void *hook_malloc(size_t n) {
  return fail_now() ? NULL : __real_malloc(n);
}

/* Counting mode: an allocation number never reached, so every one counts. */
#define COUNT_ONLY LONG_MAX

static void arm(long at) {
  fault_at = at;
  fault_count = 0;
  fault_hit = false;
}

static void disarm(void) {
  fault_at = 0;
}

/* ---- cases: each returns rc and, on SHOAL_OK, its result as a JSON tree ---- */

struct fcase {
  const char *name;
  shoal_err (*run)(const struct fcase *c, cJSON **out);
  const char *a, *b, *c; /* inputs (JSON texts) */
};

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf)
    buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Pricing: a = scopes' docs as a JSON array [global, region, store] (null
 * where none), b = the basket. Model, basket, quote, quote JSON. */
static shoal_err run_pricing(const struct fcase *c, cJSON **out) {
  cJSON *docs = cJSON_Parse(c->a); /* parsed armed too: a failure here is fine */
  shoal_diag d = {{0}};
  struct shoal_pricing_model *m = NULL;
  struct shoal_basket *bk = NULL;
  struct shoal_quote *q = NULL;
  cJSON *basket = NULL;
  char *texts[SHOAL_PRICING_SCOPES] = {NULL};
  const char *scopes[SHOAL_PRICING_SCOPES] = {"global", "region/none", "store/none"};
  shoal_err rc = SHOAL_ENOMEM;
  if (!docs)
    goto cleanup;
  for (int i = 0; i < SHOAL_PRICING_SCOPES; i++) {
    const cJSON *doc = cJSON_GetArrayItem(docs, i);
    if (!cJSON_IsObject(doc))
      continue;
    scopes[i] = cJSON_GetObjectItemCaseSensitive(doc, "scope")->valuestring;
    if (!(texts[i] = shoal_json_print(doc)))
      goto cleanup;
  }
  if ((rc = shoal_pricing_model_from_texts(scopes, (const char *const *)texts, NULL, &m, &d)) !=
          SHOAL_OK ||
      (rc = shoal_json_parse(c->b, strlen(c->b), &basket, &d)) != SHOAL_OK ||
      (rc = shoal_basket_parse(basket, &bk, &d)) != SHOAL_OK ||
      (rc = shoal_pricing_quote(m, bk, &q, &d)) != SHOAL_OK)
    goto cleanup;
  if (!(*out = shoal_quote_to_json(q)))
    rc = SHOAL_ENOMEM; /* the documented NULL-on-OOM of a non-shoal_err API */
cleanup:
  for (int i = 0; i < SHOAL_PRICING_SCOPES; i++)
    free(texts[i]);
  shoal_quote_free(q);
  shoal_basket_free(bk);
  shoal_pricing_model_free(m);
  cJSON_Delete(basket);
  cJSON_Delete(docs);
  return rc;
}

/* Forms: a = the form definition, b = the data. Compile, validate, result
 * JSON, on_submit. */
static shoal_err run_forms(const struct fcase *c, cJSON **out) {
  shoal_diag d = {{0}};
  cJSON *def = NULL, *data = NULL, *acts = NULL, *res = NULL;
  shoal_form *f = NULL;
  struct shoal_form_result r = {0};
  shoal_err rc;
  if ((rc = shoal_json_parse(c->a, strlen(c->a), &def, &d)) != SHOAL_OK ||
      (rc = shoal_form_compile(def, &f, &d)) != SHOAL_OK ||
      (rc = shoal_forms_data_parse(c->b, strlen(c->b), &data, &d)) != SHOAL_OK ||
      (rc = shoal_form_validate(f, data, &r, &d)) != SHOAL_OK ||
      (rc = shoal_form_on_submit(f, &r, &acts, &d)) != SHOAL_OK)
    goto cleanup;
  if (!(res = shoal_form_result_json(&r))) {
    rc = SHOAL_ENOMEM;
    goto cleanup;
  }
  cJSON *o = cJSON_CreateObject();
  if (!shoal_json_put(o, "result", res) | !shoal_json_put(o, "on_submit", acts)) {
    res = acts = NULL;
    cJSON_Delete(o);
    rc = SHOAL_ENOMEM;
    goto cleanup;
  }
  res = acts = NULL;
  *out = o;
cleanup:
  cJSON_Delete(res);
  cJSON_Delete(acts);
  shoal_form_result_cleanup(&r);
  shoal_form_free(f);
  cJSON_Delete(data);
  cJSON_Delete(def);
  return rc;
}

/* Tickets: a = the events array, b and c = policy docs. */
static shoal_err run_ticket(const struct fcase *c, cJSON **out) {
  shoal_diag d = {{0}};
  cJSON *ev = NULL, *docs[2] = {NULL, NULL};
  shoal_err rc;
  if ((rc = shoal_json_parse(c->a, strlen(c->a), &ev, &d)) != SHOAL_OK ||
      (rc = shoal_json_parse(c->b, strlen(c->b), &docs[0], &d)) != SHOAL_OK ||
      (rc = shoal_json_parse(c->c, strlen(c->c), &docs[1], &d)) != SHOAL_OK)
    goto cleanup;
  struct shoal_ticket_fold_opts o = {(const cJSON *const *)docs, 2, NULL, NULL, false};
  struct shoal_ticket_summary sum;
  rc = shoal_ticket_fold(ev, &o, out, &sum, &d);
cleanup:
  cJSON_Delete(ev);
  cJSON_Delete(docs[0]);
  cJSON_Delete(docs[1]);
  return rc;
}

/* Expressions: a = the expression, b = the environment. */
static shoal_err run_expr(const struct fcase *c, cJSON **out) {
  shoal_diag d = {{0}};
  shoal_expr *e = NULL;
  cJSON *env = NULL;
  shoal_err rc;
  if ((rc = shoal_expr_compile(c->a, &e, &d)) == SHOAL_OK &&
      (rc = shoal_json_parse(c->b, strlen(c->b), &env, &d)) == SHOAL_OK)
    rc = shoal_expr_eval(e, env, out, &d);
  shoal_expr_free(e);
  cJSON_Delete(env);
  return rc;
}

/* Events: decode a, encode it again, return the decoded envelope as JSON. */
static shoal_err run_event(const struct fcase *c, cJSON **out) {
  shoal_diag d = {{0}};
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  char *text = NULL;
  shoal_err rc = shoal_event_decode(c->a, strlen(c->a), &ev, &d);
  if (rc == SHOAL_OK && (rc = shoal_event_encode(&ev, &text)) == SHOAL_OK &&
      !(*out = shoal_event_to_json(&ev)))
    rc = SHOAL_ENOMEM;
  free(text);
  shoal_event_cleanup(&ev);
  return rc;
}

/* Wire payloads (wire_payloads.h): every encoder, then the decoders over
 * what they wrote (a receipt a, a recorded return b, the hello's policy
 * status c); the result holds the encoded bodies and the decoded fields. */
static shoal_err run_payloads(const struct fcase *c, cJSON **out) {
  shoal_diag d = {{0}};
  shoal_err rc = SHOAL_OK;
  cJSON *receipt = NULL, *retrec = NULL, *status = NULL, *hello = NULL, *res = NULL;
  struct shoal_event sale = {.seq = 1, .hlc = 1}, ret = {.seq = 2, .hlc = 2};
  char *presence = NULL, ack[SHOAL_ACK_MAX_BYTES];
  size_t ack_len = 0;
  uint64_t epoch = 0;
  int64_t upto = 0;
  bool online = false;
  struct shoal_sale_info si;
  struct shoal_return_info ri;
  snprintf(sale.device, sizeof sale.device, "pos-1");
  snprintf(sale.store, sizeof sale.store, "s1");
  snprintf(sale.epoch, sizeof sale.epoch, "7");
  snprintf(sale.type, sizeof sale.type, "sale");
  ret = sale;
  snprintf(ret.type, sizeof ret.type, "return");
  const char *scopes[3] = {"global", "region/cn-sw", "store/s1"};
  const int64_t versions[3] = {4, 0, 2};
  const char *serves[] = {"s1", "s2"};
  const struct shoal_presence p = {true, "pos-1", "s1", "cn-sw", "pos", 1772330400000LL};
  if ((rc = shoal_json_parse(c->a, strlen(c->a), &receipt, &d)) != SHOAL_OK ||
      (rc = shoal_json_parse(c->b, strlen(c->b), &retrec, &d)) != SHOAL_OK ||
      (rc = shoal_json_parse(c->c, strlen(c->c), &status, &d)) != SHOAL_OK)
    goto cleanup;
  const struct shoal_hello h = {.profile = "pos",
                                .region = "cn-sw",
                                .agent_version = "1.0.0",
                                .modules = 3,
                                .serves = serves,
                                .nserves = 2,
                                .status = status,
                                .outbox_pending = 5,
                                .acked = 9};
  if ((rc = shoal_ack_encode("7", 9, ack, sizeof ack, &ack_len, &d)) != SHOAL_OK ||
      (rc = shoal_ack_decode(ack, ack_len, &epoch, &upto, &d)) != SHOAL_OK ||
      (rc = shoal_presence_encode(&p, &presence, &d)) != SHOAL_OK ||
      (rc = shoal_presence_decode(presence, strlen(presence), &online, &d)) != SHOAL_OK ||
      (rc = shoal_hello_encode(&h, &hello, &d)) != SHOAL_OK ||
      (rc = shoal_sale_body_encode(receipt, NULL, scopes, versions, 3, "nonce-1", &sale.body,
                                   &d)) != SHOAL_OK ||
      (rc = shoal_sale_decode(&sale, &si, &d)) != SHOAL_OK ||
      (rc = shoal_return_body_encode(retrec, "s1", "cn-sw", "2026-11-22T08:00:00Z", &ret.body,
                                     &d)) != SHOAL_OK ||
      (rc = shoal_return_decode(&ret, &ri, &d)) != SHOAL_OK)
    goto cleanup;
  res = cJSON_CreateObject();
  bool ok = shoal_json_put(res, "hello", hello); /* takes hello, even on failure */
  hello = NULL;
  ok = ok && shoal_json_put(res, "ack", cJSON_CreateString(ack));
  ok = ok && shoal_json_put(res, "presence", cJSON_CreateString(presence));
  ok = ok && shoal_json_put(res, "sale", cJSON_Duplicate(sale.body, true));
  ok = ok && shoal_json_put(res, "return", cJSON_Duplicate(ret.body, true));
  ok = ok && shoal_json_put(res, "decoded",
                            cJSON_CreateIntArray((const int[]){(int)epoch, (int)upto, online,
                                                               (int)si.total, (int)ri.refund},
                                                 5));
  if (!ok) {
    rc = SHOAL_ENOMEM;
    goto cleanup;
  }
  *out = res;
  res = NULL;
cleanup:
  cJSON_Delete(res);
  cJSON_Delete(hello);
  cJSON_Delete(receipt);
  cJSON_Delete(retrec);
  cJSON_Delete(status);
  shoal_event_cleanup(&sale);
  shoal_event_cleanup(&ret);
  free(presence);
  return rc;
}

static int64_t count_rows(hub_store *db, const char *table) {
  char sql[128];
  int64_t n = -1;
  shoal_diag d;
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
  if (hub_store_query_int(db, sql, -1, &n, &d) != SHOAL_OK)
    abort();
  return n;
}

/* Hub online orders on a fresh hub database holding customer c-1: a =
 * the order body. The result carries the rows written; a failure must
 * have written none (nothing partial). */
static shoal_err run_hub_order(const struct fcase *c, cJSON **out) {
  static const char *const tables[] = {"orders", "sales", "returns", "customer_purchases"};
  shoal_diag d = {{0}};
  hub_store *db = NULL;
  cJSON *res = NULL, *cust = NULL;
  bool created = false;
  fault_paused = true;
  const char *c1 = "{\"id\":\"c-1\",\"name\":\"Li\"}";
  if (hub_store_open(":memory:", &db, &d) != SHOAL_OK ||
      hub_customers_upsert(db, c1, strlen(c1), 1795360000000LL, &cust, &created, &d) != SHOAL_OK)
    abort();
  cJSON_Delete(cust);
  int64_t before[4];
  for (int i = 0; i < 4; i++)
    before[i] = count_rows(db, tables[i]);
  fault_paused = false;
  unsigned status = 0;
  shoal_err rc = hub_orders_ingest(db, c->a, strlen(c->a), 1795360000000LL, 1, &status, &res, &d);
  fault_paused = true;
  if (rc == SHOAL_OK) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddItemToObject(o, "result", res);
    for (int i = 0; i < 4; i++)
      cJSON_AddNumberToObject(o, tables[i], (double)count_rows(db, tables[i]));
    *out = o;
  } else {
    for (int i = 0; i < 4; i++)
      if (count_rows(db, tables[i]) != before[i]) {
        fprintf(stderr, "FAIL hub/order: failed (%s) but wrote %s\n", d.msg, tables[i]);
        abort();
      }
  }
  hub_store_close(db);
  fault_paused = false;
  return rc;
}

/* A fresh hub database (paused: set-up allocations neither counted nor
 * failed) holding customer c-1, two paid orders of c-1 (o-1 at cd-001,
 * o-2 at cd-002: sales, purchases and timeline entries), two devices with
 * the policy versions they applied, one published policy version and one
 * rollout of region/cn-sw in its first stage. */
static hub_store *seeded_hub(void) {
  static const char *const sql[] = {
      "INSERT INTO devices (device, store, region, profile, agent_version, online, "
      "last_hello_ms, last_seen_ms, last_event_ms, outbox_depth, policy_versions) VALUES "
      "('pos-1', 'cd-001', 'cn-sw', 'pos-terminal', '1.0', 1, 1795359000000, 1795359900000, "
      "1795359800000, 2, '{\"global\":1,\"region/cn-sw\":2}'), "
      "('pos-2', 'cd-002', 'cn-sw', NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL)",
      "INSERT INTO policies (scope, version, issued_at, expires_at, doc, envelope, published_ms) "
      "VALUES ('global', 1, '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', "
      "'{\"scope\":\"global\"}', '{}', 1795300000000), "
      "('region/cn-sw', 2, '2026-11-01T00:00:00Z', NULL, '{\"scope\":\"region/cn-sw\"}', '{}', "
      "1795300000000), "
      "('region/cn-sw', 3, '2026-11-01T00:00:00Z', NULL, '{\"scope\":\"region/cn-sw\"}', '{}', "
      "1795300000000)",
      "INSERT INTO rollouts (id, scope, doc, stable_version, stages, min_applied, wait_s, stage, "
      "state, stage_versions, stage_since_ms, final_version, created_ms, created_by, updated_ms) "
      "VALUES ('r-1', 'region/cn-sw', '{\"scope\":\"region/cn-sw\"}', 2, "
      "'[{\"stores\":[\"cd-001\"]},{\"percent\":100}]', 0.9, 60, 1, 'running', '[3]', "
      "1795350000000, NULL, 1795350000000, 'ops', 1795350000000)",
  };
  static const char *const orders[] = {
      "{\"channel\":\"web\",\"order_id\":\"o-1\",\"customer\":\"c-1\",\"paid_at\":"
      "\"2026-11-22T08:00:00Z\",\"status\":\"paid\",\"total\":2800,\"store\":\"cd-001\","
      "\"region\":\"cn-sw\",\"lines\":[{\"sku\":\"MT-001\",\"qty\":1,\"total\":2800}]}",
      "{\"channel\":\"app\",\"order_id\":\"o-2\",\"customer\":\"c-1\",\"paid_at\":"
      "\"2026-11-22T09:30:00Z\",\"status\":\"paid\",\"total\":5000,\"store\":\"cd-002\","
      "\"region\":\"cn-sw\",\"lines\":[{\"sku\":\"MT-001\",\"qty\":1,\"total\":2800},"
      "{\"sku\":\"TEA-7\",\"qty\":2,\"total\":2200}]}"};
  shoal_diag d = {{0}};
  hub_store *db = NULL;
  cJSON *x = NULL;
  bool created = false;
  unsigned status = 0;
  const char *c1 = "{\"id\":\"c-1\",\"name\":\"Li\",\"phone\":\"13800000000\"}";
  fault_paused = true;
  if (hub_store_open(":memory:", &db, &d) != SHOAL_OK ||
      hub_customers_upsert(db, c1, strlen(c1), 1795360000000LL, &x, &created, &d) != SHOAL_OK)
    goto fail;
  cJSON_Delete(x);
  for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) {
    x = NULL;
    if (hub_orders_ingest(db, orders[i], strlen(orders[i]), 1795360000000LL, 1, &status, &x, &d) !=
        SHOAL_OK)
      goto fail;
    cJSON_Delete(x);
  }
  for (size_t i = 0; i < sizeof sql / sizeof *sql; i++)
    if (hub_store_exec(db, sql[i], &d) != SHOAL_OK)
      goto fail;
  fault_paused = false;
  return db;
fail:
  fprintf(stderr, "FAIL seeding the hub: %s\n", d.msg);
  abort();
}

/* Runs one armed builder on a seeded hub and closes it (paused). */
#define HUB_CASE(name, call)                                                                       \
  static shoal_err name(const struct fcase *c, cJSON **out) {                                      \
    (void)c;                                                                                       \
    shoal_diag d = {{0}};                                                                          \
    hub_store *db = seeded_hub();                                                                  \
    shoal_err rc = (call);                                                                         \
    fault_paused = true;                                                                           \
    hub_store_close(db);                                                                           \
    fault_paused = false;                                                                          \
    return rc;                                                                                     \
  }

/* Hub reports: the sales report by every grouping (one object keyed by
 * "by"), the settlement and the fleet (devices) report. */
static shoal_err sales_all(hub_store *db, cJSON **out, shoal_diag *d) {
  static const char *const bys[] = {"region",  "store", "device",  "hour",
                                    "channel", "sku",   "payment", "rule"};
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return SHOAL_ENOMEM;
  for (size_t i = 0; i < sizeof bys / sizeof *bys; i++) {
    cJSON *r = NULL;
    shoal_err rc =
        hub_reports_sales_tz(db, bys[i], 1795300000000LL, 1795400000000LL, 8 * 3600000LL, &r, d);
    if (rc == SHOAL_OK && !shoal_json_put(o, bys[i], r))
      rc = SHOAL_ENOMEM;
    if (rc != SHOAL_OK) {
      cJSON_Delete(o);
      return rc;
    }
  }
  *out = o;
  return SHOAL_OK;
}
HUB_CASE(run_hub_sales, sales_all(db, out, &d))
HUB_CASE(run_hub_settlement, hub_reports_settlement(db, 1795300000000LL, 1795400000000LL, out, &d))
HUB_CASE(run_hub_fleet, hub_reports_devices(db, 1795360000000LL, out, &d))
/* Customer profile with its timeline, and its purchase history. */
static shoal_err customer_all(hub_store *db, cJSON **out, shoal_diag *d) {
  cJSON *p = NULL, *h = NULL;
  shoal_err rc = hub_customers_get(db, "c-1", true, &p, d);
  if (rc == SHOAL_OK && (rc = hub_customers_history(db, "c-1", &h, d)) == SHOAL_OK &&
      !shoal_json_put(p, "history", h))
    rc = SHOAL_ENOMEM;
  if (rc != SHOAL_OK) {
    cJSON_Delete(p);
    return rc;
  }
  *out = p;
  return SHOAL_OK;
}
HUB_CASE(run_hub_customer, customer_all(db, out, &d))
HUB_CASE(run_hub_rollout, hub_rollout_list(db, out, &d))

static shoal_err run_json(const struct fcase *c, cJSON **out) {
  shoal_diag d = {{0}};
  return shoal_json_parse(c->a, strlen(c->a), out, &d);
}

/* ---- inputs ---- */

#define EV(dev, seq, ms, kind, extra)                                                              \
  "{\"v\":1,\"device\":\"" dev "\",\"store\":\"s1\",\"epoch\":\"42\",\"seq\":" #seq                \
  ",\"hlc\":\"" ms "\",\"type\":\"ticket\",\"body\":{\"ticket\":\"T1\",\"kind\":\"" kind           \
  "\"" extra "}}"
/* HLC values: ms << 16 for ms = 1700000000000 + k minutes. */
static const char *ticket_events = "[" EV(
    "pos1", 1, "111411200000000000", "open",
    ",\"category\":\"fridge\",\"title\":\"Fridge down\",\"priority\":\"normal\","
    "\"store\":\"s1\",\"region\":\"cn-sw\",\"customer\":{\"id\":\"c7\",\"tier\":\"vip\","
    "\"tags\":[]}") "," EV("hh1", 1, "111411203932160000", "assign",
                           ",\"tech\":\"wang\"") "," EV("hh1", 2, "111411207864320000", "labor",
                                                        ",\"minutes\":75,\"tech\":"
                                                        "\"wang\"") "," EV("hh1", 3,
                                                                           "111411211"
                                                                           "79648000"
                                                                           "0",
                                                                           "part",
                                                                           ",\"sku\":"
                                                                           "\"P1\","
                                                                           "\"qty\":"
                                                                           "2") "," EV("hh1", 4,
                                                                                       "11141121572"
                                                                                       "8640000",
                                                                                       "note",
                                                                                       ",\"text\":"
                                                                                       "\"compresso"
                                                                                       "r\"") "," EV("hh1",
                                                                                                     5,
                                                                                                     "111411219660800000",
                                                                                                     "part",
                                                                                                     ",\"sku\":\"P1\",\"qty\":1") "," EV("hh1",
                                                                                                                                         6,
                                                                                                                                         "111411223592960000",
                                                                                                                                         "resolve",
                                                                                                                                         "") "," EV("hh1",
                                                                                                                                                    6,
                                                                                                                                                    "111411223592960000",
                                                                                                                                                    "resolve",
                                                                                                                                                    "") "]";

static const char *ticket_policy =
    "{\"scope\":\"global\","
    "\"items\":[{\"sku\":\"P1\",\"price\":1250,\"cost\":700},{\"sku\":\"P2\",\"price\":999}],"
    "\"routing\":["
    "{\"id\":\"vip\",\"if\":\"customer.tier == 'vip' or 'vip' in customer.tags\","
    "\"set\":{\"priority\":\"high\",\"group\":\"vip-desk\"}},"
    "{\"id\":\"high-senior\",\"if\":\"priority == 'high'\",\"set\":{\"group\":\"senior\"},"
    "\"stop\":true}],"
    "\"sla\":{\"normal\":{\"respond_min\":60,\"resolve_min\":240},"
    "\"high\":{\"respond_min\":30,\"resolve_min\":10}},"
    "\"rates\":{\"labor_per_hour\":8000,\"labor_cost_per_hour\":5000,"
    "\"travel\":{\"cn-sw\":3000},\"late_comp_per_hour\":1000}}";
static const char *ticket_store =
    "{\"scope\":\"store/s1\",\"items\":[{\"sku\":\"P2\",\"price\":1100}]}";

static const char *event_text =
    "{\"v\":1,\"device\":\"pos-1\",\"store\":\"s1\",\"epoch\":\"7\",\"seq\":3,"
    "\"hlc\":\"111411200000000001\",\"type\":\"sale\",\"body\":{\"receipt\":\"R-1\","
    "\"lines\":[{\"sku\":\"MT-001\",\"qty\":2,\"total\":5600}],\"total\":5600,"
    "\"region\":\"cn-sw\",\"store\":\"s1\"}}";

static const char *payload_receipt =
    "{\"id\":\"R-1\",\"store\":\"s1\",\"region\":\"cn-sw\",\"at\":\"2026-11-22T07:00:00Z\","
    "\"subtotal\":5600,\"discount\":600,\"rounding\":0,\"total\":5000,\"lines\":[{\"sku\":"
    "\"MT-001\",\"qty\":2}],\"member\":{\"id\":\"m-1\"}}";
static const char *payload_return =
    "{\"id\":\"RT-1\",\"sale\":\"R-1\",\"at\":\"2026-11-22T09:00:00Z\",\"refund\":2500,"
    "\"lines\":[{\"sku\":\"MT-001\",\"qty\":1}],\"refunds\":[{\"amount\":2500}]}";

/* ---- the run ---- */

static int failures;

static void check(bool cond, const char *name, long n, const char *what) {
  if (!cond) {
    fprintf(stderr, "FAIL %s (allocation %ld failed): %s\n", name, n, what);
    failures++;
  }
}

static void run_case(const struct fcase *c) {
  cJSON *ref = NULL;
  arm(COUNT_ONLY);
  shoal_err rc = c->run(c, &ref);
  long total = fault_count;
  disarm();
  if (rc != SHOAL_OK || !ref) {
    fprintf(stderr, "FAIL %s: does not succeed without faults (%s)\n", c->name, shoal_err_str(rc));
    failures++;
    cJSON_Delete(ref);
    return;
  }
  char *want = shoal_json_print(ref);
  cJSON_Delete(ref);
  long errors = 0, unaffected = 0;
  for (long n = 1; n <= total; n++) {
    cJSON *got = NULL;
    arm(n);
    rc = c->run(c, &got);
    disarm();
    if (rc == SHOAL_OK) {
      char *text = got ? shoal_json_print(got) : NULL;
      check(got != NULL, c->name, n, "SHOAL_OK without a result");
      check(!text || strcmp(text, want) == 0, c->name, n,
            "SHOAL_OK with a result that differs from the fault-free one");
      if (text && strcmp(text, want) != 0)
        fprintf(stderr, "  want %s\n  got  %s\n", want, text);
      free(text);
      unaffected++;
    } else {
      errors++;
    }
    cJSON_Delete(got);
  }
  printf("%-28s %6ld allocations: %6ld failed cleanly, %6ld without effect\n", c->name, total,
         errors, unaffected);
  free(want);
}

static char *vector_pricing_docs(const cJSON *v) {
  cJSON *arr = cJSON_CreateArray();
  const char *want[3] = {"global", "region/", "store/"};
  for (int i = 0; i < 3; i++) {
    const cJSON *p, *hit = NULL;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(v, "policies")) {
      const char *s = cJSON_GetObjectItemCaseSensitive(p, "scope")->valuestring;
      if (strncmp(s, want[i], strlen(want[i])) == 0)
        hit = p;
    }
    cJSON_AddItemToArray(arr, hit ? cJSON_Duplicate(hit, 1) : cJSON_CreateNull());
  }
  char *s = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return s;
}

/* shoal_json_parse tells a failed allocation (SHOAL_ENOMEM) from bad text
 * by checking the syntax again when cJSON fails: malformed text, even
 * text cJSON alone refuses (an unpaired UTF-16 surrogate, nesting past its
 * limit), must stay SHOAL_EJSON. */
static void check_malformed_is_not_oom(void) {
  static const char *const bad[] = {"",
                                    " ",
                                    "[1,]",
                                    "{\"a\":1,}",
                                    "{\"a\" 1}",
                                    "{\"a\":}",
                                    "[1 2]",
                                    "{1:2}",
                                    "tru",
                                    "nul",
                                    "-",
                                    "1e",
                                    "01x",
                                    "\"abc",
                                    "\"\\x\"",
                                    "\"\\u12\"",
                                    "\"\\ud800\"",
                                    "\"\\udc00\"",
                                    "\"\\ud800\\u0041\"",
                                    "[\"a\" \"b\"]",
                                    "{\"a\":[}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    shoal_diag d = {{0}};
    cJSON *j = NULL;
    shoal_err rc = shoal_json_parse(bad[i], strlen(bad[i]), &j, &d);
    if (rc != SHOAL_EJSON) {
      fprintf(stderr, "FAIL json/malformed: '%s' gave %s, want EJSON\n", bad[i], shoal_err_str(rc));
      failures++;
    }
    cJSON_Delete(j);
  }
  char deep[2 * 1001 + 1];
  memset(deep, '[', 1001);
  memset(deep + 1001, ']', 1001);
  deep[2002] = '\0';
  shoal_diag d = {{0}};
  cJSON *j = NULL;
  if (shoal_json_parse(deep, strlen(deep), &j, &d) != SHOAL_EJSON) {
    fprintf(stderr, "FAIL json/malformed: 1001 nested arrays are not EJSON\n");
    failures++;
  }
  cJSON_Delete(j);
}

int main(void) {
  cJSON_Hooks hooks = {hook_malloc, free};
  cJSON_InitHooks(&hooks);
  const char *src = getenv("SHOAL_SOURCE_DIR");
  if (!src)
    src = SHOAL_SOURCE_DIR_DEFAULT;
  static const char *const pricing_vectors[] = {"03-store-over-region", "05-tier-percent",
                                                "13-bundle-proportional", "16-coupons"};
  static const char *const forms_vectors[] = {"01-valid-retail", "11-low-score-chain",
                                              "08-choice-and-unknown"};
  struct fcase cases[24];
  char *owned[32];
  size_t nc = 0, no = 0;
  char name_buf[16][64];
  for (size_t i = 0; i < sizeof pricing_vectors / sizeof *pricing_vectors; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/pricing/%s.json", src, pricing_vectors[i]);
    char *text = read_file(path);
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!v) {
      fprintf(stderr, "FAIL cannot read %s\n", path);
      return 1;
    }
    snprintf(name_buf[nc], sizeof name_buf[nc], "pricing/%.40s", pricing_vectors[i]);
    owned[no++] = vector_pricing_docs(v);
    owned[no++] = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(v, "basket"));
    cases[nc] = (struct fcase){name_buf[nc], run_pricing, owned[no - 2], owned[no - 1], NULL};
    nc++;
    cJSON_Delete(v);
  }
  for (size_t i = 0; i < sizeof forms_vectors / sizeof *forms_vectors; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/forms/%s.json", src, forms_vectors[i]);
    char *text = read_file(path);
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!v) {
      fprintf(stderr, "FAIL cannot read %s\n", path);
      return 1;
    }
    const char *form_id = cJSON_GetObjectItemCaseSensitive(v, "form")->valuestring;
    const cJSON *p, *def = NULL;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(v, "policies")) {
      const cJSON *f;
      cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(p, "forms")) {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(f, "id")->valuestring, form_id) == 0)
          def = f;
      }
    }
    snprintf(name_buf[nc], sizeof name_buf[nc], "forms/%.40s", forms_vectors[i]);
    owned[no++] = cJSON_PrintUnformatted(def);
    owned[no++] = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(v, "data"));
    cases[nc] = (struct fcase){name_buf[nc], run_forms, owned[no - 2], owned[no - 1], NULL};
    nc++;
    cJSON_Delete(v);
  }
  cases[nc++] = (struct fcase){"ticket/fold-route-settle", run_ticket, ticket_events, ticket_policy,
                               ticket_store};
  cases[nc++] =
      (struct fcase){"expr/eval", run_expr, "score < 60 and ('kitchen' in areas or name == 'a')",
                     "{\"score\":42,\"areas\":[\"kitchen\",\"toilet\"],\"name\":\"a\"}", NULL};
  cases[nc++] = (struct fcase){"wire/event", run_event, event_text, NULL, NULL};
  cases[nc++] = (struct fcase){"wire/payloads", run_payloads, payload_receipt, payload_return,
                               "{\"policies\":{\"global\":4},\"stale\":false}"};
  cases[nc++] = (struct fcase){"json/parse", run_json, ticket_policy, NULL, NULL};
  cases[nc++] = (struct fcase){
      "hub/order", run_hub_order,
      "{\"channel\":\"web\",\"order_id\":\"o-1\",\"customer\":\"c-1\",\"paid_at\":"
      "\"2026-11-22T08:00:00Z\",\"status\":\"paid\",\"total\":2800,\"store\":\"cd-001\","
      "\"region\":\"cn-sw\",\"lines\":[{\"sku\":\"MT-001\",\"qty\":1,\"total\":2800}]}",
      NULL, NULL};
  cases[nc++] = (struct fcase){"hub/report-sales", run_hub_sales, NULL, NULL, NULL};
  cases[nc++] = (struct fcase){"hub/report-settlement", run_hub_settlement, NULL, NULL, NULL};
  cases[nc++] = (struct fcase){"hub/report-fleet", run_hub_fleet, NULL, NULL, NULL};
  cases[nc++] = (struct fcase){"hub/customer-profile", run_hub_customer, NULL, NULL, NULL};
  cases[nc++] = (struct fcase){"hub/rollout-status", run_hub_rollout, NULL, NULL, NULL};
  check_malformed_is_not_oom();
  for (size_t i = 0; i < nc; i++)
    run_case(&cases[i]);
  for (size_t i = 0; i < no; i++)
    free(owned[i]);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("PASS fault_alloc\n");
  return 0;
}
