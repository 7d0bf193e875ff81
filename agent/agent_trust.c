/* agent_trust.c - trusted policy keys: the config's, until a signed trust
 * update replaces them. The stored list lives in meta ('trust_version',
 * 'trust_keys' = JSON array of PEM texts, 'trust_update' = the update as
 * signed), written in one transaction so a crash never leaves a version
 * without its keys. */
#include "agent_trust.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/trust.h"
#include "shoal/util.h"

#define META_KEYS_MAX (SHOAL_TRUST_KEYS_MAX * (SHOAL_TRUST_KEY_PEM_MAX + 16) + 64)

static shoal_err load_stored(struct agent_ctx *ctx, struct agent_trust *out, bool *found,
                             shoal_diag *diag) {
  char ver[32];
  *found = false;
  shoal_err rc = agent_meta_get(ctx, "trust_version", ver, sizeof ver, diag);
  if (rc == SHOAL_ENOTFOUND)
    return SHOAL_OK;
  if (rc != SHOAL_OK)
    return rc;
  char *text = malloc(META_KEYS_MAX);
  cJSON *arr = NULL;
  if (!text)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if ((rc = agent_meta_get(ctx, "trust_keys", text, META_KEYS_MAX, diag)) != SHOAL_OK ||
      (rc = shoal_json_parse(text, strlen(text), &arr, diag)) != SHOAL_OK)
    goto cleanup;
  const cJSON *k;
  cJSON_ArrayForEach(k, arr) {
    if (out->n >= SHOAL_TRUST_KEYS_MAX || !cJSON_IsString(k)) {
      rc = shoal_fail(diag, SHOAL_EDB, "stored trust keys are damaged");
      goto cleanup;
    }
    if ((rc = shoal_pubkey_parse(k->valuestring, strlen(k->valuestring), &out->keys[out->n],
                                 diag)) != SHOAL_OK)
      goto cleanup;
    out->n++;
  }
  out->version = strtoll(ver, NULL, 10);
  *found = out->n > 0;
cleanup:
  free(text);
  cJSON_Delete(arr);
  return rc;
}

shoal_err agent_trust_load(struct agent_ctx *ctx, struct agent_trust *out, shoal_diag *diag) {
  memset(out, 0, sizeof *out);
  if (ctx->db) {
    bool found = false;
    shoal_err rc = load_stored(ctx, out, &found, diag);
    if (rc != SHOAL_OK) {
      agent_trust_cleanup(out);
      return rc;
    }
    if (found)
      return SHOAL_OK;
    agent_trust_cleanup(out);
  }
  const char *paths[] = {ctx->cfg.trust_policy_pub, ctx->cfg.trust_policy_pub_next};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    if (!paths[i])
      continue;
    shoal_err rc = shoal_pubkey_load(paths[i], &out->keys[out->n], diag);
    if (rc != SHOAL_OK) {
      agent_trust_cleanup(out);
      return rc;
    }
    out->n++;
  }
  if (out->n == 0)
    return shoal_fail(diag, SHOAL_ECONFIG,
                      "%s: no trusted key: set \"trust\": {\"policy_pub\": \"policy-pub.pem\"}",
                      ctx->cfg.path);
  return SHOAL_OK;
}

static void record_refusal(struct agent_ctx *ctx, const char *why) {
  sqlite3_stmt *st = NULL;
  shoal_diag ignore;
  if (shoal_db_prepare(ctx->db,
                       "INSERT INTO policy_rejections (at_ms, scope, version, reason) "
                       "VALUES (?, 'trust', NULL, ?)",
                       &st, &ignore) != SHOAL_OK)
    return;
  sqlite3_bind_int64(st, 1, shoal_now_ms());
  sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
  (void)sqlite3_step(st);
  sqlite3_finalize(st);
}

shoal_err agent_trust_on_update(struct agent_ctx *ctx, struct agent_trust *trust,
                                const void *payload, size_t len, bool *changed, shoal_diag *diag) {
  struct shoal_trust_update u;
  memset(&u, 0, sizeof u);
  cJSON *arr = NULL;
  char *keys_text = NULL;
  struct agent_trust fresh;
  memset(&fresh, 0, sizeof fresh);
  *changed = false;
  if (len == 0)
    return SHOAL_OK; /* a cleared retained message */
  bool ch = false;
  shoal_err rc = shoal_trust_chain_apply(payload, len, trust->version,
                                         (const struct shoal_pubkey *const *)trust->keys, trust->n,
                                         &u, &ch, diag);
  if (rc != SHOAL_OK) {
    record_refusal(ctx, diag->msg);
    return rc;
  }
  if (!ch)
    return SHOAL_OK;
  char ver[32];
  snprintf(ver, sizeof ver, "%" PRId64, u.version);
  if (!(arr = cJSON_CreateArray())) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  for (size_t i = 0; i < u.nkeys; i++)
    if (!shoal_json_push(arr, cJSON_CreateString(u.keys[i]))) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  if (!(keys_text = shoal_json_print(arr))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = agent_meta_set(ctx, "trust_version", ver, diag)) != SHOAL_OK ||
      (rc = agent_meta_set(ctx, "trust_keys", keys_text, diag)) != SHOAL_OK ||
      (rc = agent_meta_set(ctx, "trust_issued_at", u.issued_at, diag)) != SHOAL_OK) {
    shoal_db_rollback(ctx->db);
    goto cleanup;
  }
  if ((rc = shoal_db_commit(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = agent_trust_load(ctx, &fresh, diag)) != SHOAL_OK)
    goto cleanup;
  agent_trust_cleanup(trust);
  *trust = fresh;
  *changed = true;
  snprintf(diag->msg, sizeof diag->msg, "trust update v%s accepted: %zu trusted key%s", ver,
           u.nkeys, u.nkeys == 1 ? "" : "s");
cleanup:
  shoal_trust_update_cleanup(&u);
  cJSON_Delete(arr);
  free(keys_text);
  return rc;
}

void agent_trust_cleanup(struct agent_trust *t) {
  for (size_t i = 0; i < t->n; i++)
    shoal_pubkey_free(t->keys[i]);
  memset(t, 0, sizeof *t);
}
