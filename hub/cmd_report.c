/* cmd_report.c - `shoal-hub report sales -c CONFIG`: one object per device
 * that has sales at the hub (store, device, count, total), from the sales
 * table that ingest fills exactly once per sale event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "store.h"
#include "hub_cli.h"
#include "hub_ctx.h"

static const struct shoal_argspec report_opts[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file (required)"},
};
#define NOPTS ((int)(sizeof report_opts / sizeof report_opts[0]))

static shoal_err report_sales(struct hub_ctx *ctx, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  cJSON *arr = cJSON_CreateArray();
  shoal_err rc = SHOAL_OK;
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if ((rc = hub_store_prepare(ctx->db,
                             "SELECT store, device, COUNT(*), SUM(total) FROM sales "
                             "GROUP BY store, device ORDER BY store, device",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  int s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *o = cJSON_CreateObject();
    if (!o) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    cJSON_AddItemToArray(arr, o);
    cJSON_AddStringToObject(o, "store", (const char *)hub_store_column_text(st, 0));
    cJSON_AddStringToObject(o, "device", (const char *)hub_store_column_text(st, 1));
    cJSON_AddNumberToObject(o, "count", (double)hub_store_column_int64(st, 2));
    /* Totals stay far below 2^53 (SHOAL_MONEY_MAX per sale): exact as a number. */
    cJSON_AddNumberToObject(o, "total", (double)hub_store_column_int64(st, 3));
  }
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "read sales", diag);
    goto cleanup;
  }
  *out = arr;
  arr = NULL;
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(arr);
  return rc;
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
                     "  sales   one object per device with sales: store, device, count, total\n"
                     "          (minor units), each sale counted once.",
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
