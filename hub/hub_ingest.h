/* hub_ingest.h - per-type event handlers the ingest loop calls for each new
 * event, inside the same transaction as the dedupe record. Returning
 * SHOAL_EINPUT/SHOAL_ENOTFOUND/SHOAL_ELIMIT sends the event to the dead-letter
 * table (with diag as the reason) and it is still acknowledged; any other
 * error rolls the batch back and is retried. */
#ifndef HUB_INGEST_H
#define HUB_INGEST_H

#include "hub_ctx.h"
#include "wire.h"

/* Form submissions (type "form"): validate against the form version named, store. hub_forms.c */
shoal_err hub_forms_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

/* Ticket events (type "ticket"): store, merge, re-publish. hub_tickets.c */
shoal_err hub_tickets_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

#endif
