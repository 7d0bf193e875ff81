/* hub_member_notice.c - announcing used member codes to a store's devices
 * (see hub_member_notice.h). */
#include "hub_member_notice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/shoal_limits.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "store.h"

shoal_err hub_member_notice_add(hub_store *db, const char *nonce, const char *customer,
                                const char *store, int64_t now_ms, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(db,
                        "INSERT INTO member_code_notices (nonce, store, customer, "
                        "expires_ms, created_ms) SELECT nonce, ?, customer, expires_ms, ? "
                        "FROM member_codes WHERE nonce = ? AND customer = ? "
                        "ON CONFLICT (nonce, store) DO NOTHING",
                        &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, store, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, now_ms);
  hub_store_bind_text(st, 3, nonce, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 4, customer, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  hub_store_finalize(st);
  return s == HUB_STORE_DONE ? SHOAL_OK : hub_store_fail(db, s, "queue member code notice", diag);
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
  hub_stmt *st = NULL, *del = NULL;
  shoal_err rc = hub_store_prepare(ctx->db,
                                   "SELECT nonce, store, customer, expires_ms FROM "
                                   "member_code_notices ORDER BY created_ms LIMIT 500",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = hub_store_prepare(ctx->db,
                              "DELETE FROM member_code_notices WHERE nonce = ? AND store = ?", &del,
                              diag)) != SHOAL_OK)
    goto cleanup;
  int s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    const char *nonce = (const char *)hub_store_column_text(st, 0);
    const char *store = (const char *)hub_store_column_text(st, 1);
    int64_t expires_ms = hub_store_column_int64(st, 3);
    /* An expired code is refused by every device anyway: just forget it. */
    if (expires_ms > now_ms &&
        (rc = publish_one(ctx, nonce, store, (const char *)hub_store_column_text(st, 2), expires_ms,
                          now_ms, diag)) != SHOAL_OK)
      goto cleanup; /* broker down: keep the rest for the next call */
    hub_store_reset(del);
    hub_store_bind_text(del, 1, nonce, -1, HUB_STORE_TRANSIENT);
    hub_store_bind_text(del, 2, store, -1, HUB_STORE_TRANSIENT);
    if ((s = hub_store_step(del)) != HUB_STORE_DONE) {
      rc = hub_store_fail(ctx->db, s, "forget member code notice", diag);
      goto cleanup;
    }
  }
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(ctx->db, s, "list member code notices", diag);
cleanup:
  hub_store_finalize(st);
  hub_store_finalize(del);
  return rc;
}
