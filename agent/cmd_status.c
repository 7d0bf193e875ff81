/* cmd_status.c - `shoal-agent status -c CONFIG`: the device's identity,
 * policies in effect, outbox depth and sync state, read from the database
 * (works whether or not the daemon runs). */
#include <stdio.h>
#include <stdlib.h>

#include "agent_cli.h"
#include "agent_ctx.h"
#include "agent_outbox.h"
#include "agent_policy.h"
#include "cli.h"
#include "db.h"
#include "timeutil.h"
#include "util.h"

static const struct shoal_argspec status_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
};
#define NOPTS ((int)(sizeof status_opts / sizeof status_opts[0]))

int agent_cmd_status(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct agent_ctx ctx = {0};
  cJSON *out = NULL;
  sqlite3_stmt *st = NULL;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, status_opts, NOPTS, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "status", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, AGENT_PROG " status -c CONFIG",
                     "Prints the device's state as JSON: device, store, region, profile,\n"
                     "policies (scope -> version in effect), pending_policies (stored, effective\n"
                     "later), stale (applied but expired), outbox_pending, connected (a live daemon\n"
                     "holds a broker session), last_ack, last_connect, acked_upto, rejected_policies.",
                     status_opts, NOPTS);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  if (!config)
    return shoal_cli_usage_error(AGENT_PROG, "status", "missing -c CONFIG");
  if (args.npositional)
    return shoal_cli_usage_error(AGENT_PROG, "status", "unexpected argument \"%s\"", args.positional[0]);
  if ((rc = agent_ctx_open(&ctx, config, &diag)) != SHOAL_OK)
    goto fail;

  int64_t now = shoal_now_ms(), pending = 0, rejected = 0;
  out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "device", ctx.cfg.device);
  cJSON_AddStringToObject(out, "store", ctx.cfg.store);
  cJSON_AddStringToObject(out, "region", ctx.cfg.region);
  cJSON_AddStringToObject(out, "profile", ctx.profile.name);
  cJSON_AddStringToObject(out, "epoch", ctx.epoch);
  if ((rc = agent_policy_status(&ctx, now, out, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = agent_outbox_pending(&ctx, &pending, &diag)) != SHOAL_OK)
    goto fail;
  cJSON_AddNumberToObject(out, "outbox_pending", (double)pending);
  if ((rc = shoal_db_query_int(ctx.db, "SELECT COUNT(*) FROM policy_rejections", 0, &rejected,
                               &diag)) != SHOAL_OK)
    goto fail;
  cJSON_AddNumberToObject(out, "rejected_policies", (double)rejected);
  if ((rc = shoal_db_prepare(ctx.db,
                             "SELECT connected, updated_ms, last_ack_ms, acked_upto, daemon_pid, last_connect_ms "
                             "FROM sync_state WHERE id = 1",
                             &st, &diag)) != SHOAL_OK)
    goto fail;
  if (sqlite3_step(st) == SQLITE_ROW) {
    /* "connected" is what the daemon last wrote, but only while it lives:
     * a daemon killed with -9 cannot clear its flag. */
    bool connected = sqlite3_column_int(st, 0) != 0;
    if (connected && sqlite3_column_type(st, 4) != SQLITE_NULL) {
      char proc[64];
      snprintf(proc, sizeof proc, "/proc/%lld", (long long)sqlite3_column_int64(st, 4));
      FILE *f = fopen(proc, "r");
      if (!f)
        connected = false;
      else
        fclose(f);
    }
    cJSON_AddBoolToObject(out, "connected", connected);
    shoal_db_json_add_time(out, "last_ack", st, 2);
    shoal_db_json_add_time(out, "last_connect", st, 5);
    cJSON_AddNumberToObject(out, "acked_upto", (double)sqlite3_column_int64(st, 3));
  } else {
    cJSON_AddBoolToObject(out, "connected", false);
  }
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  sqlite3_finalize(st);
  cJSON_Delete(out);
  agent_ctx_close(&ctx);
  return exit_code;
}
