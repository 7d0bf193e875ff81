/* bench_forms.c - what compiling a form once buys: the cost of compiling
 * the after-sales form (conformance vector 01) against the cost of
 * validating one submission with it and running its on_submit. Prints
 * figures; asserts nothing. Usage: bench_forms [SHOAL_SOURCE_DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shoal/forms.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const char *src = argc > 1 ? argv[1] : getenv("SHOAL_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/conformance/forms/01-valid-retail.json", src ? src : ".");
  cJSON *vec = NULL;
  shoal_diag d = {{0}};
  if (shoal_json_load_file(path, SHOAL_INPUT_MAX_BYTES, &vec, &d) != SHOAL_OK) {
    fprintf(stderr, "bench_forms: %s\n", d.msg);
    return 1;
  }
  const cJSON *pol = cJSON_GetArrayItem(cJSON_GetObjectItem(vec, "policies"), 0);
  const cJSON *def = cJSON_GetArrayItem(cJSON_GetObjectItem(pol, "forms"), 0);
  const cJSON *data = cJSON_GetObjectItem(vec, "data");
  enum { N_COMPILE = 20000, N_VALIDATE = 100000 };
  double t0 = now_s();
  for (int i = 0; i < N_COMPILE; i++) {
    shoal_form *f = NULL;
    if (shoal_form_compile(def, &f, &d) != SHOAL_OK) {
      fprintf(stderr, "bench_forms: %s\n", d.msg);
      return 1;
    }
    shoal_form_free(f);
  }
  double t_compile = (now_s() - t0) / N_COMPILE;
  shoal_form *f = NULL;
  shoal_form_compile(def, &f, &d);
  t0 = now_s();
  int valid = 0, tickets = 0;
  for (int i = 0; i < N_VALIDATE; i++) {
    struct shoal_form_result r = {0};
    cJSON *t = NULL;
    if (shoal_form_validate(f, data, &r, &d) != SHOAL_OK ||
        shoal_form_on_submit(f, &r, &t, &d) != SHOAL_OK) {
      fprintf(stderr, "bench_forms: %s\n", d.msg);
      return 1;
    }
    valid += r.valid;
    tickets += cJSON_GetArraySize(t);
    cJSON_Delete(t);
    shoal_form_result_cleanup(&r);
  }
  double t_validate = (now_s() - t0) / N_VALIDATE;
  printf("form compile (8 fields, 4 expressions, 1 pattern): %.1f us\n", t_compile * 1e6);
  printf("validate + on_submit per submission:               %.1f us (%.0f/s; %d valid, %d "
         "tickets)\n",
         t_validate * 1e6, 1.0 / t_validate, valid, tickets);
  printf("compiling once saves %.0f%% of the per-submission work\n",
         100.0 * t_compile / (t_compile + t_validate));
  shoal_form_free(f);
  cJSON_Delete(vec);
  return 0;
}
