/* hub_http.h - the hub's HTTP API and dashboard (SPEC 10), and webhook
 * delivery. Started and stopped by `shoal-hub run`. The server and the
 * webhook worker each run on their own thread with their own database
 * handle: WAL lets them read and write while ingest holds ctx->db. */
#ifndef HUB_HTTP_H
#define HUB_HTTP_H

#include <stdint.h>

#include "hub_ctx.h"

#define HUB_HTTP_API_BODY_MAX (SHOAL_POLICY_DOC_MAX_BYTES) /* POST bodies (a policy document) */
/* A refused body is read and dropped up to this much, so that clients which
 * send before they read still get the status; past it the connection closes. */
#define HUB_HTTP_DRAIN_MAX      (64 * 1024 * 1024)
#define HUB_HTTP_CONN_MAX       64 /* concurrent connections (requests of any kind) */
#define HUB_HTTP_CONN_TIMEOUT_S 30 /* idle connection timeout */
/* Slow clients (docs/hub-http.md "Slow clients"). Connections from one
 * client address at once: */
#define HUB_HTTP_PER_IP_MAX 32
/* Extra connections past HUB_HTTP_CONN_MAX that serve only /healthz and
 * /metrics, and must send their request within HUB_HTTP_PROBE_RECV_MS: */
#define HUB_HTTP_PROBE_RESERVE 4
#define HUB_HTTP_PROBE_RECV_MS 2000
/* A request's headers must be received within this many seconds of its
 * connection opening (or of the previous response on a keep-alive
 * connection), whatever the trickle; an accepted body gets
 * its Content-Length / HUB_HTTP_BODY_MIN_RATE seconds more. The handler's
 * time and the response's are not counted. */
#define HUB_HTTP_RECV_MAX_S    10
#define HUB_HTTP_BODY_MIN_RATE (16 * 1024) /* bytes/s */
#define HUB_TOKEN_MAX_BYTES     4096

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

struct hub_http;
struct hub_webhooks;

/* Starts the HTTP server on ctx->cfg.http_listen (no-op, *out = NULL, if
 * http is not configured). The server opens its own database handle, reads
 * the bearer token from http.token_file (trimmed; required), and binds
 * exactly the configured address. ctx must outlive the server (its config
 * and publish hook are used by POST /api/v1/policies). */
shoal_err hub_http_start(struct hub_ctx *ctx, struct hub_http **out, shoal_diag *diag);
/* The TCP port the server listens on (useful when listen says port 0). */
int hub_http_port(const struct hub_http *http);
/* Stops and frees; NULL is a no-op. */
void hub_http_stop(struct hub_http *http);

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
void hub_webhook_opts_default(struct hub_webhook_opts *o);

/* Starts the delivery worker (own thread and db handle); *out = NULL if no
 * webhooks are configured. Secrets are read from each secret_file now. */
shoal_err hub_webhooks_start(struct hub_ctx *ctx, struct hub_webhooks **out, shoal_diag *diag);
shoal_err hub_webhooks_start_opts(struct hub_ctx *ctx, const struct hub_webhook_opts *opts,
                                  struct hub_webhooks **out, shoal_diag *diag);
/* Stops the worker (an in-flight request is aborted) and frees; NULL no-op. */
void hub_webhooks_stop(struct hub_webhooks *w);

#endif
