/* agent_checkout.c - the compiled model, quotes, idempotent durable sales
 * with SPEC 12 receipts, returns with exact refunds, lookups. Invariants:
 * a sale or return, its lines, its idempotency key and its outbox event are
 * written in ONE BEGIN IMMEDIATE transaction (racing lanes serialise; a
 * receipt number is never issued twice); nothing is written on any error;
 * the request_id check runs inside that transaction, so two lanes sending
 * the same key record one sale. */
#include "agent_checkout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_member.h"
#include "agent_outbox.h"
#include "agent_policy.h"
#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/loyalty.h"
#include "shoal/money.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire_payloads.h"

#define KEEP_MIN_MS           (7LL * 24 * 3600 * 1000) /* idempotency keys kept at least */
#define RETURN_BODY_MAX_BYTES (256 * 1024)
#define SNAPSHOT_KEY_MAX      96   /* "g:<v>|r:<v>|s:<v>" of three int64 versions */
#define PRUNE_EVERY_SALES     128  /* expired idempotency keys go every this many sales */
#define RETURN_REASON_MAX     1024 /* a return's "reason", bytes */

struct agent_model {
  struct shoal_pricing_model *pricing;
  struct shoal_checkout_policy policy;
  int64_t versions[SHOAL_PRICING_SCOPES];
  bool partial; /* built for some SKUs only (agent_model_load_skus) */
};

/* ------------------------------------------------------------ model */

static shoal_err model_from_trees(struct agent_ctx *ctx, cJSON *trees[SHOAL_PRICING_SCOPES],
                                  const int64_t versions[SHOAL_PRICING_SCOPES], bool partial,
                                  struct agent_model **out, shoal_diag *diag) {
  struct shoal_scope_chain scopes;
  agent_policy_scopes(ctx, &scopes);
  struct shoal_pricing_src chain[SHOAL_PRICING_SCOPES];
  for (int i = 0; i < SHOAL_PRICING_SCOPES; i++) {
    chain[i].scope = scopes.scope[i];
    chain[i].doc = trees[i];
    chain[i].version = versions[i];
  }
  struct agent_model *m = calloc(1, sizeof *m);
  if (!m)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  const cJSON *docs[SHOAL_PRICING_SCOPES] = {trees[0], trees[1], trees[2]};
  shoal_err rc = shoal_checkout_policy_build(docs, SHOAL_PRICING_SCOPES, &m->policy, diag);
  if (rc == SHOAL_OK)
    rc = shoal_pricing_model_new(chain, SHOAL_PRICING_SCOPES, &m->pricing, diag);
  if (rc != SHOAL_OK) {
    free(m);
    return rc;
  }
  memcpy(m->versions, versions, sizeof m->versions);
  m->partial = partial;
  *out = m;
  return SHOAL_OK;
}

static void free_trees(cJSON *trees[SHOAL_PRICING_SCOPES]) {
  for (int i = 0; i < SHOAL_PRICING_SCOPES; i++) {
    cJSON_Delete(trees[i]);
    trees[i] = NULL;
  }
}

/* Parses the documents in effect (texts from the cache) into trees. */
static shoal_err effective_trees(struct agent_ctx *ctx, int64_t now_ms,
                                 cJSON *trees[SHOAL_PRICING_SCOPES],
                                 int64_t versions[SHOAL_PRICING_SCOPES], shoal_diag *diag) {
  char *docs[3] = {NULL, NULL, NULL};
  struct shoal_scope_chain scopes;
  agent_policy_scopes(ctx, &scopes);
  shoal_err rc = agent_policy_effective(ctx, now_ms, docs, versions, diag);
  for (int i = 0; i < 3 && rc == SHOAL_OK; i++)
    if (docs[i] && (rc = shoal_json_parse(docs[i], strlen(docs[i]), &trees[i], diag)) != SHOAL_OK)
      shoal_diag_prefix(diag, "policy %s", scopes.scope[i]);
  for (int i = 0; i < 3; i++)
    free(docs[i]);
  if (rc != SHOAL_OK)
    free_trees(trees);
  return rc;
}

shoal_err agent_model_load(struct agent_ctx *ctx, int64_t now_ms, struct agent_model **out,
                           shoal_diag *diag) {
  cJSON *trees[SHOAL_PRICING_SCOPES] = {NULL};
  int64_t versions[SHOAL_PRICING_SCOPES] = {0};
  shoal_err rc = effective_trees(ctx, now_ms, trees, versions, diag);
  if (rc == SHOAL_OK)
    rc = model_from_trees(ctx, trees, versions, false, out, diag);
  free_trees(trees);
  return rc;
}

static void snapshot_key(const int64_t v[SHOAL_PRICING_SCOPES], char out[SNAPSHOT_KEY_MAX]) {
  snprintf(out, SNAPSHOT_KEY_MAX, "g:%lld|r:%lld|s:%lld", (long long)v[0], (long long)v[1],
           (long long)v[2]);
}

/* Rewrites the snapshot from trees (which lose their "items" here). */
static shoal_err snapshot_write(struct agent_ctx *ctx, const char *key,
                                cJSON *trees[SHOAL_PRICING_SCOPES], shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  sqlite3_stmt *st = NULL, *it = NULL;
  cJSON *items[SHOAL_PRICING_SCOPES] = {NULL};
  char *text = NULL;
  bool in_tx = false;
  for (int i = 0; i < SHOAL_PRICING_SCOPES; i++)
    if (trees[i])
      items[i] = cJSON_DetachItemFromObjectCaseSensitive(trees[i], "items");
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = shoal_db_exec(ctx->db, "DELETE FROM model_snapshot; DELETE FROM model_snapshot_items",
                          diag)) != SHOAL_OK ||
      (rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO model_snapshot (scope_idx, key, doc) VALUES (?, ?, ?)",
                             &st, diag)) != SHOAL_OK ||
      (rc = shoal_db_prepare(ctx->db,
                             "INSERT OR REPLACE INTO model_snapshot_items (sku, scope_idx, item) "
                             "VALUES (?, ?, ?)",
                             &it, diag)) != SHOAL_OK)
    goto cleanup;
  for (int i = 0; i < SHOAL_PRICING_SCOPES; i++) {
    text = trees[i] ? shoal_json_print(trees[i]) : NULL;
    if (trees[i] && !text) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    sqlite3_reset(st);
    sqlite3_bind_int(st, 1, i);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (text)
      sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 3);
    int s = sqlite3_step(st);
    free(text);
    text = NULL;
    if (s != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "write model snapshot", diag);
      goto cleanup;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, items[i]) {
      const cJSON *sku = cJSON_GetObjectItemCaseSensitive(e, "sku");
      if (!cJSON_IsString(sku))
        continue;
      if (!(text = shoal_json_print(e))) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        goto cleanup;
      }
      sqlite3_reset(it);
      sqlite3_bind_text(it, 1, sku->valuestring, -1, SQLITE_STATIC);
      sqlite3_bind_int(it, 2, i);
      sqlite3_bind_text(it, 3, text, -1, SQLITE_STATIC);
      s = sqlite3_step(it);
      free(text);
      text = NULL;
      if (s != SQLITE_DONE) {
        rc = shoal_db_fail(ctx->db, s, "write model snapshot item", diag);
        goto cleanup;
      }
    }
  }
  if ((rc = shoal_db_commit(ctx->db, diag)) == SHOAL_OK)
    in_tx = false;
cleanup:
  sqlite3_finalize(st);
  sqlite3_finalize(it);
  if (in_tx)
    shoal_db_rollback(ctx->db);
  for (int i = 0; i < SHOAL_PRICING_SCOPES; i++) {
    /* The trees are the caller's model: without their items they are wrong. */
    if (trees[i] && items[i]) {
      if (!shoal_json_put(trees[i], "items", items[i]) && rc == SHOAL_OK)
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    } else {
      cJSON_Delete(items[i]);
    }
  }
  return rc;
}

/* Reads the snapshot for key with only the named SKUs' items. *hit false
 * when the snapshot holds another key (or none). */
static shoal_err snapshot_read(struct agent_ctx *ctx, const char *key, const char *const *skus,
                               size_t nskus, cJSON *trees[SHOAL_PRICING_SCOPES], bool *hit,
                               shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  sqlite3_stmt *st = NULL;
  bool in_tx = false;
  int found = 0;
  *hit = false;
  /* One read transaction: documents and items from the same snapshot. */
  if ((rc = shoal_db_exec(ctx->db, "BEGIN", diag)) != SHOAL_OK)
    return rc;
  in_tx = true;
  if ((rc = shoal_db_prepare(ctx->db, "SELECT scope_idx, key, doc FROM model_snapshot", &st,
                             diag)) != SHOAL_OK)
    goto cleanup;
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    int i = sqlite3_column_int(st, 0);
    const char *k = (const char *)sqlite3_column_text(st, 1);
    if (i < 0 || i >= SHOAL_PRICING_SCOPES || !k || strcmp(k, key) != 0)
      goto cleanup; /* stale: the caller rebuilds */
    found++;
    const char *doc = (const char *)sqlite3_column_text(st, 2);
    if (doc && (rc = shoal_json_parse(doc, strlen(doc), &trees[i], diag)) != SHOAL_OK)
      goto cleanup;
    if (trees[i] && !cJSON_AddArrayToObject(trees[i], "items")) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  if (s != SQLITE_DONE) {
    rc = shoal_db_fail(ctx->db, s, "read model snapshot", diag);
    goto cleanup;
  }
  if (found != SHOAL_PRICING_SCOPES)
    goto cleanup;
  sqlite3_finalize(st);
  if ((rc = shoal_db_prepare(ctx->db,
                             "SELECT scope_idx, item FROM model_snapshot_items WHERE sku = ?", &st,
                             diag)) != SHOAL_OK)
    goto cleanup;
  for (size_t k = 0; k < nskus; k++) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, skus[k], -1, SQLITE_STATIC);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
      int i = sqlite3_column_int(st, 0);
      const char *txt = (const char *)sqlite3_column_text(st, 1);
      cJSON *item = NULL;
      if (i < 0 || i >= SHOAL_PRICING_SCOPES || !trees[i] || !txt)
        continue;
      if ((rc = shoal_json_parse(txt, strlen(txt), &item, diag)) != SHOAL_OK)
        goto cleanup;
      cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(trees[i], "items"), item);
    }
    if (s != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "read model snapshot items", diag);
      goto cleanup;
    }
  }
  *hit = true;
cleanup:
  sqlite3_finalize(st);
  if (in_tx)
    shoal_db_rollback(ctx->db);
  if (rc != SHOAL_OK || !*hit)
    free_trees(trees);
  return rc;
}

shoal_err agent_model_load_skus(struct agent_ctx *ctx, int64_t now_ms, const char *const *skus,
                                size_t nskus, struct agent_model **out, shoal_diag *diag) {
  cJSON *trees[SHOAL_PRICING_SCOPES] = {NULL};
  int64_t versions[SHOAL_PRICING_SCOPES] = {0};
  char key[SNAPSHOT_KEY_MAX];
  bool hit = false;
  shoal_err rc = agent_policy_effective_versions(ctx, now_ms, versions, diag);
  if (rc != SHOAL_OK)
    return rc;
  snapshot_key(versions, key);
  if ((rc = snapshot_read(ctx, key, skus, nskus, trees, &hit, diag)) != SHOAL_OK)
    return rc;
  if (hit) {
    rc = model_from_trees(ctx, trees, versions, true, out, diag);
    free_trees(trees);
    return rc;
  }
  /* Miss: build from the documents (which also validates them) and leave a
   * snapshot for the next call. A failed snapshot write costs only speed. */
  if ((rc = effective_trees(ctx, now_ms, trees, versions, diag)) != SHOAL_OK)
    return rc;
  rc = model_from_trees(ctx, trees, versions, false, out, diag);
  if (rc == SHOAL_OK) {
    shoal_diag ignore;
    snapshot_key(versions, key);
    if (snapshot_write(ctx, key, trees, &ignore) != SHOAL_OK)
      shoal_log(&ctx->log, SHOAL_LOG_DEBUG, "model snapshot not written: %s", ignore.msg);
  }
  free_trees(trees);
  return rc;
}

void agent_model_free(struct agent_model *m) {
  if (!m)
    return;
  shoal_pricing_model_free(m->pricing);
  free(m);
}

void agent_model_versions(const struct agent_model *m, int64_t versions[SHOAL_PRICING_SCOPES]) {
  memcpy(versions, m->versions, sizeof m->versions);
}

shoal_err agent_model_changed(struct agent_ctx *ctx, const struct agent_model *m, int64_t now_ms,
                              bool *changed, shoal_diag *diag) {
  int64_t v[SHOAL_PRICING_SCOPES] = {0};
  shoal_err rc = agent_policy_effective_versions(ctx, now_ms, v, diag);
  if (rc == SHOAL_OK)
    *changed = memcmp(v, m->versions, sizeof v) != 0;
  return rc;
}

const struct shoal_pricing_model *agent_model_pricing(const struct agent_model *m) {
  return m->pricing;
}

const struct shoal_checkout_policy *agent_model_policy(const struct agent_model *m) {
  return &m->policy;
}

/* ------------------------------------------------------------ helpers */

static shoal_err oom(shoal_diag *diag) {
  return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
}

/* A basket priced here must be for this device's region and store. */
static shoal_err check_device(const struct agent_ctx *ctx, const struct shoal_basket *b,
                              shoal_diag *diag) {
  if (strcmp(b->region, ctx->cfg.region) != 0)
    return shoal_fail(diag, SHOAL_ESCOPE, "basket region \"%s\" is not this device's region \"%s\"",
                      b->region, ctx->cfg.region);
  if (strcmp(b->store, ctx->cfg.store) != 0)
    return shoal_fail(diag, SHOAL_ESCOPE, "basket store \"%s\" is not this device's store \"%s\"",
                      b->store, ctx->cfg.store);
  return SHOAL_OK;
}

/* Sets the basket's time to now in the store's offset (SPEC 12), keeping
 * the text in the basket's own tree. */
static shoal_err stamp_now(struct shoal_basket *b, int64_t now_ms, int offset_min,
                           shoal_diag *diag) {
  char at[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_local(now_ms, offset_min, at, sizeof at);
  cJSON *v = cJSON_CreateString(at);
  if (!v)
    return oom(diag);
  /* Not cJSON_ReplaceItemInObject: cJSON 1.7.15 links the item without a
   * name when copying the key fails (see shared/ticket.c replace_str). */
  cJSON_DeleteItemFromObjectCaseSensitive(b->json, "at");
  if (!shoal_json_put(b->json, "at", v))
    return oom(diag);
  b->at_text = v->valuestring;
  b->at.unix_ms = now_ms;
  b->at.offset_min = offset_min;
  b->has_at = true;
  return SHOAL_OK;
}

/* Sorts every object's members by key, recursively (insertion sort on the
 * linked list: bodies are small and keys are unique, the parser refuses
 * duplicates). */
static void json_sort_keys(cJSON *j) {
  for (cJSON *c = j ? j->child : NULL; c; c = c->next)
    json_sort_keys(c);
  if (!cJSON_IsObject(j) || !j->child)
    return;
  cJSON *sorted = NULL;
  for (cJSON *c = j->child, *next; c; c = next) {
    next = c->next;
    cJSON **at = &sorted, *prev = NULL;
    while (*at && strcmp((*at)->string, c->string) < 0) {
      prev = *at;
      at = &(*at)->next;
    }
    c->next = *at;
    c->prev = prev;
    if (*at)
      (*at)->prev = c;
    *at = c;
  }
  cJSON *last = sorted;
  while (last->next)
    last = last->next;
  sorted->prev = last; /* cJSON: the first child's prev is the last one */
  j->child = sorted;
}

/* sha256 hex of the canonical JSON of a request body: re-printed with
 * every object's keys sorted, so a retry that sends the same basket with
 * its keys in another order or other whitespace is the same body. */
static shoal_err body_hash(const cJSON *j, char out[SHOAL_SHA256_HEX_MAX], shoal_diag *diag) {
  cJSON *c = cJSON_Duplicate(j, true);
  if (!c)
    return oom(diag);
  json_sort_keys(c);
  char *t = shoal_json_print(c);
  cJSON_Delete(c);
  if (!t)
    return oom(diag);
  shoal_sha256_hex(t, strlen(t), out);
  free(t);
  return SHOAL_OK;
}

/* Inside the caller's transaction: looks a request key up. SHOAL_OK with
 * *result (caller frees) when the same body was seen; SHOAL_ENOTFOUND when
 * the key is new; SHOAL_ECONFLICT when it was used with another body. */
static shoal_err request_find(struct agent_ctx *ctx, const char *key, const char *kind,
                              const char *hash, cJSON **result, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      ctx->db, "SELECT kind, body_hash, result FROM requests WHERE key = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_DONE) {
    rc = SHOAL_ENOTFOUND;
  } else if (s != SQLITE_ROW) {
    rc = shoal_db_fail(ctx->db, s, "read request key", diag);
  } else if (strcmp((const char *)sqlite3_column_text(st, 0), kind) != 0 ||
             strcmp((const char *)sqlite3_column_text(st, 1), hash) != 0) {
    rc = shoal_fail(diag, SHOAL_ECONFLICT,
                    "request_id \"%s\" was already used for another %s request", key,
                    (const char *)sqlite3_column_text(st, 0));
  } else {
    const char *t = (const char *)sqlite3_column_text(st, 2);
    rc = shoal_json_parse(t, strlen(t), result, diag);
  }
  sqlite3_finalize(st);
  return rc;
}

static shoal_err request_store(struct agent_ctx *ctx, const char *key, const char *kind,
                               const char *hash, const char *result, int64_t now_ms,
                               shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "INSERT INTO requests (key, kind, body_hash, result, created_ms) "
                                  "VALUES (?, ?, ?, ?, ?)",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, result, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, now_ms);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "record request key", diag);
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_checkout_prune(struct agent_ctx *ctx, int64_t now_ms, int64_t keep_ms,
                               shoal_diag *diag) {
  if (keep_ms < KEEP_MIN_MS)
    keep_ms = KEEP_MIN_MS;
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db, "DELETE FROM requests WHERE created_ms < ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, now_ms - keep_ms);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "prune request keys", diag);
  sqlite3_finalize(st);
  return rc;
}

/* Advances a receipt counter table (sale_counter, return_counter) inside
 * the caller's transaction and reads the new value. */
static shoal_err counter_next(struct agent_ctx *ctx, const char *table, int64_t *n,
                              shoal_diag *diag) {
  char sql[96];
  snprintf(sql, sizeof sql, "UPDATE %s SET last = last + 1 WHERE id = 1", table);
  shoal_err rc = shoal_db_exec(ctx->db, sql, diag);
  if (rc != SHOAL_OK)
    return rc;
  snprintf(sql, sizeof sql, "SELECT last FROM %s WHERE id = 1", table);
  return shoal_db_query_int(ctx->db, sql, 0, n, diag);
}

/* Inside the caller's transaction: SHOAL_OK with *done set and *out the
 * first result when key was seen with this body (a replay); SHOAL_OK with
 * *done false when the key is new (or NULL); SHOAL_ECONFLICT otherwise. */
static shoal_err replay_check(struct agent_ctx *ctx, const char *key, const char *kind,
                              const char *hash, cJSON **out, bool *done, shoal_diag *diag) {
  *done = false;
  if (!key)
    return SHOAL_OK;
  shoal_err rc = request_find(ctx, key, kind, hash, out, diag);
  if (rc == SHOAL_OK)
    *done = true;
  return rc == SHOAL_ENOTFOUND ? SHOAL_OK : rc;
}

/* YYYYMMDD of a local time. */
static void local_date(int64_t unix_ms, int offset_min, char out[9]) {
  char iso[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_utc_s(unix_ms + (int64_t)offset_min * 60000, iso, sizeof iso);
  memcpy(out, iso, 4);
  memcpy(out + 4, iso + 5, 2);
  memcpy(out + 6, iso + 8, 2);
  out[8] = '\0';
}

/* ------------------------------------------------------------ quotes */

/* The SPEC 5.3 object of q plus per line "name" and "tax", and
 * "tax_total". */
static shoal_err quote_json(const struct agent_model *m, const struct shoal_quote *q, cJSON **out,
                            int64_t *tax_total_out, shoal_diag *diag) {
  cJSON *o = shoal_quote_to_json(q);
  if (!o)
    return oom(diag);
  cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "lines");
  int64_t tax_total = 0;
  size_t i = 0;
  cJSON *l;
  cJSON_ArrayForEach(l, lines) {
    const char *name = NULL, *barcode = NULL;
    int64_t tax_bp = 0;
    shoal_pricing_item_info(m->pricing, q->lines[i].sku, &name, NULL, NULL);
    shoal_pricing_item_checkout(m->pricing, q->lines[i].sku, &barcode, &tax_bp);
    int64_t tax = shoal_tax_included(q->lines[i].total, tax_bp);
    tax_total += tax;
    cJSON *nm = name ? cJSON_CreateString(name) : cJSON_CreateNull();
    if (!nm || !cJSON_AddItemToObject(l, "name", nm) ||
        !cJSON_AddNumberToObject(l, "tax_bp", (double)tax_bp) ||
        !cJSON_AddNumberToObject(l, "tax", (double)tax)) {
      cJSON_Delete(o);
      return oom(diag);
    }
    i++;
  }
  if (!cJSON_AddNumberToObject(o, "tax_total", (double)tax_total)) {
    cJSON_Delete(o);
    return oom(diag);
  }
  *tax_total_out = tax_total;
  *out = o;
  return SHOAL_OK;
}

/* Parse, check the device, stamp "at" if absent, price. */
static shoal_err price_basket(struct agent_ctx *ctx, const struct agent_model *m, const char *body,
                              size_t len, int64_t now_ms, struct shoal_basket **bout,
                              struct shoal_quote **qout, shoal_diag *diag) {
  struct shoal_basket *b = NULL;
  struct shoal_member_code code;
  bool has_code = false;
  char *member_text = NULL;
  /* A quote with a member code prices with the member's tier and tags. */
  shoal_err rc = agent_member_apply(ctx, body, len, now_ms, &member_text, &code, &has_code, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (member_text) {
    body = member_text;
    len = strlen(member_text);
  }
  rc = shoal_basket_parse_text(body, len, &b, diag);
  free(member_text);
  if (rc == SHOAL_OK)
    rc = check_device(ctx, b, diag);
  if (rc == SHOAL_OK && (b->member_code || b->redeem_points))
    rc = shoal_fail(diag, SHOAL_EINPUT,
                    "basket: \"member_code\"/\"redeem_points\" cannot be verified on this agent "
                    "yet (loyalty is not available); quote without them");
  if (rc == SHOAL_OK && !b->has_at)
    rc = stamp_now(b, now_ms, m->policy.utc_offset_min, diag);
  if (rc == SHOAL_OK && (rc = shoal_pricing_quote(m->pricing, b, qout, diag)) == SHOAL_ENOTFOUND)
    rc = SHOAL_EINPUT; /* an unknown SKU inside a basket is invalid input (422), not a 404 */
  if (rc != SHOAL_OK) {
    shoal_basket_free(b);
    return rc;
  }
  *bout = b;
  return SHOAL_OK;
}

shoal_err agent_checkout_quote(struct agent_ctx *ctx, const struct agent_model *m, const char *body,
                               size_t len, int64_t now_ms, cJSON **out, shoal_diag *diag) {
  struct shoal_basket *b = NULL;
  struct shoal_quote *q = NULL;
  int64_t tax_total = 0;
  shoal_err rc = price_basket(ctx, m, body, len, now_ms, &b, &q, diag);
  if (rc == SHOAL_OK)
    rc = quote_json(m, q, out, &tax_total, diag);
  shoal_quote_free(q);
  shoal_basket_free(b);
  return rc;
}

/* ------------------------------------------------------------ sales */

/* Prepends key/value pairs in SPEC order: returns false on OOM. */
static bool add_str(cJSON *o, const char *k, const char *v) {
  return cJSON_AddStringToObject(o, k, v) != NULL;
}

cJSON *agent_checkout_return_event(const struct agent_ctx *ctx, const cJSON *out,
                                   const char *sale_at) {
  cJSON *ev = NULL;
  shoal_diag ignore = {{0}}; /* the one failure is out of memory: NULL says it */
  if (shoal_return_body_encode(out, ctx->cfg.store, ctx->cfg.region, sale_at, &ev, &ignore) !=
      SHOAL_OK)
    return NULL;
  return ev;
}

/* The receipt (SPEC 12) from the priced quote object qj (consumed). */
static cJSON *receipt_json(struct agent_ctx *ctx, const struct shoal_basket *b, cJSON *qj,
                           const char *id, const struct shoal_payment *pay, size_t npay,
                           int64_t change) {
  cJSON *r = cJSON_CreateObject();
  bool ok = r && add_str(r, "id", id) && add_str(r, "store", b->store) &&
            add_str(r, "region", b->region) && add_str(r, "device", ctx->cfg.device) &&
            add_str(r, "at", b->at_text) && add_str(r, "channel", b->channel) &&
            (!b->cashier || add_str(r, "cashier", b->cashier));
  static const char *const keys[] = {"currency", "subtotal", "discount", "rounding", "total",
                                     "lines",    "applied",  "coupons",  "tax_total"};
  for (size_t i = 0; ok && i < sizeof keys / sizeof keys[0]; i++) {
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(qj, keys[i]);
    ok = v && cJSON_AddItemToObject(r, keys[i], v);
  }
  cJSON *p = ok ? shoal_payments_to_json(pay, npay) : NULL;
  ok = p && cJSON_AddItemToObject(r, "payments", p);
  if (!ok)
    cJSON_Delete(p);
  ok = ok && cJSON_AddNumberToObject(r, "change", (double)change);
  cJSON_Delete(qj);
  if (!ok) {
    cJSON_Delete(r);
    return NULL;
  }
  return r;
}

/* The "sale" event body (shoal_sale_body_encode): the receipt plus
 * "receipt" (its id, for the hub), customer, policy versions and the
 * member code's nonce (when one was presented). NULL when out of memory. */
static cJSON *sale_event(struct agent_ctx *ctx, const struct agent_model *m,
                         const struct shoal_basket *b, const cJSON *receipt,
                         const char *member_nonce) {
  struct shoal_scope_chain scopes;
  agent_policy_scopes(ctx, &scopes);
  const char *names[SHOAL_PRICING_SCOPES] = {scopes.scope[0], scopes.scope[1], scopes.scope[2]};
  cJSON *body = NULL;
  shoal_diag ignore = {{0}};
  if (shoal_sale_body_encode(receipt, b->customer, names, m->versions, SHOAL_PRICING_SCOPES,
                             member_nonce, &body, &ignore) != SHOAL_OK)
    return NULL;
  return body;
}

/* Inserts the sale row and its lines (inside the caller's transaction). */
static shoal_err sale_rows(struct agent_ctx *ctx, const struct shoal_basket *b,
                           const struct shoal_quote *q, const char *id, int64_t n, int64_t seq,
                           int64_t now_ms, const char *event_text, const char *receipt_text,
                           shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      ctx->db,
      "INSERT INTO sales (receipt, n, at, at_ms, region, store, currency, subtotal, discount, "
      "rounding, total, customer_id, outbox_seq, created_ms, body, receipt_json) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  const cJSON *cid = b->customer ? cJSON_GetObjectItemCaseSensitive(b->customer, "id") : NULL;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, n);
  sqlite3_bind_text(st, 3, b->at_text, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, b->at.unix_ms);
  sqlite3_bind_text(st, 5, b->region, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, b->store, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, q->currency, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, q->subtotal);
  sqlite3_bind_int64(st, 9, q->discount);
  sqlite3_bind_int64(st, 10, q->rounding);
  sqlite3_bind_int64(st, 11, q->total);
  if (cJSON_IsString(cid))
    sqlite3_bind_text(st, 12, cid->valuestring, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 12);
  sqlite3_bind_int64(st, 13, seq);
  sqlite3_bind_int64(st, 14, now_ms);
  sqlite3_bind_text(st, 15, event_text, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 16, receipt_text, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (s != SQLITE_DONE)
    return shoal_db_fail(ctx->db, s, "record sale", diag);
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO sale_lines (receipt, line_no, sku, qty, base_price, "
                             "unit_price, discount, total) VALUES (?,?,?,?,?,?,?,?)",
                             &st, diag)) != SHOAL_OK)
    return rc;
  for (size_t i = 0; i < q->nlines && rc == SHOAL_OK; i++) {
    const struct shoal_quote_line *l = &q->lines[i];
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)i + 1);
    sqlite3_bind_text(st, 3, l->sku, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, l->qty);
    sqlite3_bind_int64(st, 5, l->base_price);
    sqlite3_bind_int64(st, 6, l->unit_price);
    sqlite3_bind_int64(st, 7, l->discount);
    sqlite3_bind_int64(st, 8, l->total);
    if ((s = sqlite3_step(st)) != SQLITE_DONE)
      rc = shoal_db_fail(ctx->db, s, "record sale line", diag);
  }
  sqlite3_finalize(st);
  return rc;
}

/* redeem_points (SPEC 13): at most the code's points, with a loyalty
 * policy, worth redeem x loyalty.redeem_value and not more than the total. */
static shoal_err member_redeem(const struct agent_model *m, const struct shoal_basket *b,
                               const struct shoal_member_code *code, int64_t total, int64_t *redeem,
                               int64_t *paid, shoal_diag *diag) {
  *redeem = *paid = 0;
  if (!b->redeem_points)
    return SHOAL_OK;
  if (!shoal_json_is_int(b->redeem_points) || shoal_json_int(b->redeem_points) < 0)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"redeem_points\" must be an integer >= 0");
  *redeem = shoal_json_int(b->redeem_points);
  if (!code)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"redeem_points\" needs a \"member_code\"");
  if (*redeem > code->points)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "basket: redeem_points %lld is more than the member code's %lld points",
                      (long long)*redeem, (long long)code->points);
  if (*redeem > 0 && !m->policy.has_loyalty)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: no \"loyalty\" policy: points cannot pay");
  if (__builtin_mul_overflow(*redeem, m->policy.redeem_value, paid))
    return shoal_fail(diag, SHOAL_EINPUT, "basket: %lld points are worth more than the total %lld",
                      (long long)*redeem, (long long)total);
  if (*paid > total)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "basket: %lld points are worth %lld, more than the total %lld",
                      (long long)*redeem, (long long)*paid, (long long)total);
  return SHOAL_OK;
}

/* Given payments carry the points payment exactly when points are redeemed. */
static shoal_err member_payments_check(const struct shoal_payment *pay, size_t npay,
                                       int64_t points_paid, shoal_diag *diag) {
  int64_t got = 0;
  for (size_t i = 0; i < npay; i++)
    if (strcmp(pay[i].method, "points") == 0)
      got += pay[i].amount;
  if (got != points_paid)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "basket: the \"points\" payment is %lld but redeem_points are worth %lld",
                      (long long)got, (long long)points_paid);
  return SHOAL_OK;
}

/* The receipt's member block {id, tier, points_earned, points_redeemed}. */
static bool member_block(cJSON *r, const struct shoal_member_code *code,
                         const struct agent_model *m, int64_t total, int64_t points_paid,
                         int64_t redeem) {
  struct shoal_loyalty l = {m->policy.earn_per, m->policy.redeem_value, 0, 0};
  int64_t earned = m->policy.has_loyalty ? shoal_loyalty_earned(&l, total, points_paid) : 0;
  cJSON *mb = cJSON_CreateObject();
  bool ok = mb && cJSON_AddStringToObject(mb, "id", code->customer) &&
            (code->tier[0] ? cJSON_AddStringToObject(mb, "tier", code->tier)
                           : cJSON_AddNullToObject(mb, "tier")) &&
            cJSON_AddNumberToObject(mb, "points_earned", (double)earned) &&
            cJSON_AddNumberToObject(mb, "points_redeemed", (double)redeem);
  if (!ok || !cJSON_AddItemToObject(r, "member", mb)) {
    cJSON_Delete(mb);
    return false;
  }
  return true;
}

/* Checks a sale's basket beyond pricing: request_id, lines, member code,
 * the 10-minute clock window; stamps the time. */
static shoal_err sale_precheck(const struct agent_model *m, struct shoal_basket *b,
                               bool require_request_id, int64_t now_ms, shoal_diag *diag) {
  if (require_request_id && !b->request_id)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: a sale needs a \"request_id\"");
  if (b->nlines == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: a sale needs at least one line");
  if (b->redeem_points && !b->member_code)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"redeem_points\" needs a \"member_code\"");
  if (b->has_at) {
    int64_t d = b->at.unix_ms - now_ms;
    if (d > SHOAL_SALE_SKEW_MS || d < -SHOAL_SALE_SKEW_MS) {
      char dev[SHOAL_TIME_TEXT_MAX];
      shoal_time_format_local(now_ms, m->policy.utc_offset_min, dev, sizeof dev);
      return shoal_fail(diag, SHOAL_EINPUT,
                        "basket: \"at\" %s is more than 10 minutes from the device clock %s",
                        b->at_text, dev);
    }
  }
  return stamp_now(b, now_ms, m->policy.utc_offset_min, diag);
}

/* The sale's payments: as the basket gives them, or (none given) points
 * for what the member redeems and cash for the rest; checked against the
 * policy's methods and the total, *change set. */
static shoal_err sale_payments(const struct agent_model *m, const struct shoal_basket *b,
                               int64_t total, int64_t points_paid,
                               struct shoal_payment pay[SHOAL_PAYMENT_METHODS_MAX], size_t *npay,
                               int64_t *change, shoal_diag *diag) {
  shoal_err rc;
  *npay = 0;
  if (b->payments) {
    if ((rc = shoal_payments_parse(b->payments, "basket: payments", pay, npay, diag)) != SHOAL_OK ||
        (rc = member_payments_check(pay, *npay, points_paid, diag)) != SHOAL_OK)
      return rc;
  } else if (points_paid > 0) {
    shoal_strlcpy(pay[0].method, "points", sizeof pay[0].method);
    pay[0].amount = points_paid;
    *npay = 1;
    if (total > points_paid) {
      shoal_strlcpy(pay[1].method, "cash", sizeof pay[1].method);
      pay[1].amount = total - points_paid;
      *npay = 2;
    }
  } else if (total > 0) {
    shoal_strlcpy(pay[0].method, "cash", sizeof pay[0].method);
    pay[0].amount = total;
    *npay = 1;
  }
  if (*npay &&
      (rc = shoal_payments_check(&m->policy, pay, *npay, total, change, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "basket");
    return rc;
  }
  if (!*npay && total > 0)
    return shoal_fail(diag, SHOAL_EINPUT, "basket: \"payments\" is empty but the total is %lld",
                      (long long)total);
  return SHOAL_OK;
}

shoal_err agent_checkout_sale(struct agent_ctx *ctx, const struct agent_model *m, const char *body,
                              size_t len, bool require_request_id, int64_t now_ms, cJSON **receipt,
                              bool *replayed, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct shoal_basket *b = NULL;
  struct shoal_quote *q = NULL;
  cJSON *qj = NULL, *r = NULL, *ev = NULL, *prior = NULL;
  char *ev_text = NULL, *r_text = NULL;
  bool in_tx = false, done = false;
  char hash[SHOAL_SHA256_HEX_MAX], id[AGENT_RECEIPT_ID_MAX], date[9];
  struct shoal_payment pay[SHOAL_PAYMENT_METHODS_MAX];
  size_t npay = 0;
  int64_t change = 0, tax_total = 0, n = 0, seq = 0;
  struct shoal_member_code code;
  bool has_code = false;
  char *member_text = NULL;
  int64_t redeem = 0, points_paid = 0;

  /* A member code names the customer (tier and tag rules apply). */
  if ((rc = agent_member_apply(ctx, body, len, now_ms, &member_text, &code, &has_code, diag)))
    goto cleanup;
  if (member_text) {
    body = member_text;
    len = strlen(member_text);
  }
  if ((rc = shoal_basket_parse_text(body, len, &b, diag)) != SHOAL_OK ||
      (rc = check_device(ctx, b, diag)) != SHOAL_OK)
    goto cleanup;
  /* Idempotency compares the body as the till sent it, before stamping. */
  if ((rc = body_hash(b->json, hash, diag)) != SHOAL_OK ||
      (rc = sale_precheck(m, b, require_request_id, now_ms, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_pricing_quote(m->pricing, b, &q, diag)) != SHOAL_OK) {
    if (rc == SHOAL_ENOTFOUND)
      rc = SHOAL_EINPUT;
    goto cleanup;
  }
  if ((rc = member_redeem(m, b, has_code ? &code : NULL, q->total, &redeem, &points_paid, diag)) !=
      SHOAL_OK)
    goto cleanup;
  if ((rc = sale_payments(m, b, q->total, points_paid, pay, &npay, &change, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = quote_json(m, q, &qj, &tax_total, diag)) != SHOAL_OK)
    goto cleanup;

  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = replay_check(ctx, b->request_id, "sale", hash, &prior, &done, diag)) != SHOAL_OK)
    goto cleanup;
  if (done) { /* a replay: the first receipt, nothing recorded */
    if (replayed)
      *replayed = true;
    *receipt = prior;
    prior = NULL;
    goto cleanup;
  }
  if ((rc = counter_next(ctx, "sale_counter", &n, diag)) != SHOAL_OK)
    goto cleanup;
  local_date(b->at.unix_ms, b->at.offset_min, date);
  snprintf(id, sizeof id, "%s-%s-%lld", ctx->cfg.device, date, (long long)n);
  r = receipt_json(ctx, b, qj, id, pay, npay, change);
  qj = NULL;
  if (r && has_code && !member_block(r, &code, m, q->total, points_paid, redeem)) {
    rc = oom(diag);
    goto cleanup;
  }
  if (has_code && (rc = agent_member_record(ctx, &code, id, redeem, now_ms, diag)) != SHOAL_OK)
    goto cleanup;
  if (!r || !(ev = sale_event(ctx, m, b, r, has_code ? code.nonce : NULL)) ||
      !(ev_text = shoal_json_print(ev)) || !(r_text = shoal_json_print(r))) {
    rc = oom(diag);
    goto cleanup;
  }
  if ((rc = agent_outbox_append(ctx, "sale", ev, &seq, NULL, diag)) != SHOAL_OK ||
      (rc = sale_rows(ctx, b, q, id, n, seq, now_ms, ev_text, r_text, diag)) != SHOAL_OK ||
      (b->request_id &&
       (rc = request_store(ctx, b->request_id, "sale", hash, r_text, now_ms, diag)) != SHOAL_OK))
    goto cleanup;
  /* Expired idempotency keys go now and then, in a transaction already open. */
  if (n % PRUNE_EVERY_SALES == 0 && (rc = agent_checkout_prune(ctx, now_ms, 0, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_db_commit(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  if (replayed)
    *replayed = false;
  *receipt = r;
  r = NULL;
cleanup:
  if (in_tx)
    shoal_db_rollback(ctx->db);
  cJSON_Delete(qj);
  cJSON_Delete(r);
  cJSON_Delete(ev);
  cJSON_Delete(prior);
  free(ev_text);
  free(r_text);
  free(member_text);
  shoal_quote_free(q);
  shoal_basket_free(b);
  return rc;
}

/* ------------------------------------------------------------ returns */

struct ret_req {
  cJSON *json; /* owned */
  const char *request_id, *sale, *reason;
  struct {
    const char *sku;
    int64_t qty;
  } lines[SHOAL_BASKET_MAX_LINES];
  size_t nlines;
  struct shoal_payment refunds[SHOAL_PAYMENT_METHODS_MAX];
  size_t nrefunds;
  bool has_refunds;
};

static shoal_err return_parse(const char *body, size_t len, bool require_request_id,
                              struct ret_req *r, shoal_diag *diag) {
  static const char *const keys[] = {"request_id", "sale", "lines", "reason", "refunds", NULL};
  shoal_err rc;
  if (len > RETURN_BODY_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "return of %zu bytes is over the limit of %d", len,
                      RETURN_BODY_MAX_BYTES);
  if ((rc = shoal_json_parse(body, len, &r->json, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "return");
    return rc;
  }
  if ((rc = shoal_checkout_text_integers(body, len, "return", diag)) != SHOAL_OK)
    return rc;
  const cJSON *j = r->json, *k, *v;
  if (!cJSON_IsObject(j))
    return shoal_fail(diag, SHOAL_EINPUT, "return: must be a JSON object");
  cJSON_ArrayForEach(k, j) {
    const char *const *p;
    for (p = keys; *p && strcmp(*p, k->string) != 0; p++)
      ;
    if (!*p)
      return shoal_fail(diag, SHOAL_EINPUT, "return: unknown key \"%s\"", k->string);
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "request_id"))) {
    if (!cJSON_IsString(v) || !shoal_id_valid(v->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "return: \"request_id\" must be an identifier");
    r->request_id = v->valuestring;
  } else if (require_request_id) {
    return shoal_fail(diag, SHOAL_EINPUT, "return: missing \"request_id\"");
  }
  v = cJSON_GetObjectItemCaseSensitive(j, "sale");
  if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= AGENT_RECEIPT_ID_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "return: \"sale\" must be a receipt id");
  r->sale = v->valuestring;
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "reason"))) {
    if (!cJSON_IsString(v) || strlen(v->valuestring) > RETURN_REASON_MAX)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "return: \"reason\" must be a string of at most %d bytes",
                        RETURN_REASON_MAX);
    r->reason = v->valuestring;
  }
  v = cJSON_GetObjectItemCaseSensitive(j, "lines");
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
      cJSON_GetArraySize(v) > SHOAL_BASKET_MAX_LINES)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "return: \"lines\" must be an array of 1 to %d {sku, qty}",
                      SHOAL_BASKET_MAX_LINES);
  int i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, v) {
    const cJSON *sku = cJSON_GetObjectItemCaseSensitive(e, "sku");
    const cJSON *qty = cJSON_GetObjectItemCaseSensitive(e, "qty");
    if (!cJSON_IsObject(e) || !cJSON_IsString(sku) || !sku->valuestring[0])
      return shoal_fail(diag, SHOAL_EINPUT, "return: lines[%d] needs a \"sku\" string", i);
    cJSON_ArrayForEach(k, e) {
      if (strcmp(k->string, "sku") != 0 && strcmp(k->string, "qty") != 0)
        return shoal_fail(diag, SHOAL_EINPUT, "return: lines[%d]: unknown key \"%s\"", i,
                          k->string);
    }
    if (!qty || !shoal_json_is_int(qty) || shoal_json_int(qty) < 1 ||
        shoal_json_int(qty) > SHOAL_LINE_MAX_QTY)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "return: lines[%d] (%s): \"qty\" must be an integer from 1 to %d", i,
                        sku->valuestring, SHOAL_LINE_MAX_QTY);
    size_t x;
    for (x = 0; x < r->nlines && strcmp(r->lines[x].sku, sku->valuestring) != 0; x++)
      ;
    if (x == r->nlines) {
      r->lines[x].sku = sku->valuestring;
      r->lines[x].qty = 0;
      r->nlines++;
    }
    r->lines[x].qty += shoal_json_int(qty);
    i++;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "refunds"))) {
    r->has_refunds = true;
    if ((rc = shoal_payments_parse(v, "return: refunds", r->refunds, &r->nrefunds, diag)) !=
        SHOAL_OK)
      return rc;
  }
  return SHOAL_OK;
}

/* What the sale holds, read inside the return's transaction. */
struct sale_state {
  int64_t total;
  char at[SHOAL_TIME_TEXT_MAX];
  struct {
    char sku[SHOAL_ID_MAX + 1];
    int64_t qty, total, returned;
  } * lines;
  size_t nlines;
  struct shoal_payment net[SHOAL_PAYMENT_METHODS_MAX]; /* paid - change - refunded, per method */
  size_t nnet;
};

static void net_add(struct sale_state *s, const char *method, int64_t amount) {
  size_t i;
  for (i = 0; i < s->nnet && strcmp(s->net[i].method, method) != 0; i++)
    ;
  if (i == s->nnet) {
    if (s->nnet == SHOAL_PAYMENT_METHODS_MAX)
      return;
    shoal_strlcpy(s->net[i].method, method, sizeof s->net[i].method);
    s->net[i].amount = 0;
    s->nnet++;
  }
  s->net[i].amount += amount;
}

static shoal_err sale_state_load(struct agent_ctx *ctx, const char *sale, struct sale_state *s,
                                 shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  cJSON *body = NULL;
  shoal_err rc =
      shoal_db_prepare(ctx->db, "SELECT total, body, at FROM sales WHERE receipt = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, sale, -1, SQLITE_STATIC);
  int x = sqlite3_step(st);
  if (x == SQLITE_DONE) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "sale \"%s\" is not known on this device", sale);
    goto cleanup;
  }
  if (x != SQLITE_ROW) {
    rc = shoal_db_fail(ctx->db, x, "read sale", diag);
    goto cleanup;
  }
  s->total = sqlite3_column_int64(st, 0);
  const char *bt = (const char *)sqlite3_column_text(st, 1);
  shoal_strlcpy(s->at, (const char *)sqlite3_column_text(st, 2), sizeof s->at);
  if ((rc = shoal_json_parse(bt, strlen(bt), &body, diag)) != SHOAL_OK)
    goto cleanup;
  /* Sales recorded before payments existed were paid in cash. */
  const cJSON *pays = cJSON_GetObjectItemCaseSensitive(body, "payments"), *p;
  if (pays) {
    cJSON_ArrayForEach(p, pays) {
      const cJSON *mth = cJSON_GetObjectItemCaseSensitive(p, "method");
      const cJSON *amt = cJSON_GetObjectItemCaseSensitive(p, "amount");
      if (cJSON_IsString(mth) && shoal_json_is_int(amt))
        net_add(s, mth->valuestring, shoal_json_int(amt));
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(body, "change");
    if (shoal_json_is_int(ch))
      net_add(s, "cash", -shoal_json_int(ch));
  } else {
    net_add(s, "cash", s->total);
  }
  sqlite3_finalize(st);
  st = NULL;
  int64_t nl = 0;
  if ((rc = shoal_db_prepare(ctx->db,
                             "SELECT l.sku, l.qty, l.total, COALESCE((SELECT SUM(rl.qty) FROM "
                             "return_lines rl JOIN returns r ON r.id = rl.return_id WHERE r.sale = "
                             "l.receipt AND rl.sku = l.sku), 0) FROM sale_lines l WHERE l.receipt "
                             "= ? ORDER BY l.line_no",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, sale, -1, SQLITE_STATIC);
  s->lines = calloc(SHOAL_BASKET_MAX_LINES, sizeof *s->lines);
  if (!s->lines) {
    rc = oom(diag);
    goto cleanup;
  }
  while ((x = sqlite3_step(st)) == SQLITE_ROW && nl < SHOAL_BASKET_MAX_LINES) {
    shoal_strlcpy(s->lines[nl].sku, (const char *)sqlite3_column_text(st, 0),
                  sizeof s->lines[nl].sku);
    s->lines[nl].qty = sqlite3_column_int64(st, 1);
    s->lines[nl].total = sqlite3_column_int64(st, 2);
    s->lines[nl].returned = sqlite3_column_int64(st, 3);
    nl++;
  }
  if (x != SQLITE_DONE && x != SQLITE_ROW) {
    rc = shoal_db_fail(ctx->db, x, "read sale lines", diag);
    goto cleanup;
  }
  s->nlines = (size_t)nl;
  sqlite3_finalize(st);
  st = NULL;
  /* Refunds already made, per method. */
  if ((rc = shoal_db_prepare(ctx->db, "SELECT body FROM returns WHERE sale = ?", &st, diag)) !=
      SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, sale, -1, SQLITE_STATIC);
  while ((x = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *rb = NULL;
    const char *t = (const char *)sqlite3_column_text(st, 0);
    if ((rc = shoal_json_parse(t, strlen(t), &rb, diag)) != SHOAL_OK)
      goto cleanup;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rb, "refunds")) {
      const cJSON *mth = cJSON_GetObjectItemCaseSensitive(e, "method");
      const cJSON *amt = cJSON_GetObjectItemCaseSensitive(e, "amount");
      if (cJSON_IsString(mth) && shoal_json_is_int(amt))
        net_add(s, mth->valuestring, -shoal_json_int(amt));
    }
    cJSON_Delete(rb);
  }
  if (x != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, x, "read returns", diag);
cleanup:
  sqlite3_finalize(st);
  cJSON_Delete(body);
  return rc;
}

/* Computes the refund and its split; builds the output object. */
static shoal_err return_compute(const struct agent_model *m, const struct ret_req *req,
                                struct sale_state *s, const char *id, const char *at, cJSON **out,
                                struct shoal_refund_line *rl, shoal_diag *diag) {
  for (size_t i = 0; i < s->nlines; i++) {
    rl[i].qty = s->lines[i].qty;
    rl[i].total = s->lines[i].total;
    rl[i].returned = s->lines[i].returned;
    rl[i].want = 0;
  }
  for (size_t k = 0; k < req->nlines; k++) {
    size_t i;
    for (i = 0; i < s->nlines && strcmp(s->lines[i].sku, req->lines[k].sku) != 0; i++)
      ;
    if (i == s->nlines)
      return shoal_fail(diag, SHOAL_EINPUT, "return: sale %s has no line with SKU %s", req->sale,
                        req->lines[k].sku);
    rl[i].want = req->lines[k].qty;
    if (rl[i].want > rl[i].qty - rl[i].returned)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "return: %s: %lld units asked back but only %lld of %lld remain "
                        "returnable",
                        req->lines[k].sku, (long long)rl[i].want,
                        (long long)(rl[i].qty - rl[i].returned), (long long)rl[i].qty);
  }
  int64_t refund = 0, rounding = 0;
  shoal_err rc = shoal_refund_compute(s->total, rl, s->nlines, &refund, &rounding, diag);
  if (rc != SHOAL_OK)
    return rc;
  struct shoal_payment split[SHOAL_PAYMENT_METHODS_MAX];
  size_t nsplit = 0;
  if (req->has_refunds) {
    struct shoal_checkout_policy dflt;
    const struct shoal_checkout_policy *p = m ? &m->policy : NULL;
    if (!p) {
      shoal_checkout_policy_build(NULL, 0, &dflt, NULL);
      p = &dflt;
    }
    int64_t sum = 0;
    for (size_t i = 0; i < req->nrefunds; i++) {
      if (!shoal_checkout_method_allowed(p, req->refunds[i].method))
        return shoal_fail(diag, SHOAL_EINPUT, "return: refunds[%zu]: method \"%s\" is not allowed",
                          i, req->refunds[i].method);
      sum += req->refunds[i].amount;
      split[i] = req->refunds[i];
    }
    nsplit = req->nrefunds;
    if (sum != refund)
      return shoal_fail(diag, SHOAL_EINPUT, "return: refunds add up to %lld but the refund is %lld",
                        (long long)sum, (long long)refund);
  } else if (refund > 0 && (rc = shoal_refund_default(s->net, s->nnet, refund, split, &nsplit,
                                                      diag)) != SHOAL_OK) {
    return rc;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON *lines = o ? cJSON_CreateArray() : NULL;
  bool ok = o && lines && add_str(o, "id", id) && add_str(o, "sale", req->sale) &&
            add_str(o, "at", at) && cJSON_AddNumberToObject(o, "refund", (double)refund) &&
            cJSON_AddNumberToObject(o, "rounding", (double)rounding) &&
            cJSON_AddItemToObject(o, "lines", lines);
  if (!ok && lines && (!o || !cJSON_GetObjectItemCaseSensitive(o, "lines")))
    cJSON_Delete(lines);
  for (size_t i = 0; ok && i < s->nlines; i++) {
    if (!rl[i].want)
      continue;
    cJSON *l = cJSON_CreateObject();
    ok = l && cJSON_AddItemToArray(lines, l) && add_str(l, "sku", s->lines[i].sku) &&
         cJSON_AddNumberToObject(l, "qty", (double)rl[i].want) &&
         cJSON_AddNumberToObject(l, "refund", (double)rl[i].refund);
    if (!ok && l && !l->prev)
      cJSON_Delete(l);
  }
  cJSON *rf = ok ? shoal_payments_to_json(split, nsplit) : NULL;
  ok = ok && rf && cJSON_AddItemToObject(o, "refunds", rf);
  if (!ok && rf && !cJSON_GetObjectItemCaseSensitive(o, "refunds"))
    cJSON_Delete(rf);
  if (ok && req->reason)
    ok = add_str(o, "reason", req->reason);
  if (!ok) {
    cJSON_Delete(o);
    return oom(diag);
  }
  *out = o;
  return SHOAL_OK;
}

static shoal_err return_rows(struct agent_ctx *ctx, const char *id, int64_t n, const char *sale,
                             const cJSON *out, int64_t at_ms, int64_t seq, int64_t now_ms,
                             const char *text, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc =
      shoal_db_prepare(ctx->db,
                       "INSERT INTO returns (id, n, sale, at, at_ms, refund, outbox_seq, "
                       "created_ms, body) VALUES (?,?,?,?,?,?,?,?,?)",
                       &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, n);
  sqlite3_bind_text(st, 3, sale, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, cJSON_GetObjectItemCaseSensitive(out, "at")->valuestring, -1,
                    SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, at_ms);
  sqlite3_bind_int64(st, 6, shoal_json_int(cJSON_GetObjectItemCaseSensitive(out, "refund")));
  sqlite3_bind_int64(st, 7, seq);
  sqlite3_bind_int64(st, 8, now_ms);
  sqlite3_bind_text(st, 9, text, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (s != SQLITE_DONE)
    return shoal_db_fail(ctx->db, s, "record return", diag);
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO return_lines (return_id, sku, qty, refund) VALUES "
                             "(?,?,?,?)",
                             &st, diag)) != SHOAL_OK)
    return rc;
  const cJSON *l;
  cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(out, "lines")) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cJSON_GetObjectItemCaseSensitive(l, "sku")->valuestring, -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, shoal_json_int(cJSON_GetObjectItemCaseSensitive(l, "qty")));
    sqlite3_bind_int64(st, 4, shoal_json_int(cJSON_GetObjectItemCaseSensitive(l, "refund")));
    if ((s = sqlite3_step(st)) != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "record return line", diag);
      break;
    }
  }
  sqlite3_finalize(st);
  return rc;
}

/* A member sale's return (SPEC 13) gives back its share of the points:
 * earned points reversed in proportion to the refund, redeemed points
 * refunded in proportion to what goes back to method "points"; returns that
 * give back everything give back every point. Adds "member" {id,
 * points_reversed, points_refunded} to the return output o. */
static shoal_err return_member(struct agent_ctx *ctx, const char *sale, int64_t sale_total,
                               cJSON *o, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      ctx->db,
      "SELECT json_extract(s.body, '$.member.id'), json_extract(s.body, '$.member.points_earned'), "
      "json_extract(s.body, '$.member.points_redeemed'), "
      "(SELECT COALESCE(SUM(json_extract(p.value, '$.amount')), 0) FROM json_each(s.body, "
      "'$.payments') p WHERE json_extract(p.value, '$.method') = 'points'), "
      "(SELECT COALESCE(SUM(r.refund), 0) FROM returns r WHERE r.sale = s.receipt), "
      "(SELECT COALESCE(SUM(json_extract(f.value, '$.amount')), 0) FROM returns r, "
      "json_each(r.body, '$.refunds') f WHERE r.sale = s.receipt AND "
      "json_extract(f.value, '$.method') = 'points') FROM sales s WHERE s.receipt = ?",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, sale, -1, SQLITE_STATIC);
  int r = sqlite3_step(st);
  if (r != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_TEXT) {
    sqlite3_finalize(st);
    return r == SQLITE_ROW || r == SQLITE_DONE
               ? SHOAL_OK
               : shoal_db_fail(ctx->db, r, "read member sale", diag);
  }
  char mid[SHOAL_ID_MAX + 1];
  shoal_strlcpy(mid, (const char *)sqlite3_column_text(st, 0), sizeof mid);
  int64_t earned = sqlite3_column_int64(st, 1), redeemed = sqlite3_column_int64(st, 2);
  int64_t points_paid = sqlite3_column_int64(st, 3), before = sqlite3_column_int64(st, 4);
  int64_t points_before = sqlite3_column_int64(st, 5);
  sqlite3_finalize(st);
  int64_t refund = shoal_json_int(cJSON_GetObjectItemCaseSensitive(o, "refund")), to_points = 0;
  const cJSON *f;
  cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(o, "refunds")) {
    const cJSON *meth = cJSON_GetObjectItemCaseSensitive(f, "method");
    if (cJSON_IsString(meth) && strcmp(meth->valuestring, "points") == 0)
      to_points += shoal_json_int(cJSON_GetObjectItemCaseSensitive(f, "amount"));
  }
  int64_t reversed = shoal_loyalty_share(earned, before, refund, sale_total);
  int64_t back = shoal_loyalty_share(redeemed, points_before, to_points, points_paid);
  cJSON *mb = cJSON_CreateObject();
  if (!mb || !cJSON_AddStringToObject(mb, "id", mid) ||
      !cJSON_AddNumberToObject(mb, "points_reversed", (double)reversed) ||
      !cJSON_AddNumberToObject(mb, "points_refunded", (double)back) ||
      !cJSON_AddItemToObject(o, "member", mb)) {
    cJSON_Delete(mb);
    return oom(diag);
  }
  return SHOAL_OK;
}

shoal_err agent_checkout_return(struct agent_ctx *ctx, const struct agent_model *m,
                                const char *body, size_t len, bool require_request_id,
                                int64_t now_ms, cJSON **out, bool *replayed, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct ret_req *req = calloc(1, sizeof *req);
  struct sale_state s;
  struct shoal_refund_line *rl = NULL;
  cJSON *o = NULL, *ev = NULL, *prior = NULL;
  char *text = NULL;
  bool in_tx = false, done = false;
  char hash[SHOAL_SHA256_HEX_MAX], id[AGENT_RECEIPT_ID_MAX], date[9], at[SHOAL_TIME_TEXT_MAX];
  int64_t n = 0, seq = 0;
  int off = m ? m->policy.utc_offset_min : 0;
  memset(&s, 0, sizeof s);
  if (!req)
    return oom(diag);
  if ((rc = return_parse(body, len, require_request_id, req, diag)) != SHOAL_OK ||
      (rc = body_hash(req->json, hash, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = replay_check(ctx, req->request_id, "return", hash, &prior, &done, diag)) != SHOAL_OK)
    goto cleanup;
  if (done) {
    if (replayed)
      *replayed = true;
    *out = prior;
    prior = NULL;
    goto cleanup;
  }
  if ((rc = sale_state_load(ctx, req->sale, &s, diag)) != SHOAL_OK)
    goto cleanup;
  if (!(rl = calloc(s.nlines + 1, sizeof *rl))) {
    rc = oom(diag);
    goto cleanup;
  }
  if ((rc = counter_next(ctx, "return_counter", &n, diag)) != SHOAL_OK)
    goto cleanup;
  local_date(now_ms, off, date);
  snprintf(id, sizeof id, "%s-%s-R%lld", ctx->cfg.device, date, (long long)n);
  shoal_time_format_local(now_ms, off, at, sizeof at);
  if ((rc = return_compute(m, req, &s, id, at, &o, rl, diag)) != SHOAL_OK ||
      (rc = return_member(ctx, req->sale, s.total, o, diag)) != SHOAL_OK)
    goto cleanup;
  /* The event: the output plus store/region for the hub. */
  if (!(ev = agent_checkout_return_event(ctx, o, s.at)) || !(text = shoal_json_print(o))) {
    rc = oom(diag);
    goto cleanup;
  }
  if ((rc = agent_outbox_append(ctx, "return", ev, &seq, NULL, diag)) != SHOAL_OK ||
      (rc = return_rows(ctx, id, n, req->sale, o, now_ms, seq, now_ms, text, diag)) != SHOAL_OK ||
      (req->request_id &&
       (rc = request_store(ctx, req->request_id, "return", hash, text, now_ms, diag)) != SHOAL_OK))
    goto cleanup;
  if ((rc = shoal_db_commit(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  if (replayed)
    *replayed = false;
  *out = o;
  o = NULL;
cleanup:
  if (in_tx)
    shoal_db_rollback(ctx->db);
  cJSON_Delete(o);
  cJSON_Delete(ev);
  cJSON_Delete(prior);
  free(text);
  free(rl);
  free(s.lines);
  cJSON_Delete(req->json);
  free(req);
  return rc;
}

/* ------------------------------------------------------------ lookups */

shoal_err agent_checkout_receipt(struct agent_ctx *ctx, const char *sale_id, cJSON **out,
                                 shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  cJSON *r = NULL, *rets = NULL;
  shoal_err rc = shoal_db_prepare(
      ctx->db, "SELECT receipt_json, body, total FROM sales WHERE receipt = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, sale_id, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_DONE) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "sale \"%s\" is not known on this device", sale_id);
    goto cleanup;
  }
  if (s != SQLITE_ROW) {
    rc = shoal_db_fail(ctx->db, s, "read sale", diag);
    goto cleanup;
  }
  /* Sales recorded before receipts existed: the event body stands in. */
  const char *t = (const char *)sqlite3_column_text(st, 0);
  if (!t)
    t = (const char *)sqlite3_column_text(st, 1);
  if ((rc = shoal_json_parse(t, strlen(t), &r, diag)) != SHOAL_OK)
    goto cleanup;
  if (!cJSON_GetObjectItemCaseSensitive(r, "id") && !add_str(r, "id", sale_id)) {
    rc = oom(diag);
    goto cleanup;
  }
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = shoal_db_prepare(ctx->db, "SELECT body FROM returns WHERE sale = ? ORDER BY n", &st,
                             diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, sale_id, -1, SQLITE_STATIC);
  if (!(rets = cJSON_AddArrayToObject(r, "returns"))) {
    rc = oom(diag);
    goto cleanup;
  }
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *x = NULL;
    const char *bt = (const char *)sqlite3_column_text(st, 0);
    if ((rc = shoal_json_parse(bt, strlen(bt), &x, diag)) != SHOAL_OK)
      goto cleanup;
    cJSON_AddItemToArray(rets, x);
  }
  if (s != SQLITE_DONE) {
    rc = shoal_db_fail(ctx->db, s, "read returns", diag);
    goto cleanup;
  }
  *out = r;
  r = NULL;
cleanup:
  sqlite3_finalize(st);
  cJSON_Delete(r);
  return rc;
}

shoal_err agent_products_get(const struct agent_model *m, const char *sku, const char *barcode,
                             cJSON **out, shoal_diag *diag) {
  const char *name = NULL, *bc = NULL;
  const char *const *cats = NULL;
  size_t ncats = 0;
  int64_t price = 0, tax_bp = 0;
  shoal_err rc;
  if (!sku) {
    if (!barcode)
      return shoal_fail(diag, SHOAL_EINPUT, "give a SKU or a barcode");
    if ((rc = shoal_pricing_find_barcode(m->pricing, barcode, &sku, diag)) != SHOAL_OK)
      return rc;
  }
  if (shoal_pricing_item(m->pricing, sku, &price, NULL, NULL) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "unknown SKU %s", sku);
  shoal_pricing_item_info(m->pricing, sku, &name, &cats, &ncats);
  shoal_pricing_item_checkout(m->pricing, sku, &bc, &tax_bp);
  cJSON *o = cJSON_CreateObject();
  cJSON *c = cJSON_CreateArray();
  bool ok =
      o && c && add_str(o, "sku", sku) &&
      cJSON_AddItemToObject(o, "name", name ? cJSON_CreateString(name) : cJSON_CreateNull()) &&
      cJSON_AddItemToObject(o, "barcode", bc ? cJSON_CreateString(bc) : cJSON_CreateNull()) &&
      cJSON_AddItemToObject(o, "categories", c);
  if (!ok && c && (!o || !cJSON_GetObjectItemCaseSensitive(o, "categories")))
    cJSON_Delete(c);
  for (size_t i = 0; ok && i < ncats; i++) {
    cJSON *s = cJSON_CreateString(cats[i]);
    ok = s && cJSON_AddItemToArray(c, s);
  }
  ok = ok && cJSON_AddNumberToObject(o, "base_price", (double)price) &&
       cJSON_AddNumberToObject(o, "tax_bp", (double)tax_bp);
  if (!ok) {
    cJSON_Delete(o);
    return oom(diag);
  }
  *out = o;
  return SHOAL_OK;
}
