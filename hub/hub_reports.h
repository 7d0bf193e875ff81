/* hub_reports.h - read-only reports over the hub database for HQ: sales by
 * region/store/device/hour, store settlement (SPEC 8), the device fleet with
 * sync health, and tickets with SLA state. Each builds a cJSON array the
 * caller owns (cJSON_Delete); none writes to the database. Shared by the
 * CLI (`shoal-hub settle`) and the HTTP API. */
#ifndef HUB_REPORTS_H
#define HUB_REPORTS_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"

/* A device online whose reported backlog has not moved for this long is
 * "connected but not syncing". */
#define HUB_SYNC_STALL_MS       (5 * 60 * 1000)
#define HUB_TICKETS_LIST_MAX    10000
#define HUB_SLA_DUE_SOON_MIN_MS (15 * 60 * 1000)
#define HUB_PERIOD_ALL_FROM     INT64_MIN
#define HUB_PERIOD_ALL_TO       INT64_MAX

/* Parses a period bound: ISO-8601 with offset, or a date "YYYY-MM-DD"
 * (00:00 UTC). NULL or "" leaves *out_ms untouched (open bound). */
shoal_err hub_reports_time_parse(const char *s, const char *what, int64_t *out_ms,
                                 shoal_diag *diag);

/* Sales in [from_ms, to_ms) grouped by "region", "store", "device",
 * "hour" (UTC hour bucket, split by region) or "channel": rows carry the
 * group keys, "count" and "total" of sales, "returns" (refunds) and "net"
 * (total - returns), each sale and return counted in the period of its own
 * time (SPEC 12). "sku": sku, count (lines), qty, total, returned_qty,
 * returns, net. "payment": method, count, total (cash net of change),
 * returns (refunded), net. "rule": rule, type, scope, count (sales it
 * changed), discount. *out owned by the caller. */
/* "+08:00" / "-05:30" / "Z" -> offset ms (SHOAL_EINPUT otherwise). */
shoal_err hub_reports_tz_parse(const char *tz, int64_t *offset_ms, shoal_diag *diag);
/* hub_reports_sales with "hour" buckets in local time at offset tz_ms (each
 * row also gets "hour_local", the bucket start with its offset). */
shoal_err hub_reports_sales_tz(hub_store *db, const char *by, int64_t from_ms, int64_t to_ms,
                               int64_t tz_ms, cJSON **out, shoal_diag *diag);
shoal_err hub_reports_sales(hub_store *db, const char *by, int64_t from_ms, int64_t to_ms,
                            cJSON **out, shoal_diag *diag);

/* Store settlement for [from_ms, to_ms): one object per store (sorted) that
 * sold in the period or is mapped to a scheme by a published settlement
 * section: store, region, scheme (null if unmapped), sales_total, commission. The
 * settlement section comes, per store, from the most specific scope
 * (store/S, region/R, global) whose latest published document in effect
 * (effective_at absent or come) sets it. sales_total is NET of returns
 * (SPEC 12: settlement on net), with "gross" and "returns" beside it; a
 * negative net earns no commission. */
shoal_err hub_reports_settlement(hub_store *db, int64_t from_ms, int64_t to_ms, cJSON **out,
                                 shoal_diag *diag);

/* CSV of a settlement array ("store,region,scheme,sales_total,commission");
 * heap, caller frees; NULL on OOM. */
char *hub_reports_settlement_csv(const cJSON *rows);

/* The fleet: one object per device with online, last_seen, last_seen_age_s,
 * outbox_depth, dead_letters (its refused events), policies (applied, from
 * hello), latest (newest version in effect per scope of the device's chain),
 * behind (scopes behind), stale (applied scopes past their expires_at), and
 * "sync": "ok" | "offline" | "behind" | "not_syncing". */
shoal_err hub_reports_devices(hub_store *db, int64_t now_ms, cJSON **out, shoal_diag *diag);

/* Latest published version per scope: [{scope, version, published_at}]. */
shoal_err hub_reports_policies(hub_store *db, cJSON **out, shoal_diag *diag);

/* Tickets (newest first, at most HUB_TICKETS_LIST_MAX): id, store, region,
 * state, priority, group, category, title, opened_at, resolve_due,
 * resolved_at, escalation_level and "sla_state": "none" (no SLA applies),
 * "ok", "due_soon" (within a quarter of its window, at least
 * HUB_SLA_DUE_SOON_MIN_MS, of the due time), "breached" (unresolved past
 * due, or resolved late) or "met" (resolved in time). */
shoal_err hub_reports_tickets(hub_store *db, int64_t now_ms, cJSON **out, shoal_diag *diag);

#endif
