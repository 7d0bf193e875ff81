/* hub_member_notice.h - telling a store's devices that a member code has
 * been used (SPEC 13). A device accepts a code at most once; devices of one
 * store cannot consult each other offline. Once a till's sale that used a
 * code reaches the hub, the hub announces the code's nonce on the store's
 * down topic (P/down/{store}, an envelope of type "member_code", body
 * {"nonce", "customer", "expires"}: no name, no phone), and the store's
 * other devices record it as used: from then on they refuse the code (exit
 * 4 / 403) instead of spending it again. A device that is offline at the
 * time cannot know; its redemption is booked as an overdraft. */
#ifndef HUB_MEMBER_NOTICE_H
#define HUB_MEMBER_NOTICE_H

#include <stdint.h>

#include "store.h"

#include "hub_ctx.h"
#include "shoal/err.h"

/* Queues the announcement of code nonce (issued to customer) to store,
 * inside the caller's transaction. A nonce the hub never issued to that
 * customer is not announced (nothing to protect). Once per (nonce, store). */
shoal_err hub_member_notice_add(hub_store *db, const char *nonce, const char *customer,
                                const char *store, int64_t now_ms, shoal_diag *diag);

/* After a commit: publishes the queued announcements (QoS 1) and forgets
 * the ones sent; the rest wait for the next call. No-op without a
 * publisher (ctx->publish NULL). */
shoal_err hub_member_notice_publish(struct hub_ctx *ctx, int64_t now_ms, shoal_diag *diag);

#endif
