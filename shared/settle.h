/* settle.h - PLACEHOLDER interface until issue 7 (store settlement) lands. */
#ifndef SHOAL_SETTLE_H
#define SHOAL_SETTLE_H

#include <cjson/cJSON.h>

#include "err.h"

/* Validates this module's sections of a policy document (SPEC 4.3);
 * called by shoal_policy_validate_json. */
shoal_err shoal_settle_validate_doc(const cJSON *doc, shoal_diag *diag);

#endif
