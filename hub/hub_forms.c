/* hub_forms.c - ingest of "form" events (SPEC 6): the submission is
 * re-validated with the shared form engine against the form version it
 * names, found in the policy documents published for the submitting store's
 * chain (the most specific scope holding that id AND version), and stored.
 * Unknown versions and invalid data are SHOAL_EINPUT: the caller
 * dead-letters the event with the reason. Runs inside ingest's transaction. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_customers.h"
#include "hub_forms.h"
#include "hub_media.h"
#include "shoal/forms.h"
#include "shoal/jsonx.h"
#include "shoal/scope.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

#define SUBMISSION_ID_MAX 128
#define TICKETS_MAX       64

#define INDEX_BATCH 256

/* Reads one published policy version's forms into form_defs. */
static shoal_err index_version(struct hub_ctx *ctx, const char *scope, int64_t version,
                               shoal_diag *diag) {
  hub_stmt *st = NULL, *ins = NULL;
  cJSON *doc = NULL;
  shoal_err rc = hub_store_prepare(
      ctx->db, "SELECT doc FROM policies WHERE scope = ? AND version = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, version);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW) {
    shoal_diag pd = {{0}};
    if (shoal_json_parse((const char *)hub_store_column_text(st, 0),
                         (size_t)hub_store_column_bytes(st, 0), &doc, &pd) != SHOAL_OK)
      shoal_log(&ctx->log, SHOAL_LOG_WARN, "published policy %s v%" PRId64 " unreadable: %s", scope,
                version, pd.msg);
  } else if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "read published policy", diag);
    goto cleanup;
  }
  if ((rc = hub_store_prepare(ctx->db,
                              "INSERT OR IGNORE INTO form_defs (scope, policy_version, form_id, "
                              "form_version, def) VALUES (?, ?, ?, ?, ?)",
                              &ins, diag)) != SHOAL_OK)
    goto cleanup;
  const cJSON *forms = doc ? cJSON_GetObjectItemCaseSensitive(doc, "forms") : NULL;
  const cJSON *f;
  cJSON_ArrayForEach(f, forms) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(f, "id");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, "version");
    if (!cJSON_IsString(id) || !shoal_json_is_int(v))
      continue; /* publish refuses such forms; nothing could name it */
    char *def = shoal_json_print(f);
    if (!def) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    hub_store_reset(ins);
    hub_store_bind_text(ins, 1, scope, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(ins, 2, version);
    hub_store_bind_text(ins, 3, id->valuestring, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(ins, 4, shoal_json_int(v));
    hub_store_bind_text(ins, 5, def, -1, HUB_STORE_TRANSIENT);
    s = hub_store_step(ins);
    free(def);
    if (s != HUB_STORE_DONE) {
      rc = hub_store_fail(ctx->db, s, "index form definition", diag);
      goto cleanup;
    }
  }
  hub_store_finalize(ins);
  ins = NULL;
  if ((rc = hub_store_prepare(
           ctx->db, "INSERT OR IGNORE INTO form_index (scope, policy_version) VALUES (?, ?)", &ins,
           diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(ins, 1, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(ins, 2, version);
  if ((s = hub_store_step(ins)) != HUB_STORE_DONE)
    rc = hub_store_fail(ctx->db, s, "index form definitions", diag);
cleanup:
  hub_store_finalize(st);
  hub_store_finalize(ins);
  cJSON_Delete(doc);
  return rc;
}

/* Indexes the published versions of scope not read yet. */
static shoal_err index_scope(struct hub_ctx *ctx, const char *scope, shoal_diag *diag) {
  for (;;) {
    int64_t versions[INDEX_BATCH];
    size_t n = 0;
    hub_stmt *st = NULL;
    shoal_err rc = hub_store_prepare(
        ctx->db,
        "SELECT version FROM policies p WHERE scope = ?1 AND NOT EXISTS (SELECT 1 FROM "
        "form_index i WHERE i.scope = ?1 AND i.policy_version = p.version) ORDER BY version LIMIT "
        "?2",
        &st, diag);
    if (rc != SHOAL_OK)
      return rc;
    hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
    hub_store_bind_int(st, 2, INDEX_BATCH);
    int s;
    while ((s = hub_store_step(st)) == HUB_STORE_ROW)
      versions[n++] = hub_store_column_int64(st, 0);
    hub_store_finalize(st);
    if (s != HUB_STORE_DONE)
      return hub_store_fail(ctx->db, s, "list published policies", diag);
    for (size_t i = 0; i < n; i++)
      if ((rc = index_version(ctx, scope, versions[i], diag)) != SHOAL_OK)
        return rc;
    if (n < INDEX_BATCH)
      return SHOAL_OK;
  }
}

/* Finds and compiles form id/version for the chain of region/store: the
 * most specific scope holding that id AND version (its latest policy
 * version holding it); scope_out gets the scope it came from. */
static shoal_err find_form(struct hub_ctx *ctx, const char *region, const char *store,
                           const char *id, int64_t version, shoal_form **out, char *scope_out,
                           size_t scope_sz, shoal_diag *diag) {
  struct shoal_scope_chain chain;
  shoal_err rc = shoal_scope_chain(&chain, region, store, diag);
  if (rc != SHOAL_OK)
    return rc;
  for (int i = 0; i < SHOAL_SCOPE_CHAIN_LEN; i++)
    if ((rc = index_scope(ctx, chain.scope[i], diag)) != SHOAL_OK)
      return rc;
  hub_stmt *st = NULL;
  if ((rc = hub_store_prepare(ctx->db,
                              "SELECT scope, def FROM form_defs WHERE scope IN (?1, ?2, ?3) AND "
                              "form_id = ?4 AND form_version = ?5 ORDER BY CASE scope WHEN ?3 "
                              "THEN 0 WHEN ?2 THEN 1 ELSE 2 END, policy_version DESC LIMIT 1",
                              &st, diag)) != SHOAL_OK)
    return rc;
  for (int i = 0; i < SHOAL_SCOPE_CHAIN_LEN; i++)
    hub_store_bind_text(st, i + 1, chain.scope[i], -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 4, id, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 5, version);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW) {
    cJSON *def = NULL;
    shoal_strlcpy(scope_out, (const char *)hub_store_column_text(st, 0), scope_sz);
    rc = shoal_json_parse((const char *)hub_store_column_text(st, 1),
                          (size_t)hub_store_column_bytes(st, 1), &def, diag);
    if (rc == SHOAL_OK)
      rc = shoal_form_compile(def, out, diag);
    if (rc != SHOAL_OK) {
      shoal_diag_prefix(diag, "published form %s v%" PRId64 " (%s)", id, version, scope_out);
      rc = SHOAL_EINPUT;
    }
    cJSON_Delete(def);
  } else if (s == HUB_STORE_DONE) {
    rc = shoal_fail(diag, SHOAL_EINPUT,
                    "form \"%s\" version %" PRId64 " was never published for store %s (region %s)",
                    id, version, store, region);
  } else {
    rc = hub_store_fail(ctx->db, s, "read form definitions", diag);
  }
  hub_store_finalize(st);
  return rc;
}

/* The region the hub knows for a device (from hello), or "" if none. */
static shoal_err device_region(struct hub_ctx *ctx, const char *device, char *out, size_t sz,
                               shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(ctx->db, "SELECT region FROM devices WHERE device = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
  out[0] = '\0';
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW && hub_store_column_type(st, 0) != HUB_STORE_NULL)
    shoal_strlcpy(out, (const char *)hub_store_column_text(st, 0), sz);
  else if (s != HUB_STORE_ROW && s != HUB_STORE_DONE)
    rc = hub_store_fail(ctx->db, s, "read device", diag);
  hub_store_finalize(st);
  return rc;
}

/* Lists the failing fields ("qty: type, zzz: unknown") into buf. */
static void describe_errors(const cJSON *errors, char *buf, size_t sz) {
  size_t o = 0;
  buf[0] = '\0';
  const cJSON *e;
  cJSON_ArrayForEach(e, errors) {
    int n = snprintf(buf + o, sz - o, "%s%s: %s", o ? ", " : "",
                     cJSON_GetObjectItemCaseSensitive(e, "field")->valuestring,
                     cJSON_GetObjectItemCaseSensitive(e, "code")->valuestring);
    if (n < 0 || (size_t)n >= sz - o)
      break;
    o += (size_t)n;
  }
}

/* A submission whose data names a customer (field "customer" or
 * "customer_id", an identifier) goes on that customer's timeline (SPEC 13). */
static shoal_err form_on_timeline(struct hub_ctx *ctx, const cJSON *data, const char *sub,
                                  const char *form, const char *store, int64_t at_ms,
                                  shoal_diag *diag) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(data, "customer");
  if (!cJSON_IsString(c))
    c = cJSON_GetObjectItemCaseSensitive(data, "customer_id");
  if (!cJSON_IsString(c) || !shoal_id_valid(c->valuestring))
    return SHOAL_OK;
  cJSON *e = cJSON_CreateObject();
  shoal_err rc = SHOAL_OK;
  if (!e || !cJSON_AddStringToObject(e, "form", form) ||
      !cJSON_AddStringToObject(e, "store", store))
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  else
    rc = hub_customers_timeline_add(ctx->db, c->valuestring, at_ms, "form", sub, e, diag);
  cJSON_Delete(e);
  return rc;
}

shoal_err hub_forms_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag) {
  const cJSON *b = ev->body;
  const char *sub = NULL, *form = NULL, *region = NULL, *store = NULL, *at = NULL;
  int64_t version = 0;
  shoal_err rc;
  if ((rc = shoal_json_get_str(b, "submission", true, &sub, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(b, "form", true, &form, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_int(b, "version", true, &version, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(b, "region", true, &region, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(b, "store", true, &store, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(b, "at", true, &at, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "form event");
    return SHOAL_EINPUT;
  }
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(b, "data");
  const cJSON *tickets = cJSON_GetObjectItemCaseSensitive(b, "tickets");
  if (!sub[0] || strlen(sub) > SUBMISSION_ID_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "form event: bad submission id");
  if (!shoal_id_valid(form) || !shoal_id_valid(region) || !shoal_id_valid(store) || version < 1)
    return shoal_fail(diag, SHOAL_EINPUT, "form event: bad form, version, region or store");
  if (strcmp(store, ev->store) != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "form event: store %s in a %s event", store, ev->store);
  if (!cJSON_IsObject(data))
    return shoal_fail(diag, SHOAL_EINPUT, "form event: \"data\" must be an object");
  if (!cJSON_IsArray(tickets) || cJSON_GetArraySize(tickets) > TICKETS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "form event: \"tickets\" must be an array of ids");
  const cJSON *t;
  cJSON_ArrayForEach(t, tickets) {
    if (!cJSON_IsString(t) || !t->valuestring[0] || strlen(t->valuestring) > SUBMISSION_ID_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "form event: \"tickets\" must be an array of ids");
  }
  struct shoal_time at_t;
  if (shoal_time_parse(at, &at_t, diag) != SHOAL_OK) {
    shoal_diag_prefix(diag, "form event: \"at\"");
    return SHOAL_EINPUT;
  }
  char known[SHOAL_ID_MAX + 1];
  if ((rc = device_region(ctx, ev->device, known, sizeof known, diag)) != SHOAL_OK)
    return rc;
  if (known[0] && strcmp(known, region) != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "form event: region %s, but device %s is in %s", region,
                      ev->device, known);

  shoal_form *f = NULL;
  struct shoal_form_result r = {0};
  char scope[SHOAL_SCOPE_MAX] = "";
  char *data_text = NULL, *tickets_text = NULL;
  hub_stmt *st = NULL;
  if ((rc = find_form(ctx, region, store, form, version, &f, scope, sizeof scope, diag)) !=
          SHOAL_OK ||
      (rc = shoal_form_validate(f, data, &r, diag)) != SHOAL_OK)
    goto cleanup;
  if (!r.valid) {
    char why[300];
    describe_errors(r.errors, why, sizeof why);
    rc = shoal_fail(diag, SHOAL_EINPUT, "submission %s of form %s v%" PRId64 " is invalid: %s", sub,
                    form, version, why);
    goto cleanup;
  }
  if (!(data_text = shoal_json_print(r.data)) || !(tickets_text = shoal_json_print(tickets))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc =
           hub_store_prepare(ctx->db,
                             "INSERT INTO form_submissions (device, epoch, seq, submission, store, "
                             "region, form_id, version, scope, data, tickets, at, at_ms, "
                             "received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, ev->device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, ev->epoch, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 3, ev->seq);
  hub_store_bind_text(st, 4, sub, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 5, store, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 6, region, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 7, form, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 8, version);
  hub_store_bind_text(st, 9, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 10, data_text, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 11, tickets_text, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 12, at, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 13, at_t.unix_ms);
  hub_store_bind_int64(st, 14, shoal_now_ms());
  int s = hub_store_step(st);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(ctx->db, s, "store form submission", diag);
  else if ((rc = hub_media_name(ctx->db, f, r.data, sub, store, diag)) == SHOAL_OK)
    /* SPEC 15: the photos it names may now be uploaded; SPEC 13: the timeline */
    rc = form_on_timeline(ctx, r.data, sub, form, store, at_t.unix_ms, diag);
cleanup:
  hub_store_finalize(st);
  free(data_text);
  free(tickets_text);
  shoal_form_result_cleanup(&r);
  shoal_form_free(f);
  return rc;
}
