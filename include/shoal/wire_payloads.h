/* wire_payloads.h - the payloads that cross the wire besides the event
 * envelope (wire.h), each encoded and decoded here and nowhere else (SPEC
 * 4.2, docs/protocol.md): acks (hub -> agent), presence (agent -> hub,
 * retained, also the last will) and the bodies of the "hello", "sale" and
 * "return" events. Encoders write the exact bytes
 * the protocol has always used; decoders refuse what is malformed or over the limits of
 * shoal_limits.h with SHOAL_EINPUT / SHOAL_ELIMIT and a diag naming the problem. */
#ifndef SHOAL_WIRE_PAYLOADS_H
#define SHOAL_WIRE_PAYLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/shoal_limits.h"
#include "shoal/wire.h"

/* ---- ack: {"epoch":"<decimal>","upto":N} on P/ack/{store}/{device} ---- */

/* Writes the ack of stream epoch (a decimal string of 1 to 20 digits) up
 * to seq upto (>= 0) into buf (caller's storage, NUL-terminated) and its
 * length into *len. SHOAL_EINPUT for a bad epoch or upto, SHOAL_ELIMIT if
 * bufsz is too small (SHOAL_ACK_MAX_BYTES is always enough). */
shoal_err shoal_ack_encode(const char *epoch, int64_t upto, char *buf, size_t bufsz, size_t *len,
                           shoal_diag *diag);

/* Reads an ack of at most SHOAL_ACK_MAX_BYTES: "epoch" a 64-bit value (a
 * string of digits or a number), "upto" an integer in [0, 2^53] (jsonx.h).
 * Sets *epoch and
 * *upto only on success; anything else is SHOAL_EINPUT. */
shoal_err shoal_ack_decode(const void *payload, size_t len, uint64_t *epoch, int64_t *upto,
                           shoal_diag *diag);

/* ---- presence on P/presence/{store}/{device} (retained) ---- */

/* What a device says of itself. device and store are required; region,
 * profile are omitted when NULL, "at" when at_ms < 0 (the last will, set
 * at connect time, carries only online, device and store). */
struct shoal_presence {
  bool online;
  const char *device;
  const char *store;
  const char *region;
  const char *profile;
  int64_t at_ms; /* the moment it was said (UTC, printed ISO 8601) */
};

/* Encodes p as one compact JSON object: keys online, device, store[,
 * region][, profile][, at]. *out is heap (caller frees), set only on
 * success. SHOAL_EINPUT when device or store is missing. */
shoal_err shoal_presence_encode(const struct shoal_presence *p, char **out, shoal_diag *diag);

/* Reads a presence message of 1 to SHOAL_PRESENCE_MAX_BYTES (an empty one
 * clears the retained message: the caller handles it): a JSON object with
 * a boolean "online" (other keys are informational and not checked). Sets
 * *online only on success. */
shoal_err shoal_presence_decode(const void *payload, size_t len, bool *online, shoal_diag *diag);

/* ---- the "hello" event body (agent -> hub, through the outbox) ---- */

/* What a device reports of itself when it connects (or when its policies
 * change). Strings are borrowed. */
struct shoal_hello {
  const char *profile;       /* required */
  const char *region;        /* required */
  const char *agent_version; /* required */
  /* A replayed hello fills a seq that has no business record behind it
   * (agent_replay.c): it carries profile, region, agent_version and
   * "replayed": true, nothing else. */
  bool replayed;
  unsigned modules;          /* enum shoal_module bits, listed as "modules" */
  const char *const *serves; /* stores this device serves (SPEC 15) */
  size_t nserves;
  /* Members copied into the body after "serves", in order (the agent's
   * policies / pending_policies / stale, as `status` reports them);
   * borrowed, NULL for none. */
  const cJSON *status;
  int64_t outbox_pending; /* events not yet acknowledged; < 0: omitted */
  int64_t acked;          /* the hub's last ack to this device; < 0: omitted */
};

/* Builds the hello body: profile, region, modules, agent_version, serves,
 * the status members, outbox_pending, acked (a replayed hello: profile,
 * region, agent_version, replayed). *out is a new tree (caller deletes),
 * set only on success. SHOAL_EINPUT when a required string is missing. */
shoal_err shoal_hello_encode(const struct shoal_hello *h, cJSON **out, shoal_diag *diag);

/* A hello as the hub reads it. Strings and policies are borrowed from the
 * body; every field is optional (NULL / -1 when absent). */
struct shoal_hello_info {
  const char *profile;       /* at most 128 bytes */
  const char *region;        /* an identifier */
  const char *agent_version; /* "agent_version" or "version", at most 64 bytes */
  int64_t outbox_depth;      /* "outbox_depth" or "outbox_pending", >= 0 */
  const cJSON *policies; /* "policies", "policy_versions" or "versions": an object of versions */
};

/* Reads and checks the identity fields of a hello body (an object). Other
 * keys are left alone (serves: shoal_hello_serves_decode; acked:
 * shoal_hello_acked). Sets *out only on success; SHOAL_EINPUT naming the
 * key otherwise. */
shoal_err shoal_hello_decode(const cJSON *body, struct shoal_hello_info *out, shoal_diag *diag);

/* Reads "serves": *n = 0 and SHOAL_OK when absent (*present false);
 * otherwise an array of at most SHOAL_SERVES_MAX store identifiers, borrowed
 * into stores[] (caller's array of SHOAL_SERVES_MAX). SHOAL_EINPUT else. */
shoal_err shoal_hello_serves_decode(const cJSON *body, const char **stores, size_t *n,
                                    bool *present, shoal_diag *diag);

/* "acked" of a hello body: the seq the device last had acknowledged, or -1
 * when absent or not an integer >= 0 (it is informational). */
int64_t shoal_hello_acked(const cJSON *body);

/* ---- the "sale" event body (SPEC 12, agent -> hub) ---- */

/* Builds the sale body: a copy of receipt (an object whose "id" is a
 * string), then "receipt" (that id), "customer" (a copy, when customer is
 * not NULL) and "policy_versions" {scopes[i]: versions[i]} for each of the
 * nscopes scopes with a version > 0. member_nonce, when not NULL, is added
 * as "nonce" to the receipt's "member" object (which must be there). All
 * arguments borrowed; *out a new tree (caller deletes), set only on
 * success. SHOAL_EINPUT for a receipt without an id or member object. */
shoal_err shoal_sale_body_encode(const cJSON *receipt, const cJSON *customer,
                                 const char *const *scopes, const int64_t *versions, size_t nscopes,
                                 const char *member_nonce, cJSON **out, shoal_diag *diag);

/* The fields of a sale body the hub stores and reports on. Strings are
 * borrowed from the event's body. */
struct shoal_sale_info {
  const char *receipt; /* 1 to 128 bytes */
  const char *region;  /* an identifier */
  int64_t at_ms;
  int64_t subtotal, discount, rounding, total; /* minor units, |x| <= SHOAL_MONEY_MAX */
};

/* Reads and checks ev's sale body: receipt, region, store (the envelope's),
 * at (an instant), money fields that add up (subtotal - discount + rounding
 * == total, subtotal and total >= 0), lines an array of at most
 * SHOAL_BASKET_MAX_LINES objects. Sets *out only on success; an error
 * (SHOAL_EINPUT, or the code of the failed read) names the key. The member
 * block is the hub's to check (hub_loyalty_member_parse). */
shoal_err shoal_sale_decode(const struct shoal_event *ev, struct shoal_sale_info *out,
                            shoal_diag *diag);

/* ---- the "return" event body (SPEC 12, agent -> hub) ---- */

/* Builds the return body: a copy of ret (the recorded return) plus "store",
 * "region" and "sale_at" (the returned sale's `at`). Arguments borrowed;
 * *out a new tree (caller deletes), set only on success. */
shoal_err shoal_return_body_encode(const cJSON *ret, const char *store, const char *region,
                                   const char *sale_at, cJSON **out, shoal_diag *diag);

/* The fields of a return body the hub checks and stores; strings borrowed. */
struct shoal_return_info {
  const char *id, *sale; /* 1 to 128 bytes each */
  int64_t at_ms;
  int64_t refund; /* 0 .. SHOAL_MONEY_MAX, the sum of refunds[].amount */
};

/* Reads and checks ev's return body: id, sale, store (the envelope's), at,
 * refund, lines (an array of at most SHOAL_BASKET_MAX_LINES), refunds (an
 * array of {"amount" > 0} adding up to refund). Sets *out only on success;
 * SHOAL_EINPUT naming the problem otherwise. */
shoal_err shoal_return_decode(const struct shoal_event *ev, struct shoal_return_info *out,
                              shoal_diag *diag);

#endif
