/* forms.c - PLACEHOLDER until issue 5 (forms) lands: accepts every section. */
#include "forms.h"

shoal_err shoal_forms_validate_doc(const cJSON *doc, shoal_diag *diag) {
  (void)doc;
  (void)diag;
  return SHOAL_OK;
}
