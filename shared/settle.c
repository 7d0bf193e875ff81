/* settle.c - PLACEHOLDER until issue 7 (store settlement) lands: accepts every section. */
#include "settle.h"

shoal_err shoal_settle_validate_doc(const cJSON *doc, shoal_diag *diag) {
  (void)doc;
  (void)diag;
  return SHOAL_OK;
}
