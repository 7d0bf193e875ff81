/* hub_dispatch.h - HQ dispatch of work orders and the stores each device
 * serves (SPEC 15). HQ opens, assigns and changes tickets as events of the
 * hub's own stream (hub_tickets_emit), merged like any device's and pushed
 * to P/down/{store}; a device may write ticket events for the stores it
 * serves besides its own. */
#ifndef HUB_DISPATCH_H
#define HUB_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "hub_ctx.h"
#include "shoal/wire.h"

/* *ok: device may write ticket events for store (a device_serves row that
 * provisioning wrote, or that its hello wrote when the hub never
 * provisioned it). */
shoal_err hub_serves_allows(hub_store *db, const char *device, const char *store, bool *ok,
                            shoal_diag *diag);

/* Records the "serves" list of a hello (ev->body; absent: nothing) for a
 * device the hub has not provisioned; a provisioned device's list comes
 * from provisioning only. Malformed lists are SHOAL_EINPUT. */
shoal_err hub_serves_hello(hub_store *db, const struct shoal_event *ev, shoal_diag *diag);

/* Replaces the provisioned serves list of device with stores[0..n) (inside
 * the caller's transaction). */
shoal_err hub_serves_provision(hub_store *db, const char *device, const char *const *stores,
                               size_t n, shoal_diag *diag);

/* Opens a ticket from HQ in one transaction. req (borrowed): {"store",
 * "category", "priority"?, "title"?, "region"?, "customer"?, "id"?,
 * "tech"?, "group"?}; with tech or group the ticket is assigned at once.
 * Region defaults to the store's (provisioned or reported devices). Unknown
 * keys are SHOAL_EINPUT. *out: the merged ticket (caller deletes). */
shoal_err hub_dispatch_open(struct hub_ctx *ctx, const cJSON *req, cJSON **out, shoal_diag *diag);

/* Records one event of kind req.kind with req's fields on ticket id from
 * HQ, in one transaction. SHOAL_ENOTFOUND for a ticket the hub does not
 * hold; SHOAL_EINPUT naming both states for a transition its merged state
 * does not allow, or a malformed event. *out: the merged ticket. */
shoal_err hub_dispatch_event(struct hub_ctx *ctx, const char *id, const cJSON *req, cJSON **out,
                             shoal_diag *diag);

#endif
