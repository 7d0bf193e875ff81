/* pricing.h - PLACEHOLDER interface until issue 3 (pricing) lands. */
#ifndef SHOAL_PRICING_H
#define SHOAL_PRICING_H

#include <cjson/cJSON.h>

#include "err.h"

/* Validates this module's sections of a policy document (SPEC 4.3);
 * called by shoal_policy_validate_json. */
shoal_err shoal_pricing_validate_doc(const cJSON *doc, shoal_diag *diag);

#endif
