/* agent_sales.h - the till side of pricing: the price model built from the
 * policies in effect in the agent's cache, and durable sales (the sale, its
 * lines and its "sale" outbox event in one transaction, SPEC 4.2). */
#ifndef AGENT_SALES_H
#define AGENT_SALES_H

#include <stdint.h>

#include "agent_ctx.h"
#include "pricing.h"

#define AGENT_RECEIPT_MAX 128

/* Builds the price model from the cached policies in effect at now_ms for
 * this device's chain (global, region/R, store/S). versions[i] receives the
 * version used per scope (0: none). The caller frees *out. */
shoal_err agent_sales_model(struct agent_ctx *ctx, int64_t now_ms, struct shoal_pricing_model **out,
                            int64_t versions[SHOAL_PRICING_SCOPES], shoal_diag *diag);

/* Records a priced basket as a sale: in one BEGIN IMMEDIATE transaction it
 * advances the per-device receipt counter, inserts the sale and its lines
 * and appends the "sale" event (body: receipt, region, store, at, currency,
 * subtotal, discount, rounding, total, lines, applied, coupons, customer?,
 * policy_versions). On success receipt holds "<device>-<YYYYMMDD>-<n>"
 * (date of the basket's local "at"). Nothing is written on failure. */
shoal_err agent_sales_record(struct agent_ctx *ctx, const struct shoal_basket *b,
                             const struct shoal_quote *q,
                             const int64_t versions[SHOAL_PRICING_SCOPES],
                             char receipt[AGENT_RECEIPT_MAX], shoal_diag *diag);

#endif
