/* test_agent_sync.c - the agent's sync rules on a real database: a signed
 * regional policy is stored stripped to the profile's sections; a rollback,
 * a forged signature and a foreign scope are refused and counted while the
 * held version stays; acks delete exactly the covered rows, never for
 * another epoch, never past the last seq; batches come in seq order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_ctx.h"
#include "agent_outbox.h"
#include "agent_policy.h"
#include "agent_sync.h"
#include "agent_trust.h"
#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/signing.h"
#include "shoal/util.h"
#include "test_keys.h"
#include "test_util.h"

static struct shoal_privkey *hq, *evil;
static struct agent_ctx ctx;
static struct agent_trust trust;
static int dbn;

static struct shoal_privkey *make_key(const char *name, bool trusted) {
  struct shoal_privkey *k = NULL;
  char *pubs = NULL;
  test_key_pair(name, &k, NULL, &pubs);
  if (trusted)
    test_write_file("policy-pub.pem", pubs);
  free(pubs);
  return k;
}

static int setup(void **state) {
  (void)state;
  hq = make_key("hq", true);
  evil = make_key("evil", false);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  shoal_privkey_free(hq);
  shoal_privkey_free(evil);
  return 0;
}

/* A fresh device (new database) with a POS-like profile without tickets. */
static int open_device(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  test_write_file(
      "profile.json",
      "{\"profile\":\"pos\",\"modules\":[\"pricing\",\"sales\"],\"cache\":{\"max_mb\":8},"
      "\"outbox\":{\"max_events\":100},\"sync\":{\"keepalive_s\":30,\"backoff_min_s\":1,"
      "\"backoff_max_s\":5,\"batch\":3}}");
  char cfg[512];
  snprintf(cfg, sizeof cfg,
           "{\"device\":\"pos-1\",\"store\":\"chengdu-001\",\"region\":\"cn-sw\","
           "\"profile\":\"profile.json\",\"db\":\"dev%d.db\",\"trust\":{\"policy_pub\":"
           "\"policy-pub.pem\"}}",
           dbn++);
  const char *path = test_write_file("agent.json", cfg);
  assert_int_equal(agent_ctx_open(&ctx, path, &d), SHOAL_OK);
  assert_int_equal(agent_trust_load(&ctx, &trust, &d), SHOAL_OK);
  return 0;
}

static int close_device(void **state) {
  (void)state;
  agent_trust_cleanup(&trust);
  agent_ctx_close(&ctx);
  memset(&ctx, 0, sizeof ctx);
  return 0;
}

static const char *DOC_V =
    "{\"scope\":\"%s\",\"currency\":\"CNY\",\"items\":[{\"sku\":\"TEA-MILK-L\",\"price\":%d}],"
    "\"forms\":[],\"routing\":[],\"settlement\":{}}";

__attribute__((noinline)) static char *sign(struct shoal_privkey *key, const char *scope,
                                            int64_t version, int price, const char *effective,
                                            const char *expires) {
  char doc[512];
  snprintf(doc, sizeof doc, DOC_V, scope, price);
  char *out = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_policy_envelope_sign(key, scope, version, "2026-11-01T00:00:00Z",
                                              effective, expires, doc, &out, &d),
                   SHOAL_OK);
  return out;
}

static enum agent_policy_outcome deliver(const char *topic_scope, char *env) {
  enum agent_policy_outcome out = AGENT_POLICY_EMPTY;
  shoal_diag d = {{0}};
  assert_int_equal(agent_sync_on_policy(&ctx, &trust, topic_scope, env, strlen(env), &out, &d),
                   SHOAL_OK);
  free(env);
  return out;
}

static int64_t held(const char *scope) {
  int64_t v = -1;
  shoal_diag d = {{0}};
  assert_int_equal(agent_policy_latest(&ctx, scope, &v, &d), SHOAL_OK);
  return v;
}

static int64_t count(const char *sql) {
  int64_t v = -1;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_db_query_int(ctx.db, sql, -1, &v, &d), SHOAL_OK);
  return v;
}

static void test_agent_sync_accepts_and_strips(void **state) {
  (void)state;
  assert_int_equal(deliver("region/cn-sw", sign(hq, "region/cn-sw", 3, 1600, NULL, NULL)),
                   AGENT_POLICY_ACCEPTED);
  assert_int_equal(held("region/cn-sw"), 3);
  /* The same version again (retained redelivery) is ignored, not counted. */
  assert_int_equal(deliver("region/cn-sw", sign(hq, "region/cn-sw", 3, 1600, NULL, NULL)),
                   AGENT_POLICY_SAME);
  assert_int_equal(count("SELECT COUNT(*) FROM policy_rejections"), 0);
  /* Pricing keeps items; forms/routing/settlement are not this profile's. */
  assert_int_equal(count("SELECT instr(doc, 'TEA-MILK-L') > 0 AND instr(doc, 'routing') = 0 AND "
                         "instr(doc, 'settlement') = 0 AND instr(doc, 'forms') = 0 "
                         "FROM policies WHERE scope = 'region/cn-sw'"),
                   1);
  /* The envelope is kept as received (it still carries everything signed). */
  assert_int_equal(count("SELECT instr(envelope, 'settlement') > 0 FROM policies"), 1);
}

static void test_agent_sync_refuses_rollback_forgery_scope(void **state) {
  (void)state;
  assert_int_equal(deliver("region/cn-sw", sign(hq, "region/cn-sw", 5, 1600, NULL, NULL)),
                   AGENT_POLICY_ACCEPTED);
  assert_int_equal(deliver("region/cn-sw", sign(hq, "region/cn-sw", 4, 900, NULL, NULL)),
                   AGENT_POLICY_REJECTED);
  assert_int_equal(deliver("region/cn-sw", sign(evil, "region/cn-sw", 6, 1, NULL, NULL)),
                   AGENT_POLICY_REJECTED);
  assert_int_equal(deliver("region/cn-sw", sign(hq, "region/cn-east", 9, 2000, NULL, NULL)),
                   AGENT_POLICY_REJECTED);
  assert_int_equal(
      deliver("region/cn-sw", sign(hq, "region/cn-sw", 7, 1, NULL, "2026-11-01T00:00:01Z")),
      AGENT_POLICY_REJECTED);
  char *tampered = sign(hq, "region/cn-sw", 8, 1600, NULL, NULL);
  char *p = strstr(tampered, "1600");
  assert_non_null(p);
  p[0] = '0'; /* price 0600: the signed hash no longer matches */
  assert_int_equal(deliver("region/cn-sw", tampered), AGENT_POLICY_REJECTED);
  assert_int_equal(held("region/cn-sw"), 5);
  assert_int_equal(held("region/cn-east"), 0);
  assert_int_equal(count("SELECT COUNT(*) FROM policy_rejections"), 5);
  /* An empty retained message (a cleared topic) changes nothing. */
  enum agent_policy_outcome out;
  shoal_diag d = {{0}};
  assert_int_equal(agent_sync_on_policy(&ctx, &trust, "global", "", 0, &out, &d), SHOAL_OK);
  assert_int_equal(out, AGENT_POLICY_EMPTY);
}

/* A validly signed envelope is refused when it arrives on another scope's
 * topic, or when its document names a scope other than the envelope's. */
static void test_agent_sync_refuses_scope_mismatch(void **state) {
  (void)state;
  /* This store's own envelope replayed on the region topic. */
  assert_int_equal(deliver("region/cn-sw", sign(hq, "store/chengdu-001", 2, 1500, NULL, NULL)),
                   AGENT_POLICY_REJECTED);
  /* Envelope scope region/cn-sw, document scope global. */
  char doc[512];
  snprintf(doc, sizeof doc, DOC_V, "global", 1234);
  char *env = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_policy_envelope_sign(hq, "region/cn-sw", 11, "2026-11-01T00:00:00Z", NULL,
                                              NULL, doc, &env, &d),
                   SHOAL_OK);
  assert_int_equal(deliver("region/cn-sw", env), AGENT_POLICY_REJECTED);
  assert_int_equal(held("region/cn-sw"), 0);
  assert_int_equal(held("store/chengdu-001"), 0);
  assert_int_equal(count("SELECT COUNT(*) FROM policy_rejections"), 2);
}

static void test_agent_sync_future_effective_is_pending(void **state) {
  (void)state;
  assert_int_equal(deliver("global", sign(hq, "global", 1, 1200, NULL, NULL)),
                   AGENT_POLICY_ACCEPTED);
  assert_int_equal(deliver("global", sign(hq, "global", 2, 1300, "2099-01-01T00:00:00Z", NULL)),
                   AGENT_POLICY_ACCEPTED);
  char *docs[3];
  int64_t versions[3];
  shoal_diag d = {{0}};
  assert_int_equal(agent_policy_effective(&ctx, shoal_now_ms(), docs, versions, &d), SHOAL_OK);
  assert_int_equal(versions[0], 1);
  for (int i = 0; i < 3; i++)
    free(docs[i]);
  assert_int_equal(agent_policy_effective(&ctx, 4102444800001LL, docs, versions, &d), SHOAL_OK);
  assert_int_equal(versions[0], 2);
  for (int i = 0; i < 3; i++)
    free(docs[i]);
}

static void append(int n) {
  shoal_diag d = {{0}};
  cJSON *body = cJSON_Parse("{\"total\":100}");
  assert_int_equal(shoal_db_begin(ctx.db, &d), SHOAL_OK);
  for (int i = 0; i < n; i++)
    assert_int_equal(agent_outbox_append(&ctx, "sale", body, NULL, NULL, &d), SHOAL_OK);
  assert_int_equal(shoal_db_commit(ctx.db, &d), SHOAL_OK);
  cJSON_Delete(body);
}

static bool ack(const char *epoch, int64_t upto, int64_t *acked) {
  char msg[128];
  snprintf(msg, sizeof msg, "{\"epoch\":\"%s\",\"upto\":%lld}", epoch, (long long)upto);
  bool advanced = false;
  shoal_diag d = {{0}};
  assert_int_equal(agent_sync_on_ack(&ctx, msg, strlen(msg), acked, &advanced, &d), SHOAL_OK);
  return advanced;
}

static void test_agent_sync_acks_delete_covered_rows(void **state) {
  (void)state;
  append(7);
  struct agent_sync_batch *b = calloc(1, sizeof *b);
  shoal_diag d = {{0}};
  assert_int_equal(agent_sync_fetch(&ctx, 0, ctx.profile.batch, b, &d), SHOAL_OK);
  assert_int_equal(b->n, 3);
  assert_int_equal(b->seq[0], 1);
  assert_int_equal(b->seq[2], 3);
  agent_sync_batch_clear(b);
  int64_t acked = 0;
  /* PUBACK deletes nothing; another epoch's ack deletes nothing. */
  assert_false(ack("12345", 7, &acked));
  assert_int_equal(count("SELECT COUNT(*) FROM outbox"), 7);
  assert_true(ack(ctx.epoch, 3, &acked));
  assert_int_equal(acked, 3);
  assert_int_equal(count("SELECT MIN(seq) FROM outbox"), 4);
  assert_false(ack(ctx.epoch, 2, &acked)); /* stale ack: nothing moves back */
  assert_int_equal(acked, 3);
  assert_int_equal(agent_sync_fetch(&ctx, acked, ctx.profile.batch, b, &d), SHOAL_OK);
  assert_int_equal(b->seq[0], 4);
  agent_sync_batch_clear(b);
  /* An ack past the last seq is capped: pending never goes negative. */
  assert_true(ack(ctx.epoch, 1000, &acked));
  assert_int_equal(acked, 7);
  assert_int_equal(count("SELECT COUNT(*) FROM outbox"), 0);
  assert_int_equal(count("SELECT acked_upto FROM sync_state"), 7);
  assert_int_equal(count("SELECT last_ack_ms IS NOT NULL FROM sync_state"), 1);
  /* Malformed acks are errors for the caller to log, never crashes. */
  bool adv;
  assert_int_equal(agent_sync_on_ack(&ctx, "{\"upto\":", 8, &acked, &adv, &d), SHOAL_EINPUT);
  assert_int_equal(agent_sync_on_ack(&ctx, "[1,2]", 5, &acked, &adv, &d), SHOAL_EINPUT);
  free(b);
}

static void test_agent_sync_hello_is_an_event(void **state) {
  (void)state;
  shoal_diag d = {{0}};
  assert_int_equal(agent_sync_hello(&ctx, &d), SHOAL_OK);
  assert_int_equal(count("SELECT COUNT(*) FROM outbox WHERE type = 'hello' AND seq = 1 AND "
                         "instr(envelope, '\"profile\":\"pos\"') > 0 AND "
                         "instr(envelope, 'outbox_pending') > 0"),
                   1);
}

/* A rollout stage envelope (docs/protocol.md): stable document at 1200,
 * new at 990, targeting the listed stores and percent. */
static char *sign_rollout(struct shoal_privkey *key, int64_t version, const char *store,
                          int percent) {
  char doc[512], stable[512];
  snprintf(doc, sizeof doc, DOC_V, "region/cn-sw", 990);
  snprintf(stable, sizeof stable, DOC_V, "region/cn-sw", 1200);
  char *stores[1] = {(char *)store};
  struct shoal_policy_rollout r = {.stable_version = 1,
                                   .percent = percent,
                                   .stores = stores,
                                   .nstores = store ? 1 : 0,
                                   .stable_doc = stable};
  strcpy(r.id, "ro-1");
  char *out = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_policy_envelope_sign_rollout(key, "region/cn-sw", version,
                                                      "2026-11-01T00:00:00Z", NULL, NULL, doc, &r,
                                                      &out, &d),
                   SHOAL_OK);
  return out;
}

static int64_t price_held(void) {
  return count("SELECT CAST(substr(doc, instr(doc, '\"price\":') + 8, 4) AS INTEGER) FROM policies "
               "WHERE scope = 'region/cn-sw' ORDER BY version DESC LIMIT 1");
}

/* Proves: a targeted store takes the new document, an untargeted one the
 * stable document under the same version; an abort (a newer plain version)
 * is accepted, not a rollback; the rollout fields are signed (tampering
 * with stores, percent or the stable document, or stripping the object,
 * is a bad signature); the percent bucket is stable. */
static void test_agent_sync_rollout_envelope(void **state) {
  (void)state;
  /* chengdu-001 listed: new document. */
  assert_int_equal(deliver("region/cn-sw", sign_rollout(hq, 2, "chengdu-001", 0)),
                   AGENT_POLICY_ACCEPTED);
  assert_int_equal(held("region/cn-sw"), 2);
  assert_int_equal(price_held(), 990);
  /* Next stage lists another store only and 0%: this device takes the
   * stable document under v3. */
  assert_int_equal(deliver("region/cn-sw", sign_rollout(hq, 3, "xian-002", 0)),
                   AGENT_POLICY_ACCEPTED);
  assert_int_equal(held("region/cn-sw"), 3);
  assert_int_equal(price_held(), 1200);
  /* 100%: everyone. */
  assert_int_equal(deliver("region/cn-sw", sign_rollout(hq, 4, NULL, 100)), AGENT_POLICY_ACCEPTED);
  assert_int_equal(price_held(), 990);
  /* Abort: the stable document as plain v5, accepted (no rollback). */
  assert_int_equal(deliver("region/cn-sw", sign(hq, "region/cn-sw", 5, 1200, NULL, NULL)),
                   AGENT_POLICY_ACCEPTED);
  assert_int_equal(price_held(), 1200);
  assert_int_equal(count("SELECT COUNT(*) FROM policy_rejections"), 0);
  /* Tampering with any rollout field, or stripping it, breaks the signature. */
  static const char *const swaps[][2] = {
      {"\"xian-002\"", "\"chengdu-001\""},
      {"\"percent\":0", "\"percent\":100"},
      {"\\\"price\\\":1200", "\\\"price\\\":1"},
  };
  for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
    char *env = sign_rollout(hq, 6, "xian-002", 0);
    char *at = strstr(env, swaps[i][0]);
    assert_non_null(at);
    size_t n = strlen(env) + 64;
    char *t = malloc(n);
    snprintf(t, n, "%.*s%s%s", (int)(at - env), env, swaps[i][1], at + strlen(swaps[i][0]));
    free(env);
    assert_int_equal(deliver("region/cn-sw", t), AGENT_POLICY_REJECTED);
  }
  char *env = sign_rollout(hq, 6, "xian-002", 0);
  char *ro = strstr(env, ",\"rollout\":");
  char *sig = strstr(env, ",\"sig\":");
  assert_true(ro && sig && ro < sig);
  memmove(ro, sig, strlen(sig) + 1);
  assert_int_equal(deliver("region/cn-sw", env), AGENT_POLICY_REJECTED);
  assert_int_equal(held("region/cn-sw"), 5);
  assert_int_equal(count("SELECT COUNT(*) FROM policy_rejections"), 4);
  /* Stable buckets: the same store always lands in the same bucket, and a
   * store in at p% stays in at any larger percent. */
  int b = shoal_rollout_bucket("chengdu-001");
  assert_true(b >= 0 && b < 100);
  assert_int_equal(shoal_rollout_bucket("chengdu-001"), b);
  struct shoal_policy_rollout r = {.percent = b + 1};
  assert_true(shoal_rollout_targets(&r, "chengdu-001"));
  r.percent = b;
  assert_false(shoal_rollout_targets(&r, "chengdu-001"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_agent_sync_accepts_and_strips, open_device,
                                      close_device),
      cmocka_unit_test_setup_teardown(test_agent_sync_refuses_rollback_forgery_scope, open_device,
                                      close_device),
      cmocka_unit_test_setup_teardown(test_agent_sync_refuses_scope_mismatch, open_device,
                                      close_device),
      cmocka_unit_test_setup_teardown(test_agent_sync_future_effective_is_pending, open_device,
                                      close_device),
      cmocka_unit_test_setup_teardown(test_agent_sync_acks_delete_covered_rows, open_device,
                                      close_device),
      cmocka_unit_test_setup_teardown(test_agent_sync_rollout_envelope, open_device, close_device),
      cmocka_unit_test_setup_teardown(test_agent_sync_hello_is_an_event, open_device, close_device),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
