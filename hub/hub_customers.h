/* hub_customers.h - the customer registry (SPEC 13): profiles with name and
 * phone (which never leave the hub), points, reservations, member codes,
 * the timeline of everything naming a customer, and the purchase history a
 * work order carries to the store's devices (no name, no phone). */
#ifndef HUB_CUSTOMERS_H
#define HUB_CUSTOMERS_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/config.h"
#include "shoal/err.h"

/* POST /api/v1/customers: creates or updates {"id", "name"?, "phone"?,
 * "tier"?, "tags"?} (a key given null clears it; keys not given keep their
 * value). *created tells which; *out is the profile without timeline.
 * SHOAL_EINPUT for a bad body, SHOAL_ESTATE when the phone belongs to
 * another customer. */
shoal_err hub_customers_upsert(hub_store *db, const char *body, size_t len, int64_t now_ms,
                               cJSON **out, bool *created, shoal_diag *diag);

/* The profile of id with points, reserved, overdrafts and (with_timeline)
 * its timeline, newest first. SHOAL_ENOTFOUND if unknown. */
shoal_err hub_customers_get(hub_store *db, const char *id, bool with_timeline, cJSON **out,
                            shoal_diag *diag);

/* The one customer with this phone number (SHOAL_ENOTFOUND if none). */
shoal_err hub_customers_find_phone(hub_store *db, const char *phone, cJSON **out, shoal_diag *diag);

/* POST /api/v1/customers/{id}/code: reserves points (<= balance - reserved)
 * and signs a member code with the hub's policy key, valid for the global
 * loyalty.code_ttl_s. body may be NULL. *out {"code", "customer", "points",
 * "nonce", "expires_at"}. SHOAL_ENOTFOUND, SHOAL_EINPUT (bad body, points
 * over what is available, id or tier that cannot be in a code), SHOAL_ECONFIG
 * (no signing key). */
shoal_err hub_customers_issue_code(hub_store *db, const struct shoal_hub_config *cfg,
                                   const char *id, const char *body, size_t len, int64_t now_ms,
                                   cJSON **out, shoal_diag *diag);

/* Records what a stored sale body names about its customer (purchase
 * lines, timeline entry, ledger via hub_loyalty) inside the ingest
 * transaction. event is the identity text "sale:{device}/{epoch}/{seq}".
 * A body naming no customer is a no-op. SHOAL_EINPUT for a bad member block. */
shoal_err hub_customers_on_sale(hub_store *db, const char *event, const char *store,
                                const cJSON *body, int64_t at_ms, int64_t now_ms, shoal_diag *diag);

/* Records a stored return (inside its ingest savepoint): its member block
 * {id, points_reversed, points_refunded} goes to the ledger once by event
 * identity; the return goes on the timeline of the member or of the
 * customer its sale named. SHOAL_EINPUT for a bad member block. */
shoal_err hub_customers_on_return(hub_store *db, const char *event, const char *device,
                                  const char *store, const cJSON *body, const char *sale,
                                  int64_t refund, int64_t at_ms, shoal_diag *diag);

/* Adds a timeline entry (kind, ref unique per customer) with summary (not
 * taken). */
shoal_err hub_customers_timeline_add(hub_store *db, const char *customer, int64_t at_ms,
                                     const char *kind, const char *ref, const cJSON *summary,
                                     shoal_diag *diag);

/* Records one purchase line of customer (for history and reports). */
shoal_err hub_customers_purchase_add(hub_store *db, const char *customer, int64_t at_ms,
                                     const char *source, const char *channel, const char *store,
                                     int line_no, const char *sku, const char *name, int64_t qty,
                                     int64_t total, shoal_diag *diag);

/* customer_history for a work order: up to SHOAL_CUSTOMER_HISTORY_MAX
 * purchases [{"sku", "name", "qty", "at", "channel", "store"}], newest
 * first. No name or phone of the customer. */
shoal_err hub_customers_history(hub_store *db, const char *customer, cJSON **out, shoal_diag *diag);

#endif
