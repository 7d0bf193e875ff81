/* agent_ctx.c - opening an agent's config, profile and database. */
#include "agent_ctx.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/db.h"
#include "shoal/util.h"

extern const struct shoal_migration agent_migrations[];
extern const size_t agent_migrations_count;

void agent_log_stderr(void *user, enum shoal_log_level level, const char *msg) {
  (void)user;
  fprintf(stderr, "shoal-agent: %s: %s\n", shoal_log_level_str(level), msg);
}

shoal_err agent_meta_get(struct agent_ctx *ctx, const char *key, char *buf, size_t bufsz,
                         shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db, "SELECT value FROM meta WHERE key = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  buf[0] = '\0';
  if (s == SQLITE_ROW) {
    if (!shoal_strlcpy(buf, (const char *)sqlite3_column_text(st, 0), bufsz))
      rc = shoal_fail(diag, SHOAL_ELIMIT, "meta value %s too long", key);
  } else if (s == SQLITE_DONE) {
    rc = SHOAL_ENOTFOUND;
  } else {
    rc = shoal_db_fail(ctx->db, s, "read meta", diag);
  }
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_meta_set(struct agent_ctx *ctx, const char *key, const char *value,
                         shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO "
                                  "UPDATE SET value = excluded.value",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "write meta", diag);
  sqlite3_finalize(st);
  return rc;
}

/* Fixes the epoch on first open: a random 64-bit value that, with seq,
 * identifies every event this database ever sends. A restored or recreated
 * database gets a new epoch, so its seqs never collide with the old ones. */
static shoal_err ensure_epoch(struct agent_ctx *ctx, shoal_diag *diag) {
  shoal_err rc = agent_meta_get(ctx, "epoch", ctx->epoch, sizeof ctx->epoch, diag);
  if (rc != SHOAL_ENOTFOUND)
    return rc;
  uint64_t r = 0;
  while (r == 0)
    if (shoal_random_bytes(&r, sizeof r) != SHOAL_OK)
      return shoal_fail(diag, SHOAL_EIO, "cannot read random bytes for the epoch");
  char epoch[SHOAL_U64_TEXT_MAX];
  snprintf(epoch, sizeof epoch, "%" PRIu64, r);
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    return rc;
  /* Another process may have won the race: keep whichever was first. */
  sqlite3_stmt *st = NULL;
  rc = shoal_db_prepare(ctx->db,
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?), ('last_seq', "
                        "'0'), ('hlc', '0')",
                        &st, diag);
  if (rc == SHOAL_OK) {
    sqlite3_bind_text(st, 1, epoch, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
      rc = shoal_db_fail(ctx->db, s, "write epoch", diag);
    sqlite3_finalize(st);
  }
  if (rc == SHOAL_OK)
    rc = shoal_db_commit(ctx->db, diag);
  else
    shoal_db_rollback(ctx->db);
  if (rc != SHOAL_OK)
    return rc;
  return agent_meta_get(ctx, "epoch", ctx->epoch, sizeof ctx->epoch, diag);
}

shoal_err agent_ctx_open_config(struct agent_ctx *ctx, const char *config_path, shoal_diag *diag) {
  memset(ctx, 0, sizeof *ctx);
  ctx->log.fn = agent_log_stderr;
  ctx->log.max_level = getenv("SHOAL_DEBUG") ? SHOAL_LOG_DEBUG : SHOAL_LOG_INFO;
  shoal_err rc = shoal_agent_config_load(config_path, &ctx->cfg, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_profile_load(ctx->cfg.profile, &ctx->profile, diag);
  if (rc != SHOAL_OK)
    agent_ctx_close(ctx);
  return rc;
}

shoal_err agent_ctx_open(struct agent_ctx *ctx, const char *config_path, shoal_diag *diag) {
  shoal_err rc = agent_ctx_open_config(ctx, config_path, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_db_open(ctx->cfg.db, agent_migrations, agent_migrations_count, &ctx->db, diag);
  /* Fault injection (docs/security.md): SHOAL_DB_MAX_PAGES caps the database
   * at that many pages, so tests can fill the "disk" without a mount. */
  const char *max_pages = getenv("SHOAL_DB_MAX_PAGES");
  if (rc == SHOAL_OK && max_pages && *max_pages) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", strtoll(max_pages, NULL, 10));
    rc = shoal_db_exec(ctx->db, sql, diag);
  }
  if (rc == SHOAL_OK)
    rc = ensure_epoch(ctx, diag);
  if (rc != SHOAL_OK)
    agent_ctx_close(ctx);
  return rc;
}

void agent_ctx_close(struct agent_ctx *ctx) {
  if (!ctx)
    return;
  shoal_db_close(ctx->db);
  ctx->db = NULL;
  shoal_agent_config_cleanup(&ctx->cfg);
}
