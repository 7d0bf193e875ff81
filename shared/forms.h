/* forms.h - PLACEHOLDER interface until issue 5 (forms) lands. */
#ifndef SHOAL_FORMS_H
#define SHOAL_FORMS_H

#include <cjson/cJSON.h>

#include "err.h"

/* Validates this module's sections of a policy document (SPEC 4.3);
 * called by shoal_policy_validate_json. */
shoal_err shoal_forms_validate_doc(const cJSON *doc, shoal_diag *diag);

#endif
