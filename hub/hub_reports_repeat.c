/* hub_reports_repeat.c - repeat-purchase rate by channel or by hour of the
 * first purchase (see hub_reports_repeat.h). A purchase is one sale or
 * order (customer_purchases.source); a customer repeats with a second one.
 * Integer arithmetic only: rate_bp = round_half_up(10000 * repeat / n). */
#include "hub_reports_repeat.h"

#include <stdio.h>
#include <string.h>

#include "hub_publish.h"
#include "shoal/jsonx.h"
#include "store.h"

/* "+HH:MM" / "-HH:MM" -> seconds east of UTC. */
static bool offset_parse(const char *s, int64_t *out) {
  if (!s || strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':')
    return false;
  for (int i = 1; i < 6; i++)
    if (i != 3 && (s[i] < '0' || s[i] > '9'))
      return false;
  int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
  if (h > 14 || m > 59)
    return false;
  *out = (s[0] == '-' ? -1 : 1) * (int64_t)(h * 3600 + m * 60);
  return true;
}

shoal_err hub_reports_repeat(hub_store *db, const char *by, const char *utc_offset, int64_t now_ms,
                             cJSON **out, shoal_diag *diag) {
  bool hour = strcmp(by, "hour") == 0;
  if (!hour && strcmp(by, "channel") != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "by must be channel or hour");
  int64_t off = 0;
  shoal_err rc;
  if (utc_offset && *utc_offset) {
    if (!offset_parse(utc_offset, &off))
      return shoal_fail(diag, SHOAL_EINPUT, "utc_offset must be +HH:MM or -HH:MM");
  } else if (hour) {
    cJSON *doc = NULL;
    if ((rc = hub_policy_in_effect(db, "global", now_ms, &doc, diag)) != SHOAL_OK)
      return rc;
    const cJSON *u = doc ? cJSON_GetObjectItemCaseSensitive(doc, "utc_offset") : NULL;
    if (cJSON_IsString(u))
      offset_parse(u->valuestring, &off);
    cJSON_Delete(doc);
  }
  /* First purchase per customer (earliest time, then source, then line),
   * and how many distinct purchases the customer made. */
  char sql[1024];
  snprintf(sql, sizeof sql,
           "WITH per AS (SELECT customer, source, MIN(at_ms) AS at_ms, MIN(channel) AS channel "
           "FROM customer_purchases GROUP BY customer, source), "
           "firsts AS (SELECT customer, COUNT(*) AS n, "
           "(SELECT channel FROM per p2 WHERE p2.customer = per.customer "
           "ORDER BY at_ms, source LIMIT 1) AS channel, MIN(at_ms) AS first_ms "
           "FROM per GROUP BY customer) "
           "SELECT %s AS k, COUNT(*), SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) FROM firsts GROUP BY "
           "k ORDER BY k",
           hour ? "(((first_ms / 1000 + ?1) % 86400 + 86400) % 86400) / 3600" : "channel");
  hub_stmt *st = NULL;
  if ((rc = hub_store_prepare(db, sql, &st, diag)) != SHOAL_OK)
    return rc;
  if (hour)
    hub_store_bind_int64(st, 1, off);
  cJSON *arr = cJSON_CreateArray();
  int s;
  while (arr && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    int64_t n = hub_store_column_int64(st, 1), rep = hub_store_column_int64(st, 2);
    cJSON *e = cJSON_CreateObject();
    if (!e ||
        !(hour ? cJSON_AddNumberToObject(e, "hour", (double)hub_store_column_int64(st, 0))
               : cJSON_AddStringToObject(e, "channel",
                                         (const char *)hub_store_column_text(st, 0))) ||
        !cJSON_AddNumberToObject(e, "customers", (double)n) ||
        !cJSON_AddNumberToObject(e, "repeat", (double)rep) ||
        !cJSON_AddNumberToObject(e, "rate_bp", (double)((rep * 20000 / n + 1) / 2))) {
      cJSON_Delete(e);
      cJSON_Delete(arr);
      arr = NULL;
      break;
    }
    cJSON_AddItemToArray(arr, e);
  }
  hub_store_finalize(st);
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (s != HUB_STORE_DONE) {
    cJSON_Delete(arr);
    return hub_store_fail(db, s, "repeat-purchase report", diag);
  }
  *out = arr;
  return SHOAL_OK;
}
