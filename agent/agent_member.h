/* agent_member.h - member codes at the till (SPEC 13): verify a basket's
 * member_code offline with the trusted policy key(s), put the member's
 * {id, tier, tags} into the basket so tier and tag rules apply, and record
 * the redemption durably so a code is used at most once on this device. */
#ifndef AGENT_MEMBER_H
#define AGENT_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_ctx.h"
#include "shoal/member_code.h"

/* If the basket text has "member_code": verifies it (SHOAL_ESIG forged,
 * malformed or another chain's; SHOAL_EEXPIRED - exit 4 / 403), refuses a basket that also names a
 * "customer" (SHOAL_EINPUT), and returns in *text_out (heap) the basket
 * with "customer" set from the code; *has_code tells whether there was one.
 * Without a code *text_out is NULL and nothing is checked. */
shoal_err agent_member_apply(struct agent_ctx *ctx, const char *body, size_t len, int64_t now_ms,
                             char **text_out, struct shoal_member_code *code, bool *has_code,
                             shoal_diag *diag);

/* Records code as redeemed by sale (inside the caller's transaction). A
 * second use of the same code, also by a concurrent lane, is SHOAL_ESCOPE. */
shoal_err agent_member_record(struct agent_ctx *ctx, const struct shoal_member_code *code,
                              const char *sale, int64_t points, int64_t now_ms, shoal_diag *diag);

/* A message from the store's down topic: if it is the hub's member code
 * notice (envelope type "member_code", body {"nonce", "customer",
 * "expires"}; see hub/hub_member_notice.h), records the code as used so
 * this device refuses it from now on ("already used at another device"),
 * sets *handled and forgets redemptions expired over a day ago. Any other
 * message: *handled false, nothing done. A malformed notice: SHOAL_EINPUT. */
shoal_err agent_member_on_notice(struct agent_ctx *ctx, const void *payload, size_t len,
                                 int64_t now_ms, bool *handled, shoal_diag *diag);

#endif
