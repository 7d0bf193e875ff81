/* hub_loyalty.h - the hub's points ledger (SPEC 13): earn, redeem, return
 * reversal and reservation release, each booked once by event identity
 * inside the caller's transaction, with the customer's balance, reserved
 * points and overdraft count updated in the same statement group. */
#ifndef HUB_LOYALTY_H
#define HUB_LOYALTY_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/loyalty.h"

/* What a sale (or order) books for its member. */
struct hub_loyalty_sale {
  const char *event;    /* identity, e.g. "sale:{device}/{epoch}/{seq}" */
  const char *customer; /* member id */
  const char *nonce;    /* member code used, or NULL */
  int64_t earned, redeemed;
  int64_t at_ms;
  const char *ref; /* receipt or order, for the ledger */
};

/* Books earn (+earned) and redeem (-redeemed) once per event, and ends the
 * code's reservation: a code still reserved becomes 'used'; a code already
 * used or released (or unknown) makes the redemption an overdraft, counted
 * per customer and in shoal_loyalty_overdraft_total. Creates a bare
 * customer row if the registry does not know the id. */
shoal_err hub_loyalty_book_sale(hub_store *db, const struct hub_loyalty_sale *s, int64_t now_ms,
                                shoal_diag *diag);

/* Books a return's reversal once per event: -reversed earned points and
 * +refunded redeemed points. */
shoal_err hub_loyalty_book_return(hub_store *db, const char *event, const char *customer,
                                  int64_t reversed, int64_t refunded, int64_t at_ms,
                                  const char *ref, shoal_diag *diag);

/* Releases every reservation whose release time (expiry + grace) is at or
 * before now_ms, in its own transaction. *released (may be NULL) counts them. */
shoal_err hub_loyalty_release_due(hub_store *db, int64_t now_ms, int64_t *released,
                                  shoal_diag *diag);

/* The `loyalty` policy for a scope chain in effect at now_ms (the most
 * specific scope that sets it wins; defaults when none does). region and
 * store may be NULL. */
shoal_err hub_loyalty_policy(hub_store *db, const char *region, const char *store, int64_t now_ms,
                             struct shoal_loyalty *out, shoal_diag *diag);

/* The member block of a sale or return event body, checked: id a code-safe
 * identifier, points within bounds. SHOAL_EINPUT naming the problem; an
 * absent block gives *id = NULL. */
shoal_err hub_loyalty_member_parse(const cJSON *body, const char **id, const char **nonce,
                                   int64_t *earned, int64_t *redeemed, shoal_diag *diag);

#endif
