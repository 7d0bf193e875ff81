/* money.c - integer money helpers. */
#include "shoal/money.h"

#include <stdio.h>

int64_t shoal_div_floor(int64_t num, int64_t den) {
  int64_t q = num / den, r = num % den;
  if (r != 0 && ((r < 0) != (den < 0)))
    q--;
  return q;
}

int64_t shoal_div_ceil(int64_t num, int64_t den) {
  return -shoal_div_floor(-num, den);
}

int64_t shoal_div_half_up(int64_t num, int64_t den) {
  /* Work in the magnitude so halves round away from zero for either sign. */
  __int128 a = num < 0 ? -(__int128)num : (__int128)num;
  __int128 q = a / den, r = a % den;
  if (2 * r >= den)
    q++;
  return (int64_t)(num < 0 ? -q : q);
}

int64_t shoal_bp_of(int64_t amount, int64_t bp) {
  __int128 p = (__int128)amount * bp;
  __int128 a = p < 0 ? -p : p;
  __int128 q = a / 10000, r = a % 10000;
  if (2 * r >= 10000)
    q++;
  return (int64_t)(p < 0 ? -q : q);
}

bool shoal_add_checked(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return false;
  *out = r;
  return true;
}

bool shoal_mul_checked(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return false;
  *out = r;
  return true;
}

void shoal_money_format(int64_t minor, char *buf, unsigned long bufsz) {
  const char *sign = minor < 0 ? "-" : "";
  uint64_t a = minor < 0 ? (uint64_t)(-(minor + 1)) + 1 : (uint64_t)minor;
  snprintf(buf, bufsz, "%s%llu.%02llu", sign, (unsigned long long)(a / 100),
           (unsigned long long)(a % 100));
}
