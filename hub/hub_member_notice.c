/* hub_member_notice.c - announcing used member codes to a store's devices
 * (see hub_member_notice.h). */
#include "hub_member_notice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "shoal_limits.h"
#include "util.h"
#include "wire.h"

shoal_err hub_member_notice_add(sqlite3 *db, const char *nonce, const char *customer,
                                const char *store, int64_t now_ms, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(db,
                                  "INSERT INTO member_code_notices (nonce, store, customer, "
                                  "expires_ms, created_ms) SELECT nonce, ?, customer, expires_ms, ? "
                                  "FROM member_codes WHERE nonce = ? AND customer = ? "
                                  "ON CONFLICT (nonce, store) DO NOTHING",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, now_ms);
  sqlite3_bind_text(st, 3, nonce, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, customer, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  return s == SQLITE_DONE ? SHOAL_OK : shoal_db_fail(db, s, "queue member code notice", diag);
}

/* One envelope of type member_code on P/down/{store}. */
static shoal_err publish_one(struct hub_ctx *ctx, const char *nonce, const char *store,
                             const char *customer, int64_t expires_ms, int64_t now_ms,
                             shoal_diag *diag) {
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  char topic[SHOAL_TOPIC_MAX], *text = NULL;
  const char *prefix = ctx->cfg.topic_prefix ? ctx->cfg.topic_prefix : "shoal/v1";
  shoal_err rc =
      shoal_topic_format(topic, sizeof topic, prefix, SHOAL_TOPIC_DOWN_STORE, store, NULL);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, rc, "cannot form the down topic of store %s", store);
  strcpy(ev.device, "hub");
  shoal_strlcpy(ev.store, store, sizeof ev.store);
  strcpy(ev.epoch, "0"); /* a notice is not a ticket stream event: no seq of its own */
  ev.seq = 1;
  ev.hlc = (uint64_t)now_ms << 16;
  strcpy(ev.type, "member_code");
  if (!(ev.body = cJSON_CreateObject()) || !cJSON_AddStringToObject(ev.body, "nonce", nonce) ||
      !cJSON_AddStringToObject(ev.body, "customer", customer) ||
      !cJSON_AddNumberToObject(ev.body, "expires", (double)(expires_ms / 1000))) {
    cJSON_Delete(ev.body);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  rc = shoal_event_encode(&ev, &text);
  cJSON_Delete(ev.body);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, rc, "cannot encode member code notice");
  rc = ctx->publish(ctx->publish_user, topic, text, strlen(text), false, diag);
  free(text);
  return rc;
}

shoal_err hub_member_notice_publish(struct hub_ctx *ctx, int64_t now_ms, shoal_diag *diag) {
  if (!ctx->publish)
    return SHOAL_OK;
  sqlite3_stmt *st = NULL, *del = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "SELECT nonce, store, customer, expires_ms FROM "
                                  "member_code_notices ORDER BY created_ms LIMIT 500",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = shoal_db_prepare(ctx->db,
                             "DELETE FROM member_code_notices WHERE nonce = ? AND store = ?", &del,
                             diag)) != SHOAL_OK)
    goto cleanup;
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    const char *nonce = (const char *)sqlite3_column_text(st, 0);
    const char *store = (const char *)sqlite3_column_text(st, 1);
    int64_t expires_ms = sqlite3_column_int64(st, 3);
    /* An expired code is refused by every device anyway: just forget it. */
    if (expires_ms > now_ms &&
        (rc = publish_one(ctx, nonce, store, (const char *)sqlite3_column_text(st, 2), expires_ms,
                          now_ms, diag)) != SHOAL_OK)
      goto cleanup; /* broker down: keep the rest for the next call */
    sqlite3_reset(del);
    sqlite3_bind_text(del, 1, nonce, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(del, 2, store, -1, SQLITE_TRANSIENT);
    if ((s = sqlite3_step(del)) != SQLITE_DONE) {
      rc = shoal_db_fail(ctx->db, s, "forget member code notice", diag);
      goto cleanup;
    }
  }
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "list member code notices", diag);
cleanup:
  sqlite3_finalize(st);
  sqlite3_finalize(del);
  return rc;
}
