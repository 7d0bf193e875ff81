/* bench_catalog.h - the generated catalog benchmarks share (header-only):
 * 10,000 SKUs in 3 scopes (global, region/cn-sw, store/cd-001), 2,000 rules
 * of every type, 20-line baskets, from a fixed-seed generator so every
 * bench prices the same thing. Include once per bench program. */
#ifndef SHOAL_BENCH_CATALOG_H
#define SHOAL_BENCH_CATALOG_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

#define NSKU   10000
#define NCAT   100
#define NRULES 2000
#define LINES  20

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(uint32_t n) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (uint32_t)(rs % n);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char *sku(int i) {
  static char b[8][32];
  static int k;
  char *p = b[k++ % 8];
  snprintf(p, 32, "SKU-%05d", i);
  return p;
}

static cJSON *target(void) {
  cJSON *t = cJSON_CreateObject();
  if (rnd(2)) {
    cJSON *a = cJSON_AddArrayToObject(t, "skus");
    for (int k = 1 + (int)rnd(5); k > 0; k--)
      cJSON_AddItemToArray(a, cJSON_CreateString(sku((int)rnd(NSKU))));
  } else {
    char c[16];
    snprintf(c, sizeof c, "cat-%02u", rnd(NCAT));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(t, "categories"), cJSON_CreateString(c));
  }
  return t;
}

static cJSON *rule(int id, int type) {
  static const char *const types[] = {"price",  "percent",   "amount",        "bogo",
                                      "bundle", "threshold", "basket_percent"};
  cJSON *r = cJSON_CreateObject();
  char ids[32];
  snprintf(ids, sizeof ids, "r%04d", id);
  cJSON_AddStringToObject(r, "id", ids);
  cJSON_AddStringToObject(r, "type", types[type]);
  cJSON_AddNumberToObject(r, "priority", rnd(4));
  /* 1% of item rules target everything; stage-3 rules are half basket-wide */
  bool all = type >= 5 ? rnd(2) == 0 : rnd(100) == 0;
  if (type != 4 && !all)
    cJSON_AddItemToObject(r, "target", target());
  switch (rnd(8)) {
  case 0:
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cJSON_AddObjectToObject(r, "when"), "tiers"),
                         cJSON_CreateString("vip"));
    break;
  case 1:
    cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "when"), "hours", "14:00-17:00");
    break;
  case 2:
    cJSON_AddStringToObject(r, "coupon", rnd(2) ? "SAVE10" : "SAVE20");
    break;
  case 3:
    if (type <= 2)
      cJSON_AddNumberToObject(cJSON_AddObjectToObject(r, "when"), "min_qty", 2);
    break;
  default:
    break;
  }
  switch (type) {
  case 0:
    cJSON_AddNumberToObject(r, "price", 500 + rnd(3000));
    break;
  case 1:
    cJSON_AddNumberToObject(r, "bp", 500 + rnd(3000));
    break;
  case 2:
    cJSON_AddNumberToObject(r, "off", 50 + rnd(500));
    break;
  case 3:
    cJSON_AddNumberToObject(r, "buy", 1 + rnd(3));
    cJSON_AddNumberToObject(r, "get", 1);
    break;
  case 4: {
    cJSON *items = cJSON_AddArrayToObject(r, "items");
    for (int k = 0; k < 2; k++) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "sku", sku((int)rnd(NSKU)));
      cJSON_AddNumberToObject(e, "qty", 1);
      cJSON_AddItemToArray(items, e);
    }
    cJSON_AddNumberToObject(r, "price", 1000 + rnd(3000));
    break;
  }
  case 5:
    cJSON_AddNumberToObject(r, "min", 5000 + rnd(20000));
    cJSON_AddNumberToObject(r, "off", 500 + rnd(2000));
    if (rnd(2))
      cJSON_AddTrueToObject(r, "repeat");
    if (rnd(2))
      cJSON_AddNumberToObject(r, "max_off", 4000);
    break;
  default:
    cJSON_AddNumberToObject(r, "bp", 100 + rnd(1000));
    cJSON_AddNumberToObject(r, "min", rnd(10000));
    break;
  }
  if (type >= 3 && rnd(20) == 0)
    cJSON_AddTrueToObject(r, "exclusive");
  return r;
}

static cJSON *gen_doc(int scope) {
  static const char *const names[] = {"global", "region/cn-sw", "store/cd-001"};
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "scope", names[scope]);
  if (scope == 0)
    cJSON_AddStringToObject(d, "currency", "CNY");
  cJSON *items = cJSON_AddArrayToObject(d, "items");
  /* global: every SKU; region: price map for 30%; store: 10% prices + costs */
  for (int i = 0; i < NSKU; i++) {
    if ((scope == 1 && i % 10 >= 3) || (scope == 2 && i % 10 != 7))
      continue;
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "sku", sku(i));
    cJSON_AddNumberToObject(it, "price", 100 + rnd(9900));
    if (scope != 1)
      cJSON_AddNumberToObject(it, "cost", 50 + rnd(3000));
    if (scope == 0) {
      char n[32], c1[16], c2[16];
      snprintf(n, sizeof n, "Item %d", i);
      snprintf(c1, sizeof c1, "cat-%02d", i % NCAT);
      snprintf(c2, sizeof c2, "cat-%02d", (i * 7 + 3) % NCAT);
      cJSON_AddStringToObject(it, "name", n);
      cJSON *cats = cJSON_AddArrayToObject(it, "categories");
      cJSON_AddItemToArray(cats, cJSON_CreateString(c1));
      cJSON_AddItemToArray(cats, cJSON_CreateString(c2));
    }
    cJSON_AddItemToArray(items, it);
  }
  /* 2,000 rules: 1,000 global, 600 region, 400 store; types round-robin */
  static const int base[] = {0, 1000, 1600}, count[] = {1000, 600, 400};
  cJSON *rules = cJSON_AddArrayToObject(d, "rules");
  for (int k = 0; k < count[scope]; k++)
    cJSON_AddItemToArray(rules, rule(base[scope] + k, (base[scope] + k) % 7));
  if (scope == 2) {
    cJSON *dis = cJSON_AddArrayToObject(d, "disable");
    for (int k = 0; k < 20; k++) {
      char ids[32];
      snprintf(ids, sizeof ids, "r%04d", k * 37);
      cJSON_AddItemToArray(dis, cJSON_CreateString(ids));
    }
    cJSON *round = cJSON_AddObjectToObject(d, "round");
    cJSON_AddNumberToObject(round, "step", 10);
    cJSON_AddStringToObject(round, "mode", "down");
  }
  return d;
}

static char *gen_basket(void) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "region", "cn-sw");
  cJSON_AddStringToObject(b, "store", "cd-001");
  cJSON_AddStringToObject(b, "at",
                          rnd(2) ? "2026-11-20T15:30:00+08:00" : "2026-11-22T10:00:00+08:00");
  if (rnd(2)) {
    cJSON *c = cJSON_AddObjectToObject(b, "customer");
    cJSON_AddStringToObject(c, "id", "c1");
    cJSON_AddStringToObject(c, "tier", rnd(2) ? "vip" : "basic");
  }
  if (rnd(3) == 0)
    cJSON_AddItemToArray(cJSON_AddArrayToObject(b, "coupons"), cJSON_CreateString("SAVE10"));
  cJSON *lines = cJSON_AddArrayToObject(b, "lines");
  for (int i = 0; i < LINES; i++) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "sku", sku((int)rnd(NSKU)));
    cJSON_AddNumberToObject(l, "qty", 1 + rnd(5));
    cJSON_AddItemToArray(lines, l);
  }
  char *t = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  return t;
}

/* The three policy documents as JSON text (caller frees each). */
static void bench_catalog_texts(char *texts[3]) {
  for (int s = 0; s < 3; s++) {
    cJSON *d = gen_doc(s);
    texts[s] = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
  }
}

#endif
