/* cmd_form.c - `shoal-agent form validate|submit|list|show` (SPEC 2, 6).
 * validate is pure with --policy files (nothing is written anywhere) or
 * reads the cached policies with -c; submit validates against the cached
 * policies in effect and records the submission durably. Results are JSON
 * on stdout; an invalid submission prints its result and exits 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_cli.h"
#include "agent_ctx.h"
#include "agent_forms.h"
#include "agent_media.h"
#include "shoal/cli.h"
#include "shoal/forms.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/shoal_limits.h"
#include "shoal/util.h"

static const struct shoal_argspec validate_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config: validate against the cached policies"},
    {"policy", 0, true, true, "FILE", "policy document file (instead of -c)"},
    {"region", 0, true, false, "R", "the device's region (with --policy)"},
    {"store", 0, true, false, "S", "the device's store (with --policy)"},
    {"form", 0, true, false, "ID", "form id (required)"},
    {"data", 0, true, false, "FILE|-", "submitted data, a JSON object (required)"},
};
static const struct shoal_argspec submit_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
    {"form", 0, true, false, "ID", "form id (required)"},
    {"data", 0, true, false, "FILE|-", "submitted data, a JSON object (required)"},
    {"attach", 0, true, true, "FIELD=PATH",
     "photo field: copy the file into the media store and upload it (repeatable)"},
};
static const struct shoal_argspec list_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
};
static const struct shoal_argspec show_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
    {"form", 0, true, false, "ID", "form id (required)"},
};
#define N(a) ((int)(sizeof a / sizeof a[0]))

/* The policy chain a command works on: docs[0] global, [1] region, [2] store. */
struct chain {
  cJSON *docs[3];
  struct shoal_scope_chain scopes;
};

static void chain_free(struct chain *c) {
  agent_forms_chain_free(c->docs);
}

/* Reads --policy files into the chain of region/store. Documents for
 * scopes outside the chain do not apply and are skipped; of two documents
 * for the same scope the later file wins (a new version replaces a scope's
 * whole document). */
static shoal_err chain_from_files(const struct shoal_args *a, const char *region, const char *store,
                                  struct chain *c, shoal_diag *diag) {
  shoal_err crc = shoal_scope_chain(&c->scopes, region, store, diag);
  if (crc != SHOAL_OK)
    return crc;
  for (int i = 0; i < shoal_args_count(a, "policy"); i++) {
    const char *path = shoal_args_at(a, "policy", i);
    cJSON *doc = NULL;
    shoal_err rc = shoal_json_load_file(path, SHOAL_POLICY_DOC_MAX_BYTES, &doc, diag);
    if (rc != SHOAL_OK)
      return rc;
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(doc, "scope");
    enum shoal_scope_kind kind;
    const char *sid;
    if (!cJSON_IsObject(doc) || !cJSON_IsString(scope) ||
        (rc = shoal_scope_parse(scope->valuestring, &kind, &sid, diag)) != SHOAL_OK ||
        (rc = shoal_forms_validate_doc(doc, diag)) != SHOAL_OK) {
      if (rc == SHOAL_OK)
        rc = shoal_fail(diag, SHOAL_EINPUT, "a policy document is an object with a \"scope\"");
      shoal_diag_prefix(diag, "%s", path);
      cJSON_Delete(doc);
      return rc;
    }
    int idx = (int)kind;
    if (strcmp(scope->valuestring, c->scopes.scope[idx]) != 0) {
      cJSON_Delete(doc);
      continue;
    }
    cJSON_Delete(c->docs[idx]);
    c->docs[idx] = doc;
  }
  return SHOAL_OK;
}

static shoal_err load_data(const char *path, cJSON **out, shoal_diag *diag) {
  char *text = NULL;
  size_t len = 0;
  shoal_err rc = shoal_file_read(path, SHOAL_FORM_DATA_MAX_BYTES, &text, &len, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_forms_data_parse(text, len, out, diag);
  if (rc != SHOAL_OK)
    shoal_diag_prefix(diag, "%s", strcmp(path, "-") == 0 ? "standard input" : path);
  free(text);
  return rc;
}

static shoal_err find_form(const struct chain *c, const char *id, shoal_form **out,
                           size_t *scope_idx, shoal_diag *diag) {
  return agent_forms_find(c->docs, id, out, scope_idx, diag);
}

/* Parses options for subcommand `name`; returns -1 to go on, else an exit code. */
static int parse(struct shoal_args *a, const struct shoal_argspec *spec, int n, int argc,
                 char **argv, const char *name, const char *usage, const char *desc) {
  shoal_diag d = {{0}};
  char cmd[32];
  snprintf(cmd, sizeof cmd, "form %s", name);
  if (shoal_args_parse(a, spec, n, argc, argv, 1, &d) != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, cmd, "%s", d.msg);
  if (a->help) {
    shoal_args_usage(stdout, usage, desc, spec, n);
    return 0;
  }
  if (a->npositional)
    return shoal_cli_usage_error(AGENT_PROG, cmd, "unexpected argument \"%s\"", a->positional[0]);
  return -1;
}

/* Opens the device context for a cache-backed subcommand (forms module required). */
static shoal_err open_ctx(struct agent_ctx *ctx, const char *config, struct chain *c,
                          shoal_diag *diag) {
  shoal_err rc = agent_ctx_open(ctx, config, diag);
  if (rc == SHOAL_OK)
    rc = shoal_profile_require(&ctx->profile, SHOAL_MOD_FORMS, diag);
  if (rc == SHOAL_OK)
    rc = agent_forms_chain(ctx, shoal_now_ms(), c->docs, &c->scopes, diag);
  return rc;
}

static int cmd_validate(int argc, char **argv) {
  struct shoal_args a;
  int x = parse(&a, validate_opts, N(validate_opts), argc, argv, "validate",
                AGENT_PROG " form validate (-c CONFIG | --policy FILE... [--region R] [--store S])"
                           " --form ID --data FILE|-",
                "Validates submitted form data (SPEC 6) and prints\n"
                "{\"valid\", \"errors\": [{\"field\", \"code\"}], \"data\": {cleaned}}.\n"
                "With --policy nothing is read from or written to the device's storage.\n"
                "Exit 0 if valid, 3 if not.");
  if (x >= 0)
    return x;
  const char *config = shoal_args_get(&a, "config"), *form = shoal_args_get(&a, "form"),
             *data_path = shoal_args_get(&a, "data"), *region = shoal_args_get(&a, "region"),
             *store = shoal_args_get(&a, "store");
  int npol = shoal_args_count(&a, "policy");
  if (!form || !data_path)
    return shoal_cli_usage_error(AGENT_PROG, "form validate", "missing --%s",
                                 form ? "data" : "form");
  if ((config != NULL) == (npol > 0))
    return shoal_cli_usage_error(AGENT_PROG, "form validate",
                                 "give either -c CONFIG or --policy FILE...");
  if (config && (region || store))
    return shoal_cli_usage_error(AGENT_PROG, "form validate",
                                 "--region and --store go with --policy (-c reads them from the "
                                 "config)");
  if ((region && !shoal_id_valid(region)) || (store && !shoal_id_valid(store)))
    return shoal_cli_usage_error(AGENT_PROG, "form validate", "bad --%s \"%s\"",
                                 region && !shoal_id_valid(region) ? "region" : "store",
                                 region && !shoal_id_valid(region) ? region : store);

  shoal_diag diag = {{0}};
  struct agent_ctx ctx = {0};
  struct chain c = {{NULL, NULL, NULL}, {{"", "", ""}}};
  shoal_form *f = NULL;
  cJSON *data = NULL, *out = NULL;
  struct shoal_form_result r = {0};
  int exit_code = 0;
  shoal_err rc =
      config ? open_ctx(&ctx, config, &c, &diag) : chain_from_files(&a, region, store, &c, &diag);
  if (rc != SHOAL_OK || (rc = find_form(&c, form, &f, NULL, &diag)) != SHOAL_OK ||
      (rc = load_data(data_path, &data, &diag)) != SHOAL_OK ||
      (rc = shoal_form_validate(f, data, &r, &diag)) != SHOAL_OK)
    goto fail;
  if (!(out = shoal_form_result_json(&r))) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  if (exit_code == 0 && !r.valid)
    exit_code = shoal_err_exit_code(SHOAL_EINPUT);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  shoal_form_result_cleanup(&r);
  cJSON_Delete(out);
  cJSON_Delete(data);
  shoal_form_free(f);
  chain_free(&c);
  agent_ctx_close(&ctx);
  return exit_code;
}

/* --attach FIELD=PATH (SPEC 15): each file goes into the media store and
 * its {"sha256", "bytes", "type"} becomes the field's value. The field must
 * be one of the form's photo fields; the limits of the media store apply
 * before anything is recorded. */
static shoal_err attach_photos(struct agent_ctx *ctx, const shoal_form *f,
                               const struct shoal_args *a, cJSON *data, shoal_diag *diag) {
  int n = shoal_args_count(a, "attach");
  if (n > SHOAL_MEDIA_ATTACH_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "at most %d --attach files", SHOAL_MEDIA_ATTACH_MAX);
  for (int i = 0; i < n; i++) {
    const char *spec = shoal_args_at(a, "attach", i);
    const char *eq = strchr(spec, '=');
    char field[SHOAL_ID_MAX + 1];
    if (!eq || eq == spec || !eq[1] || (size_t)(eq - spec) > SHOAL_ID_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "--attach \"%.80s\" must be FIELD=PATH", spec);
    memcpy(field, spec, (size_t)(eq - spec));
    field[eq - spec] = '\0';
    cJSON *value = NULL;
    shoal_err rc = agent_media_photo_field(f, field, diag);
    if (rc == SHOAL_OK)
      rc = agent_media_add_file(ctx, eq + 1, &value, diag);
    if (rc != SHOAL_OK) {
      shoal_diag_prefix(diag, "--attach %s", field);
      return rc;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(data, field);
    if (!shoal_json_put(data, field, value))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  return SHOAL_OK;
}

static int cmd_submit(int argc, char **argv) {
  struct shoal_args a;
  int x =
      parse(&a, submit_opts, N(submit_opts), argc, argv, "submit",
            AGENT_PROG " form submit -c CONFIG --form ID --data FILE|- [--attach FIELD=PATH ...]",
            "Validates the data against the form in effect on this device and, if valid,\n"
            "records it durably with its outbox event and opens the tickets the form's\n"
            "on_submit asks for; prints {\"id\", \"tickets\": [ticket ids]}. Works offline.\n"
            "An invalid submission prints {\"valid\", \"errors\", \"data\"} and exits 3.\n"
            "Needs the \"forms\" module in the device's profile.");
  if (x >= 0)
    return x;
  const char *config = shoal_args_get(&a, "config"), *form = shoal_args_get(&a, "form"),
             *data_path = shoal_args_get(&a, "data");
  if (!config || !form || !data_path)
    return shoal_cli_usage_error(AGENT_PROG, "form submit", "missing %s",
                                 !config ? "-c CONFIG"
                                 : !form ? "--form"
                                         : "--data");
  shoal_diag diag = {{0}};
  struct agent_ctx ctx = {0};
  struct chain c = {{NULL, NULL, NULL}, {{"", "", ""}}};
  shoal_form *f = NULL;
  cJSON *data = NULL, *out = NULL, *tickets = NULL;
  struct shoal_form_result r = {0};
  size_t idx = 0;
  char id[AGENT_FORM_SUBMISSION_ID_MAX];
  int exit_code = 0;
  shoal_err rc = open_ctx(&ctx, config, &c, &diag);
  if (rc != SHOAL_OK || (rc = find_form(&c, form, &f, &idx, &diag)) != SHOAL_OK ||
      (rc = load_data(data_path, &data, &diag)) != SHOAL_OK ||
      (rc = attach_photos(&ctx, f, &a, data, &diag)) != SHOAL_OK ||
      (rc = shoal_form_validate(f, data, &r, &diag)) != SHOAL_OK)
    goto fail;
  if (r.valid && (rc = agent_media_check(&ctx, f, r.data, &diag)) != SHOAL_OK)
    goto fail;
  if (!r.valid) {
    if (!(out = shoal_form_result_json(&r))) {
      rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
      goto fail;
    }
    shoal_cli_print_json(AGENT_PROG, out);
    fprintf(stderr, "%s: error: form \"%s\": the data is not valid (see \"errors\")\n", AGENT_PROG,
            form);
    exit_code = shoal_err_exit_code(SHOAL_EINPUT);
    goto cleanup;
  }
  if ((rc = agent_forms_record(&ctx, f, c.scopes.scope[idx], &r, id, &tickets, &diag)) != SHOAL_OK)
    goto fail;
  out = cJSON_CreateObject();
  if (!out || !cJSON_AddStringToObject(out, "id", id)) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  bool put = shoal_json_put(out, "tickets", tickets);
  tickets = NULL;
  if (!put) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  shoal_form_result_cleanup(&r);
  cJSON_Delete(tickets);
  cJSON_Delete(out);
  cJSON_Delete(data);
  shoal_form_free(f);
  chain_free(&c);
  agent_ctx_close(&ctx);
  return exit_code;
}

static int cmd_list(int argc, char **argv) {
  struct shoal_args a;
  int x = parse(&a, list_opts, N(list_opts), argc, argv, "list", AGENT_PROG " form list -c CONFIG",
                "Prints the forms in effect on this device as a JSON array of\n"
                "{\"id\", \"version\", \"title\", \"scope\"} (a region's or store's form\n"
                "replaces a wider scope's form with the same id).");
  if (x >= 0)
    return x;
  const char *config = shoal_args_get(&a, "config");
  if (!config)
    return shoal_cli_usage_error(AGENT_PROG, "form list", "missing -c CONFIG");
  shoal_diag diag = {{0}};
  struct agent_ctx ctx = {0};
  struct chain c = {{NULL, NULL, NULL}, {{"", "", ""}}};
  cJSON *out = NULL;
  int exit_code = 0;
  shoal_err rc = open_ctx(&ctx, config, &c, &diag);
  if (rc != SHOAL_OK || (rc = agent_forms_list_json(c.docs, &c.scopes, &out, &diag)) != SHOAL_OK)
    goto fail;
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  chain_free(&c);
  agent_ctx_close(&ctx);
  return exit_code;
}

static int cmd_show(int argc, char **argv) {
  struct shoal_args a;
  int x = parse(&a, show_opts, N(show_opts), argc, argv, "show",
                AGENT_PROG " form show -c CONFIG --form ID",
                "Prints the form in effect on this device with that id as\n"
                "{\"scope\", \"form\": {id, version, title, fields, on_submit}}.");
  if (x >= 0)
    return x;
  const char *config = shoal_args_get(&a, "config"), *form = shoal_args_get(&a, "form");
  if (!config || !form)
    return shoal_cli_usage_error(AGENT_PROG, "form show", "missing %s",
                                 !config ? "-c CONFIG" : "--form");
  shoal_diag diag = {{0}};
  struct agent_ctx ctx = {0};
  struct chain c = {{NULL, NULL, NULL}, {{"", "", ""}}};
  cJSON *out = NULL;
  int exit_code = 0;
  shoal_err rc = open_ctx(&ctx, config, &c, &diag);
  if (rc != SHOAL_OK ||
      (rc = agent_forms_show_json(c.docs, &c.scopes, form, &out, &diag)) != SHOAL_OK)
    goto fail;
  exit_code = shoal_cli_print_json(AGENT_PROG, out);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  cJSON_Delete(out);
  chain_free(&c);
  agent_ctx_close(&ctx);
  return exit_code;
}

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} subs[] = {
    {"validate", cmd_validate, "validate data against a form; prints {valid, errors, data}"},
    {"submit", cmd_submit, "validate and record a submission durably; may open tickets"},
    {"list", cmd_list, "list the forms in effect on this device"},
    {"show", cmd_show, "print the form in effect with an id"},
};

int agent_cmd_form(int argc, char **argv) {
  if (argc < 2)
    return shoal_cli_usage_error(AGENT_PROG, "form",
                                 "missing subcommand (validate, submit, list, show)");
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    FILE *out = stdout;
    fprintf(out,
            "usage: %s form <subcommand> [options]\n\nHQ-designed forms (SPEC 6), validated "
            "offline.\n\nsubcommands:\n",
            AGENT_PROG);
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
      fprintf(out, "  %-9s %s\n", subs[i].name, subs[i].summary);
    fprintf(out, "\nRun '%s form <subcommand> --help' for its options.\n", AGENT_PROG);
    return 0;
  }
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
    if (strcmp(subs[i].name, argv[1]) == 0)
      return subs[i].fn(argc - 1, argv + 1);
  return shoal_cli_usage_error(AGENT_PROG, "form", "unknown subcommand \"%s\"", argv[1]);
}
