/* test_jsonx.c - the strict JSON layer refuses what would be read one way
 * and stored another (issue 16): a string or key holding NUL (cJSON would
 * silently cut "MT-001\u0000X" to "MT-001"), text that is not UTF-8, raw
 * control characters, and an object naming one key twice (also when one
 * spelling is escaped: "sku" and "\u0073ku"). Valid documents still parse.
 * And the one JSON skipper (shoal_json_skip_value): exact ends, truncated
 * text refused, nesting bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/forms.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/wire.h"

static shoal_err parse_n(const char *text, size_t len, shoal_diag *d) {
  cJSON *root = NULL;
  shoal_err rc = shoal_json_parse(text, len, &root, d);
  if (rc == SHOAL_OK)
    assert_non_null(root);
  else
    assert_null(root);
  cJSON_Delete(root);
  return rc;
}

static shoal_err parse(const char *text, shoal_diag *d) {
  return parse_n(text, strlen(text), d);
}

static void test_jsonx_refuses_escaped_nul(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  assert_int_equal(parse("{\"sku\":\"MT-001\\u0000X\"}", &d), SHOAL_EJSON);
  assert_non_null(strstr(d.msg, "NUL"));
  assert_int_equal(parse("{\"sku\\u0000x\":\"MT-001\"}", &d), SHOAL_EJSON);
  assert_int_equal(parse("[\"\\u0000\"]", &d), SHOAL_EJSON);
  /* An escaped backslash followed by u0000 is the text "\u0000", not NUL. */
  assert_int_equal(parse("{\"sku\":\"MT\\\\u0000\"}", &d), SHOAL_OK);
}

static void test_jsonx_refuses_raw_nul_and_control(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  static const char nul_in_string[] = "{\"sku\":\"MT-001\0X\"}";
  assert_int_equal(parse_n(nul_in_string, sizeof nul_in_string - 1, &d), SHOAL_EJSON);
  static const char nul_after[] = "{\"sku\":\"MT-001\"}\0{\"x\":1}";
  assert_int_equal(parse_n(nul_after, sizeof nul_after - 1, &d), SHOAL_EJSON);
  assert_int_equal(parse("{\"sku\":\"MT\x01\"}", &d), SHOAL_EJSON);
  assert_int_equal(parse("{\"note\":\"a\tb\"}", &d), SHOAL_EJSON);
}

static void test_jsonx_refuses_invalid_utf8(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  assert_int_equal(parse("{\"id\":\"a\xff\"}", &d), SHOAL_EJSON);
  assert_non_null(strstr(d.msg, "UTF-8"));
  assert_int_equal(parse("{\"id\":\"\xc0\xaf\"}", &d), SHOAL_EJSON);         /* overlong '/' */
  assert_int_equal(parse("{\"id\":\"\xed\xa0\x80\"}", &d), SHOAL_EJSON);     /* a surrogate */
  assert_int_equal(parse("{\"id\":\"\xf4\x90\x80\x80\"}", &d), SHOAL_EJSON); /* > U+10FFFF */
  assert_int_equal(parse("{\"id\":\"\xe4\xbb\"}", &d), SHOAL_EJSON);         /* truncated */
  assert_int_equal(parse("{\"id\":\"\\ud800\"}", &d), SHOAL_EJSON);          /* lone surrogate */
  /* Valid text of every width parses. */
  assert_int_equal(parse("{\"name\":\"\xe4\xbb\xb7\xe6\xa0\xbc \xc3\xa9 \xf0\x9f\x98\x80\","
                         "\"e\":\"\\u00e9\\ud83d\\ude00\"}",
                         &d),
                   SHOAL_OK);
}

static void test_jsonx_refuses_duplicate_keys(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  assert_int_equal(parse("{\"sku\":\"A\",\"sku\":\"B\"}", &d), SHOAL_EJSON);
  assert_non_null(strstr(d.msg, "duplicate key \"sku\""));
  assert_int_equal(parse("{\"sku\":\"A\",\"\\u0073ku\":\"B\"}", &d), SHOAL_EJSON);
  assert_int_equal(parse("{\"a\":[{\"x\":1,\"y\":2,\"x\":3}]}", &d), SHOAL_EJSON);
  /* Many keys (the sorted path) with one duplicate at the end. */
  char big[8192];
  size_t o = 0;
  o += (size_t)snprintf(big + o, sizeof big - o, "{");
  for (int i = 0; i < 200; i++)
    o += (size_t)snprintf(big + o, sizeof big - o, "\"k%d\":%d,", i, i);
  snprintf(big + o, sizeof big - o, "\"k17\":0}");
  assert_int_equal(parse(big, &d), SHOAL_EJSON);
  big[o] = '\0';
  snprintf(big + o, sizeof big - o, "\"k200\":0}");
  assert_int_equal(parse(big, &d), SHOAL_OK);
  /* The same key in different objects is fine. */
  assert_int_equal(parse("{\"a\":{\"x\":1},\"b\":{\"x\":1},\"x\":[{\"x\":2}]}", &d), SHOAL_OK);
}

static void test_jsonx_form_data_is_as_strict(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  const char *dup = "{\"qty\":1,\"\\u0071ty\":2}";
  assert_int_equal(shoal_forms_data_parse(dup, strlen(dup), &out, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "duplicate key \"qty\""));
  assert_null(out);
  const char *nul = "{\"serial\":\"SN1\\u0000evil\"}";
  assert_int_equal(shoal_forms_data_parse(nul, strlen(nul), &out, &d), SHOAL_EJSON);
  const char *ok = "{\"serial\":\"SN1\",\"qty\":2}";
  assert_int_equal(shoal_forms_data_parse(ok, strlen(ok), &out, &d), SHOAL_OK);
  cJSON_Delete(out);
}

static void test_jsonx_event_with_nul_is_refused(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  const char *e = "{\"v\":1,\"device\":\"pos1\",\"store\":\"s1\",\"epoch\":\"7\",\"seq\":1,"
                  "\"hlc\":1,\"type\":\"sale\",\"body\":{\"receipt\":\"R\\u0000X\"}}";
  assert_int_equal(shoal_event_decode(e, strlen(e), &ev, &d), SHOAL_EJSON);
  const char *dev = "{\"v\":1,\"device\":\"pos1\",\"store\":\"s1\",\"epoch\":\"7\",\"seq\":1,"
                    "\"hlc\":1,\"type\":\"sale\",\"body\":{},\"\\u0064evice\":\"pos2\"}";
  assert_int_equal(shoal_event_decode(dev, strlen(dev), &ev, &d), SHOAL_EJSON);
}

/* Skips the value at the start of text; returns how many bytes it took,
 * or -1 when shoal_json_skip_value refuses it. */
static long skipped(const char *text) {
  const char *end = text + strlen(text);
  const char *q = shoal_json_skip_value(text, end);
  if (!q)
    return -1;
  assert_true(q > text && q <= end);
  return (long)(q - text);
}

/* The one skipper finds a value's exact end: nested containers, brackets
 * and quotes inside strings, escaped quotes and backslashes, scalars that
 * end at a separator or whitespace. */
static void test_jsonx_skip_value_finds_the_end(void **state) {
  (void)state;
  assert_int_equal(skipped("{\"a\":{\"b\":[1,{\"c\":[]}]},\"d\":2} tail"), 30);
  assert_int_equal(skipped("[[],[[]],{}],9"), 12);
  assert_int_equal(skipped("\"plain\",1"), 7);
  assert_int_equal(skipped("\"say \\\"hi\\\" }]\" ,"), 15); /* "say \"hi\" }]" */
  assert_int_equal(skipped("\"ends in \\\\\"x"), 12);       /* "ends in \\" */
  assert_int_equal(skipped("{\"k\":\"}\\\"]{\"}x"), 13);    /* braces inside a string */
  assert_int_equal(skipped("-12.5e3,"), 7);
  assert_int_equal(skipped("true}"), 4);
  assert_int_equal(skipped("null"), 4);  /* a scalar may end the text */
  assert_int_equal(skipped("42\t,"), 2); /* whitespace ends a scalar */
  assert_int_equal(skipped("{\"a\" : [ 1 , 2 ] }  "), 18);
}

/* Text that ends inside a value, or that does not start with one, is
 * refused (NULL) rather than skipped past its end. */
static void test_jsonx_skip_value_refuses_truncated(void **state) {
  (void)state;
  assert_int_equal(skipped("{\"a\":[1,2]"), -1);
  assert_int_equal(skipped("[[[]]"), -1);
  assert_int_equal(skipped("\"unterminated"), -1);
  assert_int_equal(skipped("\"escape at the end\\"), -1);
  assert_int_equal(skipped("{\"k\":\"open}"), -1); /* the brace is inside a string */
  assert_int_equal(skipped(""), -1);
  assert_int_equal(skipped("}"), -1);
  assert_int_equal(skipped(",1"), -1);
  assert_int_equal(skipped(" 1"), -1); /* no leading whitespace: the caller skips it */
  const char *t = "[1,2]";
  assert_null(shoal_json_skip_value(t, t + 4)); /* end cuts the array short */
  assert_null(shoal_json_skip_value(t, t));
  assert_null(shoal_json_skip_value(NULL, t));
}

/* Nesting is followed to SHOAL_JSON_MAX_DEPTH and refused past it. */
static void test_jsonx_skip_value_depth_limit(void **state) {
  (void)state;
  size_t n = SHOAL_JSON_MAX_DEPTH + 1;
  char *text = malloc(2 * n + 1);
  assert_non_null(text);
  memset(text, '[', n - 1);
  memset(text + n - 1, ']', n - 1);
  text[2 * (n - 1)] = '\0';
  assert_int_equal(skipped(text), (long)(2 * (n - 1))); /* exactly the limit */
  memset(text, '[', n);
  memset(text + n, ']', n);
  text[2 * n] = '\0';
  assert_int_equal(skipped(text), -1); /* one deeper */
  for (size_t i = 0; i < n; i++)       /* the same depth inside strings is not nesting */
    text[i] = '{';
  text[0] = '"';
  memset(text + n, ' ', n);
  text[n] = '"';
  text[n + 1] = '\0';
  assert_int_equal(skipped(text), (long)n + 1);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jsonx_refuses_escaped_nul),
      cmocka_unit_test(test_jsonx_refuses_raw_nul_and_control),
      cmocka_unit_test(test_jsonx_refuses_invalid_utf8),
      cmocka_unit_test(test_jsonx_refuses_duplicate_keys),
      cmocka_unit_test(test_jsonx_form_data_is_as_strict),
      cmocka_unit_test(test_jsonx_event_with_nul_is_refused),
      cmocka_unit_test(test_jsonx_skip_value_finds_the_end),
      cmocka_unit_test(test_jsonx_skip_value_refuses_truncated),
      cmocka_unit_test(test_jsonx_skip_value_depth_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
