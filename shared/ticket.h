/* ticket.h - PLACEHOLDER interface until issue 6 (tickets) lands. */
#ifndef SHOAL_TICKET_H
#define SHOAL_TICKET_H

#include <cjson/cJSON.h>

#include "err.h"

/* Validates this module's sections of a policy document (SPEC 4.3);
 * called by shoal_policy_validate_json. */
shoal_err shoal_ticket_validate_doc(const cJSON *doc, shoal_diag *diag);

#endif
