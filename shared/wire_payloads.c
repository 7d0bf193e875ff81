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
#include "timeutil.h"

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
