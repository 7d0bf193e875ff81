/* err.c - error strings, exit codes and diagnostics for the shoal_err table. */
#include "shoal/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
  int exit_code;
  const char *text;
} err_table[] = {
#define SHOAL__ERR_ROW(name, exitcode, text) {exitcode, text},
    SHOAL_ERR_TABLE(SHOAL__ERR_ROW)
#undef SHOAL__ERR_ROW
};

const char *shoal_err_str(shoal_err err) {
  if ((int)err < 0 || err >= SHOAL__ERR_COUNT)
    return "unknown error";
  return err_table[err].text;
}

int shoal_err_exit_code(shoal_err err) {
  if ((int)err < 0 || err >= SHOAL__ERR_COUNT)
    return 1;
  return err_table[err].exit_code;
}

shoal_err shoal_fail(shoal_diag *diag, shoal_err err, const char *fmt, ...) {
  if (diag) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
    va_end(ap);
  }
  return err;
}

void shoal_diag_prefix(shoal_diag *diag, const char *fmt, ...) {
  if (!diag)
    return;
  char prefix[SHOAL_DIAG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  /* Room for both parts; the result is cut to the diag's size. */
  char joined[2 * SHOAL_DIAG_MAX + 4];
  snprintf(joined, sizeof joined, "%s: %s", prefix, diag->msg);
  snprintf(diag->msg, sizeof diag->msg, "%.*s", (int)(sizeof diag->msg - 1), joined);
}
