/* agent_member.c - member codes at the till (see agent_member.h). The
 * redemption row is written in the sale's own transaction, so a crash
 * leaves both or neither, and its primary key makes a reuse fail even when
 * two lanes race. */
#include "agent_member.h"

#include <stdlib.h>
#include <string.h>

#include "agent_trust.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"

shoal_err agent_member_apply(struct agent_ctx *ctx, const char *body, size_t len, int64_t now_ms,
                             char **text_out, struct shoal_member_code *code, bool *has_code,
                             shoal_diag *diag) {
  cJSON *j = NULL;
  struct agent_trust trust;
  memset(&trust, 0, sizeof trust);
  bool trust_loaded = false;
  *text_out = NULL;
  *has_code = false;
  shoal_err rc = shoal_json_parse(body, len, &j, diag);
  if (rc != SHOAL_OK)
    return SHOAL_OK; /* the basket parser names the problem */
  const cJSON *mc = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "member_code") : NULL;
  if (!cJSON_IsString(mc))
    goto cleanup; /* absent, or a wrong type the basket parser refuses */
  if (cJSON_GetObjectItemCaseSensitive(j, "customer")) {
    rc = shoal_fail(diag, SHOAL_EINPUT,
                    "basket: give \"member_code\" or \"customer\", not both (the member code "
                    "names the customer)");
    goto cleanup;
  }
  if (shoal_member_code_decode(mc->valuestring, code, diag) != SHOAL_OK) {
    rc = SHOAL_ESIG; /* SPEC 13: malformed is refused like forged, exit 4 */
    shoal_diag_prefix(diag, "basket: member_code");
    goto cleanup;
  }
  if ((rc = agent_trust_load(ctx, &trust, diag)) != SHOAL_OK)
    goto cleanup;
  trust_loaded = true;
  if ((rc =
           shoal_member_code_verify(mc->valuestring, (const struct shoal_pubkey *const *)trust.keys,
                                    trust.n, now_ms / 1000, code, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "basket: member_code");
    goto cleanup;
  }
  /* Reuse on this device is refused by agent_member_record, inside the
   * sale's transaction and after its request_id lookup, so a till's retry
   * of the same sale still gets its first receipt. */
  cJSON *c = cJSON_CreateObject(), *tags = NULL;
  bool ok = c && cJSON_AddStringToObject(c, "id", code->customer) &&
            (!code->tier[0] || cJSON_AddStringToObject(c, "tier", code->tier)) &&
            (tags = cJSON_AddArrayToObject(c, "tags")) != NULL;
  for (size_t i = 0; ok && i < code->ntags; i++) {
    cJSON *t = cJSON_CreateString(code->tags[i]);
    ok = t && cJSON_AddItemToArray(tags, t);
  }
  if (!ok || !cJSON_AddItemToObject(j, "customer", c)) {
    if (!ok)
      cJSON_Delete(c);
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (!(*text_out = shoal_json_print(j))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *has_code = true;
cleanup:
  if (trust_loaded)
    agent_trust_cleanup(&trust);
  cJSON_Delete(j);
  return rc;
}

shoal_err agent_member_record(struct agent_ctx *ctx, const struct shoal_member_code *code,
                              const char *sale, int64_t points, int64_t now_ms, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "INSERT INTO member_redemptions (nonce, customer, sale, points, "
                                  "expires, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, code->nonce, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, code->customer, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, sale, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, points);
  sqlite3_bind_int64(st, 5, code->expires);
  sqlite3_bind_int64(st, 6, now_ms);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  if ((s & 0xff) == SQLITE_CONSTRAINT) {
    /* sale '' marks a use the hub announced from another device. */
    int64_t remote = 0;
    if (shoal_db_prepare(ctx->db, "SELECT sale = '' FROM member_redemptions WHERE nonce = ?", &st,
                         diag) == SHOAL_OK) {
      sqlite3_bind_text(st, 1, code->nonce, -1, SQLITE_STATIC);
      if (sqlite3_step(st) == SQLITE_ROW)
        remote = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
    return shoal_fail(diag, SHOAL_ESCOPE, "basket: member_code was already used %s",
                      remote ? "at another device of this store" : "on this device");
  }
  return s == SQLITE_DONE ? SHOAL_OK : shoal_db_fail(ctx->db, s, "record member redemption", diag);
}

shoal_err agent_member_on_notice(struct agent_ctx *ctx, const void *payload, size_t len,
                                 int64_t now_ms, bool *handled, shoal_diag *diag) {
  cJSON *j = NULL;
  sqlite3_stmt *st = NULL;
  *handled = false;
  if (len > SHOAL_EVENT_MAX_BYTES)
    return SHOAL_OK; /* not a notice; the ticket handler refuses it */
  if (shoal_json_parse(payload, len, &j, diag) != SHOAL_OK)
    return SHOAL_OK;
  const cJSON *type = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "type") : NULL;
  shoal_err rc = SHOAL_OK;
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "member_code") != 0)
    goto cleanup;
  *handled = true;
  const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
  const char *nonce = NULL, *customer = NULL;
  int64_t expires = 0;
  if (!cJSON_IsObject(body) || shoal_json_get_str(body, "nonce", true, &nonce, diag) != SHOAL_OK ||
      shoal_json_get_str(body, "customer", true, &customer, diag) != SHOAL_OK ||
      shoal_json_get_int(body, "expires", true, &expires, diag) != SHOAL_OK ||
      !shoal_member_nonce_valid(nonce) || !shoal_member_field_valid(customer)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "member code notice: malformed body");
    goto cleanup;
  }
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO member_redemptions (nonce, customer, sale, points, "
                             "expires, at_ms) VALUES (?, ?, '', 0, ?, ?) ON CONFLICT (nonce) DO "
                             "NOTHING",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, nonce, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, expires);
  sqlite3_bind_int64(st, 4, now_ms);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (s != SQLITE_DONE) {
    rc = shoal_db_fail(ctx->db, s, "record member code notice", diag);
    goto cleanup;
  }
  /* A code past its expiry is refused by verification anyway: keep the
   * table bounded by the codes still alive (plus a day for clock skew). */
  if ((rc = shoal_db_prepare(ctx->db, "DELETE FROM member_redemptions WHERE expires < ?", &st,
                             diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_int64(st, 1, now_ms / 1000 - 86400);
  if ((s = sqlite3_step(st)) != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "forget expired member codes", diag);
cleanup:
  sqlite3_finalize(st);
  cJSON_Delete(j);
  return rc;
}
