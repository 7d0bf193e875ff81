/* test_forms.c - the form engine (SPEC 6): every validation rule (hidden,
 * default, required as bool and expression, each type, choices, pattern,
 * min/max, min_len/max_len, one error per field, unknown keys last), the
 * cleaned data, data parsing, the scope-chain lookup, on_submit, and the
 * policy checks that refuse bad forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/forms.h"
#include "shoal/policy.h"

static shoal_form *compile(const char *def_json) {
  cJSON *def = cJSON_Parse(def_json);
  if (!def)
    fail_msg("bad test JSON: %s", def_json);
  shoal_form *f = NULL;
  shoal_diag d = {{0}};
  if (shoal_form_compile(def, &f, &d) != SHOAL_OK)
    fail_msg("compile: %s", d.msg);
  cJSON_Delete(def);
  return f;
}

/* Validates data_json against a one-form definition and compares the
 * printed {"valid","errors","data"} with want. */
static void check(const char *def_json, const char *data_json, const char *want) {
  shoal_form *f = compile(def_json);
  cJSON *data = NULL;
  shoal_diag d = {{0}};
  if (shoal_forms_data_parse(data_json, strlen(data_json), &data, &d) != SHOAL_OK)
    fail_msg("data: %s", d.msg);
  struct shoal_form_result r = {0};
  assert_int_equal(shoal_form_validate(f, data, &r, &d), SHOAL_OK);
  cJSON *out = shoal_form_result_json(&r);
  char *got = cJSON_PrintUnformatted(out);
  if (strcmp(got, want) != 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "data %s\n got %s\nwant %s", data_json, got, want);
    free(got);
    fail_msg("%s", msg);
  }
  free(got);
  cJSON_Delete(out);
  shoal_form_result_cleanup(&r);
  cJSON_Delete(data);
  shoal_form_free(f);
}

/* Expects the definition to be refused with a message containing want. */
static void refused(const char *def_json, const char *want) {
  cJSON *def = cJSON_Parse(def_json);
  if (!def)
    fail_msg("bad test JSON: %s", def_json);
  shoal_form *f = NULL;
  shoal_diag d = {{0}};
  shoal_err rc = shoal_form_compile(def, &f, &d);
  cJSON_Delete(def);
  if (rc == SHOAL_OK) {
    shoal_form_free(f);
    fail_msg("accepted, want refusal with \"%s\": %s", want, def_json);
  }
  if (!strstr(d.msg, want))
    fail_msg("error \"%s\" does not contain \"%s\"", d.msg, want);
}

#define FORM(fields) "{\"id\":\"f\",\"version\":1,\"title\":\"T\",\"fields\":[" fields "]}"
#define OK(data)     "{\"valid\":true,\"errors\":[],\"data\":" data "}"

static void test_forms_hidden_field_dropped(void **state) {
  (void)state;
  const char *def =
      FORM("{\"id\":\"kind\",\"type\":\"choice\",\"choices\":[\"a\",\"b\"]},"
           "{\"id\":\"x\",\"type\":\"int\",\"visible_if\":\"kind == 'b'\",\"required\":true},"
           "{\"id\":\"y\",\"type\":\"text\",\"required\":\"x == null\"}");
  /* hidden: a bad value is neither checked nor kept, and x is null later */
  check(def, "{\"kind\":\"a\",\"x\":\"junk\",\"y\":\"t\"}", OK("{\"kind\":\"a\",\"y\":\"t\"}"));
  check(def, "{\"kind\":\"a\",\"x\":5}",
        "{\"valid\":false,\"errors\":[{\"field\":\"y\",\"code\":\"required\"}],\"data\":{\"kind\":"
        "\"a\"}}");
  /* visible: checked */
  check(def, "{\"kind\":\"b\",\"x\":\"junk\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"x\",\"code\":\"type\"},"
        "{\"field\":\"y\",\"code\":\"required\"}],\"data\":{\"kind\":\"b\"}}");
  /* kind missing: null, so x is hidden */
  check(def, "{\"y\":\"t\"}", OK("{\"y\":\"t\"}"));
}

static void test_forms_default_applies_to_absent_only(void **state) {
  (void)state;
  const char *def =
      FORM("{\"id\":\"qty\",\"type\":\"int\",\"min\":1,\"default\":1,\"required\":true},"
           "{\"id\":\"big\",\"type\":\"bool\",\"visible_if\":\"qty > 1\",\"default\":false}");
  check(def, "{}", OK("{\"qty\":1}"));
  check(def, "{\"qty\":5}", OK("{\"qty\":5,\"big\":false}"));
  /* null is given, not absent: no default, so required */
  check(def, "{\"qty\":null}",
        "{\"valid\":false,\"errors\":[{\"field\":\"qty\",\"code\":\"required\"}],\"data\":{}}");
}

static void test_forms_required_bool_and_expression(void **state) {
  (void)state;
  const char *def = FORM("{\"id\":\"a\",\"type\":\"text\",\"required\":true},"
                         "{\"id\":\"b\",\"type\":\"text\",\"required\":false},"
                         "{\"id\":\"c\",\"type\":\"text\",\"required\":\"a == 'yes'\"},"
                         "{\"id\":\"d\",\"type\":\"multi\",\"choices\":[\"x\"],\"required\":true}");
  check(def, "{\"a\":\"no\",\"d\":[\"x\"]}", OK("{\"a\":\"no\",\"d\":[\"x\"]}"));
  /* empty is absent, null, "" or [] */
  check(def, "{\"a\":\"\",\"b\":\"\",\"d\":[]}",
        "{\"valid\":false,\"errors\":[{\"field\":\"a\",\"code\":\"required\"},"
        "{\"field\":\"d\",\"code\":\"required\"}],\"data\":{}}");
  check(def, "{\"a\":\"yes\",\"c\":null,\"d\":[\"x\"]}",
        "{\"valid\":false,\"errors\":[{\"field\":\"c\",\"code\":\"required\"}],"
        "\"data\":{\"a\":\"yes\",\"d\":[\"x\"]}}");
  /* false and 0 are not empty */
  check(FORM("{\"id\":\"b\",\"type\":\"bool\",\"required\":true},{\"id\":\"n\",\"type\":\"int\","
             "\"required\":true}"),
        "{\"b\":false,\"n\":0}", OK("{\"b\":false,\"n\":0}"));
}

static void test_forms_types(void **state) {
  (void)state;
  const char *def = FORM("{\"id\":\"t\",\"type\":\"text\"},{\"id\":\"i\",\"type\":\"int\"},"
                         "{\"id\":\"dec\",\"type\":\"decimal\"},{\"id\":\"b\",\"type\":\"bool\"},"
                         "{\"id\":\"c\",\"type\":\"choice\",\"choices\":[\"1\",\"x\"]},"
                         "{\"id\":\"m\",\"type\":\"multi\",\"choices\":[\"x\",\"y\"]},"
                         "{\"id\":\"dt\",\"type\":\"date\"},{\"id\":\"p\",\"type\":\"phone\"},"
                         "{\"id\":\"s\",\"type\":\"scan\"},{\"id\":\"ph\",\"type\":\"photo\"}");
  check(def,
        "{\"t\":\"hi\",\"i\":-7,\"dec\":\"-12.50\",\"b\":true,\"c\":\"x\",\"m\":[\"y\",\"x\"],"
        "\"dt\":\"2024-02-29\",\"p\":\"+8613800138000\",\"s\":\"6901234567892\",\"ph\":\"blob:1\"}",
        OK("{\"t\":\"hi\",\"i\":-7,\"dec\":\"-12.50\",\"b\":true,\"c\":\"x\",\"m\":[\"y\",\"x\"],"
           "\"dt\":\"2024-02-29\",\"p\":\"+8613800138000\",\"s\":\"6901234567892\",\"ph\":\"blob:"
           "1\"}"));
  const char *bad =
      "{\"t\":5,\"i\":\"3\",\"dec\":12.5,\"b\":\"true\",\"c\":1,\"m\":\"x\",\"dt\":\"2023-02-29\","
      "\"p\":\"1234\",\"s\":[\"a\"],\"ph\":{}}";
  check(def, bad,
        "{\"valid\":false,\"errors\":[{\"field\":\"t\",\"code\":\"type\"},{\"field\":\"i\","
        "\"code\":\"type\"},"
        "{\"field\":\"dec\",\"code\":\"type\"},{\"field\":\"b\",\"code\":\"type\"},"
        "{\"field\":\"c\",\"code\":\"type\"},{\"field\":\"m\",\"code\":\"type\"},"
        "{\"field\":\"dt\",\"code\":\"type\"},{\"field\":\"p\",\"code\":\"type\"},"
        "{\"field\":\"s\",\"code\":\"type\"},{\"field\":\"ph\",\"code\":\"type\"}],\"data\":{}}");
  /* int: 3.0, 3.5, 1e2 and true are not JSON integers */
  const char *idef = FORM("{\"id\":\"i\",\"type\":\"int\"}");
  const char *itype =
      "{\"valid\":false,\"errors\":[{\"field\":\"i\",\"code\":\"type\"}],\"data\":{}}";
  check(idef, "{\"i\":3.0}", itype);
  check(idef, "{\"i\":3.5}", itype);
  check(idef, "{\"i\":1e2}", itype);
  check(idef, "{\"i\":true}", itype);
  check(idef, "{\"i\":12345678901234567890}", OK("{\"i\":12345678901234567890}"));
  /* decimal text shapes */
  const char *ddef = FORM("{\"id\":\"d\",\"type\":\"decimal\"}");
  const char *dtype =
      "{\"valid\":false,\"errors\":[{\"field\":\"d\",\"code\":\"type\"}],\"data\":{}}";
  check(ddef, "{\"d\":\"12.\"}", dtype);
  check(ddef, "{\"d\":\".5\"}", dtype);
  check(ddef, "{\"d\":\"1e3\"}", dtype);
  check(ddef, "{\"d\":\"+1\"}", dtype);
  check(ddef, "{\"d\":\"7\"}", OK("{\"d\":\"7\"}"));
  /* dates are real calendar dates written YYYY-MM-DD */
  const char *tdef = FORM("{\"id\":\"d\",\"type\":\"date\"}");
  check(tdef, "{\"d\":\"2026-2-03\"}", dtype);
  check(tdef, "{\"d\":\"2026-13-01\"}", dtype);
  check(tdef, "{\"d\":\"2026-11-25T10:00\"}", dtype);
  /* phone: optional +, 5 to 20 digits */
  const char *pdef = FORM("{\"id\":\"d\",\"type\":\"phone\"}");
  check(pdef, "{\"d\":\"12345\"}", OK("{\"d\":\"12345\"}"));
  check(pdef, "{\"d\":\"+123456789012345678901\"}", dtype);
  check(pdef, "{\"d\":\"138 0013 8000\"}", dtype);
  /* multi: an array of strings */
  check(FORM("{\"id\":\"d\",\"type\":\"multi\",\"choices\":[\"1\"]}"), "{\"d\":[1]}", dtype);
}

static void test_forms_choices_plain_and_labelled(void **state) {
  (void)state;
  const char *def = FORM(
      "{\"id\":\"c\",\"type\":\"choice\",\"choices\":[{\"value\":\"m\",\"label\":\"Monthly\"},"
      "\"cod\"]},"
      "{\"id\":\"m\",\"type\":\"multi\",\"choices\":[\"a\",{\"value\":\"b\",\"label\":\"B\"}]},"
      "{\"id\":\"t\",\"type\":\"text\",\"choices\":[\"only\"]}");
  check(def, "{\"c\":\"m\",\"m\":[\"b\",\"a\"],\"t\":\"only\"}",
        OK("{\"c\":\"m\",\"m\":[\"b\",\"a\"],\"t\":\"only\"}"));
  check(def, "{\"c\":\"cod\"}", OK("{\"c\":\"cod\"}"));
  /* a label is not a value; one bad element fails the whole multi */
  check(
      def, "{\"c\":\"Monthly\",\"m\":[\"a\",\"B\"],\"t\":\"other\"}",
      "{\"valid\":false,\"errors\":[{\"field\":\"c\",\"code\":\"choice\"},"
      "{\"field\":\"m\",\"code\":\"choice\"},{\"field\":\"t\",\"code\":\"choice\"}],\"data\":{}}");
}

static void test_forms_pattern_posix_ere(void **state) {
  (void)state;
  const char *def = FORM("{\"id\":\"o\",\"type\":\"scan\",\"pattern\":\"^SO[0-9]{8}$\"},"
                         "{\"id\":\"t\",\"type\":\"text\",\"pattern\":\"(ab)+|x\"},"
                         "{\"id\":\"p\",\"type\":\"phone\",\"pattern\":\"^\\\\+86\"}");
  check(def, "{\"o\":\"SO20261122\",\"t\":\"zzabab\",\"p\":\"+8613800138000\"}",
        OK("{\"o\":\"SO20261122\",\"t\":\"zzabab\",\"p\":\"+8613800138000\"}"));
  check(def, "{\"o\":\"SO2026112\",\"t\":\"ba\",\"p\":\"+4413800138000\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"o\",\"code\":\"pattern\"},"
        "{\"field\":\"t\",\"code\":\"pattern\"},{\"field\":\"p\",\"code\":\"pattern\"}],\"data\":{}"
        "}");
  /* type is checked before the pattern */
  check(def, "{\"p\":\"86-138\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"p\",\"code\":\"type\"}],\"data\":{}}");
}

static void test_forms_min_max_numbers_and_dates(void **state) {
  (void)state;
  const char *def =
      FORM("{\"id\":\"i\",\"type\":\"int\",\"min\":-5,\"max\":99},"
           "{\"id\":\"d\",\"type\":\"decimal\",\"min\":\"-30\",\"max\":\"10\"},"
           "{\"id\":\"e\",\"type\":\"decimal\",\"min\":0.5},"
           "{\"id\":\"t\",\"type\":\"date\",\"min\":\"2026-01-01\",\"max\":\"2026-12-31\"}");
  check(def, "{\"i\":-5,\"d\":\"10.000\",\"e\":\"0.50\",\"t\":\"2026-12-31\"}",
        OK("{\"i\":-5,\"d\":\"10.000\",\"e\":\"0.50\",\"t\":\"2026-12-31\"}"));
  check(def, "{\"i\":-6,\"d\":\"-30.0000000000000000001\",\"e\":\"0.4999\",\"t\":\"2025-12-31\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"i\",\"code\":\"min\"},{\"field\":\"d\",\"code\":"
        "\"min\"},"
        "{\"field\":\"e\",\"code\":\"min\"},{\"field\":\"t\",\"code\":\"min\"}],\"data\":{}}");
  check(def, "{\"i\":100,\"d\":\"10.0000000000000000001\",\"t\":\"2027-01-01\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"i\",\"code\":\"max\"},{\"field\":\"d\",\"code\":"
        "\"max\"},"
        "{\"field\":\"t\",\"code\":\"max\"}],\"data\":{}}");
  check(def, "{\"d\":\"-0\",\"i\":0}", OK("{\"i\":0,\"d\":\"-0\"}"));
  check(def, "{\"d\":\"-18.5\"}", OK("{\"d\":\"-18.5\"}"));
  check(def, "{\"d\":\"007\"}", OK("{\"d\":\"007\"}"));
  check(def, "{\"d\":\"011\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"d\",\"code\":\"max\"}],\"data\":{}}");
}

static void test_forms_min_len_max_len(void **state) {
  (void)state;
  const char *def = FORM("{\"id\":\"t\",\"type\":\"text\",\"min_len\":2,\"max_len\":5},"
                         "{\"id\":\"m\",\"type\":\"multi\",\"choices\":[\"a\",\"b\",\"c\"],\"min_"
                         "len\":2,\"max_len\":2}");
  /* characters, not bytes: "héllo" is 5 characters in 6 bytes */
  check(def, "{\"t\":\"héllo\",\"m\":[\"a\",\"b\"]}", OK("{\"t\":\"héllo\",\"m\":[\"a\",\"b\"]}"));
  check(def, "{\"t\":\"门店巡检表\"}", OK("{\"t\":\"门店巡检表\"}"));
  check(def, "{\"t\":\"é\",\"m\":[\"a\"]}",
        "{\"valid\":false,\"errors\":[{\"field\":\"t\",\"code\":\"min\"},{\"field\":\"m\",\"code\":"
        "\"min\"}],\"data\":{}}");
  check(def, "{\"t\":\"héllo!\",\"m\":[\"a\",\"b\",\"c\"]}",
        "{\"valid\":false,\"errors\":[{\"field\":\"t\",\"code\":\"max\"},{\"field\":\"m\",\"code\":"
        "\"max\"}],\"data\":{}}");
}

static void test_forms_one_error_per_field_first_failing(void **state) {
  (void)state;
  /* choices come before min_len; pattern before max_len */
  const char *def = FORM("{\"id\":\"m\",\"type\":\"multi\",\"choices\":[\"a\"],\"min_len\":2},"
                         "{\"id\":\"t\",\"type\":\"text\",\"pattern\":\"^[a-z]+$\",\"max_len\":2}");
  check(def, "{\"m\":[\"z\"],\"t\":\"ABC\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"m\",\"code\":\"choice\"},"
        "{\"field\":\"t\",\"code\":\"pattern\"}],\"data\":{}}");
  check(def, "{\"m\":[\"a\"],\"t\":\"abc\"}",
        "{\"valid\":false,\"errors\":[{\"field\":\"m\",\"code\":\"min\"},"
        "{\"field\":\"t\",\"code\":\"max\"}],\"data\":{}}");
}

static void test_forms_unknown_keys_last_in_submitted_order(void **state) {
  (void)state;
  const char *def =
      FORM("{\"id\":\"a\",\"type\":\"int\"},{\"id\":\"b\",\"type\":\"text\",\"required\":true}");
  check(def, "{\"zz\":1,\"a\":\"x\",\"aa\":2,\"b\":\"ok\",\"m\":null}",
        "{\"valid\":false,\"errors\":[{\"field\":\"a\",\"code\":\"type\"},{\"field\":\"zz\","
        "\"code\":\"unknown\"},"
        "{\"field\":\"aa\",\"code\":\"unknown\"},{\"field\":\"m\",\"code\":\"unknown\"}],"
        "\"data\":{\"b\":\"ok\"}}");
}

static void test_forms_cleaned_data_in_field_order_as_given(void **state) {
  (void)state;
  const char *def = FORM("{\"id\":\"a\",\"type\":\"int\"},{\"id\":\"b\",\"type\":\"decimal\"},"
                         "{\"id\":\"c\",\"type\":\"text\"}");
  check(def, "{\"c\":\" spaced \",\"b\":\"1.500\",\"a\":10}",
        OK("{\"a\":10,\"b\":\"1.500\",\"c\":\" spaced \"}"));
}

static void test_forms_expressions_see_typed_values(void **state) {
  (void)state;
  /* decimal fields are numbers in expressions; failed fields are null */
  const char *def = FORM("{\"id\":\"temp\",\"type\":\"decimal\"},"
                         "{\"id\":\"n\",\"type\":\"int\",\"max\":5},"
                         "{\"id\":\"why\",\"type\":\"text\",\"visible_if\":\"temp > 4.5 or n == "
                         "null\",\"required\":true}");
  check(def, "{\"temp\":\"4.50\",\"n\":1}", OK("{\"temp\":\"4.50\",\"n\":1}"));
  check(def, "{\"temp\":\"4.51\",\"n\":1}",
        "{\"valid\":false,\"errors\":[{\"field\":\"why\",\"code\":\"required\"}],"
        "\"data\":{\"temp\":\"4.51\",\"n\":1}}");
  check(def, "{\"temp\":\"1\",\"n\":6}",
        "{\"valid\":false,\"errors\":[{\"field\":\"n\",\"code\":\"max\"},"
        "{\"field\":\"why\",\"code\":\"required\"}],\"data\":{\"temp\":\"1\"}}");
}

static void test_forms_data_parse(void **state) {
  (void)state;
  cJSON *d = NULL;
  shoal_diag diag = {{0}};
  const char *t =
      "\xEF\xBB\xBF { \"a\" : 3.0 , \"s\":\"x,}\\\"\", \"n\":[1,{\"k\":2}], \"b\": -0.25e1 }";
  assert_int_equal(shoal_forms_data_parse(t, strlen(t), &d, &diag), SHOAL_OK);
  assert_true(cJSON_IsRaw(cJSON_GetObjectItem(d, "a")));
  assert_string_equal(cJSON_GetObjectItem(d, "a")->valuestring, "3.0");
  assert_string_equal(cJSON_GetObjectItem(d, "b")->valuestring, "-0.25e1");
  assert_true(cJSON_IsString(cJSON_GetObjectItem(d, "s")));
  cJSON_Delete(d);
  assert_int_equal(shoal_forms_data_parse("{\"a\":1,\"a\":2}", 13, &d, &diag), SHOAL_EINPUT);
  assert_non_null(strstr(diag.msg, "duplicate key \"a\""));
  assert_int_equal(shoal_forms_data_parse("[1]", 3, &d, &diag), SHOAL_EINPUT);
  assert_int_equal(shoal_forms_data_parse("{\"a\":", 5, &d, &diag), SHOAL_EJSON);
  assert_int_equal(shoal_forms_data_parse("{} x", 4, &d, &diag), SHOAL_EJSON);
}

static void test_forms_find_most_specific_scope(void **state) {
  (void)state;
  cJSON *g = cJSON_Parse("{\"scope\":\"global\",\"forms\":[{\"id\":\"a\",\"version\":1},{\"id\":"
                         "\"b\",\"version\":1}]}");
  cJSON *r = cJSON_Parse("{\"scope\":\"region/r\",\"forms\":[{\"id\":\"a\",\"version\":2}]}");
  const cJSON *docs[3] = {g, r, NULL};
  size_t idx = 9;
  const cJSON *f = shoal_forms_find(docs, 3, "a", 0, &idx);
  assert_int_equal(idx, 1);
  assert_int_equal(cJSON_GetObjectItem(f, "version")->valueint, 2);
  f = shoal_forms_find(docs, 3, "b", 0, &idx);
  assert_int_equal(idx, 0);
  /* a named version is looked for down the chain */
  f = shoal_forms_find(docs, 3, "a", 1, &idx);
  assert_int_equal(idx, 0);
  assert_int_equal(cJSON_GetObjectItem(f, "version")->valueint, 1);
  assert_null(shoal_forms_find(docs, 3, "a", 3, NULL));
  assert_null(shoal_forms_find(docs, 3, "zz", 0, NULL));
  cJSON_Delete(g);
  cJSON_Delete(r);
}

static void test_forms_on_submit_matches_in_order(void **state) {
  (void)state;
  shoal_form *f = compile(
      "{\"id\":\"f\",\"version\":4,\"title\":\"T\",\"fields\":[{\"id\":\"issue\",\"type\":\"text\"}"
      ","
      "{\"id\":\"n\",\"type\":\"int\"}],\"on_submit\":["
      "{\"if\":\"issue == "
      "'broken'\",\"ticket\":{\"category\":\"repair\",\"priority\":\"high\",\"title\":\"Fix\"}},"
      "{\"if\":\"n > "
      "2\",\"ticket\":{\"category\":\"stock\",\"priority\":\"low\",\"title\":\"Count\"}},"
      "{\"ticket\":{\"category\":\"log\",\"priority\":\"normal\",\"title\":\"Always\"}}]}");
  cJSON *data = cJSON_Parse("{\"issue\":\"broken\",\"n\":1}");
  struct shoal_form_result r = {0};
  shoal_diag d = {{0}};
  assert_int_equal(shoal_form_validate(f, data, &r, &d), SHOAL_OK);
  cJSON *t = NULL;
  assert_int_equal(shoal_form_on_submit(f, &r, &t, &d), SHOAL_OK);
  char *s = cJSON_PrintUnformatted(t);
  assert_string_equal(s, "[{\"category\":\"repair\",\"priority\":\"high\",\"title\":\"Fix\"},"
                         "{\"category\":\"log\",\"priority\":\"normal\",\"title\":\"Always\"}]");
  free(s);
  cJSON_Delete(t);
  shoal_form_result_cleanup(&r);
  cJSON_Delete(data);
  assert_string_equal(shoal_form_id(f), "f");
  assert_int_equal(shoal_form_version(f), 4);
  shoal_form_free(f);
}

static void test_forms_policy_refuses_bad_forms(void **state) {
  (void)state;
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"visible_if\":\"b ==\"}"), "at column 5");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"visible_if\":\"b == "
               "1\"},{\"id\":\"b\",\"type\":\"int\"}"),
          "names \"b\", which comes later");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"required\":\"a == ''\"}"), "is the field itself");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"required\":\"nope\"}"),
          "not a field of the form");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"required\":1}"), "must be an expression");
  refused(FORM("{\"id\":\"a\",\"type\":\"txt\"}"), "unknown type \"txt\"");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\"},{\"id\":\"a\",\"type\":\"int\"}"),
          "duplicate field id \"a\"");
  refused(FORM("{\"id\":\"a/b\",\"type\":\"text\"}"), "field #1 needs an \"id\"");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"requried\":true}"), "unknown key \"requried\"");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"pattern\":\"([a-z\"}"), "not a POSIX extended");
  refused(FORM("{\"id\":\"a\",\"type\":\"int\",\"pattern\":\"x\"}"),
          "applies only to text, phone and scan");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"min\":1}"),
          "applies only to int, decimal and date");
  refused(FORM("{\"id\":\"a\",\"type\":\"int\",\"min\":1.5}"), "must be an integer");
  refused(FORM("{\"id\":\"a\",\"type\":\"decimal\",\"max\":\"1,5\"}"), "must be a decimal number");
  refused(FORM("{\"id\":\"a\",\"type\":\"date\",\"min\":\"2026-02-30\"}"), "must be a date");
  refused(FORM("{\"id\":\"a\",\"type\":\"int\",\"min\":5,\"max\":4}"), "\"min\" is above \"max\"");
  refused(FORM("{\"id\":\"a\",\"type\":\"text\",\"min_len\":-1}"), "must be an integer >= 0");
  refused(FORM("{\"id\":\"a\",\"type\":\"int\",\"max_len\":3}"),
          "applies only to text-like and multi");
  refused(FORM("{\"id\":\"a\",\"type\":\"choice\"}"), "needs \"choices\"");
  refused(FORM("{\"id\":\"a\",\"type\":\"choice\",\"choices\":[\"x\",\"x\"]}"),
          "duplicate choice \"x\"");
  refused(FORM("{\"id\":\"a\",\"type\":\"choice\",\"choices\":[{\"label\":\"x\"}]}"),
          "a choice is a string");
  refused(FORM("{\"id\":\"a\",\"type\":\"choice\",\"choices\":[1]}"), "a choice is a string");
  refused(FORM("{\"id\":\"a\",\"type\":\"int\",\"default\":\"1\"}"),
          "\"default\" is not a valid value (type)");
  refused(FORM("{\"id\":\"a\",\"type\":\"int\",\"max\":3,\"default\":4}"),
          "not a valid value (max)");
  refused("{\"id\":\"f\",\"version\":0,\"title\":\"T\",\"fields\":[]}",
          "\"version\" must be an integer >= 1");
  refused("{\"id\":\"f\",\"version\":1,\"fields\":[]}", "\"title\" must be a string");
  refused("{\"id\":\"f g\",\"version\":1,\"title\":\"T\",\"fields\":[]}", "needs an \"id\"");
  refused("{\"id\":\"f\",\"version\":1,\"title\":\"T\",\"fields\":[],\"extra\":1}",
          "unknown key \"extra\"");
  refused("{\"id\":\"f\",\"version\":1,\"title\":\"T\",\"fields\":[],\"on_submit\":[{\"if\":\"x\","
          "\"ticket\":{\"category\":\"c\",\"priority\":\"normal\",\"title\":\"t\"}}]}",
          "not a field of the form");
  refused("{\"id\":\"f\",\"version\":1,\"title\":\"T\",\"fields\":[],\"on_submit\":[{"
          "\"ticket\":{\"category\":\"c\",\"priority\":\"asap\",\"title\":\"t\"}}]}",
          "priority \"asap\"");
  refused("{\"id\":\"f\",\"version\":1,\"title\":\"T\",\"fields\":[],\"on_submit\":[{"
          "\"ticket\":{\"category\":\"c\",\"priority\":\"low\"}}]}",
          "non-empty string \"title\"");
  /* on_submit may name any field, later ones included */
  shoal_form *f = compile(
      "{\"id\":\"f\",\"version\":1,\"title\":\"T\",\"fields\":[{\"id\":\"a\",\"type\":\"int\"},"
      "{\"id\":\"b\",\"type\":\"int\"}],\"on_submit\":[{\"if\":\"b > a\",\"ticket\":"
      "{\"category\":\"c\",\"priority\":\"urgent\",\"title\":\"t\"}}]}");
  shoal_form_free(f);
}

static void test_forms_policy_doc_validation(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  const char *good =
      "{\"scope\":\"global\",\"forms\":[" FORM("{\"id\":\"a\",\"type\":\"text\"}") "]}";
  assert_int_equal(shoal_policy_validate(good, strlen(good), NULL, &d), SHOAL_OK);
  const char *dup = "{\"scope\":\"global\",\"forms\":[" FORM("") "," FORM("") "]}";
  assert_int_equal(shoal_policy_validate(dup, strlen(dup), NULL, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "duplicate form id \"f\""));
  const char *bad = "{\"scope\":\"global\",\"forms\":[" FORM(
      "{\"id\":\"a\",\"type\":\"text\",\"visible_if\":\"(\"}") "]}";
  assert_int_equal(shoal_policy_validate(bad, strlen(bad), NULL, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "at column 2: expected a value"));
}

/* Fuzzer finding: cJSON skips every byte <= 0x20 (NUL too) between tokens;
 * the raw-number walk must stay in step and never read past the input.
 * The buffers are exactly sized so ASan catches any overread. */
static void test_forms_data_parse_control_bytes_stay_in_bounds(void **state) {
  (void)state;
  static const char nul_after_brace[] = {'{', 0,   '"', 'c', '"', ':', '1',
                                         ',', '"', '"', ':', '1', '}'};
  char *exact = malloc(sizeof nul_after_brace);
  memcpy(exact, nul_after_brace, sizeof nul_after_brace);
  cJSON *d = NULL;
  shoal_diag diag = {{0}};
  shoal_err rc = shoal_forms_data_parse(exact, sizeof nul_after_brace, &d, &diag);
  if (rc == SHOAL_OK) {
    /* Parsed: the number keeps its exact text. */
    assert_non_null(cJSON_GetObjectItemCaseSensitive(d, "c"));
    cJSON_Delete(d);
  }
  free(exact);
  static const char ctl_ws[] = "{\x01\"a\"\x02:\x1f 12.50\x03,\"b\":\x04[1,2]\x05}";
  exact = malloc(sizeof ctl_ws - 1);
  memcpy(exact, ctl_ws, sizeof ctl_ws - 1);
  rc = shoal_forms_data_parse(exact, sizeof ctl_ws - 1, &d, &diag);
  if (rc == SHOAL_OK)
    cJSON_Delete(d);
  free(exact);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms_hidden_field_dropped),
      cmocka_unit_test(test_forms_default_applies_to_absent_only),
      cmocka_unit_test(test_forms_required_bool_and_expression),
      cmocka_unit_test(test_forms_types),
      cmocka_unit_test(test_forms_choices_plain_and_labelled),
      cmocka_unit_test(test_forms_pattern_posix_ere),
      cmocka_unit_test(test_forms_min_max_numbers_and_dates),
      cmocka_unit_test(test_forms_min_len_max_len),
      cmocka_unit_test(test_forms_one_error_per_field_first_failing),
      cmocka_unit_test(test_forms_unknown_keys_last_in_submitted_order),
      cmocka_unit_test(test_forms_cleaned_data_in_field_order_as_given),
      cmocka_unit_test(test_forms_expressions_see_typed_values),
      cmocka_unit_test(test_forms_data_parse),
      cmocka_unit_test(test_forms_find_most_specific_scope),
      cmocka_unit_test(test_forms_on_submit_matches_in_order),
      cmocka_unit_test(test_forms_policy_refuses_bad_forms),
      cmocka_unit_test(test_forms_policy_doc_validation),
      cmocka_unit_test(test_forms_data_parse_control_bytes_stay_in_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
