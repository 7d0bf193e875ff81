/* agent_forms.c - recording form submissions on the device. The
 * submission, the definition it used, its ticket requests and its outbox
 * event commit together or not at all; a ticket that cannot be opened
 * (e.g. routing data missing) does not lose the submission: the request is
 * kept with its reason so the link can be re-established later. */
#include "agent_forms.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_media.h"
#include "agent_outbox.h"
#include "agent_policy.h"
#include "agent_tickets.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

shoal_err agent_forms_chain(struct agent_ctx *ctx, int64_t now_ms, cJSON *docs[3],
                            struct shoal_scope_chain *scopes, shoal_diag *diag) {
  char *texts[3] = {NULL, NULL, NULL};
  int64_t versions[3];
  for (int i = 0; i < 3; i++)
    docs[i] = NULL;
  agent_policy_scopes(ctx, scopes);
  shoal_err rc = agent_policy_effective(ctx, now_ms, texts, versions, diag);
  for (int i = 0; i < 3 && rc == SHOAL_OK; i++) {
    if (texts[i] && (rc = shoal_json_parse(texts[i], strlen(texts[i]), &docs[i], diag)) != SHOAL_OK)
      shoal_diag_prefix(diag, "cached policy %s v%" PRId64, scopes->scope[i], versions[i]);
  }
  for (int i = 0; i < 3; i++)
    free(texts[i]);
  if (rc != SHOAL_OK)
    agent_forms_chain_free(docs);
  return rc;
}

void agent_forms_chain_free(cJSON *docs[3]) {
  for (int i = 0; i < 3; i++) {
    cJSON_Delete(docs[i]);
    docs[i] = NULL;
  }
}

static shoal_err exec(struct agent_ctx *ctx, const char *sql, shoal_diag *diag) {
  return shoal_db_exec(ctx->db, sql, diag);
}

/* The next submission id: "{device}-F{n}", n from a counter in meta. */
static shoal_err next_id(struct agent_ctx *ctx, char *out, shoal_diag *diag) {
  char buf[32];
  shoal_err rc = agent_meta_get(ctx, "form_seq", buf, sizeof buf, diag);
  if (rc != SHOAL_OK && rc != SHOAL_ENOTFOUND)
    return rc;
  long long n = rc == SHOAL_OK ? strtoll(buf, NULL, 10) + 1 : 1;
  snprintf(buf, sizeof buf, "%lld", n);
  if ((rc = agent_meta_set(ctx, "form_seq", buf, diag)) != SHOAL_OK)
    return rc;
  snprintf(out, AGENT_FORM_SUBMISSION_ID_MAX, "%s-F%lld", ctx->cfg.device, n);
  return SHOAL_OK;
}

/* Stores the definition (once per distinct text) and returns its row id. */
static shoal_err store_def(struct agent_ctx *ctx, const shoal_form *f, const char *scope,
                           int64_t *out, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  char *def = shoal_json_print(shoal_form_def(f));
  shoal_err rc = SHOAL_OK;
  if (!def)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  static const char *const sql[2] = {
      "INSERT OR IGNORE INTO form_defs (form_id, version, scope, def) VALUES (?, ?, ?, ?)",
      "SELECT id FROM form_defs WHERE form_id = ? AND version = ? AND scope = ? AND def = ?"};
  for (int i = 0; i < 2 && rc == SHOAL_OK; i++) {
    if ((rc = shoal_db_prepare(ctx->db, sql[i], &st, diag)) != SHOAL_OK)
      break;
    sqlite3_bind_text(st, 1, shoal_form_id(f), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, shoal_form_version(f));
    sqlite3_bind_text(st, 3, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, def, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (i == 1 && s == SQLITE_ROW)
      *out = sqlite3_column_int64(st, 0);
    else if (s != SQLITE_DONE)
      rc = shoal_db_fail(ctx->db, s, "store form definition", diag);
    sqlite3_finalize(st);
    st = NULL;
  }
  free(def);
  return rc;
}

/* Errors that mean the device itself is in trouble (storage, memory): the
 * whole submission fails rather than being recorded without its ticket. */
static bool fatal_ticket_error(shoal_err e) {
  return e == SHOAL_EDB || e == SHOAL_EFULL || e == SHOAL_ENOMEM || e == SHOAL_EIO;
}

/* Opens the tickets on_submit asks for; requests collects one object per
 * request {idx, category, priority, title, ticket|null, error|null}. */
static shoal_err open_tickets(struct agent_ctx *ctx, const shoal_form *f,
                              const struct shoal_form_result *r, const char *sub_id, cJSON *ids,
                              cJSON *requests, shoal_diag *diag) {
  cJSON *wanted = NULL;
  shoal_err rc = shoal_form_on_submit(f, r, &wanted, diag);
  if (rc != SHOAL_OK)
    return rc;
  int idx = 0;
  const cJSON *t;
  cJSON_ArrayForEach(t, wanted) {
    cJSON *fields = cJSON_Duplicate(t, true);
    cJSON *req = cJSON_Duplicate(t, true);
    cJSON *link = fields ? cJSON_AddObjectToObject(fields, "form") : NULL;
    if (!req || !link || !cJSON_AddStringToObject(link, "id", shoal_form_id(f)) ||
        !cJSON_AddNumberToObject(link, "version", (double)shoal_form_version(f)) ||
        !cJSON_AddStringToObject(link, "submission", sub_id)) {
      cJSON_Delete(fields);
      cJSON_Delete(req);
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      break;
    }
    if (!shoal_json_push(requests, req) || !cJSON_AddNumberToObject(req, "idx", idx++)) {
      cJSON_Delete(fields);
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      break;
    }
    /* A savepoint per ticket: a failed open leaves nothing half-written. */
    if ((rc = exec(ctx, "SAVEPOINT form_ticket", diag)) != SHOAL_OK) {
      cJSON_Delete(fields);
      break;
    }
    char tid[128] = "";
    shoal_diag td = {{0}};
    shoal_err trc = agent_ticket_open_in_tx(ctx, fields, tid, sizeof tid, &td);
    cJSON_Delete(fields);
    if (trc == SHOAL_OK) {
      if ((rc = exec(ctx, "RELEASE form_ticket", diag)) != SHOAL_OK)
        break;
      if (!cJSON_AddStringToObject(req, "ticket", tid) ||
          !shoal_json_push(ids, cJSON_CreateString(tid))) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        break;
      }
      continue;
    }
    shoal_db_exec(ctx->db, "ROLLBACK TO form_ticket", NULL);
    if ((rc = exec(ctx, "RELEASE form_ticket", diag)) != SHOAL_OK)
      break;
    if (fatal_ticket_error(trc)) {
      rc = trc;
      *diag = td;
      shoal_diag_prefix(diag, "open ticket for submission %s", sub_id);
      break;
    }
    shoal_log(&ctx->log, SHOAL_LOG_WARN,
              "submission %s: ticket \"%s\" not opened (%s); the request is kept", sub_id,
              cJSON_GetObjectItemCaseSensitive(t, "title")->valuestring,
              td.msg[0] ? td.msg : shoal_err_str(trc));
    if (!cJSON_AddStringToObject(req, "error", td.msg[0] ? td.msg : shoal_err_str(trc))) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      break;
    }
  }
  cJSON_Delete(wanted);
  return rc;
}

static shoal_err insert_rows(struct agent_ctx *ctx, const shoal_form *f, const char *sub_id,
                             int64_t def_id, const char *data, int64_t at_ms, int64_t seq,
                             const cJSON *requests, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "INSERT INTO form_submissions (id, form_def, form_id, version, "
                                  "data, at_ms, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, def_id);
  sqlite3_bind_text(st, 3, shoal_form_id(f), -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, shoal_form_version(f));
  sqlite3_bind_text(st, 5, data, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, at_ms);
  sqlite3_bind_int64(st, 7, seq);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  if (s != SQLITE_DONE)
    return shoal_db_fail(ctx->db, s, "store form submission", diag);
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO form_ticket_requests (submission, idx, category, "
                             "priority, title, ticket, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             &st, diag)) != SHOAL_OK)
    return rc;
  const cJSON *q;
  cJSON_ArrayForEach(q, requests) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, sub_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)cJSON_GetObjectItemCaseSensitive(q, "idx")->valuedouble);
    static const char *const cols[] = {"category", "priority", "title", "ticket", "error"};
    for (int i = 0; i < 5; i++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, cols[i]);
      if (cJSON_IsString(v))
        sqlite3_bind_text(st, 3 + i, v->valuestring, -1, SQLITE_STATIC);
      else
        sqlite3_bind_null(st, 3 + i);
    }
    if ((s = sqlite3_step(st)) != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "store ticket request", diag);
      break;
    }
  }
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_forms_record(struct agent_ctx *ctx, const shoal_form *f, const char *scope,
                             const struct shoal_form_result *r, char *out_id, cJSON **out_tickets,
                             shoal_diag *diag) {
  shoal_err rc;
  char id[AGENT_FORM_SUBMISSION_ID_MAX];
  char at[SHOAL_TIME_TEXT_MAX];
  char *data = NULL;
  int64_t def_id = 0, seq = 0, now = shoal_now_ms();
  cJSON *ids = cJSON_CreateArray(), *requests = cJSON_CreateArray(), *body = NULL;
  if (!ids || !requests || !(data = shoal_json_print(r->data))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = next_id(ctx, id, diag)) != SHOAL_OK ||
      (rc = store_def(ctx, f, scope, &def_id, diag)) != SHOAL_OK ||
      (rc = open_tickets(ctx, f, r, id, ids, requests, diag)) != SHOAL_OK)
    goto rollback;
  shoal_time_format_utc(now, at, sizeof at);
  body = cJSON_CreateObject();
  cJSON *d = cJSON_Duplicate(r->data, true), *t = cJSON_Duplicate(ids, true);
  if (!body || !d || !t || !cJSON_AddStringToObject(body, "submission", id) ||
      !cJSON_AddStringToObject(body, "form", shoal_form_id(f)) ||
      !cJSON_AddNumberToObject(body, "version", (double)shoal_form_version(f)) ||
      !cJSON_AddStringToObject(body, "region", ctx->cfg.region) ||
      !cJSON_AddStringToObject(body, "store", ctx->cfg.store)) {
    cJSON_Delete(d);
    cJSON_Delete(t);
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto rollback;
  }
  bool put = shoal_json_put(body, "data", d);
  put &= shoal_json_put(body, "tickets", t);
  if (!put || !cJSON_AddStringToObject(body, "at", at)) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto rollback;
  }
  if ((rc = agent_outbox_append(ctx, "form", body, &seq, NULL, diag)) != SHOAL_OK ||
      (rc = insert_rows(ctx, f, id, def_id, data, now, seq, requests, diag)) != SHOAL_OK ||
      (rc = agent_media_link_in_tx(ctx, f, r->data, seq, diag)) != SHOAL_OK ||
      (rc = shoal_db_commit(ctx->db, diag)) != SHOAL_OK)
    goto rollback;
  memcpy(out_id, id, sizeof id);
  *out_tickets = ids;
  ids = NULL;
  goto cleanup;
rollback:
  shoal_db_rollback(ctx->db);
cleanup:
  cJSON_Delete(ids);
  cJSON_Delete(requests);
  cJSON_Delete(body);
  free(data);
  return rc;
}

shoal_err agent_forms_find(cJSON *const docs[3], const char *id, shoal_form **out,
                           size_t *scope_idx, shoal_diag *diag) {
  const cJSON *def = shoal_forms_find((const cJSON *const *)docs, 3, id, 0, scope_idx);
  if (!def)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no form \"%s\" in the policies in effect", id);
  return shoal_form_compile(def, out, diag);
}

shoal_err agent_forms_list_json(cJSON *const docs[3], const struct shoal_scope_chain *scopes,
                                cJSON **out, shoal_diag *diag) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  for (int i = 0; i < 3; i++) {
    const cJSON *forms = docs[i] ? cJSON_GetObjectItemCaseSensitive(docs[i], "forms") : NULL;
    const cJSON *fj;
    cJSON_ArrayForEach(fj, forms) {
      const cJSON *fid = cJSON_GetObjectItemCaseSensitive(fj, "id");
      if (!cJSON_IsString(fid))
        continue;
      const cJSON *e;
      bool seen = false;
      cJSON_ArrayForEach(e, arr) {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(e, "id")->valuestring, fid->valuestring) == 0)
          seen = true;
      }
      if (seen)
        continue;
      size_t idx = 0;
      const cJSON *win = shoal_forms_find((const cJSON *const *)docs, 3, fid->valuestring, 0, &idx);
      cJSON *o = cJSON_CreateObject();
      if (!o || !cJSON_AddItemToArray(arr, o) ||
          !cJSON_AddStringToObject(o, "id", fid->valuestring) ||
          !cJSON_AddItemToObject(
              o, "version",
              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(win, "version"), true)) ||
          !cJSON_AddItemToObject(
              o, "title", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(win, "title"), true)) ||
          !cJSON_AddStringToObject(o, "scope", scopes->scope[idx])) {
        cJSON_Delete(arr);
        return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      }
    }
  }
  *out = arr;
  return SHOAL_OK;
}

shoal_err agent_forms_show_json(cJSON *const docs[3], const struct shoal_scope_chain *scopes,
                                const char *id, cJSON **out, shoal_diag *diag) {
  shoal_form *f = NULL;
  size_t idx = 0;
  shoal_err rc = agent_forms_find(docs, id, &f, &idx, diag);
  if (rc != SHOAL_OK)
    return rc;
  cJSON *o = cJSON_CreateObject();
  cJSON *def = cJSON_Duplicate(shoal_form_def(f), true);
  shoal_form_free(f);
  if (!o || !def || !cJSON_AddStringToObject(o, "scope", scopes->scope[idx])) {
    cJSON_Delete(def);
    cJSON_Delete(o);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if (!shoal_json_put(o, "form", def)) {
    cJSON_Delete(o);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = o;
  return SHOAL_OK;
}
