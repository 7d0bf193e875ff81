/* agent_checkout_interim.c - INTERIM stand-in for the checkout branch's
 * agent_checkout.c so the store API can be built and tested before that
 * branch lands: quotes and sales through the existing pricing engine and
 * agent_sales_record, no idempotency, no returns. Deleted on merge. */
#include "agent_checkout.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_policy.h"
#include "agent_sales.h"
#include "jsonx.h"
#include "timeutil.h"

struct agent_model {
  struct shoal_pricing_model *pm;
  int64_t versions[SHOAL_PRICING_SCOPES];
};

shoal_err agent_model_load(struct agent_ctx *ctx, int64_t now_ms, struct agent_model **out,
                           shoal_diag *diag) {
  struct agent_model *m = calloc(1, sizeof *m);
  if (!m)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  shoal_err rc = agent_sales_model(ctx, now_ms, &m->pm, m->versions, diag);
  if (rc != SHOAL_OK) {
    free(m);
    return rc;
  }
  *out = m;
  return SHOAL_OK;
}

void agent_model_free(struct agent_model *m) {
  if (!m)
    return;
  shoal_pricing_model_free(m->pm);
  free(m);
}

void agent_model_versions(const struct agent_model *m, int64_t versions[SHOAL_PRICING_SCOPES]) {
  memcpy(versions, m->versions, sizeof m->versions);
}

shoal_err agent_model_changed(struct agent_ctx *ctx, const struct agent_model *m, int64_t now_ms,
                              bool *changed, shoal_diag *diag) {
  char *docs[3] = {NULL, NULL, NULL};
  int64_t v[3] = {0, 0, 0};
  shoal_err rc = agent_policy_effective(ctx, now_ms, docs, v, diag);
  for (int i = 0; i < 3; i++)
    free(docs[i]);
  if (rc == SHOAL_OK)
    *changed = memcmp(v, m->versions, sizeof v) != 0;
  return rc;
}

const struct shoal_pricing_model *agent_model_pricing(const struct agent_model *m) {
  return m->pm;
}

static shoal_err basket_of(struct agent_ctx *ctx, const char *body, size_t len, int64_t now_ms,
                           struct shoal_basket **out, shoal_diag *diag) {
  cJSON *j = NULL;
  shoal_err rc = shoal_json_parse(body, len, &j, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return shoal_fail(diag, SHOAL_EJSON, "the body must be a JSON object");
  }
  cJSON_DeleteItemFromObjectCaseSensitive(j, "request_id");
  if (!cJSON_GetObjectItemCaseSensitive(j, "region"))
    cJSON_AddStringToObject(j, "region", ctx->cfg.region);
  if (!cJSON_GetObjectItemCaseSensitive(j, "store"))
    cJSON_AddStringToObject(j, "store", ctx->cfg.store);
  if (!cJSON_GetObjectItemCaseSensitive(j, "at")) {
    char at[40];
    shoal_time_format_utc(now_ms, at, sizeof at);
    cJSON_AddStringToObject(j, "at", at);
  }
  rc = shoal_basket_parse(j, out, diag);
  cJSON_Delete(j);
  if (rc != SHOAL_OK)
    return rc;
  if (strcmp((*out)->region, ctx->cfg.region) || strcmp((*out)->store, ctx->cfg.store)) {
    shoal_basket_free(*out);
    *out = NULL;
    return shoal_fail(diag, SHOAL_ESCOPE, "the basket is for another store or region");
  }
  return SHOAL_OK;
}

shoal_err agent_checkout_quote(struct agent_ctx *ctx, const struct agent_model *m,
                               const char *body, size_t len, int64_t now_ms, cJSON **out,
                               shoal_diag *diag) {
  struct shoal_basket *b = NULL;
  struct shoal_quote *q = NULL;
  shoal_err rc = basket_of(ctx, body, len, now_ms, &b, diag);
  if (rc == SHOAL_OK && (rc = shoal_pricing_quote(m->pm, b, &q, diag)) == SHOAL_OK &&
      !(*out = shoal_quote_to_json(q)))
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  shoal_quote_free(q);
  shoal_basket_free(b);
  return rc;
}

shoal_err agent_checkout_sale(struct agent_ctx *ctx, const struct agent_model *m,
                              const char *body, size_t len, bool require_request_id, int64_t now_ms,
                              cJSON **receipt, bool *replayed, shoal_diag *diag) {
  (void)require_request_id;
  struct shoal_basket *b = NULL;
  struct shoal_quote *q = NULL;
  char id[AGENT_RECEIPT_MAX];
  if (replayed)
    *replayed = false;
  shoal_err rc = basket_of(ctx, body, len, now_ms, &b, diag);
  if (rc == SHOAL_OK && (rc = shoal_pricing_quote(m->pm, b, &q, diag)) == SHOAL_OK &&
      (rc = agent_sales_record(ctx, b, q, m->versions, id, diag)) == SHOAL_OK) {
    cJSON *o = shoal_quote_to_json(q);
    if (!o)
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    else {
      cJSON_AddStringToObject(o, "id", id);
      *receipt = o;
    }
  }
  shoal_quote_free(q);
  shoal_basket_free(b);
  return rc;
}

shoal_err agent_checkout_return(struct agent_ctx *ctx, const struct agent_model *m,
                                const char *body, size_t len, bool require_request_id,
                                int64_t now_ms, cJSON **out, bool *replayed, shoal_diag *diag) {
  (void)ctx, (void)m, (void)body, (void)len, (void)require_request_id, (void)now_ms, (void)out,
      (void)replayed;
  return shoal_fail(diag, SHOAL_EMODULE, "returns arrive with the checkout branch");
}

shoal_err agent_checkout_receipt(struct agent_ctx *ctx, const char *sale_id, cJSON **out,
                                 shoal_diag *diag) {
  (void)ctx, (void)out;
  return shoal_fail(diag, SHOAL_ENOTFOUND, "no sale %s", sale_id);
}

shoal_err agent_products_get(const struct agent_model *m, const char *sku, const char *barcode,
                             cJSON **out, shoal_diag *diag) {
  if (!sku)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no product with barcode %s", barcode);
  int64_t price = 0, cost = 0;
  bool has_cost = false;
  const char *name = NULL;
  const char *const *cats = NULL;
  size_t ncats = 0;
  shoal_err rc = shoal_pricing_item(m->pm, sku, &price, &cost, &has_cost);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "unknown SKU %s", sku);
  shoal_pricing_item_info(m->pm, sku, &name, &cats, &ncats);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "sku", sku);
  if (name)
    cJSON_AddStringToObject(o, "name", name);
  else
    cJSON_AddNullToObject(o, "name");
  cJSON_AddNullToObject(o, "barcode");
  cJSON *c = cJSON_AddArrayToObject(o, "categories");
  for (size_t i = 0; i < ncats; i++)
    cJSON_AddItemToArray(c, cJSON_CreateString(cats[i]));
  cJSON_AddNumberToObject(o, "base_price", (double)price);
  cJSON_AddNumberToObject(o, "tax_bp", 0);
  *out = o;
  return SHOAL_OK;
}

shoal_err agent_checkout_prune(struct agent_ctx *ctx, int64_t now_ms, int64_t keep_ms,
                               shoal_diag *diag) {
  (void)ctx, (void)now_ms, (void)keep_ms, (void)diag;
  return SHOAL_OK;
}
