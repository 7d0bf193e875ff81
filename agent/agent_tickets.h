/* agent_tickets.h - the agent's work-order store (SPEC 7): every ticket
 * event the device knows (its own and the hub's) and the fold of each
 * ticket under the cached policies. Each local change is a ticket event
 * written with its outbox row in the caller's transaction. */
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

/* Records one ticket event of kind (not "open") with fields (borrowed; may
 * be NULL) for ticket id inside the caller's transaction: outbox row, local
 * event row and the re-folded ticket. SHOAL_ENOTFOUND ("no such ticket")
 * when the device does not hold the ticket; SHOAL_EINPUT naming both
 * states when the kind is not allowed from the local state. */
shoal_err agent_ticket_event_in_tx(struct agent_ctx *ctx, const char *id, const char *kind,
                                   const cJSON *fields, shoal_diag *diag);

/* The folded ticket as stored (*out new tree, caller deletes);
 * SHOAL_ENOTFOUND if the device knows no event of it. */
shoal_err agent_ticket_get(struct agent_ctx *ctx, const char *id, cJSON **out, shoal_diag *diag);

/* Every known ticket, newest first, as summaries (*out new array);
 * state filters when not NULL. */
shoal_err agent_ticket_list(struct agent_ctx *ctx, const char *state, cJSON **out,
                            shoal_diag *diag);

/* Applies a ticket update received from the hub on P/down/{store}[/{device}]
 * (an event envelope, payload len bytes) to the local ticket store so the
 * device converges with the hub. Malformed input is SHOAL_EINPUT (logged by
 * the caller, never fatal). */
shoal_err agent_tickets_apply_remote(struct agent_ctx *ctx, const char *payload, size_t len,
                                     shoal_diag *diag);

/* Verifies a work-order code offline against the trusted keys (SPEC 7.4)
 * and records the technician's check-in ("scan" event with fields, e.g.
 * tech, plus code_expires) in its own transaction. A code that is forged,
 * foreign, expired or malformed is a security rejection (SHOAL_ESIG,
 * SHOAL_ESCOPE or SHOAL_EEXPIRED) and records nothing. On success copies
 * the ticket id into id_out (SHOAL_ID_MAX + 1 bytes). */
shoal_err agent_ticket_scan(struct agent_ctx *ctx, const char *code, const cJSON *fields,
                            char *id_out, shoal_diag *diag);

#endif
