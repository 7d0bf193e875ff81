/* agent_checkout.h - the store's checkout on the agent (SPEC 11, 12): the
 * compiled in-memory model (pricing + checkout policy) a server keeps and
 * swaps, quotes, durable idempotent sales with receipts, returns with exact
 * refunds, receipt and product lookups. The CLI (`price -c`, `sale`,
 * `return`) and the store API call these same functions, so both give the
 * same JSON. No static state: every function is safe to call from several
 * threads at once, each thread with its OWN agent_ctx (SQLite connection);
 * a model is immutable once loaded and may be shared by all threads.
 *
 * Request bodies are passed as TEXT (not cJSON): strict checks need the raw
 * text (a qty written 2.0 is refused, duplicate keys are refused), and
 * idempotency compares the body as received. Errors and the status the
 * store API answers: SHOAL_EJSON 400, SHOAL_EINPUT/SHOAL_ELIMIT 422,
 * SHOAL_ENOTFOUND 404 (unknown sale/product; an unknown SKU inside a basket
 * is SHOAL_EINPUT 422), SHOAL_ECONFLICT 409, SHOAL_ESCOPE/SHOAL_ESIG/
 * SHOAL_EEXPIRED 403, SHOAL_EMODULE 503, others 500. */
#ifndef AGENT_CHECKOUT_H
#define AGENT_CHECKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent_ctx.h"
#include "shoal/checkout.h"
#include "shoal/pricing.h"

#define AGENT_RECEIPT_ID_MAX 128 /* sale and return ids, NUL included */

/* The compiled model: pricing model of the chain in effect plus the
 * checkout policy (payments, utc_offset, loyalty). Immutable once loaded. */
struct agent_model;

/* Builds the model from the policies in effect at now_ms in ctx's cache.
 * The caller owns *out (agent_model_free). */
shoal_err agent_model_load(struct agent_ctx *ctx, int64_t now_ms, struct agent_model **out,
                           shoal_diag *diag);

/* The same restricted to the items named (a one-shot command pricing one
 * basket needs only its own SKUs): served from the compiled snapshot keyed
 * by the versions in effect (written on first use), so `price -c` does not
 * parse a 10k-item catalog per call. Product lookups on such a model know
 * only the SKUs named. skus[i] borrowed. */
shoal_err agent_model_load_skus(struct agent_ctx *ctx, int64_t now_ms, const char *const *skus,
                                size_t nskus, struct agent_model **out, shoal_diag *diag);

/* Frees a model; NULL is a no-op. */
void agent_model_free(struct agent_model *m);

/* Versions the model was built from: versions[i] for global, region/R,
 * store/S (0: none). */
void agent_model_versions(const struct agent_model *m, int64_t versions[SHOAL_PRICING_SCOPES]);

/* Whether the versions in effect at now_ms differ from the model's (a new
 * version arrived or a scheduled one took effect): a cheap query for a
 * server deciding to reload. Sets *changed. */
shoal_err agent_model_changed(struct agent_ctx *ctx, const struct agent_model *m, int64_t now_ms,
                              bool *changed, shoal_diag *diag);

/* The pricing model and checkout policy inside (borrowed from m). */
const struct shoal_pricing_model *agent_model_pricing(const struct agent_model *m);
const struct shoal_checkout_policy *agent_model_policy(const struct agent_model *m);

/* Quotes a basket (SPEC 5.1 + 12 keys, strict): SPEC 5.3 object plus, per
 * line, "name" and "tax", and "tax_total". "at" absent = now_ms in the
 * store's utc_offset; any "at" is accepted. Region/store other than this
 * device's: SHOAL_ESCOPE. Writes nothing. *out owned by the caller. */
shoal_err agent_checkout_quote(struct agent_ctx *ctx, const struct agent_model *m, const char *body,
                               size_t len, int64_t now_ms, cJSON **out, shoal_diag *diag);

/* Prices and records a sale durably (sale, lines, idempotency key and
 * "sale" outbox event in one BEGIN IMMEDIATE transaction) and returns the
 * receipt (SPEC 12). require_request_id: the store API needs "request_id";
 * the CLI does not. The sale is stamped now_ms in the store's utc_offset;
 * a given "at" more than 10 minutes off is SHOAL_EINPUT naming both times.
 * Payments are validated (SHOAL_EINPUT). With a request_id already used:
 * same body -> the first receipt and *replayed = true (nothing recorded);
 * another body -> SHOAL_ECONFLICT. A basket with member_code is refused
 * (SHOAL_EINPUT) until member verification lands. *receipt owned by the
 * caller; *replayed may be NULL. */
shoal_err agent_checkout_sale(struct agent_ctx *ctx, const struct agent_model *m, const char *body,
                              size_t len, bool require_request_id, int64_t now_ms, cJSON **receipt,
                              bool *replayed, shoal_diag *diag);

/* Records a return (SPEC 12) of body {"request_id", "sale", "lines":
 * [{sku, qty}], "reason"?, "refunds"?}: refunds exact to the minor unit, the
 * return, its lines and its "return" outbox event in one transaction.
 * Unknown sale: SHOAL_ENOTFOUND. Over-return, SKU not in the sale, refunds
 * not adding up: SHOAL_EINPUT, nothing written. request_id is required
 * when require_request_id. Idempotent like sales. Output {"id", "sale",
 * "refund", "rounding", "lines": [{sku, qty, refund}], "refunds",
 * "reason"?, "at"}. m may be NULL (used only for the allowed methods). */
shoal_err agent_checkout_return(struct agent_ctx *ctx, const struct agent_model *m,
                                const char *body, size_t len, bool require_request_id,
                                int64_t now_ms, cJSON **out, bool *replayed, shoal_diag *diag);

/* The receipt of sale_id with "returns": [return objects so far, oldest
 * first]. SHOAL_ENOTFOUND if this device has no such sale. */
shoal_err agent_checkout_receipt(struct agent_ctx *ctx, const char *sale_id, cJSON **out,
                                 shoal_diag *diag);

/* Product lookup by sku, or (sku NULL) by barcode: {"sku", "name",
 * "barcode", "categories", "base_price", "tax_bp"} (name/barcode null when
 * unset). SHOAL_ENOTFOUND if unknown; SHOAL_EINPUT if a barcode is given to
 * two SKUs in the chain. */
shoal_err agent_products_get(const struct agent_model *m, const char *sku, const char *barcode,
                             cJSON **out, shoal_diag *diag);

/* Deletes idempotency keys older than keep_ms (at least 7 days are kept:
 * smaller values are raised to 7 days). Every 128th sale calls it inside
 * its own transaction; a server may also call it now and then. */
shoal_err agent_checkout_prune(struct agent_ctx *ctx, int64_t now_ms, int64_t keep_ms,
                               shoal_diag *diag);

/* The body of a `return` outbox event: a copy of the return's output object
 * plus what the hub needs beside it (store, region, the sale's `at`). NULL
 * when out of memory. Used when the return is recorded and when it is
 * rebuilt for a restored hub (agent_replay.c). */
cJSON *agent_checkout_return_event(const struct agent_ctx *ctx, const cJSON *out,
                                   const char *sale_at);

#endif
