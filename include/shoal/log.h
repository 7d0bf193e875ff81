/* log.h - logging through a caller-supplied callback with levels.
 * libshoal never writes to stdout/stderr itself: whoever embeds it passes a
 * shoal_logger; the level is checked before any formatting happens. */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

enum shoal_log_level { SHOAL_LOG_ERROR = 0, SHOAL_LOG_WARN, SHOAL_LOG_INFO, SHOAL_LOG_DEBUG };

typedef void (*shoal_log_fn)(void *user, enum shoal_log_level level, const char *msg);

struct shoal_logger {
  shoal_log_fn fn; /* NULL: logging off */
  void *user;      /* passed back to fn, not owned */
  enum shoal_log_level max_level;
};

/* Formats and delivers one message if lg is set and level <= lg->max_level. */
void shoal_log(const struct shoal_logger *lg, enum shoal_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "error", "warn", "info", "debug". */
const char *shoal_log_level_str(enum shoal_log_level level);

#endif
