/* agent_tickets.c - PLACEHOLDER until issue 6 (tickets) lands. */
#include "agent_tickets.h"

shoal_err agent_ticket_open_in_tx(struct agent_ctx *ctx, const cJSON *fields, char *out_id,
                                  size_t out_sz, shoal_diag *diag) {
  (void)ctx;
  (void)fields;
  (void)out_id;
  (void)out_sz;
  return shoal_fail(diag, SHOAL_EINTERNAL, "work orders are not built yet");
}

shoal_err agent_tickets_apply_remote(struct agent_ctx *ctx, const char *payload, size_t len,
                                     shoal_diag *diag) {
  (void)ctx;
  (void)payload;
  (void)len;
  (void)diag;
  return SHOAL_OK;
}
