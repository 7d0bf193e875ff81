/* agent_api.h - the store API (SPEC 11) served by `shoal-agent run` on
 * local_api.listen: every route, the reference till page, and the
 * /v1/events stream. It needs no broker. The compiled model (pricing,
 * checkout policy, forms) lives in memory and is swapped atomically when a
 * policy version takes effect; requests never re-read the policy cache.
 * Each worker thread has its own database connection. */
#ifndef AGENT_API_H
#define AGENT_API_H

#include "agent_ctx.h"

#define AGENT_API_WATCH_MS 200           /* how often the cache is checked for a new version */
#define AGENT_API_PRUNE_MS (3600 * 1000) /* idempotency keys pruned this often */

struct agent_api;

/* Starts the store API for the device ctx describes (its cfg.path is
 * reopened once per worker thread). *out is NULL and nothing runs when
 * neither the agent config nor the profile names local_api.listen. The
 * bearer token is read from local_api.token_file now (none: open API). */
shoal_err agent_api_start(const struct agent_ctx *ctx, struct agent_api **out, shoal_diag *diag);

/* Stops serving, joins every thread, frees; NULL is a no-op. */
void agent_api_stop(struct agent_api *api);

/* The TCP port the API listens on (useful with local_api.listen port 0). */
int agent_api_port(const struct agent_api *api);

#endif
