/* crypto.h - the cryptography Shoal uses, over mbedTLS 2.28: ECDSA P-256
 * with SHA-256 (policy envelopes, work-order codes), SHA-256, HMAC-SHA256
 * (webhooks) and base64 / base64url. Private key material is wiped before
 * it is freed and never logged. */
#ifndef SHOAL_CRYPTO_H
#define SHOAL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "shoal/err.h"

#define SHOAL_SIG_MAX        80 /* DER ECDSA P-256 signature: at most 72 bytes */
#define SHOAL_SHA256_BYTES   32 /* a SHA-256 digest */
#define SHOAL_SHA256_HEX_MAX 65 /* its lower-case hex, NUL included */

struct shoal_privkey; /* opaque; an ECDSA P-256 private key */
struct shoal_pubkey;  /* opaque; an ECDSA P-256 public key */

/* Generates a P-256 key pair as PEM strings (heap; caller frees, wiping
 * *priv_pem with shoal_secure_free). */
shoal_err shoal_key_generate(char **priv_pem, char **pub_pem, shoal_diag *diag);

/* Loads a PEM private key file (must be EC P-256). Free with shoal_privkey_free. */
shoal_err shoal_privkey_load(const char *path, struct shoal_privkey **out, shoal_diag *diag);
void shoal_privkey_free(struct shoal_privkey *key);

/* Loads / parses a PEM public key (EC P-256). Free with shoal_pubkey_free. */
shoal_err shoal_pubkey_load(const char *path, struct shoal_pubkey **out, shoal_diag *diag);
shoal_err shoal_pubkey_parse(const char *pem, size_t len, struct shoal_pubkey **out,
                             shoal_diag *diag);
/* The public half of a private key (heap; free with shoal_pubkey_free). */
shoal_err shoal_pubkey_from_privkey(const struct shoal_privkey *priv, struct shoal_pubkey **out,
                                    shoal_diag *diag);
void shoal_pubkey_free(struct shoal_pubkey *key);

/* ECDSA-SHA256 signature of msg; sig must hold SHOAL_SIG_MAX bytes. */
shoal_err shoal_sign(const struct shoal_privkey *key, const void *msg, size_t len,
                     unsigned char *sig, size_t *sig_len, shoal_diag *diag);

/* SHOAL_OK if sig is a valid ECDSA-SHA256 signature of msg under key, else SHOAL_ESIG. */
shoal_err shoal_verify(const struct shoal_pubkey *key, const void *msg, size_t len,
                       const unsigned char *sig, size_t sig_len);

/* Lower-case hex SHA-256 of data into out (SHOAL_SHA256_HEX_MAX bytes). */
void shoal_sha256_hex(const void *data, size_t len, char out[SHOAL_SHA256_HEX_MAX]);

/* Lower-case hex HMAC-SHA256 into out (SHOAL_SHA256_HEX_MAX bytes). */
void shoal_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                           char out[SHOAL_SHA256_HEX_MAX]);

/* Base64 (url: base64url without padding) of len bytes; *out heap, NUL-terminated. */
shoal_err shoal_base64_encode(const unsigned char *in, size_t len, bool url, char **out);
/* Decodes base64 (url: base64url, padding optional) into out (cap bytes). */
shoal_err shoal_base64_decode(const char *in, bool url, unsigned char *out, size_t cap,
                              size_t *out_len);

/* Overwrites then frees a secret string; NULL is a no-op. */
void shoal_secure_free(char *secret);

#endif
