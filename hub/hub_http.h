/* hub_http.h - the hub's HTTP API and dashboard (SPEC 10). Started and
 * stopped by `shoal-hub run`. The server runs on its own threads with its
 * own database handles: WAL lets them read and write while ingest holds
 * ctx->db. Webhook delivery is hub_webhook.h. */
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
#define HUB_TOKEN_MAX_BYTES    4096

struct hub_http;

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

#endif
