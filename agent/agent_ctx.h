/* agent_ctx.h - what every agent command opens first: the config, the
 * device's firmware profile and the SQLite cache. Opening creates the
 * database on first use and fixes the device's random 64-bit epoch. */
#ifndef AGENT_CTX_H
#define AGENT_CTX_H

#include <sqlite3.h>

#include "shoal/config.h"
#include "shoal/err.h"
#include "shoal/log.h"
#include "shoal/profile.h"

struct agent_ctx {
  struct shoal_agent_config cfg;
  struct shoal_profile profile;
  sqlite3 *db;
  struct shoal_logger log;
  char epoch[24]; /* decimal string, fixed when the database was created */
};

/* Loads config_path and its profile, opens (and migrates) the database.
 * On failure ctx is left closed and diag names the problem. */
shoal_err agent_ctx_open(struct agent_ctx *ctx, const char *config_path, shoal_diag *diag);

/* Loads only the config and profile (no database): for commands that must
 * work without touching storage. */
shoal_err agent_ctx_open_config(struct agent_ctx *ctx, const char *config_path, shoal_diag *diag);

/* Closes everything ctx holds; safe on a zeroed or half-opened ctx. */
void agent_ctx_close(struct agent_ctx *ctx);

/* Reads a meta value into buf (""/SHOAL_ENOTFOUND when absent). */
shoal_err agent_meta_get(struct agent_ctx *ctx, const char *key, char *buf, size_t bufsz,
                         shoal_diag *diag);
/* Sets a meta value (inside or outside a transaction). */
shoal_err agent_meta_set(struct agent_ctx *ctx, const char *key, const char *value,
                         shoal_diag *diag);

/* The stderr logger commands use: "shoal-agent: <level>: msg". */
void agent_log_stderr(void *user, enum shoal_log_level level, const char *msg);

#endif
