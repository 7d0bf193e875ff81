/* pricing.c - builds the compiled pricing model from a policy chain (items
 * merged per SKU and field, rules overridden per id and disabled, stages
 * sorted, per-item rule lists precomputed), item lookups, and basket
 * parsing. The model owns every string it keeps (one arena). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pricing_int.h"
#include "shoal/checkout.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/strmap.h"
#include "shoal/util.h"

/* The model arena grows in blocks this big: a 10^4-SKU catalog takes a few. */
#define MODEL_ARENA_BLOCK (64 * 1024)

/* ---- model ---- */

int32_t shoal_price__find(const struct shoal_pricing_model *m, const char *sku) {
  uint64_t hv = shoal_strhash(sku), tag = hv >> 32 << 32;
  size_t h = hv & m->hash_mask;
  for (;;) {
    uint64_t v = m->hash[h];
    if (!v)
      return -1;
    /* The tag (high hash bits) spares the item's cache line on most misses. */
    uint32_t idx = (uint32_t)v;
    if ((v & ~0xffffffffull) == tag && strcmp(m->items[idx - 1].sku, sku) == 0)
      return (int32_t)(idx - 1);
    h = (h + 1) & m->hash_mask;
  }
}

static int array_size(const cJSON *doc, const char *key) {
  const cJSON *a = doc ? cJSON_GetObjectItemCaseSensitive(doc, key) : NULL;
  return cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
}

static shoal_err copy_strs(struct shoal_pricing_model *m, const cJSON *arr,
                           struct shoal_price__strs *out) {
  int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
  out->n = 0;
  out->v = shoal_arena_alloc(&m->arena, sizeof(char *) * (size_t)(n ? n : 1));
  if (!out->v)
    return SHOAL_ENOMEM;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (!(out->v[out->n++] = shoal_arena_strdup(&m->arena, e->valuestring)))
      return SHOAL_ENOMEM;
  }
  return SHOAL_OK;
}

static int64_t get_int(const cJSON *o, const char *key, int64_t dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return v ? shoal_json_int(v) : dflt;
}

/* Compiles one validated rule (targets are resolved later). */
static shoal_err compile_rule(struct shoal_pricing_model *m, const cJSON *r, int scope,
                              struct shoal_price__rule *out) {
  memset(out, 0, sizeof *out);
  out->id = shoal_arena_strdup(&m->arena, cJSON_GetObjectItemCaseSensitive(r, "id")->valuestring);
  if (!out->id)
    return SHOAL_ENOMEM;
  out->type = shoal_price__type_of(cJSON_GetObjectItemCaseSensitive(r, "type")->valuestring);
  out->stage = shoal_price__stage_of(out->type);
  out->scope = scope;
  out->priority = get_int(r, "priority", 0);
  out->exclusive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "exclusive"));
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "coupon");
  if (c && !(out->coupon = shoal_arena_strdup(&m->arena, c->valuestring)))
    return SHOAL_ENOMEM;
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(r, "when");
  if (w) {
    const cJSON *v;
    shoal_err rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(w, "tiers"))) {
      out->has_tiers = true;
      if ((rc = copy_strs(m, v, &out->tiers)) != SHOAL_OK)
        return rc;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(w, "channels"))) {
      out->has_channels = true;
      if ((rc = copy_strs(m, v, &out->channels)) != SHOAL_OK)
        return rc;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(w, "tags_any"))) {
      out->has_tags = true;
      if ((rc = copy_strs(m, v, &out->tags_any)) != SHOAL_OK)
        return rc;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(w, "from")))
      out->has_from = shoal_price__when_time(v->valuestring, &out->from_ms, &out->from_local);
    if ((v = cJSON_GetObjectItemCaseSensitive(w, "until")))
      out->has_until = shoal_price__when_time(v->valuestring, &out->until_ms, &out->until_local);
    if ((v = cJSON_GetObjectItemCaseSensitive(w, "days"))) {
      const cJSON *d;
      out->has_days = true;
      cJSON_ArrayForEach(d, v) out->days_mask |= 1u << shoal_json_int(d);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(w, "hours"))) {
      out->has_hours = true;
      shoal_price__hours(v->valuestring, &out->hours_start, &out->hours_end);
    }
    out->min_qty = get_int(w, "min_qty", 0);
  }
  out->has_basket_cond = out->has_tiers || out->has_channels || out->has_tags || out->has_from ||
                         out->has_until || out->has_days || out->has_hours || out->coupon;
  out->target_all = cJSON_GetObjectItemCaseSensitive(r, "target") == NULL;
  out->price = get_int(r, "price", 0);
  out->bp = get_int(r, "bp", out->type == PT_BOGO ? 10000 : 0);
  out->off = get_int(r, "off", 0);
  out->buy = get_int(r, "buy", 0);
  out->get = get_int(r, "get", 0);
  out->min = get_int(r, "min", 0);
  out->has_max_off = cJSON_GetObjectItemCaseSensitive(r, "max_off") != NULL;
  out->max_off = get_int(r, "max_off", 0);
  out->repeat = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "repeat"));
  return SHOAL_OK;
}

static int rule_cmp(const void *a, const void *b) {
  const struct shoal_price__rule *x = a, *y = b;
  if (x->stage != y->stage)
    return x->stage < y->stage ? -1 : 1;
  if (x->priority != y->priority)
    return x->priority > y->priority ? -1 : 1;
  return strcmp(x->id, y->id);
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* (item, rule) pairs collected while resolving targets. */
struct pairs {
  uint32_t *item, *rule;
  size_t n, cap;
};

static bool pairs_push(struct pairs *p, uint32_t item, uint32_t rule) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 1024;
    uint32_t *a = realloc(p->item, cap * sizeof *a);
    if (!a)
      return false;
    p->item = a;
    uint32_t *b = realloc(p->rule, cap * sizeof *b);
    if (!b)
      return false;
    p->rule = b;
    p->cap = cap;
  }
  p->item[p->n] = item;
  p->rule[p->n++] = rule;
  return true;
}

/* Counting sort of pairs by item (stable: rule order kept) into a CSR list. */
static uint32_t *build_csr(struct shoal_pricing_model *m, const struct pairs *p, bool s1) {
  uint32_t *list = malloc(sizeof(uint32_t) * (p->n ? p->n : 1));
  if (!list)
    return NULL;
  for (uint32_t i = 0; i < m->nitems; i++) {
    if (s1)
      m->items[i].s1_n = 0;
    else
      m->items[i].s23_n = 0;
  }
  for (size_t k = 0; k < p->n; k++) {
    if (s1)
      m->items[p->item[k]].s1_n++;
    else
      m->items[p->item[k]].s23_n++;
  }
  uint32_t off = 0;
  for (uint32_t i = 0; i < m->nitems; i++) {
    struct shoal_price__item *it = &m->items[i];
    if (s1) {
      it->s1_off = off;
      off += it->s1_n;
      it->s1_n = 0;
    } else {
      it->s23_off = off;
      off += it->s23_n;
      it->s23_n = 0;
    }
  }
  for (size_t k = 0; k < p->n; k++) {
    struct shoal_price__item *it = &m->items[p->item[k]];
    if (s1)
      list[it->s1_off + it->s1_n++] = p->rule[k];
    else
      list[it->s23_off + it->s23_n++] = p->rule[k];
  }
  return list;
}

struct build {
  struct shoal_strmap skus, cats, ids;
  uint32_t *cat_items; /* CSR: category -> items */
  uint32_t *cat_off;   /* ncats + 1 */
  uint32_t ncats;
  uint32_t *stamp; /* per item: last rule index + 1 that listed it */
  struct pairs p1, p23;
  struct {
    const cJSON *rule;
    int scope;
    bool alive;
  } * slots;
  size_t nslots;
};

static int barcode_cmp(const void *a, const void *b, void *items) {
  const struct shoal_price__item *it = items;
  return strcmp(it[*(const uint32_t *)a].barcode, it[*(const uint32_t *)b].barcode);
}

/* Merges one document's item it into x: each field it sets replaces the
 * less specific scope's. */
static shoal_err merge_item_fields(struct shoal_pricing_model *m, struct shoal_price__item *x,
                                   const cJSON *it) {
  const cJSON *v;
  if ((v = cJSON_GetObjectItemCaseSensitive(it, "price"))) {
    x->has_price = true;
    x->price = shoal_json_int(v);
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(it, "cost"))) {
    x->has_cost = true;
    x->cost = shoal_json_int(v);
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(it, "tax_bp")))
    x->tax_bp = shoal_json_int(v);
  if ((v = cJSON_GetObjectItemCaseSensitive(it, "barcode")) &&
      !(x->barcode = shoal_arena_strdup(&m->arena, v->valuestring)))
    return SHOAL_ENOMEM;
  if ((v = cJSON_GetObjectItemCaseSensitive(it, "name")) &&
      !(x->name = shoal_arena_strdup(&m->arena, v->valuestring)))
    return SHOAL_ENOMEM;
  if ((v = cJSON_GetObjectItemCaseSensitive(it, "categories"))) {
    struct shoal_price__strs cs;
    if (copy_strs(m, v, &cs) != SHOAL_OK)
      return SHOAL_ENOMEM;
    x->cats = cs.v;
    x->ncats = cs.n;
  }
  return SHOAL_OK;
}

/* SKU -> item: open addressing, the high hash bits kept as a tag. */
static shoal_err index_items_by_sku(struct shoal_pricing_model *m) {
  size_t cap = 16;
  while (cap < 2 * (size_t)m->nitems + 2)
    cap <<= 1;
  m->hash = calloc(cap, sizeof *m->hash);
  if (!m->hash)
    return SHOAL_ENOMEM;
  m->hash_mask = (uint32_t)(cap - 1);
  for (uint32_t i = 0; i < m->nitems; i++) {
    uint64_t hv = shoal_strhash(m->items[i].sku);
    size_t h = hv & m->hash_mask;
    while (m->hash[h])
      h = (h + 1) & m->hash_mask;
    m->hash[h] = (hv >> 32 << 32) | (i + 1);
  }
  return SHOAL_OK;
}

/* Barcode -> item, sorted (SPEC 12: a barcode is unique in the chain; a
 * duplicate across scopes is reported at lookup, never guessed). */
static shoal_err index_items_by_barcode(struct shoal_pricing_model *m) {
  m->by_barcode = malloc(sizeof(uint32_t) * ((size_t)m->nitems + 1));
  if (!m->by_barcode)
    return SHOAL_ENOMEM;
  for (uint32_t i = 0; i < m->nitems; i++)
    if (m->items[i].barcode)
      m->by_barcode[m->nbarcodes++] = i;
  if (m->nbarcodes > 1)
    qsort_r(m->by_barcode, m->nbarcodes, sizeof *m->by_barcode, barcode_cmp, m->items);
  return SHOAL_OK;
}

/* Category -> items (CSR in b), for category targets. */
static shoal_err index_categories(const struct shoal_pricing_model *m, struct build *b) {
  const struct shoal_price__item *items = m->items;
  uint32_t k = m->nitems;
  size_t ncat_entries = 0;
  for (uint32_t i = 0; i < k; i++)
    ncat_entries += items[i].ncats;
  if (!shoal_strmap_init(&b->cats, ncat_entries))
    return SHOAL_ENOMEM;
  uint32_t *counts = calloc(ncat_entries + 1, sizeof *counts);
  b->cat_items = malloc(sizeof(uint32_t) * (ncat_entries + 1));
  if (!counts || !b->cat_items) {
    free(counts);
    return SHOAL_ENOMEM;
  }
  for (uint32_t i = 0; i < k; i++)
    for (uint32_t c = 0; c < items[i].ncats; c++) {
      size_t slot = shoal_strmap_slot(&b->cats, items[i].cats[c]);
      if (!b->cats.key[slot]) {
        b->cats.key[slot] = items[i].cats[c];
        b->cats.val[slot] = b->ncats++;
      }
      counts[b->cats.val[slot]]++;
    }
  b->cat_off = calloc((size_t)b->ncats + 1, sizeof *b->cat_off);
  if (!b->cat_off) {
    free(counts);
    return SHOAL_ENOMEM;
  }
  for (uint32_t c = 0; c < b->ncats; c++) {
    b->cat_off[c + 1] = b->cat_off[c] + counts[c];
    counts[c] = 0;
  }
  for (uint32_t i = 0; i < k; i++)
    for (uint32_t c = 0; c < items[i].ncats; c++) {
      /* an item listing a category twice appears twice; targets dedupe by stamp */
      uint32_t id = b->cats.val[shoal_strmap_slot(&b->cats, items[i].cats[c])];
      b->cat_items[b->cat_off[id] + counts[id]++] = i;
    }
  free(counts);
  return SHOAL_OK;
}

/* Items of the chain merged per SKU and field (least specific first), the
 * unpriced dropped, then indexed by SKU, barcode and category. */
static shoal_err merge_items(struct shoal_pricing_model *m, const struct shoal_pricing_src *chain,
                             size_t n, struct build *b) {
  size_t total = 0;
  for (size_t s = 0; s < n; s++)
    total += (size_t)array_size(chain[s].doc, "items");
  if (!shoal_strmap_init(&b->skus, total))
    return SHOAL_ENOMEM;
  struct shoal_price__item *items = calloc(total ? total : 1, sizeof *items);
  if (!items)
    return SHOAL_ENOMEM;
  uint32_t nitems = 0;
  for (size_t s = 0; s < n; s++) {
    const cJSON *arr =
        chain[s].doc ? cJSON_GetObjectItemCaseSensitive(chain[s].doc, "items") : NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
      const char *sku = cJSON_GetObjectItemCaseSensitive(it, "sku")->valuestring;
      size_t slot = shoal_strmap_slot(&b->skus, sku);
      struct shoal_price__item *x;
      if (!b->skus.key[slot]) {
        x = &items[nitems];
        memcpy(x->sku, sku, strlen(sku) + 1); /* validated: at most SHOAL_ID_MAX bytes */
        b->skus.key[slot] = sku;              /* the document outlives this map */
        b->skus.val[slot] = nitems++;
      } else {
        x = &items[b->skus.val[slot]];
      }
      if (merge_item_fields(m, x, it) != SHOAL_OK) {
        free(items);
        return SHOAL_ENOMEM;
      }
    }
  }
  /* A SKU with no price anywhere in the chain is unknown: drop it. */
  uint32_t k = 0;
  for (uint32_t i = 0; i < nitems; i++)
    if (items[i].has_price)
      items[k++] = items[i];
  m->items = items;
  m->nitems = k;
  shoal_err rc;
  if ((rc = index_items_by_sku(m)) != SHOAL_OK || (rc = index_items_by_barcode(m)) != SHOAL_OK)
    return rc;
  return index_categories(m, b);
}

/* Items a rule targets, each once, pushed as pairs. */
static shoal_err resolve_targets(struct shoal_pricing_model *m, const cJSON *rjson, uint32_t ri,
                                 struct build *b) {
  struct shoal_price__rule *r = &m->rules[ri];
  struct pairs *p = r->stage == 1 ? &b->p1 : &b->p23;
  if (r->type == PT_BUNDLE) {
    const cJSON *bi = cJSON_GetObjectItemCaseSensitive(rjson, "items"), *e;
    r->bitems = shoal_arena_alloc(&m->arena, sizeof *r->bitems * (size_t)cJSON_GetArraySize(bi));
    if (!r->bitems)
      return SHOAL_ENOMEM;
    cJSON_ArrayForEach(e, bi) {
      int32_t item = shoal_price__find(m, cJSON_GetObjectItemCaseSensitive(e, "sku")->valuestring);
      int64_t qty = shoal_json_int(cJSON_GetObjectItemCaseSensitive(e, "qty"));
      uint32_t j;
      for (j = 0; j < r->nbitems; j++) /* the same SKU listed twice: quantities add */
        if (item >= 0 && r->bitems[j].item == item)
          break;
      if (j < r->nbitems) {
        r->bitems[j].qty += qty;
        continue;
      }
      r->bitems[r->nbitems].item = item;
      r->bitems[r->nbitems++].qty = qty;
      if (item >= 0 && b->stamp[item] != ri + 1) {
        b->stamp[item] = ri + 1;
        if (!pairs_push(p, (uint32_t)item, ri))
          return SHOAL_ENOMEM;
      }
    }
    return SHOAL_OK;
  }
  if (r->target_all) {
    if (r->stage == 1) {
      m->s1_all[m->ns1_all++] = ri;
    } else {
      m->s23_all_bits[ri / 64] |= 1ull << (ri % 64);
    }
    return SHOAL_OK;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(rjson, "target"), *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(t, "skus")) {
    int32_t item = shoal_price__find(m, e->valuestring);
    if (item >= 0 && b->stamp[item] != ri + 1) {
      b->stamp[item] = ri + 1;
      if (!pairs_push(p, (uint32_t)item, ri))
        return SHOAL_ENOMEM;
    }
  }
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(t, "categories")) {
    size_t slot = shoal_strmap_slot(&b->cats, e->valuestring);
    if (!b->cats.key[slot])
      continue;
    uint32_t c = b->cats.val[slot];
    for (uint32_t k = b->cat_off[c]; k < b->cat_off[c + 1]; k++) {
      uint32_t item = b->cat_items[k];
      if (b->stamp[item] != ri + 1) {
        b->stamp[item] = ri + 1;
        if (!pairs_push(p, item, ri))
          return SHOAL_ENOMEM;
      }
    }
  }
  return SHOAL_OK;
}

static shoal_err build_rules(struct shoal_pricing_model *m, const struct shoal_pricing_src *chain,
                             size_t n, struct build *b) {
  size_t total = 0;
  for (size_t s = 0; s < n; s++)
    total += (size_t)array_size(chain[s].doc, "rules");
  if (!shoal_strmap_init(&b->ids, total))
    return SHOAL_ENOMEM;
  b->slots = calloc(total ? total : 1, sizeof *b->slots);
  if (!b->slots)
    return SHOAL_ENOMEM;
  /* Walk the chain from least to most specific: a scope's "disable" drops
   * what less specific scopes defined, then its own rules replace by id. */
  for (size_t s = 0; s < n; s++) {
    if (!chain[s].doc)
      continue;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(chain[s].doc, "disable")) {
      size_t slot = shoal_strmap_slot(&b->ids, e->valuestring);
      if (b->ids.key[slot])
        b->slots[b->ids.val[slot]].alive = false;
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(chain[s].doc, "rules")) {
      const char *id = cJSON_GetObjectItemCaseSensitive(e, "id")->valuestring;
      size_t slot = shoal_strmap_slot(&b->ids, id);
      uint32_t k;
      if (!b->ids.key[slot]) {
        b->ids.key[slot] = id;
        b->ids.val[slot] = k = (uint32_t)b->nslots++;
      } else {
        k = b->ids.val[slot];
      }
      b->slots[k].rule = e;
      b->slots[k].scope = (int)s;
      b->slots[k].alive = true;
    }
  }
  size_t nr = 0;
  for (size_t k = 0; k < b->nslots; k++)
    nr += b->slots[k].alive;
  m->rules = calloc(nr ? nr : 1, sizeof *m->rules);
  const cJSON **src = calloc(nr ? nr : 1, sizeof *src);
  if (!m->rules || !src) {
    free(src);
    return SHOAL_ENOMEM;
  }
  shoal_err rc = SHOAL_OK;
  for (size_t k = 0; k < b->nslots && rc == SHOAL_OK; k++)
    if (b->slots[k].alive)
      rc = compile_rule(m, b->slots[k].rule, b->slots[k].scope, &m->rules[m->nrules++]);
  if (rc != SHOAL_OK) {
    free(src);
    return rc;
  }
  qsort(m->rules, m->nrules, sizeof *m->rules, rule_cmp);
  /* Find each sorted rule's JSON again by id (ids are unique among survivors). */
  for (uint32_t i = 0; i < m->nrules; i++)
    src[i] = b->slots[b->ids.val[shoal_strmap_slot(&b->ids, m->rules[i].id)]].rule;
  m->s2_begin = m->s3_begin = m->nrules;
  for (uint32_t i = m->nrules; i-- > 0;) {
    if (m->rules[i].stage >= 2)
      m->s2_begin = i;
    if (m->rules[i].stage == 3)
      m->s3_begin = i;
  }
  m->nwords = (m->nrules + 63) / 64 + 1;
  m->s23_all_bits = calloc(m->nwords, sizeof *m->s23_all_bits);
  m->s1_all = malloc(sizeof(uint32_t) * (m->nrules + 1));
  b->stamp = calloc((size_t)m->nitems + 1, sizeof *b->stamp);
  if (!m->s23_all_bits || !m->s1_all || !b->stamp) {
    free(src);
    return SHOAL_ENOMEM;
  }
  for (uint32_t i = 0; i < m->nrules && rc == SHOAL_OK; i++)
    rc = resolve_targets(m, src[i], i, b);
  free(src);
  if (rc != SHOAL_OK)
    return rc;
  if (!(m->s1_list = build_csr(m, &b->p1, true)) || !(m->s23_list = build_csr(m, &b->p23, false)))
    return SHOAL_ENOMEM;
  /* Coupon codes the chain knows, for unknown vs not_applicable. */
  m->codes = shoal_arena_alloc(&m->arena, sizeof(char *) * (m->nrules + 1));
  if (!m->codes)
    return SHOAL_ENOMEM;
  for (uint32_t i = 0; i < m->nrules; i++)
    if (m->rules[i].coupon)
      m->codes[m->ncodes++] = m->rules[i].coupon;
  qsort(m->codes, m->ncodes, sizeof *m->codes, str_cmp);
  return SHOAL_OK;
}

shoal_err shoal_pricing_model_new(const struct shoal_pricing_src *chain, size_t n,
                                  struct shoal_pricing_model **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct build b;
  memset(&b, 0, sizeof b);
  if (n > SHOAL_PRICING_SCOPES)
    return shoal_fail(diag, SHOAL_EINTERNAL, "a pricing chain has at most %d scopes",
                      SHOAL_PRICING_SCOPES);
  for (size_t s = 0; s < n; s++) {
    if (!chain[s].doc)
      continue;
    if ((rc = shoal_pricing_validate_doc(chain[s].doc, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "%s", chain[s].scope);
      return rc;
    }
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(chain[s].doc, "scope");
    if (!cJSON_IsString(sc) || strcmp(sc->valuestring, chain[s].scope) != 0)
      return shoal_fail(diag, SHOAL_EINPUT, "policy for %s names scope \"%s\"", chain[s].scope,
                        cJSON_IsString(sc) ? sc->valuestring : "?");
  }
  struct shoal_pricing_model *m = calloc(1, sizeof *m);
  if (!m)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  shoal_arena_init(&m->arena, MODEL_ARENA_BLOCK, 0);
  m->currency = "CNY";
  m->nscopes = (uint32_t)n;
  for (size_t s = 0; s < n; s++) {
    m->versions[s] = chain[s].version;
    if (!(m->scopes[s] = shoal_arena_strdup(&m->arena, chain[s].scope))) {
      rc = SHOAL_ENOMEM;
      goto cleanup;
    }
    if (!chain[s].doc)
      continue;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(chain[s].doc, "currency");
    if (v && !(m->currency = shoal_arena_strdup(&m->arena, v->valuestring))) {
      rc = SHOAL_ENOMEM;
      goto cleanup;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(chain[s].doc, "round"))) {
      const char *mode = cJSON_GetObjectItemCaseSensitive(v, "mode")->valuestring;
      m->round_step = get_int(v, "step", 1);
      m->round_mode = strcmp(mode, "down") == 0 ? ROUND_DOWN
                      : strcmp(mode, "up") == 0 ? ROUND_UP
                                                : ROUND_HALF_UP;
    }
  }
  if ((rc = merge_items(m, chain, n, &b)) != SHOAL_OK ||
      (rc = build_rules(m, chain, n, &b)) != SHOAL_OK)
    goto cleanup;
cleanup:
  shoal_strmap_free(&b.skus);
  shoal_strmap_free(&b.cats);
  shoal_strmap_free(&b.ids);
  free(b.cat_items);
  free(b.cat_off);
  free(b.stamp);
  free(b.p1.item);
  free(b.p1.rule);
  free(b.p23.item);
  free(b.p23.rule);
  free(b.slots);
  if (rc != SHOAL_OK) {
    shoal_pricing_model_free(m);
    return shoal_fail(diag, rc, "out of memory building the price model");
  }
  *out = m;
  return SHOAL_OK;
}

shoal_err shoal_pricing_model_from_texts(const char *const scopes[SHOAL_PRICING_SCOPES],
                                         const char *const docs[SHOAL_PRICING_SCOPES],
                                         const int64_t *versions, struct shoal_pricing_model **out,
                                         shoal_diag *diag) {
  struct shoal_pricing_src chain[SHOAL_PRICING_SCOPES];
  cJSON *trees[SHOAL_PRICING_SCOPES] = {NULL};
  shoal_err rc = SHOAL_OK;
  for (size_t s = 0; s < SHOAL_PRICING_SCOPES; s++) {
    chain[s].scope = scopes[s];
    chain[s].version = versions ? versions[s] : 0;
    chain[s].doc = NULL;
    if (!docs[s])
      continue;
    if ((rc = shoal_json_parse(docs[s], strlen(docs[s]), &trees[s], diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "policy %s", scopes[s]);
      goto cleanup;
    }
    chain[s].doc = trees[s];
  }
  rc = shoal_pricing_model_new(chain, SHOAL_PRICING_SCOPES, out, diag);
cleanup:
  for (size_t s = 0; s < SHOAL_PRICING_SCOPES; s++)
    cJSON_Delete(trees[s]);
  return rc;
}

void shoal_pricing_model_free(struct shoal_pricing_model *m) {
  if (!m)
    return;
  free(m->items);
  free(m->hash);
  free(m->by_barcode);
  free(m->rules);
  free(m->s1_list);
  free(m->s23_list);
  free(m->s1_all);
  free(m->s23_all_bits);
  shoal_arena_free(&m->arena);
  free(m);
}

shoal_err shoal_pricing_item(const struct shoal_pricing_model *m, const char *sku, int64_t *price,
                             int64_t *cost, bool *has_cost) {
  int32_t i = m && sku ? shoal_price__find(m, sku) : -1;
  if (i < 0)
    return SHOAL_ENOTFOUND;
  const struct shoal_price__item *it = &m->items[i];
  if (price)
    *price = it->price;
  if (has_cost)
    *has_cost = it->has_cost;
  if (cost && it->has_cost)
    *cost = it->cost;
  return SHOAL_OK;
}

shoal_err shoal_pricing_item_info(const struct shoal_pricing_model *m, const char *sku,
                                  const char **name, const char *const **categories,
                                  size_t *ncategories) {
  int32_t i = m && sku ? shoal_price__find(m, sku) : -1;
  if (i < 0)
    return SHOAL_ENOTFOUND;
  if (name)
    *name = m->items[i].name;
  if (categories)
    *categories = m->items[i].cats;
  if (ncategories)
    *ncategories = m->items[i].ncats;
  return SHOAL_OK;
}

shoal_err shoal_pricing_item_checkout(const struct shoal_pricing_model *m, const char *sku,
                                      const char **barcode, int64_t *tax_bp) {
  int32_t i = m && sku ? shoal_price__find(m, sku) : -1;
  if (i < 0)
    return SHOAL_ENOTFOUND;
  if (barcode)
    *barcode = m->items[i].barcode;
  if (tax_bp)
    *tax_bp = m->items[i].tax_bp;
  return SHOAL_OK;
}

shoal_err shoal_pricing_find_barcode(const struct shoal_pricing_model *m, const char *barcode,
                                     const char **sku, shoal_diag *diag) {
  size_t lo = 0, hi = m->nbarcodes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(m->items[m->by_barcode[mid]].barcode, barcode) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == m->nbarcodes || strcmp(m->items[m->by_barcode[lo]].barcode, barcode) != 0)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no product has barcode \"%s\"", barcode);
  if (lo + 1 < m->nbarcodes && strcmp(m->items[m->by_barcode[lo + 1]].barcode, barcode) == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "barcode \"%s\" is given to both %s and %s in the chain",
                      barcode, m->items[m->by_barcode[lo]].sku,
                      m->items[m->by_barcode[lo + 1]].sku);
  *sku = m->items[m->by_barcode[lo]].sku;
  return SHOAL_OK;
}

const char *shoal_pricing_currency(const struct shoal_pricing_model *m) {
  return m->currency;
}

int64_t shoal_pricing_version(const struct shoal_pricing_model *m, size_t i) {
  return i < m->nscopes ? m->versions[i] : 0;
}

/* ---- baskets ---- */

void shoal_basket_free(struct shoal_basket *b) {
  if (!b)
    return;
  cJSON_Delete(b->json);
  free(b->tags);
  free(b->coupons);
  free(b->lines);
  free(b);
}

static shoal_err basket_id(const cJSON *j, const char *key, const char **out, shoal_diag *diag) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!v)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: missing \"%s\"", key);
  if (!cJSON_IsString(v) || !shoal_id_valid(v->valuestring))
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"%s\" must be an identifier", key);
  *out = v->valuestring;
  return SHOAL_OK;
}

/* Refuses any key of obj not in keys (NULL-terminated), naming it. */
static shoal_err basket_keys(const cJSON *obj, const char *const *keys, const char *where,
                             shoal_diag *diag) {
  const cJSON *k;
  cJSON_ArrayForEach(k, obj) {
    const char *const *p;
    for (p = keys; *p; p++)
      if (strcmp(*p, k->string) == 0)
        break;
    if (!*p)
      return shoal_fail(diag, SHOAL_EINPUT, "%s: unknown key \"%s\"", where, k->string);
    for (const cJSON *o = obj->child; o != k; o = o->next)
      if (strcmp(o->string, k->string) == 0)
        return shoal_fail(diag, SHOAL_EINPUT, "%s: duplicate key \"%s\"", where, k->string);
  }
  return SHOAL_OK;
}

/* SPEC 12 keys: kept raw or borrowed; shapes checked here. */
static shoal_err basket_checkout_keys(struct shoal_basket *b, shoal_diag *diag) {
  const cJSON *j = b->json, *v;
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "request_id"))) {
    if (!cJSON_IsString(v) || !shoal_id_valid(v->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "basket: \"request_id\" must be an identifier");
    b->request_id = v->valuestring;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "cashier"))) {
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > SHOAL_ID_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "basket: \"cashier\" must be a string of 1 to %d bytes",
                        SHOAL_ID_MAX);
    b->cashier = v->valuestring;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "payments"))) {
    struct shoal_payment pay[SHOAL_PAYMENT_METHODS_MAX];
    size_t n = 0;
    shoal_err rc = shoal_payments_parse(v, "basket: payments", pay, &n, diag);
    if (rc != SHOAL_OK)
      return rc;
    b->payments = v;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "member_code"))) {
    if (!cJSON_IsString(v) || !v->valuestring[0])
      return shoal_fail(diag, SHOAL_EINPUT, "basket: \"member_code\" must be a non-empty string");
    b->member_code = v;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "redeem_points"))) {
    if (!shoal_json_is_int(v) || shoal_json_int(v) < 0)
      return shoal_fail(diag, SHOAL_EINPUT, "basket: \"redeem_points\" must be an integer >= 0");
    b->redeem_points = v;
  }
  return SHOAL_OK;
}

shoal_err shoal_basket_parse(const cJSON *json, struct shoal_basket **out, shoal_diag *diag) {
  return shoal_basket_parse_opts(json, false, out, diag);
}

/* ---- basket phases: one function per top-level key group ---- */

/* "at": required unless at_optional; kept as text and parsed. */
static shoal_err basket_at(struct shoal_basket *b, bool at_optional, shoal_diag *diag) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->json, "at");
  shoal_err rc;
  if (!v && !at_optional)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: missing \"at\"");
  if (!v) {
    b->has_at = false;
    return SHOAL_OK;
  }
  if (!cJSON_IsString(v))
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"at\" must be an ISO-8601 string with offset");
  if ((rc = shoal_time_parse(v->valuestring, &b->at, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "basket: \"at\"");
    return rc;
  }
  b->at_text = v->valuestring;
  b->has_at = true;
  return SHOAL_OK;
}

/* "channel": a non-empty string, "pos" when absent. */
static shoal_err basket_channel(struct shoal_basket *b, shoal_diag *diag) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->json, "channel");
  b->channel = "pos";
  if (!v)
    return SHOAL_OK;
  if (!cJSON_IsString(v) || !v->valuestring[0])
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"channel\" must be a non-empty string");
  b->channel = v->valuestring;
  return SHOAL_OK;
}

/* "customer": null or {id, tier, tags}; tags borrowed into b->tags. */
static shoal_err basket_customer(struct shoal_basket *b, shoal_diag *diag) {
  static const char *const cust_keys[] = {"id", "tier", "tags", NULL};
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->json, "customer"), *e;
  shoal_err rc;
  if (!v || cJSON_IsNull(v))
    return SHOAL_OK;
  if (!cJSON_IsObject(v))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "basket: \"customer\" must be an object {id, tier, tags}");
  b->customer = v;
  if ((rc = basket_keys(v, cust_keys, "basket: customer", diag)) != SHOAL_OK)
    return rc;
  if ((rc = shoal_json_get_str(v, "id", false, &(const char *){NULL}, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(v, "tier", false, &b->tier, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "basket: customer");
    return rc;
  }
  const cJSON *tags = cJSON_GetObjectItemCaseSensitive(v, "tags");
  if (!tags)
    return SHOAL_OK;
  if (!cJSON_IsArray(tags) || cJSON_GetArraySize(tags) > SHOAL_BASKET_MAX_LINES)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: customer.tags must be an array of strings");
  b->tags = calloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof *b->tags);
  if (!b->tags)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  cJSON_ArrayForEach(e, tags) {
    if (!cJSON_IsString(e))
      return shoal_fail(diag, SHOAL_EINPUT, "basket: customer.tags must be an array of strings");
    b->tags[b->ntags++] = e->valuestring;
  }
  return SHOAL_OK;
}

/* "coupons": at most SHOAL_BASKET_MAX_COUPONS codes; a repeat counts once. */
static shoal_err basket_coupons(struct shoal_basket *b, shoal_diag *diag) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->json, "coupons"), *e;
  if (!v)
    return SHOAL_OK;
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > SHOAL_BASKET_MAX_COUPONS)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "basket: \"coupons\" must be an array of at most %d codes",
                      SHOAL_BASKET_MAX_COUPONS);
  b->coupons = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *b->coupons);
  if (!b->coupons)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  int i = 0;
  cJSON_ArrayForEach(e, v) {
    if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) > SHOAL_ID_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "basket: coupons[%d] must be a code of 1 to %d bytes",
                        i, SHOAL_ID_MAX);
    size_t k;
    for (k = 0; k < b->ncoupons; k++) /* a code presented twice counts once */
      if (strcmp(b->coupons[k], e->valuestring) == 0)
        break;
    if (k == b->ncoupons)
      b->coupons[b->ncoupons++] = e->valuestring;
    i++;
  }
  return SHOAL_OK;
}

/* Room for "basket: lines[<int>]" naming a line in a message. */
#define BASKET_WHERE_MAX 48

/* "lines": {sku, qty} objects, repeats of a SKU merged into its first line. */
static shoal_err basket_lines(struct shoal_basket *b, shoal_diag *diag) {
  static const char *const line_keys[] = {"sku", "qty", NULL};
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->json, "lines"), *e;
  shoal_err rc;
  if (!v)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: missing \"lines\"");
  if (!cJSON_IsArray(v))
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"lines\" must be an array of {sku, qty}");
  int nl = cJSON_GetArraySize(v);
  if (nl > SHOAL_BASKET_MAX_LINES)
    return shoal_fail(diag, SHOAL_ELIMIT, "basket: %d lines is over the limit of %d", nl,
                      SHOAL_BASKET_MAX_LINES);
  b->lines = calloc((size_t)nl + 1, sizeof *b->lines);
  if (!b->lines)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  int i = 0;
  cJSON_ArrayForEach(e, v) {
    const cJSON *sku = cJSON_GetObjectItemCaseSensitive(e, "sku");
    const cJSON *qty = cJSON_GetObjectItemCaseSensitive(e, "qty");
    if (!cJSON_IsObject(e) || !cJSON_IsString(sku) || !sku->valuestring[0])
      return shoal_fail(diag, SHOAL_EINPUT, "basket: lines[%d] needs a \"sku\" string", i);
    if (!qty)
      return shoal_fail(diag, SHOAL_EINPUT, "basket: lines[%d] (%s): missing \"qty\"", i,
                        sku->valuestring);
    char where[BASKET_WHERE_MAX];
    snprintf(where, sizeof where, "basket: lines[%d]", i);
    if ((rc = basket_keys(e, line_keys, where, diag)) != SHOAL_OK)
      return rc;
    if (!shoal_json_is_int(qty) || shoal_json_int(qty) < 1 ||
        shoal_json_int(qty) > SHOAL_LINE_MAX_QTY)
      return shoal_fail(
          diag, SHOAL_EINPUT,
          "basket: lines[%d] (%s): bad quantity, \"qty\" must be an integer from 1 to %d", i,
          sku->valuestring, SHOAL_LINE_MAX_QTY);
    /* Merge repeats of a SKU into its first line. Baskets are small; a
     * linear scan beats hashing below SHOAL_BASKET_MAX_LINES. */
    size_t k;
    for (k = 0; k < b->nlines; k++)
      if (strcmp(b->lines[k].sku, sku->valuestring) == 0)
        break;
    if (k == b->nlines) {
      b->lines[b->nlines].sku = sku->valuestring;
      b->lines[b->nlines++].qty = 0;
    }
    b->lines[k].qty += shoal_json_int(qty);
    if (b->lines[k].qty > SHOAL_LINE_MAX_QTY)
      return shoal_fail(diag, SHOAL_ELIMIT, "basket: total quantity of %s is over the limit of %d",
                        sku->valuestring, SHOAL_LINE_MAX_QTY);
    i++;
  }
  return SHOAL_OK;
}

shoal_err shoal_basket_parse_opts(const cJSON *json, bool at_optional, struct shoal_basket **out,
                                  shoal_diag *diag) {
  static const char *const top[] = {
      "region",     "store",   "at",       "channel",     "customer",      "coupons", "lines",
      "request_id", "cashier", "payments", "member_code", "redeem_points", NULL};
  shoal_err rc = SHOAL_OK;
  if (!cJSON_IsObject(json))
    return shoal_fail(diag, SHOAL_EINPUT, "basket: must be a JSON object");
  if ((rc = basket_keys(json, top, "basket", diag)) != SHOAL_OK)
    return rc;
  struct shoal_basket *b = calloc(1, sizeof *b);
  if (!b || !(b->json = cJSON_Duplicate(json, true))) {
    free(b);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if ((rc = basket_id(b->json, "region", &b->region, diag)) != SHOAL_OK ||
      (rc = basket_id(b->json, "store", &b->store, diag)) != SHOAL_OK ||
      (rc = basket_at(b, at_optional, diag)) != SHOAL_OK ||
      (rc = basket_checkout_keys(b, diag)) != SHOAL_OK ||
      (rc = basket_channel(b, diag)) != SHOAL_OK || (rc = basket_customer(b, diag)) != SHOAL_OK ||
      (rc = basket_coupons(b, diag)) != SHOAL_OK || (rc = basket_lines(b, diag)) != SHOAL_OK) {
    shoal_basket_free(b);
    return rc;
  }
  *out = b;
  return SHOAL_OK;
}
