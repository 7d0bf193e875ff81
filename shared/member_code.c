/* member_code.c - encode, decode, sign and verify member codes (SPEC 13).
 * Fields split on '.', so every field is checked to hold none; the signed
 * text is the code up to (not including) its last '.', prefix included, so
 * a work-order signature (SPEC 7.4, no such prefix) can never pass as one. */
#include "shoal/member_code.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/util.h"

#define PREFIX_LEN (sizeof SHOAL_MEMBER_CODE_PREFIX - 1)

bool shoal_member_field_valid(const char *s) {
  return shoal_id_valid(s) && !strchr(s, '.');
}

bool shoal_member_nonce_valid(const char *s) {
  size_t n = strlen(s);
  if (n < 8 || n > SHOAL_MEMBER_NONCE_MAX)
    return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return false;
  }
  return true;
}

/* A non-negative decimal of at most 15 digits, no sign, no leading zero
 * (but "0"): the one spelling a value has, so a code cannot be re-spelt. */
static bool parse_uint(const char *s, size_t n, int64_t *out) {
  if (n == 0 || n > 15 || (n > 1 && s[0] == '0'))
    return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* The signed text "SHOALM1.{customer}.{tier}.{tags}.{points}.{nonce}.{expires}". */
static shoal_err signed_text(const struct shoal_member_code *c, char *buf, size_t bufsz,
                             shoal_diag *diag) {
  if (!shoal_member_field_valid(c->customer))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "member code: customer \"%.64s\" must be an identifier without '.'",
                      c->customer);
  if (c->tier[0] && !shoal_member_field_valid(c->tier))
    return shoal_fail(diag, SHOAL_EINPUT,
                      "member code: tier \"%.64s\" must be an identifier without '.'", c->tier);
  if (c->ntags > SHOAL_MEMBER_TAGS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "member code: more than %d tags", SHOAL_MEMBER_TAGS_MAX);
  if (c->points < 0 || c->points > SHOAL_POINTS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "member code: points out of range");
  if (c->expires < 0 || c->expires > 999999999999999LL)
    return shoal_fail(diag, SHOAL_EINPUT, "member code: expiry out of range");
  if (!shoal_member_nonce_valid(c->nonce))
    return shoal_fail(diag, SHOAL_EINPUT, "member code: nonce must be 8 to %d base64url characters",
                      SHOAL_MEMBER_NONCE_MAX);
  size_t n = (size_t)snprintf(buf, bufsz, "%s%s.%s.", SHOAL_MEMBER_CODE_PREFIX, c->customer,
                              c->tier[0] ? c->tier : "-");
  if (c->ntags == 0 && n < bufsz)
    n += (size_t)snprintf(buf + n, bufsz - n, "-");
  for (size_t i = 0; i < c->ntags && n < bufsz; i++) {
    if (!shoal_member_field_valid(c->tags[i]))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "member code: tag \"%.64s\" must be an identifier without '.'", c->tags[i]);
    n += (size_t)snprintf(buf + n, bufsz - n, "%s%s", i ? "," : "", c->tags[i]);
  }
  if (n < bufsz)
    n += (size_t)snprintf(buf + n, bufsz - n, ".%" PRId64 ".%s.%" PRId64, c->points, c->nonce,
                          c->expires);
  if (n >= bufsz)
    return shoal_fail(diag, SHOAL_ELIMIT, "member code too long");
  return SHOAL_OK;
}

shoal_err shoal_member_code_make(const struct shoal_privkey *key, const struct shoal_member_code *c,
                                 char **out, shoal_diag *diag) {
  char text[SHOAL_MEMBER_CODE_MAX];
  shoal_err rc = signed_text(c, text, sizeof text, diag);
  if (rc != SHOAL_OK)
    return rc;
  unsigned char sig[SHOAL_SIG_MAX];
  size_t sig_len = 0;
  if ((rc = shoal_sign(key, text, strlen(text), sig, &sig_len, diag)) != SHOAL_OK)
    return rc;
  char *sig64 = NULL;
  if ((rc = shoal_base64_encode(sig, sig_len, true, &sig64)) != SHOAL_OK)
    return shoal_fail(diag, rc, "out of memory");
  size_t n = strlen(text) + strlen(sig64) + 2;
  char *code = malloc(n);
  if (!code) {
    free(sig64);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  snprintf(code, n, "%s.%s", text, sig64);
  free(sig64);
  *out = code;
  return SHOAL_OK;
}

/* Copies field [s, s+n) into dst (cap bytes incl. NUL); false if too long. */
static bool field_copy(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap)
    return false;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return true;
}

shoal_err shoal_member_code_decode(const char *code, struct shoal_member_code *out,
                                   shoal_diag *diag) {
  struct shoal_member_code c;
  memset(&c, 0, sizeof c);
  size_t len = strlen(code);
  if (len > SHOAL_MEMBER_CODE_MAX || strncmp(code, SHOAL_MEMBER_CODE_PREFIX, PREFIX_LEN) != 0)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "not a member code (want SHOALM1.{customer}.{tier}.{tags}.{points}.{nonce}."
                      "{expires}.{signature})");
  /* Exactly seven fields after the prefix. */
  const char *f[7];
  size_t fl[7];
  const char *p = code + PREFIX_LEN;
  for (int i = 0; i < 7; i++) {
    const char *dot = i < 6 ? strchr(p, '.') : p + strlen(p);
    if (!dot)
      return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: %d fields, want 7", i + 1);
    f[i] = p;
    fl[i] = (size_t)(dot - p);
    if (fl[i] == 0)
      return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: field %d is empty", i + 1);
    p = *dot ? dot + 1 : dot;
  }
  if (strchr(f[6], '.'))
    return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: more than 7 fields");
  if (!field_copy(c.customer, sizeof c.customer, f[0], fl[0]) ||
      !shoal_member_field_valid(c.customer))
    return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: bad customer id");
  if (!(fl[1] == 1 && f[1][0] == '-') &&
      (!field_copy(c.tier, sizeof c.tier, f[1], fl[1]) || !shoal_member_field_valid(c.tier)))
    return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: bad tier");
  if (!(fl[2] == 1 && f[2][0] == '-')) {
    const char *t = f[2], *end = f[2] + fl[2];
    while (t <= end) {
      const char *comma = memchr(t, ',', (size_t)(end - t));
      if (!comma)
        comma = end;
      if (c.ntags >= SHOAL_MEMBER_TAGS_MAX)
        return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: more than %d tags",
                          SHOAL_MEMBER_TAGS_MAX);
      char *dst = c.tags[c.ntags++];
      if (!field_copy(dst, SHOAL_ID_MAX + 1, t, (size_t)(comma - t)) ||
          !shoal_member_field_valid(dst))
        return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: bad tag");
      t = comma + 1;
    }
  }
  if (!parse_uint(f[3], fl[3], &c.points) || c.points > SHOAL_POINTS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: bad points");
  if (!field_copy(c.nonce, sizeof c.nonce, f[4], fl[4]) || !shoal_member_nonce_valid(c.nonce))
    return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: bad nonce");
  if (!parse_uint(f[5], fl[5], &c.expires))
    return shoal_fail(diag, SHOAL_EINPUT, "malformed member code: bad expiry");
  *out = c;
  return SHOAL_OK;
}

shoal_err shoal_member_code_verify(const char *code, const struct shoal_pubkey *const *keys,
                                   size_t nkeys, int64_t now_unix_s, struct shoal_member_code *out,
                                   shoal_diag *diag) {
  struct shoal_member_code c;
  if (shoal_member_code_decode(code, &c, diag) != SHOAL_OK)
    return SHOAL_ESIG; /* SPEC 13: a malformed code is refused like a forged one */
  /* Re-encode the fields and compare: only the canonical spelling verifies. */
  char text[SHOAL_MEMBER_CODE_MAX];
  shoal_diag ignore = {{0}};
  const char *last = strrchr(code, '.');
  size_t text_len = (size_t)(last - code);
  if (signed_text(&c, text, sizeof text, &ignore) != SHOAL_OK || strlen(text) != text_len ||
      memcmp(text, code, text_len) != 0)
    return shoal_fail(diag, SHOAL_ESIG, "malformed member code: not in canonical form");
  unsigned char sig[SHOAL_SIG_MAX + 8];
  size_t sig_len = 0;
  if (strlen(last + 1) > 200 ||
      shoal_base64_decode(last + 1, true, sig, sizeof sig, &sig_len) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ESIG, "member code signature is not base64url");
  shoal_err rc = SHOAL_ESIG;
  for (size_t i = 0; i < nkeys && rc != SHOAL_OK; i++)
    rc = shoal_verify(keys[i], text, text_len, sig, sig_len);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ESIG,
                      "member code signature is not valid (forged, altered or another chain's)");
  if (c.expires <= now_unix_s)
    return shoal_fail(diag, SHOAL_EEXPIRED, "member code for customer %s expired", c.customer);
  *out = c;
  return SHOAL_OK;
}
