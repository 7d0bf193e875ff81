/* bench_hq_api.c - the dashboard's API calls over a hub database holding
 * 1,000,000 sales (SPEC 14 / issue 12 target: p99 < 200 ms), and /healthz
 * latency while 10 heavy reports run at once (the HTTP server must never
 * let a report hold up /healthz).
 *
 * The sales are generated straight into SQLite (one transaction): 8
 * regions, 200 stores, 600 devices, spread over the last 30 days. Each
 * dashboard call is timed N times through the real server (libcurl, one
 * connection per request as a browser tab refresh would make it). The
 * same calls are timed first without the reporting index of migration
 * 0007 (the raw baseline), then with it.
 *
 * Usage: bench_hq_api [SALES] [REPS]   (defaults 1000000, 30) */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "hub_ctx.h"
#include "hub_http.h"
#include "shoal/db.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

#define TOKEN "bench-token"

static int g_port;

static size_t sink(char *p, size_t s, size_t n, void *u) {
  (void)p, (void)u;
  return s * n;
}

/* One GET; returns its wall time in ms (negative on failure). */
static double get_ms(const char *path, long *status) {
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  int64_t t0 = shoal_mono_ms();
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  CURLcode cc = curl_easy_perform(c);
  clock_gettime(CLOCK_MONOTONIC, &b);
  (void)t0;
  *status = 0;
  if (cc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (cc != CURLE_OK)
    return -1;
  return (double)(b.tv_sec - a.tv_sec) * 1000.0 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  int i = (int)(p * (n - 1) + 0.5);
  return v[i];
}

static void exec_or_die(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "bench: %s: %s\n", sql, err);
    exit(1);
  }
}

static void generate(sqlite3 *db, long nsales, int64_t now_ms) {
  exec_or_die(db, "BEGIN");
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db,
                     "INSERT INTO devices (device, store, region, online, last_hello_ms, "
                     "last_seen_ms, outbox_depth, policy_versions, epoch, hello_seq) "
                     "VALUES (?, ?, ?, 1, ?, ?, 0, '{\"global\":1}', 'e1', 1)",
                     -1, &st, NULL);
  for (int d = 0; d < 600; d++) {
    char dev[32], store[32], region[32];
    snprintf(dev, sizeof dev, "pos-%04d", d);
    snprintf(store, sizeof store, "store-%03d", d % 200);
    snprintf(region, sizeof region, "region-%d", (d % 200) % 8);
    sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, store, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, region, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_ms);
    sqlite3_bind_int64(st, 5, now_ms);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db,
                     "INSERT INTO sales (device, epoch, seq, store, region, receipt, at_ms, "
                     "subtotal, discount, rounding, total, body) "
                     "VALUES (?, 'e1', ?, ?, ?, NULL, ?, ?, 0, 0, ?, '{}')",
                     -1, &st, NULL);
  uint64_t x = 88172645463325252ULL;
  int64_t span = 30LL * 86400 * 1000;
  for (long i = 0; i < nsales; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int d = (int)(x % 600);
    char dev[32], store[32], region[32];
    snprintf(dev, sizeof dev, "pos-%04d", d);
    snprintf(store, sizeof store, "store-%03d", d % 200);
    snprintf(region, sizeof region, "region-%d", (d % 200) % 8);
    int64_t total = 500 + (int64_t)(x >> 40) % 20000;
    sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, i + 1);
    sqlite3_bind_text(st, 3, store, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, region, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, now_ms - span + (int64_t)((x >> 20) % (uint64_t)span));
    sqlite3_bind_int64(st, 6, total);
    sqlite3_bind_int64(st, 7, total);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  exec_or_die(db, "COMMIT");
  exec_or_die(db, "ANALYZE");
}

/* The dashboard's calls (hqui: fleet, sales charts, policies, rollouts, audit). */
static char g_calls[12][256];
static int g_ncalls;

static void set_calls(int64_t now_ms) {
  char from7[40], from1[40];
  shoal_time_format_utc(now_ms - 7LL * 86400 * 1000, from7, sizeof from7);
  shoal_time_format_utc(now_ms - 86400LL * 1000, from1, sizeof from1);
  const char *fmt[] = {
      "/api/v1/devices",
      "/api/v1/policies",
      "/api/v1/rollouts",
      "/api/v1/audit",
      "/api/v1/tickets",
      "/api/v1/reports/sales?by=hour&tz=%%2B08:00&from=%s",
      "/api/v1/reports/sales?by=region&from=%s",
      "/api/v1/reports/sales?by=store&from=%s",
      "/api/v1/reports/sales?by=region",
      "/api/v1/reports/sales?by=store",
  };
  const char *arg[] = {NULL, NULL, NULL, NULL, NULL, from1, from7, from7, NULL, NULL};
  g_ncalls = (int)(sizeof fmt / sizeof fmt[0]);
  for (int i = 0; i < g_ncalls; i++)
    snprintf(g_calls[i], sizeof g_calls[i], fmt[i], arg[i]);
}

static double run_calls(int reps, const char *label) {
  double worst = 0;
  printf("%s\n", label);
  double *v = malloc(sizeof *v * (size_t)reps);
  for (int c = 0; c < g_ncalls; c++) {
    long status = 0;
    for (int r = 0; r < reps; r++) {
      v[r] = get_ms(g_calls[c], &status);
      if (status != 200) {
        fprintf(stderr, "bench: %s -> %ld\n", g_calls[c], status);
        exit(1);
      }
    }
    double p50 = pct(v, reps, 0.5), p99 = pct(v, reps, 0.99);
    if (p99 > worst)
      worst = p99;
    printf("  %-62s p50 %8.1f ms  p99 %8.1f ms\n", g_calls[c], p50, p99);
  }
  free(v);
  printf("  worst p99 %.1f ms (target < 200)\n", worst);
  return worst;
}

/* The raw baseline: the sales report queries as they were before migration
 * 0007 (no covering index, no daily rollup), run straight on SQLite. */
static void run_baseline(sqlite3 *db, int64_t now_ms, int reps) {
  static const struct {
    const char *label, *sql;
    int64_t back_ms; /* from = now - back_ms; 0: all */
  } q[] = {
      {"by=hour (last 24 h)",
       "SELECT (at_ms / 3600000) * 3600000 AS h, region, COUNT(*), SUM(total) "
       "FROM sales WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY h, region ORDER BY h, region",
       86400000LL},
      {"by=region (last 7 days)",
       "SELECT region, COUNT(*), SUM(total) FROM sales WHERE at_ms >= "
       "?1 AND at_ms < ?2 GROUP BY region ORDER BY region",
       7 * 86400000LL},
      {"by=store (last 7 days)",
       "SELECT store, MAX(region), COUNT(*), SUM(total) FROM sales "
       "WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY store ORDER BY store",
       7 * 86400000LL},
      {"by=region (all)",
       "SELECT region, COUNT(*), SUM(total) FROM sales WHERE at_ms >= ?1 AND "
       "at_ms < ?2 GROUP BY region ORDER BY region",
       0},
      {"by=store (all)",
       "SELECT store, MAX(region), COUNT(*), SUM(total) FROM sales "
       "WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY store ORDER BY store",
       0},
  };
  printf("raw baseline (v1 queries, no covering index, no rollup; %d reps):\n", reps);
  double *v = malloc(sizeof *v * (size_t)reps);
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
    for (int r = 0; r < reps; r++) {
      sqlite3_stmt *st = NULL;
      struct timespec a, b;
      clock_gettime(CLOCK_MONOTONIC, &a);
      sqlite3_prepare_v2(db, q[i].sql, -1, &st, NULL);
      sqlite3_bind_int64(st, 1, q[i].back_ms ? now_ms - q[i].back_ms : INT64_MIN);
      sqlite3_bind_int64(st, 2, INT64_MAX);
      while (sqlite3_step(st) == SQLITE_ROW)
        ;
      sqlite3_finalize(st);
      clock_gettime(CLOCK_MONOTONIC, &b);
      v[r] = (double)(b.tv_sec - a.tv_sec) * 1000.0 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    }
    double p50 = pct(v, reps, 0.5), p99 = pct(v, reps, 0.99);
    printf("  %-62s p50 %8.1f ms  p99 %8.1f ms\n", q[i].label, p50, p99);
  }
  free(v);
}

static volatile int g_heavy_stop;

static void *heavy(void *arg) {
  (void)arg;
  long status;
  while (!g_heavy_stop)
    get_ms("/api/v1/reports/sales?by=device", &status);
  return NULL;
}

int main(int argc, char **argv) {
  long nsales = argc > 1 ? atol(argv[1]) : 1000000;
  int reps = argc > 2 ? atoi(argv[2]) : 30;
  char dir[] = "/tmp/bench-hq-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char path[600], text[1400];
  snprintf(path, sizeof path, "%s/token", dir);
  FILE *f = fopen(path, "w");
  fputs(TOKEN "\n", f);
  fclose(f);
  g_port = bench_free_port();
  snprintf(text, sizeof text,
           "{\"db\": \"%s/hub.db\", \"http\": {\"listen\": \"127.0.0.1:%d\", \"token_file\": "
           "\"%s/token\"}}",
           dir, g_port, dir);
  snprintf(path, sizeof path, "%s/hub.json", dir);
  f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  curl_global_init(CURL_GLOBAL_ALL);
  struct hub_ctx ctx = {0};
  shoal_diag d = {{0}};
  if (hub_ctx_open(&ctx, path, &d) != SHOAL_OK) {
    fprintf(stderr, "bench: %s\n", d.msg);
    return 1;
  }
  /* The bench measures SQLite (EXPLAIN, indexes): a raw handle of its own
   * on the hub's database file. */
  sqlite3 *raw = NULL;
  if (sqlite3_open(ctx.cfg.db, &raw) != SQLITE_OK) {
    fprintf(stderr, "bench: cannot open %s\n", ctx.cfg.db);
    return 1;
  }
  sqlite3_busy_timeout(raw, 10000);
  int64_t now = shoal_now_ms();
  int64_t t0 = shoal_mono_ms();
  generate(raw, nsales, now);
  printf("generated %ld sales in %.1f s\n", nsales, (double)(shoal_mono_ms() - t0) / 1000);
  set_calls(now);
  struct hub_http *http = NULL;
  if (hub_http_start(&ctx, &http, &d) != SHOAL_OK) {
    fprintf(stderr, "bench: %s\n", d.msg);
    return 1;
  }
  /* Raw baseline: without the covering index (and not using the rollup). */
  exec_or_die(raw, "DROP INDEX sales_by_time_cover");
  exec_or_die(raw, "ANALYZE");
  run_baseline(raw, now, reps > 5 ? 5 : reps);
  exec_or_die(raw,
              "CREATE INDEX sales_by_time_cover ON sales (at_ms, store, region, device, total)");
  exec_or_die(raw, "ANALYZE");
  hub_http_stop(http); /* fresh pool handles see the new index and statistics */
  http = NULL;
  if (hub_http_start(&ctx, &http, &d) != SHOAL_OK)
    return 1;
  double worst = run_calls(reps, "with migration 0007:");

  /* /healthz alone, then while 10 heavy reports run. */
  double hv[400];
  long status;
  for (int i = 0; i < 200; i++)
    hv[i] = get_ms("/healthz", &status);
  printf("/healthz idle:                 p50 %.2f ms  p99 %.2f ms\n", pct(hv, 200, 0.5),
         pct(hv, 200, 0.99));
  pthread_t th[10];
  for (int i = 0; i < 10; i++)
    pthread_create(&th[i], NULL, heavy, NULL);
  usleep(300 * 1000);
  for (int i = 0; i < 200; i++) {
    hv[i] = get_ms("/healthz", &status);
    usleep(10 * 1000);
  }
  g_heavy_stop = 1;
  for (int i = 0; i < 10; i++)
    pthread_join(th[i], NULL);
  printf("/healthz with 10 heavy reports: p50 %.2f ms  p99 %.2f ms\n", pct(hv, 200, 0.5),
         pct(hv, 200, 0.99));
  hub_http_stop(http);
  sqlite3_close(raw);
  hub_ctx_close(&ctx);
  curl_global_cleanup();
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench: could not remove %s\n", dir);
  return worst < 200 ? 0 : 2;
}
