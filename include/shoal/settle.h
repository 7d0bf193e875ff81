/* settle.h - store settlement (SPEC 8): the policy's "settlement" section
 * (named commission schemes with ascending tiers, and a store -> scheme map)
 * and the commission of a period's sales total under a scheme, `flat` or
 * `marginal`. Integer money only; the division by 10000 is rounded half up
 * exactly once, over the whole sum. Pure functions, no allocation. */
#ifndef SHOAL_SETTLE_H
#define SHOAL_SETTLE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/shoal_limits.h"

#define SHOAL_SETTLE_TIERS_MAX 32
#define SHOAL_SETTLE_BP_MAX    10000 /* a commission rate above 100% is a typo */

enum shoal_settle_mode { SHOAL_SETTLE_FLAT, SHOAL_SETTLE_MARGINAL };

struct shoal_settle_tier {
  bool has_upto; /* false only for the last tier */
  int64_t upto;  /* minor units, inclusive upper bound of the tier */
  int64_t bp;    /* rate in basis points */
};

struct shoal_settle_scheme {
  char name[SHOAL_ID_MAX + 1];
  enum shoal_settle_mode mode;
  size_t ntiers;
  struct shoal_settle_tier tiers[SHOAL_SETTLE_TIERS_MAX];
};

/* Validates this module's sections of a policy document (SPEC 4.3);
 * called by shoal_policy_validate_json. Checks the "settlement" section when
 * present: known keys only, each scheme's mode and tiers (non-empty, strictly
 * ascending "upto", only the last without one, 0 <= bp <= 10000), and every
 * store mapped to a valid id and a scheme defined in the same section. */
shoal_err shoal_settle_validate_doc(const cJSON *doc, shoal_diag *diag);

/* Parses one scheme object (as validated above) named name into *out. */
shoal_err shoal_settle_scheme_parse(const cJSON *scheme, const char *name,
                                    struct shoal_settle_scheme *out, shoal_diag *diag);

/* Looks up store in a "settlement" section (the object, not the document).
 * *found = false (and *out untouched) when the store is not mapped; else
 * *out is its scheme. */
shoal_err shoal_settle_store_scheme(const cJSON *settlement, const char *store, bool *found,
                                    struct shoal_settle_scheme *out, shoal_diag *diag);

/* Commission on a period's sales total under scheme (SPEC 8). A negative
 * total (refunds outweigh sales) falls in the first tier under both modes.
 * SHOAL_ELIMIT if total is beyond SHOAL_MONEY_MAX in magnitude. */
shoal_err shoal_settle_commission(const struct shoal_settle_scheme *scheme, int64_t total,
                                  int64_t *out, shoal_diag *diag);

#endif
