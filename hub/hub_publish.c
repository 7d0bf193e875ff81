/* hub_publish.c - validate, version, sign, record, publish. The version is
 * read and the row inserted under one BEGIN IMMEDIATE, so two publishers
 * (CLI and HTTP API) can never hand out the same version of a scope. */
#include "hub_publish.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/mqtt.h"
#include "shoal/signing.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "store.h"

void hub_published_cleanup(struct hub_published *p) {
  if (!p)
    return;
  free(p->envelope);
  p->envelope = NULL;
  cJSON_Delete(p->unreachable);
  cJSON_Delete(p->warnings);
  p->unreachable = p->warnings = NULL;
}

bool hub_published_notes(const struct hub_published *p, cJSON *obj) {
  return (cJSON_GetArraySize(p->unreachable) == 0 ||
          shoal_json_put(obj, "unreachable", cJSON_Duplicate(p->unreachable, true))) &&
         (cJSON_GetArraySize(p->warnings) == 0 ||
          shoal_json_put(obj, "warnings", cJSON_Duplicate(p->warnings, true)));
}

cJSON *hub_published_json(const struct hub_published *p) {
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "scope", p->scope) ||
      !cJSON_AddNumberToObject(o, "version", (double)p->version) || !hub_published_notes(p, o)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* Scheduled versions of scope (effective_at still to come at now_ms) that
 * the new version, effective at eff_ms, overtakes: at any time such a
 * version would be in effect, the new one is too and is higher (SPEC 14
 * timeline), so it never takes effect. */
static shoal_err find_unreachable(hub_store *db, const char *scope, int64_t version, int64_t eff_ms,
                                  int64_t now_ms, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db,
      "SELECT version FROM policies WHERE scope = ?1 AND version < ?2 AND effective_at IS NOT "
      "NULL AND shoal_time_ms(effective_at) > ?3 AND shoal_time_ms(effective_at) >= ?4 "
      "ORDER BY version",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, version);
  hub_store_bind_int64(st, 3, now_ms);
  hub_store_bind_int64(st, 4, eff_ms);
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr != NULL;
  int s = HUB_STORE_DONE;
  while (ok && (s = hub_store_step(st)) == HUB_STORE_ROW)
    ok = shoal_json_push(arr, cJSON_CreateNumber((double)hub_store_column_int64(st, 0)));
  hub_store_finalize(st);
  if (!ok || s != HUB_STORE_DONE) {
    cJSON_Delete(arr);
    return ok ? hub_store_fail(db, s, "find unreachable versions", diag)
              : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = arr;
  return SHOAL_OK;
}

/* Appends one warning to arr; false on OOM. */
static bool warn(cJSON *arr, const char *code, const char *fmt, const char *a, const char *b) {
  char msg[400];
  snprintf(msg, sizeof msg, fmt, a, b ? b : "");
  cJSON *w = cJSON_CreateObject();
  return shoal_json_push(arr, w) && cJSON_AddStringToObject(w, "code", code) &&
         cJSON_AddStringToObject(w, "message", msg);
}

/* Adds every SKU given a price in doc's items to set (an object used as a
 * set); false on OOM. */
static bool priced_skus(const cJSON *doc, cJSON *set) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "items")) {
    const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
    if (cJSON_IsString(sku) && cJSON_GetObjectItemCaseSensitive(it, "price") &&
        !cJSON_GetObjectItemCaseSensitive(set, sku->valuestring) &&
        !cJSON_AddTrueToObject(set, sku->valuestring))
      return false;
  }
  return true;
}

/* SPEC 14 publish warnings (never errors): a rule targeting a SKU that no
 * scope prices (this document or the newest version of any other scope),
 * and a region/store scope that no device has ever reported. */
static shoal_err publish_warnings(hub_store *db, const char *scope, const char *doc_text,
                                  cJSON **out, shoal_diag *diag) {
  cJSON *doc = NULL, *set = cJSON_CreateObject(), *arr = cJSON_CreateArray();
  hub_stmt *st = NULL;
  shoal_err rc = shoal_json_parse(doc_text, strlen(doc_text), &doc, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  bool ok = set && arr && priced_skus(doc, set);
  if ((rc = hub_store_prepare(db,
                              "SELECT p.doc FROM policies p WHERE p.scope <> ?1 AND p.version = "
                              "(SELECT MAX(version) FROM policies q WHERE q.scope = p.scope)",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  int s = HUB_STORE_DONE;
  while (ok && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *other = NULL;
    shoal_diag ignored;
    shoal_err prc = shoal_json_parse((const char *)hub_store_column_text(st, 0),
                                     (size_t)hub_store_column_bytes(st, 0), &other, &ignored);
    ok = prc == SHOAL_OK ? priced_skus(other, set) : prc != SHOAL_ENOMEM;
    cJSON_Delete(other);
  }
  hub_store_finalize(st);
  st = NULL;
  if (ok && s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "read policies", diag);
    goto cleanup;
  }
  const cJSON *rule;
  cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(doc, "rules")) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rule, "id");
    const char *rid = cJSON_IsString(id) ? id->valuestring : "?";
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(rule, "target"), *sku;
    cJSON_ArrayForEach(sku, cJSON_GetObjectItemCaseSensitive(target, "skus")) {
      if (cJSON_IsString(sku) && !cJSON_GetObjectItemCaseSensitive(set, sku->valuestring))
        ok = ok && warn(arr, "unpriced_sku", "rule %s targets SKU %s, which no scope prices", rid,
                        sku->valuestring);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(rule, "items")) {
      sku = cJSON_GetObjectItemCaseSensitive(item, "sku");
      if (cJSON_IsString(sku) && !cJSON_GetObjectItemCaseSensitive(set, sku->valuestring))
        ok = ok && warn(arr, "unpriced_sku", "rule %s targets SKU %s, which no scope prices", rid,
                        sku->valuestring);
    }
  }
  enum shoal_scope_kind kind;
  const char *sid = NULL;
  if (shoal_scope_parse(scope, &kind, &sid, diag) == SHOAL_OK && kind != SHOAL_SCOPE_GLOBAL) {
    int64_t n = 0;
    if ((rc = hub_store_prepare(db,
                                kind == SHOAL_SCOPE_REGION
                                    ? "SELECT COUNT(*) FROM devices WHERE region = ?"
                                    : "SELECT COUNT(*) FROM devices WHERE store = ?",
                                &st, diag)) != SHOAL_OK)
      goto cleanup;
    hub_store_bind_text(st, 1, sid, -1, HUB_STORE_STATIC);
    if (hub_store_step(st) == HUB_STORE_ROW)
      n = hub_store_column_int64(st, 0);
    if (n == 0)
      ok = ok && warn(arr, "unknown_scope", "no device has ever reported %s %s",
                      shoal_scope_kind_name(kind), sid);
  }
  if (!ok) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *out = arr;
  arr = NULL;
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(doc);
  cJSON_Delete(set);
  cJSON_Delete(arr);
  return rc;
}

shoal_err hub_publish_topic(const char *prefix, const char *scope, char *buf, size_t bufsz,
                            shoal_diag *diag) {
  enum shoal_scope_kind kind;
  const char *id = NULL;
  shoal_err rc = shoal_scope_parse(scope, &kind, &id, diag);
  if (rc != SHOAL_OK)
    return rc;
  enum shoal_topic k = kind == SHOAL_SCOPE_GLOBAL   ? SHOAL_TOPIC_POLICY_GLOBAL
                       : kind == SHOAL_SCOPE_REGION ? SHOAL_TOPIC_POLICY_REGION
                                                    : SHOAL_TOPIC_POLICY_STORE;
  rc = shoal_topic_format(buf, bufsz, prefix ? prefix : "shoal/v1", k,
                          kind == SHOAL_SCOPE_GLOBAL ? NULL : id, NULL);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, rc, "no policy topic for scope \"%s\"", scope);
  return SHOAL_OK;
}

shoal_err hub_publish_check(const char *doc, size_t len, const char *effective_at,
                            const char *expires_at, char *scope_out, shoal_diag *diag) {
  struct shoal_time eff = {0}, exp = {0};
  shoal_err rc = shoal_policy_validate(doc, len, scope_out, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (effective_at && (rc = shoal_time_parse(effective_at, &eff, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "--effective-at");
    return SHOAL_EINPUT;
  }
  if (expires_at && (rc = shoal_time_parse(expires_at, &exp, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "--expires-at");
    return SHOAL_EINPUT;
  }
  if (effective_at && expires_at && exp.unix_ms <= eff.unix_ms)
    return shoal_fail(diag, SHOAL_EINPUT, "--expires-at must be after --effective-at");
  return SHOAL_OK;
}

shoal_err hub_publish_record(hub_store *db, const struct shoal_hub_config *cfg, const char *doc,
                             size_t len, const char *effective_at, const char *expires_at,
                             struct hub_published *out, shoal_diag *diag) {
  struct hub_publish_meta meta = {0};
  return hub_publish_record_ex(db, cfg, doc, len, effective_at, expires_at, &meta, out, diag);
}

shoal_err hub_publish_record_ex(hub_store *db, const struct shoal_hub_config *cfg, const char *doc,
                                size_t len, const char *effective_at, const char *expires_at,
                                const struct hub_publish_meta *meta, struct hub_published *out,
                                shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct shoal_privkey *key = NULL;
  hub_stmt *st = NULL;
  char *envelope = NULL, *doc_text = NULL;
  bool in_txn = false;
  struct hub_published p;
  memset(&p, 0, sizeof p);

  if ((rc = hub_publish_check(doc, len, effective_at, expires_at, p.scope, diag)) != SHOAL_OK)
    return rc;
  if (!cfg->signing_key)
    return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"signing_key\" is not set (shoal-hub keygen)",
                      cfg->path ? cfg->path : "hub config");
  if ((rc = hub_publish_topic(cfg->topic_prefix, p.scope, p.topic, sizeof p.topic, diag)) !=
      SHOAL_OK)
    return rc;
  if ((rc = shoal_privkey_load(cfg->signing_key, &key, diag)) != SHOAL_OK)
    return rc;
  /* The signature covers the doc's exact bytes; keep them NUL-terminated. */
  if (!(doc_text = malloc(len + 1))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  memcpy(doc_text, doc, len);
  doc_text[len] = '\0';

  if (!meta->in_txn) {
    if ((rc = hub_store_begin(db, diag)) != SHOAL_OK)
      goto cleanup;
    in_txn = true;
  }
  int64_t last = 0;
  if ((rc = hub_store_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM policies WHERE scope = ?",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, p.scope, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s != HUB_STORE_ROW) {
    rc = hub_store_fail(db, s, "read the last policy version", diag);
    goto cleanup;
  }
  last = hub_store_column_int64(st, 0);
  hub_store_finalize(st);
  st = NULL;
  p.version = last + 1;

  int64_t now = shoal_now_ms();
  char issued_at[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_utc(now, issued_at, sizeof issued_at);
  if ((rc = shoal_policy_envelope_sign_rollout(key, p.scope, p.version, issued_at, effective_at,
                                               expires_at, doc_text, meta->rollout, &envelope,
                                               diag)) != SHOAL_OK)
    goto cleanup;
  if (strlen(envelope) > SHOAL_POLICY_ENVELOPE_MAX_BYTES) {
    rc = shoal_fail(diag, SHOAL_ELIMIT,
                    "the signed envelope would be %zu bytes, over the limit of %d agents accept",
                    strlen(envelope), SHOAL_POLICY_ENVELOPE_MAX_BYTES);
    goto cleanup;
  }

  if ((rc = hub_store_prepare(db,
                              "INSERT INTO policies (scope, version, issued_at, effective_at, "
                              "expires_at, doc, envelope, published_ms, published_by, rollout) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, p.scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, p.version);
  hub_store_bind_text(st, 3, issued_at, -1, HUB_STORE_STATIC);
  if (effective_at)
    hub_store_bind_text(st, 4, effective_at, -1, HUB_STORE_STATIC);
  if (expires_at)
    hub_store_bind_text(st, 5, expires_at, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 6, doc_text, (int)len, HUB_STORE_STATIC);
  hub_store_bind_text(st, 7, envelope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 8, now);
  hub_store_bind_text(st, 9, meta->published_by ? meta->published_by : "cli", -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 10, meta->rollout_id, -1, HUB_STORE_STATIC);
  s = hub_store_step(st);
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "record the policy version", diag);
    goto cleanup;
  }
  hub_store_finalize(st);
  st = NULL;
  int64_t eff_ms = now;
  if (effective_at) {
    struct shoal_time t;
    if (shoal_time_parse(effective_at, &t, diag) == SHOAL_OK)
      eff_ms = t.unix_ms;
  }
  if ((rc = find_unreachable(db, p.scope, p.version, eff_ms, now, &p.unreachable, diag)) !=
          SHOAL_OK ||
      (rc = publish_warnings(db, p.scope, doc_text, &p.warnings, diag)) != SHOAL_OK)
    goto cleanup;
  if (in_txn) {
    if ((rc = hub_store_commit(db, diag)) != SHOAL_OK)
      goto cleanup;
    in_txn = false;
  }
  p.envelope = envelope;
  envelope = NULL;
  *out = p;
  memset(&p, 0, sizeof p);
cleanup:
  hub_store_finalize(st);
  if (in_txn)
    hub_store_rollback(db);
  hub_published_cleanup(&p);
  free(envelope);
  free(doc_text);
  shoal_privkey_free(key);
  return rc;
}

/* ------------------------------------------------------------ short MQTT session */

struct pubwait {
  int connack; /* -1 until CONNACK, then its rc */
  int mid;     /* the publish awaited, 0 = none */
  bool acked;
  bool lost;
};

static void pw_connect(void *user, int rc) {
  ((struct pubwait *)user)->connack = rc;
}
static void pw_disconnect(void *user, int rc) {
  (void)rc;
  ((struct pubwait *)user)->lost = true;
}
static void pw_publish(void *user, int mid) {
  struct pubwait *w = user;
  if (w->mid && mid == w->mid)
    w->acked = true;
}

/* Notes the broker's PUBACK so a running hub does not publish it again. */
static void mark_confirmed(hub_store *db, const struct hub_published *p,
                           const struct shoal_logger *log) {
  hub_stmt *st = NULL;
  shoal_diag diag = {{0}};
  if (hub_store_prepare(db, "UPDATE policies SET confirmed_ms = ? WHERE scope = ? AND version = ?",
                        &st, &diag) == SHOAL_OK) {
    hub_store_bind_int64(st, 1, shoal_now_ms());
    hub_store_bind_text(st, 2, p->scope, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 3, p->version);
    int s = hub_store_step(st);
    if (s != HUB_STORE_DONE)
      shoal_log(log, SHOAL_LOG_WARN, "cannot note the broker's confirmation: %s",
                hub_store_errmsg(db));
  }
  hub_store_finalize(st);
}

void hub_publish_tools_mqtt(const struct shoal_mqtt_config *in, struct shoal_mqtt_config *out,
                            char *paths[2]) {
  *out = *in;
  paths[0] = paths[1] = NULL;
  if (!in->tls_cert)
    return;
  char *dir = shoal_strdup(in->tls_cert);
  if (!dir)
    return;
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  paths[0] = shoal_path_resolve(slash ? dir : ".", HUB_TOOLS_CERT_FILE);
  paths[1] = shoal_path_resolve(slash ? dir : ".", HUB_TOOLS_KEY_FILE);
  free(dir);
  if (paths[0] && paths[1] && access(paths[0], R_OK) == 0 && access(paths[1], R_OK) == 0) {
    out->tls_cert = paths[0];
    out->tls_key = paths[1];
  }
}

shoal_err hub_publish_policy(hub_store *db, const struct shoal_hub_config *cfg, const char *doc,
                             size_t len, const char *effective_at, const char *expires_at,
                             int timeout_ms, const struct shoal_logger *log,
                             struct hub_published *out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct shoal_mqtt *m = NULL;
  struct pubwait w = {.connack = -1};
  struct hub_published p;
  memset(&p, 0, sizeof p);
  char scope[SHOAL_SCOPE_MAX];
  char client_id[64];
  char *tool_paths[2] = {NULL, NULL};
  uint32_t r = 0;

  /* A bad document is exit 3 whether or not the broker is up. */
  if ((rc = hub_publish_check(doc, len, effective_at, expires_at, scope, diag)) != SHOAL_OK)
    return rc;
  if (timeout_ms <= 0)
    timeout_ms = HUB_PUBLISH_TIMEOUT_MS;
  (void)shoal_random_bytes(&r, sizeof r);
  snprintf(client_id, sizeof client_id, "shoal-hub-publish-%ld-%08x", (long)getpid(), r);
  struct shoal_mqtt_config mq;
  hub_publish_tools_mqtt(&cfg->mqtt, &mq, tool_paths);
  struct shoal_mqtt_opts o = {
      .cfg = &mq,
      .client_id = client_id,
      .clean_session = true,
      .keepalive_s = 30,
      .on_connect = pw_connect,
      .on_disconnect = pw_disconnect,
      .on_publish = pw_publish,
      .user = &w,
      .log = log,
  };
  if ((rc = shoal_mqtt_new(&o, &m, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_mqtt_connect(m, diag)) != SHOAL_OK)
    goto cleanup;
  int64_t deadline = shoal_mono_ms() + timeout_ms;
  while (w.connack < 0 && !w.lost && shoal_mono_ms() < deadline)
    if ((rc = shoal_mqtt_loop(m, 50, diag)) != SHOAL_OK)
      goto cleanup;
  if (w.connack != 0) {
    rc = shoal_fail(diag, SHOAL_EMQTT, "the broker at %s:%d %s", cfg->mqtt.host, cfg->mqtt.port,
                    w.connack < 0 ? "did not answer the connection"
                                  : "refused the connection (check mqtt credentials)");
    goto cleanup;
  }

  if ((rc = hub_publish_record(db, cfg, doc, len, effective_at, expires_at, &p, diag)) != SHOAL_OK)
    goto cleanup;
  shoal_log(log, SHOAL_LOG_INFO, "recorded %s version %" PRId64, p.scope, p.version);
  if ((rc = shoal_mqtt_publish(m, p.topic, p.envelope, strlen(p.envelope), 1, true, &w.mid,
                               diag)) != SHOAL_OK)
    goto unsent;
  while (!w.acked && shoal_mono_ms() < deadline) {
    if ((rc = shoal_mqtt_loop(m, 50, diag)) != SHOAL_OK)
      goto unsent;
  }
  if (!w.acked) {
    rc = shoal_fail(diag, SHOAL_ETIMEOUT, "no PUBACK from the broker within %d ms", timeout_ms);
    goto unsent;
  }
  mark_confirmed(db, &p, log);
  shoal_mqtt_disconnect(m);
  for (int i = 0; i < 5 && shoal_mqtt_want_write(m); i++)
    (void)shoal_mqtt_loop(m, 20, NULL);
  *out = p;
  memset(&p, 0, sizeof p);
  goto cleanup;
unsent:
  shoal_diag_prefix(diag,
                    "%s version %" PRId64 " is recorded but not confirmed by the broker "
                    "(shoal-hub run will publish it)",
                    p.scope, p.version);
cleanup:
  hub_published_cleanup(&p);
  shoal_mqtt_free(m);
  free(tool_paths[0]);
  free(tool_paths[1]);
  return rc;
}

shoal_err hub_policy_in_effect(hub_store *db, const char *scope, int64_t now_ms, cJSON **out,
                               shoal_diag *diag) {
  hub_stmt *st = NULL;
  cJSON *doc = NULL;
  shoal_err rc =
      hub_store_prepare(db,
                        "SELECT doc FROM policies WHERE scope = ? AND (effective_at IS NULL "
                        "OR shoal_time_ms(effective_at) <= ?) ORDER BY version DESC LIMIT 1",
                        &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, now_ms);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW) {
    rc = shoal_json_parse((const char *)hub_store_column_text(st, 0),
                          (size_t)hub_store_column_bytes(st, 0), &doc, diag);
    if (rc != SHOAL_OK)
      shoal_diag_prefix(diag, "published policy %s", scope);
  } else if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(db, s, "read policies", diag);
  }
  hub_store_finalize(st);
  if (rc != SHOAL_OK)
    return rc;
  *out = doc;
  return SHOAL_OK;
}
