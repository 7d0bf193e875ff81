/* fuzz_expr.c - the expression language (SPEC 6): compile any text, and
 * evaluate what compiles against an environment with every value type.
 * Evaluation never fails on data, only on resource limits. */
#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "shoal/expr.h"

static cJSON *env;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  env = cJSON_Parse("{\"customer_type\":\"wholesale\",\"qty\":3,\"price\":12.5,\"ok\":true,"
                    "\"none\":null,\"tags\":[\"vip\",\"b2b\"],\"customer\":{\"tier\":\"gold\","
                    "\"tags\":[\"a\"]},\"title\":\"Broken fridge\",\"priority\":\"high\"}");
  if (!env)
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstr(data, size);
  shoal_expr *e = NULL;
  shoal_diag d;
  if (shoal_expr_compile(text, &e, &d) == SHOAL_OK) {
    cJSON *v = NULL;
    if (shoal_expr_eval(e, env, &v, &d) == SHOAL_OK) {
      (void)shoal_expr_truthy(v);
      cJSON_Delete(v);
    }
    bool b;
    (void)shoal_expr_test(e, env, &b, &d);
    for (size_t i = 0; i < shoal_expr_name_count(e); i++)
      if (!shoal_expr_name_at(e, i))
        abort();
    shoal_expr_free(e);
  }
  free(text);
  return 0;
}
