/* hub_orders.c - e-commerce order ingest (see hub_orders.h). Unknown SKUs
 * are accepted and flagged, not refused: the order already happened and was
 * paid in the shop, so refusing it would only lose the revenue and the
 * customer's points from the hub's books; the flag (stored per order,
 * returned to the caller and counted in /metrics) sends the catalogue gap
 * to a human. Everything else invalid is 422 and writes nothing. */
#include "hub_orders.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "hub_customers.h"
#include "hub_loyalty.h"
#include "hub_publish.h"
#include "jsonx.h"
#include "member_code.h"
#include "shoal_limits.h"
#include "timeutil.h"
#include "util.h"

#define ORDER_ID_MAX 128

bool hub_orders_signature_ok(const char *header, const char *secret, size_t secret_len,
                             const char *body, size_t len) {
  if (!header || !secret || secret_len == 0 || strncmp(header, "sha256=", 7) != 0)
    return false;
  char want[65];
  shoal_hmac_sha256_hex(secret, secret_len, body, len, want);
  const char *got = header + 7;
  size_t n = strlen(got);
  unsigned char diff = (unsigned char)(n != 64);
  for (size_t i = 0; i < 64; i++) {
    char g = i < n ? got[i] : 0;
    if (g >= 'A' && g <= 'F')
      g = (char)(g - 'A' + 'a'); /* hex case is not part of the secret */
    diff |= (unsigned char)(want[i] ^ g);
  }
  return diff == 0;
}

struct order_line {
  const char *sku, *name;
  int64_t qty, total;
};

struct order {
  const char *channel, *order_id, *status, *customer, *store, *region;
  int64_t paid_ms, refunded_ms, total;
  struct order_line *lines;
  int nlines;
};

static bool order_id_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > ORDER_ID_MAX)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p <= 0x20 || *p >= 0x7f || *p == '/')
      return false;
  return true;
}

static shoal_err keys_only(const cJSON *o, const char *const *keys, size_t n, const char *where,
                           shoal_diag *diag) {
  const cJSON *it;
  cJSON_ArrayForEach(it, o) {
    bool known = false;
    for (size_t i = 0; i < n; i++)
      known |= strcmp(it->string, keys[i]) == 0;
    if (!known)
      return shoal_fail(diag, SHOAL_EINPUT, "%sunknown key \"%.64s\"", where, it->string);
  }
  return SHOAL_OK;
}

static shoal_err time_field(const cJSON *o, const char *key, bool required, int64_t *ms,
                            shoal_diag *diag) {
  const char *s = NULL;
  if (shoal_json_get_str(o, key, required, &s, diag) != SHOAL_OK)
    return SHOAL_EINPUT;
  *ms = 0;
  if (!s)
    return SHOAL_OK;
  struct shoal_time t;
  if (shoal_time_parse(s, &t, diag) != SHOAL_OK) {
    shoal_diag_prefix(diag, "\"%s\"", key);
    return SHOAL_EINPUT;
  }
  *ms = t.unix_ms;
  return SHOAL_OK;
}

static shoal_err id_field(const cJSON *o, const char *key, const char **out, shoal_diag *diag) {
  if (shoal_json_get_str(o, key, false, out, diag) != SHOAL_OK)
    return SHOAL_EINPUT;
  if (*out && !shoal_id_valid(*out))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" is not an identifier", key);
  return SHOAL_OK;
}

static shoal_err parse_lines(const cJSON *arr, struct order *o, shoal_diag *diag) {
  static const char *const lkeys[] = {"sku", "qty", "total", "name"};
  int n = cJSON_GetArraySize(arr);
  if (!cJSON_IsArray(arr) || n < 1 || n > SHOAL_BASKET_MAX_LINES)
    return shoal_fail(diag, SHOAL_EINPUT, "\"lines\" must be an array of 1 to %d lines",
                      SHOAL_BASKET_MAX_LINES);
  if (!(o->lines = calloc((size_t)n, sizeof *o->lines)))
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  const cJSON *l;
  int64_t sum = 0;
  cJSON_ArrayForEach(l, arr) {
    struct order_line *ol = &o->lines[o->nlines];
    char where[32];
    snprintf(where, sizeof where, "lines[%d]: ", o->nlines);
    if (!cJSON_IsObject(l))
      return shoal_fail(diag, SHOAL_EINPUT, "lines[%d] must be an object", o->nlines);
    shoal_err rc;
    if ((rc = keys_only(l, lkeys, 4, where, diag)) != SHOAL_OK)
      return rc;
    if (shoal_json_get_str(l, "sku", true, &ol->sku, diag) != SHOAL_OK ||
        shoal_json_get_int(l, "qty", true, &ol->qty, diag) != SHOAL_OK ||
        shoal_json_get_int(l, "total", true, &ol->total, diag) != SHOAL_OK ||
        shoal_json_get_str(l, "name", false, &ol->name, diag) != SHOAL_OK) {
      shoal_diag_prefix(diag, "lines[%d]", o->nlines);
      return SHOAL_EINPUT;
    }
    if (!shoal_id_valid(ol->sku))
      return shoal_fail(diag, SHOAL_EINPUT, "lines[%d].sku is not an identifier", o->nlines);
    if (ol->qty < 1 || ol->qty > SHOAL_LINE_MAX_QTY)
      return shoal_fail(diag, SHOAL_EINPUT, "lines[%d].qty must be 1 to %d", o->nlines,
                        SHOAL_LINE_MAX_QTY);
    if (ol->total < 0 || ol->total > SHOAL_MONEY_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "lines[%d].total must not be negative", o->nlines);
    if (ol->name && strlen(ol->name) > SHOAL_CUSTOMER_TEXT_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "lines[%d].name is too long", o->nlines);
    for (int j = 0; j < o->nlines; j++)
      if (strcmp(o->lines[j].sku, ol->sku) == 0)
        return shoal_fail(diag, SHOAL_EINPUT, "duplicate line for SKU %s (lines[%d] and [%d])",
                          ol->sku, j, o->nlines);
    sum += ol->total;
    o->nlines++;
  }
  if (sum != o->total)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "\"total\" %" PRId64 " is not the sum of the line totals %" PRId64, o->total,
                      sum);
  return SHOAL_OK;
}

static shoal_err parse_order(const cJSON *j, struct order *o, shoal_diag *diag) {
  static const char *const keys[] = {"channel",  "order_id", "status", "paid_at", "customer",
                                     "store",    "region",   "lines",  "total",   "refunded_at"};
  shoal_err rc;
  memset(o, 0, sizeof *o);
  if (!cJSON_IsObject(j))
    return shoal_fail(diag, SHOAL_EINPUT, "the body must be a JSON object");
  if ((rc = keys_only(j, keys, sizeof keys / sizeof keys[0], "", diag)) != SHOAL_OK)
    return rc;
  if (shoal_json_get_str(j, "channel", true, &o->channel, diag) != SHOAL_OK ||
      shoal_json_get_str(j, "order_id", true, &o->order_id, diag) != SHOAL_OK ||
      shoal_json_get_str(j, "status", true, &o->status, diag) != SHOAL_OK ||
      shoal_json_get_int(j, "total", true, &o->total, diag) != SHOAL_OK)
    return SHOAL_EINPUT;
  if (!shoal_member_field_valid(o->channel))
    return shoal_fail(diag, SHOAL_EINPUT, "\"channel\" must be an identifier without '.'");
  if (!order_id_valid(o->order_id))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "\"order_id\" must be 1 to %d printable characters without spaces or '/'",
                      ORDER_ID_MAX);
  if (strcmp(o->status, "paid") != 0 && strcmp(o->status, "refunded") != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "\"status\" must be \"paid\" or \"refunded\"");
  if (o->total < 0 || o->total > SHOAL_MONEY_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "\"total\" must not be negative");
  if ((rc = time_field(j, "paid_at", true, &o->paid_ms, diag)) != SHOAL_OK ||
      (rc = time_field(j, "refunded_at", false, &o->refunded_ms, diag)) != SHOAL_OK ||
      (rc = id_field(j, "store", &o->store, diag)) != SHOAL_OK ||
      (rc = id_field(j, "region", &o->region, diag)) != SHOAL_OK)
    return rc;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "customer");
  if (c && !cJSON_IsNull(c)) {
    if (cJSON_IsObject(c))
      c = cJSON_GetObjectItemCaseSensitive(c, "id");
    if (!cJSON_IsString(c) || !shoal_member_field_valid(c->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "\"customer\" must be a customer id (or {\"id\"}) without '.'");
    o->customer = c->valuestring;
  }
  return parse_lines(cJSON_GetObjectItemCaseSensitive(j, "lines"), o, diag);
}

/* ---------------------------------------------------------------- catalogue */

/* SKUs priced at each scope in effect, rebuilt when policies change. The
 * HTTP thread is the only caller, and reads it between requests. */
struct catalogue {
  int64_t key_rows, key_ms; /* policies COUNT(*) and MAX(published_ms) when built */
  int64_t built_ms;
  char **entries;           /* "scope\n sku", sorted */
  size_t n;
};

static struct catalogue cat; /* hub-side cache: not in shared/ */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void catalogue_clear(void) {
  for (size_t i = 0; i < cat.n; i++)
    free(cat.entries[i]);
  free(cat.entries);
  cat.entries = NULL;
  cat.n = 0;
}

static shoal_err catalogue_load(sqlite3 *db, int64_t now_ms, shoal_diag *diag) {
  int64_t rows = 0, ms = 0;
  shoal_err rc;
  if ((rc = shoal_db_query_int(db, "SELECT COUNT(*) FROM policies", 0, &rows, diag)) ||
      (rc = shoal_db_query_int(db, "SELECT COALESCE(MAX(published_ms), 0) FROM policies", 0, &ms,
                               diag)))
    return rc;
  /* A scheduled version takes effect without a new row: look again each 5 s. */
  if (cat.entries && rows == cat.key_rows && ms == cat.key_ms && now_ms - cat.built_ms < 5000)
    return SHOAL_OK;
  catalogue_clear();
  sqlite3_stmt *st = NULL;
  if ((rc = shoal_db_prepare(db, "SELECT DISTINCT scope FROM policies", &st, diag)) != SHOAL_OK)
    return rc;
  size_t cap = 0;
  while (sqlite3_step(st) == SQLITE_ROW && rc == SHOAL_OK) {
    const char *scope = (const char *)sqlite3_column_text(st, 0);
    cJSON *doc = NULL;
    if ((rc = hub_policy_in_effect(db, scope, now_ms, &doc, diag)) != SHOAL_OK || !doc)
      continue;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *it;
    cJSON_ArrayForEach(it, items) {
      const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
      if (!cJSON_IsString(sku) || !cJSON_GetObjectItemCaseSensitive(it, "price"))
        continue;
      if (cat.n == cap) {
        size_t nc = cap ? cap * 2 : 1024;
        char **ne = realloc(cat.entries, nc * sizeof *ne);
        if (!ne) {
          rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
          break;
        }
        cat.entries = ne;
        cap = nc;
      }
      size_t len = strlen(scope) + strlen(sku->valuestring) + 2;
      if (!(cat.entries[cat.n] = malloc(len))) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        break;
      }
      snprintf(cat.entries[cat.n++], len, "%s\n%s", scope, sku->valuestring);
    }
    cJSON_Delete(doc);
  }
  sqlite3_finalize(st);
  if (rc != SHOAL_OK) {
    catalogue_clear();
    return rc;
  }
  if (cat.n)
    qsort(cat.entries, cat.n, sizeof *cat.entries, cmp_str);
  cat.key_rows = rows;
  cat.key_ms = ms;
  cat.built_ms = now_ms;
  if (!cat.entries)
    cat.entries = calloc(1, sizeof *cat.entries); /* built, empty */
  return SHOAL_OK;
}

static bool priced_at(const char *scope, const char *sku) {
  char key[3 * SHOAL_ID_MAX];
  snprintf(key, sizeof key, "%s\n%s", scope, sku);
  const char *k = key;
  return cat.n && bsearch(&k, cat.entries, cat.n, sizeof *cat.entries, cmp_str) != NULL;
}

/* SKUs of o that no scope of its chain prices (a JSON array). */
static cJSON *unknown_skus(const struct order *o) {
  char region[SHOAL_ID_MAX + 8] = "", store[SHOAL_ID_MAX + 8] = "";
  if (o->region)
    snprintf(region, sizeof region, "region/%s", o->region);
  if (o->store)
    snprintf(store, sizeof store, "store/%s", o->store);
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; arr && i < o->nlines; i++) {
    const char *sku = o->lines[i].sku;
    if (priced_at("global", sku) || (region[0] && priced_at(region, sku)) ||
        (store[0] && priced_at(store, sku)))
      continue;
    if (!shoal_json_push(arr, cJSON_CreateString(sku))) {
      cJSON_Delete(arr);
      return NULL;
    }
  }
  return arr;
}

/* ---------------------------------------------------------------- booking */

static shoal_err step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, shoal_diag *diag) {
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  return s == SQLITE_DONE ? SHOAL_OK : shoal_db_fail(db, s, what, diag);
}

static shoal_err book_paid(sqlite3 *db, const struct order *o, const char *body, size_t len,
                           const char *unknown, int64_t points, int64_t now_ms, int64_t *row,
                           shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  const char *store = o->store ? o->store : o->channel;
  shoal_err rc = shoal_db_prepare(db,
                                  "INSERT INTO orders (channel, order_id, customer, store, region, "
                                  "status, paid_ms, total, points, unknown_skus, body, received_ms) "
                                  "VALUES (?, ?, ?, ?, ?, 'paid', ?, ?, ?, ?, ?, ?)",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, o->channel, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, o->order_id, -1, SQLITE_STATIC);
  if (o->customer)
    sqlite3_bind_text(st, 3, o->customer, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, store, -1, SQLITE_STATIC);
  if (o->region)
    sqlite3_bind_text(st, 5, o->region, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, o->paid_ms);
  sqlite3_bind_int64(st, 7, o->total);
  sqlite3_bind_int64(st, 8, points);
  if (unknown)
    sqlite3_bind_text(st, 9, unknown, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, body, (int)len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 11, now_ms);
  if ((rc = step_done(db, st, "store order", diag)) != SHOAL_OK)
    return rc;
  *row = sqlite3_last_insert_rowid(db);
  /* The sales ledger: the channel stands as the device, so per-device and
   * per-store reports count the shop like a till. */
  if ((rc = shoal_db_prepare(db,
                             "INSERT INTO sales (device, epoch, seq, store, region, receipt, at_ms, "
                             "subtotal, discount, rounding, total, body) "
                             "VALUES (?, 'orders', ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
                             &st, diag)) != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, o->channel, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, *row);
  sqlite3_bind_text(st, 3, store, -1, SQLITE_STATIC);
  if (o->region)
    sqlite3_bind_text(st, 4, o->region, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, o->order_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, o->paid_ms);
  sqlite3_bind_int64(st, 7, o->total);
  sqlite3_bind_int64(st, 8, o->total);
  sqlite3_bind_text(st, 9, body, (int)len, SQLITE_STATIC);
  if ((rc = step_done(db, st, "store order as sale", diag)) != SHOAL_OK)
    return rc;
  if (!o->customer)
    return SHOAL_OK;
  char event[ORDER_ID_MAX + SHOAL_ID_MAX + 16];
  snprintf(event, sizeof event, "order:%s/%s", o->channel, o->order_id);
  struct hub_loyalty_sale s = {event, o->customer, NULL, points, 0, o->paid_ms, o->order_id};
  if ((rc = hub_loyalty_book_sale(db, &s, now_ms, diag)) != SHOAL_OK)
    return rc;
  for (int i = 0; i < o->nlines; i++)
    if ((rc = hub_customers_purchase_add(db, o->customer, o->paid_ms, event, o->channel, store,
                                         i + 1, o->lines[i].sku, o->lines[i].name, o->lines[i].qty,
                                         o->lines[i].total, diag)) != SHOAL_OK)
      return rc;
  cJSON *sum = cJSON_CreateObject();
  if (!sum || !cJSON_AddStringToObject(sum, "channel", o->channel) ||
      !cJSON_AddStringToObject(sum, "store", store) ||
      !cJSON_AddNumberToObject(sum, "total", (double)o->total) ||
      !cJSON_AddNumberToObject(sum, "lines", o->nlines) ||
      !cJSON_AddNumberToObject(sum, "points_earned", (double)points)) {
    cJSON_Delete(sum);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  rc = hub_customers_timeline_add(db, o->customer, o->paid_ms, "order", o->order_id, sum, diag);
  cJSON_Delete(sum);
  return rc;
}

/* The refund of a paid order: the order's row, the return in the sales
 * ledger, the points back, the timeline. */
static shoal_err book_refund(sqlite3 *db, const struct order *o, int64_t row, const char *customer,
                             int64_t total, int64_t points, int64_t now_ms, shoal_diag *diag) {
  int64_t at = o->refunded_ms ? o->refunded_ms : now_ms;
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      db, "UPDATE orders SET status = 'refunded', refunded_ms = ? WHERE id = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, at);
  sqlite3_bind_int64(st, 2, row);
  if ((rc = step_done(db, st, "refund order", diag)) != SHOAL_OK)
    return rc;
  /* A return in the sales ledger, like a till's (SPEC 12): same device,
   * epoch and seq as the order's sale row, counted at its own time. */
  if ((rc = shoal_db_prepare(db,
                             "INSERT INTO returns (device, epoch, seq, store, region, id, sale, "
                             "channel, at_ms, refund, body) SELECT channel, 'orders', id, store, "
                             "region, order_id, order_id, channel, ?, total, body FROM orders "
                             "WHERE id = ?",
                             &st, diag)) != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, at);
  sqlite3_bind_int64(st, 2, row);
  if ((rc = step_done(db, st, "book order refund", diag)) != SHOAL_OK || !customer)
    return rc;
  char event[ORDER_ID_MAX + SHOAL_ID_MAX + 16];
  snprintf(event, sizeof event, "order:%s/%s", o->channel, o->order_id);
  if ((rc = hub_loyalty_book_return(db, event, customer, points, 0, at, o->order_id, diag)))
    return rc;
  cJSON *sum = cJSON_CreateObject();
  if (!sum || !cJSON_AddStringToObject(sum, "channel", o->channel) ||
      !cJSON_AddNumberToObject(sum, "refund", (double)total) ||
      !cJSON_AddNumberToObject(sum, "points_reversed", (double)points)) {
    cJSON_Delete(sum);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  rc = hub_customers_timeline_add(db, customer, at, "refund", o->order_id, sum, diag);
  cJSON_Delete(sum);
  return rc;
}

static shoal_err result(const struct order *o, const char *status, const char *what,
                        int64_t points, const char *unknown, cJSON **out, shoal_diag *diag) {
  cJSON *r = cJSON_CreateObject();
  cJSON *u = NULL;
  shoal_diag ignore = {{0}};
  /* unknown is our own shoal_json_print output, so a parse failure is no
   * memory (cJSON cannot tell): fail rather than answer an empty list. */
  if (unknown && *unknown && shoal_json_parse(unknown, strlen(unknown), &u, &ignore) != SHOAL_OK) {
    cJSON_Delete(r);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if (!u)
    u = cJSON_CreateArray();
  bool ok = r && cJSON_AddStringToObject(r, "channel", o->channel) &&
            cJSON_AddStringToObject(r, "order_id", o->order_id) &&
            cJSON_AddStringToObject(r, "status", status) &&
            cJSON_AddStringToObject(r, "result", what) &&
            cJSON_AddNumberToObject(r, "points", (double)points);
  /* put owns u either way (a NULL object only frees it). */
  if (!shoal_json_put(ok ? r : NULL, "unknown_skus", u) || !ok) {
    cJSON_Delete(r);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = r;
  return SHOAL_OK;
}

shoal_err hub_orders_ingest(sqlite3 *db, const char *body, size_t len, int64_t now_ms,
                            unsigned *status, cJSON **out, shoal_diag *diag) {
  cJSON *j = NULL, *unk = NULL, *res = NULL;
  char *unknown = NULL;
  struct order o;
  memset(&o, 0, sizeof o);
  sqlite3_stmt *st = NULL;
  bool in_tx = false;
  shoal_err rc = shoal_json_parse(body, len, &j, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = parse_order(j, &o, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = catalogue_load(db, now_ms, diag)) != SHOAL_OK)
    goto cleanup;
  if (!(unk = unknown_skus(&o)) || !(unknown = shoal_json_print(unk))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  bool flagged = cJSON_GetArraySize(unk) > 0;
  if ((rc = shoal_db_begin(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = shoal_db_prepare(db,
                             "SELECT id, status, total, points, customer, unknown_skus FROM orders "
                             "WHERE channel = ? AND order_id = ?",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, o.channel, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, o.order_id, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s != SQLITE_ROW && s != SQLITE_DONE) {
    rc = shoal_db_fail(db, s, "read order", diag);
    goto cleanup;
  }
  const char *what, *held = o.status;
  int64_t points = 0;
  if (s == SQLITE_ROW) {
    int64_t row = sqlite3_column_int64(st, 0), total = sqlite3_column_int64(st, 2);
    bool was_paid = strcmp((const char *)sqlite3_column_text(st, 1), "paid") == 0;
    points = sqlite3_column_int64(st, 3);
    char cust[SHOAL_ID_MAX + 1] = "";
    if (sqlite3_column_text(st, 4))
      shoal_strlcpy(cust, (const char *)sqlite3_column_text(st, 4), sizeof cust);
    free(unknown);
    unknown = sqlite3_column_text(st, 5) ? strdup((const char *)sqlite3_column_text(st, 5)) : NULL;
    sqlite3_finalize(st);
    st = NULL;
    if (total != o.total) {
      rc = shoal_fail(diag, SHOAL_ESTATE,
                      "order %s/%s was recorded with total %" PRId64 ", not %" PRId64, o.channel,
                      o.order_id, total, o.total);
      goto cleanup;
    }
    if (was_paid && strcmp(o.status, "refunded") == 0) {
      if ((rc = book_refund(db, &o, row, cust[0] ? cust : NULL, total, points, now_ms, diag)))
        goto cleanup;
      what = "refunded";
      held = "refunded";
      *status = 200;
    } else {
      held = was_paid ? "paid" : "refunded";
      what = "unchanged"; /* the same order again changes nothing */
      *status = 200;
    }
  } else {
    sqlite3_finalize(st);
    st = NULL;
    if (o.customer) {
      struct shoal_loyalty loy;
      if ((rc = hub_loyalty_policy(db, o.region, o.store, now_ms, &loy, diag)) != SHOAL_OK)
        goto cleanup;
      points = shoal_loyalty_earned(&loy, o.total, 0);
    }
    int64_t row = 0;
    if ((rc = book_paid(db, &o, body, len, flagged ? unknown : NULL, points, now_ms, &row, diag)))
      goto cleanup;
    what = "created";
    /* A shop exporting history may send an order first as refunded: book
     * the sale, then its refund. */
    if (strcmp(o.status, "refunded") == 0 &&
        (rc = book_refund(db, &o, row, o.customer, o.total, points, now_ms, diag)) != SHOAL_OK)
      goto cleanup;
    if (flagged && (rc = shoal_db_exec(db,
                                       "INSERT INTO hub_counters (name, value) VALUES "
                                       "('orders_unknown_sku_total', 1) ON CONFLICT (name) DO "
                                       "UPDATE SET value = value + 1",
                                       diag)) != SHOAL_OK)
      goto cleanup;
    *status = 201;
  }
  /* The answer is built before the commit: a failure to build it must not
   * leave an order booked that the caller was told failed. */
  if ((rc = result(&o, held, what, points, unknown, &res, diag)) != SHOAL_OK ||
      (rc = shoal_db_commit(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  *out = res;
  res = NULL;
cleanup:
  if (in_tx)
    shoal_db_rollback(db);
  cJSON_Delete(res);
  sqlite3_finalize(st);
  cJSON_Delete(unk);
  free(unknown);
  free(o.lines);
  cJSON_Delete(j);
  return rc;
}
