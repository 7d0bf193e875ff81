/* hub_ctx.h - what every hub command opens first: the config and the hub's
 * SQLite database (created and migrated on first use). */
#ifndef HUB_CTX_H
#define HUB_CTX_H

#include <sqlite3.h>

#include "config.h"
#include "err.h"
#include "log.h"

struct hub_ctx {
  struct shoal_hub_config cfg;
  sqlite3 *db;
  struct shoal_logger log;
};

/* Loads config_path and opens the database. On failure ctx is closed. */
shoal_err hub_ctx_open(struct hub_ctx *ctx, const char *config_path, shoal_diag *diag);

/* Closes everything; safe on a zeroed or half-opened ctx. */
void hub_ctx_close(struct hub_ctx *ctx);

/* The stderr logger: "shoal-hub: <level>: msg". */
void hub_log_stderr(void *user, enum shoal_log_level level, const char *msg);

#endif
