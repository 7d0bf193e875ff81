/* fuzz_trust.c - the retained trust chain (key rotation) every agent parses
 * from P/trust: nothing unsigned may ever change what an agent trusts. */
#include "fuzz_util.h"
#include "shoal/trust.h"

static struct shoal_pubkey *pub;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_keys(NULL, &pub);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const struct shoal_pubkey *keys[1] = {pub};
  struct shoal_trust_update u;
  bool changed = false;
  shoal_diag d;
  shoal_err rc = shoal_trust_chain_apply((const char *)data, size, 0, keys, 1, &u, &changed, &d);
  if (rc == SHOAL_OK && changed) {
    fprintf(stderr, "an unsigned trust update was accepted\n");
    abort();
  }
  return 0;
}
