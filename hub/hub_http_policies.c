/* hub_http_policies.c - SPEC 14 policy lifecycle over HTTP: the newest
 * version per scope, a scope's versions and documents, publish (now or
 * scheduled), rollback as a new version, and the quote preview computed
 * with the shared pricing engine (drafts replace their scopes' documents).
 * Publishing and rollback refuse a scope with a rollout in progress (409):
 * its versions belong to the rollout until it ends. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_http_int.h"
#include "hub_http_policies.h"
#include "hub_publish.h"
#include "hub_rollout.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/pricing.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

#define POLICY_COLS                                                                                \
  "scope, version, effective_at, published_ms, published_by, expires_at, issued_at, rollout, "     \
  "confirmed_ms"

/* Adds the metadata columns (POLICY_COLS order) of st's row to obj; false
 * on OOM. */
static bool add_meta(cJSON *obj, hub_stmt *st) {
  return hub_store_json_add_text(obj, "scope", st, 0) &&
         cJSON_AddNumberToObject(obj, "version", (double)hub_store_column_int64(st, 1)) &&
         hub_store_json_add_text(obj, "effective_at", st, 2) &&
         hub_store_json_add_time(obj, "published_at", st, 3) &&
         hub_store_json_add_text(obj, "published_by", st, 4) &&
         hub_store_json_add_text(obj, "expires_at", st, 5) &&
         hub_store_json_add_text(obj, "issued_at", st, 6) &&
         hub_store_json_add_text(obj, "rollout", st, 7) &&
         cJSON_AddBoolToObject(obj, "confirmed", hub_store_column_type(st, 8) != HUB_STORE_NULL);
}

/* Rows of a metadata query as an array; with_doc adds column 9 as "doc"
 * (parsed). */
static shoal_err meta_rows(hub_store *db, hub_stmt *st, bool with_doc, cJSON **out,
                           shoal_diag *diag) {
  cJSON *arr = cJSON_CreateArray();
  int s = HUB_STORE_DONE;
  shoal_err rc = arr ? SHOAL_OK : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  while (rc == SHOAL_OK && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *row = cJSON_CreateObject();
    if (!shoal_json_push(arr, row) || !add_meta(row, st)) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      break;
    }
    if (with_doc) {
      cJSON *doc = NULL;
      if ((rc = shoal_json_parse((const char *)hub_store_column_text(st, 9),
                                 (size_t)hub_store_column_bytes(st, 9), &doc, diag)) != SHOAL_OK)
        break;
      if (!shoal_json_put(row, "doc", doc)) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        break;
      }
    }
  }
  if (rc == SHOAL_OK && s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "read policies", diag);
  if (rc != SHOAL_OK) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return SHOAL_OK;
}

/* GET /api/v1/policies: the newest version of every scope. */
shoal_err hub_h_policies_list(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(call->db,
                                   "SELECT " POLICY_COLS " FROM policies p WHERE version = "
                                   "(SELECT MAX(version) FROM policies q WHERE q.scope = p.scope) "
                                   "ORDER BY scope",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = meta_rows(call->db, st, false, out, diag);
  hub_store_finalize(st);
  return rc;
}

/* Splits "{scope}[/versions[/{n}]][/rollback]" (the rest of the URL). A
 * path that is a whole valid scope is that scope ("region/versions" is the
 * region named versions). */
struct scope_path {
  char scope[SHOAL_SCOPE_MAX];
  char tail[32]; /* "", "versions", "versions/N", "rollback" */
};

static shoal_err split_scope_path(const char *rest, struct scope_path *sp, shoal_diag *diag) {
  enum shoal_scope_kind kind;
  const char *id;
  shoal_diag ignored;
  memset(sp, 0, sizeof *sp);
  if (strlen(rest) < SHOAL_SCOPE_MAX && shoal_scope_parse(rest, &kind, &id, &ignored) == SHOAL_OK) {
    strcpy(sp->scope, rest);
    return SHOAL_OK;
  }
  static const char *const tails[] = {"/versions/", "/versions", "/rollback"};
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
    const char *at = strstr(rest, tails[i]);
    while (at) {
      size_t sl = (size_t)(at - rest);
      bool whole = i == 0 ? true : at[strlen(tails[i])] == '\0';
      if (whole && sl < SHOAL_SCOPE_MAX) {
        memcpy(sp->scope, rest, sl);
        sp->scope[sl] = '\0';
        if (shoal_scope_parse(sp->scope, &kind, &id, &ignored) == SHOAL_OK &&
            shoal_strlcpy(sp->tail, at + 1, sizeof sp->tail))
          return SHOAL_OK;
      }
      at = strstr(at + 1, tails[i]);
    }
  }
  return shoal_fail(diag, SHOAL_ENOTFOUND,
                    "no such policy path: want {scope}, {scope}/versions, {scope}/versions/{n} "
                    "or {scope}/rollback with scope global, region/R or store/S");
}

static shoal_err parse_version(const char *s, int64_t *out, shoal_diag *diag) {
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < 1)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "version \"%s\" is not a version number", s);
  *out = v;
  return SHOAL_OK;
}

/* One version (with doc) of scope; version 0: the newest. */
static shoal_err one_version(hub_store *db, const char *scope, int64_t version, cJSON **out,
                             shoal_diag *diag) {
  hub_stmt *st = NULL;
  cJSON *arr = NULL;
  shoal_err rc = hub_store_prepare(db,
                                   "SELECT " POLICY_COLS ", doc FROM policies WHERE scope = ?1 "
                                   "AND (?2 = 0 OR version = ?2) ORDER BY version DESC LIMIT 1",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, version);
  rc = meta_rows(db, st, true, &arr, diag);
  hub_store_finalize(st);
  if (rc != SHOAL_OK)
    return rc;
  if (cJSON_GetArraySize(arr) == 0) {
    cJSON_Delete(arr);
    return version ? shoal_fail(diag, SHOAL_ENOTFOUND, "%s has no version %" PRId64, scope, version)
                   : shoal_fail(diag, SHOAL_ENOTFOUND, "%s has no published version", scope);
  }
  *out = cJSON_DetachItemFromArray(arr, 0);
  cJSON_Delete(arr);
  return SHOAL_OK;
}

/* GET /api/v1/policies/{scope}[/versions[/{n}]] */
shoal_err hub_h_policies_scope(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  struct scope_path sp;
  shoal_err rc = split_scope_path(call->rest, &sp, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (sp.tail[0] == '\0')
    return one_version(call->db, sp.scope, 0, out, diag);
  if (strcmp(sp.tail, "versions") == 0) {
    hub_stmt *st = NULL;
    if ((rc = hub_store_prepare(call->db,
                                "SELECT " POLICY_COLS " FROM policies WHERE scope = ? "
                                "ORDER BY version DESC",
                                &st, diag)) != SHOAL_OK)
      return rc;
    hub_store_bind_text(st, 1, sp.scope, -1, HUB_STORE_STATIC);
    rc = meta_rows(call->db, st, false, out, diag);
    hub_store_finalize(st);
    if (rc == SHOAL_OK && cJSON_GetArraySize(*out) == 0) {
      cJSON_Delete(*out);
      *out = NULL;
      return shoal_fail(diag, SHOAL_ENOTFOUND, "%s has no published version", sp.scope);
    }
    return rc;
  }
  if (strncmp(sp.tail, "versions/", 9) == 0) {
    int64_t v = 0;
    if ((rc = parse_version(sp.tail + 9, &v, diag)) != SHOAL_OK)
      return rc;
    return one_version(call->db, sp.scope, v, out, diag);
  }
  return shoal_fail(diag, SHOAL_ENOTFOUND, "no such policy path");
}

/* Publishes doc for the caller (the shared path of publish and rollback). */
static shoal_err publish_as(struct hub_call *call, const char *doc, size_t len,
                            const char *effective_at, const char *expires_at, cJSON **out,
                            shoal_diag *diag) {
  char scope[SHOAL_SCOPE_MAX];
  shoal_err rc = hub_publish_check(doc, len, effective_at, expires_at, scope, diag);
  if (rc != SHOAL_OK)
    return rc;
  snprintf(call->target, sizeof call->target, "%s", scope);
  char active[SHOAL_ID_MAX + 1];
  if ((rc = hub_rollout_active(call->db, scope, active, diag)) != SHOAL_OK)
    return rc;
  if (active[0])
    return shoal_fail(diag, SHOAL_ESTATE,
                      "%s has rollout %s in progress: advance it to the end or abort it first",
                      scope, active);
  struct hub_publish_meta meta = {.published_by = call->user};
  struct hub_published pub = {0};
  if ((rc = hub_publish_record_ex(call->db, &call->ctx->cfg, doc, len, effective_at, expires_at,
                                  &meta, &pub, diag)) != SHOAL_OK)
    return rc;
  snprintf(call->target, sizeof call->target, "%s v%" PRId64, pub.scope, pub.version);
  shoal_log(&call->ctx->log, SHOAL_LOG_INFO, "http: %s published %s version %" PRId64,
            call->user ? call->user : "?", pub.scope, pub.version);
  *out = hub_published_json(&pub);
  hub_published_cleanup(&pub);
  return *out ? SHOAL_OK : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
}

/* POST /api/v1/policies[?effective_at=ISO][&expires_at=ISO]: body a policy document. */
shoal_err hub_h_policies_publish(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  if (!call->body || call->len == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "the body must be a policy document");
  const char *eff = hub_call_arg(call, "effective_at"), *exp = hub_call_arg(call, "expires_at");
  /* An unencoded "+08:00" in a query string arrives as " 08:00". */
  char effb[64], expb[64];
  if (eff && *eff) {
    shoal_strlcpy(effb, eff, sizeof effb);
    for (char *p = effb; *p; p++)
      if (*p == ' ')
        *p = '+';
  }
  if (exp && *exp) {
    shoal_strlcpy(expb, exp, sizeof expb);
    for (char *p = expb; *p; p++)
      if (*p == ' ')
        *p = '+';
  }
  return publish_as(call, call->body, call->len, eff && *eff ? effb : NULL,
                    exp && *exp ? expb : NULL, out, diag);
}

/* POST /api/v1/policies/{scope}/rollback {"to": n} */
shoal_err hub_h_policies_rollback(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  struct scope_path sp;
  cJSON *body = NULL, *old = NULL;
  char *doc = NULL;
  shoal_err rc = split_scope_path(call->rest, &sp, diag);
  if (rc != SHOAL_OK)
    return rc;
  snprintf(call->target, sizeof call->target, "%s", sp.scope);
  if (strcmp(sp.tail, "rollback") != 0)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no such policy path (POST {scope}/rollback)");
  if ((rc = hub_call_json(call, &body, diag)) != SHOAL_OK)
    return rc;
  int64_t to = 0;
  const cJSON *k;
  cJSON_ArrayForEach(k, body) {
    if (strcmp(k->string, "to") != 0) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "unknown key \"%s\" (want {\"to\": version})", k->string);
      goto cleanup;
    }
  }
  if ((rc = shoal_json_get_int(body, "to", true, &to, diag)) != SHOAL_OK)
    goto cleanup;
  if (to < 1) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "\"to\" must be a version >= 1");
    goto cleanup;
  }
  if ((rc = one_version(call->db, sp.scope, to, &old, diag)) != SHOAL_OK) {
    call->status = 404;
    goto cleanup;
  }
  /* The recorded document's exact text, re-signed under a new version. */
  hub_stmt *st = NULL;
  if ((rc = hub_store_prepare(call->db, "SELECT doc FROM policies WHERE scope = ? AND version = ?",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, sp.scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, to);
  if (hub_store_step(st) == HUB_STORE_ROW)
    doc = strdup((const char *)hub_store_column_text(st, 0));
  hub_store_finalize(st);
  if (!doc) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = publish_as(call, doc, strlen(doc), NULL, NULL, out, diag)) == SHOAL_OK &&
      !cJSON_AddNumberToObject(*out, "rolled_back_to", (double)to)) {
    cJSON_Delete(*out);
    *out = NULL;
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
cleanup:
  cJSON_Delete(body);
  cJSON_Delete(old);
  free(doc);
  return rc;
}

/* POST /api/v1/quote {"basket", "drafts"?: [policy documents]} */
shoal_err hub_h_quote(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  cJSON *body = NULL, *current[SHOAL_PRICING_SCOPES] = {NULL};
  struct shoal_basket *b = NULL;
  struct shoal_pricing_model *m = NULL;
  struct shoal_quote *q = NULL;
  shoal_err rc = hub_call_json(call, &body, diag);
  if (rc != SHOAL_OK)
    return rc;
  const cJSON *k;
  cJSON_ArrayForEach(k, body) {
    if (strcmp(k->string, "basket") != 0 && strcmp(k->string, "drafts") != 0) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "unknown key \"%s\" (want basket, drafts)", k->string);
      goto cleanup;
    }
  }
  cJSON *basket = cJSON_GetObjectItemCaseSensitive(body, "basket");
  const cJSON *drafts = cJSON_GetObjectItemCaseSensitive(body, "drafts");
  if (!cJSON_IsObject(basket)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "\"basket\" must be an object (SPEC 5.1)");
    goto cleanup;
  }
  if (drafts && !cJSON_IsArray(drafts)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "\"drafts\" must be an array of policy documents");
    goto cleanup;
  }
  /* A preview without "at" prices now. */
  if (!cJSON_GetObjectItemCaseSensitive(basket, "at")) {
    char now[SHOAL_TIME_TEXT_MAX];
    shoal_time_format_utc(call->now_ms, now, sizeof now);
    if (!cJSON_AddStringToObject(basket, "at", now)) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  if ((rc = shoal_basket_parse(basket, &b, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "basket");
    goto cleanup;
  }
  struct shoal_scope_chain scopes;
  struct shoal_pricing_src chain[SHOAL_PRICING_SCOPES];
  if ((rc = shoal_scope_chain(&scopes, b->region, b->store, diag)) != SHOAL_OK)
    goto cleanup;
  for (int s = 0; s < SHOAL_PRICING_SCOPES; s++)
    chain[s] = (struct shoal_pricing_src){.scope = scopes.scope[s]};
  int i = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, drafts) {
    char scope[SHOAL_SCOPE_MAX];
    if ((rc = shoal_policy_validate_json(d, scope, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "drafts[%d]", i);
      goto cleanup;
    }
    int s = shoal_scope_chain_find(&scopes, scope);
    if (s >= 0) {
      if (chain[s].doc) {
        rc = shoal_fail(diag, SHOAL_EINPUT, "drafts[%d]: a second draft for scope %s", i, scope);
        goto cleanup;
      }
      chain[s].doc = d;
    }
    i++;
  }
  for (int s = 0; s < SHOAL_PRICING_SCOPES; s++) {
    if (chain[s].doc)
      continue;
    if ((rc = hub_policy_in_effect(call->db, scopes.scope[s], call->now_ms, &current[s], diag)) !=
        SHOAL_OK)
      goto cleanup;
    chain[s].doc = current[s];
  }
  if ((rc = shoal_pricing_model_new(chain, SHOAL_PRICING_SCOPES, &m, diag)) != SHOAL_OK ||
      (rc = shoal_pricing_quote(m, b, &q, diag)) != SHOAL_OK) {
    if (rc == SHOAL_ENOTFOUND)
      call->status = 400; /* an unknown SKU is bad input, not a missing route */
    goto cleanup;
  }
  if (!(*out = shoal_quote_to_json(q)))
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
cleanup:
  shoal_quote_free(q);
  shoal_pricing_model_free(m);
  shoal_basket_free(b);
  for (int s = 0; s < SHOAL_PRICING_SCOPES; s++)
    cJSON_Delete(current[s]);
  cJSON_Delete(body);
  return rc;
}
