/* loyalty.c - `loyalty` policy parsing and points arithmetic (SPEC 13).
 * Products of points and money are taken in 128 bits (both are bounded,
 * SHOAL_POINTS_MAX and SHOAL_MONEY_MAX), so nothing overflows. */
#include "shoal/loyalty.h"

#include <string.h>

#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"

void shoal_loyalty_defaults(struct shoal_loyalty *out) {
  out->earn_per = 0;
  out->redeem_value = 0;
  out->code_ttl_s = SHOAL_LOYALTY_CODE_TTL_DEFAULT_S;
  out->grace_s = SHOAL_LOYALTY_GRACE_DEFAULT_S;
}

static shoal_err bounded(const cJSON *o, const char *key, bool required, int64_t lo, int64_t hi,
                         int64_t *v, shoal_diag *diag) {
  shoal_err rc = shoal_json_get_int(o, key, required, v, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "loyalty");
    return rc == SHOAL_EJSON ? SHOAL_EINPUT : rc;
  }
  if (*v < lo || *v > hi)
    return shoal_fail(diag, SHOAL_EINPUT, "loyalty.%s must be %lld to %lld", key, (long long)lo,
                      (long long)hi);
  return SHOAL_OK;
}

shoal_err shoal_loyalty_parse(const cJSON *obj, struct shoal_loyalty *out, shoal_diag *diag) {
  static const char *const keys[] = {"earn_per", "redeem_value", "code_ttl_s", "grace_s"};
  struct shoal_loyalty l;
  shoal_loyalty_defaults(&l);
  if (!cJSON_IsObject(obj))
    return shoal_fail(diag, SHOAL_EINPUT, "\"loyalty\" must be an object");
  const cJSON *it;
  cJSON_ArrayForEach(it, obj) {
    bool known = false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      known |= strcmp(it->string, keys[i]) == 0;
    if (!known)
      return shoal_fail(diag, SHOAL_EINPUT, "loyalty: unknown key \"%.64s\"", it->string);
  }
  shoal_err rc;
  if ((rc = bounded(obj, "earn_per", true, 1, SHOAL_MONEY_MAX, &l.earn_per, diag)) ||
      (rc = bounded(obj, "redeem_value", true, 1, SHOAL_REDEEM_VALUE_MAX, &l.redeem_value, diag)))
    return rc;
  if (cJSON_GetObjectItemCaseSensitive(obj, "code_ttl_s") &&
      (rc = bounded(obj, "code_ttl_s", true, 1, SHOAL_LOYALTY_CODE_TTL_MAX_S, &l.code_ttl_s, diag)))
    return rc;
  if (cJSON_GetObjectItemCaseSensitive(obj, "grace_s") &&
      (rc = bounded(obj, "grace_s", true, 0, SHOAL_LOYALTY_GRACE_MAX_S, &l.grace_s, diag)))
    return rc;
  *out = l;
  return SHOAL_OK;
}

int64_t shoal_loyalty_earned(const struct shoal_loyalty *l, int64_t total, int64_t points_paid) {
  int64_t base = total - points_paid;
  if (l->earn_per <= 0 || base <= 0)
    return 0;
  return base / l->earn_per;
}

int64_t shoal_loyalty_share(int64_t amount, int64_t before, int64_t part, int64_t whole) {
  if (whole <= 0 || amount == 0)
    return 0;
  if (before < 0)
    before = 0;
  if (before > whole)
    before = whole;
  if (part < 0)
    part = 0;
  if (before + part > whole)
    part = whole - before;
  __int128 a = (__int128)amount * (before + part) / whole;
  __int128 b = (__int128)amount * before / whole;
  return (int64_t)(a - b);
}
