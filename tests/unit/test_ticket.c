/* test_ticket.c - work orders (SPEC 7): every allowed and disallowed
 * transition, events before open, redeliveries and any arrival order folding
 * to identical bytes (seeded property test), routing with a VIP rule, SLA due
 * times and the escalation ladder, settlement to the fen (⌈⌉ and late
 * compensation), policy validation, work-order codes (forged, foreign store,
 * expired), and the hub merging two devices' events whatever their order. */
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
#include "hub_tickets.h"
#include "shoal/crypto.h"
#include "shoal/hlc.h"
#include "shoal/jsonx.h"
#include "shoal/signing.h"
#include "shoal/ticket.h"
#include "shoal/util.h"
#include "store.h"

#define T0   1700000000000LL /* 2023-11-14T22:13:20Z */
#define MIN  60000LL
#define HOUR 3600000LL

/* A ticket event envelope for ticket "T1" in store s1. extra is JSON of
 * the kind's fields (or NULL). */
static cJSON *mk(const char *dev, int64_t seq, int64_t ms, const char *kind, const char *extra) {
  cJSON *b = extra ? cJSON_Parse(extra) : cJSON_CreateObject();
  assert_non_null(b);
  cJSON_AddStringToObject(b, "ticket", "T1");
  cJSON_AddStringToObject(b, "kind", kind);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddNumberToObject(e, "v", 1);
  cJSON_AddStringToObject(e, "device", dev);
  cJSON_AddStringToObject(e, "store", "s1");
  cJSON_AddStringToObject(e, "epoch", "42");
  cJSON_AddNumberToObject(e, "seq", (double)seq);
  char h[32];
  snprintf(h, sizeof h, "%llu", (unsigned long long)SHOAL_HLC_MAKE(ms, 0));
  cJSON_AddStringToObject(e, "hlc", h);
  cJSON_AddStringToObject(e, "type", "ticket");
  cJSON_AddItemToObject(e, "body", b);
  return e;
}

static cJSON *open_ev(int64_t ms, const char *priority, const char *customer) {
  char extra[512];
  snprintf(extra, sizeof extra,
           "{\"category\":\"fridge\",\"title\":\"Fridge down\",\"priority\":\"%s\","
           "\"store\":\"s1\",\"region\":\"cn-sw\"%s%s}",
           priority, customer ? ",\"customer\":" : "", customer ? customer : "");
  return mk("pos1", 1, ms, "open", extra);
}

static cJSON *parse(const char *text) {
  cJSON *d = NULL;
  shoal_diag diag = {{0}};
  if (shoal_json_parse(text, strlen(text), &d, &diag) != SHOAL_OK)
    fail_msg("parse: %s", diag.msg);
  return d;
}

/* Folds and returns the printed ticket (caller frees); fails the test on error. */
static char *fold(const cJSON *events, cJSON **docs, size_t ndocs) {
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  struct shoal_ticket_fold_opts o = {(const cJSON *const *)docs, ndocs, NULL, NULL, false};
  shoal_err rc = shoal_ticket_fold(events, &o, &out, NULL, &d);
  if (rc != SHOAL_OK)
    fail_msg("fold: %s", d.msg);
  char *s = shoal_json_print(out);
  cJSON_Delete(out);
  return s;
}

static cJSON *fold_obj(const cJSON *events, cJSON **docs, size_t ndocs) {
  char *s = fold(events, docs, ndocs);
  cJSON *o = parse(s);
  free(s);
  return o;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  assert_true(cJSON_IsNumber(v));
  return (int64_t)v->valuedouble;
}

/* Events that bring T1 to state (as of T0 + 10 min), seq from 1 on "hh1". */
static cJSON *reach(const char *state, int64_t *next_ms, int64_t *next_seq) {
  cJSON *a = cJSON_CreateArray();
  int64_t ms = T0, seq = 1;
  cJSON_AddItemToArray(a, open_ev(ms, "normal", NULL));
  static const char *const paths[][5] = {
      {"new", NULL},
      {"assigned", "assign", NULL},
      {"on_site", "assign", "scan", NULL},
      {"resolved", "assign", "scan", "resolve", NULL},
      {"closed", "assign", "scan", "resolve", "close"},
      {"cancelled", "cancel", NULL},
  };
  for (size_t i = 0; i < 6; i++) {
    if (strcmp(paths[i][0], state) != 0)
      continue;
    for (size_t k = 1; k < 5 && paths[i][k]; k++) {
      ms += MIN;
      cJSON_AddItemToArray(a,
                           mk("hh1", seq++, ms, paths[i][k],
                              strcmp(paths[i][k], "assign") == 0 ? "{\"tech\":\"wang\"}" : NULL));
    }
  }
  *next_ms = ms + MIN;
  *next_seq = seq;
  return a;
}

static const char *const states[] = {"new",      "assigned", "on_site",
                                     "resolved", "closed",   "cancelled"};
static const char *const moves[] = {"assign", "scan", "resolve", "close", "reopen", "cancel"};

/* SPEC 7.1's table: the state each move leads to from each state, or NULL. */
static const char *allowed(const char *from, const char *move) {
  static const char *const table[][3] = {
      {"new", "assign", "assigned"},       {"assigned", "scan", "on_site"},
      {"on_site", "resolve", "resolved"},  {"resolved", "close", "closed"},
      {"resolved", "reopen", "on_site"},   {"new", "cancel", "cancelled"},
      {"assigned", "cancel", "cancelled"}, {"on_site", "cancel", "cancelled"},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i][0], from) == 0 && strcmp(table[i][1], move) == 0)
      return table[i][2];
  return NULL;
}

static void test_ticket_every_transition(void **state) {
  (void)state;
  int n_allowed = 0, n_refused = 0;
  for (size_t s = 0; s < 6; s++) {
    for (size_t m = 0; m < 6; m++) {
      int64_t ms, seq;
      cJSON *ev = reach(states[s], &ms, &seq);
      cJSON *before = fold_obj(ev, NULL, 0);
      assert_string_equal(str(before, "state"), states[s]);
      cJSON_AddItemToArray(ev, mk("hh2", 1, ms, moves[m], NULL));
      cJSON *after = fold_obj(ev, NULL, 0);
      const char *want = allowed(states[s], moves[m]);
      const cJSON *ign = cJSON_GetObjectItemCaseSensitive(after, "ignored");
      if (want) {
        n_allowed++;
        if (strcmp(str(after, "state"), want) != 0)
          fail_msg("%s --%s--> %s, want %s", states[s], moves[m], str(after, "state"), want);
        assert_int_equal(cJSON_GetArraySize(ign), 0);
      } else {
        n_refused++;
        if (strcmp(str(after, "state"), states[s]) != 0)
          fail_msg("%s --%s--> %s, want it ignored", states[s], moves[m], str(after, "state"));
        /* kept, and flagged as ignored */
        assert_int_equal(cJSON_GetArraySize(ign), 1);
        assert_string_equal(str(cJSON_GetArrayItem(ign, 0), "kind"), moves[m]);
        assert_string_equal(str(cJSON_GetArrayItem(ign, 0), "device"), "hh2");
        assert_int_equal(num(after, "events"), num(before, "events") + 1);
      }
      cJSON_Delete(before);
      cJSON_Delete(after);
      cJSON_Delete(ev);
    }
  }
  assert_int_equal(n_allowed, 8);
  assert_int_equal(n_refused, 28);
}

static void test_ticket_work_after_final_ignored(void **state) {
  (void)state;
  int64_t ms, seq;
  cJSON *ev = reach("closed", &ms, &seq);
  cJSON_AddItemToArray(ev, mk("hh1", seq++, ms, "labor", "{\"minutes\":30,\"tech\":\"wang\"}"));
  cJSON_AddItemToArray(ev, mk("hh1", seq++, ms + 1, "part", "{\"sku\":\"P1\",\"qty\":1}"));
  cJSON_AddItemToArray(ev, mk("hh1", seq++, ms + 2, "priority", "{\"priority\":\"urgent\"}"));
  cJSON *t = fold_obj(ev, NULL, 0);
  assert_int_equal(num(t, "labor_minutes"), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "parts")), 0);
  assert_string_equal(str(t, "priority"), "normal");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "ignored")), 3);
  cJSON_Delete(t);
  cJSON_Delete(ev);
}

static void test_ticket_events_before_open_ignored(void **state) {
  (void)state;
  cJSON *ev = cJSON_CreateArray();
  /* The handheld's clock-ordered assign precedes the open: kept, ignored. */
  cJSON_AddItemToArray(ev, mk("hh1", 1, T0 - MIN, "assign", "{\"tech\":\"li\"}"));
  cJSON_AddItemToArray(ev, mk("hh1", 2, T0 - 1, "labor", "{\"minutes\":15,\"tech\":\"li\"}"));
  cJSON_AddItemToArray(ev, open_ev(T0, "high", NULL));
  cJSON_AddItemToArray(ev, mk("pos2", 1, T0 + 1, "open",
                              "{\"category\":\"x\",\"title\":\"again\",\"priority\":\"low\","
                              "\"store\":\"s1\",\"region\":\"cn-sw\"}"));
  cJSON *t = fold_obj(ev, NULL, 0);
  assert_string_equal(str(t, "state"), "new");
  assert_null(str(t, "tech"));
  assert_int_equal(num(t, "labor_minutes"), 0);
  assert_string_equal(str(t, "title"), "Fridge down");
  assert_string_equal(str(t, "priority"), "high");
  const cJSON *ign = cJSON_GetObjectItemCaseSensitive(t, "ignored");
  assert_int_equal(cJSON_GetArraySize(ign), 3);
  assert_string_equal(str(cJSON_GetArrayItem(ign, 0), "reason"), "before open");
  assert_string_equal(str(cJSON_GetArrayItem(ign, 2), "reason"), "already open");
  cJSON_Delete(t);
  cJSON_Delete(ev);
}

static const char *policy_text =
    "{\"scope\":\"region/cn-sw\","
    "\"items\":[{\"sku\":\"P1\",\"price\":1250,\"cost\":700},{\"sku\":\"P2\",\"price\":999}],"
    "\"routing\":["
    "{\"id\":\"vip\",\"if\":\"customer.tier == 'vip' or 'vip' in customer.tags\","
    "\"set\":{\"priority\":\"high\",\"group\":\"vip-desk\"}},"
    "{\"id\":\"high-senior\",\"if\":\"priority == 'high'\",\"set\":{\"group\":\"senior\"},"
    "\"stop\":true},"
    "{\"id\":\"never\",\"if\":\"true\",\"set\":{\"group\":\"nobody\"}}],"
    "\"sla\":{\"normal\":{\"respond_min\":60,\"resolve_min\":240},"
    "\"high\":{\"respond_min\":30,\"resolve_min\":120}},"
    "\"escalation\":[{\"after_min\":0,\"group\":\"supervisors\"},"
    "{\"after_min\":2880,\"group\":\"managers\",\"priority\":\"urgent\"}],"
    "\"rates\":{\"labor_per_hour\":8000,\"labor_cost_per_hour\":5000,"
    "\"travel\":{\"cn-sw\":3000,\"cn-n\":9000},\"late_comp_per_hour\":1000}}";
static const char *store_text =
    "{\"scope\":\"store/s1\",\"items\":[{\"sku\":\"P2\",\"price\":1100,\"cost\":450}]}";
static const char *other_store_text =
    "{\"scope\":\"store/s9\",\"items\":[{\"sku\":\"P1\",\"price\":1}],"
    "\"rates\":{\"labor_per_hour\":1}}";

/* A ticket with work on two devices, duplicates-free, in fold order. */
static cJSON *busy_ticket(void) {
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, open_ev(T0, "normal", "{\"id\":\"c7\",\"tier\":\"gold\",\"tags\":[]}"));
  cJSON_AddItemToArray(a,
                       mk("hh1", 1, T0 + MIN, "assign", "{\"group\":\"field\",\"tech\":\"wang\"}"));
  cJSON_AddItemToArray(a, mk("hh1", 2, T0 + HOUR, "scan", NULL));
  cJSON_AddItemToArray(
      a, mk("hh1", 3, T0 + HOUR + MIN, "labor", "{\"minutes\":95,\"tech\":\"wang\"}"));
  cJSON_AddItemToArray(a,
                       mk("hh2", 1, T0 + HOUR + MIN, "labor", "{\"minutes\":20,\"tech\":\"li\"}"));
  cJSON_AddItemToArray(a, mk("hh1", 4, T0 + 2 * HOUR, "part", "{\"sku\":\"P1\",\"qty\":2}"));
  cJSON_AddItemToArray(a, mk("hh2", 2, T0 + 2 * HOUR, "part", "{\"sku\":\"P2\",\"qty\":1}"));
  cJSON_AddItemToArray(a, mk("hh2", 3, T0 + 2 * HOUR + 1, "part", "{\"sku\":\"P1\",\"qty\":1}"));
  cJSON_AddItemToArray(a, mk("hh2", 4, T0 + 2 * HOUR + 2, "note", "{\"text\":\"compressor\"}"));
  /* Concurrent resolve on two devices: the later one is ignored. */
  cJSON_AddItemToArray(a, mk("hh1", 5, T0 + 5 * HOUR + 1, "resolve", NULL));
  cJSON_AddItemToArray(a, mk("hh2", 5, T0 + 5 * HOUR + 1, "resolve", NULL));
  cJSON_AddItemToArray(a, mk("hh2", 6, T0 + 5 * HOUR + 2, "reopen", NULL));
  cJSON_AddItemToArray(
      a, mk("hh1", 6, T0 + 5 * HOUR + 3, "labor", "{\"minutes\":5,\"tech\":\"wang\"}"));
  cJSON_AddItemToArray(a, mk("hh1", 7, T0 + 6 * HOUR, "resolve", NULL));
  cJSON_AddItemToArray(a, mk("pos1", 2, T0 + 7 * HOUR, "close", NULL));
  cJSON_AddItemToArray(
      a, mk("hh2", 7, T0 + 7 * HOUR + 5, "labor", "{\"minutes\":10,\"tech\":\"li\"}"));
  return a;
}

static void test_ticket_any_order_with_redeliveries_same_bytes(void **state) {
  (void)state;
  cJSON *docs[3] = {parse(policy_text), parse(store_text), parse(other_store_text)};
  cJSON *base = busy_ticket();
  char *want = fold(base, docs, 3);
  char *want_plain = fold(base, NULL, 0);
  int n = cJSON_GetArraySize(base);
  unsigned seed = 20261122u;
  srand(seed);
  for (int round = 0; round < 300; round++) {
    /* Each event 1..3 times, then shuffled (Fisher-Yates). */
    cJSON *items[64];
    int m = 0;
    for (int i = 0; i < n; i++) {
      int copies = 1 + rand() % 3;
      for (int c = 0; c < copies && m < 64; c++)
        items[m++] = cJSON_Duplicate(cJSON_GetArrayItem(base, i), 1);
    }
    for (int i = m - 1; i > 0; i--) {
      int j = rand() % (i + 1);
      cJSON *t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < m; i++)
      cJSON_AddItemToArray(arr, items[i]);
    char *got = fold(arr, docs, 3);
    if (strcmp(got, want) != 0)
      fail_msg("seed %u round %d: fold differs\nwant %s\ngot  %s", seed, round, want, got);
    free(got);
    got = fold(arr, NULL, 0);
    assert_string_equal(got, want_plain);
    free(got);
    cJSON_Delete(arr);
  }
  /* And the content is what the rules say. */
  cJSON *t = parse(want);
  assert_string_equal(str(t, "state"), "closed");
  assert_int_equal(num(t, "labor_minutes"), 120); /* 95 + 20 + 5; the 10 after close ignored */
  assert_int_equal(num(t, "events"), n);
  const cJSON *parts = cJSON_GetObjectItemCaseSensitive(t, "parts");
  assert_int_equal(cJSON_GetArraySize(parts), 2);
  assert_string_equal(str(cJSON_GetArrayItem(parts, 0), "sku"), "P1");
  assert_int_equal(num(cJSON_GetArrayItem(parts, 0), "qty"), 3);
  assert_string_equal(str(cJSON_GetArrayItem(parts, 1), "sku"), "P2");
  assert_int_equal(num(cJSON_GetArrayItem(parts, 1), "qty"), 1);
  const cJSON *ign = cJSON_GetObjectItemCaseSensitive(t, "ignored");
  assert_int_equal(cJSON_GetArraySize(ign), 2);
  assert_string_equal(str(cJSON_GetArrayItem(ign, 0), "device"), "hh2"); /* second resolve */
  assert_string_equal(str(cJSON_GetArrayItem(ign, 0), "kind"), "resolve");
  cJSON_Delete(t);
  free(want);
  free(want_plain);
  cJSON_Delete(base);
  for (int i = 0; i < 3; i++)
    cJSON_Delete(docs[i]);
}

static void test_ticket_settlement_to_the_fen(void **state) {
  (void)state;
  cJSON *docs[3] = {parse(policy_text), parse(store_text), parse(other_store_text)};
  cJSON *busy = busy_ticket();
  cJSON *t = fold_obj(busy, docs, 3);
  cJSON_Delete(busy);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(t, "settlement");
  assert_non_null(s);
  /* labour 120 min: ⌈120 × 8000 / 60⌉ = 16000, cost ⌈120 × 5000 / 60⌉ = 10000 */
  assert_int_equal(num(s, "labor_revenue"), 16000);
  assert_int_equal(num(s, "labor_cost"), 10000);
  /* parts: P1 3 × 1250 (region), P2 1 × 1100 (store beats none) */
  assert_int_equal(num(s, "parts_revenue"), 3 * 1250 + 1100);
  assert_int_equal(num(s, "parts_cost"), 3 * 700 + 450);
  assert_int_equal(num(s, "travel"), 3000);
  /* due = T0 + 240 min; first resolve T0 + 5 h + 1 ms: 1 h 1 ms late = 2 started hours */
  assert_int_equal(num(s, "late_hours"), 2);
  assert_int_equal(num(s, "late_comp"), 2000);
  assert_int_equal(num(s, "revenue"), 16000 + 4850 + 3000 - 2000);
  assert_int_equal(num(s, "cost"), 10000 + 2550);
  assert_int_equal(num(s, "profit"), 21850 - 12550);
  assert_string_equal(str(t, "resolve_due"), "2023-11-15T02:13:20.000Z");
  /* per technician, each rounded up on its own: wang 100 min, li 20 min */
  const cJSON *by = cJSON_GetObjectItemCaseSensitive(s, "by_tech");
  assert_int_equal(cJSON_GetArraySize(by), 2);
  assert_string_equal(str(cJSON_GetArrayItem(by, 0), "tech"), "wang");
  assert_int_equal(num(cJSON_GetArrayItem(by, 0), "minutes"), 100);
  assert_int_equal(num(cJSON_GetArrayItem(by, 0), "labor_revenue"), 13334);
  assert_int_equal(num(cJSON_GetArrayItem(by, 1), "labor_revenue"), 2667);
  assert_int_equal(num(cJSON_GetArrayItem(by, 1), "labor_cost"), 1667);
  cJSON_Delete(t);
  for (int i = 0; i < 3; i++)
    cJSON_Delete(docs[i]);
}

/* Late hours and labour rounding at their edges. */
static void test_ticket_settlement_edges(void **state) {
  (void)state;
  cJSON *docs[1] = {parse(policy_text)};
  struct {
    int64_t resolve_after_ms;
    int minutes;
    int64_t late_hours, labor_revenue;
  } cases[] = {
      {240 * MIN, 1, 0, 134},       /* exactly on due: on time; ⌈8000/60⌉ = 134 */
      {240 * MIN + 1, 3, 1, 400},   /* 1 ms late is a started hour; 3 min = 400 exactly */
      {300 * MIN, 7, 1, 934},       /* exactly 1 h late: 1; ⌈56000/60⌉ = 934 */
      {300 * MIN + 1, 60, 2, 8000}, /* 1 h 1 ms: 2 */
      {100 * MIN, 59, 0, 7867},     /* early */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, open_ev(T0, "normal", NULL));
    cJSON_AddItemToArray(a, mk("hh1", 1, T0 + 1, "assign", "{\"tech\":\"wang\"}"));
    cJSON_AddItemToArray(a, mk("hh1", 2, T0 + 2, "scan", NULL));
    char lab[64];
    snprintf(lab, sizeof lab, "{\"minutes\":%d,\"tech\":\"wang\"}", cases[i].minutes);
    cJSON_AddItemToArray(a, mk("hh1", 3, T0 + 3, "labor", lab));
    cJSON_AddItemToArray(a, mk("hh1", 4, T0 + cases[i].resolve_after_ms, "resolve", NULL));
    cJSON *t = fold_obj(a, docs, 1);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(t, "settlement");
    if (num(s, "late_hours") != cases[i].late_hours ||
        num(s, "labor_revenue") != cases[i].labor_revenue)
      fail_msg("case %zu: late_hours %lld labor %lld", i, (long long)num(s, "late_hours"),
               (long long)num(s, "labor_revenue"));
    assert_int_equal(num(s, "revenue"), cases[i].labor_revenue + 3000 - cases[i].late_hours * 1000);
    cJSON_Delete(t);
    cJSON_Delete(a);
  }
  cJSON_Delete(docs[0]);
}

static void test_ticket_unknown_part_sku(void **state) {
  (void)state;
  cJSON *docs[1] = {parse(policy_text)};
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, open_ev(T0, "normal", NULL));
  cJSON_AddItemToArray(a, mk("hh1", 1, T0 + 1, "part", "{\"sku\":\"NOPE\",\"qty\":1}"));
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  struct shoal_ticket_fold_opts o = {(const cJSON *const *)docs, 1, NULL, NULL, false};
  assert_int_equal(shoal_ticket_fold(a, &o, &out, NULL, &d), SHOAL_ENOTFOUND);
  assert_non_null(strstr(d.msg, "NOPE"));
  o.lenient_items = true;
  assert_int_equal(shoal_ticket_fold(a, &o, &out, NULL, &d), SHOAL_OK);
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(out, "settlement"), "unknown_skus");
  assert_int_equal(cJSON_GetArraySize(u), 1);
  cJSON_Delete(out);
  cJSON_Delete(a);
  cJSON_Delete(docs[0]);
}

/* An open that leaves out store, region and title: the sender's store, no
 * regional travel, the global and store prices still apply. */
static void test_ticket_minimal_open(void **state) {
  (void)state;
  cJSON *docs[2] = {parse("{\"scope\":\"global\",\"items\":[{\"sku\":\"P1\",\"price\":100}],"
                          "\"rates\":{\"labor_per_hour\":60,\"travel\":{\"cn-sw\":7}}}"),
                    parse(store_text)};
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, mk("pos1", 1, T0, "open", "{\"category\":\"c\",\"priority\":\"low\"}"));
  cJSON_AddItemToArray(a, mk("hh1", 1, T0 + 1, "part", "{\"sku\":\"P1\",\"qty\":2}"));
  cJSON_AddItemToArray(a, mk("hh1", 2, T0 + 2, "part", "{\"sku\":\"P2\",\"qty\":1}"));
  cJSON_AddItemToArray(a, mk("hh1", 3, T0 + 3, "labor", "{\"minutes\":3,\"tech\":\"w\"}"));
  cJSON *t = fold_obj(a, docs, 2);
  assert_string_equal(str(t, "store"), "s1");
  assert_null(str(t, "region"));
  assert_null(str(t, "title"));
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(t, "settlement");
  assert_int_equal(num(s, "travel"), 0);
  assert_int_equal(num(s, "revenue"), 3 + 200 + 1100);
  cJSON_Delete(t);
  cJSON_Delete(a);
  cJSON_Delete(docs[0]);
  cJSON_Delete(docs[1]);
}

static void test_ticket_routing_vip_raises_priority(void **state) {
  (void)state;
  cJSON *docs[1] = {parse(policy_text)};
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, open_ev(T0, "normal", "{\"id\":\"c1\",\"tier\":\"vip\",\"tags\":[]}"));
  cJSON *t = fold_obj(a, docs, 1);
  assert_string_equal(str(t, "priority"), "high");
  /* vip set group vip-desk, the next rule saw priority high and stopped the list */
  assert_string_equal(str(t, "group"), "senior");
  const cJSON *routed = cJSON_GetObjectItemCaseSensitive(t, "routed");
  assert_int_equal(cJSON_GetArraySize(routed), 2);
  /* SLA from the routed priority: high resolves in 120 min */
  assert_string_equal(str(t, "resolve_due"), "2023-11-15T00:13:20.000Z");
  assert_string_equal(str(t, "respond_due"), "2023-11-14T22:43:20.000Z");
  cJSON_Delete(t);
  cJSON_Delete(a);

  /* A tag works too; an ordinary customer is not routed. */
  a = cJSON_CreateArray();
  cJSON_AddItemToArray(a,
                       open_ev(T0, "low", "{\"id\":\"c2\",\"tier\":\"gold\",\"tags\":[\"vip\"]}"));
  t = fold_obj(a, docs, 1);
  assert_string_equal(str(t, "priority"), "high");
  cJSON_Delete(t);
  cJSON_Delete(a);
  a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, open_ev(T0, "low", "{\"id\":\"c3\",\"tier\":\"gold\",\"tags\":[]}"));
  t = fold_obj(a, docs, 1);
  assert_string_equal(str(t, "priority"), "low");
  assert_string_equal(str(t, "group"), "nobody");
  assert_null(str(t, "resolve_due")); /* no SLA for low */
  cJSON_Delete(t);
  cJSON_Delete(a);
  cJSON_Delete(docs[0]);
}

static void test_ticket_escalation_ladder(void **state) {
  (void)state;
  cJSON *docs[1] = {parse(policy_text)};
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, open_ev(T0, "normal", NULL));
  cJSON *out = NULL;
  struct shoal_ticket_summary s;
  shoal_diag d = {{0}};
  struct shoal_ticket_fold_opts o = {(const cJSON *const *)docs, 1, NULL, NULL, false};
  assert_int_equal(shoal_ticket_fold(a, &o, &out, &s, &d), SHOAL_OK);
  cJSON_Delete(out);
  assert_int_equal(s.resolve_due_ms, T0 + 240 * MIN);
  int level = 0;
  const char *group = NULL, *prio = NULL;
  const cJSON *const *dd = (const cJSON *const *)docs;
  assert_false(shoal_ticket_escalation_due(dd, 1, &s, T0 + 240 * MIN - 1, &level, &group, &prio));
  assert_true(shoal_ticket_escalation_due(dd, 1, &s, T0 + 240 * MIN, &level, &group, &prio));
  assert_int_equal(level, 1);
  assert_string_equal(group, "supervisors");
  assert_null(prio);
  s.escalation_level = 1;
  int64_t step2 = T0 + 240 * MIN + 48 * HOUR;
  assert_false(shoal_ticket_escalation_due(dd, 1, &s, step2 - 1, &level, &group, &prio));
  assert_true(shoal_ticket_escalation_due(dd, 1, &s, step2, &level, &group, &prio));
  assert_int_equal(level, 2);
  assert_string_equal(group, "managers");
  assert_string_equal(prio, "urgent");
  s.escalation_level = 2;
  assert_false(shoal_ticket_escalation_due(dd, 1, &s, step2 * 2, &level, &group, &prio));

  /* Folding the escalations: group and priority follow, a repeated level is ignored,
   * and the SLA due time stays that of the opening priority. */
  cJSON_AddItemToArray(
      a, mk("hub", 1, T0 + 240 * MIN, "escalate", "{\"level\":1,\"group\":\"supervisors\"}"));
  cJSON_AddItemToArray(
      a, mk("hub2", 1, T0 + 240 * MIN + 5, "escalate", "{\"level\":1,\"group\":\"supervisors\"}"));
  cJSON_AddItemToArray(a, mk("hub", 2, step2, "escalate",
                             "{\"level\":2,\"group\":\"managers\",\"priority\":\"urgent\"}"));
  cJSON *t = fold_obj(a, docs, 1);
  assert_int_equal(num(t, "escalation_level"), 2);
  assert_string_equal(str(t, "group"), "managers");
  assert_string_equal(str(t, "priority"), "urgent");
  assert_string_equal(str(t, "resolve_due"), "2023-11-15T02:13:20.000Z");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "ignored")), 1);
  cJSON_Delete(t);
  /* A resolved ticket is not escalated. */
  s.escalation_level = 0;
  strcpy(s.state, "resolved");
  assert_false(shoal_ticket_escalation_due(dd, 1, &s, step2, &level, &group, &prio));
  cJSON_Delete(a);
  cJSON_Delete(docs[0]);
}

static shoal_err check_event_text(const char *body, shoal_diag *d) {
  cJSON *env = mk("hh1", 1, T0, "x", NULL);
  cJSON_ReplaceItemInObjectCaseSensitive(env, "body", parse(body));
  struct shoal_event ev;
  shoal_err rc = shoal_event_from_json(env, &ev, d);
  char id[SHOAL_ID_MAX + 1], kind[SHOAL_TICKET_KIND_MAX];
  if (rc == SHOAL_OK) {
    rc = shoal_ticket_event_check(&ev, id, kind, d);
    shoal_event_cleanup(&ev);
  }
  cJSON_Delete(env);
  return rc;
}

static void test_ticket_malformed_events_refused(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  const char *bad[] = {
      "{\"kind\":\"scan\"}",
      "{\"ticket\":\"a/b\",\"kind\":\"scan\"}",
      "{\"ticket\":\"T1\",\"kind\":\"teleport\"}",
      "{\"ticket\":\"T1\",\"kind\":\"labor\",\"minutes\":0,\"tech\":\"w\"}",
      "{\"ticket\":\"T1\",\"kind\":\"labor\",\"minutes\":\"5\",\"tech\":\"w\"}",
      "{\"ticket\":\"T1\",\"kind\":\"part\",\"sku\":\"P1\",\"qty\":-1}",
      "{\"ticket\":\"T1\",\"kind\":\"priority\",\"priority\":\"asap\"}",
      "{\"ticket\":\"T1\",\"kind\":\"escalate\",\"level\":1}",
      "{\"ticket\":\"T1\",\"kind\":\"open\",\"category\":\"c\",\"title\":\"t\","
      "\"priority\":\"normal\",\"store\":\"s2\",\"region\":\"r\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (check_event_text(bad[i], &d) != SHOAL_EINPUT)
      fail_msg("accepted %s", bad[i]);
  assert_int_equal(
      check_event_text("{\"ticket\":\"T1\",\"kind\":\"part\",\"sku\":\"P1\",\"qty\":2}", &d),
      SHOAL_OK);
  /* Events of two tickets in one fold. */
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, open_ev(T0, "normal", NULL));
  cJSON *other = mk("hh1", 1, T0 + 1, "scan", NULL);
  cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(other, "body"), "ticket",
                                         cJSON_CreateString("T2"));
  cJSON_AddItemToArray(a, other);
  cJSON *out = NULL;
  assert_int_equal(shoal_ticket_fold(a, NULL, &out, NULL, &d), SHOAL_EINPUT);
  cJSON_Delete(a);
}

static void test_ticket_policy_sections_validated(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  cJSON *ok = parse(policy_text);
  assert_int_equal(shoal_ticket_validate_doc(ok, &d), SHOAL_OK);
  cJSON_Delete(ok);
  const char *bad[] = {
      "{\"routing\":[{\"id\":\"r1\",\"if\":\"priority ==\",\"set\":{}}]}",
      "{\"routing\":[{\"id\":\"r1\",\"set\":{\"priority\":\"asap\"}}]}",
      "{\"routing\":[{\"id\":\"r1\"},{\"id\":\"r1\"}]}",
      "{\"routing\":[{\"id\":\"r 1\"}]}",
      "{\"routing\":[{\"id\":\"r1\",\"set\":{\"group\":\"a/b\"}}]}",
      "{\"sla\":{\"asap\":{\"resolve_min\":5}}}",
      "{\"sla\":{\"low\":{\"resolve_min\":0}}}",
      "{\"sla\":{\"low\":{\"resolve_min\":1.5}}}",
      "{\"escalation\":[{\"group\":\"g\"}]}",
      "{\"escalation\":[{\"after_min\":5,\"group\":\"g\",\"priority\":\"max\"}]}",
      "{\"rates\":{\"labor_per_hour\":-1}}",
      "{\"rates\":{\"travel\":{\"cn-sw\":\"10\"}}}",
      "{\"rates\":{\"tip\":5}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *doc = parse(bad[i]);
    if (shoal_ticket_validate_doc(doc, &d) == SHOAL_OK)
      fail_msg("accepted %s", bad[i]);
    cJSON_Delete(doc);
  }
}

static const char *tmpdir(void) {
  const char *t = getenv("SHOAL_TEST_TMP");
  if (!t)
    t = "/tmp";
  mkdir(t, 0700);
  return t;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_ticket_codes_forged_foreign_expired(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  char *priv = NULL, *pub = NULL, *priv2 = NULL, *pub2 = NULL, path[512];
  assert_int_equal(shoal_key_generate(&priv, &pub, &d), SHOAL_OK);
  assert_int_equal(shoal_key_generate(&priv2, &pub2, &d), SHOAL_OK);
  snprintf(path, sizeof path, "%s/ticket-code-key.pem", tmpdir());
  write_file(path, priv);
  struct shoal_privkey *key = NULL, *other = NULL;
  assert_int_equal(shoal_privkey_load(path, &key, &d), SHOAL_OK);
  write_file(path, priv2);
  assert_int_equal(shoal_privkey_load(path, &other, &d), SHOAL_OK);
  unlink(path);
  struct shoal_pubkey *pk = NULL;
  assert_int_equal(shoal_pubkey_parse(pub, strlen(pub), &pk, &d), SHOAL_OK);
  const struct shoal_pubkey *keys[1] = {pk};
  int64_t now = T0 / 1000, exp = 0;
  char id[SHOAL_ID_MAX + 1];
  char *code = NULL, *forged = NULL;
  assert_int_equal(shoal_wo_code_make(key, "hh1-123456-7", "s1", now + 3600, &code, &d), SHOAL_OK);
  assert_int_equal(shoal_wo_code_verify(code, keys, 1, "s1", now, id, &exp, &d), SHOAL_OK);
  assert_string_equal(id, "hh1-123456-7");
  assert_int_equal(exp, now + 3600);
  /* foreign store */
  assert_int_equal(shoal_wo_code_verify(code, keys, 1, "s2", now, id, &exp, &d), SHOAL_ESCOPE);
  /* expired: at and after the expiry second */
  assert_int_equal(shoal_wo_code_verify(code, keys, 1, "s1", now + 3600, id, &exp, &d),
                   SHOAL_EEXPIRED);
  /* forged: signed by another key */
  assert_int_equal(shoal_wo_code_make(other, "hh1-123456-7", "s1", now + 3600, &forged, &d),
                   SHOAL_OK);
  assert_int_equal(shoal_wo_code_verify(forged, keys, 1, "s1", now, id, &exp, &d), SHOAL_ESIG);
  free(forged);
  /* forged: store rewritten in a genuine code */
  forged = shoal_strdup(code);
  char *p = strstr(forged, ".s1.");
  p[2] = '2';
  assert_int_equal(shoal_wo_code_verify(forged, keys, 1, "s2", now, id, &exp, &d), SHOAL_ESIG);
  free(forged);
  /* forged: expiry pushed out */
  forged = shoal_strdup(code);
  p = strstr(forged, ".s1.") + 4;
  *p = (char)(*p == '9' ? '8' : *p + 1);
  assert_int_equal(shoal_wo_code_verify(forged, keys, 1, "s1", now, id, &exp, &d), SHOAL_ESIG);
  free(forged);
  free(code);
  shoal_pubkey_free(pk);
  shoal_privkey_free(key);
  shoal_privkey_free(other);
  free(priv);
  free(pub);
  free(priv2);
  free(pub2);
}

/* ---- the hub's merge --------------------------------------------------- */

struct pub_log {
  int count;
  char last_topic[256];
  char *last_payload;
};

static shoal_err record_publish(void *user, const char *topic, const char *payload, size_t len,
                                bool retain, shoal_diag *diag) {
  (void)diag;
  (void)retain;
  struct pub_log *l = user;
  l->count++;
  snprintf(l->last_topic, sizeof l->last_topic, "%s", topic);
  free(l->last_payload);
  l->last_payload = strndup(payload, len);
  return SHOAL_OK;
}

static void open_hub(struct hub_ctx *ctx, const char *name, struct pub_log *log) {
  char cfg[512], db[512];
  snprintf(db, sizeof db, "%s/%s.db", tmpdir(), name);
  unlink(db);
  snprintf(cfg, sizeof cfg, "%s/%s.json", tmpdir(), name);
  char text[700];
  snprintf(text, sizeof text, "{\"db\": \"%s\"}", db);
  write_file(cfg, text);
  shoal_diag d = {{0}};
  memset(ctx, 0, sizeof *ctx);
  if (hub_ctx_open(ctx, cfg, &d) != SHOAL_OK)
    fail_msg("hub open: %s", d.msg);
  ctx->publish = record_publish;
  ctx->publish_user = log;
}

static void ingest_all(struct hub_ctx *ctx, cJSON *events) {
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_begin(ctx->db, &d), SHOAL_OK);
  const cJSON *e;
  cJSON_ArrayForEach(e, events) {
    struct shoal_event ev;
    assert_int_equal(shoal_event_from_json(e, &ev, &d), SHOAL_OK);
    shoal_err rc = hub_tickets_ingest(ctx, &ev, &d);
    if (rc != SHOAL_OK)
      fail_msg("ingest: %s", d.msg);
    shoal_event_cleanup(&ev);
  }
  assert_int_equal(hub_store_commit(ctx->db, &d), SHOAL_OK);
  assert_int_equal(hub_tickets_after_commit(ctx, &d), SHOAL_OK);
}

static char *hub_doc(struct hub_ctx *ctx) {
  int64_t n = 0;
  shoal_diag d = {{0}};
  hub_stmt *st = NULL;
  assert_int_equal(hub_store_query_int(ctx->db, "SELECT COUNT(*) FROM tickets", 0, &n, &d),
                   SHOAL_OK);
  assert_int_equal(n, 1);
  assert_int_equal(hub_store_prepare(ctx->db, "SELECT doc FROM tickets WHERE id = 'T1'", &st, &d),
                   SHOAL_OK);
  assert_int_equal(hub_store_step(st), HUB_STORE_ROW);
  char *s = shoal_strdup((const char *)hub_store_column_text(st, 0));
  hub_store_finalize(st);
  return s;
}

static void test_ticket_hub_merges_any_order_and_escalates(void **state) {
  (void)state;
  struct hub_ctx a, b;
  struct pub_log la = {0, "", NULL}, lb = {0, "", NULL};
  open_hub(&a, "hub-ticket-a", &la);
  open_hub(&b, "hub-ticket-b", &lb);
  /* Hub a gets the events in order, hub b reversed and with redeliveries. */
  cJSON *base = busy_ticket();
  /* keep it unresolved for the SLA part: drop everything from the first resolve on */
  while (cJSON_GetArraySize(base) > 9)
    cJSON_DeleteItemFromArray(base, 9);
  cJSON *rev = cJSON_CreateArray();
  for (int i = cJSON_GetArraySize(base) - 1; i >= 0; i--) {
    cJSON_AddItemToArray(rev, cJSON_Duplicate(cJSON_GetArrayItem(base, i), 1));
    if (i % 2 == 0)
      cJSON_AddItemToArray(rev, cJSON_Duplicate(cJSON_GetArrayItem(base, i), 1));
  }
  ingest_all(&a, base);
  ingest_all(&b, rev);
  char *da = hub_doc(&a), *db = hub_doc(&b);
  assert_string_equal(da, db);
  cJSON *t = parse(da);
  assert_string_equal(str(t, "state"), "on_site");
  assert_int_equal(num(t, "events"), 9);
  cJSON_Delete(t);
  free(da);
  free(db);
  /* The merged ticket went to the store's down topic as the full event set. */
  assert_true(la.count >= 1);
  assert_string_equal(la.last_topic, "shoal/v1/down/s1");
  cJSON *msg = parse(la.last_payload);
  const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
  assert_string_equal(str(body, "kind"), "sync");
  assert_string_equal(str(msg, "device"), "hub");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(body, "events")), 9);
  cJSON_Delete(msg);

  /* With a published SLA, the tick emits escalations as they come due. */
  shoal_diag d = {{0}};
  hub_stmt *ins = NULL;
  assert_int_equal(hub_store_prepare(a.db,
                                     "INSERT INTO policies (scope, version, issued_at, doc, "
                                     "envelope, published_ms) VALUES ('region/cn-sw', 1, "
                                     "'2023-01-01T00:00:00Z', ?, '{}', 0)",
                                     &ins, &d),
                   SHOAL_OK);
  hub_store_bind_text(ins, 1, policy_text, -1, HUB_STORE_STATIC);
  assert_int_equal(hub_store_step(ins), HUB_STORE_DONE);
  hub_store_finalize(ins);
  /* Re-fold under the policy: one more (duplicate) ingest does it. */
  cJSON *again = cJSON_CreateArray();
  cJSON_AddItemToArray(again, cJSON_Duplicate(cJSON_GetArrayItem(base, 0), 1));
  ingest_all(&a, again);
  cJSON_Delete(again);
  int before = la.count;
  assert_int_equal(hub_tickets_tick(&a, T0 + 240 * MIN - 1, &d), SHOAL_OK);
  assert_int_equal(la.count, before);
  assert_int_equal(hub_tickets_tick(&a, T0 + 240 * MIN + 48 * HOUR + 1, &d), SHOAL_OK);
  assert_true(la.count > before);
  char *dz = hub_doc(&a);
  t = parse(dz);
  assert_int_equal(num(t, "escalation_level"), 2);
  assert_string_equal(str(t, "group"), "managers");
  assert_string_equal(str(t, "priority"), "urgent");
  cJSON_Delete(t);
  free(dz);
  int64_t n = 0;
  assert_int_equal(hub_store_query_int(a.db,
                                       "SELECT COUNT(*) FROM ticket_events WHERE device = 'hub' "
                                       "AND kind = 'escalate'",
                                       0, &n, &d),
                   SHOAL_OK);
  assert_int_equal(n, 2);
  /* The hub's own stream is gapless although sync messages went out between. */
  assert_int_equal(hub_store_query_int(a.db,
                                       "SELECT MAX(seq) * 10 + MIN(seq) FROM ticket_events "
                                       "WHERE device = 'hub'",
                                       0, &n, &d),
                   SHOAL_OK);
  assert_int_equal(n, 21);
  /* A second tick emits nothing more. */
  before = la.count;
  assert_int_equal(hub_tickets_tick(&a, T0 + 240 * MIN + 96 * HOUR, &d), SHOAL_OK);
  assert_int_equal(la.count, before);

  /* A device of the store says hello (it reconnected): its store's live
   * tickets go out again, once per hello. */
  assert_int_equal(hub_store_exec(a.db,
                                  "INSERT INTO devices (device, store, last_hello_ms) "
                                  "VALUES ('hh7', 's1', 5000)",
                                  &d),
                   SHOAL_OK);
  before = la.count;
  assert_int_equal(hub_tickets_tick(&a, T0 + 240 * MIN + 97 * HOUR, &d), SHOAL_OK);
  assert_int_equal(la.count, before + 1);
  assert_int_equal(hub_tickets_tick(&a, T0 + 240 * MIN + 98 * HOUR, &d), SHOAL_OK);
  assert_int_equal(la.count, before + 1);
  assert_int_equal(hub_store_exec(a.db, "UPDATE devices SET last_hello_ms = 6000", &d), SHOAL_OK);
  assert_int_equal(hub_tickets_tick(&a, T0 + 240 * MIN + 99 * HOUR, &d), SHOAL_OK);
  assert_int_equal(la.count, before + 2);

  /* Another store's device cannot write into the ticket: dead letter. */
  cJSON *foreign = mk("hh9", 1, T0 + 3 * HOUR, "note", "{\"text\":\"x\"}");
  cJSON_ReplaceItemInObjectCaseSensitive(foreign, "store", cJSON_CreateString("s9"));
  struct shoal_event ev;
  assert_int_equal(shoal_event_from_json(foreign, &ev, &d), SHOAL_OK);
  assert_int_equal(hub_tickets_ingest(&a, &ev, &d), SHOAL_EINPUT);
  shoal_event_cleanup(&ev);
  cJSON_Delete(foreign);

  free(la.last_payload);
  free(lb.last_payload);
  cJSON_Delete(base);
  cJSON_Delete(rev);
  hub_ctx_close(&a);
  hub_ctx_close(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ticket_every_transition),
      cmocka_unit_test(test_ticket_work_after_final_ignored),
      cmocka_unit_test(test_ticket_events_before_open_ignored),
      cmocka_unit_test(test_ticket_any_order_with_redeliveries_same_bytes),
      cmocka_unit_test(test_ticket_settlement_to_the_fen),
      cmocka_unit_test(test_ticket_settlement_edges),
      cmocka_unit_test(test_ticket_unknown_part_sku),
      cmocka_unit_test(test_ticket_minimal_open),
      cmocka_unit_test(test_ticket_routing_vip_raises_priority),
      cmocka_unit_test(test_ticket_escalation_ladder),
      cmocka_unit_test(test_ticket_malformed_events_refused),
      cmocka_unit_test(test_ticket_policy_sections_validated),
      cmocka_unit_test(test_ticket_codes_forged_foreign_expired),
      cmocka_unit_test(test_ticket_hub_merges_any_order_and_escalates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
