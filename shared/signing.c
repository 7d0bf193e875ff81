/* signing.c - policy envelopes and work-order codes.
 * The policy signature covers
 *   shoal-policy-v1\n{scope}\n{version}\n{issued_at}\n{effective_at}\n{expires_at}\n{sha256hex(doc)}
 * built from the strings exactly as they appear in the envelope. */
#include "shoal/signing.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

/* The rollout lines appended to the signed text (docs/protocol.md). */
static shoal_err rollout_lines(const struct shoal_policy_rollout *r, char **out) {
  char hex[SHOAL_SHA256_HEX_MAX];
  shoal_sha256_hex(r->stable_doc, strlen(r->stable_doc), hex);
  size_t n = strlen(r->id) + 200;
  for (size_t i = 0; i < r->nstores; i++)
    n += strlen(r->stores[i]) + 1;
  char *buf = malloc(n);
  if (!buf)
    return SHOAL_ENOMEM;
  int k =
      snprintf(buf, n, "\nrollout\n%s\n%" PRId64 "\n%d\n", r->id, r->stable_version, r->percent);
  size_t off = (size_t)k;
  for (size_t i = 0; i < r->nstores; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? "," : "", r->stores[i]);
  snprintf(buf + off, n - off, "\n%s", hex);
  *out = buf;
  return SHOAL_OK;
}

static shoal_err signed_payload(const char *scope, int64_t version, const char *issued_at,
                                const char *effective_at, const char *expires_at, const char *doc,
                                const struct shoal_policy_rollout *r, char **out) {
  char hex[SHOAL_SHA256_HEX_MAX];
  char *extra = NULL;
  if (r && rollout_lines(r, &extra) != SHOAL_OK)
    return SHOAL_ENOMEM;
  shoal_sha256_hex(doc, strlen(doc), hex);
  size_t n = strlen(scope) + strlen(issued_at) + strlen(effective_at) + strlen(expires_at) + 160 +
             (extra ? strlen(extra) : 0);
  char *buf = malloc(n);
  if (!buf) {
    free(extra);
    return SHOAL_ENOMEM;
  }
  snprintf(buf, n, "shoal-policy-v1\n%s\n%" PRId64 "\n%s\n%s\n%s\n%s%s", scope, version, issued_at,
           effective_at, expires_at, hex, extra ? extra : "");
  free(extra);
  *out = buf;
  return SHOAL_OK;
}

int shoal_rollout_bucket(const char *store) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)store; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  return (int)(h % 100u);
}

bool shoal_rollout_targets(const struct shoal_policy_rollout *r, const char *store) {
  for (size_t i = 0; i < r->nstores; i++)
    if (strcmp(r->stores[i], store) == 0)
      return true;
  return shoal_rollout_bucket(store) < r->percent;
}

void shoal_policy_rollout_cleanup(struct shoal_policy_rollout *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nstores; i++)
    free(r->stores[i]);
  free(r->stores);
  free(r->stable_doc);
  r->stores = NULL;
  r->nstores = 0;
  r->stable_doc = NULL;
}

/* Reads and checks an envelope's "rollout" object into r. */
static shoal_err rollout_parse(const cJSON *o, struct shoal_policy_rollout *r, shoal_diag *diag) {
  const char *id = NULL, *stable = NULL;
  int64_t pct = 0;
  shoal_err rc;
  if (!cJSON_IsObject(o))
    return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: \"rollout\" must be an object");
  const cJSON *k;
  cJSON_ArrayForEach(k, o) {
    if (strcmp(k->string, "id") && strcmp(k->string, "stable_version") &&
        strcmp(k->string, "percent") && strcmp(k->string, "stores") &&
        strcmp(k->string, "stable_doc"))
      return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: unknown key \"rollout.%s\"",
                        k->string);
  }
  if ((rc = shoal_json_get_str(o, "id", true, &id, diag)) ||
      (rc = shoal_json_get_int(o, "stable_version", true, &r->stable_version, diag)) ||
      (rc = shoal_json_get_int(o, "percent", true, &pct, diag)) ||
      (rc = shoal_json_get_str(o, "stable_doc", true, &stable, diag))) {
    shoal_diag_prefix(diag, "policy envelope rollout");
    return rc;
  }
  if (!shoal_id_valid(id) || r->stable_version < 0 || pct < 0 || pct > 100)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "policy envelope: rollout id, stable_version or percent out of range");
  shoal_strlcpy(r->id, id, sizeof r->id);
  r->percent = (int)pct;
  const cJSON *stores = cJSON_GetObjectItemCaseSensitive(o, "stores");
  if (!cJSON_IsArray(stores) || cJSON_GetArraySize(stores) > SHOAL_ROLLOUT_STORES_MAX)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "policy envelope: rollout.stores must be an array of at most %d ids",
                      SHOAL_ROLLOUT_STORES_MAX);
  size_t n = (size_t)cJSON_GetArraySize(stores);
  if (n && !(r->stores = calloc(n, sizeof *r->stores)))
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  const cJSON *st;
  cJSON_ArrayForEach(st, stores) {
    if (!cJSON_IsString(st) || !shoal_id_valid(st->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: rollout.stores holds a bad store id");
    if (!(r->stores[r->nstores] = strdup(st->valuestring)))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    r->nstores++;
  }
  if (!(r->stable_doc = strdup(stable)))
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  return SHOAL_OK;
}

static shoal_err parse_time_opt(const char *what, const char *s, int64_t *ms, shoal_diag *diag) {
  if (!s || !*s) {
    *ms = SHOAL_NO_TIME;
    return SHOAL_OK;
  }
  struct shoal_time t;
  shoal_err rc = shoal_time_parse(s, &t, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s", what);
    return rc;
  }
  *ms = t.unix_ms;
  return SHOAL_OK;
}

shoal_err shoal_policy_envelope_sign(const struct shoal_privkey *key, const char *scope,
                                     int64_t version, const char *issued_at,
                                     const char *effective_at, const char *expires_at,
                                     const char *doc, char **out, shoal_diag *diag) {
  return shoal_policy_envelope_sign_rollout(key, scope, version, issued_at, effective_at,
                                            expires_at, doc, NULL, out, diag);
}

shoal_err shoal_policy_envelope_sign_rollout(const struct shoal_privkey *key, const char *scope,
                                             int64_t version, const char *issued_at,
                                             const char *effective_at, const char *expires_at,
                                             const char *doc, const struct shoal_policy_rollout *r,
                                             char **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  char *payload = NULL, *sig64 = NULL;
  cJSON *o = NULL;
  int64_t t;
  /* Never sign what shoal_policy_envelope_verify would refuse to read. */
  enum shoal_scope_kind kind;
  const char *id;
  if ((rc = shoal_scope_parse(scope, &kind, &id, diag)) != SHOAL_OK)
    return rc;
  if (version < 1 || !issued_at || !*issued_at || strlen(issued_at) >= 40 ||
      (effective_at && strlen(effective_at) >= 40) || (expires_at && strlen(expires_at) >= 40))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "policy envelope: version must be >= 1 and timestamps ISO-8601 (issued_at "
                      "required)");
  if ((rc = parse_time_opt("issued_at", issued_at, &t, diag)) ||
      (rc = parse_time_opt("effective_at", effective_at, &t, diag)) ||
      (rc = parse_time_opt("expires_at", expires_at, &t, diag)))
    return rc;
  if (r && (!shoal_id_valid(r->id) || r->percent < 0 || r->percent > 100 || !r->stable_doc ||
            r->nstores > SHOAL_ROLLOUT_STORES_MAX))
    return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: bad rollout");
  for (size_t i = 0; r && i < r->nstores; i++)
    if (!shoal_id_valid(r->stores[i]))
      return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: bad rollout store id");
  /* The envelope is read back with shoal_json_parse, which refuses text
   * that is not UTF-8: a document that is not must be refused here. */
  if (!doc || !shoal_utf8_valid(doc, strlen(doc)) ||
      (r && !shoal_utf8_valid(r->stable_doc, strlen(r->stable_doc))))
    return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: the document is not valid UTF-8");
  if ((rc = signed_payload(scope, version, issued_at, effective_at ? effective_at : "",
                           expires_at ? expires_at : "", doc, r, &payload)) != SHOAL_OK)
    return shoal_fail(diag, rc, "out of memory");
  unsigned char sig[SHOAL_SIG_MAX];
  size_t sig_len = 0;
  if ((rc = shoal_sign(key, payload, strlen(payload), sig, &sig_len, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_base64_encode(sig, sig_len, false, &sig64)) != SHOAL_OK)
    goto cleanup;
  o = cJSON_CreateObject();
  if (!o || !cJSON_AddNumberToObject(o, "v", 1) || !cJSON_AddStringToObject(o, "scope", scope) ||
      !cJSON_AddNumberToObject(o, "version", (double)version) ||
      !cJSON_AddStringToObject(o, "issued_at", issued_at) ||
      !(effective_at ? cJSON_AddStringToObject(o, "effective_at", effective_at)
                     : cJSON_AddNullToObject(o, "effective_at")) ||
      !(expires_at ? cJSON_AddStringToObject(o, "expires_at", expires_at)
                   : cJSON_AddNullToObject(o, "expires_at")) ||
      !cJSON_AddStringToObject(o, "doc", doc)) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (r) {
    cJSON *ro = cJSON_AddObjectToObject(o, "rollout");
    cJSON *stores = ro ? cJSON_AddArrayToObject(ro, "stores") : NULL;
    if (!stores || !cJSON_AddStringToObject(ro, "id", r->id) ||
        !cJSON_AddNumberToObject(ro, "stable_version", (double)r->stable_version) ||
        !cJSON_AddNumberToObject(ro, "percent", r->percent) ||
        !cJSON_AddStringToObject(ro, "stable_doc", r->stable_doc)) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    for (size_t i = 0; i < r->nstores; i++)
      if (!shoal_json_push(stores, cJSON_CreateString(r->stores[i]))) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        goto cleanup;
      }
  }
  if (!cJSON_AddStringToObject(o, "sig", sig64)) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *out = shoal_json_print(o);
  if (!*out)
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
cleanup:
  cJSON_Delete(o);
  free(payload);
  free(sig64);
  return rc;
}

static shoal_err get_time_field(const cJSON *root, const char *key, bool required, char *buf,
                                size_t bufsz, int64_t *ms, shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
  buf[0] = '\0';
  *ms = SHOAL_NO_TIME;
  if (!it || cJSON_IsNull(it)) {
    if (required)
      return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: missing \"%s\"", key);
    return SHOAL_OK;
  }
  if (!cJSON_IsString(it) || !shoal_strlcpy(buf, it->valuestring, bufsz))
    return shoal_fail(diag, SHOAL_EINPUT, "policy envelope: \"%s\" must be an ISO-8601 string",
                      key);
  return parse_time_opt(key, buf, ms, diag);
}

shoal_err shoal_policy_envelope_verify(const char *payload, size_t len,
                                       const struct shoal_pubkey *const *keys, size_t nkeys,
                                       struct shoal_policy_envelope *out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  cJSON *root = NULL;
  char *signed_text = NULL;
  struct shoal_policy_envelope env;
  memset(&env, 0, sizeof env);
  if (len > SHOAL_POLICY_ENVELOPE_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "policy envelope of %zu bytes is over the limit of %d",
                      len, SHOAL_POLICY_ENVELOPE_MAX_BYTES);
  if ((rc = shoal_json_parse(payload, len, &root, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "policy envelope");
    return rc;
  }
  int64_t v = 0;
  const char *scope = NULL, *doc = NULL, *sig64 = NULL;
  if (!cJSON_IsObject(root)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "policy envelope must be a JSON object");
    goto cleanup;
  }
  if ((rc = shoal_json_get_int(root, "v", true, &v, diag)) ||
      (rc = shoal_json_get_str(root, "scope", true, &scope, diag)) ||
      (rc = shoal_json_get_int(root, "version", true, &env.version, diag)) ||
      (rc = shoal_json_get_str(root, "doc", true, &doc, diag)) ||
      (rc = shoal_json_get_str(root, "sig", true, &sig64, diag))) {
    shoal_diag_prefix(diag, "policy envelope");
    goto cleanup;
  }
  if (v != 1) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "policy envelope: unsupported version %" PRId64, v);
    goto cleanup;
  }
  enum shoal_scope_kind kind;
  const char *id;
  if ((rc = shoal_scope_parse(scope, &kind, &id, diag)) != SHOAL_OK)
    goto cleanup;
  shoal_strlcpy(env.scope, scope, sizeof env.scope);
  if (env.version < 1) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "policy envelope: version must be >= 1");
    goto cleanup;
  }
  if ((rc = get_time_field(root, "issued_at", true, env.issued_at, sizeof env.issued_at,
                           &env.issued_ms, diag)) ||
      (rc = get_time_field(root, "effective_at", false, env.effective_at, sizeof env.effective_at,
                           &env.effective_ms, diag)) ||
      (rc = get_time_field(root, "expires_at", false, env.expires_at, sizeof env.expires_at,
                           &env.expires_ms, diag)))
    goto cleanup;
  unsigned char sig[SHOAL_SIG_MAX + 8];
  size_t sig_len = 0;
  if (strlen(sig64) > 200 ||
      shoal_base64_decode(sig64, false, sig, sizeof sig, &sig_len) != SHOAL_OK) {
    rc = shoal_fail(diag, SHOAL_ESIG, "policy envelope %s v%" PRId64 ": signature is not base64",
                    scope, env.version);
    goto cleanup;
  }
  const cJSON *ro = cJSON_GetObjectItemCaseSensitive(root, "rollout");
  if (ro && !cJSON_IsNull(ro)) {
    env.has_rollout = true;
    if ((rc = rollout_parse(ro, &env.rollout, diag)) != SHOAL_OK)
      goto cleanup;
  }
  if ((rc = signed_payload(scope, env.version, env.issued_at, env.effective_at, env.expires_at, doc,
                           env.has_rollout ? &env.rollout : NULL, &signed_text)) != SHOAL_OK) {
    rc = shoal_fail(diag, rc, "out of memory");
    goto cleanup;
  }
  rc = SHOAL_ESIG;
  for (size_t i = 0; i < nkeys && rc != SHOAL_OK; i++)
    rc = shoal_verify(keys[i], signed_text, strlen(signed_text), sig, sig_len);
  if (rc != SHOAL_OK) {
    rc = shoal_fail(diag, SHOAL_ESIG,
                    "policy envelope %s v%" PRId64
                    ": signature does not verify with the trusted key%s",
                    scope, env.version, nkeys > 1 ? "s" : "");
    goto cleanup;
  }
  env.doc = strdup(doc);
  if (!env.doc) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *out = env;
  memset(&env, 0, sizeof env);
cleanup:
  shoal_policy_envelope_cleanup(&env);
  free(signed_text);
  cJSON_Delete(root);
  return rc;
}

void shoal_policy_envelope_cleanup(struct shoal_policy_envelope *env) {
  if (!env)
    return;
  free(env->doc);
  env->doc = NULL;
  shoal_policy_rollout_cleanup(&env->rollout);
  env->has_rollout = false;
}

shoal_err shoal_policy_envelope_check(const struct shoal_policy_envelope *env, const char *region,
                                      const char *store, int64_t held_version, int64_t now_ms,
                                      int64_t newest_issued_ms, enum shoal_policy_verdict *verdict,
                                      shoal_diag *diag) {
  enum shoal_scope_kind kind;
  const char *id;
  shoal_err rc = shoal_scope_parse(env->scope, &kind, &id, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((kind == SHOAL_SCOPE_REGION && strcmp(id, region) != 0) ||
      (kind == SHOAL_SCOPE_STORE && strcmp(id, store) != 0))
    return shoal_fail(diag, SHOAL_ESCOPE, "policy %s v%" PRId64 " is not for this device (%s/%s)",
                      env->scope, env->version, region, store);
  if (env->version == held_version) {
    *verdict = SHOAL_POLICY_SAME;
    return SHOAL_OK;
  }
  if (env->version < held_version)
    return shoal_fail(diag, SHOAL_EROLLBACK,
                      "policy %s v%" PRId64 " is older than v%" PRId64 " already held (rollback)",
                      env->scope, env->version, held_version);
  /* A clock set back cannot revive an expired policy. */
  int64_t now = now_ms > newest_issued_ms ? now_ms : newest_issued_ms;
  if (env->expires_ms != SHOAL_NO_TIME && env->expires_ms <= now)
    return shoal_fail(diag, SHOAL_EEXPIRED, "policy %s v%" PRId64 " expired at %s", env->scope,
                      env->version, env->expires_at);
  *verdict = SHOAL_POLICY_ACCEPT;
  return SHOAL_OK;
}

static shoal_err code_payload(const char *ticket, const char *store, int64_t expires, char *buf,
                              size_t bufsz) {
  if (!shoal_id_valid(ticket) || !shoal_id_valid(store))
    return SHOAL_EINPUT;
  if (snprintf(buf, bufsz, "%s.%s.%" PRId64, ticket, store, expires) >= (int)bufsz)
    return SHOAL_ELIMIT;
  return SHOAL_OK;
}

shoal_err shoal_wo_code_make(const struct shoal_privkey *key, const char *ticket, const char *store,
                             int64_t expires_unix_s, char **out, shoal_diag *diag) {
  char payload[2 * SHOAL_ID_MAX + 40];
  if (code_payload(ticket, store, expires_unix_s, payload, sizeof payload) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_EINPUT, "ticket and store must be valid identifiers");
  unsigned char sig[SHOAL_SIG_MAX];
  size_t sig_len = 0;
  shoal_err rc = shoal_sign(key, payload, strlen(payload), sig, &sig_len, diag);
  if (rc != SHOAL_OK)
    return rc;
  char *sig64 = NULL;
  if ((rc = shoal_base64_encode(sig, sig_len, true, &sig64)) != SHOAL_OK)
    return shoal_fail(diag, rc, "out of memory");
  size_t n = strlen(payload) + strlen(sig64) + 16;
  char *code = malloc(n);
  if (!code) {
    free(sig64);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  snprintf(code, n, "SHOAL1.%s.%s", payload, sig64);
  free(sig64);
  *out = code;
  return SHOAL_OK;
}

shoal_err shoal_wo_code_verify(const char *code, const struct shoal_pubkey *const *keys,
                               size_t nkeys, const char *expect_store, int64_t now_unix_s,
                               char *ticket_out, int64_t *expires_out, shoal_diag *diag) {
  /* Identifiers may contain '.', so split from the right: the signature
   * and expiry are the last two fields, the store has no '.' ambiguity
   * only if we take the expected store's length from the right as well. */
  if (strlen(code) > 512 || strncmp(code, "SHOAL1.", 7) != 0)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "not a work-order code (want SHOAL1.{ticket}.{store}.{expires}.{signature})");
  const char *body = code + 7;
  const char *last = strrchr(body, '.');
  if (!last || last == body)
    return shoal_fail(diag, SHOAL_EINPUT, "malformed work-order code");
  const char *p = last - 1;
  while (p > body && *p != '.')
    p--;
  if (*p != '.')
    return shoal_fail(diag, SHOAL_EINPUT, "malformed work-order code");
  /* body = "{ticket}.{store}" + p, p = ".{expires}", last = ".{sig}" */
  char exp_s[24];
  size_t exp_len = (size_t)(last - p - 1);
  if (exp_len == 0 || exp_len >= sizeof exp_s)
    return shoal_fail(diag, SHOAL_EINPUT, "malformed work-order code: bad expiry");
  memcpy(exp_s, p + 1, exp_len);
  exp_s[exp_len] = '\0';
  for (size_t i = 0; i < exp_len; i++)
    if (exp_s[i] < '0' || exp_s[i] > '9')
      return shoal_fail(diag, SHOAL_EINPUT, "malformed work-order code: bad expiry");
  int64_t expires = strtoll(exp_s, NULL, 10);
  /* "{ticket}.{store}": the signed text is everything before ".{sig}". */
  size_t signed_len = (size_t)(last - body);
  char signed_text[2 * SHOAL_ID_MAX + 40];
  if (signed_len >= sizeof signed_text)
    return shoal_fail(diag, SHOAL_EINPUT, "malformed work-order code: too long");
  memcpy(signed_text, body, signed_len);
  signed_text[signed_len] = '\0';
  unsigned char sig[SHOAL_SIG_MAX + 8];
  size_t sig_len = 0;
  if (shoal_base64_decode(last + 1, true, sig, sizeof sig, &sig_len) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ESIG, "work-order code signature is not base64url");
  shoal_err rc = SHOAL_ESIG;
  for (size_t i = 0; i < nkeys && rc != SHOAL_OK; i++)
    rc = shoal_verify(keys[i], signed_text, signed_len, sig, sig_len);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ESIG,
                      "work-order code signature is not valid (forged or altered)");
  /* Signed text is "{ticket}.{store}.{expires}"; the ticket is everything
   * before ".{store}.{expires}" — the store is split off by position of
   * the second-to-last '.' before the expiry. */
  size_t head_len = (size_t)(p - body); /* "{ticket}.{store}" */
  char head[2 * SHOAL_ID_MAX + 2];
  if (head_len >= sizeof head)
    return shoal_fail(diag, SHOAL_EINPUT, "malformed work-order code");
  memcpy(head, body, head_len);
  head[head_len] = '\0';
  size_t sl = strlen(expect_store);
  bool store_ok = head_len > sl + 1 && strcmp(head + head_len - sl, expect_store) == 0 &&
                  head[head_len - sl - 1] == '.';
  if (!store_ok)
    return shoal_fail(diag, SHOAL_ESCOPE, "work-order code is for another store, not %s",
                      expect_store);
  head[head_len - sl - 1] = '\0';
  if (!shoal_id_valid(head))
    return shoal_fail(diag, SHOAL_EINPUT, "work-order code: bad ticket id");
  if (expires <= now_unix_s)
    return shoal_fail(diag, SHOAL_EEXPIRED, "work-order code for ticket %s expired", head);
  strcpy(ticket_out, head);
  *expires_out = expires;
  return SHOAL_OK;
}
