/* crypto.c - ECDSA P-256, SHA-256, HMAC and base64 over mbedTLS 2.28.
 * mbedTLS error codes are translated here, at the boundary. */
#include "shoal/crypto.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "shoal/rng.h"
#include "shoal/shoal_limits.h"
#include "shoal/util.h"

struct shoal_privkey {
  mbedtls_pk_context pk;
};
struct shoal_pubkey {
  mbedtls_pk_context pk;
};

static shoal_err mbed_fail(shoal_diag *diag, shoal_err err, const char *what, int mrc) {
  return shoal_fail(diag, err, "%s (mbedtls -0x%04x)", what, (unsigned)-mrc);
}

static bool is_p256(const mbedtls_pk_context *pk) {
  return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
         mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

shoal_err shoal_key_generate(char **priv_pem, char **pub_pem, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct shoal_rng r;
  mbedtls_pk_context pk;
  char *priv = NULL, *pub = NULL;
  mbedtls_pk_init(&pk);
  int m;
  if ((rc = shoal_rng_init(&r, "shoal", diag)) != SHOAL_OK)
    goto cleanup;
  if ((m = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
      (m = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random,
                               &r.drbg)) != 0) {
    rc = mbed_fail(diag, SHOAL_ECRYPTO, "cannot generate a P-256 key", m);
    goto cleanup;
  }
  priv = calloc(1, SHOAL_KEY_PEM_MAX);
  pub = calloc(1, SHOAL_KEY_PEM_MAX);
  if (!priv || !pub) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((m = mbedtls_pk_write_key_pem(&pk, (unsigned char *)priv, SHOAL_KEY_PEM_MAX)) != 0 ||
      (m = mbedtls_pk_write_pubkey_pem(&pk, (unsigned char *)pub, SHOAL_KEY_PEM_MAX)) != 0) {
    rc = mbed_fail(diag, SHOAL_ECRYPTO, "cannot encode the key", m);
    goto cleanup;
  }
  *priv_pem = priv;
  *pub_pem = pub;
  priv = pub = NULL;
cleanup:
  if (priv)
    mbedtls_platform_zeroize(priv, SHOAL_KEY_PEM_MAX);
  free(priv);
  free(pub);
  mbedtls_pk_free(&pk);
  shoal_rng_free(&r);
  return rc;
}

shoal_err shoal_privkey_load(const char *path, struct shoal_privkey **out, shoal_diag *diag) {
  struct shoal_privkey *k = calloc(1, sizeof *k);
  if (!k)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  mbedtls_pk_init(&k->pk);
  int m = mbedtls_pk_parse_keyfile(&k->pk, path, NULL);
  if (m != 0) {
    shoal_privkey_free(k);
    return mbed_fail(diag, m == MBEDTLS_ERR_PK_FILE_IO_ERROR ? SHOAL_EIO : SHOAL_ECRYPTO, path, m);
  }
  if (!is_p256(&k->pk)) {
    shoal_privkey_free(k);
    return shoal_fail(diag, SHOAL_ECRYPTO, "%s is not an ECDSA P-256 private key", path);
  }
  *out = k;
  return SHOAL_OK;
}

void shoal_privkey_free(struct shoal_privkey *key) {
  if (!key)
    return;
  mbedtls_pk_free(&key->pk); /* zeroizes the key material */
  free(key);
}

shoal_err shoal_pubkey_parse(const char *pem, size_t len, struct shoal_pubkey **out,
                             shoal_diag *diag) {
  struct shoal_pubkey *k = calloc(1, sizeof *k);
  unsigned char *buf = malloc(len + 1);
  if (!k || !buf) {
    free(k);
    free(buf);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  memcpy(buf, pem, len);
  buf[len] = '\0';
  mbedtls_pk_init(&k->pk);
  int m = mbedtls_pk_parse_public_key(&k->pk, buf, len + 1);
  free(buf);
  if (m != 0) {
    shoal_pubkey_free(k);
    return mbed_fail(diag, SHOAL_ECRYPTO, "not a PEM public key", m);
  }
  if (!is_p256(&k->pk)) {
    shoal_pubkey_free(k);
    return shoal_fail(diag, SHOAL_ECRYPTO, "public key is not ECDSA P-256");
  }
  *out = k;
  return SHOAL_OK;
}

shoal_err shoal_pubkey_load(const char *path, struct shoal_pubkey **out, shoal_diag *diag) {
  char *text = NULL;
  size_t len = 0;
  shoal_err rc = shoal_file_read(path, SHOAL_KEY_FILE_MAX_BYTES, &text, &len, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_pubkey_parse(text, len, out, diag);
  if (rc != SHOAL_OK)
    shoal_diag_prefix(diag, "%s", path);
  free(text);
  return rc;
}

shoal_err shoal_pubkey_from_privkey(const struct shoal_privkey *priv, struct shoal_pubkey **out,
                                    shoal_diag *diag) {
  unsigned char pem[1024];
  int m = mbedtls_pk_write_pubkey_pem((mbedtls_pk_context *)&priv->pk, pem, sizeof pem);
  if (m != 0)
    return mbed_fail(diag, SHOAL_ECRYPTO, "cannot derive the public key", m);
  return shoal_pubkey_parse((const char *)pem, strlen((const char *)pem), out, diag);
}

void shoal_pubkey_free(struct shoal_pubkey *key) {
  if (!key)
    return;
  mbedtls_pk_free(&key->pk);
  free(key);
}

shoal_err shoal_sign(const struct shoal_privkey *key, const void *msg, size_t len,
                     unsigned char *sig, size_t *sig_len, shoal_diag *diag) {
  unsigned char hash[SHOAL_SHA256_BYTES];
  struct shoal_rng r;
  shoal_err rc = SHOAL_OK;
  int m;
  if ((rc = shoal_rng_init(&r, "shoal", diag)) != SHOAL_OK)
    goto cleanup;
  mbedtls_sha256_ret(msg, len, hash, 0);
  size_t n = 0;
  m = mbedtls_pk_sign((mbedtls_pk_context *)&key->pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, &n,
                      mbedtls_ctr_drbg_random, &r.drbg);
  if (m != 0 || n > SHOAL_SIG_MAX) {
    rc = mbed_fail(diag, SHOAL_ECRYPTO, "signing failed", m);
    goto cleanup;
  }
  *sig_len = n;
cleanup:
  shoal_rng_free(&r);
  return rc;
}

shoal_err shoal_verify(const struct shoal_pubkey *key, const void *msg, size_t len,
                       const unsigned char *sig, size_t sig_len) {
  unsigned char hash[SHOAL_SHA256_BYTES];
  if (!key || sig_len == 0 || sig_len > SHOAL_SIG_MAX)
    return SHOAL_ESIG;
  mbedtls_sha256_ret(msg, len, hash, 0);
  int m = mbedtls_pk_verify((mbedtls_pk_context *)&key->pk, MBEDTLS_MD_SHA256, hash, sizeof hash,
                            sig, sig_len);
  return m == 0 ? SHOAL_OK : SHOAL_ESIG;
}

void shoal_sha256_hex(const void *data, size_t len, char out[SHOAL_SHA256_HEX_MAX]) {
  unsigned char hash[SHOAL_SHA256_BYTES];
  mbedtls_sha256_ret(data, len, hash, 0);
  shoal_hex_encode(hash, sizeof hash, out);
}

void shoal_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                           char out[SHOAL_SHA256_HEX_MAX]) {
  unsigned char mac[SHOAL_SHA256_BYTES];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, data, len, mac);
  shoal_hex_encode(mac, sizeof mac, out);
}

shoal_err shoal_base64_encode(const unsigned char *in, size_t len, bool url, char **out) {
  size_t need = 0;
  mbedtls_base64_encode(NULL, 0, &need, in, len);
  char *buf = malloc(need + 1);
  if (!buf)
    return SHOAL_ENOMEM;
  size_t n = 0;
  if (mbedtls_base64_encode((unsigned char *)buf, need + 1, &n, in, len) != 0) {
    free(buf);
    return SHOAL_EINTERNAL;
  }
  buf[n] = '\0';
  if (url) {
    for (size_t i = 0; i < n; i++)
      buf[i] = buf[i] == '+' ? '-' : buf[i] == '/' ? '_' : buf[i];
    while (n > 0 && buf[n - 1] == '=')
      buf[--n] = '\0';
  }
  *out = buf;
  return SHOAL_OK;
}

shoal_err shoal_base64_decode(const char *in, bool url, unsigned char *out, size_t cap,
                              size_t *out_len) {
  size_t n = strlen(in);
  if (n > 4 * SHOAL_INPUT_MAX_BYTES / 3)
    return SHOAL_ELIMIT;
  char *tmp = malloc(n + 4);
  if (!tmp)
    return SHOAL_ENOMEM;
  memcpy(tmp, in, n);
  if (url) {
    /* RFC 4648 section 5 leaves the padding optional: accept it when it
     * is whole ("...=" / "...==" on a multiple of 4), as Python's
     * base64.urlsafe_b64encode writes it. */
    size_t pad = 0;
    while (pad < 2 && pad < n && tmp[n - 1 - pad] == '=')
      pad++;
    if (pad && n % 4 == 0)
      n -= pad;
    for (size_t i = 0; i < n; i++) {
      if (tmp[i] == '+' || tmp[i] == '/' || tmp[i] == '=') {
        free(tmp);
        return SHOAL_EINPUT;
      }
      tmp[i] = tmp[i] == '-' ? '+' : tmp[i] == '_' ? '/' : tmp[i];
    }
    while (n % 4)
      tmp[n++] = '=';
  }
  size_t got = 0;
  int m = mbedtls_base64_decode(out, cap, &got, (const unsigned char *)tmp, n);
  free(tmp);
  if (m != 0)
    return m == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL ? SHOAL_ELIMIT : SHOAL_EINPUT;
  *out_len = got;
  return SHOAL_OK;
}

void shoal_secure_free(char *secret) {
  if (!secret)
    return;
  mbedtls_platform_zeroize(secret, strlen(secret));
  free(secret);
}
