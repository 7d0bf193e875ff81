/* cmd_price.c - `shoal-agent price`, `sale`, `return` and `policy import`.
 * price --policy is a pure function of its files (writes nothing, needs no
 * config); price -c and sale use the policies in effect in the cache now.
 * sale records the sale and its outbox event in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_checkout.h"
#include "agent_cli.h"
#include "agent_ctx.h"
#include "agent_policy.h"
#include "shoal/cli.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/pricing.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

static const struct shoal_argspec price_opts[] = {
    {"config", 'c', true, false, "CONFIG",
     "agent config: price from the cached policies in effect"},
    {"policy", 0, true, true, "FILE", "plain policy document (repeatable; instead of -c)"},
    {"basket", 0, true, false, "FILE|-", "basket JSON (SPEC 5.1); - reads standard input"},
};
#define NPRICE ((int)(sizeof price_opts / sizeof price_opts[0]))

static const struct shoal_argspec sale_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
    {"basket", 0, true, false, "FILE|-", "basket JSON (SPEC 5.1); - reads standard input"},
};
#define NSALE ((int)(sizeof sale_opts / sizeof sale_opts[0]))

static const struct shoal_argspec import_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
    {"effective-at", 0, true, false, "ISO", "time the version takes effect (default: now)"},
};
#define NIMPORT ((int)(sizeof import_opts / sizeof import_opts[0]))

/* Reads --policy files, keeps those in the basket's chain (others are other
 * regions' or stores' documents and do not apply) and builds the model. */
static shoal_err model_from_files(const struct shoal_args *args, const struct shoal_basket *b,
                                  struct shoal_pricing_model **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  int n = shoal_args_count(args, "policy");
  cJSON *docs[SHOAL_ARGS_MAX_REPEAT] = {NULL};
  struct shoal_scope_chain scopes;
  struct shoal_pricing_src chain[SHOAL_PRICING_SCOPES];
  const char *from[SHOAL_PRICING_SCOPES] = {NULL};
  if ((rc = shoal_scope_chain(&scopes, b->region, b->store, diag)) != SHOAL_OK)
    return rc;
  for (int s = 0; s < SHOAL_PRICING_SCOPES; s++) {
    chain[s].scope = scopes.scope[s];
    chain[s].doc = NULL;
    chain[s].version = 0;
  }
  for (int i = 0; i < n; i++) {
    const char *path = shoal_args_at(args, "policy", i);
    char scope[SHOAL_SCOPE_MAX];
    if ((rc = shoal_json_load_file(path, SHOAL_POLICY_DOC_MAX_BYTES, &docs[i], diag)) != SHOAL_OK) {
      if (rc == SHOAL_EIO)
        rc = SHOAL_EINPUT;
      goto cleanup;
    }
    if ((rc = shoal_policy_validate_json(docs[i], scope, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "%s", path);
      goto cleanup;
    }
    int s = shoal_scope_chain_find(&scopes, scope);
    if (s >= 0) {
      if (chain[s].doc) {
        rc = shoal_fail(diag, SHOAL_EINPUT, "two policy documents for scope %s: %s and %s", scope,
                        from[s], path);
        goto cleanup;
      }
      chain[s].doc = docs[i];
      from[s] = path;
    }
  }
  rc = shoal_pricing_model_new(chain, SHOAL_PRICING_SCOPES, out, diag);
cleanup:
  for (int i = 0; i < n; i++)
    cJSON_Delete(docs[i]);
  return rc;
}

/* Opens the agent and checks its profile runs module mod (exit 2 if not,
 * before the basket is even read). */
static shoal_err open_agent(struct agent_ctx *ctx, const char *config, enum shoal_module mod,
                            shoal_diag *diag) {
  shoal_err rc = agent_ctx_open(ctx, config, diag);
  if (rc != SHOAL_OK)
    return rc;
  return shoal_profile_require(&ctx->profile, mod, diag);
}

/* Opens the agent for a command that records sales or returns (module
 * "sales", exit 2 naming it otherwise). */
static shoal_err open_seller(struct agent_ctx *ctx, const char *config, shoal_diag *diag) {
  shoal_err rc = open_agent(ctx, config, SHOAL_MOD_SALES, diag);
  if (rc == SHOAL_EMODULE)
    shoal_diag_prefix(diag, "this device does not sell");
  return rc;
}

/* Reads a request body (file or "-") as text; an unreadable file is bad
 * input to the command (exit 3). */
static shoal_err read_body(const char *path, size_t max, const char *what, char **text, size_t *len,
                           shoal_diag *diag) {
  shoal_err rc = shoal_file_read(path, max, text, len, diag);
  if (rc != SHOAL_OK) {
    if (rc == SHOAL_EIO)
      rc = SHOAL_EINPUT;
    shoal_diag_prefix(diag, "%s", what);
  }
  return rc;
}

/* The model for one basket: its SKUs only, from the compiled snapshot. */
static shoal_err model_for_basket(struct agent_ctx *ctx, const char *text, size_t len,
                                  struct agent_model **m, shoal_diag *diag) {
  struct shoal_basket *b = NULL;
  shoal_err rc = shoal_basket_parse_text(text, len, &b, diag);
  if (rc != SHOAL_OK)
    return rc;
  const char **skus = calloc(b->nlines + 1, sizeof *skus);
  if (!skus) {
    shoal_basket_free(b);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < b->nlines; i++)
    skus[i] = b->lines[i].sku;
  rc = agent_model_load_skus(ctx, shoal_now_ms(), skus, b->nlines, m, diag);
  free(skus);
  shoal_basket_free(b);
  return rc;
}

int agent_cmd_price(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct agent_ctx ctx = {0};
  struct shoal_basket *b = NULL;
  struct shoal_pricing_model *pm = NULL;
  struct agent_model *m = NULL;
  struct shoal_quote *q = NULL;
  cJSON *out = NULL;
  char *text = NULL;
  size_t len = 0;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, price_opts, NPRICE, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "price", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(
        stdout, AGENT_PROG " price (-c CONFIG | --policy FILE [--policy FILE ...]) --basket FILE|-",
        "Quotes a basket (SPEC 5, 12) and prints the result as JSON: currency, subtotal,\n"
        "discount, rounding, total, lines, applied, coupons; with -c also per line\n"
        "\"name\", \"tax_bp\", \"tax\" and \"tax_total\" (VAT included, half up).\n"
        "With --policy the documents come from plain policy files (those for other\n"
        "regions or stores are ignored) and nothing is written anywhere. With -c the\n"
        "policies in effect now in the agent's cache are used (module \"pricing\"),\n"
        "read from a compiled snapshot keyed by their versions; \"at\" may be absent\n"
        "(now) and any \"at\" is accepted. Unknown basket keys and qty 2.0 are refused.\n"
        "Exit 3 on invalid input (bad JSON, unknown SKU or key, bad quantity).",
        price_opts, NPRICE);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  const char *basket = shoal_args_get(&args, "basket");
  if (args.npositional)
    return shoal_cli_usage_error(AGENT_PROG, "price", "unexpected argument \"%s\"",
                                 args.positional[0]);
  if (!basket)
    return shoal_cli_usage_error(AGENT_PROG, "price", "missing --basket FILE|-");
  if (!config == !shoal_args_count(&args, "policy"))
    return shoal_cli_usage_error(AGENT_PROG, "price", "give either -c CONFIG or --policy FILE...");
  if (config && (rc = open_agent(&ctx, config, SHOAL_MOD_PRICING, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = read_body(basket, SHOAL_BASKET_MAX_BYTES, "basket", &text, &len, &diag)) != SHOAL_OK)
    goto fail;
  if (config) {
    if ((rc = model_for_basket(&ctx, text, len, &m, &diag)) != SHOAL_OK ||
        (rc = agent_checkout_quote(&ctx, m, text, len, shoal_now_ms(), &out, &diag)) != SHOAL_OK)
      goto fail;
  } else {
    if ((rc = shoal_basket_parse_text(text, len, &b, &diag)) != SHOAL_OK)
      goto fail;
    if (!b->has_at) {
      rc = shoal_fail(&diag, SHOAL_EINPUT, "basket: missing \"at\"");
      goto fail;
    }
    if ((rc = model_from_files(&args, b, &pm, &diag)) != SHOAL_OK ||
        (rc = shoal_pricing_quote(pm, b, &q, &diag)) != SHOAL_OK)
      goto fail;
    out = shoal_quote_to_json(q);
  }
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  shoal_quote_free(q);
  shoal_pricing_model_free(pm);
  agent_model_free(m);
  shoal_basket_free(b);
  free(text);
  agent_ctx_close(&ctx);
  return exit_code;
}

int agent_cmd_sale(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct agent_ctx ctx = {0};
  struct agent_model *m = NULL;
  cJSON *out = NULL;
  char *text = NULL;
  size_t len = 0;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, sale_opts, NSALE, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "sale", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(
        stdout, AGENT_PROG " sale -c CONFIG --basket FILE|-",
        "Prices the basket from the policies in effect in the cache and records the\n"
        "sale durably (sale, lines and its outbox event in one transaction); works\n"
        "with no broker. Prints the receipt (SPEC 12): the quote plus id, store,\n"
        "device, at, cashier, payments, change, tax_total, and per line name and tax.\n"
        "The sale is stamped with the device clock in the store's utc_offset; a\n"
        "basket \"at\" more than 10 minutes off is refused (exit 3). Payments\n"
        "[{method, amount}] must add up to the total (cash may exceed it: change);\n"
        "absent = cash. A \"request_id\" makes the sale idempotent: the same key and\n"
        "body print the first receipt again; another body is exit 3 (conflict).\n"
        "Receipts read <device>-<YYYYMMDD>-<n> and are never reused. Needs module\n"
        "\"sales\".",
        sale_opts, NSALE);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  const char *basket = shoal_args_get(&args, "basket");
  if (args.npositional)
    return shoal_cli_usage_error(AGENT_PROG, "sale", "unexpected argument \"%s\"",
                                 args.positional[0]);
  if (!config)
    return shoal_cli_usage_error(AGENT_PROG, "sale", "missing -c CONFIG");
  if (!basket)
    return shoal_cli_usage_error(AGENT_PROG, "sale", "missing --basket FILE|-");
  if ((rc = open_seller(&ctx, config, &diag)) != SHOAL_OK)
    goto fail;
  int64_t now = shoal_now_ms();
  if ((rc = read_body(basket, SHOAL_BASKET_MAX_BYTES, "basket", &text, &len, &diag)) != SHOAL_OK ||
      (rc = model_for_basket(&ctx, text, len, &m, &diag)) != SHOAL_OK ||
      (rc = agent_checkout_sale(&ctx, m, text, len, false, now, &out, NULL, &diag)) != SHOAL_OK)
    goto fail;
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  agent_model_free(m);
  free(text);
  agent_ctx_close(&ctx);
  return exit_code;
}

static const struct shoal_argspec return_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
    {"sale", 0, true, false, "ID", "receipt id of the sale (required unless in the body)"},
    {"lines", 0, true, false, "FILE|-", "lines [{sku, qty}] or a whole return body"},
    {"request-id", 0, true, false, "K", "idempotency key of this return"},
};
#define NRETURN ((int)(sizeof return_opts / sizeof return_opts[0]))

/* Builds the return body from --lines text (an array of lines, or a full
 * body object) and the flags; flags must not contradict the body. */
static shoal_err return_body(const char *text, size_t len, const char *sale, const char *key,
                             char **out, size_t *out_len, shoal_diag *diag) {
  cJSON *j = NULL, *body = NULL;
  shoal_err rc = shoal_checkout_text_integers(text, len, "return", diag);
  if (rc == SHOAL_OK)
    rc = shoal_json_parse(text, len, &j, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (cJSON_IsArray(j)) {
    if (!(body = cJSON_CreateObject()) || !cJSON_AddItemToObject(body, "lines", j)) {
      cJSON_Delete(j);
      cJSON_Delete(body);
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    }
  } else if (cJSON_IsObject(j)) {
    body = j;
  } else {
    cJSON_Delete(j);
    return shoal_fail(diag, SHOAL_EINPUT,
                      "--lines must hold an array of {sku, qty} or a return body object");
  }
  static const struct {
    const char *key, *flag;
  } f[] = {{"sale", "--sale"}, {"request_id", "--request-id"}};
  const char *vals[2] = {sale, key};
  for (int i = 0; i < 2 && rc == SHOAL_OK; i++) {
    if (!vals[i])
      continue;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, f[i].key);
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, vals[i]) != 0))
      rc = shoal_fail(diag, SHOAL_EINPUT, "%s \"%s\" differs from the body's \"%s\"", f[i].flag,
                      vals[i], f[i].key);
    else if (!v && !cJSON_AddStringToObject(body, f[i].key, vals[i]))
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if (rc == SHOAL_OK && !cJSON_GetObjectItemCaseSensitive(body, "sale"))
    rc = shoal_fail(diag, SHOAL_EUSAGE, "missing --sale ID");
  if (rc == SHOAL_OK && !(*out = shoal_json_print(body)))
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (rc == SHOAL_OK)
    *out_len = strlen(*out);
  cJSON_Delete(body);
  return rc;
}

int agent_cmd_return(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct agent_ctx ctx = {0};
  struct agent_model *m = NULL;
  cJSON *out = NULL;
  char *text = NULL, *body = NULL;
  size_t len = 0, blen = 0;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, return_opts, NRETURN, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "return", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(
        stdout, AGENT_PROG " return -c CONFIG --sale ID --lines FILE|- [--request-id K]",
        "Records a return of units of a sale made on this device (SPEC 12) and\n"
        "prints {\"id\", \"sale\", \"at\", \"refund\", \"rounding\", \"lines\": [{sku,\n"
        "qty, refund}], \"refunds\": [{method, amount}], \"reason\"?}.\n"
        "--lines holds either the lines array [{\"sku\", \"qty\"}] or a whole return\n"
        "body {\"request_id\"?, \"sale\"?, \"lines\", \"reason\"?, \"refunds\"?} as\n"
        "POST /v1/returns takes it; --sale and --request-id fill in (or must match)\n"
        "the body's. Each unit refunds its share of what was paid for its line; the\n"
        "last unit of a line refunds what remains of it exactly; returning every unit\n"
        "refunds the sale total exactly (rounding included, spread in proportion).\n"
        "Refunds default to the sale's payment methods, largest first; given\n"
        "\"refunds\" must add up to the refund. The return, its lines and a \"return\"\n"
        "outbox event are written in one transaction. Exit 3: unknown sale, SKU not\n"
        "in the sale, more units than remain returnable (nothing is recorded), or a\n"
        "request id already used for another body.",
        return_opts, NRETURN);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  const char *lines = shoal_args_get(&args, "lines");
  if (args.npositional)
    return shoal_cli_usage_error(AGENT_PROG, "return", "unexpected argument \"%s\"",
                                 args.positional[0]);
  if (!config)
    return shoal_cli_usage_error(AGENT_PROG, "return", "missing -c CONFIG");
  if (!lines)
    return shoal_cli_usage_error(AGENT_PROG, "return", "missing --lines FILE|-");
  if ((rc = open_seller(&ctx, config, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = read_body(lines, SHOAL_BASKET_MAX_BYTES, "lines", &text, &len, &diag)) != SHOAL_OK)
    goto fail;
  rc = return_body(text, len, shoal_args_get(&args, "sale"), shoal_args_get(&args, "request-id"),
                   &body, &blen, &diag);
  if (rc == SHOAL_EUSAGE) {
    exit_code = shoal_cli_usage_error(AGENT_PROG, "return", "%s", diag.msg);
    goto cleanup;
  }
  /* Only the allowed refund methods come from the model: no SKU is needed. */
  if (rc != SHOAL_OK ||
      (rc = agent_model_load_skus(&ctx, shoal_now_ms(), NULL, 0, &m, &diag)) != SHOAL_OK ||
      (rc = agent_checkout_return(&ctx, m, body, blen, false, shoal_now_ms(), &out, NULL, &diag)) !=
          SHOAL_OK)
    goto fail;
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  agent_model_free(m);
  free(text);
  free(body);
  agent_ctx_close(&ctx);
  return exit_code;
}

static shoal_err import_policy(struct agent_ctx *ctx, const char *path, const char *effective_at,
                               cJSON **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  char *text = NULL;
  size_t len = 0;
  char scope[SHOAL_SCOPE_MAX], issued[SHOAL_TIME_TEXT_MAX];
  struct shoal_scope_chain scopes;
  struct shoal_time eff = {0, 0};
  bool in_tx = false;
  int64_t latest = 0;
  if (effective_at && (rc = shoal_time_parse(effective_at, &eff, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "--effective-at");
    return rc;
  }
  if ((rc = shoal_file_read(path, SHOAL_POLICY_DOC_MAX_BYTES, &text, &len, diag)) != SHOAL_OK) {
    if (rc == SHOAL_EIO)
      rc = SHOAL_EINPUT;
    return rc;
  }
  if ((rc = shoal_policy_validate(text, len, scope, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s", path);
    goto cleanup;
  }
  agent_policy_scopes(ctx, &scopes);
  if (shoal_scope_chain_find(&scopes, scope) < 0) {
    rc = shoal_fail(diag, SHOAL_ESCOPE, "scope %s is not in this device's chain (%s, %s, %s)",
                    scope, scopes.scope[0], scopes.scope[1], scopes.scope[2]);
    goto cleanup;
  }
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = agent_policy_latest(ctx, scope, &latest, diag)) != SHOAL_OK)
    goto cleanup;
  int64_t now = shoal_now_ms();
  shoal_time_format_utc(now, issued, sizeof issued);
  struct agent_policy_row row = {
      .scope = scope,
      .version = latest + 1,
      .issued_at = issued,
      .issued_ms = now,
      .effective_ms = effective_at ? eff.unix_ms : AGENT_POLICY_NO_TIME,
      .expires_ms = AGENT_POLICY_NO_TIME,
      .doc = text,
      .envelope = NULL,
      .source = "import",
  };
  if ((rc = agent_policy_store(ctx, &row, diag)) != SHOAL_OK ||
      (rc = shoal_db_commit(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "scope", scope) ||
      !cJSON_AddNumberToObject(o, "version", (double)(latest + 1))) {
    cJSON_Delete(o);
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *out = o;
cleanup:
  if (in_tx)
    shoal_db_rollback(ctx->db);
  free(text);
  return rc;
}

int agent_cmd_policy(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct agent_ctx ctx = {0};
  cJSON *out = NULL;
  int exit_code = 0;
  static const char *usage = AGENT_PROG " policy import -c CONFIG FILE [--effective-at ISO]";
  static const char *desc =
      "DEVELOPMENT AID: loads an unsigned, plain policy document into the agent's\n"
      "cache for local testing, as if the hub had published it. Production policies\n"
      "arrive signed from the hub (shoal-hub publish). The document is validated,\n"
      "its scope must be global, this device's region or its store (else exit 4),\n"
      "and it is stored as that scope's latest version + 1. Prints {scope, version}.\n"
      "Note: a local version number can make the hub's next version look like a\n"
      "rollback; use it on test devices only.";
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    if (argc < 2)
      return shoal_cli_usage_error(AGENT_PROG, "policy", "missing subcommand (import)");
    shoal_args_usage(stdout, usage, desc, import_opts, NIMPORT);
    return 0;
  }
  if (strcmp(argv[1], "import") != 0)
    return shoal_cli_usage_error(AGENT_PROG, "policy", "unknown subcommand \"%s\" (import)",
                                 argv[1]);
  shoal_err rc = shoal_args_parse(&args, import_opts, NIMPORT, argc, argv, 2, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "policy import", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, usage, desc, import_opts, NIMPORT);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  if (!config)
    return shoal_cli_usage_error(AGENT_PROG, "policy import", "missing -c CONFIG");
  if (args.npositional != 1)
    return shoal_cli_usage_error(AGENT_PROG, "policy import", "give exactly one policy FILE");
  if ((rc = agent_ctx_open(&ctx, config, &diag)) != SHOAL_OK ||
      (rc = import_policy(&ctx, args.positional[0], shoal_args_get(&args, "effective-at"), &out,
                          &diag)) != SHOAL_OK) {
    exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
    goto cleanup;
  }
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
cleanup:
  cJSON_Delete(out);
  agent_ctx_close(&ctx);
  return exit_code;
}
