/* cmd_ticket.c - `shoal-hub ticket`: work-order codes (SPEC 7.4) signed
 * with the hub's policy key, merged tickets as the hub holds them, and
 * settlement statements per store and per technician for a period. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_ticket.h"
#include "hub_cli.h"
#include "hub_ctx.h"
#include "hub_dispatch.h"
#include "hub_reports.h"
#include "hub_tickets.h"
#include "shoal/cli.h"
#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/signing.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

#define DEFAULT_TTL_HOURS 72
#define MAX_TTL_HOURS     (24 * 366)

static const struct shoal_argspec opts[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file (required)"},
    {"ticket", 0, true, false, "ID", "code/show: the ticket"},
    {"store", 0, true, false, "STORE",
     "code: the store, when the hub does not know the ticket yet"},
    {"ttl-hours", 0, true, false, "N", "code: hours the code stays valid (default 72)"},
    {"from", 0, true, false, "ISO", "statement: period start, inclusive (ISO-8601 or YYYY-MM-DD)"},
    {"to", 0, true, false, "ISO", "statement: period end, exclusive (ISO-8601 or YYYY-MM-DD)"},
    {"format", 0, true, false, "json|csv", "statement: output format (default json)"},
    {"state", 0, true, false, "STATE", "list: only tickets in this state"},
    {"data", 0, true, false, "FILE|-|JSON", "open/event: the fields as a JSON object"},
    {"region", 0, true, false, "R", "open: the store's region (default: as the hub knows it)"},
    {"category", 0, true, false, "TEXT", "open: category"},
    {"priority", 0, true, false, "P", "open/priority event: low, normal, high, urgent"},
    {"title", 0, true, false, "TEXT", "open: title"},
    {"customer", 0, true, false, "JSON", "open: customer object {id, tier, tags}"},
    {"tech", 0, true, false, "TECH", "open/assign: technician"},
    {"group", 0, true, false, "GROUP", "open/assign: group"},
    {"kind", 0, true, false, "KIND", "event: assign, labor, part, note, cancel, priority, ..."},
    {"minutes", 0, true, false, "N", "event labor: minutes"},
    {"sku", 0, true, false, "SKU", "event part: SKU"},
    {"qty", 0, true, false, "N", "event part: quantity"},
    {"text", 0, true, false, "TEXT", "event note: text"},
};
#define NOPTS ((int)(sizeof opts / sizeof opts[0]))

static shoal_err ticket_store(struct hub_ctx *ctx, const char *id, char *store, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(ctx->db, "SELECT store FROM tickets WHERE id = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW)
    shoal_strlcpy(store, (const char *)hub_store_column_text(st, 0), SHOAL_ID_MAX + 1);
  else if (s == HUB_STORE_DONE)
    rc = SHOAL_ENOTFOUND;
  else
    rc = hub_store_fail(ctx->db, s, "read ticket", diag);
  hub_store_finalize(st);
  return rc;
}

/* A ticket the hub has not merged yet (opened offline): agents name their
 * tickets "{device}-...", and the hub knows each device's store. */
static shoal_err device_store(struct hub_ctx *ctx, const char *id, char *store, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(ctx->db,
                        "SELECT store FROM devices WHERE substr(?1, 1, length(device) + 1) "
                        "= device || '-' ORDER BY length(device) DESC LIMIT 1",
                        &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW)
    shoal_strlcpy(store, (const char *)hub_store_column_text(st, 0), SHOAL_ID_MAX + 1);
  else if (s == HUB_STORE_DONE)
    rc = SHOAL_ENOTFOUND;
  else
    rc = hub_store_fail(ctx->db, s, "read devices", diag);
  hub_store_finalize(st);
  return rc;
}

static int do_code(struct hub_ctx *ctx, const struct shoal_args *a) {
  shoal_diag diag = {{0}};
  struct shoal_privkey *key = NULL;
  char *code = NULL, store[SHOAL_ID_MAX + 1] = "";
  const char *id = shoal_args_get(a, "ticket"), *want = shoal_args_get(a, "store");
  const char *ttl_s = shoal_args_get(a, "ttl-hours");
  int64_t ttl = DEFAULT_TTL_HOURS;
  shoal_err rc = SHOAL_OK;
  if (!id)
    return shoal_cli_usage_error(HUB_PROG, "ticket code", "missing --ticket ID");
  if (ttl_s) {
    char *end = NULL;
    ttl = strtoll(ttl_s, &end, 10);
    if (!*ttl_s || *end || ttl < 1 || ttl > MAX_TTL_HOURS)
      return shoal_cli_usage_error(HUB_PROG, "ticket code", "--ttl-hours must be 1..%d",
                                   MAX_TTL_HOURS);
  }
  if (!shoal_id_valid(id)) {
    rc = shoal_fail(&diag, SHOAL_EINPUT, "\"%.80s\" is not a valid ticket id", id);
    goto fail;
  }
  rc = ticket_store(ctx, id, store, &diag);
  if (rc == SHOAL_ENOTFOUND && !want)
    rc = device_store(ctx, id, store, &diag);
  if (rc == SHOAL_ENOTFOUND) {
    if (!want) {
      rc = shoal_fail(&diag, SHOAL_ENOTFOUND,
                      "unknown ticket %s (give --store STORE for a ticket not synced yet)", id);
      goto fail;
    }
    shoal_strlcpy(store, want, sizeof store);
    rc = SHOAL_OK;
  } else if (rc != SHOAL_OK) {
    goto fail;
  } else if (want && strcmp(want, store) != 0) {
    rc = shoal_fail(&diag, SHOAL_EINPUT, "ticket %s belongs to store %s, not %s", id, store, want);
    goto fail;
  }
  if (!shoal_id_valid(store)) {
    rc = shoal_fail(&diag, SHOAL_EINPUT, "\"%.80s\" is not a valid store id", store);
    goto fail;
  }
  if (!ctx->cfg.signing_key) {
    rc = shoal_fail(&diag, SHOAL_ECONFIG, "%s: \"signing_key\" is needed to sign codes",
                    ctx->cfg.path);
    goto fail;
  }
  if ((rc = shoal_privkey_load(ctx->cfg.signing_key, &key, &diag)) != SHOAL_OK)
    goto fail;
  int64_t expires = shoal_now_ms() / 1000 + ttl * 3600;
  if ((rc = shoal_wo_code_make(key, id, store, expires, &code, &diag)) != SHOAL_OK)
    goto fail;
  printf("%s\n", code);
  free(code);
  shoal_privkey_free(key);
  return 0;
fail:
  shoal_privkey_free(key);
  return shoal_cli_fail(HUB_PROG, rc, &diag);
}

static int do_show(struct hub_ctx *ctx, const struct shoal_args *a) {
  shoal_diag diag = {{0}};
  const char *id = shoal_args_get(a, "ticket");
  cJSON *doc = NULL;
  struct shoal_ticket_summary sum;
  if (!id)
    return shoal_cli_usage_error(HUB_PROG, "ticket show", "missing --ticket ID");
  shoal_err rc = hub_ticket_fold(ctx, id, shoal_now_ms(), &doc, &sum, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_fail(HUB_PROG, rc, &diag);
  char *text = shoal_json_print(doc);
  printf("%s\n", text ? text : "null");
  free(text);
  cJSON_Delete(doc);
  return 0;
}

static int do_list(struct hub_ctx *ctx, const struct shoal_args *a) {
  shoal_diag diag = {{0}};
  hub_stmt *st = NULL;
  const char *state = shoal_args_get(a, "state");
  shoal_err rc =
      hub_store_prepare(ctx->db,
                        "SELECT doc FROM tickets WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) "
                        "ORDER BY opened_ms DESC, id LIMIT 10000",
                        &st, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_fail(HUB_PROG, rc, &diag);
  if (state)
    hub_store_bind_text(st, 1, state, -1, HUB_STORE_STATIC);
  fputs("[", stdout);
  int s, n = 0;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW)
    printf("%s%s", n++ ? "," : "", (const char *)hub_store_column_text(st, 0));
  fputs("]\n", stdout);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(ctx->db, s, "list tickets", &diag);
  hub_store_finalize(st);
  return rc == SHOAL_OK ? 0 : shoal_cli_fail(HUB_PROG, rc, &diag);
}

/* ---- dispatch (SPEC 15) ------------------------------------------------- */

/* The request object: --data (a file, "-" or inline JSON) overlaid with
 * the individual options. */
static shoal_err gather(const struct shoal_args *a, bool open, cJSON **out, shoal_diag *diag) {
  static const char *const strs[] = {"store", "region", "category", "priority", "title",
                                     "tech",  "group",  "kind",     "sku",      "text"};
  static const char *const ints[] = {"minutes", "qty"};
  const char *data = shoal_args_get(a, "data");
  cJSON *o = NULL;
  shoal_err rc = SHOAL_OK;
  if (data && data[0] == '{')
    rc = strlen(data) > SHOAL_FORM_DATA_MAX_BYTES
             ? shoal_fail(diag, SHOAL_ELIMIT, "--data is too long")
             : shoal_json_parse(data, strlen(data), &o, diag);
  else if (data)
    rc = shoal_json_load_file(data, SHOAL_FORM_DATA_MAX_BYTES, &o, diag);
  else if (!(o = cJSON_CreateObject()))
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (rc != SHOAL_OK)
    return rc;
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return shoal_fail(diag, SHOAL_EINPUT, "--data must hold a JSON object");
  }
  bool ok = true;
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    const char *v = shoal_args_get(a, strs[i]);
    if (!v || (open && strcmp(strs[i], "kind") == 0))
      continue;
    cJSON_DeleteItemFromObjectCaseSensitive(o, strs[i]);
    ok &= cJSON_AddStringToObject(o, strs[i], v) != NULL;
  }
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    const char *v = shoal_args_get(a, ints[i]);
    if (!v)
      continue;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end) {
      cJSON_Delete(o);
      return shoal_fail(diag, SHOAL_EINPUT, "--%s must be an integer, not \"%s\"", ints[i], v);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, ints[i]);
    ok &= cJSON_AddNumberToObject(o, ints[i], (double)n) != NULL;
  }
  const char *cust = shoal_args_get(a, "customer");
  if (cust) {
    cJSON *c = NULL;
    if ((rc = shoal_json_parse(cust, strlen(cust), &c, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "--customer");
      cJSON_Delete(o);
      return rc;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "customer");
    ok &= shoal_json_put(o, "customer", c);
  }
  const char *id = shoal_args_get(a, "ticket");
  if (open && id) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, "id");
    ok &= cJSON_AddStringToObject(o, "id", id) != NULL;
  }
  if (!ok) {
    cJSON_Delete(o);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = o;
  return SHOAL_OK;
}

/* open, assign and event: HQ's own ticket events, merged like a device's. */
static int do_dispatch(struct hub_ctx *ctx, const char *sub, const struct shoal_args *a) {
  shoal_diag diag = {{0}};
  cJSON *req = NULL, *out = NULL;
  const char *id = shoal_args_get(a, "ticket");
  bool open = strcmp(sub, "open") == 0;
  char cmd[32];
  snprintf(cmd, sizeof cmd, "ticket %s", sub);
  if (!open && !id)
    return shoal_cli_usage_error(HUB_PROG, cmd, "missing --ticket ID");
  if (strcmp(sub, "event") == 0 && !shoal_args_get(a, "kind") && !shoal_args_get(a, "data"))
    return shoal_cli_usage_error(HUB_PROG, cmd, "missing --kind KIND");
  if (open && !shoal_args_get(a, "store") && !shoal_args_get(a, "data"))
    return shoal_cli_usage_error(HUB_PROG, cmd, "missing --store STORE");
  shoal_err rc = gather(a, open, &req, &diag);
  if (rc == SHOAL_OK && strcmp(sub, "assign") == 0) {
    cJSON_DeleteItemFromObjectCaseSensitive(req, "kind");
    if (!cJSON_AddStringToObject(req, "kind", "assign"))
      rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
  }
  if (rc == SHOAL_OK)
    rc = open ? hub_dispatch_open(ctx, req, &out, &diag)
              : hub_dispatch_event(ctx, id, req, &out, &diag);
  cJSON_Delete(req);
  if (rc != SHOAL_OK)
    return shoal_cli_fail(HUB_PROG, rc, &diag);
  int code = shoal_cli_print_json(HUB_PROG, out);
  cJSON_Delete(out);
  return code;
}

static int64_t num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* The row of arr whose key field equals name, added if missing; NULL on OOM. */
static cJSON *row_for(cJSON *arr, const char *k1, const char *v1, const char *k2, const char *v2) {
  cJSON *r;
  cJSON_ArrayForEach(r, arr) {
    if (strcmp(cJSON_GetObjectItemCaseSensitive(r, k1)->valuestring, v1) == 0 &&
        (!k2 || strcmp(cJSON_GetObjectItemCaseSensitive(r, k2)->valuestring, v2) == 0))
      return r;
  }
  r = cJSON_CreateObject();
  if (!shoal_json_push(arr, r) || !cJSON_AddStringToObject(r, k1, v1) ||
      (k2 && !cJSON_AddStringToObject(r, k2, v2)))
    return NULL; /* arr (holding r) is the caller's to delete */
  return r;
}

/* Adds by to row's key (created at by); false on OOM or a NULL row. */
static bool bump(cJSON *row, const char *key, int64_t by) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
  if (!v)
    return cJSON_AddNumberToObject(row, key, (double)by) != NULL;
  cJSON_SetNumberValue(v, v->valuedouble + (double)by);
  return true;
}

static int do_statement(struct hub_ctx *ctx, const struct shoal_args *a) {
  shoal_diag diag = {{0}};
  const char *from_s = shoal_args_get(a, "from"), *to_s = shoal_args_get(a, "to");
  const char *format = shoal_args_get(a, "format");
  int64_t from_ms = 0, to_ms = 0;
  hub_stmt *st = NULL;
  cJSON *out = NULL;
  shoal_err rc = SHOAL_OK;
  if (!from_s || !to_s)
    return shoal_cli_usage_error(HUB_PROG, "ticket statement", "missing --from ISO --to ISO");
  if (format && strcmp(format, "json") && strcmp(format, "csv"))
    return shoal_cli_usage_error(HUB_PROG, "ticket statement", "--format is json or csv");
  /* The same date forms as `settle` (ISO-8601 or YYYY-MM-DD): one parser. */
  if ((rc = hub_reports_time_parse(from_s, "--from", &from_ms, &diag)) != SHOAL_OK ||
      (rc = hub_reports_time_parse(to_s, "--to", &to_ms, &diag)) != SHOAL_OK)
    goto fail;
  if (to_ms < from_ms) {
    rc = shoal_fail(&diag, SHOAL_EINPUT, "--to is before --from");
    goto fail;
  }
  /* A ticket belongs to the period of its first resolve: that is when the
   * work is done and its late hours are fixed. */
  if ((rc = hub_store_prepare(ctx->db,
                              "SELECT store, doc FROM tickets WHERE resolved_ms >= ? AND "
                              "resolved_ms < ? ORDER BY store, id",
                              &st, &diag)) != SHOAL_OK)
    goto fail;
  hub_store_bind_int64(st, 1, from_ms);
  hub_store_bind_int64(st, 2, to_ms);
  out = cJSON_CreateObject();
  cJSON *stores = NULL, *techs = NULL;
  bool ok = out && cJSON_AddStringToObject(out, "from", from_s) &&
            cJSON_AddStringToObject(out, "to", to_s) &&
            (stores = cJSON_AddArrayToObject(out, "stores")) &&
            (techs = cJSON_AddArrayToObject(out, "techs"));
  int s = HUB_STORE_DONE;
  while (ok && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    const char *store = (const char *)hub_store_column_text(st, 0);
    const char *text = (const char *)hub_store_column_text(st, 1);
    cJSON *doc = NULL;
    if ((rc = shoal_json_parse(text, strlen(text), &doc, &diag)) != SHOAL_OK)
      goto fail;
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(doc, "settlement");
    cJSON *row = row_for(stores, "store", store, NULL, NULL);
    ok = bump(row, "tickets", 1) && bump(row, "labor_minutes", num(doc, "labor_minutes")) &&
         bump(row, "revenue", num(set, "revenue")) && bump(row, "cost", num(set, "cost")) &&
         bump(row, "profit", num(set, "profit")) &&
         bump(row, "late_hours", num(set, "late_hours")) && /* calendar hours (SPEC 15) */
         bump(row, "late_comp", num(set, "late_comp"));
    const cJSON *bt;
    cJSON_ArrayForEach(bt, cJSON_GetObjectItemCaseSensitive(set, "by_tech")) {
      const cJSON *tech = cJSON_GetObjectItemCaseSensitive(bt, "tech");
      cJSON *tr = ok ? row_for(techs, "tech", tech->valuestring, "store", store) : NULL;
      ok = bump(tr, "tickets", 1) && bump(tr, "labor_minutes", num(bt, "minutes")) &&
           bump(tr, "labor_revenue", num(bt, "labor_revenue")) &&
           bump(tr, "labor_cost", num(bt, "labor_cost"));
    }
    cJSON_Delete(doc);
  }
  if (!ok) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "read tickets", &diag);
    goto fail;
  }
  hub_store_finalize(st);
  st = NULL;
  if (format && strcmp(format, "csv") == 0) {
    printf("kind,store,tech,tickets,labor_minutes,revenue,cost,profit\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, stores)
        printf("store,%s,,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n",
               cJSON_GetObjectItemCaseSensitive(r, "store")->valuestring, num(r, "tickets"),
               num(r, "labor_minutes"), num(r, "revenue"), num(r, "cost"), num(r, "profit"));
    cJSON_ArrayForEach(r, techs)
        printf("tech,%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n",
               cJSON_GetObjectItemCaseSensitive(r, "store")->valuestring,
               cJSON_GetObjectItemCaseSensitive(r, "tech")->valuestring, num(r, "tickets"),
               num(r, "labor_minutes"), num(r, "labor_revenue"), num(r, "labor_cost"),
               num(r, "labor_revenue") - num(r, "labor_cost"));
    cJSON_Delete(out);
    return 0;
  }
  int code = shoal_cli_print_json(HUB_PROG, out);
  cJSON_Delete(out);
  return code;
fail:
  hub_store_finalize(st);
  cJSON_Delete(out);
  return shoal_cli_fail(HUB_PROG, rc, &diag);
}

int hub_cmd_ticket(int argc, char **argv) {
  static const char *const subs[] = {"code", "show",   "list", "statement",
                                     "open", "assign", "event"};
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct hub_ctx ctx = {0};
  if (argc < 2)
    return shoal_cli_usage_error(HUB_PROG, "ticket",
                                 "missing subcommand (code, show, list, statement, open, assign, "
                                 "event)");
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    printf(
        "usage: %s ticket (code|show|list|statement|open|assign|event) -c CONFIG ...\n\n"
        "  code       --ticket ID [--store S] [--ttl-hours N]: print a signed work-order code\n"
        "  show       --ticket ID: the merged ticket\n"
        "  list       [--state STATE]: merged tickets\n"
        "  statement  --from ISO --to ISO [--format csv]: settlement per store and technician\n"
        "  open       --store S --category C [--priority P] [--title T] [--region R]\n"
        "             [--customer JSON] [--tech T] [--group G] [--ticket ID]: HQ opens a ticket\n"
        "  assign     --ticket ID [--tech T] [--group G]: assign it (pushed to the store's "
        "devices)\n"
        "  event      --ticket ID --kind KIND [fields | --data JSON]: any other event\n",
        HUB_PROG);
    return 0;
  }
  const char *sub = argv[1];
  bool known = false;
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
    known = known || strcmp(sub, subs[i]) == 0;
  if (!known)
    return shoal_cli_usage_error(HUB_PROG, "ticket", "unknown subcommand \"%s\"", sub);
  char cmd[32];
  snprintf(cmd, sizeof cmd, "ticket %s", sub);
  shoal_err rc = shoal_args_parse(&args, opts, NOPTS, argc - 1, argv + 1, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, cmd, "%s", diag.msg);
  if (args.help) {
    char line[96];
    snprintf(line, sizeof line, HUB_PROG " %s -c CONFIG ...", cmd);
    shoal_args_usage(stdout, line, "Work orders as the hub holds them (SPEC 7).", opts, NOPTS);
    return 0;
  }
  if (args.npositional)
    return shoal_cli_usage_error(HUB_PROG, cmd, "unexpected argument \"%s\"", args.positional[0]);
  const char *config = shoal_args_get(&args, "config");
  if (!config)
    return shoal_cli_usage_error(HUB_PROG, cmd, "missing -c CONFIG");
  if ((rc = hub_ctx_open(&ctx, config, &diag)) != SHOAL_OK)
    return shoal_cli_fail(HUB_PROG, rc, &diag);
  int code;
  if (strcmp(sub, "code") == 0)
    code = do_code(&ctx, &args);
  else if (strcmp(sub, "show") == 0)
    code = do_show(&ctx, &args);
  else if (strcmp(sub, "list") == 0)
    code = do_list(&ctx, &args);
  else if (strcmp(sub, "open") == 0 || strcmp(sub, "assign") == 0 || strcmp(sub, "event") == 0)
    code = do_dispatch(&ctx, sub, &args);
  else
    code = do_statement(&ctx, &args);
  hub_ctx_close(&ctx);
  return code;
}
