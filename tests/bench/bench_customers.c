/* bench_customers.c - customers and orders at scale (SPEC 13): a hub
 * database with N customers (default 100k) and M ledger entries (default
 * 1M), then
 *   1. points balance lookup: GET /api/v1/customers/{id}?... through the
 *      hub's HTTP server (profile + points + timeline), p50/p99 over random ids;
 *   2. order ingest: POST /api/v1/orders over C concurrent keep-alive
 *      connections (bearer), orders/s with every order durable before its
 *      201: first the raw baseline (orders.batch_max 1: one COMMIT, one
 *      fsync, per order), then group commit (the default batch_max), with
 *      the mean batch size.
 * Prints figures; asserts nothing about speed.
 * usage: bench_customers [--customers N] [--ledger M] [--orders K] [--conns C] [--dir DIR] */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "hub_ctx.h"
#include "hub_http.h"
#include "hub_orders.h"
#include "shoal/util.h"
#include "store.h"

static void die(const char *m) {
  fprintf(stderr, "bench_customers: %s\n", m);
  exit(1);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void exec(hub_store *db, const char *sql) {
  shoal_diag d = {{0}};
  if (hub_store_exec(db, sql, &d) != SHOAL_OK) {
    fprintf(stderr, "%s\n", d.msg);
    die("sql");
  }
}

static void seed(hub_store *db, long customers, long ledger) {
  exec(db, "BEGIN");
  hub_stmt *c = NULL, *l = NULL;
  shoal_diag d = {{0}};
  if (hub_store_prepare(db,
                        "INSERT INTO customers (id, name, phone, tier, tags, points, created_ms, "
                        "updated_ms) VALUES (?, 'Name', ?, 'gold', '[\"tea\"]', ?, 0, 0)",
                        &c, &d) ||
      hub_store_prepare(db,
                        "INSERT INTO loyalty_ledger (event, kind, customer, points, at_ms, ref) "
                        "VALUES (?, 'earn', ?, 10, ?, 'r')",
                        &l, &d))
    die(d.msg);
  long per = ledger / customers, extra = ledger % customers;
  for (long i = 0; i < customers; i++) {
    char id[32], phone[32];
    snprintf(id, sizeof id, "C%07ld", i);
    snprintf(phone, sizeof phone, "+86139%08ld", i);
    long n = per + (i < extra ? 1 : 0);
    hub_store_reset(c);
    hub_store_bind_text(c, 1, id, -1, HUB_STORE_TRANSIENT);
    hub_store_bind_text(c, 2, phone, -1, HUB_STORE_TRANSIENT);
    hub_store_bind_int64(c, 3, n * 10);
    if (hub_store_step(c) != HUB_STORE_DONE)
      die("insert customer");
    for (long k = 0; k < n; k++) {
      char ev[64];
      snprintf(ev, sizeof ev, "sale:seed/%ld/%ld", i, k);
      hub_store_reset(l);
      hub_store_bind_text(l, 1, ev, -1, HUB_STORE_TRANSIENT);
      hub_store_bind_text(l, 2, id, -1, HUB_STORE_TRANSIENT);
      hub_store_bind_int64(l, 3, k * 1000);
      if (hub_store_step(l) != HUB_STORE_DONE)
        die("insert ledger");
    }
  }
  hub_store_finalize(c);
  hub_store_finalize(l);
  exec(db, "COMMIT");
}

/* One keep-alive HTTP/1.1 request; returns the status (0 on error). */
static int http(int fd, const char *method, const char *path, const char *body, char *buf,
                size_t cap) {
  /* Head and body in one write: two small writes meet Nagle and delayed
   * ACK and measure 40 ms timers, not the hub. */
  char head[2048];
  size_t blen = body ? strlen(body) : 0;
  int n = snprintf(head, sizeof head,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer bench-token\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   method, path, blen, body ? body : "");
  if (n >= (int)sizeof head || write(fd, head, (size_t)n) != n)
    return 0;
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, cap - 1 - got);
    if (r <= 0)
      return 0;
    got += (size_t)r;
    buf[got] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end)
      continue;
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t want = (size_t)(end - buf) + 4 + (cl ? strtoul(cl + 15, NULL, 10) : 0);
    while (got < want && got < cap - 1) {
      r = read(fd, buf + got, cap - 1 - got);
      if (r <= 0)
        return 0;
      got += (size_t)r;
    }
    return atoi(buf + 9);
  }
}

static int connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
    die("connect");
  return fd;
}

struct worker {
  int port, from, to, failures;
  const char *prefix;
};

static void *order_worker(void *arg) {
  struct worker *w = arg;
  int fd = connect_port(w->port);
  static __thread char buf[65536];
  for (int i = w->from; i < w->to; i++) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"channel\":\"tmall\",\"order_id\":\"%s-%d\",\"status\":\"paid\","
             "\"paid_at\":\"2026-12-05T12:00:00Z\",\"customer\":\"C%07d\",\"lines\":[{\"sku\":"
             "\"TEA-1\",\"qty\":1,\"total\":5000},{\"sku\":\"CUP-1\",\"qty\":2,\"total\":3000}],"
             "\"total\":8000}",
             w->prefix, i, i % 100000);
    if (http(fd, "POST", "/api/v1/orders", body, buf, sizeof buf) != 201)
      w->failures++;
  }
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  long customers = 100000, ledger = 1000000;
  int orders = 20000, conns = 32, lookups = 20000;
  char dir[PATH_MAX] = "";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--customers") == 0)
      customers = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--ledger") == 0)
      ledger = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--orders") == 0)
      orders = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--conns") == 0)
      conns = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--dir") == 0)
      snprintf(dir, sizeof dir, "%s", argv[i + 1]);
    else
      die("usage: bench_customers [--customers N] [--ledger M] [--orders K] [--conns C] [--dir D]");
  }
  if (customers < 1 || ledger < 0 || orders < conns || conns < 1 || conns > 32)
    die("bad arguments");
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/shoal-bench-customers-XXXXXX");
    if (!mkdtemp(dir))
      die("mkdtemp");
  }
  char dbp[PATH_MAX + 16], tok[PATH_MAX + 16], listen[64];
  snprintf(dbp, sizeof dbp, "%s/hub.db", dir);
  snprintf(tok, sizeof tok, "%s/token", dir);
  FILE *f = fopen(tok, "w");
  if (!f)
    die("token file");
  fputs("bench-token\n", f);
  fclose(f);
  shoal_diag d = {{0}};
  hub_store *db = NULL;
  if (hub_store_open(dbp, &db, &d) != SHOAL_OK)
    die(d.msg);
  int64_t t0 = now_us();
  seed(db, customers, ledger);
  printf("seeded %ld customers, %ld ledger entries in %.1f s\n", customers, ledger,
         (double)(now_us() - t0) / 1e6);
  exec(db, "INSERT INTO policies (scope, version, issued_at, doc, envelope, published_ms) VALUES "
           "('global', 1, '2026-01-01T00:00:00Z', '{\"scope\":\"global\",\"items\":[{\"sku\":"
           "\"TEA-1\",\"price\":5000},{\"sku\":\"CUP-1\",\"price\":1500}],\"loyalty\":{"
           "\"earn_per\":100,\"redeem_value\":10}}', '{}', 0)");

  struct hub_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  int port = bench_free_port();
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  ctx.cfg.db = dbp;
  ctx.cfg.http_listen = listen;
  ctx.cfg.http_token_file = tok;
  ctx.db = db;
  struct hub_http *srv = NULL;
  if (hub_http_start(&ctx, &srv, &d) != SHOAL_OK)
    die(d.msg);

  /* 1. balance lookups */
  int64_t *lat = malloc(sizeof *lat * (size_t)lookups);
  static char buf[1 << 20];
  int fd = connect_port(port);
  srand(42);
  for (int i = 0; i < lookups; i++) {
    char path[64];
    snprintf(path, sizeof path, "/api/v1/customers/C%07ld", (long)(rand() % customers));
    int64_t s = now_us();
    if (http(fd, "GET", path, NULL, buf, sizeof buf) != 200)
      die("lookup failed");
    lat[i] = now_us() - s;
  }
  close(fd);
  qsort(lat, (size_t)lookups, sizeof *lat, cmp_i64);
  printf("balance lookup over HTTP (%d random of %ld customers): p50 %.3f ms, p99 %.3f ms "
         "(target p99 < 5 ms)\n",
         lookups, customers, lat[lookups / 2] / 1000.0, lat[lookups * 99 / 100] / 1000.0);
  free(lat);

  /* 2. order ingest: the baseline, then group commit */
  int failures = 0;
  double rate[2] = {0, 0};
  for (int phase = 0; phase < 2; phase++) {
    /* The baseline commits one order per fsync: a fifth of the orders is
     * enough to measure it. */
    int n = phase == 0 ? (orders / 5 > conns ? orders / 5 : conns) : orders;
    ctx.cfg.orders_batch_max = phase == 0 ? 1 : 0; /* 0: the default */
    uint64_t b0, o0, b1, o1;
    int64_t busy0, busy1;
    hub_orders_commit_stats(&b0, &o0, &busy0);
    pthread_t th[32];
    struct worker w[32];
    int64_t s = now_us();
    for (int i = 0; i < conns; i++) {
      w[i] = (struct worker){port, n / conns * i, i == conns - 1 ? n : n / conns * (i + 1), 0,
                             phase == 0 ? "A" : "B"};
      pthread_create(&th[i], NULL, order_worker, &w[i]);
    }
    for (int i = 0; i < conns; i++) {
      pthread_join(th[i], NULL);
      failures += w[i].failures;
    }
    double secs = (double)(now_us() - s) / 1e6;
    hub_orders_commit_stats(&b1, &o1, &busy1);
    rate[phase] = n / secs;
    printf("order ingest over HTTP, %s (%d orders, %d keep-alive connections): %.0f orders/s, "
           "%.1f orders per commit, committer busy %.0f%% (%.3f ms per order)\n",
           phase == 0 ? "baseline, one commit per order" : "group commit", n, conns, rate[phase],
           b1 > b0 ? (double)(o1 - o0) / (double)(b1 - b0) : 0.0,
           100.0 * (double)(busy1 - busy0) / (secs * 1000.0), (double)(busy1 - busy0) / n);
  }
  printf("order ingest: group commit %.0f orders/s vs baseline %.0f orders/s (x%.1f), %d failed "
         "(target >= 2000/s)\n",
         rate[1], rate[0], rate[0] > 0 ? rate[1] / rate[0] : 0.0, failures);
  hub_http_stop(srv);
  hub_store_close(db);
  char cmd[PATH_MAX + 32];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    return 1;
  return failures ? 1 : 0;
}
