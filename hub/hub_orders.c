/* hub_orders.c - e-commerce order ingest (see hub_orders.h). Unknown SKUs
 * are accepted and flagged, not refused: the order already happened and was
 * paid in the shop, so refusing it would only lose the revenue and the
 * customer's points from the hub's books; the flag (stored per order,
 * returned to the caller and counted in /metrics) sends the catalogue gap
 * to a human. Everything else invalid is 422 and writes nothing. */
#include "hub_orders.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_customers.h"
#include "hub_loyalty.h"
#include "hub_publish.h"
#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/member_code.h"
#include "shoal/scope.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

#define ORDER_ID_MAX 128

bool hub_orders_signature_ok(const char *header, const char *secret, size_t secret_len,
                             const char *body, size_t len) {
  if (!header || !secret || secret_len == 0 || strncmp(header, "sha256=", 7) != 0)
    return false;
  char want[SHOAL_SHA256_HEX_MAX];
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
  static const char *const keys[] = {"channel", "order_id", "status", "paid_at", "customer",
                                     "store",   "region",   "lines",  "total",   "refunded_at"};
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

/* SKUs priced at each scope in effect, rebuilt when policies change. Only
 * the group-commit leader (one thread at a time, below) reads or builds it. */
struct catalogue {
  int64_t key_rows, key_ms; /* policies COUNT(*) and MAX(published_ms) when built */
  int64_t built_ms;
  char **entries; /* "scope\n sku", sorted */
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

static shoal_err catalogue_load(hub_store *db, int64_t now_ms, shoal_diag *diag) {
  int64_t rows = 0, ms = 0;
  shoal_err rc;
  if ((rc = hub_store_query_int(db, "SELECT COUNT(*) FROM policies", 0, &rows, diag)) ||
      (rc = hub_store_query_int(db, "SELECT COALESCE(MAX(published_ms), 0) FROM policies", 0, &ms,
                                diag)))
    return rc;
  /* A scheduled version takes effect without a new row: look again each 5 s. */
  if (cat.entries && rows == cat.key_rows && ms == cat.key_ms && now_ms - cat.built_ms < 5000)
    return SHOAL_OK;
  catalogue_clear();
  hub_stmt *st = NULL;
  if ((rc = hub_store_prepare(db, "SELECT DISTINCT scope FROM policies", &st, diag)) != SHOAL_OK)
    return rc;
  size_t cap = 0;
  while (hub_store_step(st) == HUB_STORE_ROW && rc == SHOAL_OK) {
    const char *scope = (const char *)hub_store_column_text(st, 0);
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
  hub_store_finalize(st);
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
  struct shoal_scope_chain chain;
  if (shoal_scope_chain(&chain, o->region, o->store, NULL) != SHOAL_OK)
    return NULL; /* parse_order refused any region or store that is not an id */
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; arr && i < o->nlines; i++) {
    const char *sku = o->lines[i].sku;
    bool priced = false;
    for (int k = 0; k < SHOAL_SCOPE_CHAIN_LEN && !priced; k++)
      priced =
          shoal_scope_chain_has(&chain, (enum shoal_scope_kind)k) && priced_at(chain.scope[k], sku);
    if (priced)
      continue;
    if (!shoal_json_push(arr, cJSON_CreateString(sku))) {
      cJSON_Delete(arr);
      return NULL;
    }
  }
  return arr;
}

/* ---------------------------------------------------------------- booking */

static shoal_err step_done(hub_store *db, hub_stmt *st, const char *what, shoal_diag *diag) {
  int s = hub_store_step(st);
  hub_store_finalize(st);
  return s == HUB_STORE_DONE ? SHOAL_OK : hub_store_fail(db, s, what, diag);
}

static shoal_err book_paid(hub_store *db, const struct order *o, const char *body, size_t len,
                           const char *unknown, int64_t points, int64_t now_ms, int64_t *row,
                           shoal_diag *diag) {
  hub_stmt *st = NULL;
  const char *store = o->store ? o->store : o->channel;
  shoal_err rc =
      hub_store_prepare(db,
                        "INSERT INTO orders (channel, order_id, customer, store, region, "
                        "status, paid_ms, total, points, unknown_skus, body, received_ms) "
                        "VALUES (?, ?, ?, ?, ?, 'paid', ?, ?, ?, ?, ?, ?)",
                        &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, o->channel, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, o->order_id, -1, HUB_STORE_STATIC);
  if (o->customer)
    hub_store_bind_text(st, 3, o->customer, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 4, store, -1, HUB_STORE_STATIC);
  if (o->region)
    hub_store_bind_text(st, 5, o->region, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 6, o->paid_ms);
  hub_store_bind_int64(st, 7, o->total);
  hub_store_bind_int64(st, 8, points);
  if (unknown)
    hub_store_bind_text(st, 9, unknown, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 10, body, (int)len, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 11, now_ms);
  if ((rc = step_done(db, st, "store order", diag)) != SHOAL_OK)
    return rc;
  *row = hub_store_last_insert_id(db);
  /* The sales ledger: the channel stands as the device, so per-device and
   * per-store reports count the shop like a till. */
  if ((rc = hub_store_prepare(
           db,
           "INSERT INTO sales (device, epoch, seq, store, region, receipt, at_ms, "
           "subtotal, discount, rounding, total, body) "
           "VALUES (?, 'orders', ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
           &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, o->channel, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, *row);
  hub_store_bind_text(st, 3, store, -1, HUB_STORE_STATIC);
  if (o->region)
    hub_store_bind_text(st, 4, o->region, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 5, o->order_id, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 6, o->paid_ms);
  hub_store_bind_int64(st, 7, o->total);
  hub_store_bind_int64(st, 8, o->total);
  hub_store_bind_text(st, 9, body, (int)len, HUB_STORE_STATIC);
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
static shoal_err book_refund(hub_store *db, const struct order *o, int64_t row,
                             const char *customer, int64_t total, int64_t points, int64_t now_ms,
                             shoal_diag *diag) {
  int64_t at = o->refunded_ms ? o->refunded_ms : now_ms;
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db, "UPDATE orders SET status = 'refunded', refunded_ms = ? WHERE id = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, at);
  hub_store_bind_int64(st, 2, row);
  if ((rc = step_done(db, st, "refund order", diag)) != SHOAL_OK)
    return rc;
  /* A return in the sales ledger, like a till's (SPEC 12): same device,
   * epoch and seq as the order's sale row, counted at its own time. */
  if ((rc = hub_store_prepare(db,
                              "INSERT INTO returns (device, epoch, seq, store, region, id, sale, "
                              "channel, at_ms, refund, body) SELECT channel, 'orders', id, store, "
                              "region, order_id, order_id, channel, ?, total, body FROM orders "
                              "WHERE id = ?",
                              &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, at);
  hub_store_bind_int64(st, 2, row);
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

static shoal_err result(const struct order *o, const char *status, const char *what, int64_t points,
                        const char *unknown, cJSON **out, shoal_diag *diag) {
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

/* What one batch's orders share, read once per transaction (the policies
 * cannot change under it): the catalogue is loaded, and the loyalty policy
 * per (region, store) the batch has met. */
#define BATCH_LOYALTY_MAX 8
struct batch_cache {
  bool catalogue;
  int n;
  struct {
    char region[SHOAL_ID_MAX + 1], store[SHOAL_ID_MAX + 1];
    struct shoal_loyalty loy;
  } e[BATCH_LOYALTY_MAX];
};

static shoal_err batch_loyalty(hub_store *db, struct batch_cache *bc, const struct order *o,
                               int64_t now_ms, struct shoal_loyalty *out, shoal_diag *diag) {
  const char *region = o->region ? o->region : "", *store = o->store ? o->store : "";
  for (int i = 0; i < bc->n; i++)
    if (strcmp(bc->e[i].region, region) == 0 && strcmp(bc->e[i].store, store) == 0) {
      *out = bc->e[i].loy;
      return SHOAL_OK;
    }
  shoal_err rc = hub_loyalty_policy(db, o->region, o->store, now_ms, out, diag);
  if (rc == SHOAL_OK && bc->n < BATCH_LOYALTY_MAX) {
    shoal_strlcpy(bc->e[bc->n].region, region, sizeof bc->e[0].region);
    shoal_strlcpy(bc->e[bc->n].store, store, sizeof bc->e[0].store);
    bc->e[bc->n++].loy = *out;
  }
  return rc;
}

/* Books one parsed order inside the caller's transaction: *status and
 * *out as hub_orders_ingest's. Writes nothing of its own on failure only if
 * the caller rolls back to a savepoint taken before it. */
static shoal_err order_book(hub_store *db, struct batch_cache *bc, const struct order *o,
                            const char *body, size_t len, int64_t now_ms, unsigned *status,
                            cJSON **out, shoal_diag *diag) {
  cJSON *unk = NULL;
  char *unknown = NULL;
  hub_stmt *st = NULL;
  shoal_err rc = SHOAL_OK;
  if (!bc->catalogue && (rc = catalogue_load(db, now_ms, diag)) != SHOAL_OK)
    goto cleanup;
  bc->catalogue = true;
  if (!(unk = unknown_skus(o)) || !(unknown = shoal_json_print(unk))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  bool flagged = cJSON_GetArraySize(unk) > 0;
  if ((rc =
           hub_store_prepare(db,
                             "SELECT id, status, total, points, customer, unknown_skus FROM orders "
                             "WHERE channel = ? AND order_id = ?",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, o->channel, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, o->order_id, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s != HUB_STORE_ROW && s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "read order", diag);
    goto cleanup;
  }
  const char *what, *held = o->status;
  int64_t points = 0;
  if (s == HUB_STORE_ROW) {
    int64_t row = hub_store_column_int64(st, 0), total = hub_store_column_int64(st, 2);
    bool was_paid = strcmp((const char *)hub_store_column_text(st, 1), "paid") == 0;
    points = hub_store_column_int64(st, 3);
    char cust[SHOAL_ID_MAX + 1] = "";
    if (hub_store_column_text(st, 4))
      shoal_strlcpy(cust, (const char *)hub_store_column_text(st, 4), sizeof cust);
    free(unknown);
    unknown =
        hub_store_column_text(st, 5) ? strdup((const char *)hub_store_column_text(st, 5)) : NULL;
    hub_store_finalize(st);
    st = NULL;
    if (total != o->total) {
      rc = shoal_fail(diag, SHOAL_ESTATE,
                      "order %s/%s was recorded with total %" PRId64 ", not %" PRId64, o->channel,
                      o->order_id, total, o->total);
      goto cleanup;
    }
    if (was_paid && strcmp(o->status, "refunded") == 0) {
      if ((rc = book_refund(db, o, row, cust[0] ? cust : NULL, total, points, now_ms, diag)))
        goto cleanup;
      what = "refunded";
      held = "refunded";
    } else {
      held = was_paid ? "paid" : "refunded";
      what = "unchanged"; /* the same order again changes nothing */
    }
    *status = 200;
  } else {
    hub_store_finalize(st);
    st = NULL;
    if (o->customer) {
      struct shoal_loyalty loy;
      if ((rc = batch_loyalty(db, bc, o, now_ms, &loy, diag)) != SHOAL_OK)
        goto cleanup;
      points = shoal_loyalty_earned(&loy, o->total, 0);
    }
    int64_t row = 0;
    if ((rc = book_paid(db, o, body, len, flagged ? unknown : NULL, points, now_ms, &row, diag)))
      goto cleanup;
    what = "created";
    /* A shop exporting history may send an order first as refunded: book
     * the sale, then its refund. */
    if (strcmp(o->status, "refunded") == 0 &&
        (rc = book_refund(db, o, row, o->customer, o->total, points, now_ms, diag)) != SHOAL_OK)
      goto cleanup;
    if (flagged && (rc = hub_store_exec(db,
                                        "INSERT INTO hub_counters (name, value) VALUES "
                                        "('orders_unknown_sku_total', 1) ON CONFLICT (name) DO "
                                        "UPDATE SET value = hub_counters.value + 1",
                                        diag)) != SHOAL_OK)
      goto cleanup;
    *status = 201;
  }
  rc = result(o, held, what, points, unknown, out, diag);
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(unk);
  free(unknown);
  return rc;
}

/* ---------------------------------------------------------------- group commit
 *
 * Every order is durable (committed, fsync'd: synchronous=FULL) before its
 * answer, and one commit per order caps ingest at the disk's fsync rate.
 * So concurrent requests (the HTTP server runs a thread per connection)
 * queue here; whichever waiter finds no batch running becomes the leader,
 * takes up to batch_max queued orders, books them in ONE transaction (a
 * SAVEPOINT each, so a refused order rolls back alone and answers with its
 * own error), commits once, and hands every waiter its own result. Orders
 * arriving meanwhile form the next batch. A failed COMMIT fails the whole
 * batch (nothing was acknowledged). Parsing and validation run before
 * queueing, in the request's own thread.
 *
 * One leader at a time in the process: that also serialises the catalogue
 * cache above. A leader only takes orders for its own database file, so
 * two hubs in one process (tests) never mix. */
struct order_job {
  const char *dbfile; /* sqlite3_db_filename of the requester's handle */
  const struct order *o;
  const char *body;
  size_t len;
  int64_t now_ms;
  pthread_cond_t cv; /* signalled when done, or when it may lead */
  /* Filled by the leader. */
  bool done;
  shoal_err rc;
  unsigned status;
  cJSON *out;
  shoal_diag diag;
  struct order_job *next;
};

static struct {
  pthread_mutex_t mu;
  struct order_job *head, *tail; /* queued, not yet taken by a leader */
  bool leading;
  uint64_t batches, orders; /* for the benchmark's figures */
  int64_t busy_ms;          /* time a leader spent booking and committing */
} gc = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, false, 0, 0, 0};

static void batch_fail(struct order_job *b, shoal_err rc, const shoal_diag *d) {
  for (; b; b = b->next)
    if (b->rc == SHOAL_OK) {
      cJSON_Delete(b->out);
      b->out = NULL;
      b->rc = rc;
      b->diag = *d;
    }
}

static void batch_run(hub_store *db, struct order_job *batch) {
  shoal_diag d = {{0}};
  struct batch_cache bc;
  memset(&bc, 0, sizeof bc);
  shoal_err rc = hub_store_begin(db, &d);
  if (rc != SHOAL_OK) {
    batch_fail(batch, rc, &d);
    return;
  }
  for (struct order_job *j = batch; j; j = j->next) {
    if ((rc = hub_store_exec(db, "SAVEPOINT shoal_order", &d)) != SHOAL_OK)
      break;
    j->rc = order_book(db, &bc, j->o, j->body, j->len, j->now_ms, &j->status, &j->out, &j->diag);
    if (j->rc != SHOAL_OK && (rc = hub_store_exec(db, "ROLLBACK TO shoal_order", &d)) != SHOAL_OK)
      break;
    if ((rc = hub_store_exec(db, "RELEASE shoal_order", &d)) != SHOAL_OK)
      break;
  }
  if (rc == SHOAL_OK)
    rc = hub_store_commit(db, &d);
  if (rc != SHOAL_OK) {
    hub_store_rollback(db);
    batch_fail(batch, rc, &d);
  }
}

/* Queues job and returns when it is done (led by this thread or another). */
static void group_commit(hub_store *db, struct order_job *job, int batch_max) {
  pthread_mutex_lock(&gc.mu);
  if (gc.tail)
    gc.tail->next = job;
  else
    gc.head = job;
  gc.tail = job;
  while (!job->done) {
    if (gc.leading) {
      pthread_cond_wait(&job->cv, &gc.mu);
      continue;
    }
    /* Lead: take up to batch_max queued jobs of this database, in order. */
    gc.leading = true;
    struct order_job *batch = NULL, **bt = &batch, **pp = &gc.head, *prev = NULL;
    int n = 0;
    while (*pp && n < batch_max) {
      struct order_job *j = *pp;
      if (strcmp(j->dbfile, job->dbfile) != 0) {
        prev = j;
        pp = &j->next;
        continue;
      }
      *pp = j->next;
      if (gc.tail == j)
        gc.tail = prev;
      j->next = NULL;
      *bt = j;
      bt = &j->next;
      n++;
    }
    pthread_mutex_unlock(&gc.mu);
    int64_t t0 = shoal_mono_ms();
    batch_run(db, batch);
    int64_t t1 = shoal_mono_ms();
    pthread_mutex_lock(&gc.mu);
    gc.busy_ms += t1 - t0;
    gc.batches++;
    gc.orders += (uint64_t)n;
    for (struct order_job *j = batch, *next; j; j = next) {
      next = j->next; /* j belongs to its owner again once done is set */
      j->done = true;
      if (j != job)
        pthread_cond_signal(&j->cv);
    }
    gc.leading = false;
    /* Wake every queued job's owner: the first to run leads the next
     * batch (waking only one could pick a job of another database file
     * that then leaves this file's queue asleep). */
    for (struct order_job *j = gc.head; j; j = j->next)
      pthread_cond_signal(&j->cv);
  }
  pthread_mutex_unlock(&gc.mu);
}

void hub_orders_commit_stats(uint64_t *batches, uint64_t *orders, int64_t *busy_ms) {
  pthread_mutex_lock(&gc.mu);
  *batches = gc.batches;
  *orders = gc.orders;
  *busy_ms = gc.busy_ms;
  pthread_mutex_unlock(&gc.mu);
}

shoal_err hub_orders_ingest(hub_store *db, const char *body, size_t len, int64_t now_ms,
                            int batch_max, unsigned *status, cJSON **out, shoal_diag *diag) {
  cJSON *j = NULL;
  struct order o;
  memset(&o, 0, sizeof o);
  shoal_err rc = shoal_json_parse(body, len, &j, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = parse_order(j, &o, diag)) != SHOAL_OK)
    goto cleanup;
  const char *file = hub_store_name(db);
  struct order_job job = {
      file ? file : "", &o, body, len,   now_ms, PTHREAD_COND_INITIALIZER, false,
      SHOAL_OK,         0,  NULL, {{0}}, NULL};
  if (batch_max < 1 || batch_max > SHOAL_ORDER_BATCH_MAX)
    batch_max = SHOAL_ORDER_BATCH_MAX;
  group_commit(db, &job, batch_max);
  pthread_cond_destroy(&job.cv);
  rc = job.rc;
  if (rc != SHOAL_OK) {
    *diag = job.diag;
    cJSON_Delete(job.out);
    goto cleanup;
  }
  *status = job.status;
  *out = job.out;
cleanup:
  free(o.lines);
  cJSON_Delete(j);
  return rc;
}
