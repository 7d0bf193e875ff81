/* strmap.c - fixed-capacity string -> uint32 map (see strmap.h). */
#include "shoal/strmap.h"

#include <stdlib.h>
#include <string.h>

#define STRMAP_MIN_CAP 16

bool shoal_strmap_init(struct shoal_strmap *m, size_t max_keys) {
  size_t cap = STRMAP_MIN_CAP;
  memset(m, 0, sizeof *m);
  if (max_keys > SIZE_MAX / 4)
    return false;
  while (cap < 2 * max_keys + 2)
    cap <<= 1;
  m->key = calloc(cap, sizeof *m->key);
  m->val = calloc(cap, sizeof *m->val);
  m->mask = cap - 1;
  if (m->key && m->val)
    return true;
  shoal_strmap_free(m); /* a failed init holds nothing */
  return false;
}

void shoal_strmap_free(struct shoal_strmap *m) {
  if (!m)
    return;
  free(m->key);
  free(m->val);
  m->key = NULL;
  m->val = NULL;
  m->mask = 0;
}

size_t shoal_strmap_slot(const struct shoal_strmap *m, const char *key) {
  size_t h = shoal_strhash(key) & m->mask;
  while (m->key[h] && strcmp(m->key[h], key) != 0)
    h = (h + 1) & m->mask;
  return h;
}

bool shoal_strmap_add(struct shoal_strmap *m, const char *key, uint32_t val) {
  size_t h = shoal_strmap_slot(m, key);
  if (m->key[h])
    return false;
  m->key[h] = key;
  m->val[h] = val;
  return true;
}
