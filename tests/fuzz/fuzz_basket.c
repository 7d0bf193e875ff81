/* fuzz_basket.c - baskets (SPEC 5.1) priced against a fixed model holding
 * every rule type from the conformance vectors (tests/fuzz/pricing_policy.json).
 * Invariants: total = subtotal - discount + rounding, and every line's total
 * is qty x unit price - its discount, never negative. */
#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "shoal/checkout.h"
#include "shoal/jsonx.h"
#include "shoal/pricing.h"

static struct shoal_pricing_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char *text = fuzz_read("pricing_policy.json", NULL);
  cJSON *root = cJSON_Parse(text);
  if (!root)
    abort();
  struct shoal_pricing_src chain[3] = {
      {"global", cJSON_GetObjectItem(root, "global"), 1},
      {"region/cn-sw", cJSON_GetObjectItem(root, "region"), 1},
      {"store/cd-001", cJSON_GetObjectItem(root, "store"), 1},
  };
  shoal_diag d;
  if (shoal_pricing_model_new(chain, 3, &model, &d) != SHOAL_OK) {
    fprintf(stderr, "fuzz: pricing model: %s\n", d.msg);
    abort();
  }
  cJSON_Delete(root);
  free(text);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *json = NULL;
  shoal_diag d;
  /* The strict text path (SPEC 12: unknown keys, 2.0) the agent uses. */
  struct shoal_basket *bt = NULL;
  if (shoal_basket_parse_text((const char *)data, size, &bt, &d) == SHOAL_OK)
    shoal_basket_free(bt);
  if (shoal_json_parse((const char *)data, size, &json, &d) != SHOAL_OK)
    return 0;
  struct shoal_basket *b = NULL;
  if (shoal_basket_parse(json, &b, &d) == SHOAL_OK) {
    struct shoal_quote *q = NULL;
    if (shoal_pricing_quote(model, b, &q, &d) == SHOAL_OK) {
      if (q->total != q->subtotal - q->discount + q->rounding) {
        fprintf(stderr, "total %lld != %lld - %lld + %lld\n", (long long)q->total,
                (long long)q->subtotal, (long long)q->discount, (long long)q->rounding);
        abort();
      }
      for (size_t i = 0; i < q->nlines; i++) {
        const struct shoal_quote_line *l = &q->lines[i];
        if (l->total != l->qty * l->unit_price - l->discount || l->total < 0) {
          fprintf(stderr, "line %s: total %lld qty %lld unit %lld discount %lld\n", l->sku,
                  (long long)l->total, (long long)l->qty, (long long)l->unit_price,
                  (long long)l->discount);
          abort();
        }
      }
      cJSON *out = shoal_quote_to_json(q);
      cJSON_Delete(out);
      shoal_quote_free(q);
    }
    shoal_basket_free(b);
  }
  cJSON_Delete(json);
  return 0;
}
