/* hub_publish.h - publishing a policy document (SPEC 2, 4.3), shared by
 * `shoal-hub publish` and POST /api/v1/policies: one validation
 * (shoal_policy_validate), version = the scope's last + 1 assigned in the
 * same transaction as the record, signature over the envelope, retained
 * QoS 1 publish on the scope's topic.
 *
 * A version is recorded BEFORE it reaches the broker and never reused: if
 * the broker does not confirm, the row stays and `shoal-hub run` publishes
 * it (run also republishes the newest version of every scope at each
 * connect, since a broker without persistence forgets retained messages). */
#ifndef HUB_PUBLISH_H
#define HUB_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/config.h"
#include "shoal/err.h"
#include "shoal/log.h"
#include "shoal/policy.h"
#include "shoal/shoal_limits.h"
#include "shoal/signing.h"

#define HUB_PUBLISH_TIMEOUT_MS 10000 /* broker connect + PUBACK, at most */

struct hub_published {
  char scope[SHOAL_SCOPE_MAX];
  int64_t version;
  char topic[SHOAL_TOPIC_MAX];
  char *envelope; /* heap: the signed envelope text */
  /* SPEC 14 notes for the result: scheduled versions this one makes
   * unreachable, and validation warnings ([{"code", "message"}]). Both
   * are arrays (maybe empty) after a successful record. */
  cJSON *unreachable;
  cJSON *warnings;
};

/* Who and what published a version (SPEC 14). */
struct hub_publish_meta {
  const char *published_by;                   /* a user name; NULL: "cli" */
  const char *rollout_id;                     /* the rollout publishing it, or NULL */
  const struct shoal_policy_rollout *rollout; /* stage targeting, or NULL: a plain version */
  bool in_txn;                                /* the caller holds a write transaction on db */
};

/* Adds "unreachable" (when not empty) and "warnings" (when not empty) of p
 * to the result object obj; false on out of memory. */
bool hub_published_notes(const struct hub_published *p, cJSON *obj);

/* The {"scope", "version", "unreachable"?, "warnings"?} result object of a
 * publish (NULL on out of memory). */
cJSON *hub_published_json(const struct hub_published *p);

/* Frees out->envelope and the notes. */
void hub_published_cleanup(struct hub_published *p);

/* The policy topic of a scope ("global", "region/R", "store/S") under prefix. */
shoal_err hub_publish_topic(const char *prefix, const char *scope, char *buf, size_t bufsz,
                            shoal_diag *diag);

/* Validates doc (len bytes) with shoal_policy_validate (SHOAL_EJSON/EINPUT/
 * ELIMIT naming the problem: exit 3) and the optional ISO-8601 effective_at
 * / expires_at (NULL: none; SHOAL_EINPUT when malformed or expires_at is not
 * after effective_at). No side effects. Copies the scope into scope_out. */
shoal_err hub_publish_check(const char *doc, size_t len, const char *effective_at,
                            const char *expires_at, char *scope_out, shoal_diag *diag);

/* Checks doc as above, then in one transaction on db assigns the scope's
 * next version, signs the envelope with cfg->signing_key (issued_at = now,
 * UTC) and records it in table policies. Nothing is sent: a running hub
 * publishes it within a fraction of a second. On success fills *out
 * (release with hub_published_cleanup). db is the caller's handle. */
shoal_err hub_publish_record(hub_store *db, const struct shoal_hub_config *cfg, const char *doc,
                             size_t len, const char *effective_at, const char *expires_at,
                             struct hub_published *out, shoal_diag *diag);

/* hub_publish_record with SPEC 14 metadata (published_by, rollout). With
 * meta->in_txn the caller's transaction is used (nothing committed here). */
shoal_err hub_publish_record_ex(hub_store *db, const struct shoal_hub_config *cfg, const char *doc,
                                size_t len, const char *effective_at, const char *expires_at,
                                const struct hub_publish_meta *meta, struct hub_published *out,
                                shoal_diag *diag);

/* The whole `shoal-hub publish`: check, connect to the broker of cfg (a
 * short session of its own, SHOAL_EMQTT if unreachable: nothing recorded),
 * record, publish retained QoS 1 and wait for the broker's PUBACK (at most
 * timeout_ms; SHOAL_ETIMEOUT/SHOAL_EMQTT then, the version stays recorded
 * for `run` to publish). log may be NULL. */
/* File names, in the folder of the hub's client certificate, of the tools'
 * own identity (CN HUB_CA_TOOLS_IDENTITY) written by `broker-config`. */
#define HUB_TOOLS_CERT_FILE "hub-tools.crt"
#define HUB_TOOLS_KEY_FILE  "hub-tools.key"

/* The MQTT settings a hub command-line tool connects with: in's, except
 * that when hub-tools.crt and hub-tools.key exist beside in->tls_cert they
 * replace the daemon's certificate, so a tool never takes `shoal-hub run`'s
 * client id (the broker binds ids to CNs). *paths (caller frees both with
 * free()) holds the replaced strings; out borrows from in and *paths. */
void hub_publish_tools_mqtt(const struct shoal_mqtt_config *in, struct shoal_mqtt_config *out,
                            char *paths[2]);

shoal_err hub_publish_policy(hub_store *db, const struct shoal_hub_config *cfg, const char *doc,
                             size_t len, const char *effective_at, const char *expires_at,
                             int timeout_ms, const struct shoal_logger *log,
                             struct hub_published *out, shoal_diag *diag);

/* The document of scope in effect at now_ms: the highest published version
 * whose effective_at has come (parsed as publish accepted it, so every
 * ISO-8601 form publish takes is understood). *out is a new tree (caller
 * deletes), or NULL when the scope has no version in effect. */
shoal_err hub_policy_in_effect(hub_store *db, const char *scope, int64_t now_ms, cJSON **out,
                               shoal_diag *diag);

#endif
