/* hub_http.c - PLACEHOLDER until issue 7 (hub HTTP) lands. */
#include "hub_http.h"

#include <stddef.h>

shoal_err hub_http_start(struct hub_ctx *ctx, struct hub_http **out, shoal_diag *diag) {
  (void)ctx;
  (void)diag;
  *out = NULL;
  return SHOAL_OK;
}

void hub_http_stop(struct hub_http *http) { (void)http; }

shoal_err hub_webhook_enqueue(struct hub_ctx *ctx, const char *kind, const char *body_json,
                              shoal_diag *diag) {
  (void)ctx;
  (void)kind;
  (void)body_json;
  (void)diag;
  return SHOAL_OK;
}

shoal_err hub_webhooks_start(struct hub_ctx *ctx, struct hub_webhooks **out, shoal_diag *diag) {
  (void)ctx;
  (void)diag;
  *out = NULL;
  return SHOAL_OK;
}

void hub_webhooks_stop(struct hub_webhooks *w) { (void)w; }
