/* timeutil.h - ISO-8601 timestamps with UTC offsets, to and from Unix
 * milliseconds, and the local wall-clock fields pricing rules need
 * (weekday, minute of day) in the offset the timestamp was written with. */
#ifndef SHOAL_TIMEUTIL_H
#define SHOAL_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "shoal/err.h"

struct shoal_time {
  int64_t unix_ms; /* instant, UTC */
  int offset_min;  /* offset it was written in: +08:00 -> 480 */
};

/* Parses "YYYY-MM-DDTHH:MM[:SS[.fff]](Z|+HH:MM|-HH:MM)". A date alone
 * ("YYYY-MM-DD") is refused: an instant needs an offset. Validates calendar
 * dates (no Feb 30) and ranges. */
shoal_err shoal_time_parse(const char *s, struct shoal_time *out, shoal_diag *diag);

/* Room for any instant this module formats ("YYYY-MM-DDTHH:MM:SS.mmm+HH:MM"
 * with a 5-digit year to spare), NUL included. */
#define SHOAL_TIME_TEXT_MAX 40

/* Formats an instant as UTC "YYYY-MM-DDTHH:MM:SS.mmmZ" (buf >= 32 bytes). */
void shoal_time_format_utc(int64_t unix_ms, char *buf, unsigned long bufsz);

/* Formats seconds-precision UTC "YYYY-MM-DDTHH:MM:SSZ" (buf >= 32 bytes). */
void shoal_time_format_utc_s(int64_t unix_ms, char *buf, unsigned long bufsz);

/* ISO weekday (1 = Monday ... 7 = Sunday) in the time's own offset. */
int shoal_time_local_weekday(const struct shoal_time *t);

/* Minutes since local midnight (0..1439) in the time's own offset. */
int shoal_time_local_minute(const struct shoal_time *t);

/* Parses a calendar date "YYYY-MM-DD" into days since 1970-01-01. */
bool shoal_date_parse(const char *s, int64_t *out_days);

/* Days since 1970-01-01 for a proleptic Gregorian date (no validation). */
int64_t shoal_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
