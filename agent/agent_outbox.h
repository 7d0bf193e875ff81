/* agent_outbox.h - the durable outbox (SPEC 4.2). Business records and their
 * outbox rows are written in one transaction: callers BEGIN, write their
 * record, call agent_outbox_append, and COMMIT. Rows leave the outbox only
 * when the hub's ack covers them. */
#ifndef AGENT_OUTBOX_H
#define AGENT_OUTBOX_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent_ctx.h"

/* Appends an event of type (sale, form, ticket, hello) with body (borrowed,
 * duplicated into the envelope) to the outbox. Must run inside a
 * transaction the caller commits. Assigns the next gapless seq and a new HLC
 * value, both persisted in the same transaction. Fails with SHOAL_EFULL when
 * the profile's outbox.max_events are pending. Out-params set on success:
 * *out_seq, *out_hlc (either may be NULL). */
shoal_err agent_outbox_append(struct agent_ctx *ctx, const char *type, const cJSON *body,
                              int64_t *out_seq, uint64_t *out_hlc, shoal_diag *diag);

/* Number of events not yet acknowledged by the hub. */
shoal_err agent_outbox_pending(struct agent_ctx *ctx, int64_t *out, shoal_diag *diag);

/* Issues a new HLC value (persisted; call inside a transaction) for records
 * that need a timestamp without an event. */
shoal_err agent_hlc_tick(struct agent_ctx *ctx, uint64_t *out, shoal_diag *diag);

/* Merges an HLC value received from the hub into the local clock. */
shoal_err agent_hlc_observe(struct agent_ctx *ctx, uint64_t remote, shoal_diag *diag);

#endif
