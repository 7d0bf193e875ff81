/* fuzz_form_data.c - form submissions (SPEC 6) validated against the
 * after-sales form of the conformance vectors (required expressions,
 * visible_if, pattern, min/max, dates, choices) and its on_submit rules. */
#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "shoal/forms.h"

static shoal_form *form;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char *text = fuzz_read("../conformance/forms/04-required-expression.json", NULL);
  cJSON *root = cJSON_Parse(text);
  cJSON *pol = root ? cJSON_GetArrayItem(cJSON_GetObjectItem(root, "policies"), 0) : NULL;
  cJSON *def = pol ? cJSON_GetArrayItem(cJSON_GetObjectItem(pol, "forms"), 0) : NULL;
  shoal_diag d;
  if (!def || shoal_form_compile(def, &form, &d) != SHOAL_OK) {
    fprintf(stderr, "fuzz: form: %s\n", def ? d.msg : "no form in the vector");
    abort();
  }
  cJSON_Delete(root);
  free(text);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *json = NULL;
  shoal_diag d;
  if (shoal_forms_data_parse((const char *)data, size, &json, &d) != SHOAL_OK)
    return 0;
  struct shoal_form_result r;
  memset(&r, 0, sizeof r);
  if (shoal_form_validate(form, json, &r, &d) == SHOAL_OK) {
    cJSON *out = shoal_form_result_json(&r);
    cJSON_Delete(out);
    if (r.valid) {
      cJSON *tickets = NULL;
      if (shoal_form_on_submit(form, &r, &tickets, &d) == SHOAL_OK)
        cJSON_Delete(tickets);
    } else if (cJSON_GetArraySize(r.errors) == 0) {
      abort(); /* invalid without a named error */
    }
    shoal_form_result_cleanup(&r);
  }
  cJSON_Delete(json);
  return 0;
}
