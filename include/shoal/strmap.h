/* strmap.h - a fixed-capacity open-addressing map from borrowed strings to
 * uint32 values, sized once from an upper bound on its keys (the pricing
 * model's SKU, category and rule tables, and duplicate checks when a
 * document is validated). Keys are not copied: they must outlive the map. */
#ifndef SHOAL_STRMAP_H
#define SHOAL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shoal_strmap {
  const char **key; /* NULL: empty slot */
  uint32_t *val;
  size_t mask; /* capacity - 1 (a power of two) */
};

/* 64-bit FNV-1a of s: the one string hash (inline: item lookups are hot). */
static inline uint64_t shoal_strhash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

/* Sizes m for up to max_keys keys (load factor below 1/2). false on
 * out-of-memory, with nothing allocated (m stays safe to free). */
bool shoal_strmap_init(struct shoal_strmap *m, size_t max_keys);

/* Frees the tables (not the keys). NULL is a no-op. */
void shoal_strmap_free(struct shoal_strmap *m);

/* The slot holding key, or the empty slot where it would go: test
 * m->key[slot] to know which; read or set m->key[slot] and m->val[slot].
 * The map must not be full (init's bound keeps it from filling). */
size_t shoal_strmap_slot(const struct shoal_strmap *m, const char *key);

/* Adds key with val; false (and nothing changed) if key was there already. */
bool shoal_strmap_add(struct shoal_strmap *m, const char *key, uint32_t val);

#endif
