/* test_db.c - SQLite helper and agent storage basics: migrations run once
 * and record user_version, a newer schema is refused, WAL and FULL sync are
 * on, the agent's epoch is fixed at creation, outbox seqs are gapless and
 * survive reopening, and a full outbox refuses with a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent_ctx.h"
#include "agent_outbox.h"
#include "agent_policy.h"
#include "shoal/db.h"
#include "test_util.h"

static const struct shoal_migration migs[] = {
    {1, "0001_a.sql", "CREATE TABLE a (x INTEGER);"},
    {2, "0002_b.sql", "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);"},
};

static void test_db_migrations_apply_once_and_record_version(void **state) {
  (void)state;
  char path[1200];
  snprintf(path, sizeof path, "%s/m.db", test_tmpdir());
  sqlite3 *db = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_db_open(path, migs, 2, &db, &d), SHOAL_OK);
  int64_t v = 0, rows = 0;
  assert_int_equal(shoal_db_query_int(db, "PRAGMA user_version", 0, &v, &d), SHOAL_OK);
  assert_int_equal(v, 2);
  assert_int_equal(shoal_db_query_int(db, "PRAGMA synchronous", 0, &v, &d), SHOAL_OK);
  assert_int_equal(v, 2); /* FULL */
  /* Every connection can compare times the way the C code parses them. */
  assert_int_equal(
      shoal_db_query_int(db, "SELECT shoal_time_ms('2026-11-22T15:30:00+0800')", 0, &v, &d),
      SHOAL_OK);
  assert_int_equal(v, 1795332600000LL);
  assert_int_equal(shoal_db_query_int(db, "SELECT shoal_time_ms('soon') IS NULL", 0, &v, &d),
                   SHOAL_OK);
  assert_int_equal(v, 1);
  shoal_db_close(db);
  assert_int_equal(shoal_db_open(path, migs, 2, &db, &d), SHOAL_OK);
  assert_int_equal(shoal_db_query_int(db, "SELECT COUNT(*) FROM a", 0, &rows, &d), SHOAL_OK);
  assert_int_equal(rows, 1); /* migration 2 did not run twice */
  shoal_db_close(db);
  /* An older build (knowing 1 migration) refuses the newer file. */
  assert_int_equal(shoal_db_open(path, migs, 1, &db, &d), SHOAL_EDB);
  assert_non_null(strstr(d.msg, "newer"));
}

static void test_db_failed_migration_rolls_back(void **state) {
  (void)state;
  char path[1200];
  snprintf(path, sizeof path, "%s/bad.db", test_tmpdir());
  const struct shoal_migration bad[] = {
      {1, "0001_ok.sql", "CREATE TABLE ok (x);"},
      {2, "0002_bad.sql", "CREATE TABLE half (x); THIS IS NOT SQL;"},
  };
  sqlite3 *db = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_db_open(path, bad, 2, &db, &d), SHOAL_EDB);
  assert_non_null(strstr(d.msg, "0002_bad.sql"));
  assert_int_equal(shoal_db_open(path, bad, 1, &db, &d), SHOAL_OK);
  int64_t v = 0, n = 0;
  shoal_db_query_int(db, "PRAGMA user_version", 0, &v, &d);
  assert_int_equal(v, 1);
  shoal_db_query_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'", 0, &n, &d);
  assert_int_equal(n, 0);
  shoal_db_close(db);
}

static const char *agent_config(const char *name, const char *profile_json) {
  char prof_name[64], cfg[2048];
  snprintf(prof_name, sizeof prof_name, "%s-profile.json", name);
  test_write_file(prof_name, profile_json);
  snprintf(cfg, sizeof cfg,
           "{\"device\":\"pos-1\",\"store\":\"cd-001\",\"region\":\"cn-sw\",\"profile\":\"%s\","
           "\"db\":\"%s.db\"}",
           prof_name, name);
  char cfg_name[64];
  snprintf(cfg_name, sizeof cfg_name, "%s.json", name);
  return test_write_file(cfg_name, cfg);
}

static const char *PROFILE_SMALL_OUTBOX =
    "{\"profile\":\"tiny\",\"modules\":[\"pricing\",\"sales\"],\"cache\":{\"max_mb\":1},"
    "\"outbox\":{\"max_events\":3},\"sync\":{\"keepalive_s\":30,\"backoff_min_s\":1,"
    "\"backoff_max_s\":2,\"batch\":2}}";

static void test_db_agent_epoch_fixed_and_seq_gapless(void **state) {
  (void)state;
  const char *cfg = agent_config("agent1", PROFILE_SMALL_OUTBOX);
  struct agent_ctx ctx;
  shoal_diag d = {{0}};
  assert_int_equal(agent_ctx_open(&ctx, cfg, &d), SHOAL_OK);
  char epoch[24];
  strcpy(epoch, ctx.epoch);
  assert_true(strlen(epoch) > 0);
  cJSON *body = cJSON_Parse("{\"receipt\":\"r1\"}");
  int64_t seq = 0;
  uint64_t h1 = 0, h2 = 0;
  assert_int_equal(shoal_db_begin(ctx.db, &d), SHOAL_OK);
  assert_int_equal(agent_outbox_append(&ctx, "sale", body, &seq, &h1, &d), SHOAL_OK);
  assert_int_equal(seq, 1);
  assert_int_equal(shoal_db_commit(ctx.db, &d), SHOAL_OK);
  /* A rolled-back append leaves no gap. */
  assert_int_equal(shoal_db_begin(ctx.db, &d), SHOAL_OK);
  assert_int_equal(agent_outbox_append(&ctx, "sale", body, &seq, NULL, &d), SHOAL_OK);
  shoal_db_rollback(ctx.db);
  agent_ctx_close(&ctx);

  assert_int_equal(agent_ctx_open(&ctx, cfg, &d), SHOAL_OK);
  assert_string_equal(ctx.epoch, epoch);
  assert_int_equal(shoal_db_begin(ctx.db, &d), SHOAL_OK);
  assert_int_equal(agent_outbox_append(&ctx, "sale", body, &seq, &h2, &d), SHOAL_OK);
  assert_int_equal(shoal_db_commit(ctx.db, &d), SHOAL_OK);
  assert_int_equal(seq, 2);
  assert_true(h2 > h1);
  int64_t pending = 0;
  assert_int_equal(agent_outbox_pending(&ctx, &pending, &d), SHOAL_OK);
  assert_int_equal(pending, 2);
  /* Outbox bound (3): one more fits, the next is refused with a clear error. */
  assert_int_equal(shoal_db_begin(ctx.db, &d), SHOAL_OK);
  assert_int_equal(agent_outbox_append(&ctx, "sale", body, &seq, NULL, &d), SHOAL_OK);
  assert_int_equal(shoal_db_commit(ctx.db, &d), SHOAL_OK);
  assert_int_equal(shoal_db_begin(ctx.db, &d), SHOAL_OK);
  assert_int_equal(agent_outbox_append(&ctx, "sale", body, &seq, NULL, &d), SHOAL_EFULL);
  assert_non_null(strstr(d.msg, "outbox full"));
  shoal_db_rollback(ctx.db);
  cJSON_Delete(body);
  agent_ctx_close(&ctx);
}

static void test_db_policy_cache_effective_at_and_stale(void **state) {
  (void)state;
  const char *cfg = agent_config("agent2", PROFILE_SMALL_OUTBOX);
  struct agent_ctx ctx;
  shoal_diag d = {{0}};
  assert_int_equal(agent_ctx_open(&ctx, cfg, &d), SHOAL_OK);
  struct agent_policy_row r1 = {
      "region/cn-sw", 1,    NULL,    AGENT_POLICY_NO_TIME, AGENT_POLICY_NO_TIME, 5000,
      "{\"v\":1}",    NULL, "import"};
  struct agent_policy_row r2 = {"region/cn-sw",       2,     NULL,
                                AGENT_POLICY_NO_TIME, 10000, AGENT_POLICY_NO_TIME,
                                "{\"v\":2}",          NULL,  "import"};
  assert_int_equal(agent_policy_store(&ctx, &r1, &d), SHOAL_OK);
  assert_int_equal(agent_policy_store(&ctx, &r2, &d), SHOAL_OK);
  char *docs[3];
  int64_t versions[3];
  /* Before v2's effective time, v1 applies. */
  assert_int_equal(agent_policy_effective(&ctx, 9999, docs, versions, &d), SHOAL_OK);
  assert_int_equal(versions[1], 1);
  assert_string_equal(docs[1], "{\"v\":1}");
  assert_null(docs[0]);
  free(docs[1]);
  assert_int_equal(agent_policy_effective(&ctx, 10000, docs, versions, &d), SHOAL_OK);
  assert_int_equal(versions[1], 2);
  free(docs[1]);
  /* Status at 9999: v1 applies but is past its expiry (5000): stale. */
  cJSON *st = cJSON_CreateObject();
  assert_int_equal(agent_policy_status(&ctx, 9999, st, &d), SHOAL_OK);
  assert_int_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(st, "policies"), "region/cn-sw")->valueint, 1);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(st, "stale")), 1);
  assert_int_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(st, "pending_policies"), "region/cn-sw")->valueint,
      2);
  cJSON_Delete(st);
  int64_t latest = 0;
  assert_int_equal(agent_policy_latest(&ctx, "region/cn-sw", &latest, &d), SHOAL_OK);
  assert_int_equal(latest, 2);
  agent_ctx_close(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_db_migrations_apply_once_and_record_version),
      cmocka_unit_test(test_db_failed_migration_rolls_back),
      cmocka_unit_test(test_db_agent_epoch_fixed_and_seq_gapless),
      cmocka_unit_test(test_db_policy_cache_effective_at_and_stale),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
