/* timeutil.c - ISO-8601 parsing and formatting without the C library's
 * time-zone state (timegm/localtime are process-global; we need none). */
#include "shoal/timeutil.h"

#include <stdio.h>
#include <string.h>

int64_t shoal_days_from_civil(int64_t y, unsigned m, unsigned d) {
  /* Howard Hinnant's days_from_civil. */
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return 29;
  return dm[m - 1];
}

/* Reads exactly n digits at *p; advances *p. */
static bool digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return true;
}

static bool parse_date_part(const char **p, int *y, int *mo, int *d) {
  if (!digits(p, 4, y) || **p != '-')
    return false;
  (*p)++;
  if (!digits(p, 2, mo) || **p != '-')
    return false;
  (*p)++;
  if (!digits(p, 2, d))
    return false;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > days_in_month(*y, (unsigned)*mo))
    return false;
  return true;
}

bool shoal_date_parse(const char *s, int64_t *out_days) {
  const char *p = s;
  int y, mo, d;
  if (!parse_date_part(&p, &y, &mo, &d) || *p != '\0')
    return false;
  *out_days = shoal_days_from_civil(y, (unsigned)mo, (unsigned)d);
  return true;
}

shoal_err shoal_time_parse(const char *s, struct shoal_time *out, shoal_diag *diag) {
  const char *p = s;
  int y, mo, d, h, mi, sec = 0, ms = 0;
  if (!s)
    return shoal_fail(diag, SHOAL_EINPUT, "missing timestamp");
  if (!parse_date_part(&p, &y, &mo, &d))
    goto bad;
  if (*p != 'T' && *p != 't' && *p != ' ')
    goto bad;
  p++;
  if (!digits(&p, 2, &h) || *p != ':')
    goto bad;
  p++;
  if (!digits(&p, 2, &mi))
    goto bad;
  if (*p == ':') {
    p++;
    if (!digits(&p, 2, &sec))
      goto bad;
    if (*p == '.' || *p == ',') {
      p++;
      int n = 0;
      ms = 0;
      while (*p >= '0' && *p <= '9') {
        if (n < 3)
          ms = ms * 10 + (*p - '0');
        n++;
        p++;
      }
      if (n == 0 || n > 9)
        goto bad;
      for (; n < 3; n++)
        ms *= 10;
    }
  }
  if (h > 23 || mi > 59 || sec > 59)
    goto bad;
  int off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (!digits(&p, 2, &oh))
      goto bad;
    if (*p == ':')
      p++;
    if (!digits(&p, 2, &om) || oh > 23 || om > 59)
      goto bad;
    off = sign * (oh * 60 + om);
  } else {
    return shoal_fail(diag, SHOAL_EINPUT, "timestamp \"%s\" has no UTC offset (add Z or +HH:MM)",
                      s);
  }
  if (*p != '\0')
    goto bad;
  int64_t days = shoal_days_from_civil(y, (unsigned)mo, (unsigned)d);
  int64_t local_s = days * 86400 + h * 3600 + mi * 60 + sec;
  out->unix_ms = (local_s - (int64_t)off * 60) * 1000 + ms;
  out->offset_min = off;
  return SHOAL_OK;
bad:
  return shoal_fail(diag, SHOAL_EINPUT, "bad ISO-8601 timestamp \"%s\"", s);
}

static void format(int64_t unix_ms, char *buf, unsigned long bufsz, bool with_ms) {
  int64_t s = unix_ms >= 0 ? unix_ms / 1000 : -((-unix_ms + 999) / 1000);
  int ms = (int)(unix_ms - s * 1000);
  int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  int64_t rem = s - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  if (with_ms)
    snprintf(buf, bufsz, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), ms);
  else
    snprintf(buf, bufsz, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

void shoal_time_format_utc(int64_t unix_ms, char *buf, unsigned long bufsz) {
  format(unix_ms, buf, bufsz, true);
}

void shoal_time_format_utc_s(int64_t unix_ms, char *buf, unsigned long bufsz) {
  format(unix_ms, buf, bufsz, false);
}

static int64_t local_seconds(const struct shoal_time *t) {
  int64_t ms = t->unix_ms + (int64_t)t->offset_min * 60000;
  return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

int shoal_time_local_weekday(const struct shoal_time *t) {
  int64_t s = local_seconds(t);
  int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  /* 1970-01-01 was a Thursday (ISO 4). */
  int64_t wd = ((days % 7) + 7 + 3) % 7; /* 0 = Monday */
  return (int)wd + 1;
}

int shoal_time_local_minute(const struct shoal_time *t) {
  int64_t s = local_seconds(t);
  int64_t rem = ((s % 86400) + 86400) % 86400;
  return (int)(rem / 60);
}
