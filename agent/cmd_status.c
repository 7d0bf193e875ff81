/* cmd_status.c - `shoal-agent status -c CONFIG`: the device's identity,
 * policies in effect, outbox depth and sync state, read from the database
 * (works whether or not the daemon runs). */
#include <stdio.h>
#include <stdlib.h>

#include "agent_cli.h"
#include "agent_ctx.h"
#include "agent_status.h"
#include "shoal/cli.h"
#include "shoal/util.h"

static const struct shoal_argspec status_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
};
#define NOPTS ((int)(sizeof status_opts / sizeof status_opts[0]))

int agent_cmd_status(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct agent_ctx ctx = {0};
  cJSON *out = NULL;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, status_opts, NOPTS, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "status", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(
        stdout, AGENT_PROG " status -c CONFIG",
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
    return shoal_cli_usage_error(AGENT_PROG, "status", "unexpected argument \"%s\"",
                                 args.positional[0]);
  if ((rc = agent_ctx_open(&ctx, config, &diag)) != SHOAL_OK)
    goto fail;

  if ((rc = agent_status_get(&ctx, shoal_now_ms(), &out, &diag)) != SHOAL_OK)
    goto fail;
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  agent_ctx_close(&ctx);
  return exit_code;
}
