/* hub_trust.h - the hub's record of trust updates (key rotation,
 * docs/security.md), shared by `shoal-hub trust` and `shoal-hub run`.
 * Everything declared here is defined in hub_trust.c. */
#ifndef HUB_TRUST_H
#define HUB_TRUST_H

#include "hub_ctx.h"
#include "shoal/err.h"

/* The retained P/trust message: the latest SHOAL_TRUST_CHAIN_MAX recorded
 * updates, ascending. *out heap (caller frees). SHOAL_ENOTFOUND if no
 * update was ever issued. */
shoal_err hub_trust_chain(struct hub_ctx *ctx, char **out, shoal_diag *diag);

#endif
