/* wire_payloads.c - encode and decode of the non-envelope wire payloads
 * (wire_payloads.h). The encoders' output is byte-for-byte what agents and
 * hubs have always sent (tests/unit/test_wire_payloads.c and the
 * integration tests pin it); the decoders keep their error messages, which
 * end up in logs and dead letters. */
#include "wire_payloads.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonx.h"
#include "profile.h"
#include "timeutil.h"
#include "util.h"

#define EPOCH_DIGITS_MAX 20 /* a 64-bit value in decimal */

static bool epoch_valid(const char *epoch) {
  size_t n = epoch ? strlen(epoch) : 0;
  if (n == 0 || n > EPOCH_DIGITS_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (epoch[i] < '0' || epoch[i] > '9')
      return false;
  return true;
}

shoal_err shoal_ack_encode(const char *epoch, int64_t upto, char *buf, size_t bufsz, size_t *len,
                           shoal_diag *diag) {
  if (!epoch_valid(epoch))
    return shoal_fail(diag, SHOAL_EINPUT, "ack: epoch must be 1 to %d decimal digits",
                      EPOCH_DIGITS_MAX);
  if (upto < 0)
    return shoal_fail(diag, SHOAL_EINPUT, "ack: upto must be >= 0");
  int n = snprintf(buf, bufsz, "{\"epoch\":\"%s\",\"upto\":%" PRId64 "}", epoch, upto);
  if (n < 0 || (size_t)n >= bufsz)
    return shoal_fail(diag, SHOAL_ELIMIT, "ack: buffer of %zu bytes is too small", bufsz);
  *len = (size_t)n;
  return SHOAL_OK;
}

shoal_err shoal_ack_decode(const void *payload, size_t len, uint64_t *epoch_out, int64_t *upto_out,
                           shoal_diag *diag) {
  cJSON *obj = NULL;
  shoal_diag why = {{0}};
  shoal_err rc = SHOAL_OK;
  if (len > SHOAL_ACK_MAX_BYTES)
    return shoal_fail(diag, SHOAL_EINPUT, "ack of %zu bytes is over the limit of %d", len,
                      SHOAL_ACK_MAX_BYTES);
  if (shoal_json_parse(payload, len, &obj, &why) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_EINPUT, "malformed ack (%s)", why.msg);
  uint64_t epoch = 0;
  int64_t upto = 0;
  if (!cJSON_IsObject(obj) || shoal_json_get_u64(obj, "epoch", true, &epoch, &why) != SHOAL_OK ||
      shoal_json_get_int(obj, "upto", true, &upto, &why) != SHOAL_OK || upto < 0) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "malformed ack: want {\"epoch\": E, \"upto\": N}");
    goto cleanup;
  }
  *epoch_out = epoch;
  *upto_out = upto;
cleanup:
  cJSON_Delete(obj);
  return rc;
}

shoal_err shoal_presence_encode(const struct shoal_presence *p, char **out, shoal_diag *diag) {
  if (!p->device || !p->store)
    return shoal_fail(diag, SHOAL_EINPUT, "presence: device and store are required");
  cJSON *o = cJSON_CreateObject();
  bool ok = o != NULL;
  ok = ok && cJSON_AddBoolToObject(o, "online", p->online) != NULL;
  ok = ok && cJSON_AddStringToObject(o, "device", p->device) != NULL;
  ok = ok && cJSON_AddStringToObject(o, "store", p->store) != NULL;
  if (p->region)
    ok = ok && cJSON_AddStringToObject(o, "region", p->region) != NULL;
  if (p->profile)
    ok = ok && cJSON_AddStringToObject(o, "profile", p->profile) != NULL;
  if (p->at_ms >= 0) {
    char at[40];
    shoal_time_format_utc(p->at_ms, at, sizeof at);
    ok = ok && cJSON_AddStringToObject(o, "at", at) != NULL;
  }
  char *text = ok ? shoal_json_print(o) : NULL;
  cJSON_Delete(o);
  if (!text)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  *out = text;
  return SHOAL_OK;
}

shoal_err shoal_presence_decode(const void *payload, size_t len, bool *online, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  cJSON *root = NULL;
  bool on = false;
  if (len > SHOAL_PRESENCE_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "presence message of %zu bytes is too large", len);
  if ((rc = shoal_json_parse(payload, len, &root, diag)) != SHOAL_OK)
    goto cleanup;
  if (!cJSON_IsObject(root)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "presence: not a JSON object");
    goto cleanup;
  }
  if ((rc = shoal_json_get_bool(root, "online", true, &on, diag)) != SHOAL_OK)
    goto cleanup;
  *online = on;
cleanup:
  cJSON_Delete(root);
  return rc;
}

/* ---- hello ---- */

shoal_err shoal_hello_encode(const struct shoal_hello *h, cJSON **out, shoal_diag *diag) {
  if (!h->profile || !h->region || !h->agent_version)
    return shoal_fail(diag, SHOAL_EINPUT, "hello: profile, region and agent_version are required");
  static const enum shoal_module all[] = {SHOAL_MOD_PRICING, SHOAL_MOD_SALES, SHOAL_MOD_FORMS,
                                          SHOAL_MOD_TICKETS};
  cJSON *body = cJSON_CreateObject();
  bool ok = body != NULL;
  ok = ok && cJSON_AddStringToObject(body, "profile", h->profile) != NULL;
  ok = ok && cJSON_AddStringToObject(body, "region", h->region) != NULL;
  if (h->replayed) {
    ok = ok && cJSON_AddStringToObject(body, "agent_version", h->agent_version) != NULL;
    ok = ok && cJSON_AddBoolToObject(body, "replayed", true) != NULL;
    goto done;
  }
  cJSON *mods = ok ? cJSON_AddArrayToObject(body, "modules") : NULL;
  ok = ok && mods != NULL;
  for (size_t i = 0; ok && i < sizeof all / sizeof all[0]; i++)
    if (h->modules & all[i])
      ok = shoal_json_push(mods, cJSON_CreateString(shoal_module_name(all[i])));
  ok = ok && cJSON_AddStringToObject(body, "agent_version", h->agent_version) != NULL;
  cJSON *serves = ok ? cJSON_AddArrayToObject(body, "serves") : NULL;
  ok = ok && serves != NULL;
  for (size_t i = 0; ok && i < h->nserves; i++)
    ok = shoal_json_push(serves, cJSON_CreateString(h->serves[i]));
  for (const cJSON *m = h->status ? h->status->child : NULL; ok && m; m = m->next)
    ok = shoal_json_put(body, m->string, cJSON_Duplicate(m, true));
  if (h->outbox_pending >= 0)
    ok = ok && cJSON_AddNumberToObject(body, "outbox_pending", (double)h->outbox_pending) != NULL;
  if (h->acked >= 0)
    ok = ok && cJSON_AddNumberToObject(body, "acked", (double)h->acked) != NULL;
done:
  if (!ok) {
    cJSON_Delete(body);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = body;
  return SHOAL_OK;
}

/* First key of names[] present in obj (aliases of one field), or NULL. */
static const cJSON *get_any(const cJSON *obj, const char *const *names, const char **which) {
  for (; *names; names++) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, *names);
    if (it) {
      *which = *names;
      return it;
    }
  }
  return NULL;
}

#define HELLO_PROFILE_MAX 128 /* bytes of "profile" */
#define HELLO_VERSION_MAX 64  /* bytes of "agent_version" */
#define HELLO_SCOPE_MAX   80  /* bytes of a scope named in "policies" (incl. NUL) */

shoal_err shoal_hello_decode(const cJSON *body, struct shoal_hello_info *out, shoal_diag *diag) {
  static const char *const k_profile[] = {"profile", NULL};
  static const char *const k_region[] = {"region", NULL};
  static const char *const k_version[] = {"agent_version", "version", NULL};
  static const char *const k_depth[] = {"outbox_depth", "outbox_pending", NULL};
  static const char *const k_pol[] = {"policies", "policy_versions", "versions", NULL};
  struct shoal_hello_info h = {.outbox_depth = -1};
  const char *which = NULL;
  const cJSON *it;
  if (!cJSON_IsObject(body))
    return shoal_fail(diag, SHOAL_EINPUT, "hello: the body must be an object");
  if ((it = get_any(body, k_profile, &which))) {
    if (!cJSON_IsString(it) || strlen(it->valuestring) > HELLO_PROFILE_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be a short string", which);
    h.profile = it->valuestring;
  }
  if ((it = get_any(body, k_region, &which))) {
    if (!cJSON_IsString(it) || !shoal_id_valid(it->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"region\" must be an identifier");
    h.region = it->valuestring;
  }
  if ((it = get_any(body, k_version, &which))) {
    if (!cJSON_IsString(it) || strlen(it->valuestring) > HELLO_VERSION_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be a short string", which);
    h.agent_version = it->valuestring;
  }
  if ((it = get_any(body, k_depth, &which))) {
    if (!shoal_json_is_int(it) || shoal_json_int(it) < 0)
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be an integer >= 0", which);
    h.outbox_depth = shoal_json_int(it);
  }
  if ((it = get_any(body, k_pol, &which))) {
    if (!cJSON_IsObject(it))
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be an object", which);
    const cJSON *v;
    cJSON_ArrayForEach(v, it) {
      if (strlen(v->string) >= HELLO_SCOPE_MAX ||
          !(shoal_json_is_int(v) || cJSON_IsNull(v) || cJSON_IsObject(v)))
        return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\".\"%.80s\" must be a version", which,
                          v->string);
    }
    h.policies = it;
  }
  *out = h;
  return SHOAL_OK;
}

shoal_err shoal_hello_serves_decode(const cJSON *body, const char **stores, size_t *n,
                                    bool *present, shoal_diag *diag) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "serves"), *e;
  size_t k = 0;
  if (!list) {
    *n = 0;
    *present = false;
    return SHOAL_OK;
  }
  if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > SHOAL_SERVES_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "hello: \"serves\" must be an array of at most %d stores",
                      SHOAL_SERVES_MAX);
  cJSON_ArrayForEach(e, list) {
    if (!cJSON_IsString(e) || !shoal_id_valid(e->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"serves\" must list store identifiers");
    stores[k++] = e->valuestring;
  }
  *n = k;
  *present = true;
  return SHOAL_OK;
}

int64_t shoal_hello_acked(const cJSON *body) {
  int64_t acked = -1; /* stays when absent */
  shoal_diag ignore = {{0}};
  if (shoal_json_get_int(body, "acked", false, &acked, &ignore) != SHOAL_OK || acked < 0)
    return -1;
  return acked;
}
