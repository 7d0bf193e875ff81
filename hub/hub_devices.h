/* hub_devices.h - the hub's device registry (table devices): one row per
 * device ever seen, updated by its hello events (profile, policy versions,
 * outbox depth, agent version, region), its presence messages and every
 * event stored. All writes run inside the caller's transaction. */
#ifndef HUB_DEVICES_H
#define HUB_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/wire.h"

/* Records a hello event: body keys (all optional, type-checked) "profile",
 * "region", "agent_version" (or "version"), "outbox_depth" (or
 * "outbox_pending"), "policies" (or "policy_versions": {scope: version}).
 * SHOAL_EINPUT names a key of the wrong type (the event is dead-lettered). */
shoal_err hub_devices_hello(hub_store *db, const struct shoal_event *ev, int64_t now_ms,
                            shoal_diag *diag);

/* Records a presence message ({"online": bool, ...}; an empty payload, the
 * clearing of a retained message, is ignored). A retained message (replayed
 * by the broker at subscribe time, maybe old) sets online but not
 * last_seen. SHOAL_EINPUT/EJSON for a payload that is not such an object. */
shoal_err hub_devices_presence(hub_store *db, const char *store, const char *device,
                               const void *payload, size_t len, bool retained, int64_t now_ms,
                               shoal_diag *diag);

/* Notes that device (of store, stream epoch) had an event stored at now_ms:
 * creates its row if needed, moves it to store, sets epoch, last_event_ms
 * and last_seen_ms. */
shoal_err hub_devices_touch(hub_store *db, const char *store, const char *device, const char *epoch,
                            int64_t now_ms, shoal_diag *diag);

/* The registry as a JSON array (caller deletes), one object per device:
 * device, store, region, profile, agent_version, online, last_seen,
 * last_event, last_hello (ISO UTC or null), outbox_depth, policies (object),
 * events (stored count), dead_letters (count). */
shoal_err hub_devices_list(hub_store *db, cJSON **out, shoal_diag *diag);

#endif
