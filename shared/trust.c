/* trust.c - signed trust updates and the retained chain of them.
 * Verification parses every listed key before accepting an update, so an
 * agent can never end up trusting a list it cannot use. */
#include "shoal/trust.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/jsonx.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

static shoal_err signed_text(int64_t version, const char *issued_at, const char *const *keys,
                             size_t nkeys, char *buf, size_t bufsz) {
  int n = snprintf(buf, bufsz, "shoal-trust-v1\n%" PRId64 "\n%s\n", version, issued_at);
  if (n < 0 || (size_t)n >= bufsz)
    return SHOAL_ELIMIT;
  size_t len = (size_t)n;
  for (size_t i = 0; i < nkeys; i++) {
    char hex[SHOAL_SHA256_HEX_MAX];
    shoal_sha256_hex(keys[i], strlen(keys[i]), hex);
    n = snprintf(buf + len, bufsz - len, "%s\n", hex);
    if (n < 0 || (size_t)n >= bufsz - len)
      return SHOAL_ELIMIT;
    len += (size_t)n;
  }
  return SHOAL_OK;
}

#define SIGNED_MAX (64 + 40 + SHOAL_TRUST_KEYS_MAX * 66 + 32)

void shoal_trust_update_cleanup(struct shoal_trust_update *u) {
  if (!u)
    return;
  for (size_t i = 0; i < u->nkeys; i++)
    free(u->keys[i]);
  memset(u, 0, sizeof *u);
}

static shoal_err check_keys(const char *const *keys, size_t nkeys, shoal_diag *diag) {
  if (nkeys < 1 || nkeys > SHOAL_TRUST_KEYS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "trust update: 1 to %d keys", SHOAL_TRUST_KEYS_MAX);
  for (size_t i = 0; i < nkeys; i++) {
    struct shoal_pubkey *k = NULL;
    size_t len = strlen(keys[i]);
    if (len > SHOAL_TRUST_KEY_PEM_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "trust update: key %zu is too long", i + 1);
    shoal_err rc = shoal_pubkey_parse(keys[i], len, &k, diag);
    shoal_pubkey_free(k);
    if (rc != SHOAL_OK) {
      shoal_diag_prefix(diag, "trust update: key %zu", i + 1);
      return SHOAL_EINPUT;
    }
  }
  return SHOAL_OK;
}

shoal_err shoal_trust_update_sign(const struct shoal_privkey *key, int64_t version,
                                  const char *issued_at, const char *const *keys_pem, size_t nkeys,
                                  char **out, shoal_diag *diag) {
  shoal_err rc;
  struct shoal_time t;
  if (version < 1)
    return shoal_fail(diag, SHOAL_EINPUT, "trust update: version must be >= 1");
  if ((rc = shoal_time_parse(issued_at, &t, diag)) != SHOAL_OK || strlen(issued_at) >= 40)
    return shoal_fail(diag, SHOAL_EINPUT, "trust update: bad issued_at \"%s\"", issued_at);
  if ((rc = check_keys(keys_pem, nkeys, diag)) != SHOAL_OK)
    return rc;
  char text[SIGNED_MAX];
  if (signed_text(version, issued_at, keys_pem, nkeys, text, sizeof text) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_EINTERNAL, "trust update too long");
  unsigned char sig[SHOAL_SIG_MAX];
  size_t sig_len = 0;
  if ((rc = shoal_sign(key, text, strlen(text), sig, &sig_len, diag)) != SHOAL_OK)
    return rc;
  char *sig64 = NULL;
  if (shoal_base64_encode(sig, sig_len, false, &sig64) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  cJSON *o = cJSON_CreateObject(), *arr = NULL;
  rc = SHOAL_OK;
  if (!o || !cJSON_AddNumberToObject(o, "version", (double)version) ||
      !cJSON_AddStringToObject(o, "issued_at", issued_at) ||
      !(arr = cJSON_AddArrayToObject(o, "keys")))
    rc = SHOAL_ENOMEM;
  for (size_t i = 0; rc == SHOAL_OK && i < nkeys; i++) {
    cJSON *s = cJSON_CreateString(keys_pem[i]);
    if (!s || !cJSON_AddItemToArray(arr, s)) {
      cJSON_Delete(s);
      rc = SHOAL_ENOMEM;
    }
  }
  if (rc == SHOAL_OK && !cJSON_AddStringToObject(o, "sig", sig64))
    rc = SHOAL_ENOMEM;
  if (rc == SHOAL_OK && !(*out = shoal_json_print(o)))
    rc = SHOAL_ENOMEM;
  cJSON_Delete(o);
  free(sig64);
  return rc == SHOAL_OK ? SHOAL_OK : shoal_fail(diag, rc, "out of memory");
}

shoal_err shoal_trust_update_verify_json(const cJSON *obj, const struct shoal_pubkey *const *keys,
                                         size_t nkeys, struct shoal_trust_update *out,
                                         shoal_diag *diag) {
  struct shoal_trust_update u;
  memset(&u, 0, sizeof u);
  shoal_err rc = SHOAL_OK;
  const char *issued = NULL, *sig64 = NULL;
  if (!cJSON_IsObject(obj))
    return shoal_fail(diag, SHOAL_EINPUT, "trust update must be an object");
  if ((rc = shoal_json_get_int(obj, "version", true, &u.version, diag)) ||
      (rc = shoal_json_get_str(obj, "issued_at", true, &issued, diag)) ||
      (rc = shoal_json_get_str(obj, "sig", true, &sig64, diag))) {
    shoal_diag_prefix(diag, "trust update");
    return rc;
  }
  struct shoal_time t;
  if (u.version < 1 || !shoal_strlcpy(u.issued_at, issued, sizeof u.issued_at) ||
      shoal_time_parse(issued, &t, diag) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_EINPUT, "trust update: bad version or issued_at");
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "keys");
  if (!cJSON_IsArray(arr))
    return shoal_fail(diag, SHOAL_EINPUT, "trust update: \"keys\" must be an array");
  const cJSON *k;
  cJSON_ArrayForEach(k, arr) {
    if (u.nkeys >= SHOAL_TRUST_KEYS_MAX) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "trust update v%" PRId64 ": more than %d keys", u.version,
                      SHOAL_TRUST_KEYS_MAX);
      goto fail;
    }
    if (!cJSON_IsString(k)) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "trust update: keys must be PEM strings");
      goto fail;
    }
    if (!(u.keys[u.nkeys] = strdup(k->valuestring))) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto fail;
    }
    u.nkeys++;
  }
  if ((rc = check_keys((const char *const *)u.keys, u.nkeys, diag)) != SHOAL_OK)
    goto fail;
  char text[SIGNED_MAX];
  unsigned char sig[SHOAL_SIG_MAX + 8];
  size_t sig_len = 0;
  if (strlen(sig64) > 200 ||
      shoal_base64_decode(sig64, false, sig, sizeof sig, &sig_len) != SHOAL_OK ||
      signed_text(u.version, u.issued_at, (const char *const *)u.keys, u.nkeys, text,
                  sizeof text) != SHOAL_OK) {
    rc = shoal_fail(diag, SHOAL_ESIG, "trust update v%" PRId64 ": malformed signature", u.version);
    goto fail;
  }
  rc = SHOAL_ESIG;
  for (size_t i = 0; i < nkeys && rc != SHOAL_OK; i++)
    rc = shoal_verify(keys[i], text, strlen(text), sig, sig_len);
  if (rc != SHOAL_OK) {
    rc = shoal_fail(diag, SHOAL_ESIG,
                    "trust update v%" PRId64 ": signature does not verify with a trusted key",
                    u.version);
    goto fail;
  }
  *out = u;
  return SHOAL_OK;
fail:
  shoal_trust_update_cleanup(&u);
  return rc;
}

shoal_err shoal_trust_chain_encode(const char *const *updates, size_t n, char **out,
                                   shoal_diag *diag) {
  if (n > SHOAL_TRUST_CHAIN_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "more than %d trust updates in a chain",
                      SHOAL_TRUST_CHAIN_MAX);
  cJSON *o = cJSON_CreateObject(), *arr = NULL;
  shoal_err rc = SHOAL_OK;
  if (!o || !cJSON_AddNumberToObject(o, "v", 1) || !(arr = cJSON_AddArrayToObject(o, "updates")))
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  for (size_t i = 0; rc == SHOAL_OK && i < n; i++) {
    cJSON *u = NULL;
    if ((rc = shoal_json_parse(updates[i], strlen(updates[i]), &u, diag)) != SHOAL_OK)
      break;
    cJSON_AddItemToArray(arr, u);
  }
  if (rc == SHOAL_OK && !(*out = shoal_json_print(o)))
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  cJSON_Delete(o);
  return rc;
}

static void free_keys(struct shoal_pubkey **k, size_t n) {
  for (size_t i = 0; i < n; i++)
    shoal_pubkey_free(k[i]);
}

shoal_err shoal_trust_chain_apply(const char *payload, size_t len, int64_t held_version,
                                  const struct shoal_pubkey *const *keys, size_t nkeys,
                                  struct shoal_trust_update *out, bool *changed, shoal_diag *diag) {
  *changed = false;
  if (len > SHOAL_TRUST_MSG_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "trust message of %zu bytes is over the limit of %d", len,
                      SHOAL_TRUST_MSG_MAX_BYTES);
  cJSON *root = NULL;
  shoal_err rc = shoal_json_parse(payload, len, &root, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "trust message");
    return rc;
  }
  struct shoal_trust_update best;
  memset(&best, 0, sizeof best);
  struct shoal_pubkey *cur[SHOAL_TRUST_KEYS_MAX] = {0};
  size_t ncur = 0;
  int64_t v = 0, last = held_version;
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "updates");
  if (!cJSON_IsObject(root) || shoal_json_get_int(root, "v", true, &v, diag) != SHOAL_OK ||
      v != 1 || !cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > SHOAL_TRUST_CHAIN_MAX) {
    rc = shoal_fail(diag, SHOAL_EINPUT,
                    "trust message must be {\"v\":1,\"updates\":[at most %d updates]}",
                    SHOAL_TRUST_CHAIN_MAX);
    goto cleanup;
  }
  const cJSON *u;
  int64_t prev_seen = 0;
  cJSON_ArrayForEach(u, arr) {
    int64_t uv = 0;
    shoal_diag ignore;
    if (!cJSON_IsObject(u) || shoal_json_get_int(u, "version", true, &uv, &ignore) != SHOAL_OK ||
        uv <= prev_seen) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "trust message: updates must have ascending versions");
      goto cleanup;
    }
    prev_seen = uv;
    if (uv <= last)
      continue; /* already held (equal) or older: nothing to do */
    struct shoal_trust_update next;
    const struct shoal_pubkey *const *vk =
        *changed ? (const struct shoal_pubkey *const *)cur : keys;
    size_t vn = *changed ? ncur : nkeys;
    shoal_err vrc = shoal_trust_update_verify_json(u, vk, vn, &next, diag);
    if (vrc != SHOAL_OK) {
      if (!*changed) {
        rc = vrc;
        goto cleanup;
      }
      break; /* keep the verified prefix */
    }
    struct shoal_pubkey *nk[SHOAL_TRUST_KEYS_MAX] = {0};
    for (size_t i = 0; i < next.nkeys; i++)
      if ((rc = shoal_pubkey_parse(next.keys[i], strlen(next.keys[i]), &nk[i], diag)) != SHOAL_OK) {
        free_keys(nk, i);
        shoal_trust_update_cleanup(&next);
        goto cleanup;
      }
    free_keys(cur, ncur);
    memcpy(cur, nk, sizeof nk);
    ncur = next.nkeys;
    shoal_trust_update_cleanup(&best);
    best = next;
    last = uv;
    *changed = true;
  }
  if (*changed) {
    *out = best;
    memset(&best, 0, sizeof best);
  }
  rc = SHOAL_OK;
cleanup:
  shoal_trust_update_cleanup(&best);
  free_keys(cur, ncur);
  cJSON_Delete(root);
  if (rc != SHOAL_OK)
    *changed = false;
  return rc;
}
