/* test_sbuf.c - the bounded text buffer: appends concatenate across growth,
 * an append past the maximum marks the buffer failed, and later appends do
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/sbuf.h"

static void test_sbuf_appends_concatenate_across_growth(void **state) {
  (void)state;
  struct shoal_sbuf b = {.max = 1 << 20};
  for (int i = 0; i < 2000; i++)
    shoal_sbuf_printf(&b, "%04d,", i); /* 10,000 bytes: grows past the first 4096 */
  assert_false(b.failed);
  assert_int_equal(b.len, 10000);
  assert_int_equal(strlen(b.p), 10000);
  assert_memory_equal(b.p, "0000,0001,", 10);
  assert_memory_equal(b.p + 9990, "1998,1999,", 10);
  assert_true(b.cap > b.len);
  free(b.p);
}

static void test_sbuf_over_max_fails_and_stays_failed(void **state) {
  (void)state;
  struct shoal_sbuf b = {.max = 4096};
  char chunk[1001];
  memset(chunk, 'x', 1000);
  chunk[1000] = '\0';
  for (int i = 0; i < 4; i++)
    shoal_sbuf_printf(&b, "%s", chunk);
  assert_false(b.failed);
  assert_int_equal(b.len, 4000);
  shoal_sbuf_printf(&b, "%s", chunk); /* 5000 bytes would need 8192 > max */
  assert_true(b.failed);
  assert_int_equal(b.len, 4000);
  shoal_sbuf_printf(&b, "y"); /* fits, but the buffer is already failed */
  assert_int_equal(b.len, 4000);
  assert_true(b.cap <= b.max);
  free(b.p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sbuf_appends_concatenate_across_growth),
      cmocka_unit_test(test_sbuf_over_max_fails_and_stays_failed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
