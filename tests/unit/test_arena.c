/* test_arena.c - the base containers: the arena hands out aligned,
 * disjoint memory across blocks, stops at its limit (and says so), refuses
 * sizes that would wrap, frees to empty and treats NULL as a no-op; the
 * string map finds what was added, refuses a duplicate key and holds as many
 * keys as it was sized for. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shoal/arena.h"
#include "shoal/strmap.h"

static void test_arena_alignment_and_disjoint_blocks(void **state) {
  (void)state;
  struct shoal_arena a = {0};
  unsigned char *prev = NULL;
  size_t prev_n = 0;
  for (size_t i = 0; i < 2000; i++) {
    size_t n = (i * 7) % 61; /* 0..60 bytes, odd sizes included */
    unsigned char *p = shoal_arena_alloc(&a, n);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
    memset(p, (int)(i & 0xff), n ? n : 1);
    if (prev) /* the previous allocation kept its bytes */
      for (size_t k = 0; k < prev_n; k++)
        assert_int_equal(prev[k], (unsigned char)((i - 1) & 0xff));
    prev = p;
    prev_n = n;
  }
  assert_true(a.total > SHOAL_ARENA_BLOCK_DEFAULT); /* it grew past one block */
  assert_false(a.over);
  /* one allocation bigger than a block gets a block of its own */
  unsigned char *big = shoal_arena_alloc(&a, 3 * SHOAL_ARENA_BLOCK_DEFAULT);
  assert_non_null(big);
  memset(big, 0xab, 3 * SHOAL_ARENA_BLOCK_DEFAULT);
  shoal_arena_free(&a);
  assert_null(a.head);
  assert_int_equal(a.total, 0);
}

static void test_arena_limit_is_a_hard_bound(void **state) {
  (void)state;
  struct shoal_arena a;
  shoal_arena_init(&a, 1024, 4096);
  size_t got = 0;
  while (shoal_arena_alloc(&a, 100))
    got += 100;
  assert_true(a.over);
  assert_true(a.total <= 4096);
  assert_true(got >= 3000); /* the limit, not malloc, stopped it */
  shoal_arena_free(&a);
  assert_int_equal(a.limit, 4096); /* settings survive a free */
  assert_false(shoal_arena_alloc(&a, 8192) != NULL);
  shoal_arena_free(&a);
}

static void test_arena_refuses_wrapping_sizes(void **state) {
  (void)state;
  struct shoal_arena a = {0};
  assert_null(shoal_arena_alloc(&a, SIZE_MAX));
  assert_null(shoal_arena_alloc(&a, SIZE_MAX - 8));
  assert_null(a.head); /* nothing was taken */
  char *s = shoal_arena_strdup(&a, "scope/x");
  assert_string_equal(s, "scope/x");
  shoal_arena_free(&a);
  shoal_arena_free(NULL); /* no-op */
}

static void test_strmap_add_find_and_duplicates(void **state) {
  (void)state;
  enum { N = 5000 };
  static char keys[N][16];
  struct shoal_strmap m;
  assert_true(shoal_strmap_init(&m, N));
  for (uint32_t i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "SKU-%05u", i);
    assert_true(shoal_strmap_add(&m, keys[i], i));
  }
  for (uint32_t i = 0; i < N; i++) {
    char probe[16];
    snprintf(probe, sizeof probe, "SKU-%05u", i); /* a different pointer, same text */
    size_t slot = shoal_strmap_slot(&m, probe);
    assert_non_null(m.key[slot]);
    assert_int_equal(m.val[slot], i);
  }
  assert_false(shoal_strmap_add(&m, "SKU-00042", 7)); /* already there */
  assert_int_equal(m.val[shoal_strmap_slot(&m, "SKU-00042")], 42);
  assert_null(m.key[shoal_strmap_slot(&m, "SKU-99999")]);
  assert_null(m.key[shoal_strmap_slot(&m, "")]);
  shoal_strmap_free(&m);
  shoal_strmap_free(&m); /* twice is harmless */
  shoal_strmap_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arena_alignment_and_disjoint_blocks),
      cmocka_unit_test(test_arena_limit_is_a_hard_bound),
      cmocka_unit_test(test_arena_refuses_wrapping_sizes),
      cmocka_unit_test(test_strmap_add_find_and_duplicates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
