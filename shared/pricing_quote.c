/* pricing_quote.c - prices one basket against a compiled model (SPEC 5.2)
 * and renders the SPEC 5.3 output. Only rules listed for the basket's items
 * (or targeting all items) are visited; basket-level conditions are
 * evaluated at most once per rule and quote. All money is int64 checked
 * against SHOAL_MONEY_MAX; products that could exceed int64 use __int128. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pricing_int.h"
#include "shoal/jsonx.h"
#include "shoal/money.h"
#include "shoal/shoal_limits.h"

/* cJSON prints integers below this (10^15, "%1.15g") exactly. */
#define JSON_EXACT_INT_MAX 1000000000000000LL

struct qline {
  int32_t item;
  int64_t qty, base, unit, disc;
  int64_t used; /* units taken by stage-2 rules */
  int32_t s1_rule;
};

struct qctx {
  int64_t remaining; /* sum of all line totals now: the eligible amount of untargeted rules */
  const struct shoal_pricing_model *m;
  const struct shoal_basket *b;
  struct qline *lines;
  size_t n;
  uint8_t *cond; /* per rule: 0 unknown, 1 holds, 2 fails */
  int weekday, minute;
  bool *accepted; /* per basket coupon */
  struct shoal_quote *q;
  size_t applied_cap;
  /* sharing scratch */
  uint32_t *order;
  int64_t *w;
};

/* amount * bp / 10000 rounded half up, for 0 <= amount <= SHOAL_MONEY_MAX
 * and 0 <= bp <= 10000: 64-bit when the product fits (the common case). */
static int64_t bp_of(int64_t amount, int64_t bp) {
  if (amount <= INT64_MAX / 10000) {
    int64_t p = amount * bp;
    return p / 10000 + (p % 10000 >= 5000);
  }
  return shoal_bp_of(amount, bp);
}

static bool in_strs(const struct shoal_price__strs *s, const char *v) {
  for (uint32_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], v) == 0)
      return true;
  return false;
}

static int coupon_index(const struct shoal_basket *b, const char *code) {
  for (size_t i = 0; i < b->ncoupons; i++)
    if (strcmp(b->coupons[i], code) == 0)
      return (int)i;
  return -1;
}

/* The rule's basket-level conditions (everything but min_qty). */
static bool eval_cond(const struct qctx *c, const struct shoal_price__rule *r) {
  const struct shoal_basket *b = c->b;
  if (r->coupon && coupon_index(b, r->coupon) < 0)
    return false;
  if (r->has_tiers && (!b->tier || !in_strs(&r->tiers, b->tier)))
    return false;
  if (r->has_channels && !in_strs(&r->channels, b->channel))
    return false;
  if (r->has_tags) {
    bool any = false;
    for (size_t i = 0; i < b->ntags && !any; i++)
      any = in_strs(&r->tags_any, b->tags[i]);
    if (!any)
      return false;
  }
  int64_t local = b->at.unix_ms + (int64_t)b->at.offset_min * 60000;
  if (r->has_from && (r->from_local ? local : b->at.unix_ms) < r->from_ms)
    return false;
  if (r->has_until && (r->until_local ? local : b->at.unix_ms) >= r->until_ms)
    return false;
  if (r->has_days && !(r->days_mask & (1u << c->weekday)))
    return false;
  if (r->has_hours) {
    int mi = c->minute;
    bool in = r->hours_start < r->hours_end ? (mi >= r->hours_start && mi < r->hours_end)
                                            : (mi >= r->hours_start || mi < r->hours_end);
    if (!in)
      return false;
  }
  return true;
}

static bool rule_ok(struct qctx *c, uint32_t ri) {
  const struct shoal_price__rule *r = &c->m->rules[ri];
  if (!r->has_basket_cond)
    return true;
  if (!c->cond[ri])
    c->cond[ri] = eval_cond(c, r) ? 1 : 2;
  return c->cond[ri] == 1;
}

static void accept_coupon(struct qctx *c, const struct shoal_price__rule *r) {
  if (!r->coupon)
    return;
  int i = coupon_index(c->b, r->coupon);
  if (i >= 0)
    c->accepted[i] = true;
}

static shoal_err push_applied(struct qctx *c, const struct shoal_price__rule *r, int64_t saving) {
  struct shoal_quote *q = c->q;
  if (q->napplied == c->applied_cap) {
    size_t cap = c->applied_cap ? c->applied_cap * 2 : 8;
    struct shoal_quote_applied *a = realloc(q->applied, cap * sizeof *a);
    if (!a)
      return SHOAL_ENOMEM;
    q->applied = a;
    c->applied_cap = cap;
  }
  struct shoal_quote_applied *a = &q->applied[q->napplied++];
  a->rule = r->id;
  a->type = shoal_price__type_name(r->type);
  a->scope = c->m->scopes[r->scope];
  a->discount = saving;
  accept_coupon(c, r);
  return SHOAL_OK;
}

/* Stage 1 unit price of rule r on base price p. */
static int64_t stage1_price(const struct shoal_price__rule *r, int64_t p) {
  switch (r->type) {
  case PT_PRICE:
    return r->price;
  case PT_PERCENT:
    return bp_of(p, 10000 - r->bp);
  default:
    return p > r->off ? p - r->off : 0;
  }
}

static void stage1_line(struct qctx *c, struct qline *l) {
  const struct shoal_pricing_model *m = c->m;
  const struct shoal_price__item *it = &m->items[l->item];
  const uint32_t *a = m->s1_list + it->s1_off, *b = m->s1_all;
  uint32_t na = it->s1_n, nb = m->ns1_all, i = 0, j = 0;
  int32_t best = -1;
  int64_t best_price = 0, best_prio = 0;
  /* Both lists are in run order (priority desc, id asc): merge them and
   * stop once the priority falls below the first rule that applied. */
  while (i < na || j < nb) {
    uint32_t ri = (j >= nb || (i < na && a[i] < b[j])) ? a[i++] : b[j++];
    const struct shoal_price__rule *r = &m->rules[ri];
    if (best >= 0 && r->priority < best_prio)
      break;
    if (r->min_qty && l->qty < r->min_qty)
      continue;
    if (!rule_ok(c, ri))
      continue;
    int64_t p = stage1_price(r, l->base);
    if (best < 0 || p < best_price) { /* equal price: the smaller id came first */
      best = (int32_t)ri;
      best_price = p;
      best_prio = r->priority;
    }
  }
  l->s1_rule = best;
  l->unit = best >= 0 ? best_price : l->base;
}

static int cmp_share(const void *x, const void *y, void *ctx) {
  const int64_t *w = ctx;
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  if (w[a] != w[b])
    return w[a] > w[b] ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/* qsort_r is not in C11; a small insertion sort keeps ties stable and is
 * fast for the few lines a rule shares among. */
static void sort_share(uint32_t *idx, size_t n, const int64_t *w) {
  for (size_t i = 1; i < n; i++) {
    uint32_t v = idx[i];
    size_t j = i;
    while (j > 0 && cmp_share(&v, &idx[j - 1], (void *)w) < 0) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = v;
  }
}

/* Shares d among lines ln[0..k) in proportion to weights w (indexed by
 * position in ln): floors first, then the remaining minor units one by one
 * to the largest weights (ties: line order). Adds shares to line discounts. */
static void share(struct qctx *c, const uint32_t *ln, size_t k, const int64_t *w, int64_t d) {
  int64_t total = 0; /* weights are line amounts: their sum stays within SHOAL_MONEY_MAX */
  for (size_t i = 0; i < k; i++)
    total += w[i];
  if (total <= 0 || d <= 0)
    return;
  int64_t given = 0;
  for (size_t i = 0; i < k; i++) {
    int64_t p, s;
    /* 128-bit division is slow; use it only when d * w leaves int64 */
    if (!__builtin_mul_overflow(d, w[i], &p))
      s = p / total;
    else
      s = (int64_t)((__int128)d * w[i] / total);
    c->lines[ln[i]].disc += s;
    given += s;
  }
  int64_t rem = d - given;
  if (rem <= 0)
    return;
  /* order[] holds positions; weights are compared by position, ties by line. */
  int64_t *wl = c->w; /* weight per line index, for the comparator */
  for (size_t i = 0; i < k; i++) {
    c->order[i] = ln[i];
    wl[ln[i]] = w[i];
  }
  sort_share(c->order, k, wl);
  for (size_t i = 0; i < k && rem > 0; i++, rem--)
    c->lines[c->order[i]].disc++;
}

struct run {
  uint32_t line;
  int64_t avail, unit;
};

static int64_t bogo_free_before(int64_t x, int64_t s, int64_t buy, int64_t get) {
  int64_t r = x % s;
  return (x / s) * get + (r > buy ? r - buy : 0);
}

static shoal_err stage2_bogo(struct qctx *c, const struct shoal_price__rule *r, const uint32_t *ln,
                             size_t k, struct run *runs, int64_t *saving) {
  size_t nr = 0;
  int64_t units = 0;
  for (size_t i = 0; i < k; i++) {
    struct qline *l = &c->lines[ln[i]];
    if (l->qty > l->used) {
      runs[nr].line = ln[i];
      runs[nr].avail = l->qty - l->used;
      runs[nr++].unit = l->unit;
      units += l->qty - l->used;
    }
  }
  /* Units by unit price high to low, ties in line order (stable insertion). */
  for (size_t i = 1; i < nr; i++) {
    struct run v = runs[i];
    size_t j = i;
    while (j > 0 && (runs[j - 1].unit < v.unit ||
                     (runs[j - 1].unit == v.unit && runs[j - 1].line > v.line))) {
      runs[j] = runs[j - 1];
      j--;
    }
    runs[j] = v;
  }
  int64_t s = r->buy + r->get, groups = units / s, end = groups * s, pos = 0, total = 0;
  if (groups == 0) {
    *saving = 0;
    return SHOAL_OK;
  }
  for (int pass = 0; pass < 2; pass++) {
    pos = 0;
    for (size_t i = 0; i < nr && pos < end; i++) {
      int64_t a = pos, e = pos + runs[i].avail < end ? pos + runs[i].avail : end;
      int64_t nfree =
          bogo_free_before(e, s, r->buy, r->get) - bogo_free_before(a, s, r->buy, r->get);
      int64_t each = bp_of(runs[i].unit, r->bp);
      if (pass == 0) {
        total += nfree * each;
      } else {
        c->lines[runs[i].line].used += e - a;
        c->lines[runs[i].line].disc += nfree * each;
      }
      pos += runs[i].avail;
    }
    if (total <= 0)
      break; /* saves nothing: the rule does not apply and uses no units */
  }
  *saving = total;
  return SHOAL_OK;
}

static void stage2_bundle(struct qctx *c, const struct shoal_price__rule *r, const uint32_t *ln,
                          size_t k, uint32_t *bl, int64_t *w, int64_t *saving) {
  *saving = 0;
  int64_t sets = -1;
  for (uint32_t i = 0; i < r->nbitems; i++) {
    size_t j;
    for (j = 0; j < k; j++)
      if (r->bitems[i].item >= 0 && c->lines[ln[j]].item == r->bitems[i].item)
        break;
    if (j == k)
      return;
    bl[i] = ln[j];
    int64_t have = (c->lines[ln[j]].qty - c->lines[ln[j]].used) / r->bitems[i].qty;
    if (sets < 0 || have < sets)
      sets = have;
  }
  if (sets <= 0)
    return;
  int64_t value = 0;
  for (uint32_t i = 0; i < r->nbitems; i++) {
    /* sets >= 1 so qty <= line qty and qty * unit <= the line amount (checked) */
    w[i] = r->bitems[i].qty * c->lines[bl[i]].unit;
    value += w[i];
  }
  if (value <= r->price)
    return;
  int64_t d = sets * (value - r->price);
  for (uint32_t i = 0; i < r->nbitems; i++)
    c->lines[bl[i]].used += sets * r->bitems[i].qty;
  *saving = d;
  share(c, bl, r->nbitems, w, d);
}

static int64_t line_total(const struct qline *l) {
  return l->qty * l->unit - l->disc;
}

static void stage3(struct qctx *c, const struct shoal_price__rule *r, const uint32_t *ln, size_t k,
                   int64_t *w, int64_t *saving) {
  int64_t eligible = 0;
  *saving = 0;
  if (r->target_all) { /* known without a pass over the lines */
    eligible = c->remaining;
    if (eligible < r->min || eligible <= 0)
      return;
    for (size_t i = 0; i < k; i++)
      w[i] = line_total(&c->lines[ln[i]]);
  } else {
    for (size_t i = 0; i < k; i++) {
      w[i] = line_total(&c->lines[ln[i]]);
      eligible += w[i];
    }
    if (eligible < r->min || eligible <= 0)
      return;
  }
  int64_t d;
  if (r->type == PT_THRESHOLD) {
    __int128 x = r->off;
    if (r->repeat)
      x *= eligible / r->min;
    if (r->has_max_off && x > r->max_off)
      x = r->max_off;
    if (x > eligible)
      x = eligible;
    d = (int64_t)x;
  } else {
    d = bp_of(eligible, r->bp);
  }
  if (d <= 0)
    return;
  *saving = d;
  share(c, ln, k, w, d);
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void shoal_quote_free(struct shoal_quote *q) {
  if (!q)
    return;
  free(q->lines);
  free(q->applied);
  free(q->accepted);
  free(q->rejected);
  free(q);
}

/* ---- quote phases: price lines, index candidates, apply stages 2/3, render */

/* Base prices and stage 1 for every line; *subtotal is the undiscounted sum.
 * Sets c->remaining to the sum after stage 1. */
static shoal_err quote_price_lines(struct qctx *c, int64_t *subtotal, shoal_diag *diag) {
  const struct shoal_pricing_model *m = c->m;
  const struct shoal_basket *b = c->b;
  int64_t sub = 0, gross = 0;
  for (size_t i = 0; i < c->n; i++) {
    struct qline *l = &c->lines[i];
    l->item = shoal_price__find(m, b->lines[i].sku);
    if (l->item < 0)
      return shoal_fail(diag, SHOAL_ENOTFOUND, "unknown SKU %s (no price in the policy chain)",
                        b->lines[i].sku);
    l->qty = b->lines[i].qty;
    l->base = m->items[l->item].price;
    stage1_line(c, l);
    int64_t a, u;
    if (!shoal_mul_checked(l->qty, l->base, &a) || a > SHOAL_MONEY_MAX ||
        !shoal_mul_checked(l->qty, l->unit, &u) || u > SHOAL_MONEY_MAX ||
        (sub += a) > SHOAL_MONEY_MAX || (gross += u) > SHOAL_MONEY_MAX)
      return shoal_fail(diag, SHOAL_ELIMIT, "basket amount for %s is over the money limit",
                        b->lines[i].sku);
  }
  c->remaining = gross;
  *subtotal = sub;
  return SHOAL_OK;
}

/* Stage-1 applied entries in order of the first line each rule priced.
 * false on out-of-memory. */
static bool quote_stage1_applied(struct qctx *c) {
  for (size_t i = 0; i < c->n; i++) {
    int32_t ri = c->lines[i].s1_rule;
    if (ri < 0)
      continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = c->lines[j].s1_rule == ri;
    if (seen)
      continue;
    int64_t saving = 0;
    bool changed = false;
    for (size_t j = i; j < c->n; j++)
      if (c->lines[j].s1_rule == ri) {
        saving += c->lines[j].qty * (c->lines[j].base - c->lines[j].unit);
        changed |= c->lines[j].unit != c->lines[j].base;
      }
    if (changed && push_applied(c, &c->m->rules[ri], saving) != SHOAL_OK)
      return false;
  }
  return true;
}

/* The stage-2/3 rules a basket can meet: those listed for its items (lbits,
 * each with its lines in line order: lbuf[off[r] .. off[r] + cnt[r]]) plus
 * those targeting every item (bits = lbits | the model's all-items bits). */
struct cands {
  uint64_t *bits, *lbits;
  uint32_t *cnt, *off, *lbuf;
  uint32_t *all; /* every line, for rules without a target (inside lbuf) */
  size_t maxb;   /* most bundle items of a candidate rule (>= 1) */
  /* scratch the stage functions share */
  struct run *runs;
  int64_t *w;
  uint32_t *bl;
};

static void cands_free(struct cands *k) {
  free(k->bits);
  free(k->lbits);
  free(k->cnt);
  free(k->off);
  free(k->lbuf);
  free(k->runs);
  free(k->w);
  free(k->bl);
}

/* Builds the candidate index of c's lines (a CSR over rules). false on
 * out-of-memory. */
static bool quote_index_candidates(const struct qctx *c, struct cands *k) {
  const struct shoal_pricing_model *m = c->m;
  size_t n = c->n, nw = m->nwords;
  k->bits = calloc(nw, sizeof *k->bits);
  k->lbits = calloc(nw, sizeof *k->lbits);
  k->cnt = malloc(sizeof(uint32_t) * ((size_t)m->nrules + 1));
  k->off = malloc(sizeof(uint32_t) * ((size_t)m->nrules + 1));
  size_t npairs = 0;
  k->maxb = 1;
  for (size_t i = 0; i < n; i++)
    npairs += m->items[c->lines[i].item].s23_n;
  k->lbuf = malloc(sizeof(uint32_t) * (npairs + n + 1));
  if (!k->bits || !k->lbits || !k->cnt || !k->off || !k->lbuf)
    return false;
  uint64_t *lbits = k->lbits;
  uint32_t *cnt = k->cnt, *off = k->off;
  for (size_t i = 0; i < n; i++) {
    const struct shoal_price__item *it = &m->items[c->lines[i].item];
    for (uint32_t j = 0; j < it->s23_n; j++) {
      uint32_t ri = m->s23_list[it->s23_off + j];
      if (!(lbits[ri / 64] & (1ull << (ri % 64)))) {
        lbits[ri / 64] |= 1ull << (ri % 64);
        cnt[ri] = 0;
        if (m->rules[ri].nbitems > k->maxb)
          k->maxb = m->rules[ri].nbitems;
      }
      cnt[ri]++;
    }
  }
  uint32_t running = 0;
  for (size_t wi = 0; wi < nw; wi++) {
    uint64_t word = lbits[wi];
    k->bits[wi] = word | m->s23_all_bits[wi];
    while (word) {
      uint32_t ri = (uint32_t)(wi * 64 + (size_t)__builtin_ctzll(word));
      word &= word - 1;
      off[ri] = running;
      running += cnt[ri];
      cnt[ri] = 0;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const struct shoal_price__item *it = &m->items[c->lines[i].item];
    for (uint32_t j = 0; j < it->s23_n; j++) {
      uint32_t ri = m->s23_list[it->s23_off + j];
      k->lbuf[off[ri] + cnt[ri]++] = (uint32_t)i;
    }
  }
  k->all = k->lbuf + npairs;
  for (size_t i = 0; i < n; i++)
    k->all[i] = (uint32_t)i;
  k->runs = malloc(sizeof *k->runs * (n + 1));
  k->w = malloc(sizeof *k->w * (n + k->maxb + 1));
  k->bl = malloc(sizeof *k->bl * (k->maxb + 1));
  return k->runs && k->w && k->bl;
}

/* Stages 2 and 3 in rule order over the candidates; an exclusive rule that
 * saved something ends its stage. false on out-of-memory. */
static bool quote_apply_stages23(struct qctx *c, const struct cands *k) {
  const struct shoal_pricing_model *m = c->m;
  bool stop2 = false, stop3 = false;
  for (size_t wi = 0; wi < m->nwords && !stop3; wi++) {
    uint64_t word = k->bits[wi];
    while (word && !stop3) {
      uint32_t ri = (uint32_t)(wi * 64 + (size_t)__builtin_ctzll(word));
      word &= word - 1;
      const struct shoal_price__rule *r = &m->rules[ri];
      if (r->stage == 2 && stop2)
        continue;
      if (!rule_ok(c, ri))
        continue;
      bool listed = (k->lbits[wi] >> (ri % 64)) & 1;
      const uint32_t *ln = listed ? k->lbuf + k->off[ri] : k->all;
      size_t nl = listed ? k->cnt[ri] : c->n;
      int64_t saving = 0;
      if (r->type == PT_BOGO)
        stage2_bogo(c, r, ln, nl, k->runs, &saving);
      else if (r->type == PT_BUNDLE)
        stage2_bundle(c, r, ln, nl, k->bl, k->w, &saving);
      else
        stage3(c, r, ln, nl, k->w, &saving);
      if (saving <= 0)
        continue;
      c->remaining -= saving; /* every saving is shared out to the lines in full */
      if (push_applied(c, r, saving) != SHOAL_OK)
        return false;
      if (r->exclusive) {
        if (r->stage == 2)
          stop2 = true;
        else
          stop3 = true;
      }
    }
  }
  return true;
}

/* Output lines, totals and rounding into c->q. */
static void quote_render_totals(struct qctx *c, int64_t subtotal) {
  const struct shoal_pricing_model *m = c->m;
  struct shoal_quote *q = c->q;
  int64_t sum = 0;
  for (size_t i = 0; i < c->n; i++) {
    struct qline *l = &c->lines[i];
    struct shoal_quote_line *o = &q->lines[i];
    o->sku = c->b->lines[i].sku;
    o->qty = l->qty;
    o->base_price = l->base;
    o->unit_price = l->unit;
    o->discount = l->disc;
    o->total = line_total(l);
    sum += o->total;
  }
  q->nlines = c->n;
  int64_t t = sum;
  if (m->round_mode != ROUND_NONE && m->round_step > 1) {
    int64_t step = m->round_step, r = sum % step;
    if (r) {
      if (m->round_mode == ROUND_DOWN || (m->round_mode == ROUND_HALF_UP && 2 * r < step))
        t = sum - r;
      else
        t = sum - r + step;
    }
  }
  q->currency = m->currency;
  q->subtotal = subtotal;
  q->discount = subtotal - sum;
  q->rounding = t - sum;
  q->total = t;
}

/* Coupons in the order presented: accepted, or rejected with a reason.
 * false on out-of-memory. */
static bool quote_render_coupons(struct qctx *c) {
  const struct shoal_basket *b = c->b;
  struct shoal_quote *q = c->q;
  q->accepted = calloc(b->ncoupons + 1, sizeof *q->accepted);
  q->rejected = calloc(b->ncoupons + 1, sizeof *q->rejected);
  if (!q->accepted || !q->rejected)
    return false;
  for (size_t i = 0; i < b->ncoupons; i++) {
    if (c->accepted[i]) {
      q->accepted[q->naccepted++] = b->coupons[i];
      continue;
    }
    bool known =
        bsearch(&b->coupons[i], c->m->codes, c->m->ncodes, sizeof *c->m->codes, str_cmp) != NULL;
    q->rejected[q->nrejected].code = b->coupons[i];
    q->rejected[q->nrejected++].reason = known ? "not_applicable" : "unknown";
  }
  return true;
}

shoal_err shoal_pricing_quote(const struct shoal_pricing_model *m, const struct shoal_basket *b,
                              struct shoal_quote **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct qctx c;
  struct cands k;
  memset(&c, 0, sizeof c);
  memset(&k, 0, sizeof k);
  c.m = m;
  c.b = b;
  c.n = b->nlines;
  size_t n = c.n;
  struct shoal_quote *q = calloc(1, sizeof *q);
  c.q = q;
  c.lines = calloc(n + 1, sizeof *c.lines);
  c.cond = calloc((size_t)m->nrules + 1, 1);
  c.accepted = calloc(b->ncoupons + 1, sizeof *c.accepted);
  c.order = malloc(sizeof(uint32_t) * (n + 1));
  c.w = malloc(sizeof(int64_t) * (n + 1));
  if (q)
    q->lines = calloc(n + 1, sizeof *q->lines);
  if (!q || !q->lines || !c.lines || !c.cond || !c.accepted || !c.order || !c.w)
    goto oom;
  c.weekday = shoal_time_local_weekday(&b->at);
  c.minute = shoal_time_local_minute(&b->at);

  int64_t subtotal = 0;
  if ((rc = quote_price_lines(&c, &subtotal, diag)) != SHOAL_OK)
    goto done;
  if (!quote_stage1_applied(&c) || !quote_index_candidates(&c, &k) || !quote_apply_stages23(&c, &k))
    goto oom;
  quote_render_totals(&c, subtotal);
  if (!quote_render_coupons(&c))
    goto oom;
  goto done;
oom:
  rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory pricing the basket");
done:
  free(c.lines);
  free(c.cond);
  free(c.accepted);
  free(c.order);
  free(c.w);
  cands_free(&k);
  if (rc != SHOAL_OK) {
    shoal_quote_free(q);
    return rc;
  }
  *out = q;
  return SHOAL_OK;
}

/* Integers print exactly through cJSON below 10^15 (%1.15g); beyond that a
 * raw node keeps every digit. */
static cJSON *num(int64_t v) {
  if (v > -JSON_EXACT_INT_MAX && v < JSON_EXACT_INT_MAX)
    return cJSON_CreateNumber((double)v);
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)v);
  return cJSON_CreateRaw(buf);
}

static bool add_num(cJSON *o, const char *k, int64_t v) {
  return shoal_json_put(o, k, num(v)); /* n is freed if it cannot be added */
}

cJSON *shoal_quote_to_json(const struct shoal_quote *q) {
  cJSON *o = cJSON_CreateObject();
  bool ok = o && cJSON_AddStringToObject(o, "currency", q->currency) &&
            add_num(o, "subtotal", q->subtotal) && add_num(o, "discount", q->discount) &&
            add_num(o, "rounding", q->rounding) && add_num(o, "total", q->total);
  cJSON *lines = ok ? cJSON_AddArrayToObject(o, "lines") : NULL;
  ok = lines != NULL;
  for (size_t i = 0; ok && i < q->nlines; i++) {
    const struct shoal_quote_line *l = &q->lines[i];
    cJSON *x = cJSON_CreateObject();
    ok = x && cJSON_AddItemToArray(lines, x) && cJSON_AddStringToObject(x, "sku", l->sku) &&
         add_num(x, "qty", l->qty) && add_num(x, "base_price", l->base_price) &&
         add_num(x, "unit_price", l->unit_price) && add_num(x, "discount", l->discount) &&
         add_num(x, "total", l->total);
  }
  cJSON *applied = ok ? cJSON_AddArrayToObject(o, "applied") : NULL;
  ok = applied != NULL;
  for (size_t i = 0; ok && i < q->napplied; i++) {
    const struct shoal_quote_applied *a = &q->applied[i];
    cJSON *x = cJSON_CreateObject();
    ok = x && cJSON_AddItemToArray(applied, x) && cJSON_AddStringToObject(x, "rule", a->rule) &&
         cJSON_AddStringToObject(x, "type", a->type) &&
         cJSON_AddStringToObject(x, "scope", a->scope) && add_num(x, "discount", a->discount);
  }
  cJSON *coupons = ok ? cJSON_AddObjectToObject(o, "coupons") : NULL;
  cJSON *acc = coupons ? cJSON_AddArrayToObject(coupons, "accepted") : NULL;
  cJSON *rej = acc ? cJSON_AddArrayToObject(coupons, "rejected") : NULL;
  ok = rej != NULL;
  for (size_t i = 0; ok && i < q->naccepted; i++) {
    cJSON *s = cJSON_CreateString(q->accepted[i]);
    ok = s && cJSON_AddItemToArray(acc, s);
  }
  for (size_t i = 0; ok && i < q->nrejected; i++) {
    cJSON *x = cJSON_CreateObject();
    ok = x && cJSON_AddItemToArray(rej, x) &&
         cJSON_AddStringToObject(x, "code", q->rejected[i].code) &&
         cJSON_AddStringToObject(x, "reason", q->rejected[i].reason);
  }
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}
