/* pricing_validate.c - validation of the pricing sections of one policy
 * document (items, rules, disable, round, currency). The model builder
 * relies on it: whatever passes here compiles without further checks.
 * Messages name the section, index, id and field so HQ can fix the doc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pricing_int.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/strmap.h"
#include "shoal/util.h"

/* Buffers naming a place in a message: an item or rule, then a key of it,
 * then a path below that key (ids are at most SHOAL_ID_MAX bytes). */
#define WHERE_MAX      160
#define WHERE_KEY_MAX  (WHERE_MAX + 40)
#define WHERE_PATH_MAX (WHERE_MAX + 80)

static const char *const type_names[PT__COUNT] = {
    "price", "percent", "amount", "bogo", "bundle", "threshold", "basket_percent",
};

int shoal_price__type_of(const char *name) {
  for (int i = 0; i < PT__COUNT; i++)
    if (strcmp(type_names[i], name) == 0)
      return i;
  return -1;
}

const char *shoal_price__type_name(int type) {
  return type >= 0 && type < PT__COUNT ? type_names[type] : "?";
}

int shoal_price__stage_of(int type) {
  switch (type) {
  case PT_PRICE:
  case PT_PERCENT:
  case PT_AMOUNT:
    return 1;
  case PT_BOGO:
  case PT_BUNDLE:
    return 2;
  default:
    return 3;
  }
}

static bool two_digits(const char *p, int *out) {
  if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
    return false;
  *out = (p[0] - '0') * 10 + (p[1] - '0');
  return true;
}

bool shoal_price__hours(const char *s, int *start, int *end) {
  int h1, m1, h2, m2;
  if (strlen(s) != 11 || s[2] != ':' || s[5] != '-' || s[8] != ':')
    return false;
  if (!two_digits(s, &h1) || !two_digits(s + 3, &m1) || !two_digits(s + 6, &h2) ||
      !two_digits(s + 9, &m2))
    return false;
  if (h1 > 23 || m1 > 59 || m2 > 59 || h2 > 24 || (h2 == 24 && m2 != 0))
    return false;
  *start = h1 * 60 + m1;
  *end = h2 * 60 + m2;
  return *start != *end;
}

bool shoal_price__when_time(const char *s, int64_t *ms, bool *local) {
  struct shoal_time t;
  int64_t days;
  char buf[64];
  if (shoal_time_parse(s, &t, NULL) == SHOAL_OK) {
    *ms = t.unix_ms;
    *local = false;
    return true;
  }
  if (shoal_date_parse(s, &days)) {
    *ms = days * 86400000;
    *local = true;
    return true;
  }
  /* A date-time without offset: parse it as if it were UTC to get local ms. */
  size_t n = strlen(s);
  if (n + 2 > sizeof buf || n < 16 || s[n - 1] == 'Z' || s[n - 1] == 'z' || strchr(s + 10, '+') ||
      strchr(s + 10, '-'))
    return false;
  memcpy(buf, s, n);
  buf[n] = 'Z';
  buf[n + 1] = '\0';
  if (shoal_time_parse(buf, &t, NULL) != SHOAL_OK)
    return false;
  *ms = t.unix_ms;
  *local = true;
  return true;
}

/* A string value that is non-empty and at most max bytes. */
static bool short_str(const cJSON *it, size_t max) {
  return cJSON_IsString(it) && it->valuestring[0] && strlen(it->valuestring) <= max;
}

static shoal_err str_array(const cJSON *arr, const char *what, bool ids, shoal_diag *diag) {
  if (!cJSON_IsArray(arr))
    return shoal_fail(diag, SHOAL_EINPUT, "%s must be an array of strings", what);
  const cJSON *e;
  int i = 0;
  cJSON_ArrayForEach(e, arr) {
    if (!short_str(e, SHOAL_ID_MAX) || (ids && !shoal_id_valid(e->valuestring)))
      return shoal_fail(diag, SHOAL_EINPUT, "%s[%d] must be a %s of at most %d bytes", what, i,
                        ids ? "valid identifier" : "non-empty string", SHOAL_ID_MAX);
    i++;
  }
  return SHOAL_OK;
}

/* Integer field in [lo, hi]; required or optional. */
static shoal_err int_field(const cJSON *obj, const char *key, bool required, int64_t lo, int64_t hi,
                           const char *where, shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it) {
    if (required)
      return shoal_fail(diag, SHOAL_EINPUT, "%s: missing \"%s\"", where, key);
    return SHOAL_OK;
  }
  if (!shoal_json_is_int(it) || shoal_json_int(it) < lo || shoal_json_int(it) > hi)
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"%s\" must be an integer from %lld to %lld", where,
                      key, (long long)lo, (long long)hi);
  return SHOAL_OK;
}

static bool key_in(const char *k, const char *const *keys) {
  for (; *keys; keys++)
    if (strcmp(*keys, k) == 0)
      return true;
  return false;
}

static shoal_err only_keys(const cJSON *obj, const char *const *a, const char *const *b,
                           const char *where, shoal_diag *diag) {
  const cJSON *k;
  cJSON_ArrayForEach(k, obj) {
    if (!key_in(k->string, a) && !(b && key_in(k->string, b)))
      return shoal_fail(diag, SHOAL_EINPUT, "%s: unknown key \"%s\"", where, k->string);
  }
  return SHOAL_OK;
}

/* One item, with "where" naming it in messages (built by the caller). */
static shoal_err check_item(const cJSON *it, const char *where, shoal_diag *diag) {
  static const char *const keys[] = {"sku",         "name",    "categories", "price", "cost",
                                     "description", "barcode", "tax_bp",     NULL};
  shoal_err rc;
  if (!cJSON_IsObject(it))
    return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object", where);
  const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
  if (!short_str(sku, SHOAL_ID_MAX))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "%s: \"sku\" must be a non-empty string of at most %d bytes", where,
                      SHOAL_ID_MAX);
  if ((rc = only_keys(it, keys, NULL, where, diag)) != SHOAL_OK)
    return rc;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
  if (name && !cJSON_IsString(name))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"name\" must be a string", where);
  const cJSON *cats = cJSON_GetObjectItemCaseSensitive(it, "categories");
  if (cats && str_array(cats, "", false, NULL) != SHOAL_OK) {
    char w2[WHERE_KEY_MAX];
    snprintf(w2, sizeof w2, "%s: \"categories\"", where);
    return str_array(cats, w2, false, diag);
  }
  const cJSON *bc = cJSON_GetObjectItemCaseSensitive(it, "barcode");
  if (bc && !short_str(bc, SHOAL_ID_MAX))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "%s: \"barcode\" must be a non-empty string of at most %d bytes", where,
                      SHOAL_ID_MAX);
  if ((rc = int_field(it, "price", false, 0, SHOAL_MONEY_MAX, where, diag)) != SHOAL_OK ||
      (rc = int_field(it, "tax_bp", false, 0, 10000, where, diag)) != SHOAL_OK)
    return rc;
  return int_field(it, "cost", false, 0, SHOAL_MONEY_MAX, where, diag);
}

static shoal_err check_items(const cJSON *items, shoal_diag *diag) {
  const cJSON *it;
  int i = 0;
  shoal_err rc = SHOAL_OK;
  struct shoal_strmap seen, codes;
  memset(&codes, 0, sizeof codes);
  if (!shoal_strmap_init(&seen, (size_t)cJSON_GetArraySize(items)) ||
      !shoal_strmap_init(&codes, (size_t)cJSON_GetArraySize(items))) {
    shoal_strmap_free(&seen);
    shoal_strmap_free(&codes);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  cJSON_ArrayForEach(it, items) {
    /* Catalogs hold 10^4 items: check first, and only name the item (a
     * formatted "where") when there is something to report. */
    if (check_item(it, "", NULL) != SHOAL_OK) {
      char where[WHERE_MAX];
      const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
      if (short_str(sku, SHOAL_ID_MAX))
        snprintf(where, sizeof where, "items[%d] (%s)", i, sku->valuestring);
      else
        snprintf(where, sizeof where, "items[%d]", i);
      rc = check_item(it, where, diag);
      break;
    }
    /* Duplicate SKUs inside one document would make "most specific wins" ambiguous. */
    const char *sku = cJSON_GetObjectItemCaseSensitive(it, "sku")->valuestring;
    if (!shoal_strmap_add(&seen, sku, 0)) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "items: duplicate sku \"%s\"", sku);
      break;
    }
    /* SPEC 12: a barcode names one product. */
    const cJSON *bc = cJSON_GetObjectItemCaseSensitive(it, "barcode");
    if (bc && !shoal_strmap_add(&codes, bc->valuestring, 0)) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "items: barcode \"%s\" of %s is already another item's",
                      bc->valuestring, sku);
      break;
    }
    i++;
  }
  shoal_strmap_free(&seen);
  shoal_strmap_free(&codes);
  return rc;
}

static shoal_err check_when(const cJSON *when, int stage, const char *where, shoal_diag *diag) {
  static const char *const keys[] = {"tiers", "channels", "tags_any", "from", "until",
                                     "days",  "hours",    "min_qty",  NULL};
  char w[WHERE_KEY_MAX];
  shoal_err rc;
  (void)stage; /* min_qty is accepted on any stage and only used by stage 1 (SPEC 5.1) */
  snprintf(w, sizeof w, "%s: when", where);
  if (!cJSON_IsObject(when))
    return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object", w);
  if ((rc = only_keys(when, keys, NULL, w, diag)) != SHOAL_OK)
    return rc;
  static const char *const lists[] = {"tiers", "channels", "tags_any"};
  for (size_t i = 0; i < 3; i++) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(when, lists[i]);
    char wl[WHERE_PATH_MAX];
    snprintf(wl, sizeof wl, "%s.%s", w, lists[i]);
    if (l && (rc = str_array(l, wl, false, diag)) != SHOAL_OK)
      return rc;
  }
  int64_t t[2];
  bool local[2];
  static const char *const times[] = {"from", "until"};
  bool has[2] = {false, false};
  for (int i = 0; i < 2; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(when, times[i]);
    if (!v)
      continue;
    if (!cJSON_IsString(v) || !shoal_price__when_time(v->valuestring, &t[i], &local[i]))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "%s.%s must be an ISO-8601 time (2026-11-22T14:00:00+08:00; without an "
                        "offset or as a date it is the basket's local time)",
                        w, times[i]);
    has[i] = true;
  }
  if (has[0] && has[1] && local[0] == local[1] && t[0] >= t[1])
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"until\" must be after \"from\"", w);
  const cJSON *days = cJSON_GetObjectItemCaseSensitive(when, "days");
  if (days) {
    const cJSON *d;
    bool ok = cJSON_IsArray(days);
    cJSON_ArrayForEach(d, days) {
      if (!shoal_json_is_int(d) || shoal_json_int(d) < 1 || shoal_json_int(d) > 7)
        ok = false;
    }
    if (!ok)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "%s.days must be an array of ISO weekdays 1 (Mon) to 7 (Sun)", w);
  }
  const cJSON *hours = cJSON_GetObjectItemCaseSensitive(when, "hours");
  if (hours) {
    int a, b;
    if (!cJSON_IsString(hours) || !shoal_price__hours(hours->valuestring, &a, &b))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "%s.hours must be \"HH:MM-HH:MM\" (local time, end exclusive, not empty)",
                        w);
  }
  return int_field(when, "min_qty", false, 1, SHOAL_LINE_MAX_QTY, w, diag);
}

static shoal_err check_target(const cJSON *target, const char *where, shoal_diag *diag) {
  static const char *const keys[] = {"skus", "categories", NULL};
  char w[WHERE_KEY_MAX];
  shoal_err rc;
  snprintf(w, sizeof w, "%s: target", where);
  if (!cJSON_IsObject(target))
    return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object", w);
  if ((rc = only_keys(target, keys, NULL, w, diag)) != SHOAL_OK)
    return rc;
  const cJSON *skus = cJSON_GetObjectItemCaseSensitive(target, "skus");
  const cJSON *cats = cJSON_GetObjectItemCaseSensitive(target, "categories");
  if (!skus && !cats)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "%s needs \"skus\" and/or \"categories\" (omit it for all items)", w);
  char wl[WHERE_PATH_MAX];
  snprintf(wl, sizeof wl, "%s.skus", w);
  if (skus && (rc = str_array(skus, wl, false, diag)) != SHOAL_OK)
    return rc;
  snprintf(wl, sizeof wl, "%s.categories", w);
  if (cats && (rc = str_array(cats, wl, false, diag)) != SHOAL_OK)
    return rc;
  return SHOAL_OK;
}

static shoal_err check_bundle_items(const cJSON *bi, const char *where, shoal_diag *diag) {
  static const char *const keys[] = {"sku", "qty", NULL};
  if (!cJSON_IsArray(bi) || cJSON_GetArraySize(bi) == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"items\" must be a non-empty array of {sku, qty}",
                      where);
  const cJSON *e;
  int i = 0;
  shoal_err rc;
  cJSON_ArrayForEach(e, bi) {
    char w[WHERE_PATH_MAX];
    snprintf(w, sizeof w, "%s: items[%d]", where, i);
    if (!cJSON_IsObject(e))
      return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object {sku, qty}", w);
    if ((rc = only_keys(e, keys, NULL, w, diag)) != SHOAL_OK)
      return rc;
    if (!short_str(cJSON_GetObjectItemCaseSensitive(e, "sku"), SHOAL_ID_MAX))
      return shoal_fail(diag, SHOAL_EINPUT, "%s: \"sku\" must be a non-empty string", w);
    if ((rc = int_field(e, "qty", true, 1, SHOAL_LINE_MAX_QTY, w, diag)) != SHOAL_OK)
      return rc;
    i++;
  }
  return SHOAL_OK;
}

static shoal_err check_rule(const cJSON *r, int i, shoal_diag *diag) {
  static const char *const common[] = {"id",     "type",      "priority", "when",        "target",
                                       "coupon", "exclusive", "name",     "description", NULL};
  static const char *const fields[PT__COUNT][5] = {
      [PT_PRICE] = {"price", NULL},
      [PT_PERCENT] = {"bp", NULL},
      [PT_AMOUNT] = {"off", NULL},
      [PT_BOGO] = {"buy", "get", "bp", NULL},
      [PT_BUNDLE] = {"items", "price", NULL},
      [PT_THRESHOLD] = {"min", "off", "repeat", "max_off", NULL},
      [PT_BASKET_PERCENT] = {"bp", "min", NULL},
  };
  char where[WHERE_MAX];
  shoal_err rc;
  snprintf(where, sizeof where, "rules[%d]", i);
  if (!cJSON_IsObject(r))
    return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object", where);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
  if (!id)
    return shoal_fail(diag, SHOAL_EINPUT, "%s: missing \"id\"", where);
  if (!cJSON_IsString(id) || !shoal_id_valid(id->valuestring))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"id\" must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                      where);
  snprintf(where, sizeof where, "rules[%d] (%s)", i, id->valuestring);
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(r, "type");
  if (!type)
    return shoal_fail(diag, SHOAL_EINPUT, "%s: missing \"type\"", where);
  int t = cJSON_IsString(type) ? shoal_price__type_of(type->valuestring) : -1;
  if (t < 0)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "%s: unknown rule type %s%s%s (price, percent, amount, bogo, bundle, "
                      "threshold, basket_percent)",
                      where, cJSON_IsString(type) ? "\"" : "",
                      cJSON_IsString(type) ? type->valuestring : "(not a string)",
                      cJSON_IsString(type) ? "\"" : "");
  if ((rc = only_keys(r, common, fields[t], where, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s rule", type_names[t]);
    return rc;
  }
  if ((rc = int_field(r, "priority", false, -SHOAL_RULE_PRIORITY_MAX, SHOAL_RULE_PRIORITY_MAX,
                      where, diag)) != SHOAL_OK)
    return rc;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "coupon");
  if (v && !short_str(v, SHOAL_ID_MAX))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "%s: \"coupon\" must be a non-empty string of at most %d bytes", where,
                      SHOAL_ID_MAX);
  v = cJSON_GetObjectItemCaseSensitive(r, "exclusive");
  if (v && !cJSON_IsBool(v))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"exclusive\" must be true or false", where);
  v = cJSON_GetObjectItemCaseSensitive(r, "name");
  if (v && !cJSON_IsString(v))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"name\" must be a string", where);
  v = cJSON_GetObjectItemCaseSensitive(r, "description");
  if (v && !cJSON_IsString(v))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"description\" must be a string", where);
  v = cJSON_GetObjectItemCaseSensitive(r, "when");
  if (v && (rc = check_when(v, shoal_price__stage_of(t), where, diag)) != SHOAL_OK)
    return rc;
  v = cJSON_GetObjectItemCaseSensitive(r, "target");
  if (v && (rc = check_target(v, where, diag)) != SHOAL_OK)
    return rc;
  const int64_t M = SHOAL_MONEY_MAX;
  switch (t) {
  case PT_PRICE:
    return int_field(r, "price", true, 0, M, where, diag);
  case PT_PERCENT:
    return int_field(r, "bp", true, 0, 10000, where, diag);
  case PT_AMOUNT:
    return int_field(r, "off", true, 0, M, where, diag);
  case PT_BOGO:
    if ((rc = int_field(r, "buy", true, 1, SHOAL_LINE_MAX_QTY, where, diag)) != SHOAL_OK ||
        (rc = int_field(r, "get", true, 1, SHOAL_LINE_MAX_QTY, where, diag)) != SHOAL_OK)
      return rc;
    return int_field(r, "bp", false, 0, 10000, where, diag);
  case PT_BUNDLE:
    if ((rc = check_bundle_items(cJSON_GetObjectItemCaseSensitive(r, "items"), where, diag)) !=
        SHOAL_OK)
      return rc;
    return int_field(r, "price", true, 0, M, where, diag);
  case PT_THRESHOLD: {
    if ((rc = int_field(r, "min", true, 0, M, where, diag)) != SHOAL_OK ||
        (rc = int_field(r, "off", true, 0, M, where, diag)) != SHOAL_OK ||
        (rc = int_field(r, "max_off", false, 0, M, where, diag)) != SHOAL_OK)
      return rc;
    v = cJSON_GetObjectItemCaseSensitive(r, "repeat");
    if (v && !cJSON_IsBool(v))
      return shoal_fail(diag, SHOAL_EINPUT, "%s: \"repeat\" must be true or false", where);
    if (cJSON_IsTrue(v) && shoal_json_int(cJSON_GetObjectItemCaseSensitive(r, "min")) < 1)
      return shoal_fail(diag, SHOAL_EINPUT, "%s: \"repeat\" needs \"min\" >= 1", where);
    return SHOAL_OK;
  }
  case PT_BASKET_PERCENT:
    if ((rc = int_field(r, "bp", true, 0, 10000, where, diag)) != SHOAL_OK)
      return rc;
    return int_field(r, "min", false, 0, M, where, diag);
  }
  return SHOAL_OK;
}

shoal_err shoal_pricing_validate_doc(const cJSON *doc, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  if (!cJSON_IsObject(doc))
    return shoal_fail(diag, SHOAL_EINPUT, "a policy document must be a JSON object");
  const cJSON *cur = cJSON_GetObjectItemCaseSensitive(doc, "currency");
  if (cur) {
    const char *c = cJSON_IsString(cur) ? cur->valuestring : "";
    if (strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || c[2] < 'A' ||
        c[2] > 'Z')
      return shoal_fail(diag, SHOAL_EINPUT,
                        "policy: \"currency\" must be an ISO 4217 code like \"CNY\"");
  }
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
  if (items) {
    if (!cJSON_IsArray(items))
      return shoal_fail(diag, SHOAL_EINPUT, "policy: \"items\" must be an array");
    if ((rc = check_items(items, diag)) != SHOAL_OK)
      goto fail;
  }
  const cJSON *rules = cJSON_GetObjectItemCaseSensitive(doc, "rules");
  if (rules) {
    if (!cJSON_IsArray(rules))
      return shoal_fail(diag, SHOAL_EINPUT, "policy: \"rules\" must be an array");
    const cJSON *r;
    int i = 0;
    struct shoal_strmap seen;
    if (!shoal_strmap_init(&seen, (size_t)cJSON_GetArraySize(rules)))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    cJSON_ArrayForEach(r, rules) {
      if ((rc = check_rule(r, i, diag)) != SHOAL_OK)
        break;
      const char *id = cJSON_GetObjectItemCaseSensitive(r, "id")->valuestring;
      if (!shoal_strmap_add(&seen, id, 0)) {
        rc = shoal_fail(diag, SHOAL_EINPUT, "rules: duplicate id \"%s\"", id);
        break;
      }
      i++;
    }
    shoal_strmap_free(&seen);
    if (rc != SHOAL_OK)
      goto fail;
  }
  const cJSON *dis = cJSON_GetObjectItemCaseSensitive(doc, "disable");
  if (dis && (rc = str_array(dis, "policy: \"disable\"", true, diag)) != SHOAL_OK)
    return rc;
  const cJSON *round = cJSON_GetObjectItemCaseSensitive(doc, "round");
  if (round) {
    static const char *const keys[] = {"step", "mode", NULL};
    if (!cJSON_IsObject(round))
      return shoal_fail(diag, SHOAL_EINPUT, "policy: \"round\" must be an object {step, mode}");
    if ((rc = only_keys(round, keys, NULL, "policy: round", diag)) != SHOAL_OK ||
        (rc = int_field(round, "step", true, 1, SHOAL_MONEY_MAX, "policy: round", diag)) !=
            SHOAL_OK)
      return rc;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(round, "mode");
    if (!cJSON_IsString(mode) ||
        (strcmp(mode->valuestring, "down") != 0 && strcmp(mode->valuestring, "up") != 0 &&
         strcmp(mode->valuestring, "half_up") != 0))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "policy: round.mode must be \"down\", \"up\" or \"half_up\"");
  }
  return SHOAL_OK;
fail:
  shoal_diag_prefix(diag, "policy");
  return rc;
}
