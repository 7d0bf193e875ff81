/* cmd_ticket.c - `shoal-agent ticket`: work orders (SPEC 7). `fold` is a
 * pure function of its input files; open/show/list/event/scan work on the
 * agent's cache and need the "tickets" module. Every change is recorded as a
 * ticket event with its outbox row in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_cli.h"
#include "agent_ctx.h"
#include "agent_tickets.h"
#include "agent_trust.h"
#include "shoal/cli.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/signing.h"
#include "shoal/ticket.h"
#include "shoal/util.h"

#define MAX_POLICIES 16

static int print_json(const cJSON *o) {
  char *text = cJSON_PrintUnformatted(o);
  if (!text) {
    shoal_diag d;
    return shoal_cli_fail(AGENT_PROG, shoal_fail(&d, SHOAL_ENOMEM, "out of memory"), &d);
  }
  printf("%s\n", text);
  free(text);
  return 0;
}

/* ---- fold --------------------------------------------------------------- */

static const struct shoal_argspec fold_opts[] = {
    {"events", 0, true, false, "FILE|-", "JSON array of ticket event envelopes (required)"},
    {"policy", 0, true, true, "FILE", "policy document (repeatable): routing, sla, rates, items"},
};

static int cmd_fold(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  cJSON *events = NULL, *out = NULL, *docs[MAX_POLICIES] = {0};
  size_t ndocs = 0;
  int exit_code = 0;
  const int nopts = (int)(sizeof fold_opts / sizeof fold_opts[0]);
  shoal_err rc = shoal_args_parse(&args, fold_opts, nopts, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "ticket fold", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, AGENT_PROG " ticket fold --events FILE|- [--policy FILE ...]",
                     "Folds ticket events (any order, redeliveries allowed) into the ticket and\n"
                     "prints it as JSON. With a policy that has rates, adds its settlement.\n"
                     "Reads files only; writes nothing.",
                     fold_opts, nopts);
    return 0;
  }
  const char *ev_path = shoal_args_get(&args, "events");
  if (!ev_path)
    return shoal_cli_usage_error(AGENT_PROG, "ticket fold", "missing --events FILE|-");
  if (args.npositional)
    return shoal_cli_usage_error(AGENT_PROG, "ticket fold", "unexpected argument \"%s\"",
                                 args.positional[0]);
  int np = shoal_args_count(&args, "policy");
  if (np > MAX_POLICIES)
    return shoal_cli_usage_error(AGENT_PROG, "ticket fold", "at most %d --policy files",
                                 MAX_POLICIES);
  for (int i = 0; i < np; i++) {
    const char *p = shoal_args_at(&args, "policy", i);
    if ((rc = shoal_json_load_file(p, SHOAL_POLICY_DOC_MAX_BYTES, &docs[ndocs], &diag)) != SHOAL_OK)
      goto fail;
    ndocs++;
    if ((rc = shoal_policy_validate_json(docs[ndocs - 1], NULL, &diag)) != SHOAL_OK) {
      shoal_diag_prefix(&diag, "%s", p);
      goto fail;
    }
  }
  if ((rc = shoal_json_load_file(ev_path, SHOAL_INPUT_MAX_BYTES, &events, &diag)) != SHOAL_OK)
    goto fail;
  struct shoal_ticket_fold_opts opts = {(const cJSON *const *)docs, ndocs, NULL, NULL, false};
  if ((rc = shoal_ticket_fold(events, &opts, &out, NULL, &diag)) != SHOAL_OK)
    goto fail;
  exit_code = print_json(out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(events);
  cJSON_Delete(out);
  for (size_t i = 0; i < ndocs; i++)
    cJSON_Delete(docs[i]);
  return exit_code;
}

/* ---- commands on the cache ---------------------------------------------- */

static const struct shoal_argspec cache_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
    {"ticket", 0, true, false, "ID", "ticket id (show, event)"},
    {"data", 0, true, false, "FILE|-|JSON",
     "open: {category, priority, title, customer?, form?}; "
     "event: the event's fields"},
    {"category", 0, true, false, "TEXT", "open: category"},
    {"priority", 0, true, false, "P", "open/priority event: low, normal, high, urgent"},
    {"title", 0, true, false, "TEXT", "open: title"},
    {"customer", 0, true, false, "JSON", "open: customer object {id, tier, tags}"},
    {"form", 0, true, false, "ID", "open: linked form submission"},
    {"kind", 0, true, false, "KIND",
     "event: assign, scan, labor, part, note, resolve, close, "
     "cancel, reopen, priority, escalate"},
    {"group", 0, true, false, "GROUP", "assign/escalate: group"},
    {"tech", 0, true, false, "TECH", "assign/labor/scan: technician"},
    {"minutes", 0, true, false, "N", "labor: minutes"},
    {"sku", 0, true, false, "SKU", "part: SKU"},
    {"qty", 0, true, false, "N", "part: quantity"},
    {"text", 0, true, false, "TEXT", "note: text"},
    {"level", 0, true, false, "N", "escalate: level"},
    {"state", 0, true, false, "STATE", "list: only tickets in this state"},
    {"code", 0, true, false, "CODE", "scan: the work-order code (SHOAL1....)"},
};
#define NCACHE ((int)(sizeof cache_opts / sizeof cache_opts[0]))

static shoal_err add_int_opt(const struct shoal_args *a, const char *name, cJSON *o,
                             shoal_diag *diag) {
  const char *v = shoal_args_get(a, name);
  if (!v)
    return SHOAL_OK;
  char *end = NULL;
  long long n = strtoll(v, &end, 10);
  if (!*v || *end)
    return shoal_fail(diag, SHOAL_EINPUT, "--%s must be an integer, not \"%s\"", name, v);
  if (!cJSON_AddNumberToObject(o, name, (double)n))
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  return SHOAL_OK;
}

/* Fields from --data (an object) overlaid with the individual options. */
static shoal_err gather_fields(const struct shoal_args *a, cJSON **out, shoal_diag *diag) {
  static const char *const strs[] = {"category", "priority", "title", "form",
                                     "group",    "tech",     "sku",   "text"};
  static const char *const ints[] = {"minutes", "qty", "level"};
  cJSON *o = NULL;
  shoal_err rc;
  const char *data = shoal_args_get(a, "data");
  if (data) {
    /* A file, "-", or the object itself written inline. */
    if (data[0] == '{')
      rc = strlen(data) > SHOAL_FORM_DATA_MAX_BYTES
               ? shoal_fail(diag, SHOAL_ELIMIT, "--data is too long")
               : shoal_json_parse(data, strlen(data), &o, diag);
    else
      rc = shoal_json_load_file(data, SHOAL_FORM_DATA_MAX_BYTES, &o, diag);
    if (rc != SHOAL_OK)
      return rc;
    if (!cJSON_IsObject(o)) {
      cJSON_Delete(o);
      return shoal_fail(diag, SHOAL_EINPUT, "--data must hold a JSON object");
    }
  } else if (!(o = cJSON_CreateObject())) {
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    const char *v = shoal_args_get(a, strs[i]);
    if (v) {
      cJSON_DeleteItemFromObjectCaseSensitive(o, strs[i]);
      if (!cJSON_AddStringToObject(o, strs[i], v)) {
        cJSON_Delete(o);
        return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      }
    }
  }
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    if (shoal_args_get(a, ints[i]))
      cJSON_DeleteItemFromObjectCaseSensitive(o, ints[i]);
    if ((rc = add_int_opt(a, ints[i], o, diag)) != SHOAL_OK) {
      cJSON_Delete(o);
      return rc;
    }
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
    if (!shoal_json_put(o, "customer", c)) {
      cJSON_Delete(o);
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    }
  }
  *out = o;
  return SHOAL_OK;
}

/* Opens a ticket from the options in one transaction; copies its id into id. */
static shoal_err do_open(struct agent_ctx *ctx, const struct shoal_args *a, char *id,
                         shoal_diag *diag) {
  cJSON *fields = NULL;
  shoal_err rc = gather_fields(a, &fields, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (!cJSON_GetObjectItemCaseSensitive(fields, "category")) {
    cJSON_Delete(fields);
    return shoal_fail(diag, SHOAL_EINPUT, "a ticket needs a category (--category or --data)");
  }
  if ((rc = shoal_db_begin(ctx->db, diag)) == SHOAL_OK) {
    rc = agent_ticket_open_in_tx(ctx, fields, id, SHOAL_ID_MAX + 1, diag);
    if (rc == SHOAL_OK)
      rc = shoal_db_commit(ctx->db, diag);
    if (rc != SHOAL_OK)
      shoal_db_rollback(ctx->db);
  }
  cJSON_Delete(fields);
  return rc;
}

static shoal_err do_event(struct agent_ctx *ctx, const struct shoal_args *a, const char *id,
                          const char *kind, cJSON *extra, shoal_diag *diag) {
  cJSON *fields = NULL;
  shoal_err rc = gather_fields(a, &fields, diag);
  if (rc != SHOAL_OK)
    return rc;
  for (cJSON *e = extra ? extra->child : NULL; e; e = e->next)
    if (!shoal_json_put(fields, e->string, cJSON_Duplicate(e, 1))) {
      cJSON_Delete(fields);
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    }
  if ((rc = shoal_db_begin(ctx->db, diag)) == SHOAL_OK) {
    rc = agent_ticket_event_in_tx(ctx, id, kind, fields, diag);
    if (rc == SHOAL_OK)
      rc = shoal_db_commit(ctx->db, diag);
    if (rc != SHOAL_OK)
      shoal_db_rollback(ctx->db);
  }
  cJSON_Delete(fields);
  return rc;
}

/* Verifies a work-order code offline (SPEC 7.4) and records the check-in. */
static shoal_err do_scan(struct agent_ctx *ctx, const struct shoal_args *a, char *id,
                         shoal_diag *diag) {
  const char *code = shoal_args_get(a, "code");
  cJSON *wrapped = NULL, *fields = NULL;
  /* Accept the code also as printed JSON ("..." or {"code": "..."}). */
  if ((code[0] == '{' || code[0] == '"') &&
      shoal_json_parse(code, strlen(code), &wrapped, NULL) == SHOAL_OK) {
    const cJSON *c =
        cJSON_IsString(wrapped) ? wrapped : cJSON_GetObjectItemCaseSensitive(wrapped, "code");
    if (cJSON_IsString(c))
      code = c->valuestring;
  }
  shoal_err rc = gather_fields(a, &fields, diag);
  if (rc == SHOAL_OK)
    rc = agent_ticket_scan(ctx, code, fields, id, diag);
  cJSON_Delete(fields);
  cJSON_Delete(wrapped);
  return rc;
}

static int cmd_cache(const char *sub, int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct agent_ctx ctx = {0};
  cJSON *out = NULL;
  int exit_code = 0;
  char cmd[32];
  snprintf(cmd, sizeof cmd, "ticket %s", sub);
  shoal_err rc = shoal_args_parse(&args, cache_opts, NCACHE, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, cmd, "%s", diag.msg);
  if (args.help) {
    static const char *const usage[][2] = {
        {"open", AGENT_PROG " ticket open -c CONFIG (--data FILE | --category C [--priority P] "
                            "[--title T] [--customer JSON] [--form ID])"},
        {"show", AGENT_PROG " ticket show -c CONFIG --ticket ID"},
        {"list", AGENT_PROG " ticket list -c CONFIG [--state STATE]"},
        {"event", AGENT_PROG " ticket event -c CONFIG --ticket ID --kind KIND [fields]"},
        {"scan", AGENT_PROG " ticket scan -c CONFIG --code CODE [--tech TECH]"},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++)
      if (strcmp(usage[i][0], sub) == 0)
        shoal_args_usage(stdout, usage[i][1],
                         "Work orders in this device's cache (module \"tickets\"). Prints the\n"
                         "ticket (or list) as JSON. Changes are recorded durably and sent to the\n"
                         "hub; scan verifies the code offline (exit 4 if forged, foreign or\n"
                         "expired).",
                         cache_opts, NCACHE);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  if (!config)
    return shoal_cli_usage_error(AGENT_PROG, cmd, "missing -c CONFIG");
  const char *id_opt = shoal_args_get(&args, "ticket");
  if (!id_opt && args.npositional == 1 && strcmp(sub, "open") && strcmp(sub, "list") &&
      strcmp(sub, "scan"))
    id_opt = args.positional[0];
  else if (args.npositional)
    return shoal_cli_usage_error(AGENT_PROG, cmd, "unexpected argument \"%s\"", args.positional[0]);
  const char *kind = shoal_args_get(&args, "kind");
  if ((strcmp(sub, "show") == 0 || strcmp(sub, "event") == 0) && !id_opt)
    return shoal_cli_usage_error(AGENT_PROG, cmd, "missing --ticket ID");
  if (strcmp(sub, "event") == 0 && !kind)
    return shoal_cli_usage_error(AGENT_PROG, cmd, "missing --kind KIND");
  if (strcmp(sub, "scan") == 0 && !shoal_args_get(&args, "code"))
    return shoal_cli_usage_error(AGENT_PROG, cmd, "missing --code CODE");

  if ((rc = agent_ctx_open(&ctx, config, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = shoal_profile_require(&ctx.profile, SHOAL_MOD_TICKETS, &diag)) != SHOAL_OK)
    goto fail;
  char id[SHOAL_ID_MAX + 1] = "";
  if (id_opt && !shoal_strlcpy(id, id_opt, sizeof id)) {
    rc = shoal_fail(&diag, SHOAL_EINPUT, "ticket id too long");
    goto fail;
  }
  if (strcmp(sub, "open") == 0)
    rc = do_open(&ctx, &args, id, &diag);
  else if (strcmp(sub, "event") == 0)
    rc = do_event(&ctx, &args, id, kind, NULL, &diag);
  else if (strcmp(sub, "scan") == 0)
    rc = do_scan(&ctx, &args, id, &diag);
  if (rc != SHOAL_OK)
    goto fail;
  if (strcmp(sub, "list") == 0)
    rc = agent_ticket_list(&ctx, shoal_args_get(&args, "state"), &out, &diag);
  else
    rc = agent_ticket_get(&ctx, id, &out, &diag);
  if (rc != SHOAL_OK)
    goto fail;
  exit_code = print_json(out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  agent_ctx_close(&ctx);
  return exit_code;
}

int agent_cmd_ticket(int argc, char **argv) {
  static const char *const subs[] = {"open", "show", "list", "event", "scan"};
  if (argc < 2)
    return shoal_cli_usage_error(AGENT_PROG, "ticket",
                                 "missing subcommand (fold, open, show, list, event, scan)");
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    FILE *o = stdout;
    fprintf(o,
            "usage: %s ticket (fold|open|show|list|event|scan) ...\n\n"
            "  fold   fold ticket events from a file (pure)\n"
            "  open   open a ticket in this device's cache\n"
            "  show   print one ticket\n"
            "  list   list tickets\n"
            "  event  record an event (assign, labor, part, resolve, ...)\n"
            "  scan   verify a work-order code and check in on site\n\n"
            "Run '%s ticket SUBCOMMAND --help' for options.\n",
            AGENT_PROG, AGENT_PROG);
    return 0;
  }
  if (strcmp(argv[1], "fold") == 0)
    return cmd_fold(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
    if (strcmp(argv[1], subs[i]) == 0)
      return cmd_cache(subs[i], argc - 1, argv + 1);
  return shoal_cli_usage_error(AGENT_PROG, "ticket", "unknown subcommand \"%s\"", argv[1]);
}
