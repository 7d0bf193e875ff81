/* bench_store_api.c - the store API (SPEC 11) on the 10k-SKU / 2k-rule
 * catalog: quote latency in process (the engine call the API makes) and
 * over HTTP keep-alive, durable sale latency (fsync-bound), 4 lanes selling
 * at once (sales/s, then lost/duplicated counted in the database), and the
 * daemon's resident memory idle with the catalog loaded. Prints figures.
 * usage: bench_store_api path/to/shoal-agent */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_checkout.h"
#include "agent_ctx.h"
#include "agent_policy.h"
#include "bench_util.h"
#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/util.h"

#include "bench_catalog.h"

#define NQUOTE      5000
#define NSALE       400
#define NLANE_SALES 200
#define LANES       4

static char base_url[64];

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, int n) {
  qsort(lat, (size_t)n, sizeof *lat, cmp_d);
  printf("%-44s p50 %8.1f us  p99 %8.1f us  max %8.1f us  (n=%d)\n", what, lat[n / 2],
         lat[(int)(n * 0.99)], lat[n - 1], n);
}

static size_t sink(char *p, size_t sz, size_t n, void *u) {
  (void)p;
  long *st = u;
  (void)st;
  return sz * n;
}

/* One POST on a kept-alive handle; returns the HTTP status (0: failure). */
static long post(CURL *c, const char *path, const char *body) {
  char url[128];
  snprintf(url, sizeof url, "%s%s", base_url, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  if (curl_easy_perform(c) != CURLE_OK)
    return 0;
  long st = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  return st;
}

static CURL *handle(struct curl_slist *h) {
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  return c;
}

/* A sale body: the basket without "at" (a sale is stamped by the device
 * clock) with a request_id. */
static char *sale_body(const char *rid) {
  char *bt = gen_basket();
  cJSON *j = cJSON_Parse(bt);
  free(bt);
  cJSON_DeleteItemFromObjectCaseSensitive(j, "at");
  cJSON_DeleteItemFromObjectCaseSensitive(j, "coupons");
  cJSON_AddStringToObject(j, "request_id", rid);
  char *t = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  return t;
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kib = strtol(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return kib;
}

struct lane {
  struct curl_slist *h;
  int k, fails;
  char **bodies;
};

static void *lane_main(void *arg) {
  struct lane *l = arg;
  CURL *c = handle(l->h);
  for (int i = 0; i < NLANE_SALES; i++)
    if (post(c, "/v1/sales", l->bodies[i]) != 201)
      l->fails++;
  curl_easy_cleanup(c);
  return NULL;
}

static int setup(const char *dir, int port, char *cfg, size_t cfgsz, char *texts[3]) {
  char path[512];
  snprintf(path, sizeof path, "%s/profile.json", dir);
  FILE *f = fopen(path, "w");
  if (!f)
    return 1;
  fprintf(f,
          "{\"profile\":\"pos-terminal\",\"modules\":[\"pricing\",\"sales\"],\"cache\":{\"max_mb\":"
          "256},\"outbox\":{\"max_events\":100000},\"sync\":{\"keepalive_s\":30,"
          "\"backoff_min_s\":30,\"backoff_max_s\":60,\"batch\":100}}");
  fclose(f);
  /* `run` verifies policies: it needs a trusted key, even offline. */
  char *priv = NULL, *pub = NULL;
  shoal_diag kd = {{0}};
  if (shoal_key_generate(&priv, &pub, &kd) != SHOAL_OK)
    return 1;
  snprintf(path, sizeof path, "%s/policy-pub.pem", dir);
  f = fopen(path, "w");
  fputs(pub, f);
  fclose(f);
  shoal_secure_free(priv);
  free(pub);
  snprintf(cfg, cfgsz, "%s/agent.json", dir);
  f = fopen(cfg, "w");
  /* mqtt on a closed port: the bench runs offline, as a store does. */
  fprintf(
      f,
      "{\"device\":\"pos-1\",\"store\":\"cd-001\",\"region\":\"cn-sw\",\"profile\":"
      "\"profile.json\",\"db\":\"agent.db\",\"mqtt\":{\"port\":%d},"
      "\"trust\":{\"policy_pub\":\"policy-pub.pem\"},\"local_api\":{\"listen\":\"127.0.0.1:%d\"}}",
      bench_free_port(), port);
  fclose(f);
  struct agent_ctx ctx = {0};
  shoal_diag d = {{0}};
  if (agent_ctx_open(&ctx, cfg, &d) != SHOAL_OK) {
    fprintf(stderr, "agent: %s\n", d.msg);
    return 1;
  }
  static const char *const scopes[] = {"global", "region/cn-sw", "store/cd-001"};
  for (int s = 0; s < 3; s++) {
    struct agent_policy_row row = {
        scopes[s], 1,    NULL,    AGENT_POLICY_NO_TIME, AGENT_POLICY_NO_TIME, AGENT_POLICY_NO_TIME,
        texts[s],  NULL, "import"};
    if (agent_policy_store(&ctx, &row, &d) != SHOAL_OK) {
      fprintf(stderr, "store: %s\n", d.msg);
      return 1;
    }
  }
  /* The engine call the API makes, timed in process for comparison. */
  struct agent_model *m = NULL;
  if (agent_model_load(&ctx, shoal_now_ms(), &m, &d) != SHOAL_OK) {
    fprintf(stderr, "model: %s\n", d.msg);
    return 1;
  }
  static double lat[NQUOTE];
  for (int i = 0; i < NQUOTE; i++) {
    char *bt = gen_basket();
    cJSON *out = NULL;
    double t0 = now_us();
    if (agent_checkout_quote(&ctx, m, bt, strlen(bt), shoal_now_ms(), &out, &d) != SHOAL_OK) {
      fprintf(stderr, "quote: %s\n", d.msg);
      return 1;
    }
    char *text = cJSON_PrintUnformatted(out);
    lat[i] = now_us() - t0;
    free(text);
    cJSON_Delete(out);
    free(bt);
  }
  report("quote in process (text -> JSON text)", lat, NQUOTE);
  agent_model_free(m);
  agent_ctx_close(&ctx);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/shoal-agent\n", argv[0]);
    return 2;
  }
  char dir[] = "/tmp/bench_store_api.XXXXXX", cfg[512], *texts[3];
  if (!mkdtemp(dir))
    return 1;
  int port = bench_free_port();
  snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", port);
  bench_catalog_texts(texts);
  printf("catalog: %d SKUs in 3 scopes, %d rules, %d-line baskets (policy texts %zu+%zu+%zu "
         "bytes)\n",
         NSKU, NRULES, LINES, strlen(texts[0]), strlen(texts[1]), strlen(texts[2]));
  if (setup(dir, port, cfg, sizeof cfg, texts) != 0)
    return 1;
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stderr))
      _exit(127);
    execl(argv[1], argv[1], "run", "-c", cfg, (char *)NULL);
    _exit(127);
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  hdrs = curl_slist_append(hdrs, "Expect:");
  CURL *c = handle(hdrs);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/health", base_url);
  int up = 0;
  for (int i = 0; i < 300 && !up; i++) {
    CURL *hc = handle(NULL);
    curl_easy_setopt(hc, CURLOPT_URL, url);
    long st = 0;
    if (curl_easy_perform(hc) == CURLE_OK)
      curl_easy_getinfo(hc, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(hc);
    up = st == 200;
    if (!up)
      usleep(50000);
  }
  if (!up) {
    fprintf(stderr, "the agent did not come up\n");
    kill(pid, SIGTERM);
    return 1;
  }
  sleep(1);
  long rss_idle = rss_kib(pid);

  static double lat[NQUOTE];
  char *b0 = gen_basket();
  post(c, "/v1/quote", b0); /* the connection is open and warm */
  free(b0);
  for (int i = 0; i < NQUOTE; i++) {
    char *bt = gen_basket();
    double t0 = now_us();
    long st = post(c, "/v1/quote", bt);
    lat[i] = now_us() - t0;
    free(bt);
    if (st != 200) {
      fprintf(stderr, "quote answered %ld\n", st);
      return 1;
    }
  }
  report("quote over HTTP keep-alive (POST /v1/quote)", lat, NQUOTE);

  for (int i = 0; i < NSALE; i++) {
    char rid[32];
    snprintf(rid, sizeof rid, "seq-%05d", i);
    char *bt = sale_body(rid);
    double t0 = now_us();
    long st = post(c, "/v1/sales", bt);
    lat[i] = now_us() - t0;
    free(bt);
    if (st != 201) {
      fprintf(stderr, "sale answered %ld\n", st);
      return 1;
    }
  }
  report("durable sale (POST /v1/sales, 201)", lat, NSALE);

  struct lane lanes[LANES];
  pthread_t th[LANES];
  for (int k = 0; k < LANES; k++) {
    lanes[k] = (struct lane){hdrs, k, 0, malloc(sizeof(char *) * NLANE_SALES)};
    for (int i = 0; i < NLANE_SALES; i++) {
      char rid[32];
      snprintf(rid, sizeof rid, "lane%d-%05d", k, i);
      lanes[k].bodies[i] = sale_body(rid);
    }
  }
  double t0 = now_us();
  for (int k = 0; k < LANES; k++)
    pthread_create(&th[k], NULL, lane_main, &lanes[k]);
  int fails = 0;
  for (int k = 0; k < LANES; k++) {
    pthread_join(th[k], NULL);
    fails += lanes[k].fails;
    for (int i = 0; i < NLANE_SALES; i++)
      free(lanes[k].bodies[i]);
    free(lanes[k].bodies);
  }
  double secs = (now_us() - t0) / 1e6;
  long rss_after = rss_kib(pid);
  kill(pid, SIGTERM);
  int wst = 0;
  waitpid(pid, &wst, 0);

  char dbp[600];
  snprintf(dbp, sizeof dbp, "%s/agent.db", dir);
  sqlite3 *db = NULL;
  int64_t n = 0, distinct = 0;
  if (sqlite3_open(dbp, &db) == SQLITE_OK) {
    shoal_db_query_int(
        db, "SELECT COUNT(*) FROM sales WHERE receipt IN (SELECT receipt FROM sales)", 0, &n, NULL);
    shoal_db_query_int(db, "SELECT COUNT(DISTINCT receipt) FROM sales", 0, &distinct, NULL);
  }
  sqlite3_close(db);
  int64_t want = NSALE + LANES * NLANE_SALES;
  printf("%d lanes x %d sales at once: %.0f sales/s (%.2f s); failed %d; in the database %lld "
         "of %lld: lost %lld, duplicated %lld\n",
         LANES, NLANE_SALES, LANES * NLANE_SALES / secs, secs, fails, (long long)n, (long long)want,
         (long long)(want - distinct > 0 ? want - distinct : 0), (long long)(n - distinct));
  printf("agent RSS: idle with the catalog %.1f MiB; after the runs %.1f MiB\n", rss_idle / 1024.0,
         rss_after / 1024.0);
  curl_easy_cleanup(c);
  curl_slist_free_all(hdrs);
  curl_global_cleanup();
  for (int s = 0; s < 3; s++)
    free(texts[s]);
  return 0;
}
