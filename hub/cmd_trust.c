/* cmd_trust.c - `shoal-hub trust`: key rotation (docs/security.md).
 * Signs trust update N (the full list of keys agents trust from N on) with
 * the hub's current signing key, records it in trust_updates and publishes
 * the chain of the latest SHOAL_TRUST_CHAIN_MAX updates, retained, on
 * P/trust. The update is committed only once the broker acknowledged it, so
 * a failed publish leaves nothing half-done. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd_trust.h"
#include "hub_cli.h"
#include "hub_ctx.h"
#include "hub_publish.h"
#include "hub_trust.h"
#include "shoal/cli.h"
#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/mqtt.h"
#include "shoal/timeutil.h"
#include "shoal/trust.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "store.h"

#define PUBLISH_TIMEOUT_MS 15000

struct oneshot {
  int connack; /* -1 pending, else the CONNACK code */
  bool acked;
  bool lost;
};

static void os_connect(void *user, int rc) {
  ((struct oneshot *)user)->connack = rc;
}
static void os_publish(void *user, int mid) {
  (void)mid;
  ((struct oneshot *)user)->acked = true;
}
static void os_disconnect(void *user, int rc) {
  if (rc != 0)
    ((struct oneshot *)user)->lost = true;
}

/* Connects with the hub's identity, publishes one retained QoS 1 message and
 * waits for the broker's PUBACK (bounded). */
static shoal_err publish_once(struct hub_ctx *ctx, const char *topic, const char *payload,
                              shoal_diag *diag) {
  struct oneshot st = {-1, false, false};
  char client_id[64];
  snprintf(client_id, sizeof client_id, "shoal-hub-trust-%ld", (long)(shoal_mono_ms() % 1000000));
  struct shoal_mqtt_config mq;
  char *tool_paths[2];
  hub_publish_tools_mqtt(&ctx->cfg.mqtt, &mq, tool_paths);
  struct shoal_mqtt_opts o = {
      .cfg = &mq,
      .client_id = client_id,
      .clean_session = true,
      .keepalive_s = 30,
      .on_connect = os_connect,
      .on_publish = os_publish,
      .on_disconnect = os_disconnect,
      .user = &st,
      .log = &ctx->log,
  };
  struct shoal_mqtt *m = NULL;
  shoal_err rc = shoal_mqtt_new(&o, &m, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_mqtt_connect(m, diag)) != SHOAL_OK)
    goto cleanup;
  int64_t deadline = shoal_mono_ms() + PUBLISH_TIMEOUT_MS;
  bool sent = false;
  while (!st.acked) {
    if (shoal_mono_ms() > deadline || st.lost) {
      rc = shoal_fail(diag, SHOAL_EMQTT, "broker at %s:%d did not acknowledge the trust update",
                      ctx->cfg.mqtt.host, ctx->cfg.mqtt.port);
      goto cleanup;
    }
    if ((rc = shoal_mqtt_loop(m, 100, diag)) != SHOAL_OK)
      goto cleanup;
    if (st.connack > 0) {
      rc = shoal_fail(diag, SHOAL_EMQTT, "broker refused the hub's connection (CONNACK %d)",
                      st.connack);
      goto cleanup;
    }
    if (st.connack == 0 && !sent) {
      if ((rc = shoal_mqtt_publish(m, topic, payload, strlen(payload), 1, true, NULL, diag)) !=
          SHOAL_OK)
        goto cleanup;
      sent = true;
    }
  }
  shoal_mqtt_disconnect(m);
  (void)shoal_mqtt_loop(m, 100, diag);
cleanup:
  shoal_mqtt_free(m);
  free(tool_paths[0]);
  free(tool_paths[1]);
  return rc;
}

static const struct shoal_argspec spec[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file (signing_key signs the update)"},
    {"key", 0, true, true, "PUB.pem",
     "a public key agents trust from this update on (repeat, 1-4)"},
    {"out", 0, true, false, "FILE", "also write the chain message to FILE"},
    {"no-publish", 0, false, false, NULL, "record and write --out only; publish nothing"},
    {"republish", 0, false, false, NULL, "publish the stored chain again (no new version)"},
};

int hub_cmd_trust(int argc, char **argv) {
  struct shoal_args a;
  shoal_diag diag = {{0}};
  shoal_err rc = SHOAL_OK;
  struct hub_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  struct shoal_privkey *key = NULL;
  char *pems[SHOAL_TRUST_KEYS_MAX] = {0}, *update = NULL, *chain = NULL;
  int nkeys = 0;
  bool in_tx = false;
  int64_t version = 0;
  const int nspec = (int)(sizeof spec / sizeof spec[0]);
  if (shoal_args_parse(&a, spec, nspec, argc, argv, 1, &diag) != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "trust", "%s", diag.msg);
  if (a.help) {
    shoal_args_usage(stdout,
                     HUB_PROG " trust -c CONFIG --key PUB.pem [--key PUB.pem ...] [--out FILE] "
                              "[--no-publish]\n       " HUB_PROG " trust -c CONFIG --republish",
                     "Key rotation: signs a trust update (the complete list of public keys agents "
                     "trust for policies and work-order codes from now on) with the hub's current "
                     "signing key, records it and publishes the chain of recent updates, retained, "
                     "on P/trust. See docs/security.md for the rotation procedure.",
                     spec, nspec);
    return 0;
  }
  const char *config = shoal_args_get(&a, "config"), *out = shoal_args_get(&a, "out");
  bool republish = shoal_args_flag(&a, "republish"), no_pub = shoal_args_flag(&a, "no-publish");
  nkeys = shoal_args_count(&a, "key");
  if (!config || (republish && nkeys > 0) || (!republish && nkeys < 1))
    return shoal_cli_usage_error(HUB_PROG, "trust",
                                 "-c CONFIG and either --key PUB.pem (1-%d) or --republish",
                                 SHOAL_TRUST_KEYS_MAX);
  if (nkeys > SHOAL_TRUST_KEYS_MAX)
    return shoal_cli_usage_error(HUB_PROG, "trust", "at most %d --key", SHOAL_TRUST_KEYS_MAX);
  if ((rc = hub_ctx_open(&ctx, config, &diag)) != SHOAL_OK)
    goto cleanup;
  char topic[SHOAL_TOPIC_MAX];
  if ((rc = shoal_topic_format(topic, sizeof topic, ctx.cfg.topic_prefix, SHOAL_TOPIC_TRUST, NULL,
                               NULL)) != SHOAL_OK) {
    rc = shoal_fail(&diag, rc, "topic_prefix too long");
    goto cleanup;
  }
  if ((rc = hub_store_begin(ctx.db, &diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if (!republish) {
    if (!ctx.cfg.signing_key) {
      rc = shoal_fail(&diag, SHOAL_ECONFIG, "%s: signing_key is needed to sign a trust update",
                      ctx.cfg.path);
      goto cleanup;
    }
    for (int i = 0; i < nkeys; i++) {
      size_t len = 0;
      struct shoal_pubkey *pk = NULL;
      if ((rc = shoal_file_read(shoal_args_at(&a, "key", i), SHOAL_TRUST_KEY_PEM_MAX, &pems[i],
                                &len, &diag)) != SHOAL_OK)
        goto cleanup;
      rc = shoal_pubkey_parse(pems[i], len, &pk, &diag);
      shoal_pubkey_free(pk);
      if (rc != SHOAL_OK) {
        shoal_diag_prefix(&diag, "%s", shoal_args_at(&a, "key", i));
        rc = SHOAL_EINPUT;
        goto cleanup;
      }
    }
    if ((rc = shoal_privkey_load(ctx.cfg.signing_key, &key, &diag)) != SHOAL_OK ||
        (rc = hub_store_query_int(ctx.db, "SELECT MAX(version) FROM trust_updates", 0, &version,
                                  &diag)) != SHOAL_OK)
      goto cleanup;
    version++;
    char issued[SHOAL_TIME_TEXT_MAX];
    shoal_time_format_utc_s(shoal_now_ms(), issued, sizeof issued);
    if ((rc = shoal_trust_update_sign(key, version, issued, (const char *const *)pems,
                                      (size_t)nkeys, &update, &diag)) != SHOAL_OK)
      goto cleanup;
    hub_stmt *st = NULL;
    if ((rc = hub_store_prepare(ctx.db,
                                "INSERT INTO trust_updates (version, issued_at, update_json, "
                                "published_ms) VALUES (?, ?, ?, ?)",
                                &st, &diag)) != SHOAL_OK)
      goto cleanup;
    hub_store_bind_int64(st, 1, version);
    hub_store_bind_text(st, 2, issued, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 3, update, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 4, shoal_now_ms());
    int s = hub_store_step(st);
    hub_store_finalize(st);
    if (s != HUB_STORE_DONE) {
      rc = hub_store_fail(ctx.db, s, "record the trust update", &diag);
      goto cleanup;
    }
  } else if ((rc = hub_store_query_int(ctx.db, "SELECT MAX(version) FROM trust_updates", 0,
                                       &version, &diag)) != SHOAL_OK) {
    goto cleanup;
  }
  if ((rc = hub_trust_chain(&ctx, &chain, &diag)) != SHOAL_OK)
    goto cleanup;
  if (out && (rc = shoal_file_write_atomic(out, chain, strlen(chain), 0644, &diag)) != SHOAL_OK)
    goto cleanup;
  if (!no_pub && (rc = publish_once(&ctx, topic, chain, &diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = hub_store_commit(ctx.db, &diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  printf("{\"version\": %" PRId64 ", \"keys\": %d, \"topic\": \"%s\", \"published\": %s}\n",
         version, republish ? 0 : nkeys, topic, no_pub ? "false" : "true");
cleanup:
  if (in_tx)
    hub_store_rollback(ctx.db);
  shoal_privkey_free(key);
  for (int i = 0; i < SHOAL_TRUST_KEYS_MAX; i++)
    free(pems[i]);
  free(update);
  free(chain);
  hub_ctx_close(&ctx);
  return rc == SHOAL_OK ? 0 : shoal_cli_fail(HUB_PROG, rc, &diag);
}
