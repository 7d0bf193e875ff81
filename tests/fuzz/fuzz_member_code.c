/* fuzz_member_code.c - loyalty member codes (SPEC 13), typed or scanned at
 * a till. Raw input must never verify under the fuzzer's fresh key; a code
 * that decodes must re-encode (signed with the fuzzer's key) and verify
 * back to the same fields (decode and make agree on every field) unless it
 * expired before 1970. */
#include "fuzz_util.h"
#include "shoal/member_code.h"

static struct shoal_privkey *priv;
static struct shoal_pubkey *pub;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_keys(&priv, &pub);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const struct shoal_pubkey *keys[1] = {pub};
  char *code = fuzz_cstr(data, size);
  struct shoal_member_code m, back;
  shoal_diag d;
  if (shoal_member_code_verify(code, keys, 1, 0, &m, &d) == SHOAL_OK) {
    fprintf(stderr, "a member code verified under a key nobody signed with: %s\n", code);
    abort();
  }
  /* Codes already expired at time 0 cannot verify; skip those. */
  if (shoal_member_code_decode(code, &m, &d) == SHOAL_OK && m.expires > 0) {
    char *made = NULL;
    if (shoal_member_code_make(priv, &m, &made, &d) == SHOAL_OK) {
      if (shoal_member_code_verify(made, keys, 1, 0, &back, &d) != SHOAL_OK ||
          strcmp(back.customer, m.customer) != 0 || strcmp(back.tier, m.tier) != 0 ||
          back.ntags != m.ntags || back.points != m.points || back.expires != m.expires ||
          strcmp(back.nonce, m.nonce) != 0) {
        fprintf(stderr, "decoded code does not round trip: %s -> %s (%s)\n", code, made, d.msg);
        abort();
      }
      for (size_t i = 0; i < m.ntags; i++)
        if (strcmp(back.tags[i], m.tags[i]) != 0)
          abort();
      free(made);
    }
  }
  free(code);
  return 0;
}
