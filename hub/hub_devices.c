/* hub_devices.c - the device registry. A device's row is created by the
 * first thing heard from it (event, hello or presence) and never deleted;
 * each writer updates only the columns it knows about. */
#include "hub_devices.h"
#include "hub_dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "shoal/jsonx.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire_payloads.h"
#include "store.h"

static void bind_text_or_null(hub_stmt *st, int i, const char *s) {
  if (s)
    hub_store_bind_text(st, i, s, -1, HUB_STORE_TRANSIENT);
  else
    hub_store_bind_null(st, i);
}

shoal_err hub_devices_hello(hub_store *db, const struct shoal_event *ev, int64_t now_ms,
                            shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  hub_stmt *st = NULL;
  char *pol_text = NULL;
  struct shoal_hello_info h;
  if ((rc = shoal_hello_decode(ev->body, &h, diag)) != SHOAL_OK)
    return rc;
  if (h.policies && !(pol_text = shoal_json_print(h.policies)))
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");

  if ((rc = hub_store_prepare(
           db,
           "INSERT INTO devices (device, store, region, profile, agent_version, epoch, "
           "last_hello_ms, last_seen_ms, outbox_depth, policy_versions, hello_seq) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10) "
           "ON CONFLICT (device) DO UPDATE SET store = ?2, region = COALESCE(?3, devices.region), "
           "profile = COALESCE(?4, devices.profile), agent_version = COALESCE(?5, "
           "devices.agent_version), "
           "epoch = ?6, last_hello_ms = ?7, last_seen_ms = ?7, "
           "outbox_depth = COALESCE(?8, devices.outbox_depth), "
           "policy_versions = COALESCE(?9, devices.policy_versions), hello_seq = ?10",
           &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, ev->device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, ev->store, -1, HUB_STORE_STATIC);
  bind_text_or_null(st, 3, h.region);
  bind_text_or_null(st, 4, h.profile);
  bind_text_or_null(st, 5, h.agent_version);
  hub_store_bind_text(st, 6, ev->epoch, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 7, now_ms);
  if (h.outbox_depth >= 0)
    hub_store_bind_int64(st, 8, h.outbox_depth);
  else
    hub_store_bind_null(st, 8);
  bind_text_or_null(st, 9, pol_text);
  hub_store_bind_int64(st, 10, (int64_t)ev->seq);
  int s = hub_store_step(st);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "record hello", diag);
  else
    rc = hub_serves_hello(db, ev, diag);
cleanup:
  hub_store_finalize(st);
  free(pol_text);
  return rc;
}

shoal_err hub_devices_presence(hub_store *db, const char *store, const char *device,
                               const void *payload, size_t len, bool retained, int64_t now_ms,
                               shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  hub_stmt *st = NULL;
  bool online = false;
  if (len == 0)
    return SHOAL_OK;
  if ((rc = shoal_presence_decode(payload, len, &online, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = hub_store_prepare(
           db,
           "INSERT INTO devices (device, store, online, last_seen_ms) "
           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device) DO UPDATE SET "
           "store = ?2, online = ?3, "
           "last_seen_ms = COALESCE(CASE WHEN devices.last_seen_ms > ?4 THEN devices.last_seen_ms "
           "ELSE ?4 END, devices.last_seen_ms)",
           &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, store, -1, HUB_STORE_STATIC);
  hub_store_bind_int(st, 3, online ? 1 : 0);
  if (!retained)
    hub_store_bind_int64(st, 4, now_ms); /* else NULL: last_seen unchanged */
  int s = hub_store_step(st);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "record presence", diag);
cleanup:
  hub_store_finalize(st);
  return rc;
}

shoal_err hub_devices_touch(hub_store *db, const char *store, const char *device, const char *epoch,
                            int64_t now_ms, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db,
      "INSERT INTO devices (device, store, epoch, last_seen_ms, last_event_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (device) DO UPDATE SET store = ?2, epoch = ?3, "
      "last_seen_ms = CASE WHEN devices.last_seen_ms > ?4 THEN devices.last_seen_ms ELSE ?4 END, "
      "last_event_ms = ?4",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, store, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 3, epoch, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 4, now_ms);
  int s = hub_store_step(st);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "record device activity", diag);
  hub_store_finalize(st);
  return rc;
}

shoal_err hub_devices_list(hub_store *db, cJSON **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  hub_stmt *st = NULL;
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if ((rc = hub_store_prepare(
           db,
           "SELECT device, store, region, profile, agent_version, online, last_seen_ms, "
           "last_event_ms, last_hello_ms, outbox_depth, policy_versions, "
           "(SELECT COUNT(*) FROM events e WHERE e.device = d.device), "
           "(SELECT COUNT(*) FROM dead_letters x WHERE x.device = d.device) "
           "FROM devices d ORDER BY store, device",
           &st, diag)) != SHOAL_OK)
    goto cleanup;
  int s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *o = cJSON_CreateObject();
    if (!o) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    bool ok = shoal_json_push(arr, o); /* arr not NULL, o not NULL: cannot fail */
    ok &= hub_store_json_add_text(o, "device", st, 0);
    ok &= hub_store_json_add_text(o, "store", st, 1);
    ok &= hub_store_json_add_text(o, "region", st, 2);
    ok &= hub_store_json_add_text(o, "profile", st, 3);
    ok &= hub_store_json_add_text(o, "agent_version", st, 4);
    ok &= cJSON_AddBoolToObject(o, "online", hub_store_column_int(st, 5) != 0) != NULL;
    ok &= hub_store_json_add_time(o, "last_seen", st, 6);
    ok &= hub_store_json_add_time(o, "last_event", st, 7);
    ok &= hub_store_json_add_time(o, "last_hello", st, 8);
    if (hub_store_column_type(st, 9) == HUB_STORE_NULL)
      ok &= cJSON_AddNullToObject(o, "outbox_depth") != NULL;
    else
      ok &=
          cJSON_AddNumberToObject(o, "outbox_depth", (double)hub_store_column_int64(st, 9)) != NULL;
    cJSON *pol = NULL;
    const char *pt = (const char *)hub_store_column_text(st, 10);
    shoal_diag ignored;
    if (pt && shoal_json_parse(pt, strlen(pt), &pol, &ignored) == SHOAL_ENOMEM)
      ok = false; /* anything else unreadable shows as no versions */
    ok &= shoal_json_put(o, "policies", pol ? pol : cJSON_CreateObject());
    ok &= cJSON_AddNumberToObject(o, "events", (double)hub_store_column_int64(st, 11)) != NULL;
    ok &=
        cJSON_AddNumberToObject(o, "dead_letters", (double)hub_store_column_int64(st, 12)) != NULL;
    if (!ok) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "list devices", diag);
    goto cleanup;
  }
  *out = arr;
  arr = NULL;
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(arr);
  return rc;
}
