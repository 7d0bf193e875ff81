/* hub_ingest.h - per-type event handlers the ingest loop calls for each new
 * event, inside the same transaction as the dedupe record. Returning
 * SHOAL_EINPUT/SHOAL_ENOTFOUND/SHOAL_ELIMIT sends the event to the dead-letter
 * table (with diag as the reason) and it is still acknowledged; any other
 * error rolls the batch back and is retried. */
#ifndef HUB_INGEST_H
#define HUB_INGEST_H

#include <stdint.h>

#include "hub_ctx.h"
#include "wire.h"

/* Form submissions (type "form"): validate against the form version named, store. hub_forms.c */
shoal_err hub_forms_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

/* Ticket events (type "ticket"): store, merge, re-publish. hub_tickets.c */
shoal_err hub_tickets_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

/* Returns (type "return", SPEC 12): the sale must be one of the sending
 * device's and the refund within what remains of it; store, webhook.
 * hub_returns.c */
shoal_err hub_returns_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

/* After each committed ingest batch: publish merged tickets that changed
 * (to P/down/{store}) through ctx->publish. hub_tickets.c */
shoal_err hub_tickets_after_commit(struct hub_ctx *ctx, shoal_diag *diag);

/* Periodic (about once a second): SLA timers, emits due escalate events in
 * its own transaction, then publishes what changed. hub_tickets.c */
shoal_err hub_tickets_tick(struct hub_ctx *ctx, int64_t now_ms, shoal_diag *diag);

#endif
