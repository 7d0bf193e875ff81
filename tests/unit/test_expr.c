/* test_expr.c - the expression language (SPEC 6): precedence, null rules,
 * exact decimals, strings, lists and `in`, functions, truth, dotted names,
 * the names an expression references, and parse-error positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/expr.h"
#include "shoal/shoal_limits.h"

/* Evaluates text against env (JSON text or NULL) and returns the result
 * printed as compact JSON (numbers as exact decimal text); caller frees. */
static char *ev(const char *text, const char *env_json) {
  shoal_diag d = {{0}};
  shoal_expr *e = NULL;
  shoal_err rc = shoal_expr_compile(text, &e, &d);
  if (rc != SHOAL_OK)
    fail_msg("compile %s: %s", text, d.msg);
  cJSON *env = env_json ? cJSON_Parse(env_json) : NULL;
  if (env_json)
    assert_non_null(env);
  cJSON *out = NULL;
  rc = shoal_expr_eval(e, env, &out, &d);
  if (rc != SHOAL_OK)
    fail_msg("eval %s: %s", text, d.msg);
  char *s = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  cJSON_Delete(env);
  shoal_expr_free(e);
  return s;
}

static void check(const char *text, const char *env, const char *want) {
  char *got = ev(text, env);
  if (strcmp(got, want) != 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s => %s, want %s", text, got, want);
    free(got);
    fail_msg("%s", msg);
  }
  free(got);
}

static bool truth(const char *text, const char *env_json) {
  shoal_diag d = {{0}};
  shoal_expr *e = NULL;
  if (shoal_expr_compile(text, &e, &d) != SHOAL_OK)
    fail_msg("compile %s: %s", text, d.msg);
  cJSON *env = env_json ? cJSON_Parse(env_json) : NULL;
  bool r = false;
  assert_int_equal(shoal_expr_test(e, env, &r, &d), SHOAL_OK);
  cJSON_Delete(env);
  shoal_expr_free(e);
  return r;
}

/* Expects a compile error whose message starts with want_prefix. */
static void parse_error(const char *text, const char *want_prefix) {
  shoal_diag d = {{0}};
  shoal_expr *e = NULL;
  shoal_err rc = shoal_expr_compile(text, &e, &d);
  if (rc == SHOAL_OK) {
    shoal_expr_free(e);
    fail_msg("%s compiled, want error %s", text, want_prefix);
  }
  assert_int_equal(rc, SHOAL_EINPUT);
  if (strncmp(d.msg, want_prefix, strlen(want_prefix)) != 0)
    fail_msg("%s: error \"%s\", want prefix \"%s\"", text, d.msg, want_prefix);
}

static void test_expr_precedence(void **state) {
  (void)state;
  check("1 + 2 * 3", NULL, "7");
  check("(1 + 2) * 3", NULL, "9");
  check("10 - 4 - 3", NULL, "3"); /* left associative */
  check("2 * 3 - 4 / 2", NULL, "4.000000");
  check("-2 * 3", NULL, "-6");
  check("- -2", NULL, "2");
  check("-(1 + 2) * 2", NULL, "-6");
  /* or < and < not < comparison */
  check("true or false and false", NULL, "true");
  check("(true or false) and false", NULL, "false");
  check("not 1 == 2", NULL, "true"); /* not (1 == 2) */
  check("not true or true", NULL, "true");
  check("not true and false", NULL, "false");
  check("1 + 1 == 2 and 2 * 2 == 4", NULL, "true");
  check("'a' in ['a'] and not 'b' in ['a']", NULL, "true");
  check("1 + 2 in [3]", NULL, "true"); /* + binds tighter than in */
}

static void test_expr_null_rules(void **state) {
  (void)state;
  check("missing", "{}", "null");
  check("missing == null", "{}", "true");
  check("null == null", NULL, "true");
  check("0 == null", NULL, "false");
  check("'' == null", NULL, "false");
  check("missing != 1", "{}", "true");
  /* ordering comparisons with null (or mixed types) are false both ways */
  check("missing < 60", "{}", "false");
  check("missing >= 60", "{}", "false");
  check("'5' < 6", NULL, "false");
  check("'5' >= 6", NULL, "false");
  /* arithmetic on null or mixed types gives null */
  check("missing + 1", "{}", "null");
  check("'a' + 1", NULL, "null");
  check("-'a'", NULL, "null");
  check("1 / 0", NULL, "null");
  /* truth */
  assert_false(truth("missing", "{}"));
  assert_false(truth("0", NULL));
  assert_false(truth("0.00", NULL));
  assert_false(truth("''", NULL));
  assert_false(truth("[]", NULL));
  assert_false(truth("false", NULL));
  assert_true(truth("'0'", NULL));
  assert_true(truth("[0]", NULL));
  assert_true(truth("0.01", NULL));
  check("missing or 'x'", "{}", "true");
  check("missing and true", "{}", "false");
  check("not missing", "{}", "true");
}

static void test_expr_decimals_exact(void **state) {
  (void)state;
  check("0.1 + 0.2 == 0.3", NULL, "true");
  check("0.1 + 0.2", NULL, "0.3");
  check("1.10 + 2.205", NULL, "3.305");
  check("1.5 * 2.0", NULL, "3.00");
  check("19.99 * 3", NULL, "59.97");
  check("1 == 1.000", NULL, "true");
  check("2.5 > 2.49", NULL, "true");
  check("-1.5 < -1.2", NULL, "true");
  check("-0.5 < 0.2", NULL, "true");
  /* division keeps 6 places, half up (away from zero) */
  check("1 / 3", NULL, "0.333333");
  check("2 / 3", NULL, "0.666667");
  check("-2 / 3", NULL, "-0.666667");
  check("1 / 8", NULL, "0.125000");
  check("0.0000005 / 1", NULL, "0.000001");
  check("0.0000004 / 1", NULL, "0.000000");
  check("-0.0000005 / 1", NULL, "-0.000001");
  check("10 / 4 == 2.5", NULL, "true");
  check("1 / 3 * 3", NULL, "0.999999");
  /* decimals from the environment: raw text exact, doubles via shortest text */
  cJSON *env = cJSON_CreateObject();
  cJSON_AddItemToObject(env, "t", cJSON_CreateRaw("-18.5"));
  cJSON_AddNumberToObject(env, "q", 3);
  cJSON_AddNumberToObject(env, "f", 0.1);
  shoal_diag d = {{0}};
  shoal_expr *e = NULL;
  assert_int_equal(shoal_expr_compile("t * q + f == -55.4", &e, &d), SHOAL_OK);
  bool r = false;
  assert_int_equal(shoal_expr_test(e, env, &r, &d), SHOAL_OK);
  assert_true(r);
  shoal_expr_free(e);
  cJSON_Delete(env);
  /* overflow gives null, not a wrong number */
  check("100000000000000000000 * 100000000000000000000", NULL, "null");
}

static void test_expr_strings(void **state) {
  (void)state;
  check("'ab' + \"cd\"", NULL, "\"abcd\"");
  check("'it\\'s'", NULL, "\"it's\"");
  check("\"say 'hi'\"", NULL, "\"say 'hi'\"");
  check("'a' == 'a'", NULL, "true");
  check("'a' == \"a\"", NULL, "true");
  check("'a' != 'A'", NULL, "true");
  check("'abc' < 'abd'", NULL, "true");
  check("'2026-01-01' <= '2026-11-25'", NULL, "true");
  check("'ab' < 'abc'", NULL, "true");
  check("'1' == 1", NULL, "false"); /* type and value */
  check("true == 1", NULL, "false");
  check("name + '!'", "{\"name\":\"x\"}", "\"x!\"");
}

static void test_expr_lists_and_in(void **state) {
  (void)state;
  const char *env = "{\"area\":[\"kitchen\",\"storage\"],\"n\":2}";
  check("'storage' in area", env, "true");
  check("'toilet' in area", env, "false");
  check("'toilet' not in area", env, "true");
  check("'x' in missing", env, "false");
  check("2 in [1, 2.0, 3]", NULL, "true");
  check("'2' in [1, 2, 3]", NULL, "false");
  check("n in [1, n]", env, "true");
  check("[1, 'a'] == [1, 'a']", NULL, "true");
  check("[1, 'a'] == ['a', 1]", NULL, "false");
  check("['a', [1]]", NULL, "[\"a\",[1]]");
  check("[]", NULL, "[]");
  check("'ell' in 'hello'", NULL, "true");
  check("null in [null]", NULL, "true");
}

static void test_expr_functions(void **state) {
  (void)state;
  const char *env = "{\"area\":[\"a\",\"b\",\"c\"],\"s\":\"héllo\",\"e\":\"\"}";
  check("len(area)", env, "3");
  check("len(s)", env, "5"); /* characters, not bytes */
  check("len('')", NULL, "0");
  check("len(missing)", env, "0");
  check("len(1)", NULL, "null");
  check("len(area) > 1", env, "true");
  check("contains(s, 'llo')", env, "true");
  check("contains(s, 'x')", env, "false");
  check("contains(missing, 'x')", env, "false");
  check("contains(area, 'b')", env, "true");
  check("empty(missing)", env, "true");
  check("empty(e)", env, "true");
  check("empty([])", env, "true");
  check("empty(s)", env, "false");
  check("empty(0)", env, "false");
  check("empty(false)", env, "false");
}

static void test_expr_dotted_names(void **state) {
  (void)state;
  const char *env = "{\"customer\":{\"tier\":\"gold\",\"tags\":[\"vip\"]},\"a.b\":1}";
  check("customer.tier", env, "\"gold\"");
  check("customer.tier == 'gold' and 'vip' in customer.tags", env, "true");
  check("customer.missing", env, "null");
  check("a.b", env, "1"); /* a key with a dot wins */
  check("customer.tier.x", env, "null");
}

static void test_expr_names_listed(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  shoal_expr *e = NULL;
  assert_int_equal(
      shoal_expr_compile("score < 60 and len(area) > 1 or score == 0 or customer.tier", &e, &d),
      SHOAL_OK);
  assert_int_equal(shoal_expr_name_count(e), 3);
  assert_string_equal(shoal_expr_name_at(e, 0), "score");
  assert_string_equal(shoal_expr_name_at(e, 1), "area");
  assert_string_equal(shoal_expr_name_at(e, 2), "customer.tier");
  assert_null(shoal_expr_name_at(e, 3));
  assert_string_equal(shoal_expr_text(e),
                      "score < 60 and len(area) > 1 or score == 0 or customer.tier");
  shoal_expr_free(e);
  /* literals and function names are not names */
  assert_int_equal(shoal_expr_compile("len('x') == 1 and true and null == null", &e, &d), SHOAL_OK);
  assert_int_equal(shoal_expr_name_count(e), 0);
  shoal_expr_free(e);
}

static void test_expr_parse_errors(void **state) {
  (void)state;
  parse_error("issue ==", "at column 9: expected a value, found end of expression");
  parse_error("a = 1", "at column 3: expected '=='");
  parse_error("(a", "at column 3: expected ')'");
  parse_error("a b", "at column 3: expected an operator or end of expression, found 'b'");
  parse_error("'abc", "at column 1: unterminated string");
  parse_error("", "at column 1: expected an expression");
  parse_error("a # b", "at column 3: expected a value or an operator, found '#'");
  parse_error("foo(1)", "at column 1: expected a function len, contains or empty");
  parse_error("len(1, 2)", "at column 6: expected ')'");
  parse_error("contains(1)", "at column 11: expected ','");
  parse_error("1 < 2 < 3", "at column 7: expected 'and', 'or' or end of expression");
  parse_error("[1, 2", "at column 6: expected ',' or ']'");
  parse_error("a.", "at column 3: expected a name after '.'");
  parse_error("x not 1", "at column 7: expected 'in' after 'not'");
  parse_error("a and", "at column 6: expected a value");
  /* the column counts characters, not bytes */
  parse_error("'é' ==", "at column 7: expected a value");
  parse_error("'é' = 1", "at column 5: expected '=='");
}

static void test_expr_limits(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  shoal_expr *e = NULL;
  char deep[400];
  size_t n = 0;
  for (int i = 0; i < 150; i++)
    deep[n++] = '(';
  deep[n++] = '1';
  for (int i = 0; i < 150; i++)
    deep[n++] = ')';
  deep[n] = '\0';
  assert_int_equal(shoal_expr_compile(deep, &e, &d), SHOAL_ELIMIT);
  char *big = malloc(SHOAL_EXPR_MAX_BYTES + 2);
  memset(big, '1', SHOAL_EXPR_MAX_BYTES + 1);
  big[SHOAL_EXPR_MAX_BYTES + 1] = '\0';
  assert_int_equal(shoal_expr_compile(big, &e, &d), SHOAL_ELIMIT);
  free(big);
  /* string doubling hits the evaluation memory bound, not the heap */
  cJSON *env = cJSON_CreateObject();
  char *s = malloc(300001);
  memset(s, 'x', 300000);
  s[300000] = '\0';
  cJSON_AddStringToObject(env, "s", s);
  free(s);
  assert_int_equal(shoal_expr_compile("s + s + s + s + s + s + s", &e, &d), SHOAL_OK);
  cJSON *out = NULL;
  assert_int_equal(shoal_expr_eval(e, env, &out, &d), SHOAL_ELIMIT);
  shoal_expr_free(e);
  cJSON_Delete(env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expr_precedence),     cmocka_unit_test(test_expr_null_rules),
      cmocka_unit_test(test_expr_decimals_exact), cmocka_unit_test(test_expr_strings),
      cmocka_unit_test(test_expr_lists_and_in),   cmocka_unit_test(test_expr_functions),
      cmocka_unit_test(test_expr_dotted_names),   cmocka_unit_test(test_expr_names_listed),
      cmocka_unit_test(test_expr_parse_errors),   cmocka_unit_test(test_expr_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
