/* fuzz_policy_envelope.c - policy envelopes (SPEC 4.3) as an agent receives
 * them. Raw input goes through verify (which must refuse it: the key is
 * fresh); then, when the input is an object with the envelope's fields, it
 * is signed with the fuzzer's key and must verify, pass or fail the
 * acceptance rules cleanly, and its document goes through validation. */
#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "shoal/policy.h"
#include "shoal/signing.h"

static struct shoal_privkey *priv;
static struct shoal_pubkey *pub;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_keys(&priv, &pub);
  return 0;
}

static const char *str_or_null(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const struct shoal_pubkey *keys[1] = {pub};
  struct shoal_policy_envelope env;
  shoal_diag d;
  if (shoal_policy_envelope_verify((const char *)data, size, keys, 1, &env, &d) == SHOAL_OK) {
    fprintf(stderr, "an envelope verified under a key nobody signed with\n");
    abort();
  }
  cJSON *o = cJSON_ParseWithLength((const char *)data, size);
  const char *scope = str_or_null(o, "scope"), *issued = str_or_null(o, "issued_at"),
             *doc = str_or_null(o, "doc");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "version");
  if (scope && issued && doc && cJSON_IsNumber(ver) && ver->valuedouble >= 1 &&
      ver->valuedouble < 1e9) {
    char *text = NULL;
    if (shoal_policy_envelope_sign(priv, scope, (int64_t)ver->valuedouble, issued,
                                   str_or_null(o, "effective_at"), str_or_null(o, "expires_at"),
                                   doc, &text, &d) == SHOAL_OK) {
      shoal_err vrc = shoal_policy_envelope_verify(text, strlen(text), keys, 1, &env, &d);
      if (vrc == SHOAL_OK) {
        enum shoal_policy_verdict verdict;
        shoal_diag cd;
        (void)shoal_policy_envelope_check(&env, "cn-sw", "cd-001", 3, 1795360000000LL,
                                          1795000000000LL, &verdict, &cd);
        char sc[SHOAL_SCOPE_MAX];
        (void)shoal_policy_validate(env.doc, strlen(env.doc), sc, &cd);
        shoal_policy_envelope_cleanup(&env);
      } else {
        fprintf(stderr, "an envelope sign accepted does not verify: %s\n", d.msg);
        abort();
      }
      free(text);
    }
  }
  cJSON_Delete(o);
  return 0;
}
