/* cmd_report.c - `shoal-hub report sales -c CONFIG`: one object per device
 * that has sales or returns at the hub (store, device, count, total,
 * returns, net), from the tables ingest fills exactly once per event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd_report.h"
#include "hub_cli.h"
#include "hub_ctx.h"
#include "hub_reports.h"
#include "shoal/cli.h"
#include "store.h"

static const struct shoal_argspec report_opts[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file (required)"},
};
#define NOPTS ((int)(sizeof report_opts / sizeof report_opts[0]))

/* One object per device over all time: the device grouping of the sales
 * report (store, device, region, count, total, returns, net). */
static shoal_err report_sales(struct hub_ctx *ctx, cJSON **out, shoal_diag *diag) {
  return hub_reports_sales(ctx->db, "device", HUB_PERIOD_ALL_FROM, HUB_PERIOD_ALL_TO, out, diag);
}

int hub_cmd_report(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct hub_ctx ctx = {0};
  cJSON *out = NULL;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, report_opts, NOPTS, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "report", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, HUB_PROG " report sales -c CONFIG",
                     "Reports from the hub database as JSON.\n"
                     "  sales   one object per device with sales or returns: store, device,\n"
                     "          region, count, total, returns (refunds) and net (total -\n"
                     "          returns), minor units, each event counted once.",
                     report_opts, NOPTS);
    return 0;
  }
  if (args.npositional != 1)
    return shoal_cli_usage_error(HUB_PROG, "report",
                                 args.npositional ? "one report at a time"
                                                  : "missing report name (sales)");
  if (strcmp(args.positional[0], "sales") != 0)
    return shoal_cli_usage_error(HUB_PROG, "report", "unknown report \"%s\" (sales)",
                                 args.positional[0]);
  const char *config = shoal_args_get(&args, "config");
  if (!config)
    return shoal_cli_usage_error(HUB_PROG, "report", "missing -c CONFIG");
  if ((rc = hub_ctx_open(&ctx, config, &diag)) != SHOAL_OK ||
      (rc = report_sales(&ctx, &out, &diag)) != SHOAL_OK)
    goto fail;
  exit_code = shoal_cli_print_json(HUB_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(HUB_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  hub_ctx_close(&ctx);
  return exit_code;
}
