/* slacal.h - the SLA business calendar (SPEC 15): policy key
 * sla.calendar {"days": [1..7], "hours": "HH:MM-HH:MM", "holidays":
 * ["YYYY-MM-DD"]} in the store's local time (policy key utc_offset). SLA
 * minutes count only inside the calendar's windows; without a calendar
 * they are wall-clock minutes (v1). A window opens at `hours`' start on
 * each listed weekday that is not a holiday and closes at its end, on the
 * next day when the end is not after the start (night shifts); the weekday
 * and holiday of a window are those of the day it opens. Offsets are fixed
 * (no DST), as utc_offset is. Pure: no clock, no I/O. */
#ifndef SHOAL_SLACAL_H
#define SHOAL_SLACAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"

struct shoal_slacal {
  bool set;          /* false: wall-clock minutes */
  int offset_min;    /* store local time = UTC + offset */
  unsigned days;     /* bit d set for ISO weekday d (1 = Monday .. 7 = Sunday) */
  int open_min;      /* minute of day the window opens, 0..1439 */
  int len_min;       /* window length in minutes, 1..1440 */
  int64_t *holidays; /* local days since 1970-01-01, sorted (owned) */
  size_t nholidays;
};

/* Parses "+HH:MM" / "-HH:MM" (within +-14:00) into minutes east of UTC. */
shoal_err shoal_slacal_parse_offset(const char *s, int *out_min, shoal_diag *diag);

/* Checks a calendar object: keys days, hours, holidays only; days distinct
 * integers 1..7 (at least one); hours "HH:MM-HH:MM" (end 24:00 allowed,
 * end != start); holidays real dates, at most SHOAL_SLA_HOLIDAYS_MAX.
 * SHOAL_EINPUT names the problem. */
shoal_err shoal_slacal_validate(const cJSON *cal, shoal_diag *diag);

/* Fills c from a calendar (NULL: not set) and a utc_offset string (NULL:
 * "+00:00"). Invalid input is SHOAL_EINPUT; release with cleanup. */
shoal_err shoal_slacal_init(struct shoal_slacal *c, const cJSON *cal, const char *utc_offset,
                            shoal_diag *diag);
void shoal_slacal_cleanup(struct shoal_slacal *c);

/* The instant (unix ms) at which `minutes` calendar minutes have passed
 * since from_ms; without a calendar from_ms + minutes. 0 if the calendar
 * never opens within the search bound (no due time). */
int64_t shoal_slacal_add(const struct shoal_slacal *c, int64_t from_ms, int64_t minutes);

/* Calendar milliseconds inside [from_ms, to_ms) (0 if to <= from); without
 * a calendar to - from. */
int64_t shoal_slacal_between(const struct shoal_slacal *c, int64_t from_ms, int64_t to_ms);

#endif
