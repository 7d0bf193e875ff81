/* agent_status.h - the device's state as one JSON object: what
 * `shoal-agent status` prints and GET /v1/status answers (SPEC 2, 11). */
#ifndef AGENT_STATUS_H
#define AGENT_STATUS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent_ctx.h"

/* Builds {device, store, region, profile, epoch, policies, pending_policies,
 * stale, outbox_pending, rejected_policies, connected, last_ack?,
 * last_connect?, acked_upto} from ctx's database at now_ms. "connected" is
 * what the daemon last recorded, and only while its process lives.
 * *out is new (caller deletes). */
shoal_err agent_status_get(struct agent_ctx *ctx, int64_t now_ms, cJSON **out, shoal_diag *diag);

/* The two values the store API's `sync` event carries. */
shoal_err agent_status_sync(struct agent_ctx *ctx, bool *connected, int64_t *outbox_pending,
                            shoal_diag *diag);

#endif
