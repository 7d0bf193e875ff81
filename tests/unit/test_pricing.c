/* test_pricing.c - the pricing engine stage by stage (SPEC 5): stage-1
 * selection, rounding, bogo grouping, bundle and basket sharing, exclusive,
 * coupons, final rounding, scope chain, disable/override, conditions, input
 * errors, and a seeded property test of the totals' invariants.
 * JSON in this file is written with single quotes; j() turns them into ". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/jsonx.h"
#include "shoal/pricing.h"
#include "shoal/shoal_limits.h"

/* Single-quoted JSON to real JSON (static rotating buffers). */
static const char *j(const char *s) {
  static char bufs[8][16384];
  static int next;
  char *b = bufs[next++ % 8];
  size_t n = strlen(s);
  assert_true(n < sizeof bufs[0]);
  for (size_t i = 0; i <= n; i++)
    b[i] = s[i] == '\'' ? '"' : s[i];
  return b;
}

static const char *const SCOPES[3] = {"global", "region/cn-sw", "store/cd-001"};

#define CATALOG                                                                                    \
  "'items':[{'sku':'A','name':'Tea','categories':['tea','drinks'],'price':2800,'cost':900},"       \
  "{'sku':'B','categories':['tea','drinks'],'price':2600},"                                        \
  "{'sku':'C','categories':['coffee','drinks'],'price':3200},"                                     \
  "{'sku':'D','categories':['dessert'],'price':1800},"                                             \
  "{'sku':'E','categories':['dessert'],'price':900},"                                              \
  "{'sku':'F','categories':['misc'],'price':50},"                                                  \
  "{'sku':'G','categories':['misc'],'price':25},"                                                  \
  "{'sku':'H','categories':['misc'],'price':100}]"

struct fx {
  struct shoal_pricing_model *m;
  struct shoal_basket *b;
  struct shoal_quote *q;
  shoal_diag diag;
};

static shoal_err build(struct fx *f, const char *g, const char *r, const char *s) {
  const char *docs[3] = {g ? strdup(j(g)) : NULL, r ? strdup(j(r)) : NULL, s ? strdup(j(s)) : NULL};
  shoal_err rc = shoal_pricing_model_from_texts(SCOPES, docs, NULL, &f->m, &f->diag);
  for (int i = 0; i < 3; i++)
    free((char *)docs[i]);
  return rc;
}

static shoal_err run_basket(struct fx *f, const char *basket) {
  cJSON *bj = NULL;
  const char *t = j(basket);
  shoal_err rc = shoal_json_parse(t, strlen(t), &bj, &f->diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_basket_parse(bj, &f->b, &f->diag);
  cJSON_Delete(bj);
  if (rc != SHOAL_OK)
    return rc;
  return shoal_pricing_quote(f->m, f->b, &f->q, &f->diag);
}

/* Builds the chain and quotes; fails the test on any error. */
static void quote(struct fx *f, const char *g, const char *r, const char *s, const char *lines,
                  const char *extra) {
  memset(f, 0, sizeof *f);
  if (build(f, g, r, s) != SHOAL_OK)
    fail_msg("build: %s", f->diag.msg);
  char basket[8192];
  snprintf(basket, sizeof basket,
           "{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00+08:00','lines':%s%s%s}",
           lines, extra ? "," : "", extra ? extra : "");
  if (run_basket(f, basket) != SHOAL_OK)
    fail_msg("quote: %s", f->diag.msg);
  /* Every quote must reconcile (SPEC 5.3). */
  int64_t sum = 0;
  for (size_t i = 0; i < f->q->nlines; i++) {
    const struct shoal_quote_line *l = &f->q->lines[i];
    assert_int_equal(l->total, l->qty * l->unit_price - l->discount);
    sum += l->total;
  }
  assert_int_equal(f->q->discount, f->q->subtotal - sum);
  assert_int_equal(f->q->rounding, f->q->total - sum);
}

static void done(struct fx *f) {
  shoal_quote_free(f->q);
  shoal_basket_free(f->b);
  shoal_pricing_model_free(f->m);
  memset(f, 0, sizeof *f);
}

static const struct shoal_quote_line *line(const struct fx *f, size_t i) {
  assert_true(i < f->q->nlines);
  return &f->q->lines[i];
}

static void applied_is(const struct fx *f, size_t i, const char *rule, const char *scope,
                       int64_t discount) {
  assert_true(i < f->q->napplied);
  assert_string_equal(f->q->applied[i].rule, rule);
  assert_string_equal(f->q->applied[i].scope, scope);
  assert_int_equal(f->q->applied[i].discount, discount);
}

static void test_pricing_stage1_priority_then_lowest_then_id(void **state) {
  (void)state;
  struct fx f;
  /* priority 1 beats a cheaper priority-0 rule; between the two priority-1
   * rules the lower price wins; equal prices go to the smaller id. */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'cheap','type':'price','price':100,'target':{'skus':['A']}},"
        "{'id':'p1-pct','type':'percent','bp':1000,'priority':1,'target':{'skus':['A']}},"
        "{'id':'p1-amt','type':'amount','off':500,'priority':1,'target':{'skus':['A']}},"
        "{'id':'z-eq','type':'price','price':2000,'priority':1,'target':{'skus':['B']}},"
        "{'id':'a-eq','type':'amount','off':600,'priority':1,'target':{'skus':['B']}}]}",
        NULL, NULL, "[{'sku':'A','qty':2},{'sku':'B','qty':1}]", NULL);
  assert_int_equal(line(&f, 0)->unit_price, 2300); /* 2800-500 < 2800*0.9=2520 */
  assert_int_equal(line(&f, 1)->unit_price, 2000);
  assert_int_equal(f.q->napplied, 2);
  applied_is(&f, 0, "p1-amt", "global", 1000);
  applied_is(&f, 1, "a-eq", "global", 600);
  done(&f);
}

static void test_pricing_percent_rounds_half_up(void **state) {
  (void)state;
  struct fx f;
  /* 25 * 50% = 12.5 -> 13; 2600 * 87.5% = 2275 exactly; 50 * 87.5% = 43.75 -> 44 */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'half','type':'percent','bp':5000,'target':{'skus':['G']}},"
        "{'id':'p125','type':'percent','bp':1250,'target':{'skus':['B','F']}}]}",
        NULL, NULL, "[{'sku':'G','qty':1},{'sku':'B','qty':3},{'sku':'F','qty':1}]", NULL);
  assert_int_equal(line(&f, 0)->unit_price, 13);
  assert_int_equal(line(&f, 1)->unit_price, 2275);
  assert_int_equal(line(&f, 2)->unit_price, 44);
  done(&f);
}

static void test_pricing_amount_floors_at_zero(void **state) {
  (void)state;
  struct fx f;
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'big','type':'amount','off':70,"
        "'target':{'categories':['misc']}}]}",
        NULL, NULL, "[{'sku':'F','qty':3},{'sku':'H','qty':1}]", NULL);
  assert_int_equal(line(&f, 0)->unit_price, 0);
  assert_int_equal(line(&f, 1)->unit_price, 30);
  applied_is(&f, 0, "big", "global", 150 + 70);
  assert_int_equal(f.q->total, 30);
  done(&f);
}

static void test_pricing_min_qty_is_per_line(void **state) {
  (void)state;
  struct fx f;
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'q3','type':'price','price':700,"
        "'when':{'min_qty':3},'target':{'categories':['dessert']}}]}",
        NULL, NULL, "[{'sku':'E','qty':2},{'sku':'D','qty':1},{'sku':'E','qty':1}]", NULL);
  /* merged: E qty 3 reaches the break, D qty 1 does not */
  assert_int_equal(f.q->nlines, 2);
  assert_int_equal(line(&f, 0)->qty, 3);
  assert_int_equal(line(&f, 0)->unit_price, 700);
  assert_int_equal(line(&f, 1)->unit_price, 1800);
  done(&f);
}

static void test_pricing_bogo_groups_by_price_high_to_low(void **state) {
  (void)state;
  struct fx f;
  /* buy 2 get 1 at 50% off over tea: units 2800,2800,2600 | 2600,2600,2600 | 2600
   * group 1 frees a 2600 unit of B (1300 off), group 2 frees a 2600 unit of B. */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'b2g1','type':'bogo','buy':2,'get':1,"
        "'bp':5000,'target':{'categories':['tea']}}]}",
        NULL, NULL, "[{'sku':'B','qty':5},{'sku':'A','qty':2},{'sku':'D','qty':1}]", NULL);
  assert_int_equal(line(&f, 0)->discount, 2600);
  assert_int_equal(line(&f, 1)->discount, 0);
  assert_int_equal(line(&f, 2)->discount, 0);
  applied_is(&f, 0, "b2g1", "global", 2600);
  done(&f);
  /* equal prices: the later line's units sort later, so they are the free ones;
   * bp half up: 25 * 50% = 12.5 -> 13 off */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'g','type':'bogo','buy':1,'get':1,"
        "'bp':5000,'target':{'skus':['G','F']}}]}",
        NULL, NULL, "[{'sku':'F','qty':1},{'sku':'G','qty':3}]", NULL);
  /* units: F50, G25, G25, G25 -> groups (F50,G25) (G25,G25): frees two G units */
  assert_int_equal(line(&f, 0)->discount, 0);
  assert_int_equal(line(&f, 1)->discount, 26);
  done(&f);
}

static void test_pricing_bogo_incomplete_group_gets_nothing(void **state) {
  (void)state;
  struct fx f;
  quote(&f, "{'scope':'global'," CATALOG ",'rules':[{'id':'b3g1','type':'bogo','buy':3,'get':1}]}",
        NULL, NULL, "[{'sku':'A','qty':3}]", NULL);
  assert_int_equal(f.q->napplied, 0);
  assert_int_equal(f.q->total, 8400);
  done(&f);
}

static void test_pricing_bundle_shares_in_proportion_and_uses_units(void **state) {
  (void)state;
  struct fx f;
  /* combo C+D for 3990: k = 2, saves 2 * (5000 - 3990) = 2020, shared
   * 6400:3600 -> 1292.8 / 727.2 -> floors 1292 + 727, remainder 1 to C. A
   * later bogo on C sees only the one unit left and cannot make a group. */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'combo','type':'bundle','priority':5,'items':[{'sku':'C','qty':1},{'sku':'D','qty':"
        "1}],"
        "'price':3990},"
        "{'id':'c-b1g1','type':'bogo','buy':1,'get':1,'target':{'skus':['C']}}]}",
        NULL, NULL, "[{'sku':'C','qty':3},{'sku':'D','qty':2}]", NULL);
  assert_int_equal(line(&f, 0)->discount, 1293);
  assert_int_equal(line(&f, 1)->discount, 727);
  assert_int_equal(f.q->napplied, 1);
  applied_is(&f, 0, "combo", "global", 2020);
  done(&f);
  /* A bundle that does not save is not applied and leaves units free. */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'a-dear','type':'bundle','items':[{'sku':'C','qty':2}],'price':9000},"
        "{'id':'b-b1g1','type':'bogo','buy':1,'get':1,'target':{'skus':['C']}}]}",
        NULL, NULL, "[{'sku':'C','qty':2}]", NULL);
  assert_int_equal(f.q->napplied, 1);
  applied_is(&f, 0, "b-b1g1", "global", 3200);
  done(&f);
}

static void test_pricing_threshold_repeat_and_caps(void **state) {
  (void)state;
  struct fx f;
  /* 7 * 2800 = 19600: every 5000 takes 1000 -> 3 * 1000, capped at 2500 */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'t','type':'threshold','min':5000,"
        "'off':1000,'repeat':true,'max_off':2500}]}",
        NULL, NULL, "[{'sku':'A','qty':7}]", NULL);
  applied_is(&f, 0, "t", "global", 2500);
  done(&f);
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'t','type':'threshold','min':5000,"
        "'off':1000,'repeat':true}]}",
        NULL, NULL, "[{'sku':'A','qty':7}]", NULL);
  applied_is(&f, 0, "t", "global", 3000);
  done(&f);
  /* off larger than the eligible amount is capped by it */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'t','type':'threshold','min':10,"
        "'off':999999}]}",
        NULL, NULL, "[{'sku':'F','qty':2}]", NULL);
  applied_is(&f, 0, "t", "global", 100);
  assert_int_equal(f.q->total, 0);
  done(&f);
  /* below min: nothing */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'t','type':'threshold','min':5601,"
        "'off':100}]}",
        NULL, NULL, "[{'sku':'A','qty':2}]", NULL);
  assert_int_equal(f.q->napplied, 0);
  done(&f);
}

static void test_pricing_basket_percent_min_and_order(void **state) {
  (void)state;
  struct fx f;
  /* the threshold (priority 1) runs first: 10000 - 1000 = 9000 eligible for
   * the 10% that then needs min 9000: 900 off. */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'pct','type':'basket_percent','bp':1000,'min':9000},"
        "{'id':'thr','type':'threshold','min':10000,'off':1000,'priority':1}]}",
        NULL, NULL, "[{'sku':'C','qty':2},{'sku':'D','qty':2}]", NULL);
  assert_int_equal(f.q->napplied, 2);
  applied_is(&f, 0, "thr", "global", 1000);
  applied_is(&f, 1, "pct", "global", 900);
  assert_int_equal(f.q->total, 9000 - 900);
  done(&f);
}

static void test_pricing_exclusive_stops_same_stage_only(void **state) {
  (void)state;
  struct fx f;
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'a','type':'bogo','buy':1,'get':1,'exclusive':true,'target':{'skus':['A']}},"
        "{'id':'b','type':'bogo','buy':1,'get':1,'target':{'skus':['B']}},"
        "{'id':'c','type':'threshold','min':100,'off':100,'exclusive':true},"
        "{'id':'d','type':'threshold','min':100,'off':100}]}",
        NULL, NULL, "[{'sku':'A','qty':2},{'sku':'B','qty':2}]", NULL);
  assert_int_equal(f.q->napplied, 2);
  applied_is(&f, 0, "a", "global", 2800);
  applied_is(&f, 1, "c", "global", 100);
  done(&f);
  /* an exclusive rule that does not apply stops nothing */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'a','type':'threshold','min':999999,'off':100,'exclusive':true,'priority':9},"
        "{'id':'b','type':'threshold','min':100,'off':100}]}",
        NULL, NULL, "[{'sku':'A','qty':2}]", NULL);
  assert_int_equal(f.q->napplied, 1);
  applied_is(&f, 0, "b", "global", 100);
  done(&f);
}

static void test_pricing_coupons_accepted_unknown_not_applicable(void **state) {
  (void)state;
  struct fx f;
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':["
        "{'id':'c1','type':'percent','bp':1000,'coupon':'TEN','target':{'skus':['A']}},"
        "{'id':'c2','type':'threshold','min':1,'off':5,'coupon':'GOLD','when':{'tiers':['gold']}},"
        "{'id':'c3','type':'threshold','min':1,'off':7,'coupon':'NOTGIVEN'}]}",
        NULL, NULL, "[{'sku':'A','qty':1}]", "'coupons':['GOLD','TEN','XX','TEN']");
  assert_int_equal(f.q->naccepted, 1);
  assert_string_equal(f.q->accepted[0], "TEN");
  assert_int_equal(f.q->nrejected, 2);
  assert_string_equal(f.q->rejected[0].code, "GOLD");
  assert_string_equal(f.q->rejected[0].reason, "not_applicable");
  assert_string_equal(f.q->rejected[1].code, "XX");
  assert_string_equal(f.q->rejected[1].reason, "unknown");
  /* a coupon rule never applies without its code */
  assert_int_equal(f.q->napplied, 1);
  done(&f);
}

static void test_pricing_round_modes(void **state) {
  (void)state;
  struct fx f;
  static const struct {
    const char *mode;
    int64_t step, want;
  } cases[] = {{"down", 10, 2530},     {"up", 10, 2540},  {"half_up", 10, 2540},
               {"half_up", 100, 2500}, {"down", 1, 2535}, {"half_up", 70, 2520}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char store[200];
    snprintf(store, sizeof store, "{'scope':'store/cd-001','round':{'step':%lld,'mode':'%s'}}",
             (long long)cases[i].step, cases[i].mode);
    /* 2800 + 900 - ... : A at 2485 (amount 315) + F at 50 = 2535 */
    quote(&f,
          "{'scope':'global'," CATALOG ",'rules':[{'id':'x','type':'amount','off':315,"
          "'target':{'skus':['A']}}],'round':{'step':1000,'mode':'up'}}",
          NULL, store, "[{'sku':'A','qty':1},{'sku':'F','qty':1}]", NULL);
    assert_int_equal(f.q->total, cases[i].want);
    assert_int_equal(f.q->rounding, cases[i].want - 2535);
    done(&f);
  }
}

static void test_pricing_scope_chain_items_and_rules(void **state) {
  (void)state;
  struct fx f;
  memset(&f, 0, sizeof f);
  assert_int_equal(
      build(&f, "{'scope':'global','currency':'CNY'," CATALOG "}",
            "{'scope':'region/cn-sw','currency':'HKD','items':[{'sku':'A','price':2200},"
            "{'sku':'Z','name':'no price'}]}",
            "{'scope':'store/cd-001','items':[{'sku':'A','cost':1000,'categories':['x']},"
            "{'sku':'Z','cost':5}]}"),
      SHOAL_OK);
  int64_t price = 0, cost = 0;
  bool has_cost = false;
  assert_int_equal(shoal_pricing_item(f.m, "A", &price, &cost, &has_cost), SHOAL_OK);
  assert_int_equal(price, 2200);
  assert_true(has_cost);
  assert_int_equal(cost, 1000);
  const char *name = NULL;
  const char *const *cats = NULL;
  size_t ncats = 0;
  assert_int_equal(shoal_pricing_item_info(f.m, "A", &name, &cats, &ncats), SHOAL_OK);
  assert_string_equal(name, "Tea");
  assert_int_equal(ncats, 1);
  assert_string_equal(cats[0], "x");
  assert_int_equal(shoal_pricing_item(f.m, "B", &price, &cost, &has_cost), SHOAL_OK);
  assert_false(has_cost);
  /* a SKU with no price anywhere is unknown */
  assert_int_equal(shoal_pricing_item(f.m, "Z", &price, &cost, &has_cost), SHOAL_ENOTFOUND);
  assert_int_equal(shoal_pricing_item(f.m, "nope", &price, &cost, &has_cost), SHOAL_ENOTFOUND);
  assert_string_equal(shoal_pricing_currency(f.m), "HKD");
  done(&f);

  /* override by id (store's version wins, scope reported), disable drops the
   * region's rule, a store can disable and redefine. */
  quote(
      &f,
      "{'scope':'global'," CATALOG ",'rules':[{'id':'r1','type':'price','price':1000,"
      "'target':{'skus':['A']}},{'id':'r2','type':'price','price':1000,'target':{'skus':['B']}}]}",
      "{'scope':'region/cn-sw','rules':[{'id':'r3','type':'threshold','min':1,'off':1}]}",
      "{'scope':'store/cd-001','disable':['r2','r3','r1'],'rules':[{'id':'r1','type':'price',"
      "'price':2000,'target':{'skus':['A']}}]}",
      "[{'sku':'A','qty':1},{'sku':'B','qty':1}]", NULL);
  assert_int_equal(line(&f, 0)->unit_price, 2000);
  assert_int_equal(line(&f, 1)->unit_price, 2600);
  assert_int_equal(f.q->napplied, 1);
  applied_is(&f, 0, "r1", "store/cd-001", 800);
  done(&f);
}

static void test_pricing_sharing_remainder_largest_first_ties_by_line(void **state) {
  (void)state;
  struct fx f;
  /* 3 equal lines share 100: 33 each, the remaining 1 goes to the first line */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'t','type':'threshold','min':1,'off':100}]}",
        NULL, NULL, "[{'sku':'H','qty':1},{'sku':'G','qty':4},{'sku':'F','qty':2}]", NULL);
  assert_int_equal(line(&f, 0)->discount, 34);
  assert_int_equal(line(&f, 1)->discount, 33);
  assert_int_equal(line(&f, 2)->discount, 33);
  done(&f);
  /* amounts 100, 50, 25 share 10: 5.71, 2.86, 1.43 -> 5,2,1 + 2 by amount: 6,3,1
   * (largest amount first, not largest fraction) */
  quote(&f,
        "{'scope':'global'," CATALOG ",'rules':[{'id':'t','type':'threshold','min':1,'off':10}]}",
        NULL, NULL, "[{'sku':'G','qty':1},{'sku':'H','qty':1},{'sku':'F','qty':1}]", NULL);
  assert_int_equal(line(&f, 0)->discount, 1);
  assert_int_equal(line(&f, 1)->discount, 6);
  assert_int_equal(line(&f, 2)->discount, 3);
  done(&f);
}

static void test_pricing_when_conditions(void **state) {
  (void)state;
  struct fx f;
  const char *g =
      "{'scope':'global'," CATALOG ",'rules':["
      "{'id':'night','type':'price','price':1,'when':{'hours':'22:00-02:00'},'target':{'skus':['A']"
      "}},"
      "{'id':'wkend','type':'price','price':2,'when':{'days':[6,7]},'target':{'skus':['B']}},"
      "{'id':'app','type':'price','price':3,'when':{'channels':['app']},'target':{'skus':['C']}},"
      "{'id':'pos','type':'price','price':4,'when':{'channels':['pos']},'target':{'skus':['D']}},"
      "{'id':'tag','type':'price','price':5,'when':{'tags_any':['staff','x']},'target':{'skus':['E'"
      "]}},"
      "{'id':'win','type':'price','price':6,'when':{'from':'2026-11-20T00:00:00+08:00',"
      "'until':'2026-11-21T00:00:00+08:00'},'target':{'skus':['H']}}]}";
  const char *lines = "[{'sku':'A','qty':1},{'sku':'B','qty':1},{'sku':'C','qty':1},"
                      "{'sku':'D','qty':1},{'sku':'E','qty':1},{'sku':'H','qty':1}]";
  /* 2026-11-21 is a Saturday; 01:30 local is inside 22:00-02:00; until is exclusive */
  memset(&f, 0, sizeof f);
  assert_int_equal(build(&f, g, NULL, NULL), SHOAL_OK);
  char basket[1024];
  snprintf(basket, sizeof basket,
           "{'region':'cn-sw','store':'cd-001','at':'2026-11-21T01:30:00+08:00',"
           "'customer':{'id':'c','tags':['x']},'lines':%s}",
           lines);
  assert_int_equal(run_basket(&f, basket), SHOAL_OK);
  assert_int_equal(line(&f, 0)->unit_price, 1);
  assert_int_equal(line(&f, 1)->unit_price, 2);
  assert_int_equal(line(&f, 2)->unit_price, 3200); /* channel defaults to pos */
  assert_int_equal(line(&f, 3)->unit_price, 4);
  assert_int_equal(line(&f, 4)->unit_price, 5);
  assert_int_equal(line(&f, 5)->unit_price, 100); /* after until */
  done(&f);
  /* Friday 2026-11-20 15:30 local, channel app */
  quote(&f, g, NULL, NULL, lines, "'channel':'app'");
  assert_int_equal(line(&f, 0)->unit_price, 2800); /* 15:30 is outside 22:00-02:00 */
  assert_int_equal(line(&f, 1)->unit_price, 2600); /* Friday */
  assert_int_equal(line(&f, 2)->unit_price, 3);
  assert_int_equal(line(&f, 3)->unit_price, 1800);
  assert_int_equal(line(&f, 4)->unit_price, 900); /* no customer */
  assert_int_equal(line(&f, 5)->unit_price, 6);
  done(&f);
}

static void test_pricing_when_local_dates_use_the_baskets_offset(void **state) {
  (void)state;
  struct fx f;
  memset(&f, 0, sizeof f);
  /* from/until without offset are the basket's local wall clock: 23:30 on
   * the 20th in New York is inside a local "2026-11-20" day although it is
   * already the 21st in UTC. */
  assert_int_equal(
      build(&f,
            "{'scope':'global'," CATALOG ",'rules':[{'id':'day','type':'price','price':1,"
            "'when':{'from':'2026-11-20','until':'2026-11-21T00:00'},'target':{'skus':['A']}}]}",
            NULL, NULL),
      SHOAL_OK);
  assert_int_equal(run_basket(&f,
                              "{'region':'cn-sw','store':'cd-001','at':'2026-11-20T23:30:00-05:00',"
                              "'lines':[{'sku':'A','qty':1}]}"),
                   SHOAL_OK);
  assert_int_equal(line(&f, 0)->unit_price, 1);
  shoal_quote_free(f.q);
  shoal_basket_free(f.b);
  f.q = NULL;
  f.b = NULL;
  assert_int_equal(run_basket(&f,
                              "{'region':'cn-sw','store':'cd-001','at':'2026-11-21T00:00:00+08:00',"
                              "'lines':[{'sku':'A','qty':1}]}"),
                   SHOAL_OK);
  assert_int_equal(line(&f, 0)->unit_price, 2800);
  done(&f);
}

static void test_pricing_bad_input_is_named(void **state) {
  (void)state;
  static const struct {
    const char *basket;
    shoal_err want;
    const char *needle;
  } cases[] = {
      {"{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00+08:00','lines':[{'sku':'Q','"
       "qty':1}]}",
       SHOAL_ENOTFOUND, "unknown SKU Q"},
      {"{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00+08:00','lines':[{'sku':'A','"
       "qty':0}]}",
       SHOAL_EINPUT, "qty"},
      {"{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00+08:00','lines':[{'sku':'A','"
       "qty':1.5}]}",
       SHOAL_EINPUT, "qty"},
      {"{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00+08:00','lines':[{'sku':'A','"
       "qty':'2'}]}",
       SHOAL_EINPUT, "qty"},
      {"{'region':'cn-sw','store':'cd-001','lines':[]}", SHOAL_EINPUT, "at"},
      {"{'region':'cn-sw','store':'cd-001','at':'2026-11-20 15:30','lines':[]}", SHOAL_EINPUT,
       "at"},
      {"{'store':'cd-001','at':'2026-11-20T15:30:00Z','lines':[]}", SHOAL_EINPUT, "region"},
      {"{'region':'cn-sw','at':'2026-11-20T15:30:00Z','lines':[]}", SHOAL_EINPUT, "store"},
      {"{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00Z','lines':[{'sku':'A','qty':"
       "600000},{'sku':'A','qty':600000}]}",
       SHOAL_ELIMIT, "A"},
      {"{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00Z','lines':[{'sku':'A','qty':1}"
       "]",
       SHOAL_EJSON, "JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fx f;
    memset(&f, 0, sizeof f);
    assert_int_equal(build(&f, "{'scope':'global'," CATALOG "}", NULL, NULL), SHOAL_OK);
    shoal_err rc = run_basket(&f, cases[i].basket);
    if (rc != cases[i].want || !strstr(f.diag.msg, cases[i].needle))
      fail_msg("case %zu: rc %d msg \"%s\"", i, rc, f.diag.msg);
    done(&f);
  }
}

static void test_pricing_money_overflow_is_refused(void **state) {
  (void)state;
  struct fx f;
  memset(&f, 0, sizeof f);
  assert_int_equal(
      build(&f, "{'scope':'global','items':[{'sku':'X','price':1000000000000000}]}", NULL, NULL),
      SHOAL_OK);
  assert_int_equal(run_basket(&f, "{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00Z',"
                                  "'lines':[{'sku':'X','qty':2}]}"),
                   SHOAL_ELIMIT);
  done(&f);
}

static void test_pricing_model_refuses_bad_docs(void **state) {
  (void)state;
  struct fx f;
  memset(&f, 0, sizeof f);
  assert_int_equal(build(&f, "{'scope':'global','rules':[{'id':'x','type':'magic'}]}", NULL, NULL),
                   SHOAL_EINPUT);
  assert_non_null(strstr(f.diag.msg, "magic"));
  /* a document stored under the wrong scope */
  assert_int_equal(build(&f, "{'scope':'store/cd-001'}", NULL, NULL), SHOAL_EINPUT);
  assert_int_equal(build(&f, "{'scope':'global'", NULL, NULL), SHOAL_EJSON);
}

/* ---- property test ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

static void random_rule(char *buf, size_t sz, int id) {
  static const char *const skus[] = {"A", "B", "C", "D", "E", "F", "G", "H"};
  static const char *const cats[] = {"tea", "drinks", "coffee", "dessert", "misc"};
  char target[128] = "";
  int t = (int)rnd(3);
  if (t == 1)
    snprintf(target, sizeof target, ",'target':{'skus':['%s','%s']}", skus[rnd(8)], skus[rnd(8)]);
  else if (t == 2)
    snprintf(target, sizeof target, ",'target':{'categories':['%s']}", cats[rnd(5)]);
  char common[256];
  snprintf(common, sizeof common, "'id':'r%d','priority':%u%s%s%s", id, rnd(3), target,
           rnd(5) == 0 ? ",'exclusive':true" : "", rnd(6) == 0 ? ",'coupon':'CP'" : "");
  switch (rnd(7)) {
  case 0:
    snprintf(buf, sz, "{%s,'type':'price','price':%u}", common, rnd(4000));
    break;
  case 1:
    snprintf(buf, sz, "{%s,'type':'percent','bp':%u}", common, rnd(10001));
    break;
  case 2:
    snprintf(buf, sz, "{%s,'type':'amount','off':%u,'when':{'min_qty':%u}}", common, rnd(3000),
             1 + rnd(3));
    break;
  case 3:
    snprintf(buf, sz, "{%s,'type':'bogo','buy':%u,'get':%u,'bp':%u}", common, 1 + rnd(3),
             1 + rnd(2), rnd(10001));
    break;
  case 4:
    snprintf(
        buf, sz,
        "{%s,'type':'bundle','items':[{'sku':'%s','qty':%u},{'sku':'%s','qty':%u}],'price':%u}",
        common, skus[rnd(8)], 1 + rnd(2), skus[rnd(8)], 1 + rnd(2), rnd(8000));
    break;
  case 5:
    snprintf(buf, sz, "{%s,'type':'threshold','min':%u,'off':%u,'repeat':%s%s}", common,
             1 + rnd(20000), rnd(5000), rnd(2) ? "true" : "false", rnd(2) ? ",'max_off':3000" : "");
    break;
  default:
    snprintf(buf, sz, "{%s,'type':'basket_percent','bp':%u,'min':%u}", common, rnd(10001),
             rnd(10000));
    break;
  }
}

static void test_pricing_property_totals_reconcile_and_never_negative(void **state) {
  (void)state;
  static const char *const skus[] = {"A", "B", "C", "D", "E", "F", "G", "H"};
  static const char *const modes[] = {"down", "up", "half_up"};
  for (int iter = 0; iter < 400; iter++) {
    char doc[12000], rule[512];
    int n = snprintf(doc, sizeof doc, "{'scope':'global'," CATALOG ",'rules':[");
    int nr = (int)rnd(8);
    for (int k = 0; k < nr; k++) {
      random_rule(rule, sizeof rule, k);
      n += snprintf(doc + n, sizeof doc - (size_t)n, "%s%s", k ? "," : "", rule);
    }
    n += snprintf(doc + n, sizeof doc - (size_t)n, "]");
    if (rnd(2))
      n += snprintf(doc + n, sizeof doc - (size_t)n, ",'round':{'step':%u,'mode':'%s'}",
                    1 + rnd(100), modes[rnd(3)]);
    snprintf(doc + n, sizeof doc - (size_t)n, "}");
    char lines[1024];
    int ln = snprintf(lines, sizeof lines, "[");
    int nl = 1 + (int)rnd(6);
    for (int k = 0; k < nl; k++)
      ln += snprintf(lines + ln, sizeof lines - (size_t)ln, "%s{'sku':'%s','qty':%u}", k ? "," : "",
                     skus[rnd(8)], 1 + rnd(6));
    snprintf(lines + ln, sizeof lines - (size_t)ln, "]");
    struct fx f;
    quote(&f, doc, NULL, NULL, lines,
          rnd(2) ? "'coupons':['CP']" : NULL); /* checks reconciliation */
    assert_true(f.q->total >= 0);
    int64_t applied = 0, sub = 0;
    for (size_t i = 0; i < f.q->napplied; i++)
      applied += f.q->applied[i].discount;
    for (size_t i = 0; i < f.q->nlines; i++) {
      const struct shoal_quote_line *l = &f.q->lines[i];
      assert_true(l->total >= 0);
      assert_true(l->discount >= 0);
      sub += l->qty * l->base_price;
    }
    assert_int_equal(sub, f.q->subtotal);
    /* discounts add up: what the rules report is what left the lines */
    assert_int_equal(applied, f.q->discount);
    done(&f);
  }
}

/* Money near the limits: every quote either reconciles or is refused with
 * SHOAL_ELIMIT; UBSan builds turn any int64 overflow into a failure. */
static void test_pricing_property_big_money_never_overflows(void **state) {
  (void)state;
  static const char *const types[] = {
      "{'id':'p','type':'percent','bp':3333}",
      "{'id':'b','type':'bogo','buy':1,'get':1,'bp':9999}",
      "{'id':'n','type':'bundle','items':[{'sku':'X','qty':1},{'sku':'Y','qty':1}],'price':1}",
      "{'id':'t','type':'threshold','min':1,'off':1000000000000000,'repeat':true}",
      "{'id':'q','type':'basket_percent','bp':10000}",
      "{'id':'a','type':'price','price':1000000000000000}",
  };
  for (int iter = 0; iter < 200; iter++) {
    char doc[2048], lines[256];
    uint32_t r1 = rnd(6), r2 = (r1 + 1 + rnd(5)) % 6; /* two different rules */
    snprintf(doc, sizeof doc,
             "{'scope':'global','items':[{'sku':'X','price':%llu},{'sku':'Y','price':%llu}],"
             "'rules':[%s,%s],'round':{'step':%llu,'mode':'up'}}",
             (unsigned long long)(rnd(1000000) + 1) * (rnd(2) ? 1000000000ull : 1),
             (unsigned long long)rnd(1000000000) * 1000, types[r1], types[r2],
             (unsigned long long)(rnd(1000) + 1) * (rnd(2) ? 1000000000000ull : 1));
    snprintf(lines, sizeof lines,
             "{'region':'cn-sw','store':'cd-001','at':'2026-11-20T15:30:00Z','lines':"
             "[{'sku':'X','qty':%u},{'sku':'Y','qty':%u}]}",
             1 + rnd(1000000), 1 + rnd(1000));
    struct fx f;
    memset(&f, 0, sizeof f);
    if (build(&f, doc, NULL, NULL) != SHOAL_OK)
      fail_msg("build: %s", f.diag.msg);
    shoal_err rc = run_basket(&f, lines);
    if (rc == SHOAL_OK) {
      int64_t sum = 0;
      for (size_t i = 0; i < f.q->nlines; i++)
        sum += f.q->lines[i].total;
      assert_true(f.q->total >= 0);
      assert_int_equal(f.q->discount, f.q->subtotal - sum);
      assert_int_equal(f.q->rounding, f.q->total - sum);
    } else if (rc != SHOAL_ELIMIT) {
      fail_msg("unexpected %d: %s", rc, f.diag.msg);
    }
    done(&f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pricing_stage1_priority_then_lowest_then_id),
      cmocka_unit_test(test_pricing_percent_rounds_half_up),
      cmocka_unit_test(test_pricing_amount_floors_at_zero),
      cmocka_unit_test(test_pricing_min_qty_is_per_line),
      cmocka_unit_test(test_pricing_bogo_groups_by_price_high_to_low),
      cmocka_unit_test(test_pricing_bogo_incomplete_group_gets_nothing),
      cmocka_unit_test(test_pricing_bundle_shares_in_proportion_and_uses_units),
      cmocka_unit_test(test_pricing_threshold_repeat_and_caps),
      cmocka_unit_test(test_pricing_basket_percent_min_and_order),
      cmocka_unit_test(test_pricing_exclusive_stops_same_stage_only),
      cmocka_unit_test(test_pricing_coupons_accepted_unknown_not_applicable),
      cmocka_unit_test(test_pricing_round_modes),
      cmocka_unit_test(test_pricing_scope_chain_items_and_rules),
      cmocka_unit_test(test_pricing_sharing_remainder_largest_first_ties_by_line),
      cmocka_unit_test(test_pricing_when_conditions),
      cmocka_unit_test(test_pricing_when_local_dates_use_the_baskets_offset),
      cmocka_unit_test(test_pricing_bad_input_is_named),
      cmocka_unit_test(test_pricing_money_overflow_is_refused),
      cmocka_unit_test(test_pricing_model_refuses_bad_docs),
      cmocka_unit_test(test_pricing_property_totals_reconcile_and_never_negative),
      cmocka_unit_test(test_pricing_property_big_money_never_overflows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
