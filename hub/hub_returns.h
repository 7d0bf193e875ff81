/* hub_returns.h - the hub's handler for returns (event type "return",
 * SPEC 12): the sale must be one of the sending device's and the refund
 * within what remains of it. Everything declared here is defined in
 * hub_returns.c; the ingest loop lists it in its event-handler table
 * (hub_ingestor.c). */
#ifndef HUB_RETURNS_H
#define HUB_RETURNS_H

#include "hub_ctx.h"
#include "shoal/wire.h"

/* hub_event_fn for "return": checks ev->body (borrowed) against the sale it
 * names, stores it and queues its webhook, inside the caller's transaction
 * on ctx->db. Input errors dead-letter the event; diag says why. */
shoal_err hub_returns_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

#endif
