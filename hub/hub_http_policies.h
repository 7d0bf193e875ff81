/* hub_http_policies.h - the HTTP route handlers of the policy lifecycle
 * (SPEC 14) and the quote preview, defined in hub_http_policies.c and
 * listed in hub_http.c's route table. Each is a hub_handler
 * (hub_http_int.h): on success *out is the JSON answer, owned by the caller. */
#ifndef HUB_HTTP_POLICIES_H
#define HUB_HTTP_POLICIES_H

#include <cjson/cJSON.h>

#include "shoal/err.h"

struct hub_call;

/* GET /api/v1/policies: the newest version per scope. */
shoal_err hub_h_policies_list(struct hub_call *call, cJSON **out, shoal_diag *diag);
/* POST /api/v1/policies: publish a document (now or scheduled). */
shoal_err hub_h_policies_publish(struct hub_call *call, cJSON **out, shoal_diag *diag);
/* GET /api/v1/policies/{scope}...: a scope's versions and documents. */
shoal_err hub_h_policies_scope(struct hub_call *call, cJSON **out, shoal_diag *diag);
/* POST /api/v1/policies/{scope}/rollback: rollback as a new version. */
shoal_err hub_h_policies_rollback(struct hub_call *call, cJSON **out, shoal_diag *diag);
/* POST /api/v1/quote: a quote computed with the shared pricing engine. */
shoal_err hub_h_quote(struct hub_call *call, cJSON **out, shoal_diag *diag);

#endif
