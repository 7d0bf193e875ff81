/* test_hub_guard.c - what one device can do to the hub is bounded (issue
 * 16): dead letters keep a bounded excerpt plus the payload's size and
 * sha256, at most HUB_DEAD_LETTERS_PER_DEVICE rows per device (the rest
 * counted, also in /metrics), so 400 garbage messages of 250 KiB no longer
 * grow the database by 100 MB; and a sale whose region or store disagrees
 * with the device registry is dead-lettered instead of polluting reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_ctx.h"
#include "hub_ingestor.h"
#include "hub_metrics.h"
#include "shoal/crypto.h"
#include "store.h"
#include "test_util.h"

static shoal_err no_ack(void *user, const char *topic, const char *payload, size_t len,
                        shoal_diag *diag) {
  (void)user, (void)topic, (void)payload, (void)len, (void)diag;
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
  ctx->log.fn = NULL;
}

static int64_t q(struct hub_ctx *ctx, const char *sql) {
  int64_t v = -1;
  shoal_diag d = {{0}};
  assert_int_equal(hub_store_query_int(ctx->db, sql, -1, &v, &d), SHOAL_OK);
  return v;
}

static void put_n(struct hub_ingestor *ing, const char *topic, const char *payload, size_t len) {
  shoal_diag d = {{0}};
  assert_int_equal(hub_ingestor_handle(ing, topic, payload, len, false, &d), SHOAL_OK);
}

static void put(struct hub_ingestor *ing, const char *topic, const char *payload) {
  put_n(ing, topic, payload, strlen(payload));
}

static int64_t file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static int64_t db_bytes(struct hub_ctx *ctx) {
  char wal[1400];
  snprintf(wal, sizeof wal, "%s-wal", ctx->cfg.db);
  return file_size(ctx->cfg.db) + file_size(wal);
}

static void test_hub_guard_dead_letters_are_bounded(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "deadcap");
  assert_int_equal(hub_ingestor_new(&ctx, 50, no_ack, NULL, &ing, &d), SHOAL_OK);
  size_t big = 250 * 1024;
  char *junk = malloc(big);
  assert_non_null(junk);
  memset(junk, 'x', big);
  junk[0] = '{';
  int64_t before = db_bytes(&ctx);
  for (int i = 0; i < 400; i++) {
    junk[1] = (char)('a' + i % 26); /* not valid JSON either way */
    put_n(ing, "shoal/v1/up/s1/bad1", junk, big);
  }
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  int64_t grown = db_bytes(&ctx) - before;
  /* Before: ~100 MB. Now each row keeps an excerpt; allow 4 MB in all. */
  assert_true(grown < 4 * 1024 * 1024);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE device = 'bad1'"), 400);
  assert_true(q(&ctx, "SELECT MAX(length(payload)) FROM dead_letters") <= HUB_DEAD_EXCERPT_BYTES);
  assert_int_equal(q(&ctx, "SELECT MIN(payload_bytes) FROM dead_letters"), (int64_t)big);
  /* The hash is of the whole payload, so the evidence can be matched. */
  junk[1] = 'a';
  char hex[65], sql[256];
  shoal_sha256_hex(junk, big, hex);
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM dead_letters WHERE payload_sha256 = '%s'", hex);
  assert_true(q(&ctx, sql) >= 1);

  /* Past the per-device cap rows are no longer written, only counted. */
  int extra = HUB_DEAD_LETTERS_PER_DEVICE - 400 + 37;
  for (int i = 0; i < extra; i++)
    put(ing, "shoal/v1/up/s1/bad1", "not json");
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE device = 'bad1'"),
                   HUB_DEAD_LETTERS_PER_DEVICE);
  assert_int_equal(q(&ctx, "SELECT count FROM dead_letters_dropped WHERE device = 'bad1'"), 37);
  /* Another device's dead letters are still kept. */
  put(ing, "shoal/v1/up/s1/other", "not json either");
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE device = 'other'"), 1);
  struct hub_ingestor_stats st;
  hub_ingestor_stats(ing, &st);
  assert_int_equal(st.dead_letters, (uint64_t)(400 + extra + 1));

  char *m = NULL;
  size_t mlen = 0;
  assert_int_equal(hub_metrics_render(ctx.db, 0, &m, &mlen, &d), SHOAL_OK);
  char want[128];
  snprintf(want, sizeof want, "shoal_dead_letters_total %d\n", 400 + extra + 1);
  assert_non_null(strstr(m, want));
  assert_non_null(strstr(m, "shoal_dead_letters_dropped_total 37\n"));
  free(m);
  free(junk);
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

static char *sale(const char *device, const char *store, const char *region, const char *epoch,
                  int seq) {
  static char buf[4][1024];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, 1024,
           "{\"v\":1,\"device\":\"%s\",\"store\":\"%s\",\"epoch\":\"%s\",\"seq\":%d,"
           "\"hlc\":%d,\"type\":\"sale\",\"body\":{\"receipt\":\"r%d\",\"region\":\"%s\","
           "\"store\":\"%s\",\"at\":\"2026-03-01T10:00:00+08:00\",\"currency\":\"CNY\","
           "\"subtotal\":100,\"discount\":0,\"rounding\":0,\"total\":100,\"lines\":[]}}",
           device, store, epoch, seq, 1000 + seq, seq, region, store);
  return b;
}

static void test_hub_guard_sale_region_must_match_registry(void **state) {
  (void)state;
  struct hub_ctx ctx;
  struct hub_ingestor *ing = NULL;
  shoal_diag d = {{0}};
  open_ctx(&ctx, "region");
  /* pos1 provisioned in s1/cn-sw; pos2 unprovisioned, said hello from cn-east. */
  assert_int_equal(hub_store_exec(ctx.db,
                                  "INSERT INTO provisioned_devices (device, store, region, "
                                  "cert_serial, issued_ms) VALUES ('pos1', 's1', 'cn-sw', '01', 1)",
                                  &d),
                   SHOAL_OK);
  assert_int_equal(hub_ingestor_new(&ctx, 50, no_ack, NULL, &ing, &d), SHOAL_OK);
  put(ing, "shoal/v1/up/s1/pos1", sale("pos1", "s1", "cn-sw", "5", 1));
  put(ing, "shoal/v1/up/s1/pos1", sale("pos1", "s1", "cn-east", "5", 2));
  /* The registry says pos1 is in store s1: a sale on store s9's topic is refused. */
  put(ing, "shoal/v1/up/s9/pos1", sale("pos1", "s9", "cn-sw", "55", 1));
  put(ing, "shoal/v1/up/s2/pos2",
      "{\"v\":1,\"device\":\"pos2\",\"store\":\"s2\",\"epoch\":\"6\",\"seq\":1,\"hlc\":1,"
      "\"type\":\"hello\",\"body\":{\"region\":\"cn-east\"}}");
  put(ing, "shoal/v1/up/s2/pos2",
      "{\"v\":1,\"device\":\"pos2\",\"store\":\"s2\",\"epoch\":\"6\",\"seq\":2,\"hlc\":2,"
      "\"type\":\"sale\",\"body\":{\"receipt\":\"q2\",\"region\":\"cn-sw\",\"store\":\"s2\","
      "\"at\":\"2026-03-01T10:00:00+08:00\",\"subtotal\":1,\"discount\":0,\"rounding\":0,"
      "\"total\":1,\"lines\":[]}}");
  /* A hello claiming another region than the provisioned one is refused too. */
  put(ing, "shoal/v1/up/s1/pos1",
      "{\"v\":1,\"device\":\"pos1\",\"store\":\"s1\",\"epoch\":\"5\",\"seq\":3,\"hlc\":3,"
      "\"type\":\"hello\",\"body\":{\"region\":\"cn-east\"}}");
  assert_int_equal(hub_ingestor_flush(ing, &d), SHOAL_OK);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales"), 1);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM sales WHERE device = 'pos1' AND seq = 1 AND "
                           "region = 'cn-sw'"),
                   1);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE reason LIKE '%region%'"), 3);
  assert_int_equal(q(&ctx, "SELECT COUNT(*) FROM dead_letters WHERE reason LIKE '%store%s9%' OR "
                           "reason LIKE '%s9%store%'"),
                   1);
  /* Refused events still consume their identity: the stream keeps moving. */
  assert_int_equal(q(&ctx, "SELECT upto FROM streams WHERE device = 'pos1' AND epoch = '5'"), 3);
  hub_ingestor_free(ing);
  hub_ctx_close(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_guard_dead_letters_are_bounded),
      cmocka_unit_test(test_hub_guard_sale_region_must_match_registry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
