/* hub_ctx.h - what every hub command opens first: the config and the hub's
 * SQLite database (created and migrated on first use). */
#ifndef HUB_CTX_H
#define HUB_CTX_H

#include "store.h"

#include "shoal/config.h"
#include "shoal/err.h"
#include "shoal/log.h"

#include <stdbool.h>
#include <stddef.h>

/* Publishes one MQTT message (QoS 1) from inside the hub process; set by
 * `shoal-hub run` (NULL elsewhere: modules then skip publishing). Only call
 * it after your transaction committed. */
typedef shoal_err (*hub_publish_fn)(void *user, const char *topic, const char *payload, size_t len,
                                    bool retain, shoal_diag *diag);

struct hub_ctx {
  struct shoal_hub_config cfg;
  hub_store *db;
  struct shoal_logger log;
  hub_publish_fn publish; /* may be NULL */
  void *publish_user;
};

/* Loads config_path and opens the database. On failure ctx is closed. */
shoal_err hub_ctx_open(struct hub_ctx *ctx, const char *config_path, shoal_diag *diag);

/* Closes everything; safe on a zeroed or half-opened ctx. */
void hub_ctx_close(struct hub_ctx *ctx);

/* The stderr logger: "shoal-hub: <level>: msg". */
void hub_log_stderr(void *user, enum shoal_log_level level, const char *msg);

#endif
