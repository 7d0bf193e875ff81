/* test_hub_http.c - the hub's HTTP API (SPEC 10) and webhook delivery, over
 * real sockets on 127.0.0.1: auth (401), unknown routes (404), body limits
 * (413), every route's figures against rows put in the hub database,
 * policy publishing through POST, and webhooks reaching a receiver (a second
 * libmicrohttpd server) once its outage ends, each exactly once and signed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "hub_ctx.h"
#include "hub_http.h"
#include "hub_webhook.h"
#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/util.h"
#include "store.h"

#define TOKEN       "s3cret-token"
#define HOOK_SECRET "hook-secret"

static char g_dir[512];
static int g_port;
static struct hub_ctx g_ctx;
static struct hub_http *g_http;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

static void write_file(const char *name, const char *text) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s", g_dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* ---- HTTP client ---- */

struct resp {
  long status;
  char *body;
  size_t len;
  char *ctype;
};

static size_t sink(char *p, size_t s, size_t n, void *u) {
  struct resp *r = u;
  char *nb = realloc(r->body, r->len + s * n + 1);
  if (!nb)
    return 0;
  memcpy(nb + r->len, p, s * n);
  r->body = nb;
  r->len += s * n;
  r->body[r->len] = '\0';
  return s * n;
}

static void resp_free(struct resp *r) {
  free(r->body);
  free(r->ctype);
  memset(r, 0, sizeof *r);
}

static struct resp request(const char *method, const char *path, const char *token,
                           const char *body, size_t len, const char *header) {
  struct resp r = {0};
  CURL *c = curl_easy_init();
  char url[600], auth[200];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
  struct curl_slist *h = NULL;
  if (token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h = curl_slist_append(h, auth);
  }
  if (header)
    h = curl_slist_append(h, header);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  CURLcode cc = curl_easy_perform(c);
  if (cc == CURLE_OK || cc == CURLE_SEND_ERROR) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    r.ctype = shoal_strdup(ct);
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

static struct resp get(const char *path, const char *token) {
  return request("GET", path, token, NULL, 0, NULL);
}

static cJSON *json_of(const struct resp *r) {
  cJSON *j = NULL;
  shoal_diag d;
  assert_non_null(r->body);
  assert_int_equal(shoal_json_parse(r->body, r->len, &j, &d), SHOAL_OK);
  return j;
}

static void assert_json_error(const struct resp *r, long status) {
  assert_int_equal(r->status, status);
  cJSON *j = json_of(r);
  assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "error")));
  cJSON_Delete(j);
}

/* ---- fixture: a hub database with a fleet and sales ---- */

static void sql(const char *s) {
  shoal_diag d = {{0}};
  if (hub_store_exec(g_ctx.db, s, &d) != SHOAL_OK)
    fail_msg("%s: %s", s, d.msg);
}

static int setup(void **state) {
  (void)state;
  const char *tmp = getenv("SHOAL_TEST_TMP");
  snprintf(g_dir, sizeof g_dir, "%s/hub_http", tmp ? tmp : "/tmp");
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
  assert_int_equal(system(cmd), 0);
  char *priv = NULL, *pub = NULL;
  shoal_diag d;
  assert_int_equal(shoal_key_generate(&priv, &pub, &d), SHOAL_OK);
  write_file("policy-key.pem", priv);
  shoal_secure_free(priv);
  free(pub);
  write_file("token", "  " TOKEN "\n");
  g_port = free_port();
  char cfg[600];
  snprintf(cfg, sizeof cfg,
           "{\"db\": \"hub.db\", \"signing_key\": \"policy-key.pem\", "
           "\"http\": {\"listen\": \"127.0.0.1:%d\", \"token_file\": \"token\"}}",
           g_port);
  write_file("hub.json", cfg);
  char path[700];
  snprintf(path, sizeof path, "%s/hub.json", g_dir);
  assert_int_equal(hub_ctx_open(&g_ctx, path, &d), SHOAL_OK);
  int64_t now = shoal_now_ms();
  char q[2048];
  /* d1 fine; d2 online with a backlog and no progress for 10 min; d3 offline. */
  snprintf(q, sizeof q,
           "INSERT INTO devices (device, store, region, profile, online, last_hello_ms, "
           "last_seen_ms, last_event_ms, outbox_depth, policy_versions) VALUES "
           "('d1', 'S1', 'east', 'pos', 1, %lld, %lld, %lld, 0, '{\"global\":1}'),"
           "('d2', 'S1', 'east', 'pos', 1, %lld, %lld, %lld, 42, '{\"global\":1}'),"
           "('d3', 'S2', 'west', 'kiosk', 0, %lld, %lld, NULL, 3, '{}')",
           (long long)now - 1000, (long long)now - 1000, (long long)now - 1000,
           (long long)now - 600000, (long long)now - 5000, (long long)now - 600000,
           (long long)now - 7200000, (long long)now - 7200000);
  sql(q);
  /* 2026-01-01: S1 two sales at 10:xx and one at 11:xx (east), S2 one (west). */
  sql("INSERT INTO sales (device, epoch, seq, store, region, at_ms, subtotal, discount, rounding, "
      "total, body) VALUES "
      "('d1','1',1,'S1','east',1767261600000,1000,0,0,1000,'{}'),"
      "('d1','1',2,'S1','east',1767262200000,2500,0,0,2500,'{}'),"
      "('d2','1',1,'S1','east',1767265200000,700,0,0,700,'{}'),"
      "('d3','1',1,'S2','west',1767262800000,100000,0,0,100000,'{}')");
  snprintf(q, sizeof q,
           "INSERT INTO events (device, epoch, seq, store, type, hlc, received_ms) VALUES "
           "('d1','1',1,'S1','sale',1,%lld),('d1','1',2,'S1','sale',2,%lld),"
           "('d2','1',1,'S1','sale',3,%lld),('d3','1',1,'S2','sale',4,1)",
           (long long)now - 1000, (long long)now - 2000, (long long)now - 3000);
  sql(q);
  sql("INSERT INTO dead_letters (received_ms, topic, device, reason) VALUES (1, 't', 'd2', 'bad')");
  assert_int_equal(hub_http_start(&g_ctx, &g_http, &d), SHOAL_OK);
  assert_non_null(g_http);
  assert_int_equal(hub_http_port(g_http), g_port);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  hub_http_stop(g_http);
  hub_ctx_close(&g_ctx);
  return 0;
}

/* ---- tests ---- */

static void test_hub_http_public_routes_need_no_token(void **state) {
  (void)state;
  struct resp r = get("/healthz", NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = get("/metrics", NULL);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.ctype, "text/plain"));
  assert_non_null(strstr(r.body, "shoal_devices_online 2\n"));
  assert_non_null(strstr(r.body, "shoal_dead_letters_total 1\n"));
  assert_non_null(strstr(r.body, "shoal_ingest_events_total{type=\"sale\"} 4\n"));
  /* three events in the last minute: 3/60 per second */
  assert_non_null(strstr(r.body, "shoal_ingest_events_per_second 0.050\n"));
  assert_non_null(strstr(r.body, "shoal_device_outbox_depth{device=\"d2\",store=\"S1\"} 42\n"));
  assert_non_null(
      strstr(r.body, "shoal_device_last_seen_age_seconds{device=\"d3\",store=\"S2\"} 7"));
  assert_non_null(strstr(r.body, "shoal_webhook_queue_depth 0\n"));
  assert_non_null(strstr(r.body, "shoal_webhook_failures_total 0\n"));
  resp_free(&r);
  /* The dashboard's files hold no data and load without a token (SPEC 14:
   * the token is typed into the page, never put in a URL); the API behind
   * it needs the token and never takes one from the query string. */
  r = get("/api/v1/devices", NULL);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  r = get("/", NULL);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.ctype, "text/html"));
  assert_non_null(strstr(r.body, "<html"));
  resp_free(&r);
  r = get("/app.js", NULL);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.ctype, "text/javascript"));
  resp_free(&r);
  r = get("/vendor/chart.umd.min.js", NULL);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "Chart.js"));
  resp_free(&r);
  r = get("/../hub.json", NULL);
  assert_int_equal(r.status, 404);
  resp_free(&r);
  r = get("/nothing.js", NULL);
  assert_int_equal(r.status, 404);
  resp_free(&r);
  r = get("/api/v1/devices?token=" TOKEN, NULL);
  assert_int_equal(r.status, 401);
  resp_free(&r);
}

/* GET /api/v1/me names the token's user and role (the dashboard shows it);
 * GET /api/v1/forms/submissions answers a JSON array; both need a token. */
static void test_hub_http_me_and_submissions(void **state) {
  (void)state;
  struct resp r = get("/api/v1/me", NULL);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  r = get("/api/v1/me", TOKEN);
  assert_int_equal(r.status, 200);
  cJSON *j = json_of(&r);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "role")), "admin");
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "name")), "admin");
  cJSON_Delete(j);
  resp_free(&r);
  r = get("/api/v1/forms/submissions?form=fault&from=2026-01-01", TOKEN);
  assert_int_equal(r.status, 200);
  j = json_of(&r);
  assert_true(cJSON_IsArray(j));
  cJSON_Delete(j);
  resp_free(&r);
  r = get("/api/v1/forms/submissions?from=nonsense", TOKEN);
  assert_json_error(&r, 400);
  resp_free(&r);
}

/* listen 127.0.0.1:P binds that address only: 127.0.0.2 (also loopback
 * on Linux, but another address) is refused. */
static void test_hub_http_binds_exactly_the_listen_address(void **state) {
  (void)state;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)g_port);
  inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  close(fd);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  close(fd);
}

static void test_hub_http_api_needs_the_token(void **state) {
  (void)state;
  const char *paths[] = {"/api/v1/devices", "/api/v1/tickets", "/api/v1/reports/sales?by=store",
                         "/api/v1/settlement?from=2026-01-01&to=2026-01-02"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    struct resp r = get(paths[i], NULL);
    assert_json_error(&r, 401);
    resp_free(&r);
    r = get(paths[i], "wrong-token");
    assert_json_error(&r, 401);
    resp_free(&r);
    r = get(paths[i], TOKEN "x");
    assert_json_error(&r, 401);
    resp_free(&r);
    r = get(paths[i], TOKEN);
    assert_int_equal(r.status, 200);
    resp_free(&r);
  }
  struct resp r = request("POST", "/api/v1/policies", NULL, "{}", 2, NULL);
  assert_json_error(&r, 401);
  resp_free(&r);
}

static void test_hub_http_unknown_route_is_404(void **state) {
  (void)state;
  struct resp r = get("/api/v1/nothing", TOKEN);
  assert_json_error(&r, 404);
  resp_free(&r);
  r = request("DELETE", "/api/v1/policies", TOKEN, NULL, 0, NULL); /* wrong method */
  assert_json_error(&r, 404);
  resp_free(&r);
  r = get("/api/v1/reports/sales?by=planet", TOKEN);
  assert_json_error(&r, 400);
  resp_free(&r);
  r = get("/api/v1/settlement", TOKEN); /* period required */
  assert_json_error(&r, 400);
  resp_free(&r);
}

static void test_hub_http_oversized_body_is_413(void **state) {
  (void)state;
  size_t n = (size_t)HUB_HTTP_API_BODY_MAX + 1;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, ' ', n);
  struct resp r = request("POST", "/api/v1/policies", TOKEN, big, n, NULL);
  assert_json_error(&r, 413);
  resp_free(&r);
  /* Without a Content-Length (chunked) the limit holds while reading. */
  r = request("POST", "/api/v1/policies", TOKEN, big, n, "Transfer-Encoding: chunked");
  assert_json_error(&r, 413);
  resp_free(&r);
  free(big);
}

static void test_hub_http_publishes_policies_like_publish(void **state) {
  (void)state;
  const char *doc = "{\"scope\":\"region/east\",\"settlement\":{\"schemes\":{\"f\":{\"mode\":"
                    "\"marginal\",\"tiers\":[{\"upto\":2000,\"bp\":1000},{\"bp\":500}]}},"
                    "\"stores\":{\"S1\":\"f\"}}}";
  for (int v = 1; v <= 2; v++) {
    struct resp r = request("POST", "/api/v1/policies", TOKEN, doc, strlen(doc), NULL);
    assert_int_equal(r.status, 200);
    cJSON *j = json_of(&r);
    assert_string_equal(cJSON_GetObjectItem(j, "scope")->valuestring, "region/east");
    assert_int_equal(cJSON_GetObjectItem(j, "version")->valueint, v);
    cJSON_Delete(j);
    resp_free(&r);
  }
  int64_t stored = 0;
  shoal_diag d;
  assert_int_equal(hub_store_query_int(g_ctx.db,
                                       "SELECT COUNT(*) FROM policies WHERE scope = 'region/east' "
                                       "AND envelope LIKE '%\"sig\":%'",
                                       0, &stored, &d),
                   SHOAL_OK);
  assert_int_equal(stored, 2);
  const char *bad[] = {"{\"scope\":", "{\"scope\":\"global\",\"bogus\":1}",
                       "{\"scope\":\"global\",\"settlement\":{\"schemes\":{\"f\":{\"mode\":\"x\","
                       "\"tiers\":[{\"bp\":1}]}}}}",
                       ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct resp r = request("POST", "/api/v1/policies", TOKEN, bad[i], strlen(bad[i]), NULL);
    assert_json_error(&r, 400);
    resp_free(&r);
  }
  assert_int_equal(hub_store_query_int(g_ctx.db, "SELECT COUNT(*) FROM policies", 0, &stored, &d),
                   SHOAL_OK);
  assert_int_equal(stored, 2);
  struct resp r = get("/metrics", NULL);
  assert_non_null(strstr(r.body, "shoal_policy_version{scope=\"region/east\"} 2\n"));
  resp_free(&r);
}

static const cJSON *find(const cJSON *arr, const char *key, const char *val) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    const cJSON *v = cJSON_GetObjectItem(e, key);
    if (cJSON_IsString(v) && strcmp(v->valuestring, val) == 0)
      return e;
  }
  fail_msg("no %s=%s", key, val);
  return NULL;
}

static int64_t num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(o, key);
  assert_true(cJSON_IsNumber(v));
  return (int64_t)v->valuedouble;
}

static void test_hub_http_fleet_shows_sync_health(void **state) {
  (void)state;
  sql("INSERT INTO policies (scope, version, issued_at, expires_at, doc, envelope, published_ms) "
      "VALUES ('global', 1, 'x', '2020-01-01T00:00:00Z', '{\"scope\":\"global\"}', '{}', 0),"
      "('global', 2, 'x', '2999-01-01T00:00:00+08:00', '{\"scope\":\"global\"}', '{}', 0)");
  /* v3 takes effect in 2999: held by devices, not applied, not "latest". */
  sql("INSERT INTO policies (scope, version, issued_at, effective_at, doc, envelope, published_ms) "
      "VALUES ('global', 3, 'x', '2999-01-01T00:00:00Z', '{\"scope\":\"global\"}', '{}', 0)");
  struct resp r = get("/api/v1/devices", TOKEN);
  assert_int_equal(r.status, 200);
  cJSON *j = json_of(&r);
  assert_int_equal(cJSON_GetArraySize(j), 3);
  const cJSON *d1 = find(j, "device", "d1"), *d2 = find(j, "device", "d2"),
              *d3 = find(j, "device", "d3");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d1, "online")));
  assert_string_equal(cJSON_GetObjectItem(d1, "sync")->valuestring, "behind");
  assert_int_equal(num(cJSON_GetObjectItem(d1, "latest"), "global"), 2);
  assert_int_equal(num(cJSON_GetObjectItem(d1, "policies"), "global"), 1);
  /* d1 still applies global v1, which expired in 2020: flagged stale. */
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d1, "stale")), 1);
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(d1, "stale"), 0)->valuestring,
                      "global");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d3, "stale")), 0);
  assert_string_equal(cJSON_GetObjectItem(d2, "sync")->valuestring, "not_syncing");
  assert_int_equal(num(d2, "outbox_depth"), 42);
  assert_int_equal(num(d2, "dead_letters"), 1);
  assert_int_equal(num(d1, "dead_letters"), 0);
  assert_string_equal(cJSON_GetObjectItem(d3, "sync")->valuestring, "offline");
  assert_true(num(d3, "last_seen_age_s") >= 7199);
  cJSON_Delete(j);
  resp_free(&r);
  sql("DELETE FROM policies WHERE scope = 'global'");
}

static void test_hub_http_sales_reports_and_settlement(void **state) {
  (void)state;
  struct resp r =
      get("/api/v1/reports/sales?by=region&from=2026-01-01T00:00:00Z&to=2026-01-02", TOKEN);
  assert_int_equal(r.status, 200);
  cJSON *j = json_of(&r);
  assert_int_equal(cJSON_GetArraySize(j), 2);
  assert_int_equal(num(find(j, "region", "east"), "total"), 4200);
  assert_int_equal(num(find(j, "region", "east"), "count"), 3);
  assert_int_equal(num(find(j, "region", "west"), "total"), 100000);
  cJSON_Delete(j);
  resp_free(&r);
  r = get("/api/v1/reports/sales?by=device", TOKEN);
  j = json_of(&r);
  assert_int_equal(num(find(j, "device", "d1"), "total"), 3500);
  cJSON_Delete(j);
  resp_free(&r);
  r = get("/api/v1/reports/sales?by=hour&from=2026-01-01T10:00:00%2B00:00&to=2026-01-01T11:00Z",
          TOKEN);
  assert_int_equal(r.status, 200);
  j = json_of(&r);
  const cJSON *h = find(j, "region", "east");
  assert_string_equal(cJSON_GetObjectItem(h, "hour")->valuestring, "2026-01-01T10:00:00.000Z");
  assert_int_equal(num(h, "total"), 3500);
  assert_int_equal(cJSON_GetArraySize(j), 2); /* east and west at 10:00; 11:xx excluded */
  cJSON_Delete(j);
  resp_free(&r);
  /* An unencoded '+' in the offset (form-decoded to a space) still works. */
  r = get(
      "/api/v1/reports/sales?by=region&from=2026-01-01T18:00:00+08:00&to=2026-01-01T19:00+08:00",
      TOKEN);
  assert_int_equal(r.status, 200);
  j = json_of(&r);
  assert_int_equal(num(find(j, "region", "east"), "total"), 3500);
  cJSON_Delete(j);
  resp_free(&r);
  r = get("/api/v1/reports/sales?by=store&from=not-a-time", TOKEN);
  assert_json_error(&r, 400);
  resp_free(&r);

  /* Settlement: S1 4200 under region/east's marginal scheme published
   * above (10% to 2000, 5% above) = 200 + 110 = 310. */
  r = get("/api/v1/settlement?from=2026-01-01&to=2026-01-02", TOKEN);
  assert_int_equal(r.status, 200);
  j = json_of(&r);
  const cJSON *s1 = find(j, "store", "S1");
  assert_string_equal(cJSON_GetObjectItem(s1, "scheme")->valuestring, "f");
  assert_int_equal(num(s1, "sales_total"), 4200);
  assert_int_equal(num(s1, "commission"), 310);
  cJSON_Delete(j);
  resp_free(&r);
  r = request("GET", "/api/v1/settlement?from=2026-01-01&to=2026-01-02", TOKEN, NULL, 0,
              "Accept: text/csv");
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.ctype, "text/csv"));
  assert_non_null(strstr(r.body, "S1,east,f,4200,310\n"));
  resp_free(&r);
  r = get("/api/v1/settlement?from=2026-01-01&to=2026-01-02&format=csv", TOKEN);
  assert_non_null(strstr(r.body, "S2,west,,100000,0\n"));
  resp_free(&r);
}

static void test_hub_http_tickets_carry_sla_state(void **state) {
  (void)state;
  int64_t now = shoal_now_ms(), m = 60000;
  char q[2048];
  snprintf(q, sizeof q,
           "INSERT INTO tickets (id, store, region, state, priority, grp, opened_ms, "
           "resolve_due_ms, resolved_ms, escalation_level, doc, updated_ms) VALUES "
           "('t-ok', 'S1', 'east', 'assigned', 'normal', 'g', %lld, %lld, NULL, 0, "
           "'{\"title\":\"Fridge\",\"category\":\"repair\"}', 0),"
           "('t-soon', 'S1', 'east', 'new', 'high', 'g', %lld, %lld, NULL, 0, '{}', 0),"
           "('t-late', 'S1', 'east', 'on_site', 'urgent', 'g', %lld, %lld, NULL, 2, '{}', 0),"
           "('t-met', 'S2', 'west', 'resolved', 'low', 'g', %lld, %lld, %lld, 0, '{}', 0),"
           "('t-missed', 'S2', 'west', 'closed', 'low', 'g', %lld, %lld, %lld, 1, '{}', 0),"
           "('t-none', 'S2', 'west', 'new', 'low', NULL, %lld, NULL, NULL, 0, '{}', 0)",
           (long long)(now - 10 * m), (long long)(now + 50 * m), (long long)(now - 55 * m),
           (long long)(now + 5 * m), (long long)(now - 90 * m), (long long)(now - 30 * m),
           (long long)(now - 90 * m), (long long)(now - 30 * m), (long long)(now - 40 * m),
           (long long)(now - 90 * m), (long long)(now - 30 * m), (long long)(now - 20 * m),
           (long long)(now - 5 * m));
  sql(q);
  struct resp r = get("/api/v1/tickets", TOKEN);
  assert_int_equal(r.status, 200);
  cJSON *j = json_of(&r);
  assert_int_equal(cJSON_GetArraySize(j), 6);
  const char *want[][2] = {{"t-ok", "ok"},   {"t-soon", "due_soon"},   {"t-late", "breached"},
                           {"t-met", "met"}, {"t-missed", "breached"}, {"t-none", "none"}};
  for (size_t i = 0; i < 6; i++) {
    const cJSON *t = find(j, "id", want[i][0]);
    assert_string_equal(cJSON_GetObjectItem(t, "sla_state")->valuestring, want[i][1]);
  }
  const cJSON *t = find(j, "id", "t-ok");
  assert_string_equal(cJSON_GetObjectItem(t, "title")->valuestring, "Fridge");
  assert_string_equal(cJSON_GetObjectItem(t, "state")->valuestring, "assigned");
  assert_int_equal(num(find(j, "id", "t-late"), "escalation_level"), 2);
  cJSON_Delete(j);
  resp_free(&r);
  sql("DELETE FROM tickets");
}

/* ---- webhooks ---- */

struct receiver {
  pthread_mutex_t mu;
  int down; /* refuse while > 0 (503) */
  int refused;
  int got[16]; /* deliveries per sale number */
  int bad_sig;
};

struct rreq {
  char buf[4096];
  size_t len;
};

static enum MHD_Result rcv(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                           const char *version, const char *data, size_t *size, void **con_cls) {
  (void)url, (void)method, (void)version;
  struct receiver *rv = cls;
  struct rreq *q = *con_cls;
  if (!q) {
    *con_cls = calloc(1, sizeof *q);
    return MHD_YES;
  }
  if (*size) {
    size_t n = *size < sizeof q->buf - 1 - q->len ? *size : sizeof q->buf - 1 - q->len;
    memcpy(q->buf + q->len, data, n);
    q->len += n;
    *size = 0;
    return MHD_YES;
  }
  unsigned status = 200;
  pthread_mutex_lock(&rv->mu);
  if (rv->down > 0) {
    rv->down--;
    rv->refused++;
    status = 503;
  } else {
    char want[65], hdr[80];
    shoal_hmac_sha256_hex(HOOK_SECRET, strlen(HOOK_SECRET), q->buf, q->len, want);
    snprintf(hdr, sizeof hdr, "sha256=%s", want);
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Shoal-Signature");
    if (!sig || strcmp(sig, hdr) != 0)
      rv->bad_sig++;
    int n = -1;
    if (sscanf(q->buf, "{\"n\":%d", &n) == 1 && n >= 0 && n < 16)
      rv->got[n]++;
  }
  pthread_mutex_unlock(&rv->mu);
  free(q);
  *con_cls = NULL;
  struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static void test_hub_http_webhooks_deliver_after_outage(void **state) {
  (void)state;
  struct receiver rv = {.down = 3};
  pthread_mutex_init(&rv.mu, NULL);
  /* Port 0: the kernel picks a free port (a port chosen in advance can be
   * taken by another test before the receiver binds it). */
  struct MHD_Daemon *d =
      MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, rcv, &rv, MHD_OPTION_END);
  assert_non_null(d);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  assert_non_null(info);
  int rport = info->port;
  assert_true(rport > 0);
  write_file("hook.secret", HOOK_SECRET "\n");
  /* A second hub context on the same db with webhooks configured: one
   * receiver that is down for a while, one URL where nothing listens. */
  char cfg[1200], path[700];
  snprintf(cfg, sizeof cfg,
           "{\"db\": \"hub.db\", \"webhooks\": ["
           "{\"url\": \"http://127.0.0.1:%d/hook\", \"events\": [\"sale\"], \"secret_file\": "
           "\"hook.secret\"},"
           "{\"url\": \"http://127.0.0.1:%d/none\", \"events\": [\"sale\", \"ticket\"]},"
           "{\"url\": \"http://127.0.0.1:%d/tickets\", \"events\": [\"ticket\"]}]}",
           rport, free_port(), rport);
  write_file("hook.json", cfg);
  snprintf(path, sizeof path, "%s/hook.json", g_dir);
  struct hub_ctx ctx;
  shoal_diag dg;
  assert_int_equal(hub_ctx_open(&ctx, path, &dg), SHOAL_OK);
  /* Queued inside the caller's transaction: a rollback queues nothing. */
  assert_int_equal(hub_store_begin(ctx.db, &dg), SHOAL_OK);
  assert_int_equal(hub_webhook_enqueue(&ctx, "sale", "{\"n\":15}", &dg), SHOAL_OK);
  hub_store_rollback(ctx.db);
  assert_int_equal(hub_store_begin(ctx.db, &dg), SHOAL_OK);
  for (int i = 0; i < 10; i++) {
    char body[64];
    snprintf(body, sizeof body, "{\"n\":%d,\"store\":\"S1\"}", i);
    assert_int_equal(hub_webhook_enqueue(&ctx, "sale", body, &dg), SHOAL_OK);
  }
  assert_int_equal(hub_webhook_enqueue(&ctx, "escalation", "{\"n\":14}", &dg),
                   SHOAL_OK); /* nobody */
  assert_int_equal(hub_webhook_enqueue(&ctx, "bogus", "{}", &dg), SHOAL_EINPUT);
  /* Oversized: accepted (the sale is not refused) but recorded dead at once. */
  char *huge = malloc(HUB_WEBHOOK_BODY_MAX + 2);
  assert_non_null(huge);
  memset(huge, ' ', HUB_WEBHOOK_BODY_MAX + 1);
  huge[HUB_WEBHOOK_BODY_MAX + 1] = '\0';
  assert_int_equal(hub_webhook_enqueue(&ctx, "ticket", huge, &dg), SHOAL_OK);
  free(huge);
  assert_int_equal(hub_store_commit(ctx.db, &dg), SHOAL_OK);
  int64_t queued = 0;
  assert_int_equal(
      hub_store_query_int(ctx.db, "SELECT COUNT(*) FROM webhook_queue", 0, &queued, &dg), SHOAL_OK);
  assert_int_equal(queued, 20); /* 10 sales x 2 subscribed webhooks */
  /* Left over from a config that had another receiver: buried, not sent. */
  assert_int_equal(
      hub_store_exec(ctx.db,
                     "INSERT INTO webhook_queue (url, kind, body, created_ms, next_ms) "
                     "VALUES ('http://127.0.0.1:9/gone', 'sale', '{\"n\":13}', 0, 0)",
                     &dg),
      SHOAL_OK);

  struct hub_webhook_opts o;
  hub_webhook_opts_default(&o);
  o.backoff_min_ms = 20;
  o.backoff_max_ms = 200;
  o.max_attempts = 4;
  o.poll_ms = 20;
  struct hub_webhooks *w = NULL;
  assert_int_equal(hub_webhooks_start_opts(&ctx, &o, &w, &dg), SHOAL_OK);
  assert_non_null(w);
  int64_t left = -1, dead = 0;
  for (int i = 0; i < 300; i++) { /* at most 15 s */
    usleep(50000);
    hub_store_query_int(ctx.db, "SELECT COUNT(*) FROM webhook_queue", 0, &left, &dg);
    hub_store_query_int(ctx.db, "SELECT COUNT(*) FROM webhook_dead", 0, &dead, &dg);
    if (left == 0)
      break;
  }
  hub_webhooks_stop(w);
  MHD_stop_daemon(d);
  assert_int_equal(left, 0);
  /* Every sale reached the receiver exactly once, after its outage. */
  assert_int_equal(rv.refused, 3);
  for (int i = 0; i < 10; i++)
    assert_int_equal(rv.got[i], 1);
  assert_int_equal(rv.got[15], 0);
  assert_int_equal(rv.got[14], 0);
  assert_int_equal(rv.bad_sig, 0);
  /* The dead receiver's deliveries were given up after the bound: the
   * worker holds them back while the head of the line fails. */
  assert_int_equal(dead, 13); /* + the oversized ticket body for its 2 receivers */
  int64_t attempts = 0;
  hub_store_query_int(ctx.db, "SELECT MAX(attempts) FROM webhook_dead", 0, &attempts, &dg);
  assert_int_equal(attempts, 4);
  hub_store_query_int(ctx.db,
                      "SELECT COUNT(*) FROM webhook_dead WHERE url LIKE '%/gone' AND last_error = "
                      "'webhook no longer configured'",
                      0, &attempts, &dg);
  assert_int_equal(attempts, 1);
  struct resp r = get("/metrics", NULL);
  assert_non_null(strstr(r.body, "shoal_webhook_dead_total 13\n"));
  assert_null(strstr(r.body, "shoal_webhook_failures_total 0\n"));
  resp_free(&r);
  hub_ctx_close(&ctx);
  pthread_mutex_destroy(&rv.mu);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_http_public_routes_need_no_token),
      cmocka_unit_test(test_hub_http_binds_exactly_the_listen_address),
      cmocka_unit_test(test_hub_http_me_and_submissions),
      cmocka_unit_test(test_hub_http_api_needs_the_token),
      cmocka_unit_test(test_hub_http_unknown_route_is_404),
      cmocka_unit_test(test_hub_http_oversized_body_is_413),
      cmocka_unit_test(test_hub_http_publishes_policies_like_publish),
      cmocka_unit_test(test_hub_http_fleet_shows_sync_health),
      cmocka_unit_test(test_hub_http_sales_reports_and_settlement),
      cmocka_unit_test(test_hub_http_tickets_carry_sla_state),
      cmocka_unit_test(test_hub_http_webhooks_deliver_after_outage),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  curl_global_cleanup();
  return rc;
}
