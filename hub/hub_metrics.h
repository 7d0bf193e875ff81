/* hub_metrics.h - the hub's /metrics page in Prometheus text format
 * (exposition 0.0.4): ingest totals and rate, dead letters, devices online,
 * per-device outbox depth and last-seen age, policy versions, webhook queue
 * depth, failures and dead deliveries. Read-only over the database. */
#ifndef HUB_METRICS_H
#define HUB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#include "shoal/err.h"

#define HUB_METRICS_MAX_BYTES      (8 * 1024 * 1024)
#define HUB_METRICS_RATE_WINDOW_MS 60000 /* ingest rate averaged over the last minute */

/* Renders the metrics page at now_ms; *out is heap text (caller frees) of
 * *out_len bytes. SHOAL_ELIMIT past HUB_METRICS_MAX_BYTES. */
shoal_err hub_metrics_render(hub_store *db, int64_t now_ms, char **out, size_t *out_len,
                             shoal_diag *diag);

#endif
