/* fuzz_store_api.c - request bodies on every POST route of the store API
 * (SPEC 11), through the real server: the agent API runs in process on a
 * scratch database holding pricing_policy.json's chain plus a form, and
 * each input is sent as the body of each POST route over loopback.
 * Invariants: every answer is a complete HTTP response with a status below
 * 500 (bad input is 4xx, never a crash or an internal error), and the
 * server keeps answering /v1/health. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "agent_api.h"
#include "agent_ctx.h"
#include "agent_policy.h"
#include "fuzz_util.h"

static int port;
static struct agent_api *api;
static struct agent_ctx ctx;

static const char *const routes[] = {"/v1/quote",
                                     "/v1/sales",
                                     "/v1/returns",
                                     "/v1/forms/f/validate",
                                     "/v1/forms/f/submissions",
                                     "/v1/tickets/scan",
                                     "/v1/tickets/x-1/events"};

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    abort();
  fputs(text, f);
  fclose(f);
}

/* One request; returns the status, or -1 if the answer was not HTTP. */
static int request(const char *method, const char *path, const uint8_t *body, size_t n) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0)
    abort();
  /* Close with a reset: thousands of client connections a second would
   * otherwise leave loopback's ephemeral ports in TIME_WAIT until connect
   * fails (EADDRNOTAVAIL), which is the test's limit, not the server's. */
  struct linger reset = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    method, path, port, n);
  if (write(fd, head, (size_t)hl) != hl || (n && write(fd, body, n) != (ssize_t)n))
    abort();
  char resp[64] = {0};
  ssize_t got = 0, r;
  while (got < 12 && (r = read(fd, resp + got, sizeof resp - 1 - (size_t)got)) > 0)
    got += r;
  close(fd);
  if (got < 12 || strncmp(resp, "HTTP/1.1 ", 9) != 0)
    return -1;
  return atoi(resp + 9);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char dir[] = "/tmp/fuzz_store_api.XXXXXX", p[512], cfg[512];
  if (!mkdtemp(dir))
    abort();
  struct shoal_privkey *priv = NULL;
  struct shoal_pubkey *pub = NULL;
  char *priv_pem = NULL, *pub_pem = NULL;
  shoal_diag d = {{0}};
  (void)priv, (void)pub;
  if (shoal_key_generate(&priv_pem, &pub_pem, &d) != SHOAL_OK)
    abort();
  snprintf(p, sizeof p, "%s/pub.pem", dir);
  put(p, pub_pem);
  /* Freed now: a leak from the set-up would flag every fork job as a finding. */
  shoal_secure_free(priv_pem);
  free(pub_pem);
  snprintf(p, sizeof p, "%s/profile.json", dir);
  put(p, "{\"profile\":\"pos\",\"modules\":[\"pricing\",\"sales\",\"forms\",\"tickets\"],"
         "\"cache\":{\"max_mb\":64},\"outbox\":{\"max_events\":1000000},\"sync\":{\"keepalive_s\":"
         "30,\"backoff_min_s\":1,\"backoff_max_s\":60,\"batch\":100}}");
  /* Port 0: the kernel picks a free one (a port derived from the pid could
   * be another process's, and every answer then looked like a finding). */
  port = 0;
  snprintf(cfg, sizeof cfg, "%s/agent.json", dir);
  char text[1024];
  snprintf(text, sizeof text,
           "{\"device\":\"pos-1\",\"store\":\"cd-001\",\"region\":\"cn-sw\",\"profile\":"
           "\"profile.json\",\"db\":\"a.db\",\"trust\":{\"policy_pub\":\"pub.pem\"},"
           "\"local_api\":{\"listen\":\"127.0.0.1:%d\"}}",
           port);
  put(cfg, text);
  if (agent_ctx_open(&ctx, cfg, &d) != SHOAL_OK)
    abort();
  char *policy_text = fuzz_read("pricing_policy.json", NULL);
  cJSON *root = cJSON_Parse(policy_text);
  free(policy_text);
  static const char *const keys[] = {"global", "region", "store"};
  static const char *const scopes[] = {"global", "region/cn-sw", "store/cd-001"};
  for (int i = 0; i < 3; i++) {
    cJSON *doc = cJSON_GetObjectItem(root, keys[i]);
    cJSON_ReplaceItemInObject(doc, "scope", cJSON_CreateString(scopes[i]));
    if (i == 0)
      cJSON_AddItemToObject(doc, "forms",
                            cJSON_Parse("[{\"id\":\"f\",\"version\":1,\"title\":\"F\",\"fields\":"
                                        "[{\"id\":\"n\",\"type\":\"int\",\"required\":true}]}]"));
    char *dt = cJSON_PrintUnformatted(doc);
    struct agent_policy_row row = {
        scopes[i], 1,    NULL,    AGENT_POLICY_NO_TIME, AGENT_POLICY_NO_TIME, AGENT_POLICY_NO_TIME,
        dt,        NULL, "import"};
    if (agent_policy_store(&ctx, &row, &d) != SHOAL_OK)
      abort();
    free(dt);
  }
  cJSON_Delete(root);
  if (agent_api_start(&ctx, &api, &d) != SHOAL_OK || !api) {
    fprintf(stderr, "fuzz: store API: %s\n", d.msg);
    abort();
  }
  port = agent_api_port(api);
  return 0;
}

/* A request whose connection ended without an answer is sent again a few
 * times: at ~3,000 connections/s over loopback a connect can fail for want
 * of a local port, which is not a finding.
 * The server runs in this process, so a real crash aborts here under ASan,
 * and a hang is libFuzzer's timeout. */
static int request_retry(const char *method, const char *path, const uint8_t *body, size_t n) {
  int st = -1;
  for (int attempt = 0; attempt < 5 && st < 0; attempt++) {
    if (attempt)
      usleep(20000);
    st = request(method, path, body, n);
  }
  return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    int st = request_retry("POST", routes[i], data, size);
    if (st < 200 || st >= 500 || st == 403) { /* 403: refused before the route (Host guard) */
      fprintf(stderr, "fuzz: %s answered %d\n", routes[i], st);
      abort();
    }
  }
  if (request_retry("GET", "/v1/health", NULL, 0) != 200)
    abort();
  return 0;
}
