/* config.h - agent and hub configuration (SPEC section 3), table-driven.
 * Each option is declared once (name, type, bounds, default) in config.c;
 * unknown keys and missing required keys are errors naming the key, and
 * relative paths resolve against the config file's folder. */
#ifndef SHOAL_CONFIG_H
#define SHOAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "shoal/err.h"
#include "shoal/shoal_limits.h"

struct shoal_mqtt_config {
  char *host;          /* default 127.0.0.1 */
  int port;            /* default 1883 */
  char *username;      /* optional */
  char *password_file; /* optional, path */
  char *tls_ca;        /* optional, paths: TLS is on when ca is set */
  char *tls_cert;
  char *tls_key;
};

enum shoal_webhook_event {
  SHOAL_WEBHOOK_SALE = 1u << 0,
  SHOAL_WEBHOOK_TICKET = 1u << 1,
  SHOAL_WEBHOOK_ESCALATION = 1u << 2,
  SHOAL_WEBHOOK_RETURN = 1u << 3,
};

struct shoal_webhook_config {
  char *url;
  unsigned events; /* mask of enum shoal_webhook_event */
  char *secret_file;
};

/* A hub HTTP user (SPEC 14); role: 0 viewer, 1 operator, 2 admin. */
struct shoal_user_config {
  char *name;
  char *token_file;
  int role;
};

struct shoal_agent_config {
  char *path; /* the file it came from */
  char *device, *store, *region;
  char *profile; /* path to a firmware profile */
  char *db;      /* SQLite path */
  struct shoal_mqtt_config mqtt;
  char *trust_policy_pub;         /* path; needed to verify policies and codes */
  char *trust_policy_pub_next;    /* optional second trusted key (rotation) */
  char *topic_prefix;             /* default shoal/v1 */
  char *serves[SHOAL_SERVES_MAX]; /* stores whose tickets and codes this device handles
                                     (SPEC 15; default: its store) */
  size_t nserves;
  char *hub_url;              /* hub HTTP base URL for photo uploads (http:// or https://) */
  char *local_api_listen;     /* optional override of the profile's local_api.listen */
  char *local_api_token_file; /* optional: bearer token for the store API (SPEC 11) */
};

/* True if the agent serves store (its "serves" list). */
bool shoal_agent_config_serves(const struct shoal_agent_config *cfg, const char *store);

struct shoal_hub_config {
  char *path;
  char *db;
  struct shoal_mqtt_config mqtt;
  char *signing_key; /* path to the ECDSA P-256 private key (PEM) */
  char *http_listen; /* host:port, optional */
  char *http_token_file;
  char *topic_prefix;
  char *device_ca_cert; /* optional: device CA for provisioning */
  char *device_ca_key;
  char *media_dir; /* photos (SPEC 15); default: "media" beside the config file */
  struct shoal_webhook_config webhooks[SHOAL_WEBHOOKS_MAX];
  size_t webhook_count;
  char *orders_secret_file; /* optional: HMAC key for POST /api/v1/orders (SPEC 13) */
  int orders_batch_max;     /* orders committed together at most (group commit); 1 = one each */
  struct shoal_user_config users[SHOAL_USERS_MAX]; /* "users" (SPEC 14) */
  size_t user_count;
  bool ingest_shared; /* "ingest": {"shared": {...}} given (SPEC 16) */
  char *ingest_group; /* its "group": MQTT shared subscription group */
};

/* Loads and validates an agent config file. On success fills *out (release
 * with shoal_agent_config_cleanup). On failure *out is left clean. */
shoal_err shoal_agent_config_load(const char *path, struct shoal_agent_config *out,
                                  shoal_diag *diag);
void shoal_agent_config_cleanup(struct shoal_agent_config *cfg);

/* Loads and validates a hub config file; release with shoal_hub_config_cleanup. */
shoal_err shoal_hub_config_load(const char *path, struct shoal_hub_config *out, shoal_diag *diag);
void shoal_hub_config_cleanup(struct shoal_hub_config *cfg);

#endif
