/* hub_tickets.h - the hub's view of work orders (SPEC 15): the handler for
 * event type "ticket" (listed in hub_ingestor.c's event-handler table) and
 * its after-commit and timer hooks, the policy chain a ticket is folded
 * under, and the merged ticket itself (used by `shoal-hub ticket` and the
 * HTTP API). Everything declared here is defined in hub_tickets.c. */
#ifndef HUB_TICKETS_H
#define HUB_TICKETS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "hub_ctx.h"
#include "shoal/ticket.h"
#include "shoal/wire.h"

/* The policy documents in effect for a ticket's chain (global, its region,
 * its store): the highest published version of each whose effective_at has
 * come. docs are owned (hub_ticket_chain_cleanup). */
struct hub_ticket_chain {
  cJSON *docs[3];
  size_t n;
};

/* Loads the chain for a ticket of store in region at now_ms into *out
 * (caller's storage; release with hub_ticket_chain_cleanup). */
shoal_err hub_ticket_chain_load(struct hub_ctx *ctx, const char *region, const char *store,
                                int64_t now_ms, struct hub_ticket_chain *out, shoal_diag *diag);
/* Deletes the documents held by *c; *c itself is the caller's. */
void hub_ticket_chain_cleanup(struct hub_ticket_chain *c);

/* Folds ticket id from every event the hub holds, under its chain at now_ms.
 * *out is a new tree (caller deletes); *sum its summary. SHOAL_ENOTFOUND
 * if the hub holds no event of it. */
shoal_err hub_ticket_fold(struct hub_ctx *ctx, const char *id, int64_t now_ms, cJSON **out,
                          struct shoal_ticket_summary *sum, shoal_diag *diag);

/* Writes one event of the hub's own stream (SPEC 15: HQ dispatch; device
 * "hub", its epoch and gapless seq, ordered after every event the hub holds
 * of the ticket) for ticket id of store with body {ticket, kind, ...}
 * (borrowed), and re-folds the ticket (marked changed, so it is published
 * to P/down/{store}). Inside the caller's transaction on ctx->db; *sum
 * receives the folded summary. SHOAL_EINPUT for a
 * body the ticket model refuses. */
shoal_err hub_tickets_emit(struct hub_ctx *ctx, const char *id, const char *store,
                           const cJSON *body, int64_t now_ms, struct shoal_ticket_summary *sum,
                           shoal_diag *diag);

/* hub_event_fn for "ticket": stores the event (ev borrowed), re-folds its
 * ticket and marks it changed, inside the caller's transaction on ctx->db.
 * Input errors dead-letter the event; diag says why. */
shoal_err hub_tickets_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag);

/* After each committed ingest batch: publishes merged tickets that changed
 * (to P/down/{store}) through ctx->publish. */
shoal_err hub_tickets_after_commit(struct hub_ctx *ctx, shoal_diag *diag);

/* Periodic (about once a second): SLA timers, emits due escalate events in
 * its own transaction, then publishes what changed. */
shoal_err hub_tickets_tick(struct hub_ctx *ctx, int64_t now_ms, shoal_diag *diag);

#endif
