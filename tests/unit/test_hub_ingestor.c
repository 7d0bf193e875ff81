/* test_hub_ingestor.c - the hub's exactly-once ingest engine, driven
 * without MQTT: identities stored once, acks only after commit and
 * cumulative over gaps, a rolled-back batch acks nothing and stores
 * nothing, bad input dead-lettered (and identity kept only when the topic
 * matches the envelope; an unknown event type too), batches commit when
 * full, hello and presence reach the registry, policy versions are
 * assigned per scope, and running out of memory while reading an event is
 * an error (the batch rolls back), never a dead letter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "hub_ctx.h"
#include "hub_devices.h"
#include "hub_ingestor.h"
#include "hub_publish.h"
#include "shoal/crypto.h"
#include "shoal/util.h"
#include "store.h"
#include "test_util.h"

#define MAX_ACKS 64

struct acks {
  int n;
  char topic[MAX_ACKS][SHOAL_TOPIC_MAX];
  char payload[MAX_ACKS][128];
  hub_store *db;   /* if set, check each ack's upto is committed */
  int uncommitted; /* acks sent for something not yet visible elsewhere */
};

static shoal_err record_ack(void *user, const char *topic, const char *payload, size_t len,
                            shoal_diag *diag) {
  (void)diag;
  struct acks *a = user;
  if (a->n < MAX_ACKS) {
    snprintf(a->topic[a->n], sizeof a->topic[0], "%s", topic);
    snprintf(a->payload[a->n], sizeof a->payload[0], "%.*s", (int)len, payload);
  }
  a->n++;
  if (a->db) {
    /* A second connection sees only committed data. */
    int64_t upto = -1;
    shoal_diag d = {{0}};
    hub_store_query_int(a->db, "SELECT MAX(upto) FROM streams", -1, &upto, &d);
    if (upto < 0)
      a->uncommitted++;
  }
  return SHOAL_OK;
}

static int ctx_n;

static void open_ctx(struct hub_ctx *ctx, const char *name) {
  char cfg[1400], dbp[1200];
  snprintf(dbp, sizeof dbp, "%s/%s-%d.db", test_tmpdir(), name, ctx_n++);
  snprintf(cfg, sizeof cfg, "{\"db\": \"%s\"}", dbp);
  char fname[128];
  snprintf(fname, sizeof fname, "%s-%d.json", name, ctx_n);
  shoal_diag d = {{0}};
  assert_int_equal(hub_ctx_open(ctx, test_write_file(fname, cfg), &d), SHOAL_OK);
  ctx->log.fn = NULL; /* quiet */
}

static char *sale_event(const char *device, const char *store, const char *epoch, int seq,
                        int total) {
  static char buf[4][1024];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, 1024,
           "{\"v\":1,\"device\":\"%s\",\"store\":\"%s\",\"epoch\":\"%s\",\"seq\":%d,"
           "\"hlc\":%d,\"type\":\"sale\",\"body\":{\"receipt\":\"r%d\",\"region\":\"cn-sw\","
           "\"store\":\"%s\",\"at\":\"2026-03-01T10:00:00+08:00\",\"currency\":\"CNY\","
           "\"subtotal\":%d,\"discount\":0,\"rounding\":0,\"total\":%d,\"lines\":[],"
           "\"applied\":[],\"coupons\":{\"accepted\":[],\"rejected\":[]},\"policy_versions\":{}}}",
           device, store, epoch, seq, 1000 + seq, seq, store, total, total);
  return b;
}

static void put(struct hub_ingestor *ing, const char *topic, const char *payload) {
  shoal_diag d = {{0}};
  assert_int_equal(hub_ingestor_handle(ing, topic, payload, strlen(payload), false, &d), SHOAL_OK);
}

static int64_t q(struct hub_ctx *ctx, const char *sql) {
  int64_t v = -1;
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_query_int(ctx->db, sql, -1, &v, &d), SHOAL_OK);
  return v;
}

static const char *UP = "shoal/v1/up/s1/d1";

static void test_hub_ingestor_dedupes_and_acks_after_commit(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "dedupe");
  assert_int_equal(hub_store_open_again(ctx.db, &acks.db, &d), SHOAL_OK);
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  put(ing, UP, sale_event("d1", "s1", "77", 1, 500));
  put(ing, UP, sale_event("d1", "s1", "77", 2, 700));
  put(ing, UP, sale_event("d1", "s1", "77", 1, 500)); /* redelivered in the same batch */
  assert_int_equal(acks.n, 0);                        /* nothing acked before commit */
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(acks.n, 1);
  assert_int_equal(acks.uncommitted, 0);
  assert_string_equal(acks.topic[0], "shoal/v1/ack/s1/d1");
  assert_string_equal(acks.payload[0], "{\"epoch\":\"77\",\"upto\":2}");
  put(ing, UP, sale_event("d1", "s1", "77", 2, 700)); /* redelivered later */
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(acks.n, 2);
  assert_string_equal(acks.payload[1], "{\"epoch\":\"77\",\"upto\":2}");
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales"), 2);
  assert_int_equal(q(&ctx, "SELECT SUM(total) FROM sales"), 1200);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM events"), 2);
  assert_int_equal(q(&ctx, "SELECT last_event_ms > 0 FROM devices WHERE device = 'd1'"), 1);
  struct hub_ingestor_stats st;
  hub_ingestor_stats(ing, &st);
  assert_int_equal(st.stored, 2);
  assert_int_equal(st.duplicates, 2);
  hub_ingestor_free(ing);
  hub_store_close(acks.db);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_stores_sale_body_as_sent(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "raw");
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  const char *body =
      "{ \"receipt\" : \"r\\\"1}\", \"region\":\"cn-sw\",\"store\":\"s1\","
      "\"at\":\"2026-03-01T10:00:00+08:00\",\"subtotal\":1.0e3,\"discount\":0,\"rounding\":0,"
      "\"total\":1000,\"lines\":[{\"sku\":\"A]\",\"qty\":1}],\"x\":{\"body\":[]}}";
  char ev[2048];
  snprintf(ev, sizeof ev,
           "{\"v\":1,\"bodyx\":{\"a\":\"}\"},\"device\":\"d1\",\"store\":\"s1\",\"epoch\":\"8\","
           "\"seq\":1,\"hlc\":5,\"type\":\"sale\",\n \"body\" :\t%s }",
           body);
  put(ing, UP, ev);
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  hub_stmt *st = NULL;
  assert_int_equal(hub_store_prepare(ctx.db, "SELECT body, total FROM sales", &st, &d), SHOAL_OK);
  assert_int_equal(hub_store_step(st), HUB_STORE_ROW);
  assert_string_equal((const char *)hub_store_column_text(st, 0), body);
  assert_int_equal(hub_store_column_int64(st, 1), 1000);
  hub_store_finalize(st);
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_gap_holds_upto(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "gap");
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  put(ing, UP, sale_event("d1", "s1", "5", 1, 1));
  put(ing, UP, sale_event("d1", "s1", "5", 3, 1));
  put(ing, UP, sale_event("d1", "s1", "5", 4, 1));
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_string_equal(acks.payload[0], "{\"epoch\":\"5\",\"upto\":1}");
  /* The gap fills in a later batch: upto jumps over what was stored above it. */
  put(ing, UP, sale_event("d1", "s1", "5", 2, 1));
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_string_equal(acks.payload[1], "{\"epoch\":\"5\",\"upto\":4}");
  assert_int_equal(q(&ctx, "SELECT upto FROM streams WHERE device = 'd1'"), 4);
  hub_ingestor_free(ing);
  /* A new engine (a restarted hub) continues from the stored watermark. */
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  put(ing, UP, sale_event("d1", "s1", "5", 6, 1));
  put(ing, UP, sale_event("d1", "s1", "5", 5, 1));
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_string_equal(acks.payload[2], "{\"epoch\":\"5\",\"upto\":6}");
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_abort_stores_and_acks_nothing(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "abort");
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  put(ing, UP, sale_event("d1", "s1", "9", 1, 100));
  hub_ingestor_abort(ing); /* a crash before commit, as far as the database knows */
  assert_int_equal(acks.n, 0);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM events"), 0);
  put(ing, UP, sale_event("d1", "s1", "9", 1, 100)); /* the resend is new, not a duplicate */
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales"), 1);
  assert_string_equal(acks.payload[0], "{\"epoch\":\"9\",\"upto\":1}");
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_dead_letters_bad_input(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "dead");
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  put(ing, UP, sale_event("d1", "s1", "3", 1, 100));
  put(ing, UP, "{\"v\":1");                                           /* malformed */
  put(ing, "shoal/v1/up/s2/d1", sale_event("d1", "s1", "3", 2, 100)); /* wrong store topic */
  /* A sale whose total does not add up: refused, but its identity is used. */
  char bad[1200];
  snprintf(bad, sizeof bad, "%s", sale_event("d1", "s1", "3", 2, 100));
  char *t = strstr(bad, "\"total\":100");
  assert_non_null(t);
  memcpy(t, "\"total\":999", 11);
  put(ing, UP, bad);
  static char big[SHOAL_EVENT_MAX_BYTES + 10];
  memset(big, 'x', sizeof big - 1);
  put(ing, UP, big); /* oversized */
  put(ing, UP, sale_event("d1", "s1", "3", 3, 100));
  put(ing, "shoal/v1/up/s1/d1/extra", sale_event("d1", "s1", "3", 4, 100)); /* bad topic */
  put(ing, "shoal/v1/up/s#1/d1", sale_event("d1", "s1", "3", 4, 100));
  put(ing, "other/v1/up/s1/d1", sale_event("d1", "s1", "3", 4, 100)); /* not ours: ignored */
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE reason LIKE '%topic is not%'"),
                   2);
  assert_int_equal(q(&ctx, "DELETE FROM dead_letters WHERE reason LIKE '%topic is not%'"), -1);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters"), 4);
  assert_int_equal(
      q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE seq = 2 AND reason LIKE '%total%'"), 1);
  assert_int_equal(q(&ctx, "SELECT length(payload) FROM dead_letters WHERE reason LIKE '%limit%'"),
                   HUB_DEAD_EXCERPT_BYTES);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales"), 2);
  assert_int_equal(q(&ctx, "SELECT upto FROM streams WHERE device = 'd1'"), 3);
  /* The mismatched topic did not consume an identity in its own name. */
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM events WHERE store = 's2'"), 0);
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

/* An event type the protocol does not define (so no row of the hub's
 * event-handler table) is refused as malformed when the envelope is
 * decoded: dead-lettered naming the type, no identity used (the stream
 * holds at the gap it leaves), the ack repeats what is held; its
 * neighbours are stored. */
static void test_hub_ingestor_unknown_type_dead_lettered(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "unknown");
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  put(ing, UP, sale_event("d1", "s1", "5", 1, 100));
  char odd[1200];
  snprintf(odd, sizeof odd, "%s", sale_event("d1", "s1", "5", 2, 100));
  char *t = strstr(odd, "\"type\":\"sale\"");
  assert_non_null(t);
  memcpy(t, "\"type\":\"sole\"", 13);
  put(ing, UP, odd);
  put(ing, UP, sale_event("d1", "s1", "5", 3, 100));
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters"), 1);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE seq IS NULL AND "
                           "reason LIKE 'malformed event%sole%'"),
                   1);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales"), 2);
  assert_int_equal(q(&ctx, "SELECT upto FROM streams WHERE device = 'd1'"), 1);
  assert_int_equal(acks.n, 1);
  assert_string_equal(acks.payload[0], "{\"epoch\":\"5\",\"upto\":1}");
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_poison_event_dead_lettered_after_tries(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "poison");
  /* Storing receipt r2 fails with a database error (not bad input). */
  assert_int_equal(
      hub_store_exec(ctx.db,
                     hub_store_dialect(ctx.db) == HUB_STORE_PG
                         ? "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                           "IF NEW.receipt = 'r2' THEN RAISE EXCEPTION 'boom'; END IF; "
                           "RETURN NEW; END; $$ LANGUAGE plpgsql; "
                           "CREATE TRIGGER poison BEFORE INSERT ON sales FOR EACH ROW "
                           "EXECUTE FUNCTION poison()"
                         : "CREATE TRIGGER poison BEFORE INSERT ON sales "
                           "WHEN NEW.receipt = 'r2' BEGIN SELECT RAISE(ABORT, 'boom'); END",
                     &d),
      SHOAL_OK);
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  for (int attempt = 1; attempt <= HUB_INGEST_POISON_TRIES; attempt++) {
    put(ing, UP, sale_event("d1", "s1", "2", 1, 10));
    const char *e2 = sale_event("d1", "s1", "2", 2, 10);
    assert_int_not_equal(hub_ingestor_handle(ing, UP, e2, strlen(e2), false, &d), SHOAL_OK);
    assert_non_null(strstr(d.msg, "boom"));
    assert_int_equal(acks.n, 0); /* the batch rolled back: nothing acked */
    assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM events"), 0);
  }
  /* The next delivery no longer blocks the device (or the batch it is in). */
  put(ing, UP, sale_event("d1", "s1", "2", 1, 10));
  put(ing, UP, sale_event("d1", "s1", "2", 2, 10));
  put(ing, UP, sale_event("d1", "s1", "2", 3, 10));
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_string_equal(acks.payload[0], "{\"epoch\":\"2\",\"upto\":3}");
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales"), 2);
  assert_int_equal(q(&ctx, "SELECT seq FROM dead_letters WHERE reason LIKE '%tries%'"), 2);
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_commits_when_batch_full(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "full");
  assert_int_equal(hub_ingestor_new(&ctx, 3, record_ack, &acks, &ing, &d), SHOAL_OK);
  for (int i = 1; i <= 7; i++)
    put(ing, UP, sale_event("d1", "s1", "1", i, 10));
  assert_int_equal(acks.n, 2); /* two full batches of 3 committed and acked */
  assert_string_equal(acks.payload[1], "{\"epoch\":\"1\",\"upto\":6}");
  struct hub_ingestor_stats st;
  hub_ingestor_stats(ing, &st);
  assert_int_equal(st.batches, 2);
  hub_ingestor_free(ing); /* the 7th rolls back: never acked */
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales"), 6);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_hello_and_presence_fill_registry(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "hello");
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  put(ing, UP,
      "{\"v\":1,\"device\":\"d1\",\"store\":\"s1\",\"epoch\":\"4\",\"seq\":1,\"hlc\":1,"
      "\"type\":\"hello\",\"body\":{\"profile\":\"kiosk\",\"region\":\"cn-e\",\"outbox_depth\":12,"
      "\"agent_version\":\"0.1.0\",\"policies\":{\"global\":2}}}");
  /* A retained presence replayed at subscribe time says nothing about when. */
  shoal_diag pd = {{0}};
  const char *ret = "{\"online\":true}";
  assert_int_equal(hub_ingestor_handle(ing, "shoal/v1/presence/s1/d9", ret, strlen(ret), true, &pd),
                   SHOAL_OK);
  put(ing, "shoal/v1/presence/s1/d1", "{\"online\":true}");
  /* A hello with a wrong type is dead-lettered, not half-applied. */
  put(ing, UP,
      "{\"v\":1,\"device\":\"d1\",\"store\":\"s1\",\"epoch\":\"4\",\"seq\":2,\"hlc\":2,"
      "\"type\":\"hello\",\"body\":{\"profile\":\"pos\",\"outbox_depth\":\"many\"}}");
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(q(&ctx, "SELECT outbox_depth FROM devices WHERE device = 'd1'"), 12);
  assert_int_equal(q(&ctx, "SELECT online FROM devices WHERE device = 'd1'"), 1);
  assert_int_equal(q(&ctx, "SELECT online FROM devices WHERE device = 'd9'"), 1);
  assert_int_equal(q(&ctx, "SELECT last_seen_ms IS NULL FROM devices WHERE device = 'd9'"), 1);
  assert_int_equal(q(&ctx, "SELECT last_seen_ms > 0 FROM devices WHERE device = 'd1'"), 1);
  assert_int_equal(
      q(&ctx, "SELECT profile = 'kiosk' AND region = 'cn-e' FROM devices WHERE device = 'd1'"), 1);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE reason LIKE '%outbox_depth%'"),
                   1);
  assert_string_equal(acks.payload[0], "{\"epoch\":\"4\",\"upto\":2}");
  cJSON *list = NULL;
  assert_int_equal(hub_devices_list(ctx.db, &list, &d), SHOAL_OK);
  assert_int_equal(cJSON_GetArraySize(list), 2);
  cJSON *dev = cJSON_GetArrayItem(list, 0);
  assert_string_equal(cJSON_GetObjectItem(dev, "device")->valuestring, "d1");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(dev, "online")));
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(dev, "policies"), "global")->valueint,
                   2);
  cJSON_Delete(list);
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

static void test_hub_ingestor_publish_record_versions_per_scope(void **state) {
  (void)state;
  struct hub_ctx ctx;
  shoal_diag d = {{0}};
  char *priv = NULL, *pub = NULL;
  open_ctx(&ctx, "publish");
  assert_int_equal(shoal_key_generate(&priv, &pub, &d), SHOAL_OK);
  ctx.cfg.signing_key = shoal_strdup(test_write_file("key.pem", priv));
  const char *doc = "{\"scope\":\"region/cn-sw\"}";
  struct hub_published p;
  for (int v = 1; v <= 2; v++) {
    memset(&p, 0, sizeof p);
    assert_int_equal(hub_publish_record(ctx.db, &ctx.cfg, doc, strlen(doc), NULL, NULL, &p, &d),
                     SHOAL_OK);
    assert_int_equal(p.version, v);
    assert_string_equal(p.topic, "shoal/v1/policy/region/cn-sw");
    assert_non_null(strstr(p.envelope, "\"sig\""));
    hub_published_cleanup(&p);
  }
  const char *g = "{\"scope\":\"global\"}";
  memset(&p, 0, sizeof p);
  assert_int_equal(
      hub_publish_record(ctx.db, &ctx.cfg, g, strlen(g), "2030-01-01T00:00:00Z", NULL, &p, &d),
      SHOAL_OK);
  assert_int_equal(p.version, 1);
  hub_published_cleanup(&p);
  /* Invalid: named, exit-3 class, nothing recorded. */
  const char *bad = "{\"scope\":\"region/cn-sw\",\"bogus\":1}";
  assert_int_equal(hub_publish_record(ctx.db, &ctx.cfg, bad, strlen(bad), NULL, NULL, &p, &d),
                   SHOAL_EINPUT);
  assert_non_null(strstr(d.msg, "bogus"));
  assert_int_equal(hub_publish_record(ctx.db, &ctx.cfg, doc, strlen(doc), "2030-02-01T00:00:00Z",
                                      "2030-01-01T00:00:00Z", &p, &d),
                   SHOAL_EINPUT);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM policies"), 3);
  shoal_secure_free(priv);
  free(pub);
  hub_ctx_close(&ctx);
}

/* cJSON allocation n (from arming) fails; 0: none does. */
static long oom_at, oom_count;
static bool oom_hit;
static void *oom_malloc(size_t n) {
  if (oom_at && ++oom_count == oom_at) {
    oom_hit = true;
    return NULL;
  }
  return malloc(n);
}

/* A valid event is never dead-lettered because memory ran out while it was
 * read: each cJSON allocation of one sale's handling fails in turn, and the
 * event is either stored or refused with an error (the batch rolls back,
 * nothing is acked, the device resends); the dead letters stay empty. */
static void test_hub_ingestor_out_of_memory_is_not_bad_input(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct acks acks = {0};
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "oom");
  assert_int_equal(hub_ingestor_new(&ctx, 100, record_ack, &acks, &ing, &d), SHOAL_OK);
  cJSON_Hooks hooks = {oom_malloc, free};
  bool stored_clean = false;
  int failed = 0;
  for (long n = 1; n < 400 && !stored_clean; n++) {
    char dev[16], topic[64];
    snprintf(dev, sizeof dev, "f%ld", n);
    snprintf(topic, sizeof topic, "shoal/v1/up/s1/%s", dev);
    const char *ev = sale_event(dev, "s1", "5", 1, 100);
    cJSON_InitHooks(&hooks);
    oom_at = n;
    oom_count = 0;
    oom_hit = false;
    shoal_err rc = hub_ingestor_handle(ing, topic, ev, strlen(ev), false, &d);
    oom_at = 0;
    cJSON_InitHooks(NULL);
    if (rc == SHOAL_OK)
      assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
    else
      failed++;
    if (q(&ctx, "SELECT COUNT(*) FROM dead_letters") != 0)
      fail_msg("allocation %ld failing dead-lettered a valid event", n);
    stored_clean = !oom_hit;
  }
  assert_true(stored_clean); /* the loop reached a run with no failure */
  assert_true(failed > 0);   /* and some failures were refused, not absorbed */
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_ingestor_dedupes_and_acks_after_commit),
      cmocka_unit_test(test_hub_ingestor_stores_sale_body_as_sent),
      cmocka_unit_test(test_hub_ingestor_gap_holds_upto),
      cmocka_unit_test(test_hub_ingestor_abort_stores_and_acks_nothing),
      cmocka_unit_test(test_hub_ingestor_dead_letters_bad_input),
      cmocka_unit_test(test_hub_ingestor_unknown_type_dead_lettered),
      cmocka_unit_test(test_hub_ingestor_poison_event_dead_lettered_after_tries),
      cmocka_unit_test(test_hub_ingestor_commits_when_batch_full),
      cmocka_unit_test(test_hub_ingestor_hello_and_presence_fill_registry),
      cmocka_unit_test(test_hub_ingestor_publish_record_versions_per_scope),
      cmocka_unit_test(test_hub_ingestor_out_of_memory_is_not_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
