/* hub_http.c - the hub's HTTP API for headquarters (SPEC 10) over
 * libmicrohttpd: one internal polling thread, one database handle of its
 * own (only that thread touches it), bearer-token auth on every route but
 * /healthz and /metrics (SPEC 10). The dashboard page also accepts the
 * token as ?token= because a browser cannot set the header on a page load;
 * the page then calls the API with the header itself. Invariants: request bodies are
 * bounded (413 past HUB_HTTP_API_BODY_MAX, checked on Content-Length before
 * reading and again while reading); every error is JSON {"error": ...}; the
 * token is compared in constant time and never logged. */
#include "hub_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "crypto.h"
#include "store.h"
#include "hub_metrics.h"
#include "hub_publish.h"
#include "hub_reports.h"
#include "jsonx.h"
#include "timeutil.h"
#include "util.h"

extern const unsigned char hub_dashboard_html[];
extern const size_t hub_dashboard_html_len;

struct hub_http {
  struct MHD_Daemon *daemon;
  hub_store *db; /* used only on the daemon's thread */
  struct hub_ctx *ctx;
  char *token;
  size_t token_len;
  int port;
};

enum route {
  R_NONE,
  R_DASHBOARD,
  R_HEALTHZ,
  R_METRICS,
  R_DEVICES,
  R_POLICIES,
  R_TICKETS,
  R_SALES,
  R_SETTLEMENT,
};

static const struct {
  const char *method, *path;
  enum route route;
  bool auth;
} routes[] = {
    {"GET", "/", R_DASHBOARD, true},
    {"GET", "/healthz", R_HEALTHZ, false},
    {"GET", "/metrics", R_METRICS, false},
    {"GET", "/api/v1/devices", R_DEVICES, true},
    {"POST", "/api/v1/policies", R_POLICIES, true},
    {"GET", "/api/v1/tickets", R_TICKETS, true},
    {"GET", "/api/v1/reports/sales", R_SALES, true},
    {"GET", "/api/v1/settlement", R_SETTLEMENT, true},
};

struct req {
  enum route route;
  bool responded;
  unsigned err_status; /* answer this once the body is drained (0: none) */
  char err_msg[160];
  size_t drained;
  char *body;
  size_t len, cap;
};

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                               const void *data, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"shoal-hub\"");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, const cJSON *j) {
  char *text = shoal_json_print(j);
  if (!text)
    return respond(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
  enum MHD_Result ret = respond(c, status, "application/json", text, strlen(text));
  free(text);
  return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *msg) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "error", msg);
  enum MHD_Result ret = respond_json(c, status, j);
  cJSON_Delete(j);
  return ret;
}

/* Maps a failure to its HTTP status: bad input 400, limits 413, else 500. */
static enum MHD_Result respond_fail(struct MHD_Connection *c, shoal_err rc, const shoal_diag *d) {
  unsigned status = 500;
  switch (rc) {
  case SHOAL_EINPUT:
  case SHOAL_EJSON:
  case SHOAL_ENOTFOUND:
  case SHOAL_EUSAGE:
    status = 400;
    break;
  case SHOAL_ELIMIT:
    status = 413;
    break;
  default:
    break;
  }
  return respond_error(c, status, d->msg[0] ? d->msg : shoal_err_str(rc));
}

/* ---- auth ---- */

/* Constant time over the configured token: no early exit on a mismatch. */
static bool token_matches(const struct hub_http *h, const char *v) {
  while (*v == ' ')
    v++;
  size_t n = strlen(v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  unsigned char diff = (unsigned char)(n != h->token_len);
  for (size_t i = 0; i < h->token_len; i++)
    diff |= (unsigned char)(h->token[i] ^ (i < n ? v[i] : 0));
  return diff == 0;
}

/* The Authorization: Bearer header; for the dashboard page only, also
 * ?token= (a browser's page load cannot carry the header). */
static bool authorized(const struct hub_http *h, struct MHD_Connection *c, bool allow_query) {
  const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (v && strncasecmp(v, "Bearer ", 7) == 0)
    return token_matches(h, v + 7);
  const char *q = allow_query ? MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token") : NULL;
  return q && token_matches(h, q);
}

/* ---- handlers ---- */

static const char *arg(struct MHD_Connection *c, const char *key) {
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static shoal_err period(struct MHD_Connection *c, bool required, int64_t *from, int64_t *to,
                        shoal_diag *d) {
  const char *f = arg(c, "from"), *t = arg(c, "to");
  if (required && (!f || !*f || !t || !*t))
    return shoal_fail(d, SHOAL_EINPUT, "from and to are required (ISO-8601)");
  *from = HUB_PERIOD_ALL_FROM;
  *to = HUB_PERIOD_ALL_TO;
  shoal_err rc;
  if ((rc = hub_reports_time_parse(f, "from", from, d)) != SHOAL_OK ||
      (rc = hub_reports_time_parse(t, "to", to, d)) != SHOAL_OK)
    return rc;
  if (*to < *from)
    return shoal_fail(d, SHOAL_EINPUT, "to is before from");
  return SHOAL_OK;
}

static enum MHD_Result handle(struct hub_http *h, struct MHD_Connection *c, struct req *r) {
  shoal_diag d = {{0}};
  shoal_err rc = SHOAL_OK;
  cJSON *out = NULL;
  enum MHD_Result ret;
  int64_t now = shoal_now_ms(), from, to;
  switch (r->route) {
  case R_DASHBOARD:
    return respond(c, 200, "text/html; charset=utf-8", hub_dashboard_html, hub_dashboard_html_len);
  case R_HEALTHZ: {
    int64_t one = 0;
    if ((rc = hub_store_query_int(h->db, "SELECT 1", 0, &one, &d)) != SHOAL_OK)
      return respond_fail(c, rc, &d);
    return respond(c, 200, "application/json", "{\"ok\":true}", 11);
  }
  case R_METRICS: {
    char *text = NULL;
    size_t len = 0;
    if ((rc = hub_metrics_render(h->db, now, &text, &len, &d)) != SHOAL_OK)
      return respond_fail(c, rc == SHOAL_ELIMIT ? SHOAL_EINTERNAL : rc, &d);
    ret = respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return ret;
  }
  case R_DEVICES:
    rc = hub_reports_devices(h->db, now, &out, &d);
    break;
  case R_TICKETS:
    rc = hub_reports_tickets(h->db, now, &out, &d);
    break;
  case R_SALES: {
    const char *by = arg(c, "by");
    if ((rc = period(c, false, &from, &to, &d)) == SHOAL_OK)
      rc = hub_reports_sales(h->db, by ? by : "store", from, to, &out, &d);
    break;
  }
  case R_SETTLEMENT: {
    if ((rc = period(c, true, &from, &to, &d)) != SHOAL_OK ||
        (rc = hub_reports_settlement(h->db, from, to, &out, &d)) != SHOAL_OK)
      break;
    const char *fmt = arg(c, "format");
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    if ((fmt && strcmp(fmt, "csv") == 0) || (!fmt && accept && strstr(accept, "text/csv"))) {
      char *csv = hub_reports_settlement_csv(out);
      cJSON_Delete(out);
      if (!csv)
        return respond_error(c, 500, "out of memory");
      ret = respond(c, 200, "text/csv; charset=utf-8", csv, strlen(csv));
      free(csv);
      return ret;
    }
    if (fmt && strcmp(fmt, "json") != 0) {
      cJSON_Delete(out);
      return respond_error(c, 400, "format must be json or csv");
    }
    break;
  }
  case R_POLICIES: {
    /* The same check, versioning and signing as `shoal-hub publish`; the
     * running hub publishes the recorded version to the broker. */
    if (!r->body || r->len == 0)
      return respond_error(c, 400, "the body must be a policy document");
    const char *eff = arg(c, "effective_at"), *exp = arg(c, "expires_at");
    struct hub_published pub = {0};
    rc = hub_publish_record(h->db, &h->ctx->cfg, r->body, r->len, eff && *eff ? eff : NULL,
                            exp && *exp ? exp : NULL, &pub, &d);
    if (rc != SHOAL_OK)
      break;
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "scope", pub.scope);
    cJSON_AddNumberToObject(out, "version", (double)pub.version);
    shoal_log(&h->ctx->log, SHOAL_LOG_INFO, "http: recorded policy %s version %lld", pub.scope,
              (long long)pub.version);
    hub_published_cleanup(&pub);
    break;
  }
  default:
    return respond_error(c, 404, "no such route");
  }
  if (rc != SHOAL_OK)
    return respond_fail(c, rc, &d);
  ret = respond_json(c, 200, out);
  cJSON_Delete(out);
  return ret;
}

/* A request body is coming (announced by length or chunked encoding). */
static bool has_body(struct MHD_Connection *c) {
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const char *te =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return (cl && strtoull(cl, NULL, 10) > 0) || te;
}

/* The client waits for "100 Continue" before sending its body (curl does):
 * an early answer reaches it without the body ever being sent. */
static bool expects_continue(struct MHD_Connection *c) {
  const char *e = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
  return e && strcasestr(e, "100-continue");
}

/* Refuses a request. Clients that send their whole body before reading
 * (Python's http.client, most libraries) would see a broken pipe, not the
 * status, if the connection closed under them: unless the client waits for
 * 100 Continue, the body is read and dropped first (up to
 * HUB_HTTP_DRAIN_MAX bytes), then the error is sent. */
static enum MHD_Result refuse(struct MHD_Connection *c, struct req *r, unsigned status,
                              const char *msg) {
  if (!has_body(c) || expects_continue(c)) {
    r->responded = true;
    return respond_error(c, status, msg);
  }
  r->err_status = status;
  shoal_strlcpy(r->err_msg, msg, sizeof r->err_msg);
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  struct hub_http *h = cls;
  struct req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    *con_cls = r;
    bool auth = true, path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
      if (strcmp(routes[i].path, url) != 0)
        continue;
      path_known = true;
      if (strcmp(routes[i].method, method) == 0 ||
          (strcmp(routes[i].method, "GET") == 0 && strcmp(method, "HEAD") == 0)) {
        r->route = routes[i].route;
        auth = routes[i].auth;
      }
    }
    if (r->route == R_NONE) {
      char msg[160];
      snprintf(msg, sizeof msg, path_known ? "method %.16s not allowed here" : "no such route",
               method);
      return refuse(c, r, 404, msg);
    }
    if (auth && !authorized(h, c, r->route == R_DASHBOARD))
      return refuse(c, r, 401, "missing or wrong bearer token");
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)HUB_HTTP_API_BODY_MAX)
      return refuse(c, r, 413, "request body over the size limit");
    return MHD_YES;
  }
  if (r->responded)
    return MHD_YES;
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->err_status || r->route != R_POLICIES) {
      /* Only POST /api/v1/policies reads a body; the rest is dropped, and a
       * sender that does not stop is cut off. */
      r->drained += n;
      return r->drained > HUB_HTTP_DRAIN_MAX ? MHD_NO : MHD_YES;
    }
    if (r->len + n > HUB_HTTP_API_BODY_MAX) {
      free(r->body);
      r->body = NULL;
      r->len = r->cap = 0;
      r->err_status = 413;
      shoal_strlcpy(r->err_msg, "request body over the size limit", sizeof r->err_msg);
      r->drained = n;
      return MHD_YES;
    }
    if (r->len + n + 1 > r->cap) {
      size_t cap = r->cap ? r->cap : 4096;
      while (cap < r->len + n + 1)
        cap *= 2;
      char *nb = realloc(r->body, cap);
      if (!nb)
        return MHD_NO;
      r->body = nb;
      r->cap = cap;
    }
    memcpy(r->body + r->len, upload_data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return MHD_YES;
  }
  r->responded = true;
  if (r->err_status)
    return respond_error(c, r->err_status, r->err_msg);
  return handle(h, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  struct req *r = *con_cls;
  if (r) {
    free(r->body);
    free(r);
    *con_cls = NULL;
  }
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  struct hub_http *h = cls;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  shoal_log(&h->ctx->log, SHOAL_LOG_WARN, "http: %s", buf);
}

/* "host:port" or "[v6]:port" -> a socket address. */
static shoal_err parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
                              shoal_diag *d) {
  char host[256], port[16];
  const char *colon;
  if (listen[0] == '[') {
    const char *end = strchr(listen, ']');
    if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
      return shoal_fail(d, SHOAL_ECONFIG, "http.listen \"%s\" must be host:port", listen);
    memcpy(host, listen + 1, (size_t)(end - listen - 1));
    host[end - listen - 1] = '\0';
    colon = end + 1;
  } else {
    colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
      return shoal_fail(d, SHOAL_ECONFIG, "http.listen \"%s\" must be host:port", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
  }
  if (!shoal_strlcpy(port, colon + 1, sizeof port) || !port[0] ||
      strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
    return shoal_fail(d, SHOAL_ECONFIG, "http.listen \"%s\": bad port", listen);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0 || !res)
    return shoal_fail(d, SHOAL_ECONFIG, "http.listen \"%s\": %s", listen, gai_strerror(gai));
  /* A name like "localhost" may resolve to ::1 and 127.0.0.1; take IPv4
   * when offered, as clients of "localhost:PORT" mostly try it first. */
  struct addrinfo *pick = res;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
  memcpy(ss, pick->ai_addr, pick->ai_addrlen);
  *sslen = pick->ai_addrlen;
  freeaddrinfo(res);
  return SHOAL_OK;
}

shoal_err hub_http_start(struct hub_ctx *ctx, struct hub_http **out, shoal_diag *diag) {
  *out = NULL;
  if (!ctx->cfg.http_listen)
    return SHOAL_OK;
  if (!ctx->cfg.http_token_file)
    return shoal_fail(diag, SHOAL_ECONFIG, "http.token_file is required with http.listen");
  shoal_err rc;
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  if ((rc = parse_listen(ctx->cfg.http_listen, &ss, &sslen, diag)) != SHOAL_OK)
    return rc;
  struct hub_http *h = calloc(1, sizeof *h);
  if (!h)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  h->ctx = ctx;
  size_t len = 0;
  if ((rc = shoal_file_read(ctx->cfg.http_token_file, HUB_TOKEN_MAX_BYTES, &h->token, &len,
                            diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "http.token_file");
    goto fail;
  }
  while (len > 0 && (h->token[len - 1] == '\n' || h->token[len - 1] == '\r' ||
                     h->token[len - 1] == ' ' || h->token[len - 1] == '\t'))
    h->token[--len] = '\0';
  size_t lead = strspn(h->token, " \t\r\n");
  memmove(h->token, h->token + lead, len - lead + 1);
  len -= lead;
  if (len == 0) {
    rc = shoal_fail(diag, SHOAL_ECONFIG, "http.token_file %s is empty", ctx->cfg.http_token_file);
    goto fail;
  }
  h->token_len = len;
  if ((rc = hub_store_open(ctx->cfg.db, &h->db, diag)) !=
      SHOAL_OK)
    goto fail;
  /* One polling thread (epoll/poll, not select: no FD_SETSIZE cap). */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                               mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)HUB_HTTP_CONN_MAX,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HUB_HTTP_CONN_TIMEOUT_S,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
  if (!h->daemon) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot listen on %s (address in use?)", ctx->cfg.http_listen);
    goto fail;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : 0;
  shoal_log(&ctx->log, SHOAL_LOG_INFO, "http: listening on %s", ctx->cfg.http_listen);
  *out = h;
  return SHOAL_OK;
fail:
  shoal_secure_free(h->token);
  hub_store_close(h->db);
  free(h);
  return rc;
}

int hub_http_port(const struct hub_http *http) {
  return http ? http->port : 0;
}

void hub_http_stop(struct hub_http *http) {
  if (!http)
    return;
  MHD_stop_daemon(http->daemon);
  hub_store_close(http->db);
  shoal_secure_free(http->token);
  free(http);
}
