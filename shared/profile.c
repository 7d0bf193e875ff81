/* profile.c - firmware profile loading and validation. */
#include "shoal/profile.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/util.h"

static const struct {
  const char *name;
  enum shoal_module mod;
} modules[] = {
    {"pricing", SHOAL_MOD_PRICING},
    {"sales", SHOAL_MOD_SALES},
    {"forms", SHOAL_MOD_FORMS},
    {"tickets", SHOAL_MOD_TICKETS},
};

const char *shoal_module_name(enum shoal_module m) {
  for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++)
    if (modules[i].mod == m)
      return modules[i].name;
  return "?";
}

static bool only_keys(const cJSON *obj, const char *const *keys, const char *where,
                      shoal_diag *diag, shoal_err *rc) {
  const cJSON *k;
  cJSON_ArrayForEach(k, obj) {
    bool ok = false;
    for (const char *const *p = keys; *p; p++)
      if (strcmp(*p, k->string) == 0)
        ok = true;
    if (!ok) {
      *rc = shoal_fail(diag, SHOAL_EINPUT, "unknown key \"%s%s\"", where, k->string);
      return false;
    }
  }
  return true;
}

static shoal_err get_bounded(const cJSON *obj, const char *where, const char *key, int lo, int hi,
                             int *out, shoal_diag *diag) {
  int64_t v = 0;
  shoal_err rc = shoal_json_get_int(obj, key, true, &v, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s", where);
    return rc;
  }
  if (v < lo || v > hi)
    return shoal_fail(diag, SHOAL_EINPUT, "%s\"%s\" must be between %d and %d", where, key, lo, hi);
  *out = (int)v;
  return SHOAL_OK;
}

/* "profile" (its name) and the optional "channel" it sells on. */
static shoal_err profile_identity(const cJSON *root, struct shoal_profile *p, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  const char *name = NULL;
  if ((rc = shoal_json_get_str(root, "profile", true, &name, diag)) != SHOAL_OK)
    return rc;
  if (!shoal_id_valid(name))
    return shoal_fail(diag, SHOAL_EINPUT, "\"profile\" is not a valid identifier: \"%s\"", name);
  shoal_strlcpy(p->name, name, sizeof p->name);
  /* The channel this device class sells on (a kiosk: "kiosk"): the store
   * API fills it into a basket that names none. */
  const char *channel = NULL;
  if ((rc = shoal_json_get_str(root, "channel", false, &channel, diag)) != SHOAL_OK)
    return rc;
  if (channel && !shoal_id_valid(channel))
    return shoal_fail(diag, SHOAL_EINPUT, "\"channel\" is not a valid identifier: \"%s\"", channel);
  if (channel)
    shoal_strlcpy(p->channel, channel, sizeof p->channel);
  return SHOAL_OK;
}

/* "modules": known names only; "sales" needs "pricing". */
static shoal_err profile_modules(const cJSON *root, struct shoal_profile *p, shoal_diag *diag) {
  const cJSON *mods = cJSON_GetObjectItemCaseSensitive(root, "modules");
  if (!cJSON_IsArray(mods))
    return shoal_fail(diag, SHOAL_EINPUT, "\"modules\" must be an array of module names");
  const cJSON *m;
  cJSON_ArrayForEach(m, mods) {
    bool found = false;
    for (size_t i = 0; cJSON_IsString(m) && i < sizeof modules / sizeof modules[0]; i++)
      if (strcmp(modules[i].name, m->valuestring) == 0) {
        p->modules |= modules[i].mod;
        found = true;
      }
    if (!found)
      return shoal_fail(
          diag, SHOAL_EINPUT, "\"modules\": unknown module %s%s%s (pricing, sales, forms, tickets)",
          cJSON_IsString(m) ? "\"" : "", cJSON_IsString(m) ? m->valuestring : "(not a string)",
          cJSON_IsString(m) ? "\"" : "");
  }
  if ((p->modules & SHOAL_MOD_SALES) && !(p->modules & SHOAL_MOD_PRICING))
    return shoal_fail(diag, SHOAL_EINPUT, "\"modules\": \"sales\" needs \"pricing\"");
  return SHOAL_OK;
}

/* "cache", "outbox" and "sync": required objects of bounded numbers. */
static shoal_err profile_limits(const cJSON *root, struct shoal_profile *p, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  static const char *const cache_keys[] = {"max_mb", NULL};
  static const char *const outbox_keys[] = {"max_events", NULL};
  static const char *const sync_keys[] = {"keepalive_s", "backoff_min_s", "backoff_max_s", "batch",
                                          NULL};
  const cJSON *cache = cJSON_GetObjectItemCaseSensitive(root, "cache");
  const cJSON *outbox = cJSON_GetObjectItemCaseSensitive(root, "outbox");
  const cJSON *sync = cJSON_GetObjectItemCaseSensitive(root, "sync");
  if (!cJSON_IsObject(cache) || !cJSON_IsObject(outbox) || !cJSON_IsObject(sync))
    return shoal_fail(diag, SHOAL_EINPUT, "\"cache\", \"outbox\" and \"sync\" must be objects");
  if (!only_keys(cache, cache_keys, "cache.", diag, &rc) ||
      !only_keys(outbox, outbox_keys, "outbox.", diag, &rc) ||
      !only_keys(sync, sync_keys, "sync.", diag, &rc))
    return rc;
  if ((rc = get_bounded(cache, "cache.", "max_mb", 1, SHOAL_PROFILE_MB_MAX, &p->cache_max_mb,
                        diag)) ||
      (rc = get_bounded(outbox, "outbox.", "max_events", 1, SHOAL_OUTBOX_EVENTS_MAX,
                        &p->outbox_max_events, diag)) ||
      (rc = get_bounded(sync, "sync.", "keepalive_s", 5, 3600, &p->keepalive_s, diag)) ||
      (rc = get_bounded(sync, "sync.", "backoff_min_s", 0, 3600, &p->backoff_min_s, diag)) ||
      (rc = get_bounded(sync, "sync.", "backoff_max_s", 1, 86400, &p->backoff_max_s, diag)) ||
      (rc = get_bounded(sync, "sync.", "batch", 1, SHOAL_OUTBOX_BATCH_MAX, &p->batch, diag)))
    return rc;
  if (p->backoff_max_s < p->backoff_min_s)
    return shoal_fail(diag, SHOAL_EINPUT, "\"sync.backoff_max_s\" is below \"sync.backoff_min_s\"");
  return SHOAL_OK;
}

/* The optional "media" {max_mb} and "local_api" {listen}. */
static shoal_err profile_media_api(const cJSON *root, struct shoal_profile *p, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  /* media {max_mb}: the photo store's bound (SPEC 15), optional. */
  static const char *const media_keys[] = {"max_mb", NULL};
  static const char *const api_keys[] = {"listen", NULL};
  const cJSON *media = cJSON_GetObjectItemCaseSensitive(root, "media");
  p->media_max_mb = SHOAL_PROFILE_MEDIA_MB;
  if (media) {
    if (!cJSON_IsObject(media))
      return shoal_fail(diag, SHOAL_EINPUT, "\"media\" must be an object");
    if (!only_keys(media, media_keys, "media.", diag, &rc) ||
        (rc = get_bounded(media, "media.", "max_mb", 1, SHOAL_PROFILE_MB_MAX, &p->media_max_mb,
                          diag)))
      return rc;
  }
  const cJSON *api = cJSON_GetObjectItemCaseSensitive(root, "local_api");
  if (api) {
    const char *listen = NULL;
    if (!cJSON_IsObject(api))
      return shoal_fail(diag, SHOAL_EINPUT, "\"local_api\" must be an object");
    if (!only_keys(api, api_keys, "local_api.", diag, &rc))
      return rc;
    if ((rc = shoal_json_get_str(api, "listen", true, &listen, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "local_api");
      return rc;
    }
    if (!shoal_strlcpy(p->local_api_listen, listen, sizeof p->local_api_listen))
      return shoal_fail(diag, SHOAL_EINPUT, "\"local_api.listen\" is too long");
  }
  return SHOAL_OK;
}

shoal_err shoal_profile_parse(const char *text, size_t len, struct shoal_profile *out,
                              shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  cJSON *root = NULL;
  struct shoal_profile p;
  memset(&p, 0, sizeof p);

  if ((rc = shoal_json_parse(text, len, &root, diag)) != SHOAL_OK)
    goto cleanup;
  if (!cJSON_IsObject(root)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "a profile must be a JSON object");
    goto cleanup;
  }
  static const char *const top[] = {"profile",   "modules", "cache", "outbox", "sync",
                                    "local_api", "channel", "media", NULL};
  if (!only_keys(root, top, "", diag, &rc))
    goto cleanup;
  if ((rc = profile_identity(root, &p, diag)) != SHOAL_OK ||
      (rc = profile_modules(root, &p, diag)) != SHOAL_OK ||
      (rc = profile_limits(root, &p, diag)) != SHOAL_OK ||
      (rc = profile_media_api(root, &p, diag)) != SHOAL_OK)
    goto cleanup;
  *out = p;
cleanup:
  cJSON_Delete(root);
  return rc;
}

shoal_err shoal_profile_load(const char *path, struct shoal_profile *out, shoal_diag *diag) {
  char *text = NULL;
  size_t len = 0;
  shoal_err rc = shoal_file_read(path, SHOAL_PROFILE_MAX_BYTES, &text, &len, diag);
  if (rc == SHOAL_OK) {
    rc = shoal_profile_parse(text, len, out, diag);
    if (rc != SHOAL_OK)
      shoal_diag_prefix(diag, "profile %s", path);
  }
  free(text);
  return rc;
}

shoal_err shoal_profile_require(const struct shoal_profile *p, enum shoal_module m,
                                shoal_diag *diag) {
  if (p->modules & m)
    return SHOAL_OK;
  return shoal_fail(diag, SHOAL_EMODULE,
                    "module \"%s\" is not enabled on this device (profile \"%s\")",
                    shoal_module_name(m), p->name);
}
