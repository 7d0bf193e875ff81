/* hub_customers.c - customer registry, member codes and timeline (see
 * hub_customers.h). Name and phone are read only by the profile routes;
 * every function that builds something for a device (history) selects
 * other columns. Writes happen in one transaction each. */
#include "hub_customers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_loyalty.h"
#include "hub_member_notice.h"
#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/member_code.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

/* ---------------------------------------------------------------- checks */

static bool phone_valid(const char *s) {
  size_t n = 0;
  if (*s == '+')
    s++;
  for (; *s; s++, n++)
    if (*s < '0' || *s > '9')
      return false;
  return n >= 5 && n <= 20;
}

static bool text_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > SHOAL_CUSTOMER_TEXT_MAX)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

/* One optional string member: absent (*given false), null (*out NULL) or a
 * string passing ok(). */
static shoal_err opt_str(const cJSON *o, const char *key, bool (*ok)(const char *), bool *given,
                         const char **out, const char *want, shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  *given = it != NULL;
  *out = NULL;
  if (!it || cJSON_IsNull(it))
    return SHOAL_OK;
  if (!cJSON_IsString(it) || !ok(it->valuestring))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" must be %s", key, want);
  *out = it->valuestring;
  return SHOAL_OK;
}

static bool tag_valid(const char *s) {
  return shoal_member_field_valid(s);
}

/* ---------------------------------------------------------------- profile */

static cJSON *profile_json(hub_stmt *st) {
  /* columns: id, name, phone, tier, tags, points, reserved, overdrafts, created, updated */
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  bool ok = true;
  ok &= hub_store_json_add_text(o, "id", st, 0);
  ok &= hub_store_json_add_text(o, "name", st, 1);
  ok &= hub_store_json_add_text(o, "phone", st, 2);
  ok &= hub_store_json_add_text(o, "tier", st, 3);
  cJSON *tags = NULL;
  shoal_diag ignore = {{0}};
  const char *t = (const char *)hub_store_column_text(st, 4);
  shoal_err prc = t ? shoal_json_parse(t, strlen(t), &tags, &ignore) : SHOAL_EINPUT;
  if (prc != SHOAL_OK) /* unreadable tags show as none; out of memory fails */
    tags = prc == SHOAL_ENOMEM ? NULL : cJSON_CreateArray();
  ok &= shoal_json_put(o, "tags", tags);
  int64_t points = hub_store_column_int64(st, 5), reserved = hub_store_column_int64(st, 6);
  ok &= cJSON_AddNumberToObject(o, "points", (double)points) != NULL;
  ok &= cJSON_AddNumberToObject(o, "reserved", (double)reserved) != NULL;
  ok &= cJSON_AddNumberToObject(o, "available",
                                (double)(points - reserved > 0 ? points - reserved : 0)) != NULL;
  ok &= cJSON_AddNumberToObject(o, "overdrafts", (double)hub_store_column_int64(st, 7)) != NULL;
  ok &= hub_store_json_add_time(o, "created_at", st, 8);
  ok &= hub_store_json_add_time(o, "updated_at", st, 9);
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

#define PROFILE_COLS                                                                               \
  "id, name, phone, tier, tags, points, reserved, overdrafts, created_ms, updated_ms"

static shoal_err timeline(hub_store *db, const char *id, cJSON *out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT at_ms, kind, ref, summary FROM customer_events WHERE customer = ? "
           "ORDER BY at_ms DESC, kind, ref LIMIT %d",
           SHOAL_TIMELINE_MAX);
  shoal_err rc = hub_store_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  cJSON *arr = cJSON_AddArrayToObject(out, "timeline");
  int s;
  while (arr && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *e = NULL;
    const char *sum = (const char *)hub_store_column_text(st, 3);
    shoal_err prc = shoal_json_parse(sum, strlen(sum), &e, diag);
    if (prc != SHOAL_OK || !cJSON_IsObject(e)) {
      cJSON_Delete(e);
      e = prc == SHOAL_ENOMEM ? NULL : cJSON_CreateObject();
    }
    char at[SHOAL_TIME_TEXT_MAX];
    shoal_time_format_utc(hub_store_column_int64(st, 0), at, sizeof at);
    /* at, kind and ref first, then what the summary says. */
    cJSON *entry = e ? cJSON_CreateObject() : NULL; /* owned by arr once pushed */
    bool ok = shoal_json_push(arr, entry) && cJSON_AddStringToObject(entry, "at", at) &&
              hub_store_json_add_text(entry, "kind", st, 1) &&
              hub_store_json_add_text(entry, "ref", st, 2);
    cJSON *child = ok ? e->child : NULL;
    if (ok)
      e->child = NULL;
    while (child) {
      cJSON *next = child->next;
      child->next = child->prev = NULL;
      ok &= shoal_json_put(entry, child->string, child);
      child = next;
    }
    cJSON_Delete(e);
    if (!ok) {
      arr = NULL; /* out (and entry in it) is the caller's to delete */
      break;
    }
  }
  hub_store_finalize(st);
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (s != HUB_STORE_DONE)
    return hub_store_fail(db, s, "read timeline", diag);
  return SHOAL_OK;
}

static shoal_err get_where(hub_store *db, const char *where, const char *key, bool with_timeline,
                           cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT " PROFILE_COLS " FROM customers WHERE %s", where);
  shoal_err rc = hub_store_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, key, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  cJSON *o = NULL;
  if (s == HUB_STORE_ROW) {
    if (!(o = profile_json(st)))
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  } else if (s == HUB_STORE_DONE) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "no such customer");
  } else {
    rc = hub_store_fail(db, s, "read customer", diag);
  }
  hub_store_finalize(st);
  if (rc == SHOAL_OK && with_timeline) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    rc = timeline(db, id->valuestring, o, diag);
  }
  if (rc != SHOAL_OK) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return SHOAL_OK;
}

shoal_err hub_customers_get(hub_store *db, const char *id, bool with_timeline, cJSON **out,
                            shoal_diag *diag) {
  return get_where(db, "id = ?", id, with_timeline, out, diag);
}

shoal_err hub_customers_find_phone(hub_store *db, const char *phone, cJSON **out,
                                   shoal_diag *diag) {
  if (!phone_valid(phone))
    return shoal_fail(diag, SHOAL_EINPUT, "phone must match ^\\+?[0-9]{5,20}$");
  return get_where(db, "phone = ? ORDER BY id LIMIT 1", phone, false, out, diag);
}

/* ---------------------------------------------------------------- upsert */

static shoal_err upsert_check(const cJSON *o, const char **id, shoal_diag *diag) {
  static const char *const keys[] = {"id", "name", "phone", "tier", "tags"};
  if (!cJSON_IsObject(o))
    return shoal_fail(diag, SHOAL_EINPUT, "the body must be a JSON object");
  const cJSON *it;
  cJSON_ArrayForEach(it, o) {
    bool known = false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      known |= strcmp(it->string, keys[i]) == 0;
    if (!known)
      return shoal_fail(diag, SHOAL_EINPUT, "unknown key \"%.64s\"", it->string);
  }
  if (shoal_json_get_str(o, "id", true, id, diag) != SHOAL_OK)
    return SHOAL_EINPUT;
  if (!shoal_member_field_valid(*id))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "\"id\" must be an identifier without '.' (it travels in member codes)");
  const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
  if (tags && !cJSON_IsNull(tags)) {
    if (!cJSON_IsArray(tags) || cJSON_GetArraySize(tags) > SHOAL_MEMBER_TAGS_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "\"tags\" must be an array of at most %d identifiers",
                        SHOAL_MEMBER_TAGS_MAX);
    cJSON_ArrayForEach(it, tags) {
      if (!cJSON_IsString(it) || !tag_valid(it->valuestring))
        return shoal_fail(diag, SHOAL_EINPUT, "\"tags\" must hold identifiers without '.'");
    }
  }
  return SHOAL_OK;
}

shoal_err hub_customers_upsert(hub_store *db, const char *body, size_t len, int64_t now_ms,
                               cJSON **out, bool *created, shoal_diag *diag) {
  cJSON *o = NULL;
  hub_stmt *st = NULL;
  char *tags_text = NULL;
  bool in_tx = false;
  const char *id = NULL, *name = NULL, *phone = NULL, *tier = NULL;
  bool g_name, g_phone, g_tier;
  shoal_err rc = shoal_json_parse(body, len, &o, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = upsert_check(o, &id, diag)) != SHOAL_OK ||
      (rc = opt_str(o, "name", text_valid, &g_name, &name, "a string of 1 to 256 bytes", diag)) ||
      (rc = opt_str(o, "phone", phone_valid, &g_phone, &phone, "a phone number (^\\+?[0-9]{5,20}$)",
                    diag)) ||
      (rc = opt_str(o, "tier", tag_valid, &g_tier, &tier, "an identifier without '.'", diag)))
    goto cleanup;
  const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
  if (tags && !(tags_text = cJSON_IsNull(tags) ? strdup("[]") : shoal_json_print(tags))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = hub_store_begin(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if (phone) {
    int64_t other = 0;
    if ((rc = hub_store_prepare(db, "SELECT COUNT(*) FROM customers WHERE phone = ? AND id <> ?",
                                &st, diag)) != SHOAL_OK)
      goto cleanup;
    hub_store_bind_text(st, 1, phone, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 2, id, -1, HUB_STORE_STATIC);
    if (hub_store_step(st) == HUB_STORE_ROW)
      other = hub_store_column_int64(st, 0);
    hub_store_finalize(st);
    st = NULL;
    if (other) {
      rc = shoal_fail(diag, SHOAL_ESTATE, "phone %s belongs to another customer", phone);
      goto cleanup;
    }
  }
  int64_t existed = 0;
  if ((rc = hub_store_prepare(db, "SELECT COUNT(*) FROM customers WHERE id = ?", &st, diag)))
    goto cleanup;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  if (hub_store_step(st) == HUB_STORE_ROW)
    existed = hub_store_column_int64(st, 0);
  hub_store_finalize(st);
  st = NULL;
  /* ?n given flags: a key not given keeps the stored value. */
  if ((rc = hub_store_prepare(
           db,
           "INSERT INTO customers (id, name, phone, tier, tags, created_ms, updated_ms) "
           "VALUES (?1, ?2, ?3, ?4, COALESCE(?5, '[]'), ?9, ?9) ON CONFLICT (id) DO UPDATE SET "
           "name = CASE WHEN ?6 THEN ?2 ELSE customers.name END, phone = CASE WHEN ?7 THEN ?3 ELSE "
           "customers.phone END, "
           "tier = CASE WHEN ?8 THEN ?4 ELSE customers.tier END, tags = COALESCE(?5, "
           "customers.tags), updated_ms = ?9",
           &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  if (name)
    hub_store_bind_text(st, 2, name, -1, HUB_STORE_STATIC);
  if (phone)
    hub_store_bind_text(st, 3, phone, -1, HUB_STORE_STATIC);
  if (tier)
    hub_store_bind_text(st, 4, tier, -1, HUB_STORE_STATIC);
  if (tags_text)
    hub_store_bind_text(st, 5, tags_text, -1, HUB_STORE_STATIC);
  hub_store_bind_int(st, 6, g_name);
  hub_store_bind_int(st, 7, g_phone);
  hub_store_bind_int(st, 8, g_tier);
  hub_store_bind_int64(st, 9, now_ms);
  int s = hub_store_step(st);
  hub_store_finalize(st);
  st = NULL;
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "store customer", diag);
    goto cleanup;
  }
  if ((rc = hub_store_commit(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  *created = existed == 0;
  rc = hub_customers_get(db, id, false, out, diag);
cleanup:
  if (in_tx)
    hub_store_rollback(db);
  hub_store_finalize(st);
  free(tags_text);
  cJSON_Delete(o);
  return rc;
}

/* ---------------------------------------------------------------- codes */

static shoal_err code_body(const char *body, size_t len, int64_t *points, shoal_diag *diag) {
  *points = 0;
  if (!body || len == 0)
    return SHOAL_OK;
  cJSON *o = NULL;
  shoal_err rc = shoal_json_parse(body, len, &o, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (!cJSON_IsObject(o)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "the body must be a JSON object");
  } else if (o->child && (strcmp(o->child->string, "points") != 0 || o->child->next)) {
    const cJSON *bad = strcmp(o->child->string, "points") != 0 ? o->child : o->child->next;
    rc = shoal_fail(diag, SHOAL_EINPUT, "unknown key \"%.64s\"", bad->string);
  } else if (shoal_json_get_int(o, "points", false, points, diag) != SHOAL_OK) {
    rc = SHOAL_EINPUT;
  } else if (*points < 0 || *points > SHOAL_POINTS_MAX) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "\"points\" must be 0 or more");
  }
  cJSON_Delete(o);
  return rc;
}

shoal_err hub_customers_issue_code(hub_store *db, const struct shoal_hub_config *cfg,
                                   const char *id, const char *body, size_t len, int64_t now_ms,
                                   cJSON **out, shoal_diag *diag) {
  struct shoal_privkey *key = NULL;
  struct shoal_member_code c;
  hub_stmt *st = NULL;
  char *code = NULL;
  bool in_tx = false;
  cJSON *o = NULL, *tags = NULL;
  int64_t points;
  memset(&c, 0, sizeof c);
  shoal_err rc = code_body(body, len, &points, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (!cfg->signing_key)
    return shoal_fail(diag, SHOAL_ECONFIG, "the hub has no signing_key to sign member codes");
  if ((rc = shoal_privkey_load(cfg->signing_key, &key, diag)) != SHOAL_OK)
    return rc;
  struct shoal_loyalty loy;
  if ((rc = hub_loyalty_policy(db, NULL, NULL, now_ms, &loy, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = hub_store_begin(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = hub_store_prepare(db, "SELECT tier, tags, points, reserved FROM customers WHERE id = ?",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s != HUB_STORE_ROW) {
    rc = s == HUB_STORE_DONE ? shoal_fail(diag, SHOAL_ENOTFOUND, "no such customer")
                             : hub_store_fail(db, s, "read customer", diag);
    goto cleanup;
  }
  if (!shoal_strlcpy(c.customer, id, sizeof c.customer) ||
      (hub_store_column_text(st, 0) &&
       !shoal_strlcpy(c.tier, (const char *)hub_store_column_text(st, 0), sizeof c.tier))) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "customer id or tier too long for a member code");
    goto cleanup;
  }
  const char *tt = (const char *)hub_store_column_text(st, 1);
  if (tt && shoal_json_parse(tt, strlen(tt), &tags, diag) == SHOAL_OK && cJSON_IsArray(tags)) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tags) {
      if (cJSON_IsString(t) && c.ntags < SHOAL_MEMBER_TAGS_MAX)
        shoal_strlcpy(c.tags[c.ntags++], t->valuestring, SHOAL_ID_MAX + 1);
    }
  }
  int64_t balance = hub_store_column_int64(st, 2), reserved = hub_store_column_int64(st, 3);
  hub_store_finalize(st);
  st = NULL;
  if (points > balance - reserved) {
    rc = shoal_fail(diag, SHOAL_EINPUT,
                    "cannot reserve %" PRId64 " points: balance %" PRId64 ", reserved %" PRId64,
                    points, balance, reserved);
    goto cleanup;
  }
  unsigned char rnd[12];
  char *n64 = NULL;
  if ((rc = shoal_random_bytes(rnd, sizeof rnd)) != SHOAL_OK ||
      (rc = shoal_base64_encode(rnd, sizeof rnd, true, &n64)) != SHOAL_OK) {
    rc = shoal_fail(diag, rc, "cannot draw a nonce");
    goto cleanup;
  }
  shoal_strlcpy(c.nonce, n64, sizeof c.nonce);
  free(n64);
  c.points = points;
  c.expires = now_ms / 1000 + loy.code_ttl_s;
  if ((rc = shoal_member_code_make(key, &c, &code, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = hub_store_prepare(db,
                              "INSERT INTO member_codes (nonce, customer, points, issued_ms, "
                              "expires_ms, release_ms) VALUES (?, ?, ?, ?, ?, ?)",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, c.nonce, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, id, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 3, points);
  hub_store_bind_int64(st, 4, now_ms);
  hub_store_bind_int64(st, 5, c.expires * 1000);
  hub_store_bind_int64(st, 6, (c.expires + loy.grace_s) * 1000);
  s = hub_store_step(st);
  hub_store_finalize(st);
  st = NULL;
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "record member code", diag);
    goto cleanup;
  }
  if ((rc = hub_store_prepare(db, "UPDATE customers SET reserved = reserved + ? WHERE id = ?", &st,
                              diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_int64(st, 1, points);
  hub_store_bind_text(st, 2, id, -1, HUB_STORE_STATIC);
  s = hub_store_step(st);
  hub_store_finalize(st);
  st = NULL;
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "reserve points", diag);
    goto cleanup;
  }
  if ((rc = hub_store_commit(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  char exp[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_utc_s(c.expires * 1000, exp, sizeof exp);
  o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "code", code) ||
      !cJSON_AddStringToObject(o, "customer", id) ||
      !cJSON_AddNumberToObject(o, "points", (double)points) ||
      !cJSON_AddStringToObject(o, "nonce", c.nonce) ||
      !cJSON_AddStringToObject(o, "expires_at", exp)) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *out = o;
  o = NULL;
cleanup:
  if (in_tx)
    hub_store_rollback(db);
  hub_store_finalize(st);
  shoal_privkey_free(key);
  cJSON_Delete(tags);
  cJSON_Delete(o);
  free(code);
  return rc;
}

/* ---------------------------------------------------------------- history */

shoal_err hub_customers_timeline_add(hub_store *db, const char *customer, int64_t at_ms,
                                     const char *kind, const char *ref, const cJSON *summary,
                                     shoal_diag *diag) {
  char *text = shoal_json_print(summary);
  if (!text)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(db,
                        "INSERT OR IGNORE INTO customer_events (customer, at_ms, kind, ref, "
                        "summary) VALUES (?, ?, ?, ?, ?)",
                        &st, diag);
  if (rc == SHOAL_OK) {
    hub_store_bind_text(st, 1, customer, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 2, at_ms);
    hub_store_bind_text(st, 3, kind, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 4, ref, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 5, text, -1, HUB_STORE_STATIC);
    int s = hub_store_step(st);
    if (s != HUB_STORE_DONE)
      rc = hub_store_fail(db, s, "record timeline entry", diag);
  }
  hub_store_finalize(st);
  free(text);
  return rc;
}

shoal_err hub_customers_purchase_add(hub_store *db, const char *customer, int64_t at_ms,
                                     const char *source, const char *channel, const char *store,
                                     int line_no, const char *sku, const char *name, int64_t qty,
                                     int64_t total, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(db,
                        "INSERT OR IGNORE INTO customer_purchases (customer, at_ms, source, "
                        "channel, store, line_no, sku, name, qty, total) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, customer, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, at_ms);
  hub_store_bind_text(st, 3, source, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 4, channel, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 5, store, -1, HUB_STORE_STATIC);
  hub_store_bind_int(st, 6, line_no);
  hub_store_bind_text(st, 7, sku, -1, HUB_STORE_STATIC);
  if (name)
    hub_store_bind_text(st, 8, name, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 9, qty);
  hub_store_bind_int64(st, 10, total);
  int s = hub_store_step(st);
  hub_store_finalize(st);
  return s == HUB_STORE_DONE ? SHOAL_OK : hub_store_fail(db, s, "record purchase", diag);
}

shoal_err hub_customers_on_sale(hub_store *db, const char *event, const char *store,
                                const cJSON *body, int64_t at_ms, int64_t now_ms,
                                shoal_diag *diag) {
  const char *mid = NULL, *nonce = NULL;
  int64_t earned = 0, redeemed = 0;
  shoal_err rc = hub_loyalty_member_parse(body, &mid, &nonce, &earned, &redeemed, diag);
  if (rc != SHOAL_OK)
    return rc;
  const cJSON *cust = cJSON_GetObjectItemCaseSensitive(body, "customer");
  const cJSON *cid = cJSON_IsObject(cust) ? cJSON_GetObjectItemCaseSensitive(cust, "id") : NULL;
  const char *customer = mid ? mid : (cJSON_IsString(cid) ? cid->valuestring : NULL);
  if (!customer)
    return SHOAL_OK;
  if (!shoal_id_valid(customer))
    return SHOAL_OK; /* the till's own label, not a registry id: nothing to link */
  const cJSON *ch = cJSON_GetObjectItemCaseSensitive(body, "channel");
  const char *channel =
      cJSON_IsString(ch) && shoal_id_valid(ch->valuestring) ? ch->valuestring : "pos";
  const cJSON *receipt = cJSON_GetObjectItemCaseSensitive(body, "receipt");
  const char *ref = cJSON_IsString(receipt) ? receipt->valuestring : event;
  if (mid) {
    struct hub_loyalty_sale s = {event, mid, nonce, earned, redeemed, at_ms, ref};
    if ((rc = hub_loyalty_book_sale(db, &s, now_ms, diag)) != SHOAL_OK)
      return rc;
    /* The store's other tills learn the code is spent (hub_member_notice.h). */
    if (nonce && store && (rc = hub_member_notice_add(db, nonce, mid, store, now_ms, diag)))
      return rc;
  } else {
    /* A customer named without a member code: still on the timeline. */
    hub_stmt *st = NULL;
    if ((rc = hub_store_prepare(db,
                                "INSERT OR IGNORE INTO customers (id, created_ms, updated_ms) "
                                "VALUES (?, ?, ?)",
                                &st, diag)) != SHOAL_OK)
      return rc;
    hub_store_bind_text(st, 1, customer, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 2, now_ms);
    hub_store_bind_int64(st, 3, now_ms);
    int s = hub_store_step(st);
    hub_store_finalize(st);
    if (s != HUB_STORE_DONE)
      return hub_store_fail(db, s, "create customer", diag);
  }
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(body, "lines"), *l;
  int n = 0;
  cJSON_ArrayForEach(l, lines) {
    const cJSON *sku = cJSON_GetObjectItemCaseSensitive(l, "sku");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(l, "name");
    const cJSON *qty = cJSON_GetObjectItemCaseSensitive(l, "qty");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(l, "total");
    n++;
    if (!cJSON_IsString(sku) || !shoal_json_is_int(qty))
      continue;
    if ((rc = hub_customers_purchase_add(
             db, customer, at_ms, event, channel, store, n, sku->valuestring,
             cJSON_IsString(name) ? name->valuestring : NULL, shoal_json_int(qty),
             shoal_json_is_int(tot) ? shoal_json_int(tot) : 0, diag)) != SHOAL_OK)
      return rc;
  }
  cJSON *sum = cJSON_CreateObject();
  const cJSON *total = cJSON_GetObjectItemCaseSensitive(body, "total");
  if (!sum || !cJSON_AddStringToObject(sum, "channel", channel) ||
      !cJSON_AddStringToObject(sum, "store", store) ||
      !cJSON_AddNumberToObject(sum, "total",
                               shoal_json_is_int(total) ? (double)shoal_json_int(total) : 0) ||
      !cJSON_AddNumberToObject(sum, "lines", n) ||
      (mid && (!cJSON_AddNumberToObject(sum, "points_earned", (double)earned) ||
               !cJSON_AddNumberToObject(sum, "points_redeemed", (double)redeemed)))) {
    cJSON_Delete(sum);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  rc = hub_customers_timeline_add(db, customer, at_ms, "sale", ref, sum, diag);
  cJSON_Delete(sum);
  return rc;
}

shoal_err hub_customers_on_return(hub_store *db, const char *event, const char *device,
                                  const char *store, const cJSON *body, const char *sale,
                                  int64_t refund, int64_t at_ms, shoal_diag *diag) {
  char customer[SHOAL_ID_MAX + 1] = "";
  int64_t reversed = 0, refunded = 0;
  shoal_err rc = SHOAL_OK;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "member");
  if (m && !cJSON_IsNull(m)) {
    const char *id = NULL;
    if (!cJSON_IsObject(m) || shoal_json_get_str(m, "id", true, &id, diag) != SHOAL_OK ||
        !shoal_member_field_valid(id) ||
        shoal_json_get_int(m, "points_reversed", false, &reversed, diag) != SHOAL_OK ||
        shoal_json_get_int(m, "points_refunded", false, &refunded, diag) != SHOAL_OK ||
        reversed < 0 || refunded < 0 || reversed > SHOAL_POINTS_MAX || refunded > SHOAL_POINTS_MAX)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "\"member\" must be {id, points_reversed, points_refunded} (points >= 0)");
    shoal_strlcpy(customer, id, sizeof customer);
    if ((rc = hub_loyalty_book_return(db, event, customer, reversed, refunded, at_ms, sale, diag)))
      return rc;
  } else {
    hub_stmt *st = NULL;
    if ((rc = hub_store_prepare(db,
                                "SELECT json_extract(body, '$.customer.id') FROM sales "
                                "WHERE device = ? AND receipt = ? LIMIT 1",
                                &st, diag)) != SHOAL_OK)
      return rc;
    hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 2, sale, -1, HUB_STORE_STATIC);
    if (hub_store_step(st) == HUB_STORE_ROW && hub_store_column_type(st, 0) == HUB_STORE_TEXT)
      shoal_strlcpy(customer, (const char *)hub_store_column_text(st, 0), sizeof customer);
    hub_store_finalize(st);
    if (!customer[0] || !shoal_id_valid(customer))
      return SHOAL_OK;
  }
  cJSON *sum = cJSON_CreateObject();
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
  if (!sum || !cJSON_AddStringToObject(sum, "store", store) ||
      !cJSON_AddStringToObject(sum, "sale", sale) ||
      !cJSON_AddNumberToObject(sum, "refund", (double)refund) ||
      !cJSON_AddNumberToObject(sum, "points_reversed", (double)reversed) ||
      !cJSON_AddNumberToObject(sum, "points_refunded", (double)refunded)) {
    cJSON_Delete(sum);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  rc = hub_customers_timeline_add(db, customer, at_ms, "return",
                                  cJSON_IsString(id) ? id->valuestring : event, sum, diag);
  cJSON_Delete(sum);
  return rc;
}

shoal_err hub_customers_history(hub_store *db, const char *customer, cJSON **out,
                                shoal_diag *diag) {
  hub_stmt *st = NULL;
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT sku, name, qty, at_ms, channel, store FROM customer_purchases "
           "WHERE customer = ? ORDER BY at_ms DESC, source, line_no LIMIT %d",
           SHOAL_CUSTOMER_HISTORY_MAX);
  shoal_err rc = hub_store_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, customer, -1, HUB_STORE_STATIC);
  cJSON *arr = cJSON_CreateArray();
  int s;
  while (arr && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *e = cJSON_CreateObject();
    if (!e) {
      cJSON_Delete(arr);
      arr = NULL;
      break;
    }
    bool ok = true;
    ok &= hub_store_json_add_text(e, "sku", st, 0);
    ok &= hub_store_json_add_text(e, "name", st, 1);
    ok &= cJSON_AddNumberToObject(e, "qty", (double)hub_store_column_int64(st, 2)) != NULL;
    ok &= hub_store_json_add_time(e, "at", st, 3);
    ok &= hub_store_json_add_text(e, "channel", st, 4);
    ok &= hub_store_json_add_text(e, "store", st, 5);
    if (!ok || !shoal_json_push(arr, e)) {
      if (ok) /* e deleted by shoal_json_push */
        e = NULL;
      cJSON_Delete(e);
      cJSON_Delete(arr);
      arr = NULL;
      break;
    }
  }
  hub_store_finalize(st);
  if (!arr)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (s != HUB_STORE_DONE) {
    cJSON_Delete(arr);
    return hub_store_fail(db, s, "read purchase history", diag);
  }
  *out = arr;
  return SHOAL_OK;
}
