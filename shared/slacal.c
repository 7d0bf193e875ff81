/* slacal.c - SLA business calendar arithmetic. Everything walks the
 * calendar's windows day by day in the store's local time, starting the
 * day before the instant (a night window opened yesterday may still be
 * open), so weekends, holidays, midnight and windows that span midnight
 * need no special cases. Every walk is bounded (SLACAL_MAX_DAYS). */
#include "shoal/slacal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/checkout.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"

#define DAY_MS          86400000LL
#define MIN_MS          60000LL
#define SLACAL_MAX_DAYS 2000000 /* ~5500 years of days: a walk never runs away */

shoal_err shoal_slacal_parse_offset(const char *s, int *out_min, shoal_diag *diag) {
  /* One reading of utc_offset for sales and SLA calendars (checkout.c). */
  if (!s || !shoal_utc_offset_parse(s, out_min))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "utc_offset \"%.20s\" must be +HH:MM or -HH:MM within +-14:00", s ? s : "");
  return SHOAL_OK;
}

/* "HH:MM" at p (5 chars) into minutes; 24:00 only when allow24. */
static bool hhmm(const char *p, bool allow24, int *out) {
  if (p[0] < '0' || p[0] > '2' || p[1] < '0' || p[1] > '9' || p[2] != ':' || p[3] < '0' ||
      p[3] > '5' || p[4] < '0' || p[4] > '9')
    return false;
  int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
  if (h > 24 || (h == 24 && (!allow24 || m != 0)))
    return false;
  *out = h * 60 + m;
  return true;
}

/* "HH:MM-HH:MM" -> opening minute and window length. */
static bool parse_hours(const char *s, int *open, int *len) {
  int a = 0, b = 0;
  if (strlen(s) != 11 || s[5] != '-' || !hhmm(s, false, &a) || !hhmm(s + 6, true, &b) || a == b)
    return false;
  *open = a;
  *len = b > a ? b - a : (int)(DAY_MS / MIN_MS) - a + b;
  return true;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

shoal_err shoal_slacal_validate(const cJSON *cal, shoal_diag *diag) {
  struct shoal_slacal c;
  shoal_err rc = shoal_slacal_init(&c, cal, NULL, diag);
  shoal_slacal_cleanup(&c);
  return rc;
}

shoal_err shoal_slacal_init(struct shoal_slacal *c, const cJSON *cal, const char *utc_offset,
                            shoal_diag *diag) {
  memset(c, 0, sizeof *c);
  shoal_err rc;
  if (utc_offset && (rc = shoal_slacal_parse_offset(utc_offset, &c->offset_min, diag)) != SHOAL_OK)
    return rc;
  if (!cal)
    return SHOAL_OK;
  if (!cJSON_IsObject(cal))
    return shoal_fail(diag, SHOAL_EINPUT, "sla.calendar must be an object");
  for (const cJSON *k = cal->child; k; k = k->next)
    if (strcmp(k->string, "days") && strcmp(k->string, "hours") && strcmp(k->string, "holidays"))
      return shoal_fail(diag, SHOAL_EINPUT, "sla.calendar: unknown key \"%.40s\"", k->string);
  const cJSON *days = cJSON_GetObjectItemCaseSensitive(cal, "days"), *d;
  const cJSON *hours = cJSON_GetObjectItemCaseSensitive(cal, "hours");
  const cJSON *hol = cJSON_GetObjectItemCaseSensitive(cal, "holidays");
  if (!cJSON_IsArray(days) || cJSON_GetArraySize(days) == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "sla.calendar.days must be a non-empty array of 1..7");
  cJSON_ArrayForEach(d, days) {
    int64_t v = shoal_json_is_int(d) ? shoal_json_int(d) : 0;
    if (v < 1 || v > 7 || (c->days & (1u << v)))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "sla.calendar.days: each day is a distinct integer 1 (Monday) .. 7 "
                        "(Sunday)");
    c->days |= 1u << v;
  }
  if (!cJSON_IsString(hours) || !parse_hours(hours->valuestring, &c->open_min, &c->len_min))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "sla.calendar.hours must be \"HH:MM-HH:MM\" (end 24:00 allowed; an end "
                      "before the start runs past midnight)");
  if (hol) {
    if (!cJSON_IsArray(hol) || cJSON_GetArraySize(hol) > SHOAL_SLA_HOLIDAYS_MAX)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "sla.calendar.holidays must be an array of at most %d dates",
                        SHOAL_SLA_HOLIDAYS_MAX);
    size_t n = (size_t)cJSON_GetArraySize(hol);
    if (n && !(c->holidays = calloc(n, sizeof *c->holidays)))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    cJSON_ArrayForEach(d, hol) {
      if (!cJSON_IsString(d) || !shoal_date_parse(d->valuestring, &c->holidays[c->nholidays]))
        return shoal_fail(diag, SHOAL_EINPUT,
                          "sla.calendar.holidays: \"%.20s\" is not a date YYYY-MM-DD",
                          cJSON_IsString(d) ? d->valuestring : "");
      c->nholidays++;
    }
    qsort(c->holidays, c->nholidays, sizeof *c->holidays, cmp_i64);
  }
  c->set = true;
  return SHOAL_OK;
}

void shoal_slacal_cleanup(struct shoal_slacal *c) {
  free(c->holidays);
  c->holidays = NULL;
  c->nholidays = 0;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Whether a window opens on local day `day` (days since 1970-01-01). */
static bool opens(const struct shoal_slacal *c, int64_t day) {
  int wd = (int)((((day % 7) + 7) % 7 + 3) % 7) + 1; /* 1970-01-01 was a Thursday (4) */
  if (!(c->days & (1u << wd)))
    return false;
  return !c->nholidays || !bsearch(&day, c->holidays, c->nholidays, sizeof *c->holidays, cmp_i64);
}

/* The window of local day `day` in UTC ms: [*ws, *we). */
static void window(const struct shoal_slacal *c, int64_t day, int64_t *ws, int64_t *we) {
  *ws = day * DAY_MS + c->open_min * MIN_MS - c->offset_min * MIN_MS;
  *we = *ws + c->len_min * MIN_MS;
}

int64_t shoal_slacal_add(const struct shoal_slacal *c, int64_t from_ms, int64_t minutes) {
  if (!c || !c->set)
    return from_ms + minutes * MIN_MS;
  int64_t left = minutes * MIN_MS;
  int64_t day = floor_div(from_ms + c->offset_min * MIN_MS, DAY_MS) - 1;
  for (int i = 0; i < SLACAL_MAX_DAYS; i++, day++) {
    if (!opens(c, day))
      continue;
    int64_t ws, we;
    window(c, day, &ws, &we);
    if (we <= from_ms)
      continue;
    int64_t s = ws > from_ms ? ws : from_ms;
    if (left <= we - s)
      return s + left;
    left -= we - s;
  }
  return 0;
}

int64_t shoal_slacal_between(const struct shoal_slacal *c, int64_t from_ms, int64_t to_ms) {
  if (to_ms <= from_ms)
    return 0;
  if (!c || !c->set)
    return to_ms - from_ms;
  int64_t total = 0;
  int64_t day = floor_div(from_ms + c->offset_min * MIN_MS, DAY_MS) - 1;
  int64_t last = floor_div(to_ms + c->offset_min * MIN_MS, DAY_MS);
  for (int i = 0; i < SLACAL_MAX_DAYS && day <= last; i++, day++) {
    if (!opens(c, day))
      continue;
    int64_t ws, we;
    window(c, day, &ws, &we);
    int64_t s = ws > from_ms ? ws : from_ms, e = we < to_ms ? we : to_ms;
    if (e > s)
      total += e - s;
  }
  return total;
}
