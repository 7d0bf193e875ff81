/* pricing.c - PLACEHOLDER until issue 3 (pricing) lands: accepts every section. */
#include "pricing.h"

shoal_err shoal_pricing_validate_doc(const cJSON *doc, shoal_diag *diag) {
  (void)doc;
  (void)diag;
  return SHOAL_OK;
}
