/* hub_loyalty.c - the points ledger (see hub_loyalty.h). Invariants: a
 * ledger row is unique by (event, kind), and the customer's points change
 * only together with a row inserted in the same transaction, so
 * customers.points always equals SUM(loyalty_ledger.points). */
#include "hub_loyalty.h"

#include <stdio.h>
#include <string.h>

#include "hub_publish.h"
#include "shoal/jsonx.h"
#include "shoal/member_code.h"
#include "shoal/scope.h"
#include "shoal/shoal_limits.h"
#include "store.h"

static shoal_err step_done(hub_store *db, hub_stmt *st, const char *what, shoal_diag *diag) {
  int s = hub_store_step(st);
  hub_store_finalize(st);
  return s == HUB_STORE_DONE ? SHOAL_OK : hub_store_fail(db, s, what, diag);
}

static shoal_err ensure_customer(hub_store *db, const char *id, int64_t now_ms, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db, "INSERT OR IGNORE INTO customers (id, created_ms, updated_ms) VALUES (?, ?, ?)", &st,
      diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, now_ms);
  hub_store_bind_int64(st, 3, now_ms);
  return step_done(db, st, "create customer", diag);
}

/* Inserts one ledger row and applies it to the balance; *booked false when
 * (event, kind) was booked before (nothing changes then). */
static shoal_err book(hub_store *db, const char *event, const char *kind, const char *customer,
                      int64_t points, int64_t at_ms, const char *ref, bool overdraft, bool *booked,
                      shoal_diag *diag) {
  hub_stmt *st = NULL;
  *booked = false;
  shoal_err rc = hub_store_prepare(db,
                                   "INSERT OR IGNORE INTO loyalty_ledger (event, kind, customer, "
                                   "points, at_ms, ref, overdraft) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, event, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, kind, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 3, customer, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 4, points);
  hub_store_bind_int64(st, 5, at_ms);
  if (ref)
    hub_store_bind_text(st, 6, ref, -1, HUB_STORE_STATIC);
  hub_store_bind_int(st, 7, overdraft ? 1 : 0);
  if ((rc = step_done(db, st, "book points", diag)) != SHOAL_OK)
    return rc;
  if (hub_store_changes(db) == 0)
    return SHOAL_OK;
  *booked = true;
  if ((rc = hub_store_prepare(
           db,
           "UPDATE customers SET points = points + ?, overdrafts = overdrafts + ? "
           "WHERE id = ?",
           &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, points);
  hub_store_bind_int(st, 2, overdraft ? 1 : 0);
  hub_store_bind_text(st, 3, customer, -1, HUB_STORE_STATIC);
  if ((rc = step_done(db, st, "update balance", diag)) != SHOAL_OK)
    return rc;
  if (overdraft)
    rc = hub_store_exec(
        db,
        "INSERT INTO hub_counters (name, value) VALUES ('loyalty_overdraft_total', 1) "
        "ON CONFLICT (name) DO UPDATE SET value = hub_counters.value + 1",
        diag);
  return rc;
}

/* Ends the reservation of nonce (if still reserved, for customer) and
 * counts the use. *was_reserved tells whether the sale found it held. */
static shoal_err use_code(hub_store *db, const char *nonce, const char *customer, int64_t now_ms,
                          bool *was_reserved, shoal_diag *diag) {
  hub_stmt *st = NULL;
  *was_reserved = false;
  shoal_err rc = hub_store_prepare(
      db, "SELECT points, state FROM member_codes WHERE nonce = ? AND customer = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, nonce, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, customer, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  int64_t points = 0;
  bool known = s == HUB_STORE_ROW;
  if (known) {
    points = hub_store_column_int64(st, 0);
    *was_reserved = strcmp((const char *)hub_store_column_text(st, 1), "reserved") == 0;
  }
  hub_store_finalize(st);
  if (s != HUB_STORE_ROW && s != HUB_STORE_DONE)
    return hub_store_fail(db, s, "read member code", diag);
  if (!known)
    return SHOAL_OK;
  if ((rc = hub_store_prepare(db,
                              "UPDATE member_codes SET uses = uses + 1, state = 'used', "
                              "ended_ms = COALESCE(ended_ms, ?) WHERE nonce = ?",
                              &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, now_ms);
  hub_store_bind_text(st, 2, nonce, -1, HUB_STORE_STATIC);
  if ((rc = step_done(db, st, "use member code", diag)) != SHOAL_OK || !*was_reserved)
    return rc;
  if ((rc = hub_store_prepare(db, "UPDATE customers SET reserved = reserved - ? WHERE id = ?", &st,
                              diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, points);
  hub_store_bind_text(st, 2, customer, -1, HUB_STORE_STATIC);
  return step_done(db, st, "release reservation", diag);
}

shoal_err hub_loyalty_book_sale(hub_store *db, const struct hub_loyalty_sale *s, int64_t now_ms,
                                shoal_diag *diag) {
  shoal_err rc;
  bool booked, reserved = false;
  if ((rc = ensure_customer(db, s->customer, now_ms, diag)) != SHOAL_OK)
    return rc;
  if (s->nonce && (rc = use_code(db, s->nonce, s->customer, now_ms, &reserved, diag)) != SHOAL_OK)
    return rc;
  if (s->earned > 0 && (rc = book(db, s->event, "earn", s->customer, s->earned, s->at_ms, s->ref,
                                  false, &booked, diag)) != SHOAL_OK)
    return rc;
  /* A redemption whose reservation had already ended (used by another
   * till, or released at expiry + grace) still counts: an overdraft. */
  if (s->redeemed > 0 && (rc = book(db, s->event, "redeem", s->customer, -s->redeemed, s->at_ms,
                                    s->ref, !reserved, &booked, diag)) != SHOAL_OK)
    return rc;
  return SHOAL_OK;
}

shoal_err hub_loyalty_book_return(hub_store *db, const char *event, const char *customer,
                                  int64_t reversed, int64_t refunded, int64_t at_ms,
                                  const char *ref, shoal_diag *diag) {
  shoal_err rc;
  bool booked;
  if ((rc = ensure_customer(db, customer, at_ms, diag)) != SHOAL_OK)
    return rc;
  if (reversed > 0 && (rc = book(db, event, "reverse_earn", customer, -reversed, at_ms, ref, false,
                                 &booked, diag)) != SHOAL_OK)
    return rc;
  if (refunded > 0 && (rc = book(db, event, "refund_redeem", customer, refunded, at_ms, ref, false,
                                 &booked, diag)) != SHOAL_OK)
    return rc;
  return SHOAL_OK;
}

shoal_err hub_loyalty_release_due(hub_store *db, int64_t now_ms, int64_t *released,
                                  shoal_diag *diag) {
  shoal_err rc = hub_store_begin(db, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_stmt *st = NULL;
  /* Give each customer back what its due codes held, then end them. */
  if ((rc = hub_store_prepare(
           db,
           "UPDATE customers SET reserved = reserved - (SELECT COALESCE(SUM(points), 0) FROM "
           "member_codes m WHERE m.customer = customers.id AND m.state = 'reserved' AND "
           "m.release_ms <= ?1) WHERE id IN (SELECT customer FROM member_codes WHERE state = "
           "'reserved' AND release_ms <= ?1)",
           &st, diag)) != SHOAL_OK)
    goto fail;
  hub_store_bind_int64(st, 1, now_ms);
  if ((rc = step_done(db, st, "release reservations", diag)) != SHOAL_OK)
    goto fail;
  if ((rc = hub_store_prepare(db,
                              "UPDATE member_codes SET state = 'released', ended_ms = ?1 "
                              "WHERE state = 'reserved' AND release_ms <= ?1",
                              &st, diag)) != SHOAL_OK)
    goto fail;
  hub_store_bind_int64(st, 1, now_ms);
  if ((rc = step_done(db, st, "end reservations", diag)) != SHOAL_OK)
    goto fail;
  int64_t n = hub_store_changes(db);
  if ((rc = hub_store_commit(db, diag)) != SHOAL_OK)
    goto fail;
  if (released)
    *released = n;
  return SHOAL_OK;
fail:
  hub_store_rollback(db);
  return rc;
}

shoal_err hub_loyalty_policy(hub_store *db, const char *region, const char *store, int64_t now_ms,
                             struct shoal_loyalty *out, shoal_diag *diag) {
  struct shoal_scope_chain chain;
  shoal_loyalty_defaults(out);
  shoal_err rc = shoal_scope_chain(&chain, region, store, diag);
  if (rc != SHOAL_OK)
    return rc;
  for (int i = 0; i < SHOAL_SCOPE_CHAIN_LEN; i++) {
    cJSON *doc = NULL;
    if (!shoal_scope_chain_has(&chain, (enum shoal_scope_kind)i))
      continue;
    rc = hub_policy_in_effect(db, chain.scope[i], now_ms, &doc, diag);
    if (rc != SHOAL_OK)
      return rc;
    const cJSON *l = doc ? cJSON_GetObjectItemCaseSensitive(doc, "loyalty") : NULL;
    if (l) {
      struct shoal_loyalty got;
      if (shoal_loyalty_parse(l, &got, diag) == SHOAL_OK)
        *out = got; /* publish validated it; a bad one is skipped */
    }
    cJSON_Delete(doc);
  }
  return SHOAL_OK;
}

static shoal_err points_field(const cJSON *m, const char *key, int64_t *out, shoal_diag *diag) {
  shoal_err rc = shoal_json_get_int(m, key, false, out, diag);
  if (rc != SHOAL_OK)
    return SHOAL_EINPUT;
  if (*out < 0 || *out > SHOAL_POINTS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "member.%s out of range", key);
  return SHOAL_OK;
}

shoal_err hub_loyalty_member_parse(const cJSON *body, const char **id, const char **nonce,
                                   int64_t *earned, int64_t *redeemed, shoal_diag *diag) {
  *id = NULL;
  *nonce = NULL;
  *earned = *redeemed = 0;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "member");
  if (!m || cJSON_IsNull(m))
    return SHOAL_OK;
  if (!cJSON_IsObject(m))
    return shoal_fail(diag, SHOAL_EINPUT, "\"member\" must be an object");
  const char *cid = NULL, *n = NULL;
  if (shoal_json_get_str(m, "id", true, &cid, diag) != SHOAL_OK ||
      shoal_json_get_str(m, "nonce", false, &n, diag) != SHOAL_OK)
    return SHOAL_EINPUT;
  if (!shoal_member_field_valid(cid))
    return shoal_fail(diag, SHOAL_EINPUT, "member.id is not a member identifier");
  if (n && !shoal_member_nonce_valid(n))
    return shoal_fail(diag, SHOAL_EINPUT, "member.nonce is not a code nonce");
  shoal_err rc;
  if ((rc = points_field(m, "points_earned", earned, diag)) != SHOAL_OK ||
      (rc = points_field(m, "points_redeemed", redeemed, diag)) != SHOAL_OK)
    return rc;
  *id = cid;
  *nonce = n;
  return SHOAL_OK;
}
