/* agent_sales.c - price model from the policy cache, and durable sales.
 * The receipt counter lives in the same database and is advanced inside the
 * sale's transaction (BEGIN IMMEDIATE), so racing `sale` processes serialise
 * and a receipt number is never issued twice, even after a crash. */
#include "agent_sales.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_outbox.h"
#include "agent_policy.h"
#include "db.h"
#include "timeutil.h"
#include "util.h"

shoal_err agent_sales_model(struct agent_ctx *ctx, int64_t now_ms, struct shoal_pricing_model **out,
                            int64_t versions[SHOAL_PRICING_SCOPES], shoal_diag *diag) {
  char scopes[3][80];
  char *docs[3] = {NULL, NULL, NULL};
  agent_policy_scopes(ctx, scopes);
  shoal_err rc = agent_policy_effective(ctx, now_ms, docs, versions, diag);
  if (rc != SHOAL_OK)
    return rc;
  const char *sc[3] = {scopes[0], scopes[1], scopes[2]};
  const char *dc[3] = {docs[0], docs[1], docs[2]};
  rc = shoal_pricing_model_from_texts(sc, dc, versions, out, diag);
  for (int i = 0; i < 3; i++)
    free(docs[i]);
  return rc;
}

/* YYYYMMDD of the basket's local date (in the offset it was written with). */
static void local_date(const struct shoal_time *t, char out[9]) {
  char iso[40];
  shoal_time_format_utc_s(t->unix_ms + (int64_t)t->offset_min * 60000, iso, sizeof iso);
  memcpy(out, iso, 4);
  memcpy(out + 4, iso + 5, 2);
  memcpy(out + 6, iso + 8, 2);
  out[8] = '\0';
}

static cJSON *sale_body(struct agent_ctx *ctx, const struct shoal_basket *b,
                        const struct shoal_quote *q, const int64_t versions[3],
                        const char *receipt) {
  cJSON *quote = shoal_quote_to_json(q);
  cJSON *body = cJSON_CreateObject();
  char scopes[3][80];
  agent_policy_scopes(ctx, scopes);
  bool ok = quote && body && cJSON_AddStringToObject(body, "receipt", receipt) &&
            cJSON_AddStringToObject(body, "region", b->region) &&
            cJSON_AddStringToObject(body, "store", b->store) &&
            cJSON_AddStringToObject(body, "at", b->at_text);
  /* Move the SPEC 5.3 keys over in their order. */
  static const char *const keys[] = {"currency", "subtotal", "discount", "rounding",
                                     "total",    "lines",    "applied",  "coupons"};
  for (size_t i = 0; ok && i < sizeof keys / sizeof keys[0]; i++) {
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(quote, keys[i]);
    ok = v && cJSON_AddItemToObject(body, keys[i], v);
  }
  if (ok && b->customer) {
    cJSON *c = cJSON_Duplicate(b->customer, true);
    ok = c && cJSON_AddItemToObject(body, "customer", c);
  }
  cJSON *pv = ok ? cJSON_AddObjectToObject(body, "policy_versions") : NULL;
  ok = pv != NULL;
  for (int i = 0; ok && i < 3; i++)
    if (versions[i] > 0)
      ok = cJSON_AddNumberToObject(pv, scopes[i], (double)versions[i]) != NULL;
  cJSON_Delete(quote);
  if (!ok) {
    cJSON_Delete(body);
    return NULL;
  }
  return body;
}

shoal_err agent_sales_record(struct agent_ctx *ctx, const struct shoal_basket *b,
                             const struct shoal_quote *q,
                             const int64_t versions[SHOAL_PRICING_SCOPES],
                             char receipt[AGENT_RECEIPT_MAX], shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  sqlite3_stmt *st = NULL;
  cJSON *body = NULL;
  char *text = NULL;
  bool in_tx = false;
  int64_t n = 0, seq = 0;
  char rcpt[AGENT_RECEIPT_MAX], date[9];

  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = shoal_db_exec(ctx->db, "UPDATE sale_counter SET last = last + 1 WHERE id = 1", diag)) !=
          SHOAL_OK ||
      (rc = shoal_db_query_int(ctx->db, "SELECT last FROM sale_counter WHERE id = 1", 0, &n,
                               diag)) != SHOAL_OK)
    goto cleanup;
  local_date(&b->at, date);
  snprintf(rcpt, sizeof rcpt, "%s-%s-%lld", ctx->cfg.device, date, (long long)n);
  if (!(body = sale_body(ctx, b, q, versions, rcpt))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory building the sale event");
    goto cleanup;
  }
  if ((rc = agent_outbox_append(ctx, "sale", body, &seq, NULL, diag)) != SHOAL_OK)
    goto cleanup;
  if (!(text = cJSON_PrintUnformatted(body))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO sales (receipt, n, at, at_ms, region, store, currency, "
                             "subtotal, discount, rounding, total, customer_id, outbox_seq, "
                             "created_ms, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  const cJSON *cid = b->customer ? cJSON_GetObjectItemCaseSensitive(b->customer, "id") : NULL;
  sqlite3_bind_text(st, 1, rcpt, -1, SQLITE_STATIC);
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
  sqlite3_bind_int64(st, 14, shoal_now_ms());
  sqlite3_bind_text(st, 15, text, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE) {
    rc = shoal_db_fail(ctx->db, s, "record sale", diag);
    goto cleanup;
  }
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO sale_lines (receipt, line_no, sku, qty, base_price, "
                             "unit_price, discount, total) VALUES (?,?,?,?,?,?,?,?)",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  for (size_t i = 0; i < q->nlines; i++) {
    const struct shoal_quote_line *l = &q->lines[i];
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, rcpt, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)i + 1);
    sqlite3_bind_text(st, 3, l->sku, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, l->qty);
    sqlite3_bind_int64(st, 5, l->base_price);
    sqlite3_bind_int64(st, 6, l->unit_price);
    sqlite3_bind_int64(st, 7, l->discount);
    sqlite3_bind_int64(st, 8, l->total);
    if ((s = sqlite3_step(st)) != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "record sale line", diag);
      goto cleanup;
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = shoal_db_commit(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  shoal_strlcpy(receipt, rcpt, AGENT_RECEIPT_MAX);
cleanup:
  sqlite3_finalize(st);
  if (in_tx)
    shoal_db_rollback(ctx->db);
  cJSON_Delete(body);
  free(text);
  return rc;
}
