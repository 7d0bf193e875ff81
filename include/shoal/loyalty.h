/* loyalty.h - the `loyalty` policy key and the points arithmetic both ends
 * share (SPEC 13): points earned by a sale, and the share of earned or
 * redeemed points a partial return gives back. Integers only; a sequence of
 * returns that gives back everything gives back every point exactly. */
#ifndef SHOAL_LOYALTY_H
#define SHOAL_LOYALTY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"

#define SHOAL_LOYALTY_CODE_TTL_DEFAULT_S 300
#define SHOAL_LOYALTY_GRACE_DEFAULT_S    86400
#define SHOAL_LOYALTY_CODE_TTL_MAX_S     (7 * 86400)
#define SHOAL_LOYALTY_GRACE_MAX_S        (365 * 86400)

struct shoal_loyalty {
  int64_t earn_per;     /* minor units per point earned, >= 1 */
  int64_t redeem_value; /* minor units one point pays, >= 1 */
  int64_t code_ttl_s;   /* member codes live this long */
  int64_t grace_s;      /* reservations are released at expiry + grace */
};

/* Parses a policy's `loyalty` object: earn_per and redeem_value required,
 * code_ttl_s and grace_s defaulted; unknown keys are errors naming the key
 * (SHOAL_EINPUT). */
shoal_err shoal_loyalty_parse(const cJSON *obj, struct shoal_loyalty *out, shoal_diag *diag);

/* The defaults that apply where no policy sets `loyalty` (code TTL and
 * grace only; earn_per and redeem_value 0 mean "no loyalty programme"). */
void shoal_loyalty_defaults(struct shoal_loyalty *out);

/* Points a member sale earns: floor((total - points_paid) / earn_per),
 * never negative; 0 when earn_per is 0. */
int64_t shoal_loyalty_earned(const struct shoal_loyalty *l, int64_t total, int64_t points_paid);

/* The part of `amount` that goes with `part` more of `whole` when `before`
 * of it was already given: floor(amount*(before+part)/whole) -
 * floor(amount*before/whole). Summed over parts that reach whole it is
 * exactly amount. 0 when whole <= 0; parts are clamped into [0, whole]. */
int64_t shoal_loyalty_share(int64_t amount, int64_t before, int64_t part, int64_t whole);

#endif
