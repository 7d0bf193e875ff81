/* test_trust.c - key rotation (shared/trust.c, agent/agent_trust.c): a trust
 * update verifies only under a key trusted before it, a chain walks an
 * offline agent through several rotations, tampering and foreign keys are
 * refused, versions never go back, and an accepted list is stored in the
 * agent database and replaces the config's keys from then on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_ctx.h"
#include "agent_trust.h"
#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/trust.h"
#include "shoal/wire.h"
#include "test_util.h"

struct pair {
  struct shoal_privkey *priv;
  struct shoal_pubkey *pub;
  char *pub_pem;
  char pub_path[1100];
};
static struct pair k0, k1, k2, evil;

static void make_pair(const char *name, struct pair *p) {
  char *ps = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_key_generate(&ps, &p->pub_pem, &d), SHOAL_OK);
  char fn[64];
  snprintf(fn, sizeof fn, "%s-key.pem", name);
  assert_int_equal(shoal_privkey_load(test_write_file(fn, ps), &p->priv, &d), SHOAL_OK);
  assert_int_equal(shoal_pubkey_parse(p->pub_pem, strlen(p->pub_pem), &p->pub, &d), SHOAL_OK);
  snprintf(fn, sizeof fn, "%s-pub.pem", name);
  snprintf(p->pub_path, sizeof p->pub_path, "%s", test_write_file(fn, p->pub_pem));
  shoal_secure_free(ps);
}

static int setup(void **state) {
  (void)state;
  make_pair("k0", &k0);
  make_pair("k1", &k1);
  make_pair("k2", &k2);
  make_pair("evil", &evil);
  return 0;
}

static void free_pair(struct pair *p) {
  shoal_privkey_free(p->priv);
  shoal_pubkey_free(p->pub);
  free(p->pub_pem);
}

static int teardown(void **state) {
  (void)state;
  free_pair(&k0);
  free_pair(&k1);
  free_pair(&k2);
  free_pair(&evil);
  return 0;
}

static char *sign_update(struct pair *signer, int64_t version, const char *k_a, const char *k_b) {
  const char *keys[2] = {k_a, k_b};
  char *out = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_trust_update_sign(signer->priv, version, "2026-11-22T10:00:00Z", keys,
                                           k_b ? 2 : 1, &out, &d),
                   SHOAL_OK);
  return out;
}

static char *chain_of(char *a, char *b) {
  const char *ups[2] = {a, b};
  char *out = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_trust_chain_encode(ups, b ? 2 : 1, &out, &d), SHOAL_OK);
  return out;
}

static shoal_err apply(const char *chain, int64_t held, struct pair *trusted,
                       struct shoal_trust_update *u, bool *changed) {
  const struct shoal_pubkey *keys[1] = {trusted->pub};
  shoal_diag d = {{0}};
  return shoal_trust_chain_apply(chain, strlen(chain), held, keys, 1, u, changed, &d);
}

/* v1 (signed by k0) adds k1; v2 (signed by k1) drops k0 for k2. An agent
 * that only knows k0 and missed both walks the chain to v2. */
static void test_trust_chain_walks_offline_agent_through_rotations(void **state) {
  (void)state;
  char *u1 = sign_update(&k0, 1, k0.pub_pem, k1.pub_pem);
  char *u2 = sign_update(&k1, 2, k1.pub_pem, k2.pub_pem);
  char *chain = chain_of(u1, u2);
  struct shoal_trust_update u;
  bool changed = false;
  assert_int_equal(apply(chain, 0, &k0, &u, &changed), SHOAL_OK);
  assert_true(changed);
  assert_int_equal(u.version, 2);
  assert_int_equal(u.nkeys, 2);
  assert_string_equal(u.keys[0], k1.pub_pem);
  assert_string_equal(u.keys[1], k2.pub_pem);
  shoal_trust_update_cleanup(&u);
  /* Already at v2: nothing to do (equal is ignored, never re-applied). */
  changed = true;
  assert_int_equal(apply(chain, 2, &k2, &u, &changed), SHOAL_OK);
  assert_false(changed);
  free(u1);
  free(u2);
  free(chain);
}

static void test_trust_update_signed_by_untrusted_key_is_refused(void **state) {
  (void)state;
  char *forged = sign_update(&evil, 5, evil.pub_pem, NULL);
  char *chain = chain_of(forged, NULL);
  struct shoal_trust_update u;
  bool changed = true;
  assert_int_equal(apply(chain, 0, &k0, &u, &changed), SHOAL_ESIG);
  assert_false(changed);
  /* The same update is fine for a holder of the signing key: the refusal
   * above is about trust, not about the message's shape. */
  assert_int_equal(apply(chain, 0, &evil, &u, &changed), SHOAL_OK);
  assert_true(changed);
  shoal_trust_update_cleanup(&u);
  free(forged);
  free(chain);
}

/* Swapping a key in a validly signed update breaks the signature. */
static void test_trust_update_tampered_key_list_is_refused(void **state) {
  (void)state;
  char *u1 = sign_update(&k0, 1, k1.pub_pem, NULL);
  cJSON *o = cJSON_Parse(u1);
  cJSON *arr = cJSON_GetObjectItem(o, "keys");
  cJSON_ReplaceItemInArray(arr, 0, cJSON_CreateString(evil.pub_pem));
  char *tampered = cJSON_PrintUnformatted(o);
  char *chain = chain_of(tampered, NULL);
  struct shoal_trust_update u;
  bool changed = true;
  assert_int_equal(apply(chain, 0, &k0, &u, &changed), SHOAL_ESIG);
  assert_false(changed);
  cJSON_Delete(o);
  free(u1);
  free(tampered);
  free(chain);
}

/* A chain whose second update is forged keeps the verified first one. */
static void test_trust_chain_stops_at_first_unverified_update(void **state) {
  (void)state;
  char *u1 = sign_update(&k0, 1, k1.pub_pem, NULL);
  char *u2 = sign_update(&evil, 2, evil.pub_pem, NULL);
  char *chain = chain_of(u1, u2);
  struct shoal_trust_update u;
  bool changed = false;
  assert_int_equal(apply(chain, 0, &k0, &u, &changed), SHOAL_OK);
  assert_true(changed);
  assert_int_equal(u.version, 1);
  assert_string_equal(u.keys[0], k1.pub_pem);
  shoal_trust_update_cleanup(&u);
  free(u1);
  free(u2);
  free(chain);
}

static void test_trust_chain_malformed_and_oversized_refused(void **state) {
  (void)state;
  char *u1 = sign_update(&k0, 1, k1.pub_pem, NULL);
  char *u2 = sign_update(&k0, 2, k1.pub_pem, NULL);
  char *desc = chain_of(u2, u1); /* descending versions */
  struct shoal_trust_update u;
  bool changed = false;
  assert_int_equal(apply(desc, 0, &k0, &u, &changed), SHOAL_EINPUT);
  assert_int_equal(apply("{\"v\":1,\"updates\":{}}", 0, &k0, &u, &changed), SHOAL_EINPUT);
  assert_int_equal(apply("[1,2", 0, &k0, &u, &changed), SHOAL_EJSON);
  size_t big = SHOAL_TRUST_MSG_MAX_BYTES + 10;
  char *huge = malloc(big + 1);
  memset(huge, ' ', big);
  huge[big] = '\0';
  assert_int_equal(apply(huge, 0, &k0, &u, &changed), SHOAL_ELIMIT);
  free(huge);
  free(u1);
  free(u2);
  free(desc);
}

/* The agent stores an accepted list and uses it instead of the config's
 * key from then on (also after a restart: a fresh load reads the db). */
static void test_trust_agent_stores_update_and_drops_rotated_key(void **state) {
  (void)state;
  char cfg[4096];
  snprintf(cfg, sizeof cfg,
           "{\"device\":\"d1\",\"store\":\"s1\",\"region\":\"r1\",\"profile\":\"%s\","
           "\"db\":\"trust-agent.db\",\"trust\":{\"policy_pub\":\"%s\"}}",
           test_source_path("firmware-profiles/pos-terminal.json"), k0.pub_path);
  const char *path = test_write_file("trust-agent.json", cfg);
  struct agent_ctx ctx;
  shoal_diag d = {{0}};
  assert_int_equal(agent_ctx_open(&ctx, path, &d), SHOAL_OK);
  struct agent_trust t;
  assert_int_equal(agent_trust_load(&ctx, &t, &d), SHOAL_OK);
  assert_int_equal(t.n, 1);
  assert_int_equal(t.version, 0);

  /* A forged update changes nothing and is recorded as refused. */
  char *forged = sign_update(&evil, 1, evil.pub_pem, NULL);
  char *fchain = chain_of(forged, NULL);
  bool changed = true;
  assert_int_equal(agent_trust_on_update(&ctx, &t, fchain, strlen(fchain), &changed, &d),
                   SHOAL_ESIG);
  assert_false(changed);
  assert_int_equal(t.version, 0);
  int64_t refusals = 0;
  assert_int_equal(shoal_db_query_int(ctx.db,
                                      "SELECT COUNT(*) FROM policy_rejections WHERE scope='trust'",
                                      0, &refusals, &d),
                   SHOAL_OK);
  assert_int_equal(refusals, 1);

  char *u1 = sign_update(&k0, 1, k2.pub_pem, NULL); /* rotate k0 -> k2 */
  char *chain = chain_of(u1, NULL);
  assert_int_equal(agent_trust_on_update(&ctx, &t, chain, strlen(chain), &changed, &d), SHOAL_OK);
  assert_true(changed);
  assert_int_equal(t.version, 1);
  assert_int_equal(t.n, 1);
  /* k2 now verifies, k0 no longer does. */
  unsigned char sig[SHOAL_SIG_MAX];
  size_t sl = 0;
  assert_int_equal(shoal_sign(k2.priv, "x", 1, sig, &sl, &d), SHOAL_OK);
  assert_int_equal(shoal_verify(t.keys[0], "x", 1, sig, sl), SHOAL_OK);
  assert_int_equal(shoal_sign(k0.priv, "x", 1, sig, &sl, &d), SHOAL_OK);
  assert_int_equal(shoal_verify(t.keys[0], "x", 1, sig, sl), SHOAL_ESIG);
  agent_trust_cleanup(&t);
  agent_ctx_close(&ctx);

  /* After a restart the stored list still wins over the config's k0. */
  assert_int_equal(agent_ctx_open(&ctx, path, &d), SHOAL_OK);
  assert_int_equal(agent_trust_load(&ctx, &t, &d), SHOAL_OK);
  assert_int_equal(t.version, 1);
  assert_int_equal(shoal_verify(t.keys[0], "x", 1, sig, sl), SHOAL_ESIG);
  /* Replaying the old chain is a no-op (no rollback to v1's signer set). */
  assert_int_equal(agent_trust_on_update(&ctx, &t, chain, strlen(chain), &changed, &d), SHOAL_OK);
  assert_false(changed);
  agent_trust_cleanup(&t);
  agent_ctx_close(&ctx);
  free(forged);
  free(fchain);
  free(u1);
  free(chain);
}

/* P/trust is in the one topic table: formats and parses back. */
static void test_trust_topic_in_wire_table(void **state) {
  (void)state;
  char t[SHOAL_TOPIC_MAX], a[SHOAL_ID_MAX + 1], b[SHOAL_ID_MAX + 1];
  enum shoal_topic k;
  assert_int_equal(shoal_topic_format(t, sizeof t, "shoal/v1", SHOAL_TOPIC_TRUST, NULL, NULL),
                   SHOAL_OK);
  assert_string_equal(t, "shoal/v1/trust");
  assert_int_equal(shoal_topic_parse("shoal/v1", t, &k, a, b), SHOAL_OK);
  assert_int_equal(k, SHOAL_TOPIC_TRUST);
  assert_int_equal(shoal_topic_parse("shoal/v1", "shoal/v1/trust/x", &k, a, b), SHOAL_EINPUT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trust_chain_walks_offline_agent_through_rotations),
      cmocka_unit_test(test_trust_update_signed_by_untrusted_key_is_refused),
      cmocka_unit_test(test_trust_update_tampered_key_list_is_refused),
      cmocka_unit_test(test_trust_chain_stops_at_first_unverified_update),
      cmocka_unit_test(test_trust_chain_malformed_and_oversized_refused),
      cmocka_unit_test(test_trust_agent_stores_update_and_drops_rotated_key),
      cmocka_unit_test(test_trust_topic_in_wire_table),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
