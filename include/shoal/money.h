/* money.h - integer money (minor units, int64) and basis-point arithmetic.
 * No floating point. Division rounds half up (away from zero for halves of
 * negative values too, i.e. symmetric), or floors/ceils where named. */
#ifndef SHOAL_MONEY_H
#define SHOAL_MONEY_H

#include <stdbool.h>
#include <stdint.h>

/* num / den rounded half up (|x.5| goes away from zero). den > 0. */
int64_t shoal_div_half_up(int64_t num, int64_t den);

/* floor(num / den) and ceil(num / den) for den > 0, any sign of num. */
int64_t shoal_div_floor(int64_t num, int64_t den);
int64_t shoal_div_ceil(int64_t num, int64_t den);

/* amount * bp / 10000 rounded half up. */
int64_t shoal_bp_of(int64_t amount, int64_t bp);

/* Overflow-checked arithmetic: false (and *out untouched) on overflow. */
bool shoal_add_checked(int64_t a, int64_t b, int64_t *out);
bool shoal_mul_checked(int64_t a, int64_t b, int64_t *out);

/* Formats minor units as "28.00" (2 decimals) into buf of at least 32 bytes. */
void shoal_money_format(int64_t minor, char *buf, unsigned long bufsz);

#endif
