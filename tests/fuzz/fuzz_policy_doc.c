/* fuzz_policy_doc.c - policy document validation (SPEC 4.3): what
 * `shoal-hub publish` and POST /api/v1/policies run on HQ's input, and every
 * section validator (pricing, forms, expressions, routing, settlement). */
#include "fuzz_util.h"
#include "shoal/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char scope[SHOAL_SCOPE_MAX];
  shoal_diag d;
  (void)shoal_policy_validate((const char *)data, size, scope, &d);
  return 0;
}
