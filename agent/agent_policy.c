/* agent_policy.c - policy cache reads and writes. */
#include "agent_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/util.h"

void agent_policy_scopes(const struct agent_ctx *ctx, struct shoal_scope_chain *out) {
  /* The config loader refused a region or store that is not an id; were one
   * to slip through, its slot stays "" and matches no stored policy. */
  if (shoal_scope_chain(out, ctx->cfg.region, ctx->cfg.store, NULL) != SHOAL_OK)
    (void)shoal_scope_chain(out, NULL, NULL, NULL);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t v) {
  if (v == AGENT_POLICY_NO_TIME)
    sqlite3_bind_null(st, i);
  else
    sqlite3_bind_int64(st, i, v);
}

shoal_err agent_policy_store(struct agent_ctx *ctx, const struct agent_policy_row *row,
                             shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      ctx->db,
      "INSERT INTO policies (scope, version, issued_at, issued_ms, effective_ms, expires_ms, doc, "
      "envelope, source, received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, row->scope, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, row->version);
  sqlite3_bind_text(st, 3, row->issued_at, -1, SQLITE_STATIC);
  bind_time(st, 4, row->issued_ms);
  bind_time(st, 5, row->effective_ms);
  bind_time(st, 6, row->expires_ms);
  sqlite3_bind_text(st, 7, row->doc, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, row->envelope, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, row->source, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 10, shoal_now_ms());
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "store policy", diag);
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_policy_latest(struct agent_ctx *ctx, const char *scope, int64_t *out,
                              shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc =
      shoal_db_prepare(ctx->db, "SELECT MAX(version) FROM policies WHERE scope = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  else
    rc = shoal_db_fail(ctx->db, s, "read policy version", diag);
  sqlite3_finalize(st);
  return rc;
}

static const char *effective_sql =
    "SELECT version, doc, expires_ms FROM policies WHERE scope = ? AND "
    "(effective_ms IS NULL OR effective_ms <= ?) ORDER BY version DESC LIMIT 1";

/* The time policies take effect by: the device clock, but never earlier
 * than the newest issued_at accepted. A signed envelope proves the time is
 * at least its issued_at, so a device whose clock runs a day behind still
 * applies at once a policy HQ made effective before issuing it. */
static shoal_err effective_now(struct agent_ctx *ctx, int64_t now_ms, int64_t *out,
                               shoal_diag *diag) {
  int64_t newest = 0;
  shoal_err rc = shoal_db_query_int(ctx->db, "SELECT COALESCE(MAX(issued_ms), 0) FROM policies", 0,
                                    &newest, diag);
  if (rc == SHOAL_OK)
    *out = now_ms > newest ? now_ms : newest;
  return rc;
}

shoal_err agent_policy_effective(struct agent_ctx *ctx, int64_t now_ms, char *docs[3],
                                 int64_t versions[3], shoal_diag *diag) {
  struct shoal_scope_chain scopes;
  agent_policy_scopes(ctx, &scopes);
  sqlite3_stmt *st = NULL;
  shoal_err rc = effective_now(ctx, now_ms, &now_ms, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_db_prepare(ctx->db, effective_sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  for (int i = 0; i < 3; i++) {
    docs[i] = NULL;
    versions[i] = 0;
  }
  for (int i = 0; i < 3 && rc == SHOAL_OK; i++) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, scopes.scope[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
      versions[i] = sqlite3_column_int64(st, 0);
      docs[i] = strdup((const char *)sqlite3_column_text(st, 1));
      if (!docs[i])
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    } else if (s != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "read policy", diag);
    }
  }
  sqlite3_finalize(st);
  if (rc != SHOAL_OK)
    for (int i = 0; i < 3; i++) {
      free(docs[i]);
      docs[i] = NULL;
    }
  return rc;
}

shoal_err agent_policy_effective_versions(struct agent_ctx *ctx, int64_t now_ms,
                                          int64_t versions[3], shoal_diag *diag) {
  struct shoal_scope_chain scopes;
  agent_policy_scopes(ctx, &scopes);
  sqlite3_stmt *st = NULL;
  shoal_err rc = effective_now(ctx, now_ms, &now_ms, diag);
  if (rc == SHOAL_OK)
    rc = shoal_db_prepare(ctx->db,
                          "SELECT MAX(version) FROM policies WHERE scope = ? AND "
                          "(effective_ms IS NULL OR effective_ms <= ?)",
                          &st, diag);
  for (int i = 0; i < 3 && rc == SHOAL_OK; i++) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, scopes.scope[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
      versions[i] = sqlite3_column_int64(st, 0); /* NULL reads as 0: none */
    else
      rc = shoal_db_fail(ctx->db, s, "read policy versions", diag);
  }
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_policy_status(struct agent_ctx *ctx, int64_t now_ms, cJSON *obj, shoal_diag *diag) {
  struct shoal_scope_chain scopes;
  agent_policy_scopes(ctx, &scopes);
  cJSON *applied = cJSON_AddObjectToObject(obj, "policies");
  cJSON *pending = cJSON_AddObjectToObject(obj, "pending_policies");
  cJSON *stale = cJSON_AddArrayToObject(obj, "stale");
  if (!applied || !pending || !stale)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  sqlite3_stmt *eff = NULL, *pend = NULL;
  /* Expiry is judged against the later of the device clock and the newest
   * issued_at accepted: a clock set back cannot make a stale policy fresh. */
  int64_t expiry_now = 0;
  shoal_err rc = effective_now(ctx, now_ms, &expiry_now, diag);
  if (rc != SHOAL_OK)
    return rc;
  now_ms = expiry_now; /* the same clock for what is applied and what is pending */
  rc = shoal_db_prepare(ctx->db, effective_sql, &eff, diag);
  if (rc == SHOAL_OK)
    rc = shoal_db_prepare(ctx->db,
                          "SELECT MAX(version) FROM policies WHERE scope = ? AND effective_ms > ?",
                          &pend, diag);
  for (int i = 0; i < 3 && rc == SHOAL_OK; i++) {
    sqlite3_reset(eff);
    sqlite3_bind_text(eff, 1, scopes.scope[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(eff, 2, now_ms);
    if (sqlite3_step(eff) == SQLITE_ROW) {
      if (!cJSON_AddNumberToObject(applied, scopes.scope[i],
                                   (double)sqlite3_column_int64(eff, 0)) ||
          (sqlite3_column_type(eff, 2) != SQLITE_NULL &&
           sqlite3_column_int64(eff, 2) <= expiry_now &&
           !shoal_json_push(stale, cJSON_CreateString(scopes.scope[i]))))
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    }
    sqlite3_reset(pend);
    sqlite3_bind_text(pend, 1, scopes.scope[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(pend, 2, now_ms);
    if (sqlite3_step(pend) == SQLITE_ROW && sqlite3_column_type(pend, 0) != SQLITE_NULL &&
        !cJSON_AddNumberToObject(pending, scopes.scope[i], (double)sqlite3_column_int64(pend, 0)))
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  sqlite3_finalize(eff);
  sqlite3_finalize(pend);
  return rc;
}
