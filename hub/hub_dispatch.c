/* hub_dispatch.c - HQ dispatch (SPEC 15): tickets opened, assigned and
 * changed by HQ are events of the hub's own stream, checked by the same
 * ticket model as a device's and refused (nothing written) when the merged
 * state does not allow them. Also the device -> served stores table the
 * ingest consults before accepting a ticket event of another store. */
#include "hub_dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_tickets.h"
#include "shoal/jsonx.h"
#include "shoal/ticket.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire_payloads.h"
#include "store.h"

shoal_err hub_serves_allows(hub_store *db, const char *device, const char *store, bool *ok,
                            shoal_diag *diag) {
  hub_stmt *st = NULL;
  *ok = false;
  shoal_err rc = hub_store_prepare(
      db,
      "SELECT 1 FROM device_serves s WHERE s.device = ?1 AND s.store = ?2 AND "
      "(s.source = 'provision' OR NOT EXISTS (SELECT 1 FROM provisioned_devices p "
      "WHERE p.device = ?1 AND p.revoked_ms IS NULL))",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, store, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW)
    *ok = true;
  else if (s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "read device_serves", diag);
  hub_store_finalize(st);
  return rc;
}

/* Replaces device's rows of one source with stores. */
static shoal_err replace_serves(hub_store *db, const char *device, const char *source,
                                const char *const *stores, size_t n, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(db, "DELETE FROM device_serves WHERE device = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  hub_store_finalize(st);
  if (s != HUB_STORE_DONE)
    return hub_store_fail(db, s, "clear device_serves", diag);
  if ((rc = hub_store_prepare(db,
                              "INSERT OR IGNORE INTO device_serves (device, store, source) "
                              "VALUES (?, ?, ?)",
                              &st, diag)) != SHOAL_OK)
    return rc;
  for (size_t i = 0; i < n && rc == SHOAL_OK; i++) {
    hub_store_reset(st);
    hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 2, stores[i], -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 3, source, -1, HUB_STORE_STATIC);
    if ((s = hub_store_step(st)) != HUB_STORE_DONE)
      rc = hub_store_fail(db, s, "record device_serves", diag);
  }
  hub_store_finalize(st);
  return rc;
}

shoal_err hub_serves_provision(hub_store *db, const char *device, const char *const *stores,
                               size_t n, shoal_diag *diag) {
  return replace_serves(db, device, "provision", stores, n, diag);
}

shoal_err hub_serves_hello(hub_store *db, const struct shoal_event *ev, shoal_diag *diag) {
  const char *stores[SHOAL_SERVES_MAX];
  size_t n = 0;
  bool present = false;
  shoal_err rc = shoal_hello_serves_decode(ev->body, stores, &n, &present, diag);
  if (rc != SHOAL_OK || !present)
    return rc;
  int64_t provisioned = 0;
  hub_stmt *st = NULL;
  rc =
      hub_store_prepare(db, "SELECT COUNT(*) FROM provisioned_devices WHERE device = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, ev->device, -1, HUB_STORE_STATIC);
  if (hub_store_step(st) == HUB_STORE_ROW)
    provisioned = hub_store_column_int64(st, 0);
  hub_store_finalize(st);
  /* A provisioned device's grants are HQ's decision (and its broker ACL),
   * never its own claim. */
  if (provisioned)
    return SHOAL_OK;
  return replace_serves(db, ev->device, "hello", stores, n, diag);
}

/* ---- dispatch ----------------------------------------------------------- */

static shoal_err check_keys(const cJSON *req, const char *const *keys, const char *what,
                            shoal_diag *diag) {
  if (!cJSON_IsObject(req))
    return shoal_fail(diag, SHOAL_EINPUT, "%s must be a JSON object", what);
  for (const cJSON *k = req->child; k; k = k->next) {
    bool ok = false;
    for (size_t i = 0; keys[i] && !ok; i++)
      ok = strcmp(keys[i], k->string) == 0;
    if (!ok)
      return shoal_fail(diag, SHOAL_EINPUT, "%s: unknown key \"%.64s\"", what, k->string);
  }
  return SHOAL_OK;
}

/* The store's region as provisioning or the store's devices know it. */
static shoal_err store_region(hub_store *db, const char *store, char *out, shoal_diag *diag) {
  static const char *const queries[] = {
      "SELECT region FROM provisioned_devices WHERE store = ? ORDER BY issued_ms DESC LIMIT 1",
      "SELECT region FROM devices WHERE store = ? AND region IS NOT NULL "
      "ORDER BY last_seen_ms DESC LIMIT 1",
  };
  out[0] = '\0';
  for (size_t i = 0; i < 2 && !out[0]; i++) {
    hub_stmt *st = NULL;
    shoal_err rc = hub_store_prepare(db, queries[i], &st, diag);
    if (rc != SHOAL_OK)
      return rc;
    hub_store_bind_text(st, 1, store, -1, HUB_STORE_STATIC);
    int s = hub_store_step(st);
    if (s == HUB_STORE_ROW && hub_store_column_text(st, 0) &&
        shoal_id_valid((const char *)hub_store_column_text(st, 0)))
      shoal_strlcpy(out, (const char *)hub_store_column_text(st, 0), SHOAL_ID_MAX + 1);
    hub_store_finalize(st);
    if (s != HUB_STORE_ROW && s != HUB_STORE_DONE)
      return hub_store_fail(db, s, "look up the store's region", diag);
  }
  return SHOAL_OK;
}

/* The merged ticket's store and state; SHOAL_ENOTFOUND if not opened here. */
static shoal_err ticket_state(hub_store *db, const char *id, char *store, char *state,
                              shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db, "SELECT store, state FROM tickets WHERE id = ? AND opened_ms IS NOT NULL", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW) {
    shoal_strlcpy(store, (const char *)hub_store_column_text(st, 0), SHOAL_ID_MAX + 1);
    shoal_strlcpy(state, (const char *)hub_store_column_text(st, 1), 16);
  } else if (s == HUB_STORE_DONE) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "no such ticket %s", id);
  } else {
    rc = hub_store_fail(db, s, "read ticket", diag);
  }
  hub_store_finalize(st);
  return rc;
}

/* Runs fn's writes in one transaction, then returns the merged ticket. */
static shoal_err finish(struct hub_ctx *ctx, const char *id, shoal_err rc, cJSON **out,
                        shoal_diag *diag) {
  if (rc != SHOAL_OK) {
    hub_store_rollback(ctx->db);
    return rc;
  }
  if ((rc = hub_store_commit(ctx->db, diag)) != SHOAL_OK) {
    hub_store_rollback(ctx->db);
    return rc;
  }
  struct shoal_ticket_summary sum;
  return hub_ticket_fold(ctx, id, shoal_now_ms(), out, &sum, diag);
}

shoal_err hub_dispatch_open(struct hub_ctx *ctx, const cJSON *req, cJSON **out, shoal_diag *diag) {
  static const char *const keys[] = {"store",    "category", "priority", "title", "region",
                                     "customer", "id",       "tech",     "group", NULL};
  const char *store = NULL, *region = NULL, *id = NULL, *tech = NULL, *group = NULL;
  char rbuf[SHOAL_ID_MAX + 1], idbuf[SHOAL_ID_MAX + 1];
  cJSON *body = NULL, *assign = NULL;
  shoal_err rc;
  if ((rc = check_keys(req, keys, "ticket", diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(req, "store", true, &store, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(req, "region", false, &region, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(req, "id", false, &id, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(req, "tech", false, &tech, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(req, "group", false, &group, diag)) != SHOAL_OK)
    return rc == SHOAL_ENOMEM ? rc : SHOAL_EINPUT;
  if (!shoal_id_valid(store))
    return shoal_fail(diag, SHOAL_EINPUT, "\"store\" is not a valid identifier");
  if (id && !shoal_id_valid(id))
    return shoal_fail(diag, SHOAL_EINPUT, "\"id\" is not a valid identifier");
  if (!region) {
    if ((rc = store_region(ctx->db, store, rbuf, diag)) != SHOAL_OK)
      return rc;
    if (!rbuf[0])
      return shoal_fail(diag, SHOAL_EINPUT, "the hub knows no region for store %s: give \"region\"",
                        store);
    region = rbuf;
  }
  if (!id) {
    unsigned char r[6];
    if (shoal_random_bytes(r, sizeof r) != SHOAL_OK)
      return shoal_fail(diag, SHOAL_EIO, "cannot read random bytes for a ticket id");
    snprintf(idbuf, sizeof idbuf, "hq-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
             r[5]);
    id = idbuf;
  }
  body = cJSON_Duplicate(req, true);
  if (!body)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  cJSON_DeleteItemFromObjectCaseSensitive(body, "id");
  cJSON_DeleteItemFromObjectCaseSensitive(body, "tech");
  cJSON_DeleteItemFromObjectCaseSensitive(body, "group");
  cJSON_DeleteItemFromObjectCaseSensitive(body, "region");
  bool ok = (cJSON_GetObjectItemCaseSensitive(body, "priority") ||
             cJSON_AddStringToObject(body, "priority", "normal")) &&
            cJSON_AddStringToObject(body, "ticket", id) &&
            cJSON_AddStringToObject(body, "kind", "open") &&
            cJSON_AddStringToObject(body, "region", region);
  if (ok && (tech || group)) {
    assign = cJSON_CreateObject();
    ok = assign && cJSON_AddStringToObject(assign, "ticket", id) &&
         cJSON_AddStringToObject(assign, "kind", "assign") &&
         (!tech || cJSON_AddStringToObject(assign, "tech", tech)) &&
         (!group || cJSON_AddStringToObject(assign, "group", group));
  }
  if (!ok) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = hub_store_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  int64_t exists = 0;
  hub_stmt *st = NULL;
  if ((rc = hub_store_prepare(ctx->db, "SELECT COUNT(*) FROM ticket_events WHERE ticket = ?", &st,
                              diag)) == SHOAL_OK) {
    hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
    if (hub_store_step(st) == HUB_STORE_ROW)
      exists = hub_store_column_int64(st, 0);
    hub_store_finalize(st);
  }
  struct shoal_ticket_summary sum;
  int64_t now = shoal_now_ms();
  if (rc == SHOAL_OK && exists)
    rc = shoal_fail(diag, SHOAL_EINPUT, "ticket %s already exists", id);
  if (rc == SHOAL_OK)
    rc = hub_tickets_emit(ctx, id, store, body, now, &sum, diag);
  if (rc == SHOAL_OK && assign)
    rc = hub_tickets_emit(ctx, id, store, assign, now, &sum, diag);
  rc = finish(ctx, id, rc, out, diag);
cleanup:
  cJSON_Delete(body);
  cJSON_Delete(assign);
  return rc;
}

shoal_err hub_dispatch_event(struct hub_ctx *ctx, const char *id, const cJSON *req, cJSON **out,
                             shoal_diag *diag) {
  char store[SHOAL_ID_MAX + 1], state[16];
  const char *kind = NULL;
  shoal_err rc;
  if (!shoal_id_valid(id))
    return shoal_fail(diag, SHOAL_EINPUT, "ticket id \"%.80s\" is not a valid identifier", id);
  if (!cJSON_IsObject(req))
    return shoal_fail(diag, SHOAL_EINPUT, "the event must be a JSON object {\"kind\", ...}");
  if ((rc = shoal_json_get_str(req, "kind", true, &kind, diag)) != SHOAL_OK)
    return SHOAL_EINPUT;
  const cJSON *named = cJSON_GetObjectItemCaseSensitive(req, "ticket");
  if (named && (!cJSON_IsString(named) || strcmp(named->valuestring, id) != 0))
    return shoal_fail(diag, SHOAL_EINPUT, "the event names another ticket than %s", id);
  if (strcmp(kind, "open") == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "open a ticket with POST /api/v1/tickets");
  cJSON *body = cJSON_Duplicate(req, true);
  if (!body)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (!named && !cJSON_AddStringToObject(body, "ticket", id)) {
    cJSON_Delete(body);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if ((rc = hub_store_begin(ctx->db, diag)) != SHOAL_OK) {
    cJSON_Delete(body);
    return rc;
  }
  struct shoal_ticket_summary sum;
  if ((rc = ticket_state(ctx->db, id, store, state, diag)) == SHOAL_OK &&
      (rc = shoal_ticket_kind_allowed(state, kind, diag)) != SHOAL_OK)
    shoal_diag_prefix(diag, "ticket %s", id);
  if (rc == SHOAL_OK)
    rc = hub_tickets_emit(ctx, id, store, body, shoal_now_ms(), &sum, diag);
  cJSON_Delete(body);
  return finish(ctx, id, rc, out, diag);
}
