/* wire_payloads.h - the payloads that cross the wire besides the event
 * envelope (wire.h), each encoded and decoded here and nowhere else (SPEC
 * 4.2, docs/protocol.md): acks (hub -> agent) and presence (agent ->
 * hub, retained, also the last will). Encoders write the exact bytes the
 * protocol has always used; decoders refuse what is malformed or over the
 * limits of shoal_limits.h with SHOAL_EINPUT / SHOAL_ELIMIT and a diag
 * naming the problem. */
#ifndef SHOAL_WIRE_PAYLOADS_H
#define SHOAL_WIRE_PAYLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "shoal_limits.h"

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

#endif
