/* agent_sync.c - policy acceptance, ack application, outbox batches and the
 * hello event. Each decision that changes state runs in one transaction so a
 * crash leaves either the old state or the new one, never half of each. */
#include "agent_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_outbox.h"
#include "agent_policy.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/profile.h"
#include "shoal/signing.h"
#include "shoal/util.h"
#include "shoal/wire_payloads.h"

/* Policy sections per module (SPEC 9: keep only what the modules use).
 * Sales price baskets, so they need the pricing sections too; tickets use
 * items for part prices. */
static const struct {
  unsigned modules;
  const char *key;
} sections[] = {
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES, "currency"},
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES | SHOAL_MOD_TICKETS, "items"},
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES, "rules"},
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES, "disable"},
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES, "round"},
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES, "payments"}, /* SPEC 12 */
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES, "loyalty"},  /* SPEC 13 */
    {SHOAL_MOD_PRICING | SHOAL_MOD_SALES | SHOAL_MOD_FORMS | SHOAL_MOD_TICKETS, "utc_offset"},
    {SHOAL_MOD_FORMS, "forms"},
    {SHOAL_MOD_TICKETS, "routing"},
    {SHOAL_MOD_TICKETS, "sla"},
    {SHOAL_MOD_TICKETS, "escalation"},
    {SHOAL_MOD_TICKETS, "rates"},
};

shoal_err agent_sync_strip_doc(const char *doc, unsigned modules, char **out, shoal_diag *diag) {
  cJSON *in = NULL, *kept = NULL;
  shoal_err rc = shoal_json_parse(doc, strlen(doc), &in, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (!cJSON_IsObject(in)) {
    rc = shoal_fail(diag, SHOAL_EJSON, "policy document is not a JSON object");
    goto cleanup;
  }
  kept = cJSON_CreateObject();
  if (!kept) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  /* Detach and move rather than duplicate: documents may be megabytes. */
  bool ok = true;
  cJSON *scope = cJSON_DetachItemFromObjectCaseSensitive(in, "scope");
  if (scope)
    ok &= shoal_json_put(kept, "scope", scope);
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
    if (!(modules & sections[i].modules))
      continue;
    cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(in, sections[i].key);
    if (item)
      ok &= shoal_json_put(kept, sections[i].key, item);
  }
  if (!ok) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  char *text = shoal_json_print(kept);
  if (!text) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *out = text;
cleanup:
  cJSON_Delete(in);
  cJSON_Delete(kept);
  return rc;
}

shoal_err agent_sync_newest_issued(struct agent_ctx *ctx, int64_t *out, shoal_diag *diag) {
  return shoal_db_query_int(ctx->db, "SELECT COALESCE(MAX(issued_ms), 0) FROM policies", 0, out,
                            diag);
}

/* Records a refused envelope; its own statement (autocommit or the
 * caller's transaction). */
static shoal_err record_rejection(struct agent_ctx *ctx, const char *scope, int64_t version,
                                  const char *reason, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      ctx->db, "INSERT INTO policy_rejections (at_ms, scope, version, reason) VALUES (?, ?, ?, ?)",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, shoal_now_ms());
  sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
  if (version > 0)
    sqlite3_bind_int64(st, 3, version);
  else
    sqlite3_bind_null(st, 3);
  sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "record policy rejection", diag);
  sqlite3_finalize(st);
  return rc;
}

/* The envelope's scope must be the topic's and the document's own. */
static shoal_err check_scopes(const struct shoal_policy_envelope *env, const char *topic_scope,
                              shoal_diag *why) {
  if (topic_scope && strcmp(topic_scope, env->scope) != 0)
    return shoal_fail(why, SHOAL_ESCOPE, "policy %s v%" PRId64 " arrived on the topic of %s",
                      env->scope, env->version, topic_scope);
  cJSON *doc = NULL;
  shoal_diag ignored = {{0}};
  if (shoal_json_parse(env->doc, strlen(env->doc), &doc, &ignored) != SHOAL_OK)
    return shoal_fail(why, SHOAL_EINPUT, "policy %s v%" PRId64 ": document is not JSON", env->scope,
                      env->version);
  const cJSON *scope = cJSON_GetObjectItemCaseSensitive(doc, "scope");
  shoal_err rc = SHOAL_OK;
  if (!cJSON_IsString(scope) || strcmp(scope->valuestring, env->scope) != 0)
    rc =
        shoal_fail(why, SHOAL_ESCOPE, "policy %s v%" PRId64 ": its document is for scope %s",
                   env->scope, env->version, cJSON_IsString(scope) ? scope->valuestring : "(none)");
  cJSON_Delete(doc);
  return rc;
}

shoal_err agent_sync_on_policy(struct agent_ctx *ctx, const struct agent_trust *trust,
                               const char *topic_scope, const void *payload, size_t len,
                               enum agent_policy_outcome *outcome, shoal_diag *diag) {
  struct shoal_policy_envelope env = {0};
  shoal_diag why = {{0}};
  char *stripped = NULL, *text = NULL;
  bool in_tx = false;
  shoal_err rc = SHOAL_OK;

  if (len == 0) {
    *outcome = AGENT_POLICY_EMPTY;
    return SHOAL_OK;
  }
  /* Verification refuses an oversized envelope before parsing it. */
  shoal_err vrc = shoal_policy_envelope_verify(
      payload, len, (const struct shoal_pubkey *const *)trust->keys, trust->n, &env, &why);
  if (vrc != SHOAL_OK) {
    if ((rc = record_rejection(ctx, topic_scope, 0, why.msg, diag)) != SHOAL_OK)
      goto cleanup;
    *diag = why;
    *outcome = AGENT_POLICY_REJECTED;
    goto cleanup;
  }
  /* A staged rollout (docs/protocol.md): a device whose store the stage
   * does not target takes the stable document under the same version, so
   * versions only ever grow and an abort is just a newer version. */
  bool outside_stage = env.has_rollout && !shoal_rollout_targets(&env.rollout, ctx->cfg.store);
  if (outside_stage) {
    free(env.doc);
    env.doc = env.rollout.stable_doc;
    env.rollout.stable_doc = NULL;
  }
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  int64_t held = 0, newest = 0;
  if ((rc = agent_policy_latest(ctx, env.scope, &held, diag)) != SHOAL_OK ||
      (rc = agent_sync_newest_issued(ctx, &newest, diag)) != SHOAL_OK)
    goto cleanup;
  enum shoal_policy_verdict verdict;
  shoal_err crc = shoal_policy_envelope_check(&env, ctx->cfg.region, ctx->cfg.store, held,
                                              shoal_now_ms(), newest, &verdict, &why);
  /* A validly signed envelope replayed on another scope's topic, or whose
   * document names another scope, would apply one scope's prices under
   * another: refuse both. */
  if (crc == SHOAL_OK)
    crc = check_scopes(&env, topic_scope, &why);
  if (crc == SHOAL_OK && verdict == SHOAL_POLICY_ACCEPT) {
    crc = agent_sync_strip_doc(env.doc, ctx->profile.modules, &stripped, &why);
    if (crc != SHOAL_OK)
      snprintf(why.msg, sizeof why.msg, "policy %s v%" PRId64 ": document is not a JSON object",
               env.scope, env.version);
  }
  if (crc != SHOAL_OK) {
    if ((rc = record_rejection(ctx, env.scope, env.version, why.msg, diag)) != SHOAL_OK)
      goto cleanup;
    *diag = why;
    *outcome = AGENT_POLICY_REJECTED;
  } else if (verdict == SHOAL_POLICY_SAME) {
    *outcome = AGENT_POLICY_SAME;
  } else {
    text = malloc(len + 1);
    if (!text) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    memcpy(text, payload, len);
    text[len] = '\0';
    struct agent_policy_row row = {
        .scope = env.scope,
        .version = env.version,
        .issued_at = env.issued_at,
        .issued_ms = env.issued_ms,
        .effective_ms = env.effective_ms == SHOAL_NO_TIME ? AGENT_POLICY_NO_TIME : env.effective_ms,
        .expires_ms = env.expires_ms == SHOAL_NO_TIME ? AGENT_POLICY_NO_TIME : env.expires_ms,
        .doc = stripped,
        .envelope = text,
        .source = "hub",
    };
    if ((rc = agent_policy_store(ctx, &row, diag)) != SHOAL_OK)
      goto cleanup;
    snprintf(diag->msg, sizeof diag->msg, "policy %s v%" PRId64 " accepted%s%s%s%s", env.scope,
             env.version, env.effective_ms != SHOAL_NO_TIME ? ", effective at " : "",
             env.effective_at,
             env.has_rollout ? (outside_stage ? " (rollout " : " (rollout stage, ") : "",
             env.has_rollout ? (outside_stage ? "stable document)" : "new document)") : "");
    *outcome = AGENT_POLICY_ACCEPTED;
  }
  rc = shoal_db_commit(ctx->db, diag);
  in_tx = false;
cleanup:
  if (in_tx)
    shoal_db_rollback(ctx->db);
  free(text);
  free(stripped);
  shoal_policy_envelope_cleanup(&env);
  return rc;
}

shoal_err agent_sync_acked(struct agent_ctx *ctx, int64_t *out, shoal_diag *diag) {
  return shoal_db_query_int(ctx->db, "SELECT acked_upto FROM sync_state WHERE id = 1", 0, out,
                            diag);
}

shoal_err agent_sync_parse_ack(struct agent_ctx *ctx, const void *payload, size_t len, bool *ours,
                               int64_t *upto_out, shoal_diag *diag) {
  uint64_t epoch = 0;
  int64_t upto = 0;
  shoal_err rc = shoal_ack_decode(payload, len, &epoch, &upto, diag);
  if (rc != SHOAL_OK)
    return rc;
  /* An ack for another epoch belongs to an older database of this device. */
  *ours = epoch == strtoull(ctx->epoch, NULL, 10);
  *upto_out = upto;
  return SHOAL_OK;
}

shoal_err agent_sync_apply_ack(struct agent_ctx *ctx, int64_t upto, int64_t *acked_upto,
                               bool *advanced, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  bool in_tx = false;
  shoal_err rc;
  *advanced = false;
  /* Deleting acknowledged rows need not reach the disk before we go on: if
   * a power cut undoes it, the rows are resent and the hub dedupes them.
   * Skipping the fsync here keeps a draining backlog from paying one per
   * ack. Appends (new seqs) stay fully synchronous. */
  if ((rc = shoal_db_exec(ctx->db, "PRAGMA synchronous=NORMAL", diag)) != SHOAL_OK)
    return rc;
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  int64_t last_seq = 0, known = 0;
  if ((rc = shoal_db_query_int(ctx->db,
                               "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_seq'", 0,
                               &last_seq, diag)) != SHOAL_OK ||
      (rc = agent_sync_acked(ctx, &known, diag)) != SHOAL_OK)
    goto cleanup;
  if (upto > last_seq)
    upto = last_seq; /* never claim more than was issued: pending = last_seq - acked */
  if (upto > known) {
    if ((rc = shoal_db_prepare(ctx->db, "DELETE FROM outbox WHERE seq <= ?", &st, diag)) !=
        SHOAL_OK)
      goto cleanup;
    sqlite3_bind_int64(st, 1, upto);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (s != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "delete acknowledged events", diag);
      goto cleanup;
    }
    known = upto;
    *advanced = true;
  }
  if ((rc =
           shoal_db_prepare(ctx->db,
                            "UPDATE sync_state SET acked_upto = ?, last_ack_ms = ?, updated_ms = ? "
                            "WHERE id = 1",
                            &st, diag)) != SHOAL_OK)
    goto cleanup;
  int64_t now = shoal_now_ms();
  sqlite3_bind_int64(st, 1, known);
  sqlite3_bind_int64(st, 2, now);
  sqlite3_bind_int64(st, 3, now);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE) {
    rc = shoal_db_fail(ctx->db, s, "record ack", diag);
    goto cleanup;
  }
  if ((rc = shoal_db_commit(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  *acked_upto = known;
cleanup:
  if (in_tx) {
    shoal_db_rollback(ctx->db);
    *advanced = false;
  }
  sqlite3_finalize(st);
  shoal_diag ignored = {{0}};
  (void)shoal_db_exec(ctx->db, "PRAGMA synchronous=FULL", &ignored);
  return rc;
}

shoal_err agent_sync_on_ack(struct agent_ctx *ctx, const void *payload, size_t len,
                            int64_t *acked_upto, bool *advanced, shoal_diag *diag) {
  bool ours = false;
  int64_t upto = 0;
  *advanced = false;
  shoal_err rc = agent_sync_parse_ack(ctx, payload, len, &ours, &upto, diag);
  if (rc != SHOAL_OK || !ours)
    return rc;
  return agent_sync_apply_ack(ctx, upto, acked_upto, advanced, diag);
}

void agent_sync_batch_clear(struct agent_sync_batch *b) {
  for (size_t i = 0; i < b->n; i++)
    free(b->envelope[i]);
  b->n = 0;
}

shoal_err agent_sync_fetch(struct agent_ctx *ctx, int64_t after_seq, int limit,
                           struct agent_sync_batch *b, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  b->n = 0;
  if (limit < 1 || limit > SHOAL_OUTBOX_BATCH_MAX)
    limit = SHOAL_OUTBOX_BATCH_MAX;
  shoal_err rc = shoal_db_prepare(
      ctx->db, "SELECT seq, envelope FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, after_seq);
  sqlite3_bind_int(st, 2, limit);
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    char *env = shoal_strdup((const char *)sqlite3_column_text(st, 1));
    if (!env) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      break;
    }
    b->seq[b->n] = sqlite3_column_int64(st, 0);
    b->envelope[b->n++] = env;
  }
  if (rc == SHOAL_OK && s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "read outbox", diag);
  sqlite3_finalize(st);
  if (rc != SHOAL_OK)
    agent_sync_batch_clear(b);
  return rc;
}

shoal_err agent_sync_set_state(struct agent_ctx *ctx, bool connected, long pid, bool connect_now,
                               shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc =
      shoal_db_prepare(ctx->db,
                       "UPDATE sync_state SET connected = ?, daemon_pid = ?, updated_ms = ?, "
                       "last_connect_ms = CASE WHEN ? THEN ? ELSE last_connect_ms END WHERE id = 1",
                       &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  int64_t now = shoal_now_ms();
  sqlite3_bind_int(st, 1, connected ? 1 : 0);
  if (pid > 0)
    sqlite3_bind_int64(st, 2, pid);
  else
    sqlite3_bind_null(st, 2);
  sqlite3_bind_int64(st, 3, now);
  sqlite3_bind_int(st, 4, connect_now ? 1 : 0);
  sqlite3_bind_int64(st, 5, now);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "write sync state", diag);
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_sync_hello(struct agent_ctx *ctx, shoal_diag *diag) {
  cJSON *status = cJSON_CreateObject(), *body = NULL;
  bool in_tx = false;
  shoal_err rc = SHOAL_OK;
  if (!status)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  /* policies / pending_policies / stale, exactly as status reports them. */
  if ((rc = agent_policy_status(ctx, shoal_now_ms(), status, diag)) != SHOAL_OK)
    goto cleanup;
  int64_t pending = 0;
  if ((rc = agent_outbox_pending(ctx, &pending, diag)) != SHOAL_OK)
    goto cleanup;
  /* What the hub has acknowledged to this device: a hub restored from an
   * older backup sees that it is behind (docs/troubleshooting.md). */
  int64_t acked = 0;
  if ((rc = agent_sync_acked(ctx, &acked, diag)) != SHOAL_OK)
    goto cleanup;
  /* SPEC 15: serves lists the stores whose tickets this device writes (the
   * hub trusts the list only for devices it did not provision). */
  const struct shoal_hello h = {
      .profile = ctx->profile.name,
      .region = ctx->cfg.region,
      .agent_version = SHOAL_VERSION,
      .modules = ctx->profile.modules,
      .serves = (const char *const *)ctx->cfg.serves,
      .nserves = ctx->cfg.nserves,
      .status = status,
      .outbox_pending = pending,
      .acked = acked,
  };
  if ((rc = shoal_hello_encode(&h, &body, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = agent_outbox_append(ctx, "hello", body, NULL, NULL, diag)) != SHOAL_OK)
    goto cleanup;
  rc = shoal_db_commit(ctx->db, diag);
  in_tx = false;
cleanup:
  if (in_tx)
    shoal_db_rollback(ctx->db);
  cJSON_Delete(status);
  cJSON_Delete(body);
  return rc;
}
