/* checkout.c - checkout policy keys, VAT, payments, strict basket text and
 * exact refunds (SPEC 12). Pure functions over integers and cJSON trees;
 * intermediate products use 128-bit integers so no amount within
 * SHOAL_MONEY_MAX can overflow. */
#include "shoal/checkout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/jsonx.h"
#include "shoal/money.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

/* The excerpt of a non-integer token quoted in an error message. */
#define TOKEN_EXCERPT_MAX 40

static const char *const default_methods[] = {"cash", "card", "wechat", "alipay"};

bool shoal_utc_offset_parse(const char *s, int *minutes) {
  if (!s || strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':')
    return false;
  for (int i = 1; i < 6; i++)
    if (i != 3 && (s[i] < '0' || s[i] > '9'))
      return false;
  int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
  if (h > 14 || m > 59 || (h == 14 && m))
    return false;
  *minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
  return true;
}

void shoal_time_format_local(int64_t unix_ms, int offset_min, char *buf, size_t bufsz) {
  char iso[SHOAL_TIME_TEXT_MAX];
  /* Format the local wall clock as if it were UTC, then swap the "Z". */
  shoal_time_format_utc_s(unix_ms + (int64_t)offset_min * 60000, iso, sizeof iso);
  size_t n = strlen(iso);
  if (n && iso[n - 1] == 'Z')
    iso[n - 1] = '\0';
  int a = offset_min < 0 ? -offset_min : offset_min;
  snprintf(buf, bufsz, "%s%c%02d:%02d", iso, offset_min < 0 ? '-' : '+', a / 60, a % 60);
}

static shoal_err check_methods(const cJSON *v, shoal_diag *diag) {
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
      cJSON_GetArraySize(v) > SHOAL_PAYMENT_METHODS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "policy: \"payments\" must be an array of 1 to %d method names",
                      SHOAL_PAYMENT_METHODS_MAX);
  const cJSON *e;
  int i = 0;
  cJSON_ArrayForEach(e, v) {
    if (!cJSON_IsString(e) || !shoal_id_valid(e->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "policy: payments[%d] must be a method identifier", i);
    for (const cJSON *o = v->child; o != e; o = o->next)
      if (strcmp(o->valuestring, e->valuestring) == 0)
        return shoal_fail(diag, SHOAL_EINPUT, "policy: payments lists \"%s\" twice",
                          e->valuestring);
    i++;
  }
  return SHOAL_OK;
}

static shoal_err check_loyalty(const cJSON *v, shoal_diag *diag) {
  static const struct {
    const char *key;
    bool required;
    int64_t lo, hi;
  } f[] = {
      {"earn_per", true, 1, SHOAL_MONEY_MAX},
      {"redeem_value", true, 1, SHOAL_MONEY_MAX},
      {"code_ttl_s", false, 1, 86400 * 366},
      {"grace_s", false, 0, 86400 * 366},
  };
  if (!cJSON_IsObject(v))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "policy: \"loyalty\" must be an object {earn_per, redeem_value, "
                      "code_ttl_s, grace_s}");
  const cJSON *k;
  cJSON_ArrayForEach(k, v) {
    size_t i;
    for (i = 0; i < sizeof f / sizeof f[0]; i++)
      if (strcmp(f[i].key, k->string) == 0)
        break;
    if (i == sizeof f / sizeof f[0])
      return shoal_fail(diag, SHOAL_EINPUT, "policy: loyalty: unknown key \"%s\"", k->string);
  }
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(v, f[i].key);
    if (!it && f[i].required)
      return shoal_fail(diag, SHOAL_EINPUT, "policy: loyalty: missing \"%s\"", f[i].key);
    if (it &&
        (!shoal_json_is_int(it) || shoal_json_int(it) < f[i].lo || shoal_json_int(it) > f[i].hi))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "policy: loyalty: \"%s\" must be an integer from %lld to %lld", f[i].key,
                        (long long)f[i].lo, (long long)f[i].hi);
  }
  return SHOAL_OK;
}

shoal_err shoal_checkout_validate_doc(const cJSON *doc, shoal_diag *diag) {
  shoal_err rc;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "payments");
  if (v && (rc = check_methods(v, diag)) != SHOAL_OK)
    return rc;
  v = cJSON_GetObjectItemCaseSensitive(doc, "utc_offset");
  int off;
  if (v && (!cJSON_IsString(v) || !shoal_utc_offset_parse(v->valuestring, &off)))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "policy: \"utc_offset\" must be a string like \"+08:00\" (-14:00..+14:00)");
  v = cJSON_GetObjectItemCaseSensitive(doc, "loyalty");
  if (v && (rc = check_loyalty(v, diag)) != SHOAL_OK)
    return rc;
  return SHOAL_OK;
}

static void add_method(struct shoal_checkout_policy *p, const char *m) {
  if (p->nmethods < SHOAL_PAYMENT_METHODS_MAX && !shoal_checkout_method_allowed(p, m))
    shoal_strlcpy(p->methods[p->nmethods++], m, sizeof p->methods[0]);
}

shoal_err shoal_checkout_policy_build(const cJSON *const *docs, size_t n,
                                      struct shoal_checkout_policy *out, shoal_diag *diag) {
  struct shoal_checkout_policy p;
  memset(&p, 0, sizeof p);
  const cJSON *payments = NULL, *offset = NULL, *loyalty = NULL;
  for (size_t s = 0; s < n; s++) {
    if (!docs[s])
      continue;
    shoal_err rc = shoal_checkout_validate_doc(docs[s], diag);
    if (rc != SHOAL_OK)
      return rc;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(docs[s], "payments")))
      payments = v;
    if ((v = cJSON_GetObjectItemCaseSensitive(docs[s], "utc_offset")))
      offset = v;
    if ((v = cJSON_GetObjectItemCaseSensitive(docs[s], "loyalty")))
      loyalty = v;
  }
  if (payments) {
    const cJSON *e;
    cJSON_ArrayForEach(e, payments) add_method(&p, e->valuestring);
  } else {
    for (size_t i = 0; i < sizeof default_methods / sizeof default_methods[0]; i++)
      add_method(&p, default_methods[i]);
  }
  if (offset)
    shoal_utc_offset_parse(offset->valuestring, &p.utc_offset_min);
  if (loyalty) {
    const cJSON *v;
    p.has_loyalty = true;
    p.earn_per = shoal_json_int(cJSON_GetObjectItemCaseSensitive(loyalty, "earn_per"));
    p.redeem_value = shoal_json_int(cJSON_GetObjectItemCaseSensitive(loyalty, "redeem_value"));
    p.code_ttl_s =
        (v = cJSON_GetObjectItemCaseSensitive(loyalty, "code_ttl_s")) ? shoal_json_int(v) : 300;
    p.grace_s =
        (v = cJSON_GetObjectItemCaseSensitive(loyalty, "grace_s")) ? shoal_json_int(v) : 86400;
    add_method(&p, "points");
  }
  *out = p;
  return SHOAL_OK;
}

bool shoal_checkout_method_allowed(const struct shoal_checkout_policy *p, const char *method) {
  for (size_t i = 0; i < p->nmethods; i++)
    if (strcmp(p->methods[i], method) == 0)
      return true;
  return false;
}

int64_t shoal_tax_included(int64_t total, int64_t tax_bp) {
  if (total <= 0 || tax_bp <= 0)
    return 0;
  __int128 num = (__int128)total * tax_bp, den = 10000 + tax_bp;
  return (int64_t)((2 * num + den) / (2 * den));
}

shoal_err shoal_payments_parse(const cJSON *arr, const char *what, struct shoal_payment *out,
                               size_t *n, shoal_diag *diag) {
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > SHOAL_PAYMENT_METHODS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "%s must be an array of at most %d {\"method\", \"amount\"} objects", what,
                      SHOAL_PAYMENT_METHODS_MAX);
  const cJSON *e;
  size_t k = 0;
  cJSON_ArrayForEach(e, arr) {
    if (!cJSON_IsObject(e))
      return shoal_fail(diag, SHOAL_EINPUT, "%s[%zu] must be an object {\"method\", \"amount\"}",
                        what, k);
    const cJSON *key;
    cJSON_ArrayForEach(key, e) {
      if (strcmp(key->string, "method") != 0 && strcmp(key->string, "amount") != 0)
        return shoal_fail(diag, SHOAL_EINPUT, "%s[%zu]: unknown key \"%s\"", what, k, key->string);
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "method");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "amount");
    if (!cJSON_IsString(m) || !shoal_id_valid(m->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "%s[%zu]: \"method\" must be a method name", what, k);
    if (!a || !shoal_json_is_int(a) || shoal_json_int(a) <= 0 ||
        shoal_json_int(a) > SHOAL_MONEY_MAX)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "%s[%zu] (%s): \"amount\" must be an integer of minor units > 0", what, k,
                        m->valuestring);
    shoal_strlcpy(out[k].method, m->valuestring, sizeof out[k].method);
    out[k].amount = shoal_json_int(a);
    k++;
  }
  *n = k;
  return SHOAL_OK;
}

cJSON *shoal_payments_to_json(const struct shoal_payment *pay, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "method", pay[i].method) ||
        !cJSON_AddNumberToObject(o, "amount", (double)pay[i].amount)) {
      if (o && !o->prev) /* not attached */
        cJSON_Delete(o);
      cJSON_Delete(a);
      return NULL;
    }
  }
  return a;
}

shoal_err shoal_payments_check(const struct shoal_checkout_policy *p,
                               const struct shoal_payment *pay, size_t n, int64_t total,
                               int64_t *change, shoal_diag *diag) {
  int64_t sum = 0, cash = 0;
  for (size_t i = 0; i < n; i++) {
    if (!shoal_checkout_method_allowed(p, pay[i].method))
      return shoal_fail(diag, SHOAL_EINPUT, "payments[%zu]: method \"%s\" is not allowed here", i,
                        pay[i].method);
    if (pay[i].amount <= 0)
      return shoal_fail(diag, SHOAL_EINPUT, "payments[%zu] (%s): amount must be > 0", i,
                        pay[i].method);
    sum += pay[i].amount; /* each <= SHOAL_MONEY_MAX, at most 16: no overflow */
    if (strcmp(pay[i].method, "cash") == 0)
      cash += pay[i].amount;
  }
  if (sum < total)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "payments add up to %lld but the total is %lld (%lld missing)",
                      (long long)sum, (long long)total, (long long)(total - sum));
  if (sum > total) {
    /* Only cash gives change, and never more than the cash handed over. */
    if (sum - total > cash)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "payments add up to %lld, more than the total %lld; only cash may exceed "
                        "it (change)",
                        (long long)sum, (long long)total);
  }
  *change = sum - total;
  return SHOAL_OK;
}

/* ---- strict basket text ---- */

/* Finds the first number token written with a fraction or exponent outside
 * strings; copies the key it belongs to (the last object key seen) and the
 * token. Returns true if one was found. */
static bool find_non_integer(const char *t, size_t len, char *key, size_t keysz, char *tok,
                             size_t toksz) {
  size_t i = 0;
  const char *last_key = NULL;
  size_t last_key_len = 0;
  while (i < len) {
    char c = t[i];
    if (c == '"') {
      size_t start = ++i;
      while (i < len && t[i] != '"')
        i += t[i] == '\\' ? 2 : 1;
      size_t end = i < len ? i : len;
      i++;
      size_t j = i;
      while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\n' || t[j] == '\r'))
        j++;
      if (j < len && t[j] == ':') {
        last_key = t + start;
        last_key_len = end - start;
      }
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = i;
      bool frac = false;
      while (i < len && (t[i] == '-' || t[i] == '+' || t[i] == '.' || t[i] == 'e' || t[i] == 'E' ||
                         (t[i] >= '0' && t[i] <= '9'))) {
        if (t[i] == '.' || t[i] == 'e' || t[i] == 'E')
          frac = true;
        i++;
      }
      if (frac) {
        size_t kn = last_key_len < keysz - 1 ? last_key_len : keysz - 1;
        memcpy(key, last_key ? last_key : "", last_key ? kn : 0);
        key[last_key ? kn : 0] = '\0';
        size_t tn = i - start < toksz - 1 ? i - start : toksz - 1;
        memcpy(tok, t + start, tn);
        tok[tn] = '\0';
        return true;
      }
      continue;
    }
    i++;
  }
  return false;
}

shoal_err shoal_checkout_text_integers(const char *text, size_t len, const char *what,
                                       shoal_diag *diag) {
  char key[SHOAL_ID_MAX + 1], tok[TOKEN_EXCERPT_MAX];
  if (find_non_integer(text, len, key, sizeof key, tok, sizeof tok))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"%s\" must be a JSON integer, not %s", what, key,
                      tok);
  return SHOAL_OK;
}

shoal_err shoal_basket_parse_text(const char *text, size_t len, struct shoal_basket **out,
                                  shoal_diag *diag) {
  cJSON *j = NULL;
  if (len > SHOAL_BASKET_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "basket of %zu bytes is over the limit of %d", len,
                      SHOAL_BASKET_MAX_BYTES);
  shoal_err rc = shoal_json_parse(text, len, &j, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "basket");
    return rc;
  }
  /* Every number in a basket is an integer (qty, amount, redeem_points):
   * cJSON reads 2.0 as 2, so the text is checked. */
  if ((rc = shoal_checkout_text_integers(text, len, "basket", diag)) == SHOAL_OK)
    rc = shoal_basket_parse_opts(j, true, out, diag);
  cJSON_Delete(j);
  return rc;
}

/* ---- refunds ---- */

/* floor(a * b / c) for a, b >= 0, c > 0 without overflow. */
static int64_t muldiv_floor(int64_t a, int64_t b, int64_t c) {
  return (int64_t)(((__int128)a * b) / c);
}

shoal_err shoal_refund_compute(int64_t sale_total, struct shoal_refund_line *lines, size_t n,
                               int64_t *refund, int64_t *rounding, shoal_diag *diag) {
  int64_t sum_lines = 0, before = 0, after = 0, line_refunds = 0;
  for (size_t i = 0; i < n; i++) {
    struct shoal_refund_line *l = &lines[i];
    if (l->qty <= 0 || l->total < 0 || l->returned < 0 || l->returned > l->qty || l->want < 0)
      return shoal_fail(diag, SHOAL_EINTERNAL, "refund: inconsistent sale line %zu", i);
    if (l->want > l->qty - l->returned)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "line %zu: returning %lld units but only %lld of %lld remain returnable", i,
                        (long long)l->want, (long long)(l->qty - l->returned), (long long)l->qty);
    int64_t b = muldiv_floor(l->total, l->returned, l->qty);
    int64_t a = muldiv_floor(l->total, l->returned + l->want, l->qty);
    l->refund = a - b;
    sum_lines += l->total;
    before += b;
    after += a;
    line_refunds += l->refund;
  }
  if (sale_total < 0)
    return shoal_fail(diag, SHOAL_EINTERNAL, "refund: negative sale total");
  int64_t g_before, g_after;
  if (sum_lines > 0) {
    g_before = muldiv_floor(before, sale_total, sum_lines);
    g_after = muldiv_floor(after, sale_total, sum_lines);
  } else {
    /* Every line was free: only a rounding remains, refunded with the last unit. */
    bool all_before = true, all_after = true;
    for (size_t i = 0; i < n; i++) {
      all_before &= lines[i].returned == lines[i].qty;
      all_after &= lines[i].returned + lines[i].want == lines[i].qty;
    }
    g_before = all_before ? sale_total : 0;
    g_after = all_after ? sale_total : 0;
  }
  *refund = g_after - g_before;
  *rounding = *refund - line_refunds;
  return SHOAL_OK;
}

shoal_err shoal_refund_default(const struct shoal_payment *net, size_t n, int64_t refund,
                               struct shoal_payment *out, size_t *nout, shoal_diag *diag) {
  size_t order[SHOAL_PAYMENT_METHODS_MAX];
  if (n > SHOAL_PAYMENT_METHODS_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "too many payments");
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  /* Largest first; insertion sort keeps payment order among equals. */
  for (size_t i = 1; i < n; i++) {
    size_t x = order[i], j = i;
    while (j > 0 && net[order[j - 1]].amount < net[x].amount) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = x;
  }
  int64_t left = refund;
  size_t k = 0;
  for (size_t i = 0; i < n && left > 0; i++) {
    const struct shoal_payment *p = &net[order[i]];
    if (p->amount <= 0)
      continue;
    int64_t take = p->amount < left ? p->amount : left;
    size_t j;
    for (j = 0; j < k; j++) /* one entry per method */
      if (strcmp(out[j].method, p->method) == 0)
        break;
    if (j == k) {
      shoal_strlcpy(out[k].method, p->method, sizeof out[k].method);
      out[k++].amount = 0;
    }
    out[j].amount += take;
    left -= take;
  }
  if (left > 0)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "the sale's payments cannot cover a refund of %lld (%lld short)",
                      (long long)refund, (long long)left);
  *nout = k;
  return SHOAL_OK;
}
