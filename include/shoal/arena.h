/* arena.h - the bump allocator behind the pricing model and the expression
 * language: many small allocations freed at once. Blocks are chained; every
 * pointer returned is aligned for any type (max_align_t); an optional limit
 * bounds the bytes one arena may take from malloc. */
#ifndef SHOAL_ARENA_H
#define SHOAL_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#define SHOAL_ARENA_BLOCK_DEFAULT 4096 /* smallest block when block_size is 0 */

struct shoal_arena_block;

/* Zero-initialised is a valid empty arena (default block size, no limit). */
struct shoal_arena {
  struct shoal_arena_block *head;
  size_t block_size; /* smallest block to malloc; 0: SHOAL_ARENA_BLOCK_DEFAULT */
  size_t limit;      /* most bytes to malloc in all; 0: no limit */
  size_t total;      /* bytes taken from malloc so far */
  bool over;         /* an allocation failed on the limit (not on malloc) */
};

/* Empties a and sets its block size and limit (0 = default / none). */
void shoal_arena_init(struct shoal_arena *a, size_t block_size, size_t limit);

/* n bytes (at least 1) aligned for any type, valid until shoal_arena_free.
 * NULL when malloc fails, or when the limit would be passed (then a->over
 * is set). Contents are not zeroed. */
void *shoal_arena_alloc(struct shoal_arena *a, size_t n);

/* A copy of s in the arena, or NULL as shoal_arena_alloc. */
char *shoal_arena_strdup(struct shoal_arena *a, const char *s);

/* Frees every block; a is empty again with its settings kept. NULL is a no-op. */
void shoal_arena_free(struct shoal_arena *a);

#endif
