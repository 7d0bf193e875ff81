/* settle.c - store settlement engine (SPEC 8): scheme parsing/validation and
 * the flat / marginal commission. Invariant: the sum of part x bp is formed
 * exactly (128-bit) and divided by 10000 once, rounded half up, so a
 * marginal commission never accumulates per-tier rounding. */
#include "shoal/settle.h"

#include <string.h>

#include "shoal/jsonx.h"
#include "shoal/util.h"

static shoal_err parse_tier(const cJSON *t, const char *name, size_t i, bool last,
                            struct shoal_settle_tier *out, shoal_diag *diag) {
  if (!cJSON_IsObject(t))
    return shoal_fail(diag, SHOAL_EINPUT, "settlement: scheme %s: tiers[%zu] must be an object",
                      name, i);
  const cJSON *k;
  cJSON_ArrayForEach(k, t) {
    if (strcmp(k->string, "upto") != 0 && strcmp(k->string, "bp") != 0)
      return shoal_fail(diag, SHOAL_EINPUT, "settlement: scheme %s: tiers[%zu]: unknown key \"%s\"",
                        name, i, k->string);
  }
  struct shoal_settle_tier tier = {0};
  shoal_err rc = shoal_json_get_int(t, "bp", true, &tier.bp, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "settlement: scheme %s: tiers[%zu]", name, i);
    return rc;
  }
  if (tier.bp < 0 || tier.bp > SHOAL_SETTLE_BP_MAX)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "settlement: scheme %s: tiers[%zu].bp %lld is outside 0..%d", name, i,
                      (long long)tier.bp, SHOAL_SETTLE_BP_MAX);
  const cJSON *upto = cJSON_GetObjectItemCaseSensitive(t, "upto");
  if (upto && !cJSON_IsNull(upto)) {
    if (last)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "settlement: scheme %s: the last tier must not have \"upto\"", name);
    if ((rc = shoal_json_get_int(t, "upto", true, &tier.upto, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "settlement: scheme %s: tiers[%zu]", name, i);
      return rc;
    }
    if (tier.upto < 0 || tier.upto > SHOAL_MONEY_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "settlement: scheme %s: tiers[%zu].upto out of range",
                        name, i);
    tier.has_upto = true;
  } else if (!last) {
    return shoal_fail(diag, SHOAL_EINPUT,
                      "settlement: scheme %s: tiers[%zu] needs \"upto\" (only the last has none)",
                      name, i);
  }
  *out = tier;
  return SHOAL_OK;
}

shoal_err shoal_settle_scheme_parse(const cJSON *scheme, const char *name,
                                    struct shoal_settle_scheme *out, shoal_diag *diag) {
  struct shoal_settle_scheme s;
  memset(&s, 0, sizeof s);
  if (!shoal_id_valid(name))
    return shoal_fail(diag, SHOAL_EINPUT, "settlement: invalid scheme name \"%s\"", name);
  shoal_strlcpy(s.name, name, sizeof s.name);
  if (!cJSON_IsObject(scheme))
    return shoal_fail(diag, SHOAL_EINPUT, "settlement: scheme %s must be an object", name);
  const cJSON *k;
  cJSON_ArrayForEach(k, scheme) {
    if (strcmp(k->string, "mode") != 0 && strcmp(k->string, "tiers") != 0)
      return shoal_fail(diag, SHOAL_EINPUT, "settlement: scheme %s: unknown key \"%s\"", name,
                        k->string);
  }
  const char *mode = NULL;
  shoal_err rc = shoal_json_get_str(scheme, "mode", true, &mode, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "settlement: scheme %s", name);
    return rc;
  }
  if (strcmp(mode, "flat") == 0)
    s.mode = SHOAL_SETTLE_FLAT;
  else if (strcmp(mode, "marginal") == 0)
    s.mode = SHOAL_SETTLE_MARGINAL;
  else
    return shoal_fail(diag, SHOAL_EINPUT,
                      "settlement: scheme %s: mode \"%s\" (must be \"flat\" or \"marginal\")", name,
                      mode);
  const cJSON *tiers = cJSON_GetObjectItemCaseSensitive(scheme, "tiers");
  if (!cJSON_IsArray(tiers) || cJSON_GetArraySize(tiers) == 0)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "settlement: scheme %s: \"tiers\" must be a non-empty array", name);
  int n = cJSON_GetArraySize(tiers);
  if (n > SHOAL_SETTLE_TIERS_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "settlement: scheme %s: more than %d tiers", name,
                      SHOAL_SETTLE_TIERS_MAX);
  for (int i = 0; i < n; i++) {
    if ((rc = parse_tier(cJSON_GetArrayItem(tiers, i), name, (size_t)i, i == n - 1, &s.tiers[i],
                         diag)) != SHOAL_OK)
      return rc;
    if (i > 0 && s.tiers[i].has_upto && s.tiers[i].upto <= s.tiers[i - 1].upto)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "settlement: scheme %s: tiers must ascend by \"upto\" (tiers[%d])", name,
                        i);
  }
  s.ntiers = (size_t)n;
  *out = s;
  return SHOAL_OK;
}

shoal_err shoal_settle_validate_doc(const cJSON *doc, shoal_diag *diag) {
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "settlement");
  if (!st)
    return SHOAL_OK;
  if (!cJSON_IsObject(st))
    return shoal_fail(diag, SHOAL_EINPUT, "settlement must be an object");
  const cJSON *k;
  cJSON_ArrayForEach(k, st) {
    if (strcmp(k->string, "schemes") != 0 && strcmp(k->string, "stores") != 0)
      return shoal_fail(diag, SHOAL_EINPUT, "settlement: unknown key \"%s\"", k->string);
  }
  const cJSON *schemes = cJSON_GetObjectItemCaseSensitive(st, "schemes");
  const cJSON *stores = cJSON_GetObjectItemCaseSensitive(st, "stores");
  if (schemes && !cJSON_IsObject(schemes))
    return shoal_fail(diag, SHOAL_EINPUT, "settlement: \"schemes\" must be an object");
  if (stores && !cJSON_IsObject(stores))
    return shoal_fail(diag, SHOAL_EINPUT, "settlement: \"stores\" must be an object");
  const cJSON *sc;
  cJSON_ArrayForEach(sc, schemes) {
    struct shoal_settle_scheme s;
    shoal_err rc = shoal_settle_scheme_parse(sc, sc->string, &s, diag);
    if (rc != SHOAL_OK)
      return rc;
  }
  const cJSON *m;
  cJSON_ArrayForEach(m, stores) {
    if (!shoal_id_valid(m->string))
      return shoal_fail(diag, SHOAL_EINPUT, "settlement: invalid store id \"%s\"", m->string);
    if (!cJSON_IsString(m))
      return shoal_fail(diag, SHOAL_EINPUT, "settlement: stores.%s must be a scheme name",
                        m->string);
    if (!schemes || !cJSON_GetObjectItemCaseSensitive(schemes, m->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "settlement: store %s names unknown scheme \"%s\"",
                        m->string, m->valuestring);
  }
  return SHOAL_OK;
}

shoal_err shoal_settle_store_scheme(const cJSON *settlement, const char *store, bool *found,
                                    struct shoal_settle_scheme *out, shoal_diag *diag) {
  const cJSON *stores = cJSON_GetObjectItemCaseSensitive(settlement, "stores");
  const cJSON *name = stores ? cJSON_GetObjectItemCaseSensitive(stores, store) : NULL;
  if (!cJSON_IsString(name)) {
    *found = false;
    return SHOAL_OK;
  }
  const cJSON *schemes = cJSON_GetObjectItemCaseSensitive(settlement, "schemes");
  const cJSON *sc = schemes ? cJSON_GetObjectItemCaseSensitive(schemes, name->valuestring) : NULL;
  if (!sc)
    return shoal_fail(diag, SHOAL_EINPUT, "settlement: store %s names unknown scheme \"%s\"", store,
                      name->valuestring);
  shoal_err rc = shoal_settle_scheme_parse(sc, name->valuestring, out, diag);
  if (rc == SHOAL_OK)
    *found = true;
  return rc;
}

/* |sum| / 10000 rounded half up (away from zero), exactly once. */
static int64_t div_bp_half_up(__int128 sum) {
  __int128 a = sum < 0 ? -sum : sum;
  __int128 q = a / 10000, r = a % 10000;
  if (2 * r >= 10000)
    q++;
  return (int64_t)(sum < 0 ? -q : q);
}

shoal_err shoal_settle_commission(const struct shoal_settle_scheme *scheme, int64_t total,
                                  int64_t *out, shoal_diag *diag) {
  if (scheme->ntiers == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "settlement: scheme %s has no tiers", scheme->name);
  if (total > SHOAL_MONEY_MAX || total < -SHOAL_MONEY_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "settlement: sales total %lld is out of range",
                      (long long)total);
  __int128 sum = 0;
  if (scheme->mode == SHOAL_SETTLE_FLAT || total <= 0) {
    /* Flat: the first tier whose upto holds T, else the last. A negative
     * total is "inside" the first tier for marginal too. */
    size_t i = 0;
    if (scheme->mode == SHOAL_SETTLE_FLAT)
      while (i + 1 < scheme->ntiers &&
             !(scheme->tiers[i].has_upto && total <= scheme->tiers[i].upto))
        i++;
    sum = (__int128)total * scheme->tiers[i].bp;
  } else {
    int64_t prev = 0;
    for (size_t i = 0; i < scheme->ntiers && total > prev; i++) {
      const struct shoal_settle_tier *t = &scheme->tiers[i];
      int64_t hi = (t->has_upto && t->upto < total) ? t->upto : total;
      if (hi > prev)
        sum += (__int128)(hi - prev) * t->bp;
      if (!t->has_upto)
        break;
      prev = t->upto > prev ? t->upto : prev;
    }
  }
  *out = div_bp_half_up(sum);
  return SHOAL_OK;
}
