/* hub_ctx.c - opening the hub's config and database. */
#include "hub_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

void hub_log_stderr(void *user, enum shoal_log_level level, const char *msg) {
  (void)user;
  fprintf(stderr, "shoal-hub: %s: %s\n", shoal_log_level_str(level), msg);
}

shoal_err hub_ctx_open(struct hub_ctx *ctx, const char *config_path, shoal_diag *diag) {
  memset(ctx, 0, sizeof *ctx);
  ctx->log.fn = hub_log_stderr;
  ctx->log.max_level = getenv("SHOAL_DEBUG") ? SHOAL_LOG_DEBUG : SHOAL_LOG_INFO;
  shoal_err rc = shoal_hub_config_load(config_path, &ctx->cfg, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = hub_store_open(ctx->cfg.db, &ctx->db, diag);
  if (rc != SHOAL_OK)
    hub_ctx_close(ctx);
  return rc;
}

void hub_ctx_close(struct hub_ctx *ctx) {
  if (!ctx)
    return;
  hub_store_close(ctx->db);
  ctx->db = NULL;
  shoal_hub_config_cleanup(&ctx->cfg);
}
