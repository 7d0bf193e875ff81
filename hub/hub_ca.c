/* hub_ca.c - the device CA over mbedTLS 2.28's x509 writer.
 * Every certificate is v3, ECDSA-SHA256 over P-256 keys, with a random
 * positive 127-bit serial, subject/authority key identifiers, key usage and
 * extended key usage (clientAuth for devices and the hub, serverAuth for the
 * broker). Each issued certificate is verified against the CA before it is
 * handed out, so a CA whose name cannot be copied exactly fails loudly. */
#include "hub_ca.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "shoal/crypto.h"
#include "shoal/rng.h"
#include "shoal/util.h"

#define CA_SUBJECT "CN=Shoal Device CA,O=Shoal"

struct hub_ca {
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
  char subject[256]; /* the CA's subject, as mbedtls writes names */
  char *pem;         /* the CA certificate file's text */
};

static shoal_err mbed_fail(shoal_diag *diag, const char *what, int mrc) {
  return shoal_fail(diag, SHOAL_ECRYPTO, "%s (mbedtls -0x%04x)", what, (unsigned)-mrc);
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static shoal_err gen_key(mbedtls_pk_context *pk, struct shoal_rng *r, shoal_diag *diag) {
  int m;
  if ((m = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
      (m = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
                               mbedtls_ctr_drbg_random, &r->drbg)) != 0)
    return mbed_fail(diag, "cannot generate a P-256 key", m);
  return SHOAL_OK;
}

/* "YYYYMMDDhhmmss" for now + offset seconds, UTC. */
static void x509_time(time_t offset_s, char out[16]) {
  time_t t = time(NULL) + offset_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* Random positive serial (16 bytes, top bit clear), also as hex. */
static shoal_err make_serial(mbedtls_mpi *serial, struct shoal_rng *r,
                             char hex[HUB_CA_SERIAL_HEX_MAX], shoal_diag *diag) {
  unsigned char b[16];
  int m = mbedtls_ctr_drbg_random(&r->drbg, b, sizeof b);
  if (m != 0)
    return mbed_fail(diag, "cannot draw a serial number", m);
  b[0] &= 0x7f;
  b[0] |= 0x01; /* never a leading zero byte: the DER length stays fixed */
  if ((m = mbedtls_mpi_read_binary(serial, b, sizeof b)) != 0)
    return mbed_fail(diag, "serial number", m);
  shoal_hex_encode(b, sizeof b, hex);
  return SHOAL_OK;
}

/* Appends (backwards, mbedtls asn1write style) one element; fails on overflow. */
#define ASN1_CHK(expr)                                                                             \
  do {                                                                                             \
    int r_ = (expr);                                                                               \
    if (r_ < 0)                                                                                    \
      return r_;                                                                                   \
    len += (size_t)r_;                                                                             \
  } while (0)

static int write_eku(mbedtls_x509write_cert *crt, bool server) {
  unsigned char buf[64];
  unsigned char *p = buf + sizeof buf;
  size_t len = 0;
  if (server)
    ASN1_CHK(mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                    MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
  else
    ASN1_CHK(mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
                                    MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
  ASN1_CHK(mbedtls_asn1_write_len(&p, buf, len));
  ASN1_CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  return mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p,
                                             len);
}

/* subjectAltName: iPAddress [7] for IP literals, dNSName [2] otherwise. */
static int write_san(mbedtls_x509write_cert *crt, const char *const *sans, size_t nsans) {
  unsigned char buf[HUB_CA_SAN_MAX * 300];
  unsigned char *p = buf + sizeof buf;
  size_t len = 0;
  for (size_t i = nsans; i-- > 0;) {
    unsigned char addr[16];
    size_t n;
    if (inet_pton(AF_INET, sans[i], addr) == 1) {
      n = 4;
    } else if (inet_pton(AF_INET6, sans[i], addr) == 1) {
      n = 16;
    } else {
      n = 0;
    }
    if (n) {
      ASN1_CHK(mbedtls_asn1_write_raw_buffer(&p, buf, addr, n));
      ASN1_CHK(mbedtls_asn1_write_len(&p, buf, n));
      ASN1_CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7));
    } else {
      size_t sl = strlen(sans[i]);
      ASN1_CHK(mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)sans[i], sl));
      ASN1_CHK(mbedtls_asn1_write_len(&p, buf, sl));
      ASN1_CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
    }
  }
  ASN1_CHK(mbedtls_asn1_write_len(&p, buf, len));
  ASN1_CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  return mbedtls_x509write_crt_set_extension(
      crt, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p, len);
}

/* A host name or IP literal we are willing to put in a subject name: the
 * mbedtls name parser gives ',', '=' and '\' meaning, so they are refused. */
static bool host_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '-' || *p == ':'))
      return false;
  return true;
}

/* Builds and signs one certificate. issuer_key == subject_key for the CA. */
static shoal_err write_cert(const char *subject, const char *issuer,
                            mbedtls_pk_context *subject_key, mbedtls_pk_context *issuer_key,
                            enum hub_cert_kind kind, bool is_ca, const char *const *sans,
                            size_t nsans, int days, struct shoal_rng *r, char **pem_out,
                            char serial_hex[HUB_CA_SERIAL_HEX_MAX], shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  mbedtls_x509write_cert crt;
  mbedtls_mpi serial;
  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi_init(&serial);
  char *pem = calloc(1, HUB_CA_PEM_MAX);
  char nb[16], na[16];
  int m = 0;
  if (!pem) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = make_serial(&serial, r, serial_hex, diag)) != SHOAL_OK)
    goto cleanup;
  x509_time(-3600, nb); /* an hour of slack for devices whose clocks run behind */
  x509_time((time_t)days * 86400, na);
  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, subject_key);
  mbedtls_x509write_crt_set_issuer_key(&crt, issuer_key);
  const char *step = "certificate fields";
  if ((m = mbedtls_x509write_crt_set_serial(&crt, &serial)) != 0 ||
      (m = mbedtls_x509write_crt_set_validity(&crt, nb, na)) != 0 ||
      (m = mbedtls_x509write_crt_set_subject_name(&crt, subject)) != 0 ||
      (m = mbedtls_x509write_crt_set_issuer_name(&crt, issuer)) != 0 ||
      (m = mbedtls_x509write_crt_set_basic_constraints(&crt, is_ca ? 1 : 0, is_ca ? 0 : -1)) != 0 ||
      (m = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0 ||
      (m = mbedtls_x509write_crt_set_authority_key_identifier(&crt)) != 0)
    goto mfail;
  if (is_ca) {
    if ((m = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                           MBEDTLS_X509_KU_CRL_SIGN)) != 0)
      goto mfail;
  } else {
    step = "key usage";
    if ((m = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) != 0 ||
        (m = write_eku(&crt, kind == HUB_CERT_SERVER)) != 0)
      goto mfail;
    if (nsans > 0 && (step = "subjectAltName", m = write_san(&crt, sans, nsans)) != 0)
      goto mfail;
  }
  step = "signing the certificate";
  if ((m = mbedtls_x509write_crt_pem(&crt, (unsigned char *)pem, HUB_CA_PEM_MAX,
                                     mbedtls_ctr_drbg_random, &r->drbg)) != 0)
    goto mfail;
  *pem_out = pem;
  pem = NULL;
  goto cleanup;
mfail:
  rc = mbed_fail(diag, step, m);
cleanup:
  free(pem);
  mbedtls_mpi_free(&serial);
  mbedtls_x509write_crt_free(&crt);
  return rc;
}

static shoal_err write_key_pem(mbedtls_pk_context *pk, char **out, shoal_diag *diag) {
  char *pem = calloc(1, HUB_CA_PEM_MAX);
  if (!pem)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  int m = mbedtls_pk_write_key_pem(pk, (unsigned char *)pem, HUB_CA_PEM_MAX);
  if (m != 0) {
    mbedtls_platform_zeroize(pem, HUB_CA_PEM_MAX);
    free(pem);
    return mbed_fail(diag, "cannot encode the private key", m);
  }
  *out = pem;
  return SHOAL_OK;
}

static shoal_err ca_create(const char *cert_path, const char *key_path, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct shoal_rng r;
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  char *cert = NULL, *key = NULL, serial[HUB_CA_SERIAL_HEX_MAX];
  if ((rc = shoal_rng_init(&r, "shoal-hub-ca", diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = gen_key(&pk, &r, diag)) != SHOAL_OK ||
      (rc = write_cert(CA_SUBJECT, CA_SUBJECT, &pk, &pk, HUB_CERT_DEVICE, true, NULL, 0,
                       HUB_CA_CA_DAYS, &r, &cert, serial, diag)) != SHOAL_OK ||
      (rc = write_key_pem(&pk, &key, diag)) != SHOAL_OK)
    goto cleanup;
  /* Key first: a crash between the two leaves "key without cert", which
   * hub_ca_open refuses rather than minting a second, different CA. */
  if ((rc = shoal_file_write_atomic(key_path, key, strlen(key), 0600, diag)) != SHOAL_OK ||
      (rc = shoal_file_write_atomic(cert_path, cert, strlen(cert), 0644, diag)) != SHOAL_OK)
    goto cleanup;
cleanup:
  free(cert);
  shoal_secure_free(key);
  mbedtls_pk_free(&pk);
  shoal_rng_free(&r);
  return rc;
}

shoal_err hub_ca_open(const char *cert_path, const char *key_path, struct hub_ca **out,
                      bool *created, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  bool have_cert = file_exists(cert_path), have_key = file_exists(key_path);
  *created = false;
  if (have_cert != have_key)
    return shoal_fail(diag, SHOAL_ECONFIG,
                      "device CA: %s exists but %s does not; restore the missing file (a new CA "
                      "would orphan every device certificate)",
                      have_cert ? cert_path : key_path, have_cert ? key_path : cert_path);
  if (!have_cert) {
    if ((rc = ca_create(cert_path, key_path, diag)) != SHOAL_OK)
      return rc;
    *created = true;
  }
  struct hub_ca *ca = calloc(1, sizeof *ca);
  if (!ca)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  mbedtls_x509_crt_init(&ca->crt);
  mbedtls_pk_init(&ca->key);
  size_t len = 0;
  int m;
  if ((rc = shoal_file_read(cert_path, 65536, &ca->pem, &len, diag)) != SHOAL_OK)
    goto fail;
  if ((m = mbedtls_x509_crt_parse(&ca->crt, (const unsigned char *)ca->pem, len + 1)) != 0) {
    rc = mbed_fail(diag, cert_path, m);
    goto fail;
  }
  if ((m = mbedtls_pk_parse_keyfile(&ca->key, key_path, NULL)) != 0) {
    rc = mbed_fail(diag, key_path, m);
    goto fail;
  }
  if (!ca->crt.ca_istrue || mbedtls_pk_get_type(&ca->key) != MBEDTLS_PK_ECKEY ||
      mbedtls_pk_ec(ca->key)->grp.id != MBEDTLS_ECP_DP_SECP256R1 ||
      mbedtls_pk_check_pair(&ca->crt.pk, &ca->key) != 0) {
    rc = shoal_fail(diag, SHOAL_ECONFIG,
                    "device CA: %s must be a CA certificate for the P-256 key in %s", cert_path,
                    key_path);
    goto fail;
  }
  if (mbedtls_x509_dn_gets(ca->subject, sizeof ca->subject, &ca->crt.subject) < 0) {
    rc = shoal_fail(diag, SHOAL_ECONFIG, "device CA: cannot read the subject of %s", cert_path);
    goto fail;
  }
  *out = ca;
  return SHOAL_OK;
fail:
  hub_ca_free(ca);
  return rc;
}

void hub_ca_free(struct hub_ca *ca) {
  if (!ca)
    return;
  mbedtls_x509_crt_free(&ca->crt);
  mbedtls_pk_free(&ca->key);
  free(ca->pem);
  free(ca);
}

const char *hub_ca_cert_pem(const struct hub_ca *ca) {
  return ca->pem;
}

shoal_err hub_ca_issue(struct hub_ca *ca, enum hub_cert_kind kind, const char *cn,
                       const char *const *sans, size_t nsans, int days, char **cert_pem,
                       char **key_pem, char serial_hex[HUB_CA_SERIAL_HEX_MAX], shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct shoal_rng r;
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  char *cert = NULL, *key = NULL;
  char subject[320];
  switch (kind) {
  case HUB_CERT_DEVICE:
    /* The CN becomes the broker username the ACL is keyed on (SPEC 3). */
    if (!cn || !shoal_id_valid(cn))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "device id \"%s\" is not a valid identifier "
                        "(^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$); no certificate issued",
                        cn ? cn : "");
    break;
  case HUB_CERT_HUB:
    cn = HUB_CA_HUB_IDENTITY;
    nsans = 0;
    break;
  case HUB_CERT_TOOLS:
    cn = HUB_CA_TOOLS_IDENTITY;
    nsans = 0;
    break;
  case HUB_CERT_SERVER:
    if (!cn || !host_ok(cn))
      return shoal_fail(diag, SHOAL_EINPUT, "broker host \"%s\" is not a host name or IP address",
                        cn ? cn : "");
    if (nsans > HUB_CA_SAN_MAX)
      return shoal_fail(diag, SHOAL_ELIMIT, "more than %d subjectAltNames", HUB_CA_SAN_MAX);
    for (size_t i = 0; i < nsans; i++)
      if (!host_ok(sans[i]))
        return shoal_fail(diag, SHOAL_EINPUT, "subjectAltName \"%s\" is not a host or IP", sans[i]);
    break;
  }
  if (kind != HUB_CERT_SERVER)
    nsans = 0;
  if (days < 1 || days > 36500)
    return shoal_fail(diag, SHOAL_EINPUT, "certificate lifetime must be 1..36500 days");
  snprintf(subject, sizeof subject, "CN=%s,O=Shoal", cn);
  if ((rc = shoal_rng_init(&r, "shoal-hub-ca", diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = gen_key(&pk, &r, diag)) != SHOAL_OK ||
      (rc = write_cert(subject, ca->subject, &pk, &ca->key, kind, false, sans, nsans, days, &r,
                       &cert, serial_hex, diag)) != SHOAL_OK ||
      (rc = write_key_pem(&pk, &key, diag)) != SHOAL_OK)
    goto cleanup;
  /* Self-check: a certificate that does not chain (e.g. an issuer name
   * not copied exactly) must never reach a device. */
  if ((rc = hub_ca_verify(ca, cert, cn, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "issued certificate failed its self-check");
    rc = SHOAL_ECRYPTO;
    goto cleanup;
  }
  *cert_pem = cert;
  *key_pem = key;
  cert = key = NULL;
cleanup:
  free(cert);
  shoal_secure_free(key);
  mbedtls_pk_free(&pk);
  shoal_rng_free(&r);
  return rc;
}

shoal_err hub_ca_verify(const struct hub_ca *ca, const char *cert_pem, const char *expect_cn,
                        shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  uint32_t flags = 0;
  int m = mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1);
  if (m != 0) {
    rc = shoal_fail(diag, SHOAL_ESIG, "not a PEM certificate (mbedtls -0x%04x)", (unsigned)-m);
    goto cleanup;
  }
  m = mbedtls_x509_crt_verify(&crt, (mbedtls_x509_crt *)&ca->crt, NULL, NULL, &flags, NULL, NULL);
  if (m != 0) {
    char why[256];
    mbedtls_x509_crt_verify_info(why, sizeof why, "", flags);
    why[strcspn(why, "\n")] = '\0';
    rc = shoal_fail(diag, SHOAL_ESIG, "certificate does not chain to the device CA: %s", why);
    goto cleanup;
  }
  const mbedtls_x509_name *n = &crt.subject;
  bool cn_ok = false;
  for (; n; n = n->next)
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
      cn_ok = n->val.len == strlen(expect_cn) && memcmp(n->val.p, expect_cn, n->val.len) == 0;
  if (!cn_ok)
    rc = shoal_fail(diag, SHOAL_ESIG, "certificate CN is not \"%s\"", expect_cn);
cleanup:
  mbedtls_x509_crt_free(&crt);
  return rc;
}

shoal_err hub_ca_pubkey_pem_from_key(const char *priv_path, char **out, shoal_diag *diag) {
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  shoal_err rc = SHOAL_OK;
  char *pem = NULL;
  int m = mbedtls_pk_parse_keyfile(&pk, priv_path, NULL);
  if (m != 0) {
    rc = shoal_fail(diag, m == MBEDTLS_ERR_PK_FILE_IO_ERROR ? SHOAL_EIO : SHOAL_ECRYPTO,
                    "%s: cannot read the signing key (mbedtls -0x%04x)", priv_path, (unsigned)-m);
    goto cleanup;
  }
  pem = calloc(1, HUB_CA_PEM_MAX);
  if (!pem) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((m = mbedtls_pk_write_pubkey_pem(&pk, (unsigned char *)pem, HUB_CA_PEM_MAX)) != 0) {
    rc = mbed_fail(diag, "cannot encode the public key", m);
    goto cleanup;
  }
  *out = pem;
  pem = NULL;
cleanup:
  free(pem);
  mbedtls_pk_free(&pk);
  return rc;
}
