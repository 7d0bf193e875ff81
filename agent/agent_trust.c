/* agent_trust.c - loading trusted policy keys. */
#include "agent_trust.h"

#include <string.h>

shoal_err agent_trust_load(struct agent_ctx *ctx, struct agent_trust *out, shoal_diag *diag) {
  memset(out, 0, sizeof *out);
  const char *paths[] = {ctx->cfg.trust_policy_pub, ctx->cfg.trust_policy_pub_next};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    if (!paths[i])
      continue;
    shoal_err rc = shoal_pubkey_load(paths[i], &out->keys[out->n], diag);
    if (rc != SHOAL_OK) {
      agent_trust_cleanup(out);
      return rc;
    }
    out->n++;
  }
  if (out->n == 0)
    return shoal_fail(diag, SHOAL_ECONFIG,
                      "%s: no trusted key: set \"trust\": {\"policy_pub\": \"policy-pub.pem\"}",
                      ctx->cfg.path);
  return SHOAL_OK;
}

void agent_trust_cleanup(struct agent_trust *t) {
  for (size_t i = 0; i < t->n; i++)
    shoal_pubkey_free(t->keys[i]);
  memset(t, 0, sizeof *t);
}
