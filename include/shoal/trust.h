/* trust.h - signed trust updates: how HQ rotates the keys agents trust for
 * policy envelopes and work-order codes (docs/security.md).
 * An update carries a version and the complete list of trusted public keys
 * from that version on, and is signed by a key trusted at the version before.
 * The retained message on P/trust is a chain of the latest updates in
 * ascending order, so an agent that was offline through several rotations
 * walks them one by one, each verified by the keys the previous one named.
 * Signed bytes: "shoal-trust-v1\n{version}\n{issued_at}\n" followed by
 * "{hex sha256 of key PEM}\n" for each key, in order. */
#ifndef SHOAL_TRUST_H
#define SHOAL_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/crypto.h"
#include "shoal/err.h"
#include "shoal/signing.h"

#define SHOAL_TRUST_CHAIN_MAX     16          /* updates in one retained message */
#define SHOAL_TRUST_MSG_MAX_BYTES (64 * 1024) /* the whole retained message */
#define SHOAL_TRUST_KEY_PEM_MAX   1024        /* one public key PEM */

struct shoal_trust_update {
  int64_t version; /* >= 1 */
  char issued_at[40];
  size_t nkeys;                     /* 1..SHOAL_TRUST_KEYS_MAX */
  char *keys[SHOAL_TRUST_KEYS_MAX]; /* heap PEM texts, as signed */
};

/* Signs an update naming keys_pem[0..nkeys) (each a P-256 public key PEM)
 * with key. *out is the update as one JSON object text (heap). */
shoal_err shoal_trust_update_sign(const struct shoal_privkey *key, int64_t version,
                                  const char *issued_at, const char *const *keys_pem, size_t nkeys,
                                  char **out, shoal_diag *diag);

/* Verifies one update object against any of keys[0..nkeys): shape, every
 * listed key a P-256 public key, signature (SHOAL_ESIG). On success *out owns
 * copies of the keys (shoal_trust_update_cleanup). */
shoal_err shoal_trust_update_verify_json(const cJSON *obj, const struct shoal_pubkey *const *keys,
                                         size_t nkeys, struct shoal_trust_update *out,
                                         shoal_diag *diag);

/* Wraps update objects (JSON texts, ascending versions) into the retained
 * chain message {"v":1,"updates":[...]}; *out heap. */
shoal_err shoal_trust_chain_encode(const char *const *updates, size_t n, char **out,
                                   shoal_diag *diag);

/* Applies a chain message for a holder of held_version trusting keys: every
 * update above held_version, in order, must verify with the keys trusted
 * just before it. *changed is false (and *out untouched) if nothing is newer.
 * A chain whose first new update does not verify is SHOAL_ESIG; a later one
 * that does not verify ends the walk at the last verified update (which is
 * returned). Versions must ascend (SHOAL_EINPUT). Messages over
 * SHOAL_TRUST_MSG_MAX_BYTES are refused before parsing (SHOAL_ELIMIT). */
shoal_err shoal_trust_chain_apply(const char *payload, size_t len, int64_t held_version,
                                  const struct shoal_pubkey *const *keys, size_t nkeys,
                                  struct shoal_trust_update *out, bool *changed, shoal_diag *diag);

/* Frees the keys; the struct may be reused. */
void shoal_trust_update_cleanup(struct shoal_trust_update *u);

#endif
