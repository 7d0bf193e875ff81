/* test_slacal.c - the SLA business calendar (SPEC 15): due times over a
 * weekend, a holiday, an opening after closing time (across midnight), a
 * window that spans midnight (and belongs to the day it opens), fixed
 * offsets other than whole hours, wall-clock minutes without a calendar,
 * calendar late hours, validation of bad calendars and offsets, and the
 * ticket fold and escalation ladder using the calendar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/hlc.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/slacal.h"
#include "shoal/ticket.h"
#include "shoal/timeutil.h"

#define MIN  60000LL
#define HOUR 3600000LL

static int64_t at(const char *iso) {
  struct shoal_time t;
  assert_int_equal(shoal_time_parse(iso, &t, NULL), SHOAL_OK);
  return t.unix_ms;
}

/* A calendar from JSON text and an offset. */
static void cal_init(struct shoal_slacal *c, const char *json, const char *offset) {
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  shoal_diag d = {{0}};
  shoal_err rc = shoal_slacal_init(c, j, offset, &d);
  if (rc != SHOAL_OK)
    fail_msg("calendar %s: %s", json, d.msg);
  cJSON_Delete(j);
}

static const char *const OFFICE =
    "{\"days\":[1,2,3,4,5],\"hours\":\"09:00-18:00\",\"holidays\":[\"2026-10-01\"]}";

static void test_slacal_weekend_skipped(void **state) {
  (void)state;
  struct shoal_slacal c;
  cal_init(&c, OFFICE, "+08:00");
  /* Friday 17:00: one hour left on Friday, the second on Monday morning. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-04T17:00:00+08:00"), 120),
                   at("2026-12-07T10:00:00+08:00"));
  /* Opened on Saturday: the clock starts Monday 09:00. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-05T11:00:00+08:00"), 30),
                   at("2026-12-07T09:30:00+08:00"));
  shoal_slacal_cleanup(&c);
}

static void test_slacal_holiday_skipped(void **state) {
  (void)state;
  struct shoal_slacal c;
  cal_init(&c, OFFICE, "+08:00");
  /* Wednesday 30 Sep 17:30: 30 minutes that day, Thursday 1 Oct is a holiday. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-09-30T17:30:00+08:00"), 60),
                   at("2026-10-02T09:30:00+08:00"));
  /* The same hour a week later (no holiday): Thursday 09:30. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-10-07T17:30:00+08:00"), 60),
                   at("2026-10-08T09:30:00+08:00"));
  shoal_slacal_cleanup(&c);
}

static void test_slacal_after_hours_across_midnight(void **state) {
  (void)state;
  struct shoal_slacal c;
  cal_init(&c, OFFICE, "+08:00");
  /* Tuesday 23:00 local (15:00 UTC, still Tuesday there): counts from Wednesday 09:00. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-01T23:00:00+08:00"), 30),
                   at("2026-12-02T09:30:00+08:00"));
  /* 00:30 local on Wednesday is 16:30 UTC on Tuesday: local days decide. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-01T16:30:00Z"), 30),
                   at("2026-12-02T09:30:00+08:00"));
  /* Exactly at closing time: nothing left today. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-02T18:00:00+08:00"), 1),
                   at("2026-12-03T09:01:00+08:00"));
  shoal_slacal_cleanup(&c);
}

static void test_slacal_hours_spanning_midnight(void **state) {
  (void)state;
  struct shoal_slacal c;
  /* A night shift every day: 22:00-06:00. */
  cal_init(&c, "{\"days\":[1,2,3,4,5,6,7],\"hours\":\"22:00-06:00\"}", "+08:00");
  /* Monday 05:30 is inside Sunday's shift: 30 minutes, then Monday 22:00. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-07T05:30:00+08:00"), 60),
                   at("2026-12-07T22:30:00+08:00"));
  /* Monday 23:00 + 6h = 05:00 Tuesday, inside one shift. */
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-07T23:00:00+08:00"), 360),
                   at("2026-12-08T05:00:00+08:00"));
  shoal_slacal_cleanup(&c);
  /* Mondays only: the shift opened Monday 22:00 still counts at Tuesday
   * 01:00 (a window belongs to the day it opens); Tuesday 22:00 does not. */
  cal_init(&c, "{\"days\":[1],\"hours\":\"22:00-06:00\"}", "+08:00");
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-08T01:00:00+08:00"), 60),
                   at("2026-12-08T02:00:00+08:00"));
  assert_int_equal(shoal_slacal_add(&c, at("2026-12-08T05:00:00+08:00"), 120),
                   at("2026-12-14T23:00:00+08:00"));
  shoal_slacal_cleanup(&c);
}

static void test_slacal_fixed_offsets(void **state) {
  (void)state;
  /* The same local calendar under offsets that are not whole hours, east
   * and west: the due time is the same local wall-clock time. */
  static const struct {
    const char *off, *from, *due;
  } v[] = {
      {"+05:45", "2026-12-04T17:00:00+05:45", "2026-12-07T10:00:00+05:45"},
      {"-03:30", "2026-12-04T17:00:00-03:30", "2026-12-07T10:00:00-03:30"},
      {"+00:00", "2026-12-04T17:00:00Z", "2026-12-07T10:00:00Z"},
      {"-09:30", "2026-12-04T17:00:00-09:30", "2026-12-07T10:00:00-09:30"},
      {"+14:00", "2026-12-04T17:00:00+14:00", "2026-12-07T10:00:00+14:00"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    struct shoal_slacal c;
    cal_init(&c, OFFICE, v[i].off);
    assert_int_equal(shoal_slacal_add(&c, at(v[i].from), 120), at(v[i].due));
    shoal_slacal_cleanup(&c);
  }
}

static void test_slacal_none_is_wall_clock(void **state) {
  (void)state;
  struct shoal_slacal c;
  assert_int_equal(shoal_slacal_init(&c, NULL, "+08:00", NULL), SHOAL_OK);
  assert_false(c.set);
  int64_t t = at("2026-12-05T23:30:00+08:00");
  assert_int_equal(shoal_slacal_add(&c, t, 120), t + 2 * HOUR);
  assert_int_equal(shoal_slacal_between(&c, t, t + 90 * MIN), 90 * MIN);
  assert_int_equal(shoal_slacal_add(NULL, t, 1), t + MIN);
  shoal_slacal_cleanup(&c);
}

static void test_slacal_between_counts_open_time_only(void **state) {
  (void)state;
  struct shoal_slacal c;
  cal_init(&c, OFFICE, "+08:00");
  /* Due Friday 17:00, resolved Monday 10:00: 1 h Friday + 1 h Monday. */
  assert_int_equal(
      shoal_slacal_between(&c, at("2026-12-04T17:00:00+08:00"), at("2026-12-07T10:00:00+08:00")),
      2 * HOUR);
  assert_int_equal(
      shoal_slacal_between(&c, at("2026-12-05T10:00:00+08:00"), at("2026-12-06T10:00:00+08:00")),
      0);
  assert_int_equal(shoal_slacal_between(&c, 5, 4), 0);
  shoal_slacal_cleanup(&c);
}

static void test_slacal_bad_calendars_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "{\"days\":[1],\"hours\":\"9:00-18:00\"}",
      "{\"days\":[1],\"hours\":\"18:00-18:00\"}",
      "{\"days\":[1],\"hours\":\"09:00-24:30\"}",
      "{\"days\":[1],\"hours\":\"24:00-06:00\"}",
      "{\"days\":[0],\"hours\":\"09:00-18:00\"}",
      "{\"days\":[1,1],\"hours\":\"09:00-18:00\"}",
      "{\"days\":[],\"hours\":\"09:00-18:00\"}",
      "{\"days\":[\"1\"],\"hours\":\"09:00-18:00\"}",
      "{\"days\":[1],\"hours\":\"09:00-18:00\",\"holidays\":[\"2026-02-30\"]}",
      "{\"days\":[1],\"hours\":\"09:00-18:00\",\"tz\":\"Asia/Shanghai\"}",
      "{\"hours\":\"09:00-18:00\"}",
      "[]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *j = cJSON_Parse(bad[i]);
    shoal_diag d = {{0}};
    assert_int_equal(shoal_slacal_validate(j, &d), SHOAL_EINPUT);
    assert_true(d.msg[0] != '\0');
    cJSON_Delete(j);
  }
  static const char *const offs[] = {"+8:00", "+15:00", "08:00", "+08:60", "", "+08:00Z"};
  for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
    int m = 0;
    assert_int_equal(shoal_slacal_parse_offset(offs[i], &m, NULL), SHOAL_EINPUT);
  }
  int m = 0;
  assert_int_equal(shoal_slacal_parse_offset("-09:30", &m, NULL), SHOAL_OK);
  assert_int_equal(m, -570);
  /* Through the policy validator: sla.calendar and utc_offset are checked. */
  cJSON *doc = cJSON_Parse("{\"scope\":\"global\",\"utc_offset\":\"+8\",\"sla\":{}}");
  assert_int_equal(shoal_policy_validate_json(doc, NULL, NULL), SHOAL_EINPUT);
  cJSON_Delete(doc);
  doc = cJSON_Parse("{\"scope\":\"global\",\"sla\":{\"calendar\":{\"days\":[8],"
                    "\"hours\":\"09:00-18:00\"}}}");
  assert_int_equal(shoal_ticket_validate_doc(doc, NULL), SHOAL_EINPUT);
  cJSON_Delete(doc);
}

/* A ticket event envelope for T1 of store s1 at ms. */
static cJSON *ev(int64_t seq, int64_t ms, const char *kind, const char *extra) {
  cJSON *b = extra ? cJSON_Parse(extra) : cJSON_CreateObject();
  cJSON_AddStringToObject(b, "ticket", "T1");
  cJSON_AddStringToObject(b, "kind", kind);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddNumberToObject(e, "v", 1);
  cJSON_AddStringToObject(e, "device", "hh1");
  cJSON_AddStringToObject(e, "store", "s1");
  cJSON_AddStringToObject(e, "epoch", "7");
  cJSON_AddNumberToObject(e, "seq", (double)seq);
  char h[32];
  snprintf(h, sizeof h, "%llu", (unsigned long long)SHOAL_HLC_MAKE(ms, 0));
  cJSON_AddStringToObject(e, "hlc", h);
  cJSON_AddStringToObject(e, "type", "ticket");
  cJSON_AddItemToObject(e, "body", b);
  return e;
}

static void test_slacal_ticket_due_late_hours_and_escalation(void **state) {
  (void)state;
  /* Store s1 in +08:00 (region doc), calendar from the global doc, normal
   * tickets: respond in 60, resolve in 240 calendar minutes. */
  cJSON *g = cJSON_Parse(
      "{\"scope\":\"global\",\"utc_offset\":\"+00:00\",\"sla\":{\"calendar\":{\"days\":[1,2,3,4,5],"
      "\"hours\":\"09:00-18:00\",\"holidays\":[\"2026-12-08\"]},"
      "\"normal\":{\"respond_min\":60,\"resolve_min\":240}},"
      "\"escalation\":[{\"after_min\":120,\"group\":\"sup\"}],"
      "\"rates\":{\"labor_per_hour\":6000,\"late_comp_per_hour\":1000}}");
  cJSON *r = cJSON_Parse("{\"scope\":\"region/cn-sw\",\"utc_offset\":\"+08:00\"}");
  assert_int_equal(shoal_ticket_validate_doc(g, NULL), SHOAL_OK);
  assert_int_equal(shoal_ticket_validate_doc(r, NULL), SHOAL_OK);
  const cJSON *docs[] = {g, r};
  struct shoal_ticket_fold_opts o = {docs, 2, NULL, NULL, true};
  /* Opened Friday 16:00 local: respond due Friday 17:00; resolve due (2 h
   * Friday + Monday 09:00-11:00) Monday 11:00. Resolved Wednesday 10:30
   * (Tuesday is a holiday): 7 h Monday + 1.5 h Wednesday = 8.5 -> 9 late hours. */
  cJSON *events = cJSON_CreateArray();
  cJSON_AddItemToArray(events,
                       ev(1, at("2026-12-04T16:00:00+08:00"), "open",
                          "{\"category\":\"pos\",\"priority\":\"normal\",\"region\":\"cn-sw\"}"));
  cJSON_AddItemToArray(events,
                       ev(2, at("2026-12-04T16:10:00+08:00"), "assign", "{\"tech\":\"li\"}"));
  cJSON_AddItemToArray(events, ev(3, at("2026-12-09T09:00:00+08:00"), "scan", NULL));
  cJSON_AddItemToArray(events, ev(4, at("2026-12-09T10:30:00+08:00"), "resolve", NULL));
  cJSON *out = NULL;
  struct shoal_ticket_summary sum;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_ticket_fold(events, &o, &out, &sum, &d), SHOAL_OK);
  char buf[40];
  shoal_time_format_utc(at("2026-12-04T17:00:00+08:00"), buf, sizeof buf);
  assert_string_equal(cJSON_GetObjectItem(out, "respond_due")->valuestring, buf);
  shoal_time_format_utc(at("2026-12-07T11:00:00+08:00"), buf, sizeof buf);
  assert_string_equal(cJSON_GetObjectItem(out, "resolve_due")->valuestring, buf);
  const cJSON *s = cJSON_GetObjectItem(out, "settlement");
  assert_int_equal(cJSON_GetObjectItem(s, "late_hours")->valuedouble, 9);
  assert_int_equal(cJSON_GetObjectItem(s, "late_comp")->valuedouble, 9000);
  cJSON_Delete(out);

  /* Escalation step 1 comes 120 calendar minutes after the breach: Monday
   * 13:00 local, not at 13:00 on a wall clock running through the night. */
  cJSON_DeleteItemFromArray(events, 3);
  cJSON_DeleteItemFromArray(events, 2);
  assert_int_equal(shoal_ticket_fold(events, &o, &out, &sum, &d), SHOAL_OK);
  assert_int_equal(shoal_ticket_escalation_next_ms(docs, 2, &sum), at("2026-12-07T13:00:00+08:00"));
  int level = 0;
  const char *grp = NULL, *pri = NULL;
  assert_false(shoal_ticket_escalation_due(docs, 2, &sum, at("2026-12-07T12:59:00+08:00"), &level,
                                           &grp, &pri));
  assert_true(shoal_ticket_escalation_due(docs, 2, &sum, at("2026-12-07T13:00:00+08:00"), &level,
                                          &grp, &pri));
  assert_int_equal(level, 1);
  assert_string_equal(grp, "sup");
  cJSON_Delete(out);
  cJSON_Delete(events);
  cJSON_Delete(g);
  cJSON_Delete(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slacal_weekend_skipped),
      cmocka_unit_test(test_slacal_holiday_skipped),
      cmocka_unit_test(test_slacal_after_hours_across_midnight),
      cmocka_unit_test(test_slacal_hours_spanning_midnight),
      cmocka_unit_test(test_slacal_fixed_offsets),
      cmocka_unit_test(test_slacal_none_is_wall_clock),
      cmocka_unit_test(test_slacal_between_counts_open_time_only),
      cmocka_unit_test(test_slacal_bad_calendars_refused),
      cmocka_unit_test(test_slacal_ticket_due_late_hours_and_escalation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
