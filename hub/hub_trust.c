/* hub_trust.c - the hub's record of trust updates (key rotation,
 * docs/security.md): reads trust_updates back as the chain agents get,
 * retained, on P/trust. Shared by `shoal-hub trust` (cmd_trust.c, which
 * signs and records updates) and `shoal-hub run` (which republishes the
 * chain on connect). Reads only; never writes the table. */
#include <stdlib.h>

#include "hub_trust.h"
#include "shoal/shoal_limits.h"
#include "shoal/trust.h"
#include "shoal/util.h"
#include "store.h"

shoal_err hub_trust_chain(struct hub_ctx *ctx, char **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  char *ups[SHOAL_TRUST_CHAIN_MAX] = {0};
  size_t n = 0;
  shoal_err rc =
      hub_store_prepare(ctx->db,
                        "SELECT update_json FROM (SELECT version, update_json FROM "
                        "trust_updates ORDER BY version DESC LIMIT ?) u ORDER BY version",
                        &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int(st, 1, SHOAL_TRUST_CHAIN_MAX);
  int s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW && n < SHOAL_TRUST_CHAIN_MAX)
    if (!(ups[n++] = shoal_strdup((const char *)hub_store_column_text(st, 0)))) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  if (s != HUB_STORE_DONE && s != HUB_STORE_ROW) {
    rc = hub_store_fail(ctx->db, s, "read trust updates", diag);
    goto cleanup;
  }
  if (n == 0) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "no trust update has been issued yet");
    goto cleanup;
  }
  rc = shoal_trust_chain_encode((const char *const *)ups, n, out, diag);
cleanup:
  hub_store_finalize(st);
  for (size_t i = 0; i < n; i++)
    free(ups[i]);
  return rc;
}
