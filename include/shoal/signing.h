/* signing.h - signed documents of the protocol: policy envelopes (SPEC 4.3)
 * and work-order codes (SPEC 7.4). Signatures are checked over the exact
 * bytes received; acceptance rules (scope, rollback, expiry) are pure
 * functions here so agent and tests share them. */
#ifndef SHOAL_SIGNING_H
#define SHOAL_SIGNING_H

#include <stdbool.h>
#include <stdint.h>

#include "shoal/crypto.h"
#include "shoal/err.h"
#include "shoal/policy.h"
#include "shoal/shoal_limits.h"

#define SHOAL_NO_TIME        INT64_MIN /* an absent effective_at / expires_at */
#define SHOAL_TRUST_KEYS_MAX 4

/* A staged rollout's targeting (docs/protocol.md "Staged rollout"): the
 * envelope's doc applies on devices of the listed stores and of stores
 * whose bucket (shoal_rollout_bucket) is below percent; every other device
 * takes stable_doc under the same version. Covered by the signature. */
struct shoal_policy_rollout {
  char id[SHOAL_ID_MAX + 1];
  int64_t stable_version; /* the scope's stable version when the rollout began (0: none) */
  int percent;            /* 0..100 */
  char **stores;          /* heap array of heap ids */
  size_t nstores;
  char *stable_doc; /* heap: the document for devices outside the stage */
};

#define SHOAL_ROLLOUT_STORES_MAX 4096 /* explicit stores in one envelope */

/* The stable 0..99 bucket of a store id (FNV-1a 32 mod 100): a store in at
 * 10% stays in at 50%. */
int shoal_rollout_bucket(const char *store);

/* True when store is targeted by r (listed, or bucket < percent). */
bool shoal_rollout_targets(const struct shoal_policy_rollout *r, const char *store);

/* Frees r's heap parts; NULL no-op. */
void shoal_policy_rollout_cleanup(struct shoal_policy_rollout *r);

struct shoal_policy_envelope {
  char scope[SHOAL_SCOPE_MAX];
  int64_t version; /* >= 1 */
  char issued_at[40];
  char effective_at[40]; /* "" when null */
  char expires_at[40];   /* "" when null */
  int64_t issued_ms;
  int64_t effective_ms; /* SHOAL_NO_TIME when null */
  int64_t expires_ms;   /* SHOAL_NO_TIME when null */
  char *doc;            /* heap: the policy document text, exactly as signed */
  bool has_rollout;     /* the envelope carries "rollout" (then rollout is filled) */
  struct shoal_policy_rollout rollout;
};

/* Builds and signs an envelope; *out is the JSON text (heap). effective_at
 * and expires_at may be NULL. Timestamps are validated ISO-8601. */
shoal_err shoal_policy_envelope_sign(const struct shoal_privkey *key, const char *scope,
                                     int64_t version, const char *issued_at,
                                     const char *effective_at, const char *expires_at,
                                     const char *doc, char **out, shoal_diag *diag);

/* As shoal_policy_envelope_sign, for a rollout stage: the envelope also
 * carries "rollout" (r), and the signed text gains the lines
 * "rollout\n{id}\n{stable_version}\n{percent}\n{stores joined by ,}\n{hex sha256 of stable_doc}".
 * r NULL is exactly shoal_policy_envelope_sign. */
shoal_err shoal_policy_envelope_sign_rollout(const struct shoal_privkey *key, const char *scope,
                                             int64_t version, const char *issued_at,
                                             const char *effective_at, const char *expires_at,
                                             const char *doc, const struct shoal_policy_rollout *r,
                                             char **out, shoal_diag *diag);

/* Parses an envelope of at most SHOAL_POLICY_ENVELOPE_MAX_BYTES (refused
 * before parsing when larger) and verifies its signature against any of
 * keys[0..nkeys). SHOAL_ESIG if no key verifies it; SHOAL_EINPUT/EJSON/
 * ELIMIT for a malformed one. On success *out owns doc
 * (shoal_policy_envelope_cleanup). */
shoal_err shoal_policy_envelope_verify(const char *payload, size_t len,
                                       const struct shoal_pubkey *const *keys, size_t nkeys,
                                       struct shoal_policy_envelope *out, shoal_diag *diag);

void shoal_policy_envelope_cleanup(struct shoal_policy_envelope *env);

enum shoal_policy_verdict {
  SHOAL_POLICY_ACCEPT, /* store it (it takes effect at effective_ms) */
  SHOAL_POLICY_SAME,   /* version equal to the one held: ignore silently */
};

/* Decides on a verified envelope for a device in region/store that holds
 * held_version for the envelope's scope (0 if none). now_ms is the device
 * clock; newest_issued_ms the newest issued_at it has accepted (expiry is
 * checked against the later of the two). Returns SHOAL_OK with *verdict, or
 * SHOAL_ESCOPE (not global/its region/its store), SHOAL_EROLLBACK (lower
 * version), SHOAL_EEXPIRED, each with a message. */
shoal_err shoal_policy_envelope_check(const struct shoal_policy_envelope *env, const char *region,
                                      const char *store, int64_t held_version, int64_t now_ms,
                                      int64_t newest_issued_ms, enum shoal_policy_verdict *verdict,
                                      shoal_diag *diag);

/* Work-order code "SHOAL1.{ticket}.{store}.{expires}.{base64url sig}" over
 * "{ticket}.{store}.{expires}". *out heap. */
shoal_err shoal_wo_code_make(const struct shoal_privkey *key, const char *ticket, const char *store,
                             int64_t expires_unix_s, char **out, shoal_diag *diag);

/* Verifies a code offline: format (SHOAL_EINPUT), signature under any key
 * (SHOAL_ESIG), store equal to expect_store (SHOAL_ESCOPE), not expired at
 * now_unix_s (SHOAL_EEXPIRED). On success copies the ticket id into
 * ticket_out (SHOAL_ID_MAX + 1 bytes) and the expiry into *expires_out. */
shoal_err shoal_wo_code_verify(const char *code, const struct shoal_pubkey *const *keys,
                               size_t nkeys, const char *expect_store, int64_t now_unix_s,
                               char *ticket_out, int64_t *expires_out, shoal_diag *diag);

#endif
