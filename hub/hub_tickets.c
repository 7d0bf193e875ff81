/* hub_tickets.c - PLACEHOLDER until the tickets issue lands: accepts tickets events
 * without further processing (the identity is still recorded by ingest). */
#include "hub_ingest.h"

shoal_err hub_tickets_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag) {
  (void)ctx;
  (void)ev;
  (void)diag;
  return SHOAL_OK;
}

shoal_err hub_tickets_after_commit(struct hub_ctx *ctx, shoal_diag *diag) {
  (void)ctx;
  (void)diag;
  return SHOAL_OK;
}

shoal_err hub_tickets_tick(struct hub_ctx *ctx, int64_t now_ms, shoal_diag *diag) {
  (void)ctx;
  (void)now_ms;
  (void)diag;
  return SHOAL_OK;
}
