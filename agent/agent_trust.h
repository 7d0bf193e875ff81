/* agent_trust.h - the public keys an agent trusts for policy envelopes and
 * work-order codes: the config's trust.policy_pub (and policy_pub_next,
 * for key rotation). */
#ifndef AGENT_TRUST_H
#define AGENT_TRUST_H

#include <stddef.h>

#include "agent_ctx.h"
#include "signing.h"

struct agent_trust {
  struct shoal_pubkey *keys[SHOAL_TRUST_KEYS_MAX];
  size_t n;
};

/* Loads every trusted key. SHOAL_ECONFIG if none is configured. */
shoal_err agent_trust_load(struct agent_ctx *ctx, struct agent_trust *out, shoal_diag *diag);

/* Frees the keys; safe on a zeroed struct. */
void agent_trust_cleanup(struct agent_trust *t);

#endif
