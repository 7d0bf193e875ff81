/* agent_status.c - the device's state as JSON (agent_status.h), read from
 * the database: works whether or not the daemon runs. */
#include "agent_status.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent_outbox.h"
#include "agent_policy.h"
#include "shoal/db.h"

/* "connected" is what the daemon last wrote, but only while it lives: a
 * daemon killed with -9 cannot clear its flag. */
static bool daemon_alive(sqlite3_stmt *st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL)
    return true;
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/%lld", (long long)sqlite3_column_int64(st, col));
  FILE *f = fopen(proc, "r");
  if (!f)
    return false;
  fclose(f);
  return true;
}

shoal_err agent_status_sync(struct agent_ctx *ctx, bool *connected, int64_t *outbox_pending,
                            shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = agent_outbox_pending(ctx, outbox_pending, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = shoal_db_prepare(ctx->db, "SELECT connected, daemon_pid FROM sync_state WHERE id = 1",
                             &st, diag)) != SHOAL_OK)
    return rc;
  *connected = false;
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW)
    *connected = sqlite3_column_int(st, 0) != 0 && daemon_alive(st, 1);
  else if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "read sync state", diag);
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_status_get(struct agent_ctx *ctx, int64_t now_ms, cJSON **out, shoal_diag *diag) {
  int64_t pending = 0, rejected = 0;
  sqlite3_stmt *st = NULL;
  cJSON *o = cJSON_CreateObject();
  shoal_err rc = SHOAL_OK;
  if (!o || !cJSON_AddStringToObject(o, "device", ctx->cfg.device) ||
      !cJSON_AddStringToObject(o, "store", ctx->cfg.store) ||
      !cJSON_AddStringToObject(o, "region", ctx->cfg.region) ||
      !cJSON_AddStringToObject(o, "profile", ctx->profile.name) ||
      !cJSON_AddStringToObject(o, "epoch", ctx->epoch)) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = agent_policy_status(ctx, now_ms, o, diag)) != SHOAL_OK ||
      (rc = agent_outbox_pending(ctx, &pending, diag)) != SHOAL_OK ||
      (rc = shoal_db_query_int(ctx->db, "SELECT COUNT(*) FROM policy_rejections", 0, &rejected,
                               diag)) != SHOAL_OK)
    goto cleanup;
  if (!cJSON_AddNumberToObject(o, "outbox_pending", (double)pending) ||
      !cJSON_AddNumberToObject(o, "rejected_policies", (double)rejected)) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = shoal_db_prepare(ctx->db,
                             "SELECT connected, updated_ms, last_ack_ms, acked_upto, daemon_pid, "
                             "last_connect_ms FROM sync_state WHERE id = 1",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  bool ok;
  if (sqlite3_step(st) == SQLITE_ROW) {
    ok = cJSON_AddBoolToObject(o, "connected",
                               sqlite3_column_int(st, 0) != 0 && daemon_alive(st, 4)) != NULL;
    ok &= shoal_db_json_add_time(o, "last_ack", st, 2);
    ok &= shoal_db_json_add_time(o, "last_connect", st, 5);
    ok &= cJSON_AddNumberToObject(o, "acked_upto", (double)sqlite3_column_int64(st, 3)) != NULL;
  } else {
    ok = cJSON_AddBoolToObject(o, "connected", false) != NULL;
  }
  if (!ok)
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
cleanup:
  sqlite3_finalize(st);
  if (rc != SHOAL_OK)
    cJSON_Delete(o);
  else
    *out = o;
  return rc;
}
