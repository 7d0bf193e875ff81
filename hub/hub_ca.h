/* hub_ca.h - the hub's device CA (mbedTLS x509 writer, ECDSA P-256): one
 * self-signed CA that issues the broker's server certificate, the hub's own
 * client certificate and one client certificate per device with CN = the
 * device id. The broker maps a client's CN to its MQTT username, so a CN is
 * an identity: device CNs are validated identifiers, and the hub's CN
 * (HUB_CA_HUB_IDENTITY) contains a character no identifier may hold, so no
 * device can ever be issued the hub's name. */
#ifndef HUB_CA_H
#define HUB_CA_H

#include <stdbool.h>
#include <stddef.h>

#include "shoal/err.h"

/* The hub's MQTT identity (CN of its client certificate). '@' is outside the
 * identifier alphabet of SPEC 3, so it cannot collide with a device id. */
#define HUB_CA_HUB_IDENTITY "hub@shoal"
/* The identity of the hub's short-lived command-line tools (publish,
 * trust). The broker binds every client id to its CN
 * (use_username_as_clientid), so the tools need their own CN: with the
 * daemon's they would close `shoal-hub run`'s session. */
#define HUB_CA_TOOLS_IDENTITY "hub-tools@shoal"
#define HUB_CA_SAN_MAX        8    /* subjectAltName entries of a server certificate */
#define HUB_CA_PEM_MAX        4096 /* one PEM certificate or key we write */
#define HUB_CA_DEVICE_DAYS    1825 /* default lifetime of a device/hub/server certificate */
#define HUB_CA_CA_DAYS        7300 /* lifetime of the device CA */
#define HUB_CA_SERIAL_HEX_MAX 33   /* a certificate serial: 16 random bytes in hex, NUL included */

enum hub_cert_kind {
  HUB_CERT_DEVICE, /* client cert, CN = a device id (validated) */
  HUB_CERT_HUB,    /* client cert, CN = HUB_CA_HUB_IDENTITY */
  HUB_CERT_SERVER, /* broker server cert, CN = host, SANs = names / IPs */
  HUB_CERT_TOOLS,  /* client cert, CN = HUB_CA_TOOLS_IDENTITY */
};

struct hub_ca; /* opaque: the CA certificate and private key */

/* Makes sure a CA exists at cert_path/key_path: if neither file exists, a
 * new P-256 key and self-signed CA certificate are written (key 0600) and
 * *created is set; if both exist they are loaded and checked (a CA, P-256,
 * the key matches the certificate). Exactly one of the two existing is an
 * error (SHOAL_ECONFIG), never silently overwritten. */
shoal_err hub_ca_open(const char *cert_path, const char *key_path, struct hub_ca **out,
                      bool *created, shoal_diag *diag);

/* Frees the CA (the private key is wiped); NULL is a no-op. */
void hub_ca_free(struct hub_ca *ca);

/* The CA certificate as PEM (borrowed; valid while ca lives). */
const char *hub_ca_cert_pem(const struct hub_ca *ca);

/* Issues a certificate of the given kind for a fresh P-256 key.
 * HUB_CERT_DEVICE: cn must pass shoal_id_valid (else SHOAL_EINPUT).
 * HUB_CERT_HUB: cn is ignored (HUB_CA_HUB_IDENTITY is used).
 * HUB_CERT_SERVER: cn is the host; sans (IPv4/IPv6 literals or DNS names,
 * at most HUB_CA_SAN_MAX) go into subjectAltName.
 * On success *cert_pem and *key_pem are heap strings (caller frees; the key
 * with shoal_secure_free) and serial_hex (33 bytes) holds the serial. */
shoal_err hub_ca_issue(struct hub_ca *ca, enum hub_cert_kind kind, const char *cn,
                       const char *const *sans, size_t nsans, int days, char **cert_pem,
                       char **key_pem, char serial_hex[HUB_CA_SERIAL_HEX_MAX], shoal_diag *diag);

/* Checks that cert_pem chains to the CA and carries CN == expect_cn
 * (SHOAL_ESIG otherwise). For tests and for `provision` self-checks. */
shoal_err hub_ca_verify(const struct hub_ca *ca, const char *cert_pem, const char *expect_cn,
                        shoal_diag *diag);

/* The public half of the PEM private key at priv_path, as PEM (heap, caller
 * frees): the trust.policy_pub an agent needs for the hub's signing key. */
shoal_err hub_ca_pubkey_pem_from_key(const char *priv_path, char **out, shoal_diag *diag);

#endif
