/* hub_orders.h - e-commerce orders (SPEC 13): POST /api/v1/orders, once
 * per (channel, order_id). A paid order joins the sales ledger (a `sales`
 * row with the channel as device) and earns its customer points; a
 * `refunded` after `paid` books the refund and reverses the points. The
 * whole order is written in one transaction or not at all. */
#ifndef HUB_ORDERS_H
#define HUB_ORDERS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"

/* Checks the X-Shoal-Signature header value ("sha256=<hex HMAC-SHA256 of
 * body>") against secret, in constant time. */
bool hub_orders_signature_ok(const char *header, const char *secret, size_t secret_len,
                             const char *body, size_t len);

/* Ingests one order body, durable (committed) before it returns. Parsed
 * and validated in the caller's thread, then booked by group commit with
 * the orders other threads submit meanwhile: at most batch_max in one
 * transaction (1: one commit per order; out of 1..SHOAL_ORDER_BATCH_MAX:
 * the maximum), each under its own SAVEPOINT so a refused order writes
 * nothing and leaves the others booked. *status is the HTTP status to answer (201 new,
 * 200 seen before); *out the result {"channel", "order_id", "status",
 * "result": "created"|"refunded"|"unchanged", "points", "unknown_skus"}.
 * SHOAL_EINPUT (422) naming the problem, SHOAL_EJSON (400), SHOAL_ESTATE
 * (409: the same order id with another total). */
shoal_err hub_orders_ingest(hub_store *db, const char *body, size_t len, int64_t now_ms,
                            int batch_max, unsigned *status, cJSON **out, shoal_diag *diag);

/* Group commits run, orders they booked and the milliseconds leaders spent
 * booking and committing them, since the process started (for the
 * benchmark: orders / batches is the mean batch size). */
void hub_orders_commit_stats(uint64_t *batches, uint64_t *orders, int64_t *busy_ms);

#endif
