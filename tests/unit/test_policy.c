/* test_policy.c - policy document validation as the hub's publish and the
 * agent's import run it (shoal_policy_validate): a well-formed pricing
 * document passes; duplicate ids, unknown rule types, missing or ill-typed
 * fields and bad times are refused with a message naming the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/policy.h"

static const char *j(const char *s) {
  static char buf[8192];
  size_t n = strlen(s);
  assert_true(n < sizeof buf);
  for (size_t i = 0; i <= n; i++)
    buf[i] = s[i] == '\'' ? '"' : s[i];
  return buf;
}

static shoal_err validate(const char *doc, char *scope, shoal_diag *diag) {
  const char *t = j(doc);
  return shoal_policy_validate(t, strlen(t), scope, diag);
}

static void test_policy_full_pricing_doc_passes(void **state) {
  (void)state;
  char scope[SHOAL_SCOPE_MAX] = "";
  shoal_diag d = {{0}};
  shoal_err rc = validate(
      "{'scope':'region/cn-sw','currency':'CNY',"
      "'items':[{'sku':'A','name':'Tea','categories':['tea'],'price':100,'cost':50},{'sku':'B'}],"
      "'rules':["
      "{'id':'p','type':'price','price':90,'priority':2,'target':{'skus':['A']},'when':{'min_qty':"
      "2}},"
      "{'id':'q','type':'percent','bp':1000,'coupon':'X','when':{'tiers':['vip'],'channels':['pos']"
      ","
      "'tags_any':['t'],'from':'2026-01-01T00:00:00+08:00','until':'2026-02-01T00:00:00Z',"
      "'days':[1,7],'hours':'22:00-02:00'}},"
      "{'id':'r','type':'amount','off':5,'target':{'categories':['tea']}},"
      "{'id':'s','type':'bogo','buy':2,'get':1},{'id':'s2','type':'bogo','buy':1,'get':1,'bp':5000}"
      ","
      "{'id':'t','type':'bundle','items':[{'sku':'A','qty':1},{'sku':'B','qty':2}],'price':150},"
      "{'id':'u','type':'threshold','min':100,'off':10,'repeat':true,'max_off':30,'exclusive':true}"
      ","
      "{'id':'v','type':'basket_percent','bp':500,'min':0,'name':'five','description':'5%'}],"
      "'disable':['old-1'],'round':{'step':10,'mode':'half_up'}}",
      scope, &d);
  if (rc != SHOAL_OK)
    fail_msg("%s", d.msg);
  assert_string_equal(scope, "region/cn-sw");
}

static void test_policy_bad_pricing_docs_are_refused_naming_the_problem(void **state) {
  (void)state;
  static const struct {
    const char *doc, *needle;
  } cases[] = {
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1},{'id':'a','type':'price','"
       "price':2}]}",
       "duplicate id \"a\""},
      {"{'scope':'global','items':[{'sku':'A','price':1},{'sku':'A','price':2}]}",
       "duplicate sku \"A\""},
      {"{'scope':'global','rules':[{'id':'a','type':'magic'}]}", "unknown rule type \"magic\""},
      {"{'scope':'global','rules':[{'id':'a'}]}", "missing \"type\""},
      {"{'scope':'global','rules':[{'type':'price','price':1}]}", "missing \"id\""},
      {"{'scope':'global','rules':[{'id':'a/b','type':'price','price':1}]}", "\"id\""},
      {"{'scope':'global','rules':[{'id':'a','type':'percent'}]}", "missing \"bp\""},
      {"{'scope':'global','rules':[{'id':'a','type':'percent','bp':'10'}]}",
       "\"bp\" must be an integer"},
      {"{'scope':'global','rules':[{'id':'a','type':'percent','bp':10001}]}", "\"bp\""},
      {"{'scope':'global','rules':[{'id':'a','type':'amount','off':-1}]}", "\"off\""},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1.5}]}", "\"price\""},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'priority':0.5}]}",
       "\"priority\""},
      {"{'scope':'global','rules':[{'id':'a','type':'price','prise':1}]}", "unknown key \"prise\""},
      {"{'scope':'global','rules':[{'id':'a','type':'threshold','min':1,'off':1,'bp':3}]}",
       "unknown key \"bp\""},
      {"{'scope':'global','rules':[{'id':'a','type':'bogo','buy':0,'get':1}]}", "\"buy\""},
      {"{'scope':'global','rules':[{'id':'a','type':'bogo','buy':1}]}", "missing \"get\""},
      {"{'scope':'global','rules':[{'id':'a','type':'bundle','price':1}]}", "\"items\""},
      {"{'scope':'global','rules':[{'id':'a','type':'bundle','items':[{'sku':'A'}],'price':1}]}",
       "missing \"qty\""},
      {"{'scope':'global','rules':[{'id':'a','type':'threshold','min':100}]}", "missing \"off\""},
      {"{'scope':'global','rules':[{'id':'a','type':'threshold','min':0,'off':1,'repeat':true}]}",
       "repeat"},
      {"{'scope':'global','rules':[{'id':'a','type':'threshold','min':1,'off':1,'repeat':1}]}",
       "repeat"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'from':'2026-13-"
       "01T00:00:00Z'}}]}",
       "when.from"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'until':'2026-02-30'}"
       "}]}",
       "when.until"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'from':'2026-02-"
       "01T00:00:00Z','until':'2026-01-01T00:00:00Z'}}]}",
       "after"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'hours':'25:00-26:00'"
       "}}]}",
       "hours"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'hours':'9:00-17:00'}"
       "}]}",
       "hours"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'hours':'14:00-14:00'"
       "}}]}",
       "hours"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'days':[0]}}]}",
       "days"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'days':[8]}}]}",
       "days"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'weekday':1}}]}",
       "unknown key \"weekday\""},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'min_qty':0}}]}",
       "min_qty"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'when':{'tiers':'vip'}}]}",
       "tiers"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'target':{}}]}", "target"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'target':{'sku':['A']}}]}",
       "unknown key \"sku\""},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'coupon':''}]}", "coupon"},
      {"{'scope':'global','rules':[{'id':'a','type':'price','price':1,'exclusive':'yes'}]}",
       "exclusive"},
      {"{'scope':'global','rules':['a']}", "rules[0]"},
      {"{'scope':'global','items':[{'price':1}]}", "sku"},
      {"{'scope':'global','items':[{'sku':'A','price':-5}]}", "price"},
      {"{'scope':'global','items':[{'sku':'A','categories':'tea'}]}", "categories"},
      {"{'scope':'global','items':[{'sku':'A','colour':'red'}]}", "unknown key \"colour\""},
      {"{'scope':'global','disable':['ok','not/ok']}", "disable"},
      {"{'scope':'global','round':{'step':0,'mode':'down'}}", "step"},
      {"{'scope':'global','round':{'step':10,'mode':'bankers'}}", "mode"},
      {"{'scope':'global','currency':'cny'}", "currency"},
      {"{'scope':'global','rules':{}}", "rules"},
      {"{'scope':'galaxy'}", "scope"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    shoal_diag d = {{0}};
    char scope[SHOAL_SCOPE_MAX];
    shoal_err rc = validate(cases[i].doc, scope, &d);
    if (rc != SHOAL_EINPUT || !strstr(d.msg, cases[i].needle))
      fail_msg("case %zu (%s): rc %d, message \"%s\" lacks \"%s\"", i, cases[i].doc, rc, d.msg,
               cases[i].needle);
  }
}

static void test_policy_bad_json_is_ejson(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  char scope[SHOAL_SCOPE_MAX];
  assert_int_equal(shoal_policy_validate("{\"scope\":", 9, scope, &d), SHOAL_EJSON);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_full_pricing_doc_passes),
      cmocka_unit_test(test_policy_bad_pricing_docs_are_refused_naming_the_problem),
      cmocka_unit_test(test_policy_bad_json_is_ejson),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
