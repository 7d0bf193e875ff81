/* member_code.h - loyalty member codes (SPEC 13), the sibling of the
 * work-order code (SPEC 7.4, signing.h):
 *   SHOALM1.{customer}.{tier}.{tags}.{points}.{nonce}.{expires}.{sig}
 * The hub signs everything before the last dot (prefix included) with its
 * policy key; a till verifies offline with the trusted public key. "-"
 * stands for no tier and for no tags; tags are joined by ",". Customer,
 * tier and tags are identifiers without '.', so the fields split exactly. */
#ifndef SHOAL_MEMBER_CODE_H
#define SHOAL_MEMBER_CODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/crypto.h"
#include "shoal/err.h"
#include "shoal/shoal_limits.h"

#define SHOAL_MEMBER_CODE_PREFIX "SHOALM1."

struct shoal_member_code {
  char customer[SHOAL_ID_MAX + 1];
  char tier[SHOAL_ID_MAX + 1]; /* "" when the member has no tier */
  char tags[SHOAL_MEMBER_TAGS_MAX][SHOAL_ID_MAX + 1];
  size_t ntags;
  int64_t points; /* reserved for redemption, 0..SHOAL_POINTS_MAX */
  char nonce[SHOAL_MEMBER_NONCE_MAX + 1];
  int64_t expires; /* unix seconds */
};

/* True if s may stand in a member code's customer, tier or tag field: an
 * identifier (SPEC 3) without '.'. */
bool shoal_member_field_valid(const char *s);

/* True if s may be a member code's nonce: 8 to SHOAL_MEMBER_NONCE_MAX
 * base64url characters (it may begin with '-' or '_', unlike an id). */
bool shoal_member_nonce_valid(const char *s);

/* Signs c into a code; *out heap. SHOAL_EINPUT naming the field when a
 * field cannot be encoded (a '.' in an id, bad nonce, points out of range). */
shoal_err shoal_member_code_make(const struct shoal_privkey *key, const struct shoal_member_code *c,
                                 char **out, shoal_diag *diag);

/* Parses a code without checking its signature (SHOAL_EINPUT naming what is
 * wrong). On success fills *out. */
shoal_err shoal_member_code_decode(const char *code, struct shoal_member_code *out,
                                   shoal_diag *diag);

/* Verifies a code offline: malformed or signed by no key of keys[0..nkeys)
 * (forged, altered, another chain's) is SHOAL_ESIG; expires <= now_unix_s
 * is SHOAL_EEXPIRED. Both exit 4 / 403 (SPEC 13). On success fills *out. */
shoal_err shoal_member_code_verify(const char *code, const struct shoal_pubkey *const *keys,
                                   size_t nkeys, int64_t now_unix_s, struct shoal_member_code *out,
                                   shoal_diag *diag);

#endif
