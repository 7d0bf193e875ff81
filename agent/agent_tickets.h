/* agent_tickets.h - the agent's work-order store (SPEC 7), as used by
 * other agent modules (forms' on_submit opens tickets). */
#ifndef AGENT_TICKETS_H
#define AGENT_TICKETS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "agent_ctx.h"

/* Opens a ticket inside the caller's transaction: assigns an id, runs
 * routing from the cached policies, stores it locally and appends its
 * "open" ticket event to the outbox. fields is {category, priority, title,
 * customer?, form?} (borrowed). On success copies the id into out_id. */
shoal_err agent_ticket_open_in_tx(struct agent_ctx *ctx, const cJSON *fields, char *out_id,
                                  size_t out_sz, shoal_diag *diag);

/* Applies a ticket update received from the hub on P/down/{store}[/{device}]
 * (an event envelope, payload len bytes) to the local ticket store so the
 * device converges with the hub. Malformed input is SHOAL_EINPUT (logged by
 * the caller, never fatal). */
shoal_err agent_tickets_apply_remote(struct agent_ctx *ctx, const char *payload, size_t len,
                                     shoal_diag *diag);

#endif
