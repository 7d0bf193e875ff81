/* hub_audit.h - the audit log of HQ writes (SPEC 14): every write over the
 * HTTP API, accepted or refused, with its user, action, target and result. */
#ifndef HUB_AUDIT_H
#define HUB_AUDIT_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"

#define HUB_AUDIT_LIST_MAX 1000 /* entries per GET /api/v1/audit */

/* Appends one entry (its own statement). user and target may be NULL. */
shoal_err hub_audit_record(hub_store *db, int64_t at_ms, const char *user, const char *action,
                           const char *target, const char *result, shoal_diag *diag);

/* Newest first, at most limit (1..HUB_AUDIT_LIST_MAX) entries, older than
 * before_id when > 0: [{"id", "at", "user", "action", "target", "result"}]. */
shoal_err hub_audit_list(hub_store *db, int64_t limit, int64_t before_id, cJSON **out,
                         shoal_diag *diag);

/* Route handler (hub_handler, hub_http_int.h) for GET /api/v1/audit; *out
 * owned by the caller. */
struct hub_call;
shoal_err hub_h_audit(struct hub_call *call, cJSON **out, shoal_diag *diag);

#endif
