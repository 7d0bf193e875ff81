/* log.c - level-checked formatting for the callback logger. */
#include "shoal/log.h"

#include <stdarg.h>
#include <stdio.h>

#define LOG_LINE_MAX 1024 /* one formatted message; longer ones are cut */

void shoal_log(const struct shoal_logger *lg, enum shoal_log_level level, const char *fmt, ...) {
  if (!lg || !lg->fn || level > lg->max_level)
    return;
  char msg[LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lg->fn(lg->user, level, msg);
}

const char *shoal_log_level_str(enum shoal_log_level level) {
  switch (level) {
  case SHOAL_LOG_ERROR:
    return "error";
  case SHOAL_LOG_WARN:
    return "warn";
  case SHOAL_LOG_INFO:
    return "info";
  case SHOAL_LOG_DEBUG:
    return "debug";
  }
  return "?";
}
