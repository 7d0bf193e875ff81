/* test_core.c - money (half-up, floor, ceil, bp), ISO-8601 times with
 * offsets, the hybrid logical clock, identifiers, and the error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/err.h"
#include "shoal/hlc.h"
#include "shoal/money.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

static void test_core_money_half_up_rounds_halves_away_from_zero(void **state) {
  (void)state;
  assert_int_equal(shoal_div_half_up(5, 2), 3);
  assert_int_equal(shoal_div_half_up(4, 3), 1);
  assert_int_equal(shoal_div_half_up(5, 3), 2);
  assert_int_equal(shoal_div_half_up(-5, 2), -3);
  assert_int_equal(shoal_div_half_up(0, 7), 0);
  /* 2800 * 15% = 420 exactly; 2999 * 15% = 449.85 -> 450 */
  assert_int_equal(shoal_bp_of(2800, 1500), 420);
  assert_int_equal(shoal_bp_of(2999, 1500), 450);
  assert_int_equal(shoal_bp_of(1, 5000), 1); /* 0.5 -> 1 */
  assert_int_equal(shoal_bp_of(1, 4999), 0);
  assert_int_equal(shoal_div_floor(-7, 2), -4);
  assert_int_equal(shoal_div_ceil(7, 2), 4);
  assert_int_equal(shoal_div_ceil(-7, 2), -3);
}

static void test_core_money_overflow_is_detected(void **state) {
  (void)state;
  int64_t out = 42;
  assert_false(shoal_mul_checked(INT64_MAX / 2, 3, &out));
  assert_int_equal(out, 42);
  assert_true(shoal_add_checked(1, 2, &out));
  assert_int_equal(out, 3);
  char buf[32];
  shoal_money_format(2800, buf, sizeof buf);
  assert_string_equal(buf, "28.00");
  shoal_money_format(-5, buf, sizeof buf);
  assert_string_equal(buf, "-0.05");
}

static void test_core_time_parses_offsets_and_local_fields(void **state) {
  (void)state;
  struct shoal_time t;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_time_parse("2026-11-22T15:30:00+08:00", &t, &d), SHOAL_OK);
  assert_int_equal(t.unix_ms, 1795332600000LL);
  assert_int_equal(t.offset_min, 480);
  assert_int_equal(shoal_time_local_weekday(&t), 7); /* 2026-11-22 is a Sunday */
  assert_int_equal(shoal_time_local_minute(&t), 15 * 60 + 30);
  struct shoal_time z;
  assert_int_equal(shoal_time_parse("2026-11-22T07:30:00Z", &z, &d), SHOAL_OK);
  assert_int_equal(z.unix_ms, t.unix_ms);
  assert_int_equal(shoal_time_local_minute(&z), 7 * 60 + 30);
  assert_int_equal(shoal_time_parse("2026-11-22T07:30:00.250-05:30", &z, &d), SHOAL_OK);
  assert_int_equal(z.unix_ms % 1000, 250);
  /* Local date differs from UTC date: 23:30 at -05:00 on a Monday is Tuesday UTC. */
  assert_int_equal(shoal_time_parse("2026-11-23T23:30:00-05:00", &z, &d), SHOAL_OK);
  assert_int_equal(shoal_time_local_weekday(&z), 1);
  char buf[40];
  shoal_time_format_utc(t.unix_ms, buf, sizeof buf);
  assert_string_equal(buf, "2026-11-22T07:30:00.000Z");
}

static void test_core_time_refuses_bad_timestamps(void **state) {
  (void)state;
  struct shoal_time t;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_time_parse("2026-02-30T10:00:00Z", &t, &d), SHOAL_EINPUT);
  assert_int_equal(shoal_time_parse("2026-11-22T10:00:00", &t, &d), SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "offset"));
  assert_int_equal(shoal_time_parse("2026-11-22T24:00:00Z", &t, &d), SHOAL_EINPUT);
  assert_int_equal(shoal_time_parse("yesterday", &t, &d), SHOAL_EINPUT);
  int64_t days;
  assert_true(shoal_date_parse("2024-02-29", &days));
  assert_false(shoal_date_parse("2023-02-29", &days));
  assert_false(shoal_date_parse("2023-1-01", &days));
}

static void test_core_hlc_is_monotonic_when_the_wall_clock_steps_back(void **state) {
  (void)state;
  struct shoal_hlc c = {0};
  uint64_t a = shoal_hlc_tick(&c, 1000);
  uint64_t b = shoal_hlc_tick(&c, 1000);
  uint64_t e = shoal_hlc_tick(&c, 500); /* clock stepped back */
  assert_true(b > a && e > b);
  assert_int_equal(SHOAL_HLC_MS(e), 1000);
  assert_int_equal(SHOAL_HLC_COUNTER(e), 2);
  uint64_t f = shoal_hlc_tick(&c, 2000);
  assert_int_equal(SHOAL_HLC_MS(f), 2000);
  assert_int_equal(SHOAL_HLC_COUNTER(f), 0);
  /* Receiving a value from a device whose clock is ahead moves us past it. */
  uint64_t remote = SHOAL_HLC_MAKE(5000, 7);
  uint64_t g = shoal_hlc_recv(&c, remote, 2100);
  assert_true(g > remote);
  assert_true(shoal_hlc_tick(&c, 2200) > g);
  /* Counter overflow advances the physical part instead of wrapping. */
  struct shoal_hlc o = {SHOAL_HLC_MAKE(10, 0xFFFF)};
  uint64_t h = shoal_hlc_tick(&o, 5);
  assert_true(h > SHOAL_HLC_MAKE(10, 0xFFFF));
}

static void test_core_identifiers_follow_spec_pattern(void **state) {
  (void)state;
  assert_true(shoal_id_valid("cd-001"));
  assert_true(shoal_id_valid("A.b_c-9"));
  assert_false(shoal_id_valid(""));
  assert_false(shoal_id_valid("-lead"));
  assert_false(shoal_id_valid("a/b"));
  assert_false(shoal_id_valid("a+b"));
  assert_false(shoal_id_valid("a#"));
  assert_false(shoal_id_valid("a b"));
  char id64[65], id65[66];
  memset(id64, 'x', 64);
  id64[64] = 0;
  memset(id65, 'x', 65);
  id65[65] = 0;
  assert_true(shoal_id_valid(id64));
  assert_false(shoal_id_valid(id65));
}

static void test_core_error_table_maps_exit_codes(void **state) {
  (void)state;
  assert_int_equal(shoal_err_exit_code(SHOAL_OK), 0);
  assert_int_equal(shoal_err_exit_code(SHOAL_EIO), 1);
  assert_int_equal(shoal_err_exit_code(SHOAL_EUSAGE), 2);
  assert_int_equal(shoal_err_exit_code(SHOAL_EJSON), 3);
  assert_int_equal(shoal_err_exit_code(SHOAL_ESIG), 4);
  assert_int_equal(shoal_err_exit_code(SHOAL_EROLLBACK), 4);
  assert_string_equal(shoal_err_str(SHOAL_EFULL), "storage full");
  shoal_diag d = {{0}};
  assert_int_equal(shoal_fail(&d, SHOAL_EINPUT, "unknown SKU %s", "X-1"), SHOAL_EINPUT);
  shoal_diag_prefix(&d, "basket");
  assert_string_equal(d.msg, "basket: unknown SKU X-1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_core_money_half_up_rounds_halves_away_from_zero),
      cmocka_unit_test(test_core_money_overflow_is_detected),
      cmocka_unit_test(test_core_time_parses_offsets_and_local_fields),
      cmocka_unit_test(test_core_time_refuses_bad_timestamps),
      cmocka_unit_test(test_core_hlc_is_monotonic_when_the_wall_clock_steps_back),
      cmocka_unit_test(test_core_identifiers_follow_spec_pattern),
      cmocka_unit_test(test_core_error_table_maps_exit_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
