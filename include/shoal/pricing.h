/* pricing.h - the pricing engine of SPEC section 5, used unchanged by agent
 * and hub. Compile once, quote many: a policy chain (global -> region ->
 * store) becomes an immutable model with hashed SKUs and per-item rule lists;
 * quoting a basket against it touches only the rules that can apply.
 * Money is int64 minor units, percentages basis points; no floating point. */
#ifndef SHOAL_PRICING_H
#define SHOAL_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/scope.h"
#include "shoal/timeutil.h"

#define SHOAL_PRICING_SCOPES SHOAL_SCOPE_CHAIN_LEN /* global, region/R, store/S */

/* Validates this module's sections of a policy document (SPEC 4.3, 5):
 * items, rules, disable, round, currency. Called by
 * shoal_policy_validate_json (hub publish, agent import) and by the model
 * builder. Errors are SHOAL_EINPUT naming the section, index and problem. */
shoal_err shoal_pricing_validate_doc(const cJSON *doc, shoal_diag *diag);

/* ---- the compiled model ---- */

struct shoal_pricing_model; /* opaque; immutable once built, may be shared */

/* One link of the chain: a scope name and its document (NULL: none). */
struct shoal_pricing_src {
  const char *scope; /* "global", "region/R", "store/S" */
  const cJSON *doc;  /* borrowed during the call only; NULL if the scope has no document */
  int64_t version;   /* version in use (0 if unknown); kept for callers */
};

/* Builds a model from n (<= SHOAL_PRICING_SCOPES) links ordered from least
 * to most specific. Each document is validated (shoal_pricing_validate_doc)
 * and its "scope" must equal the link's scope. The model copies what it
 * needs; the caller frees it with shoal_pricing_model_free. */
shoal_err shoal_pricing_model_new(const struct shoal_pricing_src *chain, size_t n,
                                  struct shoal_pricing_model **out, shoal_diag *diag);

/* The same from document TEXTS as the agent cache stores them
 * (agent_policy_effective: docs[3] for global/region/store, NULL where a
 * scope has none; agent_policy_scopes gives the scope names). versions may
 * be NULL. */
shoal_err shoal_pricing_model_from_texts(const char *const scopes[SHOAL_PRICING_SCOPES],
                                         const char *const docs[SHOAL_PRICING_SCOPES],
                                         const int64_t *versions, struct shoal_pricing_model **out,
                                         shoal_diag *diag);

/* Frees a model; NULL is a no-op. */
void shoal_pricing_model_free(struct shoal_pricing_model *m);

/* Item lookup over the chain (SPEC 5.1): base price and cost from the most
 * specific scope that sets each. SHOAL_ENOTFOUND if no scope gives the SKU a
 * price. *cost is set only when *has_cost; out-params set only on success. */
shoal_err shoal_pricing_item(const struct shoal_pricing_model *m, const char *sku, int64_t *price,
                             int64_t *cost, bool *has_cost);

/* Name (NULL if none) and categories of a known SKU; pointers owned by the
 * model. SHOAL_ENOTFOUND for an unknown SKU. */
shoal_err shoal_pricing_item_info(const struct shoal_pricing_model *m, const char *sku,
                                  const char **name, const char *const **categories,
                                  size_t *ncategories);

/* Barcode (NULL if none) and VAT rate in bp (SPEC 12) of a known SKU;
 * pointer owned by the model. SHOAL_ENOTFOUND for an unknown SKU. */
shoal_err shoal_pricing_item_checkout(const struct shoal_pricing_model *m, const char *sku,
                                      const char **barcode, int64_t *tax_bp);

/* The SKU (owned by the model) carrying barcode. SHOAL_ENOTFOUND if none;
 * SHOAL_EINPUT naming both SKUs if two items of the chain carry it. */
shoal_err shoal_pricing_find_barcode(const struct shoal_pricing_model *m, const char *barcode,
                                     const char **sku, shoal_diag *diag);

/* Currency in effect (most specific scope that sets it; "CNY" if none). */
const char *shoal_pricing_currency(const struct shoal_pricing_model *m);

/* Version given for chain link i at build time (0 if none). */
int64_t shoal_pricing_version(const struct shoal_pricing_model *m, size_t i);

/* ---- baskets ---- */

struct shoal_basket_line {
  const char *sku;
  int64_t qty;
};

/* A parsed basket (SPEC 5.1). Strings are borrowed from the basket's own
 * copy of the JSON (json), valid until shoal_basket_free. Lines are merged
 * per SKU in order of first appearance; coupons are de-duplicated. */
struct shoal_basket {
  cJSON *json; /* owned copy of the input */
  const char *region, *store, *at_text;
  struct shoal_time at;
  const char *channel;   /* "pos" when absent */
  const cJSON *customer; /* NULL if absent */
  const char *tier;      /* NULL if none */
  const char **tags;
  size_t ntags;
  const char **coupons;
  size_t ncoupons;
  struct shoal_basket_line *lines;
  size_t nlines;
  /* SPEC 12 additions (NULL when absent); quoting ignores them. */
  const char *request_id;     /* identifier */
  const char *cashier;        /* non-empty string */
  const cJSON *payments;      /* array of {method, amount}, shape checked */
  const cJSON *member_code;   /* raw value, for the loyalty module (SPEC 13) */
  const cJSON *redeem_points; /* raw value, for the loyalty module (SPEC 13) */
  bool has_at;                /* false: "at" was absent and allowed (at_text NULL) */
};

/* Parses and checks a basket: only the keys of SPEC 5.1 and 12 (any other
 * key, also inside lines and customer, is an error naming it),
 * region/store identifiers, "at" with offset, every qty an integer in
 * 1..SHOAL_LINE_MAX_QTY (also after merging), at most
 * SHOAL_BASKET_MAX_LINES lines. Errors are exit-3 codes naming the field.
 * json is copied; the caller frees *out with shoal_basket_free. */
shoal_err shoal_basket_parse(const cJSON *json, struct shoal_basket **out, shoal_diag *diag);

/* The same; with at_optional an absent "at" is allowed (has_at false, the
 * caller stamps the time: store API quotes, SPEC 11). */
shoal_err shoal_basket_parse_opts(const cJSON *json, bool at_optional, struct shoal_basket **out,
                                  shoal_diag *diag);

void shoal_basket_free(struct shoal_basket *b);

/* ---- quotes ---- */

struct shoal_quote_line {
  const char *sku;
  int64_t qty, base_price, unit_price, discount, total;
};

struct shoal_quote_applied {
  const char *rule, *type, *scope;
  int64_t discount;
};

struct shoal_quote_reject {
  const char *code;
  const char *reason; /* "unknown" or "not_applicable" */
};

/* A priced basket (SPEC 5.3). Strings are borrowed from the model and the
 * basket it was made from: free the quote before either. */
struct shoal_quote {
  const char *currency;
  int64_t subtotal, discount, rounding, total;
  struct shoal_quote_line *lines;
  size_t nlines;
  struct shoal_quote_applied *applied;
  size_t napplied;
  const char **accepted;
  size_t naccepted;
  struct shoal_quote_reject *rejected;
  size_t nrejected;
};

/* Prices basket b against model m. Fails with SHOAL_ENOTFOUND naming an
 * unknown SKU, SHOAL_ELIMIT if an amount leaves the money range. The caller
 * frees *out with shoal_quote_free. Thread-safe for a shared model. */
shoal_err shoal_pricing_quote(const struct shoal_pricing_model *m, const struct shoal_basket *b,
                              struct shoal_quote **out, shoal_diag *diag);

void shoal_quote_free(struct shoal_quote *q);

/* The SPEC 5.3 JSON object of a quote; caller owns it. NULL on OOM. */
cJSON *shoal_quote_to_json(const struct shoal_quote *q);

#endif
