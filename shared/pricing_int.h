/* pricing_int.h - private layout of the compiled pricing model, shared by
 * pricing.c (build, items, baskets), pricing_quote.c and pricing_validate.c.
 * Rules are stored sorted by (stage, priority desc, id asc), so a rule's
 * index is its run order and per-item rule lists sorted by index are
 * already in the order SPEC 5.2 evaluates them. */
#ifndef SHOAL_PRICING_INT_H
#define SHOAL_PRICING_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "shoal/arena.h"
#include "shoal/pricing.h"
#include "shoal/shoal_limits.h"

enum shoal_price__type {
  PT_PRICE,
  PT_PERCENT,
  PT_AMOUNT,
  PT_BOGO,
  PT_BUNDLE,
  PT_THRESHOLD,
  PT_BASKET_PERCENT,
  PT__COUNT
};

/* Type name -> enum; -1 if unknown. */
int shoal_price__type_of(const char *name);
const char *shoal_price__type_name(int type);
int shoal_price__stage_of(int type);

enum shoal_round_mode { ROUND_NONE, ROUND_DOWN, ROUND_UP, ROUND_HALF_UP };

struct shoal_price__bitem {
  int32_t item; /* item index, -1 if the SKU has no price in the chain */
  int64_t qty;
};

struct shoal_price__strs {
  const char **v;
  uint32_t n;
};

struct shoal_price__rule {
  const char *id;
  int type, stage, scope; /* scope: index into the chain */
  int64_t priority;
  bool exclusive;
  const char *coupon; /* NULL: none */
  /* when: basket-level conditions (evaluated once per quote) */
  bool has_basket_cond;
  struct shoal_price__strs tiers, channels, tags_any;
  bool has_tiers, has_channels, has_tags;
  bool has_from, has_until, has_days, has_hours;
  int64_t from_ms, until_ms;
  bool from_local, until_local; /* compare with the basket's local wall clock */
  unsigned days_mask;           /* bit d for ISO weekday d */
  int hours_start, hours_end;   /* minutes; end exclusive; start > end wraps midnight */
  int64_t min_qty;              /* 0: none (stage 1 only) */
  /* target */
  bool target_all;
  /* type fields */
  int64_t price, bp, off, buy, get, min, max_off;
  bool repeat, has_max_off;
  struct shoal_price__bitem *bitems;
  uint32_t nbitems;
};

struct shoal_price__item {
  char sku[SHOAL_ID_MAX + 1]; /* inline: a lookup's final compare stays in the item's lines */
  const char *name;
  const char *barcode; /* NULL: none (SPEC 12) */
  int64_t price, cost;
  int64_t tax_bp; /* VAT included in the price, bp (SPEC 12); 0 by default */
  bool has_price, has_cost;
  const char **cats; /* category names */
  uint32_t ncats;
  uint32_t s1_off, s1_n;   /* stage-1 rules targeting this item (CSR into s1_list) */
  uint32_t s23_off, s23_n; /* stage-2/3 rules targeting this item (CSR into s23_list) */
};

struct shoal_pricing_model {
  struct shoal_arena arena; /* every string and small table the model keeps */
  struct shoal_price__item *items;
  uint32_t nitems;
  uint64_t *hash; /* open addressing: (hash >> 32) << 32 | (item index + 1); 0 = empty */
  uint32_t hash_mask;
  struct shoal_price__rule *rules;
  uint32_t nrules;
  uint32_t s2_begin, s3_begin; /* stage boundaries in rules[] */
  uint32_t *s1_list, *s23_list;
  uint32_t *s1_all; /* stage-1 rules with no target, in order */
  uint32_t ns1_all;
  uint64_t *s23_all_bits; /* stage-2/3 rules with no target (never bundles) */
  uint32_t nwords;        /* words in a rule bitmap */
  uint32_t *by_barcode;   /* items with a barcode, sorted by barcode */
  uint32_t nbarcodes;
  const char **codes; /* sorted coupon codes carried by the chain's rules */
  uint32_t ncodes;
  const char *currency;
  int64_t round_step;
  int round_mode;
  const char *scopes[SHOAL_PRICING_SCOPES];
  int64_t versions[SHOAL_PRICING_SCOPES];
  uint32_t nscopes;
};

/* Index of sku in m->items, -1 if not in the model. */
int32_t shoal_price__find(const struct shoal_pricing_model *m, const char *sku);

/* Parses a when.from/until value: an instant with offset (*local false), or
 * a date or date-time without offset, meant in the basket's own local time
 * (*local true, *ms = local wall-clock ms since 1970-01-01T00:00). */
bool shoal_price__when_time(const char *s, int64_t *ms, bool *local);

/* Parses "HH:MM-HH:MM" (end may be 24:00); false if malformed. */
bool shoal_price__hours(const char *s, int *start, int *end);

#endif
