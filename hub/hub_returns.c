/* hub_returns.c - ingest of "return" events (SPEC 12). Runs inside the
 * ingest transaction with the event's identity, so a return is stored once.
 * A return must name a sale the same device sent, and its refund must fit
 * in what earlier returns left of that sale's total; otherwise it is an
 * input error and the event is dead-lettered (and still acknowledged). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_customers.h"
#include "hub_returns.h"
#include "hub_webhook.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire_payloads.h"
#include "store.h"

shoal_err hub_returns_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag) {
  struct shoal_return_info r;
  hub_stmt *st = NULL;
  char *body = NULL, *hook = NULL, *channel = NULL, *region = NULL;
  shoal_err rc = shoal_return_decode(ev, &r, diag);
  if (rc != SHOAL_OK)
    return rc;
  /* The sale: this device's, and what is left of it after earlier returns. */
  if ((rc = hub_store_prepare(ctx->db,
                              "SELECT s.total - COALESCE((SELECT SUM(x.refund) FROM returns x "
                              "WHERE x.device = s.device AND x.sale = s.receipt), 0), "
                              "COALESCE(json_extract(s.body, '$.channel'), 'pos'), s.region "
                              "FROM sales s WHERE s.device = ? AND s.receipt = ? LIMIT 1",
                              &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, ev->device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, r.sale, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_DONE) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "return %s names sale %s, which device %s never sent", r.id,
                    r.sale, ev->device);
    goto cleanup;
  }
  if (s != HUB_STORE_ROW) {
    rc = hub_store_fail(ctx->db, s, "read sale of return", diag);
    goto cleanup;
  }
  int64_t remaining = hub_store_column_int64(st, 0);
  channel = shoal_strdup((const char *)hub_store_column_text(st, 1));
  region = hub_store_column_text(st, 2) ? shoal_strdup((const char *)hub_store_column_text(st, 2))
                                        : NULL;
  hub_store_finalize(st);
  st = NULL;
  if (!channel) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (r.refund > remaining) {
    rc = shoal_fail(diag, SHOAL_EINPUT,
                    "return %s refunds %" PRId64 " but only %" PRId64 " of sale %s remains", r.id,
                    r.refund, remaining, r.sale);
    goto cleanup;
  }
  if (!(body = shoal_json_print(ev->body))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = hub_store_prepare(ctx->db,
                              "INSERT INTO returns (device, epoch, seq, store, region, id, sale, "
                              "channel, at_ms, refund, body) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, ev->device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, ev->epoch, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 3, ev->seq);
  hub_store_bind_text(st, 4, ev->store, -1, HUB_STORE_STATIC);
  if (region)
    hub_store_bind_text(st, 5, region, -1, HUB_STORE_STATIC);
  else
    hub_store_bind_null(st, 5);
  hub_store_bind_text(st, 6, r.id, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 7, r.sale, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 8, channel, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 9, r.at_ms);
  hub_store_bind_int64(st, 10, r.refund);
  hub_store_bind_text(st, 11, body, -1, HUB_STORE_STATIC);
  if ((s = hub_store_step(st)) != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "store return", diag);
    goto cleanup;
  }
  char event[2 * SHOAL_ID_MAX + 64];
  snprintf(event, sizeof event, "return:%s/%s/%" PRId64, ev->device, ev->epoch, ev->seq);
  if ((rc = hub_customers_on_return(ctx->db, event, ev->device, ev->store, ev->body, r.sale,
                                    r.refund, r.at_ms, diag)) != SHOAL_OK)
    goto cleanup;
  /* The envelope (identity, hlc) with the return as its body. */
  cJSON *env = shoal_event_to_json(ev);
  hook = env ? shoal_json_print(env) : NULL;
  cJSON_Delete(env);
  if (!hook) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  rc = hub_webhook_enqueue(ctx, "return", hook, diag);
cleanup:
  hub_store_finalize(st);
  free(body);
  free(hook);
  free(channel);
  free(region);
  return rc;
}
