/* hub_webhook.h - webhook delivery (SPEC 10): events are queued durably
 * inside the ingest transaction that stored them and POSTed by a worker
 * thread with its own database handle. Everything declared here is defined
 * in hub_webhook.c. */
#ifndef HUB_WEBHOOK_H
#define HUB_WEBHOOK_H

#include <stdint.h>

#include "hub_ctx.h"

#define HUB_WEBHOOK_BODY_MAX     (2 * SHOAL_EVENT_MAX_BYTES) /* one delivery */
#define HUB_WEBHOOK_BATCH        64                          /* rows looked at per worker round */
#define HUB_WEBHOOK_ATTEMPTS_MAX 20 /* then the delivery goes to webhook_dead */
/* A failing delivery older than this goes to webhook_dead. */
#define HUB_WEBHOOK_MAX_AGE_MS         (24LL * 3600 * 1000)
#define HUB_WEBHOOK_BACKOFF_MIN_MS     500
#define HUB_WEBHOOK_BACKOFF_MAX_MS     (30 * 1000)
#define HUB_WEBHOOK_CONNECT_TIMEOUT_MS 3000
#define HUB_WEBHOOK_TIMEOUT_MS         10000 /* whole request */
#define HUB_WEBHOOK_SLICE_MS           1000  /* per receiver per round, then the next */
#define HUB_WEBHOOK_POLL_MS            200   /* queue poll when idle */

struct hub_webhooks;

/* Queues a webhook delivery for event kind ("sale", "ticket",
 * "escalation") with a JSON body, durably, inside the caller's transaction
 * on ctx->db. A no-op when no webhook subscribes to kind. Never touches the
 * network. SHOAL_EINPUT for an unknown kind. A body over
 * HUB_WEBHOOK_BODY_MAX is recorded straight in webhook_dead (never a reason
 * to refuse the event). */
shoal_err hub_webhook_enqueue(struct hub_ctx *ctx, const char *kind, const char *body_json,
                              shoal_diag *diag);

/* Delivery tuning; tests shorten the backoff. */
struct hub_webhook_opts {
  int64_t backoff_min_ms, backoff_max_ms; /* delay after failure n: min * 2^(n-1), capped */
  int max_attempts;
  int64_t max_age_ms;
  int64_t poll_ms;
  long connect_timeout_ms, timeout_ms;
};
/* Fills *o (caller's storage) with the HUB_WEBHOOK_* defaults. */
void hub_webhook_opts_default(struct hub_webhook_opts *o);

/* Starts the delivery worker (own thread and db handle); *out = NULL if no
 * webhooks are configured. Secrets are read from each secret_file now. */
shoal_err hub_webhooks_start(struct hub_ctx *ctx, struct hub_webhooks **out, shoal_diag *diag);
/* hub_webhooks_start with explicit tuning (opts is copied). *out owned by the
 * caller, freed with hub_webhooks_stop. */
shoal_err hub_webhooks_start_opts(struct hub_ctx *ctx, const struct hub_webhook_opts *opts,
                                  struct hub_webhooks **out, shoal_diag *diag);
/* Stops the worker (an in-flight request is aborted) and frees; NULL no-op. */
void hub_webhooks_stop(struct hub_webhooks *w);

#endif
