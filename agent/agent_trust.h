/* agent_trust.h - the public keys an agent trusts for policy envelopes and
 * work-order codes. Until the first trust update the keys are the config's
 * trust.policy_pub (and policy_pub_next); once HQ's signed trust update has
 * been accepted (include/shoal/trust.h), the list it carries, stored in the agent
 * database, replaces them: a key dropped by a rotation is no longer trusted
 * even though the config still names it. */
#ifndef AGENT_TRUST_H
#define AGENT_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_ctx.h"
#include "shoal/signing.h"

struct agent_trust {
  struct shoal_pubkey *keys[SHOAL_TRUST_KEYS_MAX];
  size_t n;
  int64_t version; /* accepted trust update version; 0 = the config's keys */
};

/* Loads every trusted key: the stored trust list if the database (ctx->db,
 * may be NULL) holds one, else the config's keys. SHOAL_ECONFIG if none. */
shoal_err agent_trust_load(struct agent_ctx *ctx, struct agent_trust *out, shoal_diag *diag);

/* Applies a trust message (the retained chain from P/trust) verified with
 * *trust. When it carries a newer version, the new key list is stored in
 * the database (one transaction) and *trust is replaced by it; *changed
 * tells. A refused message is recorded (policy_rejections, scope "trust")
 * and returned as its error (SHOAL_ESIG, SHOAL_EINPUT ...); *trust is then
 * unchanged. */
shoal_err agent_trust_on_update(struct agent_ctx *ctx, struct agent_trust *trust,
                                const void *payload, size_t len, bool *changed, shoal_diag *diag);

/* Frees the keys; safe on a zeroed struct. */
void agent_trust_cleanup(struct agent_trust *t);

#endif
