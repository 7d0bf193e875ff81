/* hub_duties.h - singleton duties (SPEC 16): work that must run on one hub
 * at a time when several share a PostgreSQL database (the escalation
 * clock, policy republish, webhook dispatch, ...). Each duty is held through
 * a PostgreSQL session advisory lock on a connection of its own: it is
 * released when the holder dies (its connection closes) and taken by the
 * next hub that asks, within HUB_DUTY_CHECK_MS. On SQLite, one hub owns the
 * file and every duty is always held. */
#ifndef HUB_DUTIES_H
#define HUB_DUTIES_H

#include <stdbool.h>
#include <stdint.h>

#include "hub_ctx.h"
#include "store.h"

#define HUB_DUTY_CHECK_MS 1000 /* how often a hub asks for (or re-checks) a duty */

/* Lock keys: one per duty, so duties may land on different hubs. */
#define HUB_DUTY_CLOCK    0x73686f616c10LL /* timers: escalation clock, policy publish, gates */
#define HUB_DUTY_WEBHOOKS 0x73686f616c11LL /* webhook dispatch */

struct hub_duty {
  hub_store *db; /* the lock's own connection; NULL on SQLite */
  int64_t key;
  const char *name;
  bool held;
  int64_t next_check; /* mono ms */
  struct shoal_logger log;
};

/* Prepares duty name under key for the hub of ctx (opens the lock's
 * connection on PostgreSQL). Does not take it yet. */
shoal_err hub_duty_open(struct hub_ctx *ctx, int64_t key, const char *name, struct hub_duty *d,
                        shoal_diag *diag);

/* True if this hub holds the duty now: asks the database at most every
 * HUB_DUTY_CHECK_MS (in between, the last answer), logs each change. */
bool hub_duty_held(struct hub_duty *d);

/* Releases the duty (closes its connection); safe on a zeroed duty. */
void hub_duty_close(struct hub_duty *d);

#endif
