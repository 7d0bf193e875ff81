/* hub_http.h - the hub's HTTP API and dashboard (SPEC 10), and webhook
 * delivery. Started and stopped by `shoal-hub run`. */
#ifndef HUB_HTTP_H
#define HUB_HTTP_H

#include "hub_ctx.h"

struct hub_http;
struct hub_webhooks;

/* Starts the HTTP server on ctx->cfg.http_listen (no-op, *out = NULL, if
 * http is not configured). The server opens its own database handle. */
shoal_err hub_http_start(struct hub_ctx *ctx, struct hub_http **out, shoal_diag *diag);
/* Stops and frees; NULL is a no-op. */
void hub_http_stop(struct hub_http *http);

/* Queues a webhook delivery for event kind ("sale", "ticket",
 * "escalation") with a JSON body, durably, inside the caller's transaction
 * on ctx->db. A no-op when no webhook subscribes to kind. */
shoal_err hub_webhook_enqueue(struct hub_ctx *ctx, const char *kind, const char *body_json,
                              shoal_diag *diag);

/* Starts the delivery worker (own thread and db handle); NULL if no webhooks. */
shoal_err hub_webhooks_start(struct hub_ctx *ctx, struct hub_webhooks **out, shoal_diag *diag);
void hub_webhooks_stop(struct hub_webhooks *w);

#endif
