/* hub_duties.c - singleton duties held through PostgreSQL advisory locks
 * (see hub_duties.h). A lost database connection counts as not held: a hub
 * that cannot reach the database must not act alone, and the lock (gone
 * with the session) may already belong to another hub. */
#include "hub_duties.h"

#include <string.h>

#include "shoal/util.h"

shoal_err hub_duty_open(struct hub_ctx *ctx, int64_t key, const char *name, struct hub_duty *d,
                        shoal_diag *diag) {
  memset(d, 0, sizeof *d);
  d->key = key;
  d->name = name;
  d->log = ctx->log;
  if (hub_store_dialect(ctx->db) != HUB_STORE_PG) {
    d->held = true;
    return SHOAL_OK;
  }
  return hub_store_open_again(ctx->db, &d->db, diag);
}

bool hub_duty_held(struct hub_duty *d) {
  if (!d->db)
    return d->held;
  int64_t now = shoal_mono_ms();
  if (now < d->next_check)
    return d->held;
  d->next_check = now + HUB_DUTY_CHECK_MS;
  int r = hub_store_try_lock(d->db, d->key);
  bool held = r == 1;
  if (held != d->held) {
    if (held)
      shoal_log(&d->log, SHOAL_LOG_INFO, "singleton duty %s: taken by this hub", d->name);
    else
      shoal_log(&d->log, SHOAL_LOG_WARN, "singleton duty %s: %s", d->name,
                r < 0 ? "lost (database unreachable)" : "held by another hub");
  }
  d->held = held;
  return held;
}

void hub_duty_close(struct hub_duty *d) {
  if (!d)
    return;
  hub_store_close(d->db); /* the session ends: its lock is released */
  d->db = NULL;
  d->held = false;
}
