/* arena.c - chained bump allocator (see arena.h). */
#include "shoal/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN alignof(max_align_t)

struct shoal_arena_block {
  struct shoal_arena_block *next;
  size_t used, cap;
  alignas(max_align_t) unsigned char data[];
};

void shoal_arena_init(struct shoal_arena *a, size_t block_size, size_t limit) {
  memset(a, 0, sizeof *a);
  a->block_size = block_size;
  a->limit = limit;
}

void *shoal_arena_alloc(struct shoal_arena *a, size_t n) {
  if (n > SIZE_MAX / 2)
    return NULL; /* no block could hold it; rounding up would wrap */
  n = n ? (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1) : ARENA_ALIGN;
  struct shoal_arena_block *b = a->head;
  if (!b || b->cap - b->used < n) {
    size_t min = a->block_size ? a->block_size : SHOAL_ARENA_BLOCK_DEFAULT;
    size_t cap = n > min ? n : min;
    if (a->limit && (cap > a->limit || a->total > a->limit - cap)) {
      a->over = true;
      return NULL;
    }
    b = malloc(sizeof *b + cap);
    if (!b)
      return NULL;
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
    a->total += cap;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

char *shoal_arena_strdup(struct shoal_arena *a, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = shoal_arena_alloc(a, n);
  if (p)
    memcpy(p, s, n);
  return p;
}

void shoal_arena_free(struct shoal_arena *a) {
  if (!a)
    return;
  struct shoal_arena_block *b = a->head;
  while (b) {
    struct shoal_arena_block *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
  a->total = 0;
}
