/* hub_forms.h - the hub's handler for form submissions (event type "form",
 * SPEC 11): validate a submission against the form version it names and
 * store it. Everything declared here is defined in hub_forms.c; the ingest
 * loop lists it in its event-handler table (hub_ingestor.c). */
#ifndef HUB_FORMS_H
#define HUB_FORMS_H

#include "hub_ctx.h"
#include "shoal/wire.h"

/* hub_event_fn for "form": validates ev->body (borrowed) against the form
 * version named and stores it inside the caller's transaction on ctx->db.
 * Input errors (SHOAL_EINPUT, ...) dead-letter the event; diag says why. */
shoal_err hub_forms_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

#endif
