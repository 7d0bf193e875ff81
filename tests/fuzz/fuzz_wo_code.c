/* fuzz_wo_code.c - work-order codes (SPEC 7.4), scanned from paper by a
 * handheld. Raw input must never verify under the fuzzer's fresh key; and
 * a code made for ticket/store ids taken from the input must verify back to
 * the same ticket (a round trip over ids with '.' in them). */
#include "fuzz_util.h"
#include "shoal/signing.h"

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
  char ticket[SHOAL_ID_MAX + 1];
  int64_t exp = 0;
  shoal_diag d;
  if (shoal_wo_code_verify(code, keys, 1, "cd-001", 1795360000, ticket, &exp, &d) == SHOAL_OK) {
    fprintf(stderr, "a code verified under a key nobody signed with: %s\n", code);
    abort();
  }
  /* "ticket|store" from the input: when both are identifiers, round trip. */
  char *bar = strchr(code, '|');
  if (bar && size < 200) {
    *bar = '\0';
    const char *t = code, *s = bar + 1;
    if (shoal_id_valid(t) && shoal_id_valid(s)) {
      char *made = NULL;
      if (shoal_wo_code_make(priv, t, s, 1895360000, &made, &d) != SHOAL_OK)
        abort();
      if (shoal_wo_code_verify(made, keys, 1, s, 1795360000, ticket, &exp, &d) != SHOAL_OK ||
          strcmp(ticket, t) != 0 || exp != 1895360000) {
        fprintf(stderr, "code for %s/%s does not verify back: %s (%s)\n", t, s, made, d.msg);
        abort();
      }
      free(made);
    }
  }
  free(code);
  return 0;
}
