/* cmd_settle.c - `shoal-hub settle -c CONFIG --from ISO --to ISO [--format
 * csv]`: store settlement for a period (SPEC 8), one row per store, from the
 * hub database and the published settlement sections. Read-only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_settle.h"
#include "hub_cli.h"
#include "hub_ctx.h"
#include "hub_reports.h"
#include "shoal/cli.h"
#include "shoal/jsonx.h"

static const struct shoal_argspec settle_opts[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file (required)"},
    {"from", 0, true, false, "ISO", "period start, inclusive (ISO-8601 or YYYY-MM-DD)"},
    {"to", 0, true, false, "ISO", "period end, exclusive (ISO-8601 or YYYY-MM-DD)"},
    {"format", 0, true, false, "json|csv", "output format (default json)"},
};
#define NOPTS ((int)(sizeof settle_opts / sizeof settle_opts[0]))

int hub_cmd_settle(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct hub_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  cJSON *rows = NULL;
  char *text = NULL;
  shoal_err rc = shoal_args_parse(&args, settle_opts, NOPTS, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "settle", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, HUB_PROG " settle -c CONFIG --from ISO --to ISO [--format csv]",
                     "Store settlement for sales in [from, to): a JSON array with one object per\n"
                     "store: store, scheme, sales_total, commission (minor units). Schemes come\n"
                     "from the \"settlement\" section of the most specific published policy.",
                     settle_opts, NOPTS);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  const char *from = shoal_args_get(&args, "from"), *to = shoal_args_get(&args, "to");
  const char *format = shoal_args_get(&args, "format");
  if (!config)
    return shoal_cli_usage_error(HUB_PROG, "settle", "missing -c CONFIG");
  if (!from || !to)
    return shoal_cli_usage_error(HUB_PROG, "settle", "missing --from or --to");
  if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
    return shoal_cli_usage_error(HUB_PROG, "settle", "--format must be json or csv");
  if (args.npositional)
    return shoal_cli_usage_error(HUB_PROG, "settle", "unexpected argument \"%s\"",
                                 args.positional[0]);
  int64_t from_ms = 0, to_ms = 0;
  if ((rc = hub_reports_time_parse(from, "--from", &from_ms, &diag)) != SHOAL_OK ||
      (rc = hub_reports_time_parse(to, "--to", &to_ms, &diag)) != SHOAL_OK)
    goto fail;
  if (to_ms < from_ms) {
    rc = shoal_fail(&diag, SHOAL_EINPUT, "--to is before --from");
    goto fail;
  }
  if ((rc = hub_ctx_open(&ctx, config, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = hub_reports_settlement(ctx.db, from_ms, to_ms, &rows, &diag)) != SHOAL_OK)
    goto fail;
  text = (format && strcmp(format, "csv") == 0) ? hub_reports_settlement_csv(rows)
                                                : shoal_json_print(rows);
  if (!text) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  fputs(text, stdout);
  if (!(format && strcmp(format, "csv") == 0))
    fputc('\n', stdout);
  free(text);
  cJSON_Delete(rows);
  hub_ctx_close(&ctx);
  return 0;
fail:
  free(text);
  cJSON_Delete(rows);
  hub_ctx_close(&ctx);
  return shoal_cli_fail(HUB_PROG, rc, &diag);
}
