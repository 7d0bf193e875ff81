/* hub_reports.c - HQ reports over the hub database (see hub_reports.h).
 * Read-only: every query runs on the handle given, so the HTTP thread's own
 * connection reads a consistent WAL snapshot while ingest writes. Money is
 * summed in SQLite's 64-bit integers and never touches a double on the way
 * out (cJSON numbers are exact below 2^53, far above SHOAL_MONEY_MAX sums). */
#include "hub_reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_publish.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/scope.h"
#include "shoal/settle.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

shoal_err hub_reports_time_parse(const char *s, const char *what, int64_t *out_ms,
                                 shoal_diag *diag) {
  if (!s || !*s)
    return SHOAL_OK;
  int64_t days;
  if (strlen(s) == 10 && shoal_date_parse(s, &days)) {
    *out_ms = days * 86400000LL;
    return SHOAL_OK;
  }
  /* An unencoded "+08:00" in a query string arrives as " 08:00" (form
   * decoding); a timestamp never holds a space, so take it back. */
  char buf[64];
  if (!shoal_strlcpy(buf, s, sizeof buf))
    return shoal_fail(diag, SHOAL_EINPUT, "%s: timestamp too long", what);
  for (char *p = buf; *p; p++)
    if (*p == ' ')
      *p = '+';
  struct shoal_time t;
  shoal_err rc = shoal_time_parse(buf, &t, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s", what);
    return SHOAL_EINPUT;
  }
  *out_ms = t.unix_ms;
  return SHOAL_OK;
}

shoal_err hub_reports_tz_parse(const char *tz, int64_t *offset_ms, shoal_diag *diag) {
  /* "+08:00", "-05:30", "Z"; a "+" decoded from a query string as " ". */
  if (strcmp(tz, "Z") == 0 || strcmp(tz, "UTC") == 0) {
    *offset_ms = 0;
    return SHOAL_OK;
  }
  int hh = 0, mm = 0;
  char sign = tz[0] == ' ' ? '+' : tz[0];
  if (strlen(tz) != 6 || (sign != '+' && sign != '-') || tz[3] != ':' ||
      sscanf(tz + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 14 || mm > 59)
    return shoal_fail(diag, SHOAL_EINPUT, "tz must be an offset like +08:00 (got \"%s\")", tz);
  *offset_ms = (sign == '-' ? -1 : 1) * ((int64_t)hh * 3600000 + (int64_t)mm * 60000);
  return SHOAL_OK;
}

/* The SQL macros below are laid out by hand. */
// clang-format off
/* JSON in SQL: the one place the dialects differ. D is SQ (SQLite's json1)
 * or PG (jsonb): D##_J text at a key, D##_JN a number there, D##_EACH the
 * elements of an array at a key as rows of alias(value), D##_ABSENT no
 * such key. */
#define SQ_J(doc, key)          "json_extract(" doc ", '$." key "')"
#define SQ_JN(doc, key)         "json_extract(" doc ", '$." key "')"
#define SQ_EACH(doc, key, a)    "json_each(" doc ", '$." key "') " a
#define SQ_ABSENT(doc, key)     "json_type(" doc ", '$." key "') IS NULL"
#define PG_J(doc, key)          "((" doc ")::jsonb ->> '" key "')"
#define PG_JN(doc, key)         "((" doc ")::jsonb ->> '" key "')::bigint"
#define PG_EACH(doc, key, a)    "jsonb_array_elements((" doc ")::jsonb -> '" key "') " a "(value)"
#define PG_ABSENT(doc, key)     "((" doc ")::jsonb -> '" key "') IS NULL"

/* The ledger a sales report groups: one row per sale (count 1, its total)
 * and one per return (its refund), each at its own time (SPEC 12). */
#define LEDGER(D)                                                                                \
  "WITH l AS (SELECT device, store, region, COALESCE(" D##_J("body", "channel") ", 'pos') "     \
  "AS channel, at_ms, 1 AS n, total AS t, 0 AS r FROM sales WHERE at_ms >= ?1 AND at_ms < ?2 "  \
  "UNION ALL SELECT device, store, region, channel, at_ms, 0, 0, refund FROM returns "          \
  "WHERE at_ms >= ?1 AND at_ms < ?2) "
#define SUMS "SUM(n), SUM(t), SUM(r)"

/* Region and store over long periods: whole UTC days [?4, ?5) from the
 * daily rollup (sales_daily), the partial days at the edges ([?1, ?4) and
 * [?5, ?2)) from sales, returns from their own (small) table. */
#define ROLLUP(key, keyagg, dailykey)                                                            \
  "WITH l AS (SELECT " key " AS k, " keyagg " AS region, COUNT(*) AS n, SUM(total) AS t, 0 AS r "     \
  "FROM sales WHERE at_ms >= ?1 AND at_ms < ?4 GROUP BY " key " UNION ALL "                     \
  "SELECT " key ", " keyagg ", COUNT(*), SUM(total), 0 FROM sales "                              \
  "WHERE at_ms >= ?5 AND at_ms < ?2 GROUP BY " key " UNION ALL "                                 \
  "SELECT " dailykey ", MAX(NULLIF(region, '')), SUM(count), SUM(total), 0 FROM sales_daily "    \
  "WHERE day_ms >= ?4 AND day_ms < ?5 GROUP BY " dailykey " UNION ALL "                          \
  "SELECT " key ", " keyagg ", 0, 0, SUM(refund) FROM returns "                                  \
  "WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY " key ") "

/* Lines sold and returned per SKU. */
#define BY_SKU(D)                                                                                \
  "WITH l AS (SELECT " D##_J("j.value", "sku") " AS sku, 1 AS n, "                              \
  D##_JN("j.value", "qty") " AS q, " D##_JN("j.value", "total") " AS t, 0 AS rq, 0 AS r "        \
  "FROM sales s, " D##_EACH("s.body", "lines", "j") " WHERE s.at_ms >= ?1 AND s.at_ms < ?2 "     \
  "UNION ALL SELECT " D##_J("j.value", "sku") ", 0, 0, 0, " D##_JN("j.value", "qty") ", "        \
  D##_JN("j.value", "refund") " FROM returns x, " D##_EACH("x.body", "lines", "j") " "           \
  "WHERE x.at_ms >= ?1 AND x.at_ms < ?2) "                                                      \
  "SELECT sku, SUM(n), SUM(q), SUM(t), SUM(rq), SUM(r) FROM l GROUP BY sku ORDER BY sku"

/* Money taken per payment method (cash net of change; sales recorded
 * without payments were cash) and refunded per method. */
#define BY_PAYMENT(D)                                                                            \
  "WITH s AS (SELECT body, total FROM sales WHERE at_ms >= ?1 AND at_ms < ?2), "                \
  "l AS (SELECT " D##_J("j.value", "method") " AS m, 1 AS n, "                                  \
  D##_JN("j.value", "amount") " AS t, 0 AS r FROM s, " D##_EACH("s.body", "payments", "j") " "   \
  "UNION ALL SELECT 'cash', 0, -" D##_JN("body", "change") ", 0 FROM s "                        \
  "WHERE " D##_JN("body", "change") " > 0 "                                                     \
  "UNION ALL SELECT 'cash', 1, total, 0 FROM s WHERE " D##_ABSENT("body", "payments") " "        \
  "UNION ALL SELECT " D##_J("j.value", "method") ", 0, 0, " D##_JN("j.value", "amount") " "      \
  "FROM returns x, " D##_EACH("x.body", "refunds", "j") " WHERE x.at_ms >= ?1 AND x.at_ms < ?2) " \
  "SELECT m, SUM(n), SUM(t), SUM(r) FROM l GROUP BY m ORDER BY m"

/* Discount given per promotion rule (SPEC 5.3 "applied"). */
#define BY_RULE(D)                                                                               \
  "SELECT " D##_J("j.value", "rule") " AS rule, MAX(" D##_J("j.value", "type") "), "            \
  "MAX(" D##_J("j.value", "scope") "), COUNT(*), SUM(" D##_JN("j.value", "discount") ") "        \
  "FROM sales s, " D##_EACH("s.body", "applied", "j") " WHERE s.at_ms >= ?1 AND s.at_ms < ?2 "   \
  "GROUP BY 1 ORDER BY 1"

enum by { BY_REGION, BY_STORE, BY_DEVICE, BY_HOUR, BY_CHANNEL, BYK_SKU, BYK_PAYMENT, BYK_RULE };

#define SALES_Q(D)                                                                               \
  {[BY_REGION] = ROLLUP("region", "region", "NULLIF(region, '')")                                \
       "SELECT k, " SUMS " FROM l GROUP BY k ORDER BY k",                                          \
   [BY_STORE] = ROLLUP("store", "MAX(region)", "store")                                          \
       "SELECT k, MAX(region), " SUMS " FROM l GROUP BY k ORDER BY k",                             \
   [BY_DEVICE] = LEDGER(D) "SELECT device, store, MAX(region), " SUMS                            \
                           " FROM l GROUP BY device, store ORDER BY store, device",                \
   /* Local hours of offset ?3 (whole-hour offsets keep UTC buckets; +05:30                      \
    * shifts them by half an hour). */                                                           \
   [BY_HOUR] = LEDGER(D) "SELECT ((at_ms + ?3) / 3600000) * 3600000 - ?3 AS h, region, "         \
                         SUMS " FROM l GROUP BY h, region ORDER BY h, region",                   \
   [BY_CHANNEL] = LEDGER(D) "SELECT channel, " SUMS " FROM l GROUP BY channel ORDER BY channel", \
   [BYK_SKU] = BY_SKU(D),                                                                        \
   [BYK_PAYMENT] = BY_PAYMENT(D),                                                                \
   [BYK_RULE] = BY_RULE(D)}

static const char *const sales_by[] = {
    [BY_REGION] = "region", [BY_STORE] = "store",     [BY_DEVICE] = "device", [BY_HOUR] = "hour",
    [BY_CHANNEL] = "channel", [BYK_SKU] = "sku", [BYK_PAYMENT] = "payment", [BYK_RULE] = "rule"};
static const char *const sales_sql[2][sizeof sales_by / sizeof sales_by[0]] = {SALES_Q(SQ),
                                                                                SALES_Q(PG)};

// clang-format on
/* count, total, returns, net from columns c.. (count, sales, refunds). */
static bool add_ledger(cJSON *row, hub_stmt *st, int c) {
  int64_t total = hub_store_column_int64(st, c + 1), ret = hub_store_column_int64(st, c + 2);
  return cJSON_AddNumberToObject(row, "count", (double)hub_store_column_int64(st, c)) &&
         cJSON_AddNumberToObject(row, "total", (double)total) &&
         cJSON_AddNumberToObject(row, "returns", (double)ret) &&
         cJSON_AddNumberToObject(row, "net", (double)(total - ret));
}

static cJSON *sales_row(enum by which, hub_stmt *st, int64_t tz_ms) {
  cJSON *row = cJSON_CreateObject();
  if (!row)
    return NULL;
  int c = 0;
  bool ok = true;
  switch (which) {
  case BY_REGION:
    ok &= hub_store_json_add_text(row, "region", st, c++);
    break;
  case BY_STORE:
    ok &= hub_store_json_add_text(row, "store", st, c++);
    ok &= hub_store_json_add_text(row, "region", st, c++);
    break;
  case BY_DEVICE:
    ok &= hub_store_json_add_text(row, "device", st, c++);
    ok &= hub_store_json_add_text(row, "store", st, c++);
    ok &= hub_store_json_add_text(row, "region", st, c++);
    break;
  case BY_HOUR: {
    ok &= hub_store_json_add_time(row, "hour", st, c);
    /* The bucket's start in the requested local time ("...T14:00+08:00"). */
    char local[SHOAL_TIME_TEXT_MAX];
    int64_t h = hub_store_column_int64(st, c++);
    shoal_time_format_utc(h + tz_ms, local, sizeof local);
    int64_t am = tz_ms < 0 ? -tz_ms : tz_ms;
    snprintf(local + 16, sizeof local - 16, "%c%02d:%02d", tz_ms < 0 ? '-' : '+',
             (int)(am / 3600000), (int)(am % 3600000 / 60000));
    ok &= cJSON_AddStringToObject(row, "hour_local", local) != NULL;
    ok &= hub_store_json_add_text(row, "region", st, c++);
    break;
  }
  case BY_CHANNEL:
    ok &= hub_store_json_add_text(row, "channel", st, c++);
    break;
  case BYK_SKU: {
    ok &= hub_store_json_add_text(row, "sku", st, 0);
    int64_t total = hub_store_column_int64(st, 3), ret = hub_store_column_int64(st, 5);
    ok &= cJSON_AddNumberToObject(row, "count", (double)hub_store_column_int64(st, 1)) != NULL;
    ok &= cJSON_AddNumberToObject(row, "qty", (double)hub_store_column_int64(st, 2)) != NULL;
    ok &= cJSON_AddNumberToObject(row, "total", (double)total) != NULL;
    ok &=
        cJSON_AddNumberToObject(row, "returned_qty", (double)hub_store_column_int64(st, 4)) != NULL;
    ok &= cJSON_AddNumberToObject(row, "returns", (double)ret) != NULL;
    ok &= cJSON_AddNumberToObject(row, "net", (double)(total - ret)) != NULL;
    goto done;
  }
  case BYK_PAYMENT:
    ok &= hub_store_json_add_text(row, "method", st, c++);
    break;
  case BYK_RULE:
    ok &= hub_store_json_add_text(row, "rule", st, 0);
    ok &= hub_store_json_add_text(row, "type", st, 1);
    ok &= hub_store_json_add_text(row, "scope", st, 2);
    ok &= cJSON_AddNumberToObject(row, "count", (double)hub_store_column_int64(st, 3)) != NULL;
    ok &= cJSON_AddNumberToObject(row, "discount", (double)hub_store_column_int64(st, 4)) != NULL;
    goto done;
  }
  ok &= add_ledger(row, st, c);
done:
  if (!ok) {
    cJSON_Delete(row);
    return NULL;
  }
  return row;
}

shoal_err hub_reports_sales(hub_store *db, const char *by, int64_t from_ms, int64_t to_ms,
                            cJSON **out, shoal_diag *diag) {
  return hub_reports_sales_tz(db, by, from_ms, to_ms, 0, out, diag);
}

/* The whole UTC days [*ds, *de) inside [from_ms, to_ms); none: both to_ms
 * (the raw rows cover it all). */
static void whole_days(int64_t from_ms, int64_t to_ms, int64_t *ds, int64_t *de) {
  const int64_t day = 86400000;
  int64_t lo = from_ms < -day * 1000000 ? -day * 1000000 : from_ms;
  int64_t hi = to_ms > day * 1000000 ? day * 1000000 : to_ms;
  *ds = lo >= 0 ? (lo + day - 1) / day * day : -((-lo) / day * day);
  *de = hi >= 0 ? hi / day * day : -((-hi + day - 1) / day * day);
  if (*ds >= *de) {
    *ds = *de = to_ms;
    return;
  }
  if (lo != from_ms)
    *ds = lo;
  if (hi != to_ms)
    *de = hi;
}

shoal_err hub_reports_sales_tz(hub_store *db, const char *by, int64_t from_ms, int64_t to_ms,
                               int64_t tz_ms, cJSON **out, shoal_diag *diag) {
  size_t n = sizeof sales_by / sizeof sales_by[0], which = n;
  for (size_t i = 0; i < n; i++)
    if (by && strcmp(by, sales_by[i]) == 0)
      which = i;
  if (which == n)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "by must be region, store, device, hour, channel, sku, payment or rule");
  hub_stmt *st = NULL;
  cJSON *arr = NULL;
  shoal_err rc =
      hub_store_prepare(db, sales_sql[hub_store_dialect(db) == HUB_STORE_PG][which], &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, from_ms);
  hub_store_bind_int64(st, 2, to_ms);
  if (which == BY_HOUR)
    hub_store_bind_int64(st, 3, tz_ms);
  if (which == BY_REGION || which == BY_STORE) {
    int64_t ds, de;
    whole_days(from_ms, to_ms, &ds, &de);
    hub_store_bind_int64(st, 4, ds);
    hub_store_bind_int64(st, 5, de);
  }
  if (!(arr = cJSON_CreateArray())) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  int src;
  while ((src = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *row = sales_row((enum by)which, st, tz_ms);
    if (!row || !cJSON_AddItemToArray(arr, row)) {
      cJSON_Delete(row);
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  if (src != HUB_STORE_DONE) {
    rc = hub_store_fail(db, src, "sales report", diag);
    goto cleanup;
  }
  *out = arr;
  arr = NULL;
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(arr);
  return rc;
}

/* Latest published documents by scope, parsed once per report. */
#define DOC_CACHE_MAX 256
struct doc_cache {
  size_t n;
  struct {
    char scope[SHOAL_SCOPE_MAX];
    cJSON *doc; /* NULL: no published version */
  } e[DOC_CACHE_MAX];
};

static void doc_cache_cleanup(struct doc_cache *c) {
  for (size_t i = 0; i < c->n; i++)
    cJSON_Delete(c->e[i].doc);
  c->n = 0;
}

/* The latest published document of scope (borrowed from the cache), or NULL. */
static shoal_err doc_cache_get(hub_store *db, struct doc_cache *c, const char *scope,
                               const cJSON **out, shoal_diag *diag) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->e[i].scope, scope) == 0) {
      *out = c->e[i].doc;
      return SHOAL_OK;
    }
  cJSON *doc = NULL;
  shoal_err rc = hub_policy_in_effect(db, scope, shoal_now_ms(), &doc, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (c->n < DOC_CACHE_MAX) {
    shoal_strlcpy(c->e[c->n].scope, scope, sizeof c->e[c->n].scope);
    c->e[c->n].doc = doc;
    c->n++;
    *out = doc;
    doc = NULL;
  } else {
    rc = shoal_fail(diag, SHOAL_ELIMIT, "more than %d policy scopes in one report", DOC_CACHE_MAX);
  }
  cJSON_Delete(doc);
  return rc;
}

/* The "settlement" section in effect for a store: store, region, global. */
static shoal_err settlement_for(hub_store *db, struct doc_cache *c, const char *store,
                                const char *region, const cJSON **out, shoal_diag *diag) {
  struct shoal_scope_chain chain;
  *out = NULL;
  shoal_err rc = shoal_scope_chain(&chain, region, store, diag);
  if (rc != SHOAL_OK)
    return rc;
  for (int i = SHOAL_SCOPE_CHAIN_LEN - 1; i >= 0; i--) { /* most specific first */
    const cJSON *doc = NULL;
    if (!shoal_scope_chain_has(&chain, (enum shoal_scope_kind)i))
      continue;
    rc = doc_cache_get(db, c, chain.scope[i], &doc, diag);
    if (rc != SHOAL_OK)
      return rc;
    const cJSON *s = doc ? cJSON_GetObjectItemCaseSensitive(doc, "settlement") : NULL;
    if (s) {
      *out = s;
      return SHOAL_OK;
    }
  }
  return SHOAL_OK;
}

shoal_err hub_reports_settlement(hub_store *db, int64_t from_ms, int64_t to_ms, cJSON **out,
                                 shoal_diag *diag) {
  /* Every store that sold in the period or that a published settlement
   * section maps to a scheme, with its region: from its sales, else the
   * region policy mapping it, else its devices. */
#define SETTLE_SQL(stores_of_p)                                                                    \
  "WITH s AS (SELECT store, MAX(region) AS region, SUM(t) AS t, SUM(r) AS r FROM "                 \
  "           (SELECT store, region, total AS t, 0 AS r FROM sales "                               \
  "            WHERE at_ms >= ?1 AND at_ms < ?2 UNION ALL "                                        \
  "            SELECT store, region, 0, refund FROM returns "                                      \
  "            WHERE at_ms >= ?1 AND at_ms < ?2) x GROUP BY store), "                              \
  "m AS (SELECT j.key AS store, MAX(CASE WHEN p.scope LIKE 'region/%' "                            \
  "             THEN substr(p.scope, 8) END) AS region "                                           \
  "      FROM policies p, " stores_of_p " j "                                                      \
  "      WHERE p.version = (SELECT MAX(version) FROM policies q WHERE q.scope = p.scope "          \
  "        AND (q.effective_at IS NULL OR "                                                        \
  "             shoal_time_ms(q.effective_at) <= ?3)) "                                            \
  "      GROUP BY j.key), "                                                                        \
  "d AS (SELECT store, MAX(region) AS region FROM devices GROUP BY store), "                       \
  "k AS (SELECT store FROM s UNION SELECT store FROM m) "                                          \
  "SELECT k.store, COALESCE(s.region, m.region, d.region), COALESCE(s.t, 0), "                     \
  "COALESCE(s.r, 0) FROM k "                                                                       \
  "LEFT JOIN s ON s.store = k.store LEFT JOIN m ON m.store = k.store "                             \
  "LEFT JOIN d ON d.store = k.store ORDER BY k.store"
  /* The one place the dialects differ: walking a JSON object's keys. */
  static const char *const sqls[2] = {
      SETTLE_SQL("json_each(p.doc, '$.settlement.stores')"),
      SETTLE_SQL("json_each(p.doc::json -> 'settlement' -> 'stores')")};
#undef SETTLE_SQL
  const char *sql = sqls[hub_store_dialect(db) == HUB_STORE_PG];
  hub_stmt *st = NULL;
  cJSON *arr = NULL;
  struct doc_cache *cache = calloc(1, sizeof *cache);
  if (!cache)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  shoal_err rc = hub_store_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  hub_store_bind_int64(st, 1, from_ms);
  hub_store_bind_int64(st, 2, to_ms);
  hub_store_bind_int64(st, 3, shoal_now_ms());
  if (!(arr = cJSON_CreateArray())) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  int src;
  while ((src = hub_store_step(st)) == HUB_STORE_ROW) {
    const char *store = (const char *)hub_store_column_text(st, 0);
    const char *region = (const char *)hub_store_column_text(st, 1);
    /* SPEC 12: commission is on net sales (sales - returns, each in the
     * period of its own time). */
    int64_t gross = hub_store_column_int64(st, 2), returns = hub_store_column_int64(st, 3);
    int64_t total = gross - returns;
    const cJSON *section = NULL;
    if ((rc = settlement_for(db, cache, store, region, &section, diag)) != SHOAL_OK)
      goto cleanup;
    struct shoal_settle_scheme scheme;
    bool found = false;
    if (section &&
        (rc = shoal_settle_store_scheme(section, store, &found, &scheme, diag)) != SHOAL_OK)
      goto cleanup;
    int64_t commission = 0;
    if (found && total > 0 &&
        (rc = shoal_settle_commission(&scheme, total, &commission, diag)) != SHOAL_OK)
      goto cleanup;
    cJSON *row = cJSON_CreateObject();
    bool ok = row != NULL;
    ok &= cJSON_AddStringToObject(row, "store", store) != NULL;
    if (region)
      ok &= cJSON_AddStringToObject(row, "region", region) != NULL;
    else
      ok &= cJSON_AddNullToObject(row, "region") != NULL;
    if (found)
      ok &= cJSON_AddStringToObject(row, "scheme", scheme.name) != NULL;
    else
      ok &= cJSON_AddNullToObject(row, "scheme") != NULL;
    ok &= cJSON_AddNumberToObject(row, "sales_total", (double)total) != NULL;
    ok &= cJSON_AddNumberToObject(row, "gross", (double)gross) != NULL;
    ok &= cJSON_AddNumberToObject(row, "returns", (double)returns) != NULL;
    ok &= cJSON_AddNumberToObject(row, "commission", (double)commission) != NULL;
    if (!ok || !shoal_json_push(arr, row)) {
      if (!ok)
        cJSON_Delete(row);
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  if (src != HUB_STORE_DONE) {
    rc = hub_store_fail(db, src, "settlement report", diag);
    goto cleanup;
  }
  *out = arr;
  arr = NULL;
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(arr);
  doc_cache_cleanup(cache);
  free(cache);
  return rc;
}

/* Identifiers cannot hold commas or quotes (SPEC 3), so fields need no quoting. */
char *hub_reports_settlement_csv(const cJSON *rows) {
  size_t cap = 128 + (size_t)cJSON_GetArraySize(rows) * (4 * SHOAL_ID_MAX + 64), len = 0;
  char *buf = malloc(cap);
  if (!buf)
    return NULL;
  len += (size_t)snprintf(buf, cap, "store,region,scheme,sales_total,commission\n");
  const cJSON *r;
  cJSON_ArrayForEach(r, rows) {
    const cJSON *region = cJSON_GetObjectItemCaseSensitive(r, "region");
    const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(r, "scheme");
    int n = snprintf(
        buf + len, cap - len, "%s,%s,%s,%lld,%lld\n",
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "store")),
        cJSON_IsString(region) ? region->valuestring : "",
        cJSON_IsString(scheme) ? scheme->valuestring : "",
        (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "sales_total")),
        (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "commission")));
    if (n < 0 || (size_t)n >= cap - len) {
      free(buf);
      return NULL;
    }
    len += (size_t)n;
  }
  return buf;
}

/* {scope: newest version in effect at now_ms}: a version whose effective_at
 * is still ahead is held by devices but not applied, so it is not "latest". */
static shoal_err latest_versions(hub_store *db, int64_t now_ms, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(db,
                                   "SELECT scope, MAX(version) FROM policies WHERE effective_at IS "
                                   "NULL OR shoal_time_ms(effective_at) <= ?1 "
                                   "GROUP BY scope",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, now_ms);
  cJSON *obj = cJSON_CreateObject();
  bool ok = obj != NULL;
  int src = HUB_STORE_DONE;
  while (ok && (src = hub_store_step(st)) == HUB_STORE_ROW)
    ok = cJSON_AddNumberToObject(obj, (const char *)hub_store_column_text(st, 0),
                                 (double)hub_store_column_int64(st, 1)) != NULL;
  hub_store_finalize(st);
  if (!ok || src != HUB_STORE_DONE) {
    cJSON_Delete(obj);
    return ok ? hub_store_fail(db, src, "reading policy versions", diag)
              : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = obj;
  return SHOAL_OK;
}

/* {"scope#version": expires_ms} for every published version that expires. */
static shoal_err expiring_versions(hub_store *db, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db, "SELECT scope, version, expires_at FROM policies WHERE expires_at IS NOT NULL", &st,
      diag);
  if (rc != SHOAL_OK)
    return rc;
  cJSON *obj = cJSON_CreateObject();
  bool ok = obj != NULL;
  int src = HUB_STORE_DONE;
  while (ok && (src = hub_store_step(st)) == HUB_STORE_ROW) {
    struct shoal_time t;
    shoal_diag ignored;
    char key[SHOAL_SCOPE_MAX + 24];
    if (shoal_time_parse((const char *)hub_store_column_text(st, 2), &t, &ignored) != SHOAL_OK)
      continue;
    snprintf(key, sizeof key, "%s#%lld", (const char *)hub_store_column_text(st, 0),
             (long long)hub_store_column_int64(st, 1));
    ok = cJSON_AddNumberToObject(obj, key, (double)t.unix_ms) != NULL;
  }
  hub_store_finalize(st);
  if (!ok || src != HUB_STORE_DONE) {
    cJSON_Delete(obj);
    return ok ? hub_store_fail(db, src, "reading policy expiry", diag)
              : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = obj;
  return SHOAL_OK;
}

shoal_err hub_reports_policies(hub_store *db, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db,
      "SELECT scope, version, published_ms FROM policies p WHERE version = "
      "(SELECT MAX(version) FROM policies q WHERE q.scope = p.scope) ORDER BY scope",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr != NULL;
  int src = HUB_STORE_DONE;
  while (ok && (src = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *row = cJSON_CreateObject();
    ok = shoal_json_push(arr, row) && hub_store_json_add_text(row, "scope", st, 0) &&
         cJSON_AddNumberToObject(row, "version", (double)hub_store_column_int64(st, 1)) &&
         hub_store_json_add_time(row, "published_at", st, 2);
  }
  hub_store_finalize(st);
  if (!ok || src != HUB_STORE_DONE) {
    cJSON_Delete(arr);
    return ok ? hub_store_fail(db, src, "reading policies", diag)
              : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = arr;
  return SHOAL_OK;
}

/* A fleet row's columns: identity, presence, ages and outbox figures. */
static bool device_columns(cJSON *row, hub_stmt *st, int64_t now_ms, bool online) {
  bool ok = true;
  ok &= hub_store_json_add_text(row, "device", st, 0);
  ok &= hub_store_json_add_text(row, "store", st, 1);
  ok &= hub_store_json_add_text(row, "region", st, 2);
  ok &= hub_store_json_add_text(row, "profile", st, 3);
  ok &= hub_store_json_add_text(row, "agent_version", st, 4);
  ok &= cJSON_AddBoolToObject(row, "online", online) != NULL;
  ok &= hub_store_json_add_time(row, "last_hello", st, 6);
  ok &= hub_store_json_add_time(row, "last_seen", st, 7);
  ok &= hub_store_json_add_time(row, "last_event", st, 8);
  if (hub_store_column_type(st, 7) == HUB_STORE_NULL)
    ok &= cJSON_AddNullToObject(row, "last_seen_age_s") != NULL;
  else
    ok &=
        cJSON_AddNumberToObject(row, "last_seen_age_s",
                                (double)((now_ms - hub_store_column_int64(st, 7)) / 1000)) != NULL;
  int64_t depth = hub_store_column_int64(st, 9);
  if (hub_store_column_type(st, 9) == HUB_STORE_NULL)
    ok &= cJSON_AddNullToObject(row, "outbox_depth") != NULL;
  else
    ok &= cJSON_AddNumberToObject(row, "outbox_depth", (double)depth) != NULL;
  /* outbox: live, from the newest seq known and the ack watermark;
   * outbox_depth stays what the last hello said. */
  if (hub_store_column_type(st, 13) == HUB_STORE_NULL) {
    if (hub_store_column_type(st, 9) == HUB_STORE_NULL)
      ok &= cJSON_AddNullToObject(row, "outbox") != NULL;
    else
      ok &= cJSON_AddNumberToObject(row, "outbox", (double)depth) != NULL;
  } else {
    int64_t live = hub_store_column_int64(st, 12);
    ok &= cJSON_AddNumberToObject(row, "outbox", (double)(live > 0 ? live : 0)) != NULL;
  }

  ok &=
      cJSON_AddNumberToObject(row, "dead_letters", (double)hub_store_column_int64(st, 11)) != NULL;
  return ok;
}

shoal_err hub_reports_devices(hub_store *db, int64_t now_ms, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  cJSON *latest = NULL, *arr = NULL, *expiring = NULL;
  shoal_err rc = latest_versions(db, now_ms, &latest, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = expiring_versions(db, &expiring, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = hub_store_prepare(
           db,
           "SELECT device, store, region, profile, agent_version, online, "
           "last_hello_ms, last_seen_ms, last_event_ms, outbox_depth, "
           "policy_versions, (SELECT COUNT(*) FROM dead_letters l WHERE l.device = d.device), "
           /* Live outbox: the agent holds every seq above the ack watermark
            * up to the newest seq the hub knows of (its last hello's, or a
            * later event's). */
           "MAX(COALESCE(d.hello_seq, 0), COALESCE((SELECT MAX(seq) FROM events e WHERE "
           "e.device = d.device AND e.epoch = d.epoch), 0)) - COALESCE((SELECT upto FROM "
           "streams s WHERE s.device = d.device AND s.epoch = d.epoch), 0), hello_seq "
           "FROM devices d ORDER BY store, device",
           &st, diag)) != SHOAL_OK)
    goto cleanup;
  if (!(arr = cJSON_CreateArray())) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  int src;
  while ((src = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *row = cJSON_CreateObject();
    bool ok = shoal_json_push(arr, row);
    const char *store = (const char *)hub_store_column_text(st, 1);
    const char *region = (const char *)hub_store_column_text(st, 2);
    bool online = hub_store_column_int(st, 5) != 0;
    int64_t depth = hub_store_column_int64(st, 9);
    ok &= device_columns(row, st, now_ms, online);
    /* Applied versions as the device last reported them in hello. */
    cJSON *applied = NULL;
    const char *pv = (const char *)hub_store_column_text(st, 10);
    if (pv) {
      shoal_diag ignored;
      shoal_err prc = shoal_json_parse(pv, strlen(pv), &applied, &ignored);
      ok &= prc != SHOAL_ENOMEM;
      if (prc != SHOAL_OK || !cJSON_IsObject(applied)) {
        cJSON_Delete(applied);
        applied = NULL;
      }
    }
    if (!applied)
      applied = cJSON_CreateObject();
    if (!shoal_json_put(row, "policies", applied)) {
      ok = false;
      applied = NULL; /* deleted by shoal_json_put */
    }

    cJSON *lat = cJSON_AddObjectToObject(row, "latest");
    cJSON *behind = cJSON_AddArrayToObject(row, "behind");
    /* Stale (SPEC 4.3): an applied version past its expires_at keeps
     * applying on the device, and the fleet view flags it. */
    cJSON *stale = cJSON_AddArrayToObject(row, "stale");
    ok &= lat && behind && stale;
    const cJSON *av;
    cJSON_ArrayForEach(av, applied) {
      char key[SHOAL_SCOPE_MAX + 24];
      if (!cJSON_IsNumber(av))
        continue;
      snprintf(key, sizeof key, "%s#%lld", av->string, (long long)av->valuedouble);
      const cJSON *exp = cJSON_GetObjectItemCaseSensitive(expiring, key);
      if (cJSON_IsNumber(exp) && (int64_t)exp->valuedouble <= now_ms)
        ok &= shoal_json_push(stale, cJSON_CreateString(av->string));
    }
    struct shoal_scope_chain chain;
    /* region and store came from a validated hello; an id that is not one
     * leaves its slot empty, as no policy could be published for it. */
    if (shoal_scope_chain(&chain, region, store, NULL) != SHOAL_OK)
      (void)shoal_scope_chain(&chain, NULL, NULL, NULL);
    for (int i = 0; i < SHOAL_SCOPE_CHAIN_LEN; i++) {
      if (!shoal_scope_chain_has(&chain, (enum shoal_scope_kind)i))
        continue;
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(latest, chain.scope[i]);
      if (!v)
        continue;
      ok &= cJSON_AddNumberToObject(lat, chain.scope[i], v->valuedouble) != NULL;
      const cJSON *a = cJSON_GetObjectItemCaseSensitive(applied, chain.scope[i]);
      if (!cJSON_IsNumber(a) || a->valuedouble < v->valuedouble)
        ok &= shoal_json_push(behind, cJSON_CreateString(chain.scope[i]));
    }

    /* Connected but not syncing: online, a backlog reported, and nothing
     * stored from it (nor a fresh hello) for HUB_SYNC_STALL_MS. */
    int64_t last_progress = 0;
    if (hub_store_column_type(st, 8) != HUB_STORE_NULL)
      last_progress = hub_store_column_int64(st, 8);
    if (hub_store_column_type(st, 6) != HUB_STORE_NULL &&
        hub_store_column_int64(st, 6) > last_progress)
      last_progress = hub_store_column_int64(st, 6);
    const char *sync = "ok";
    if (!online)
      sync = "offline";
    else if (depth > 0 && now_ms - last_progress > HUB_SYNC_STALL_MS)
      sync = "not_syncing";
    else if (cJSON_GetArraySize(behind) > 0)
      sync = "behind";
    ok &= cJSON_AddStringToObject(row, "sync", sync) != NULL;
    if (!ok) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  if (src != HUB_STORE_DONE) {
    rc = hub_store_fail(db, src, "fleet report", diag);
    goto cleanup;
  }
  *out = arr;
  arr = NULL;
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(arr);
  cJSON_Delete(latest);
  cJSON_Delete(expiring);
  return rc;
}

/* SLA state of a ticket against its resolve due time. */
static const char *sla_state(hub_stmt *st, int64_t now_ms) {
  if (hub_store_column_type(st, 7) == HUB_STORE_NULL)
    return "none";
  int64_t due = hub_store_column_int64(st, 7);
  if (hub_store_column_type(st, 8) != HUB_STORE_NULL)
    return hub_store_column_int64(st, 8) <= due ? "met" : "breached";
  const char *state = (const char *)hub_store_column_text(st, 3);
  if (state && (strcmp(state, "cancelled") == 0 || strcmp(state, "closed") == 0))
    return "none";
  if (now_ms > due)
    return "breached";
  int64_t window = hub_store_column_type(st, 6) != HUB_STORE_NULL
                       ? due - hub_store_column_int64(st, 6)
                       : 4 * HUB_SLA_DUE_SOON_MIN_MS;
  int64_t soon = window / 4 > HUB_SLA_DUE_SOON_MIN_MS ? window / 4 : HUB_SLA_DUE_SOON_MIN_MS;
  return due - now_ms <= soon ? "due_soon" : "ok";
}

shoal_err hub_reports_tickets(hub_store *db, int64_t now_ms, cJSON **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  hub_stmt *st = NULL;
  if ((rc = hub_store_prepare(db,
                              "SELECT id, store, region, state, priority, grp, opened_ms, "
                              "resolve_due_ms, resolved_ms, escalation_level, doc FROM tickets "
                              "ORDER BY opened_ms DESC, id LIMIT ?1",
                              &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_int(st, 1, HUB_TICKETS_LIST_MAX);
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr != NULL;
  int src = HUB_STORE_DONE;
  while (ok && (src = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *row = cJSON_CreateObject();
    ok = shoal_json_push(arr, row);
    ok &= hub_store_json_add_text(row, "id", st, 0);
    ok &= hub_store_json_add_text(row, "store", st, 1);
    ok &= hub_store_json_add_text(row, "region", st, 2);
    ok &= hub_store_json_add_text(row, "state", st, 3);
    ok &= hub_store_json_add_text(row, "priority", st, 4);
    ok &= hub_store_json_add_text(row, "group", st, 5);
    /* category and title come from the merged ticket document. */
    cJSON *doc = NULL;
    shoal_diag ignored;
    const char *text = (const char *)hub_store_column_text(st, 10);
    shoal_err prc =
        text ? shoal_json_parse(text, (size_t)hub_store_column_bytes(st, 10), &doc, &ignored)
             : SHOAL_EINPUT;
    ok &= prc != SHOAL_ENOMEM;
    if (prc == SHOAL_OK) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "category");
      if (cJSON_IsString(v))
        ok &= cJSON_AddStringToObject(row, "category", v->valuestring) != NULL;
      v = cJSON_GetObjectItemCaseSensitive(doc, "title");
      if (cJSON_IsString(v))
        ok &= cJSON_AddStringToObject(row, "title", v->valuestring) != NULL;
    }
    cJSON_Delete(doc);
    ok &= hub_store_json_add_time(row, "opened_at", st, 6);
    ok &= hub_store_json_add_time(row, "resolve_due", st, 7);
    ok &= hub_store_json_add_time(row, "resolved_at", st, 8);
    ok &= cJSON_AddNumberToObject(row, "escalation_level", (double)hub_store_column_int64(st, 9)) !=
          NULL;
    ok &= cJSON_AddStringToObject(row, "sla_state", sla_state(st, now_ms)) != NULL;
  }
  hub_store_finalize(st);
  if (!ok || src != HUB_STORE_DONE) {
    cJSON_Delete(arr);
    return ok ? hub_store_fail(db, src, "ticket list", diag)
              : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = arr;
  return SHOAL_OK;
}
