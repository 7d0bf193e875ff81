/* hub_http.c - the hub's HTTP API for headquarters (SPEC 10, 14) over
 * libmicrohttpd.
 *
 * Threads: one thread per connection (bounded by HUB_HTTP_CONN_MAX), each
 * request borrowing a database connection of its own from a bounded pool:
 * a heavy report never holds up /healthz, ingest (its own connection in the
 * run loop, WAL) or another request. A query running past
 * HUB_HTTP_QUERY_MAX_MS is interrupted (503).
 *
 * Auth (SPEC 14): every /api route needs `Authorization: Bearer <token>` of
 * a configured user (hub config "users", and the v1 http.token_file as user
 * "admin" with role admin); the route table names the least role allowed
 * (403 below it). Public: /healthz, /metrics and the dashboard's static
 * assets (the app shell holds no data; the page keeps the token in
 * sessionStorage and sends the header itself: no token ever in a URL, no
 * cookie, so no CSRF). Every write (a route with an audit action) is
 * recorded in the audit log with its user and result, refused ones too.
 *
 * Invariants: request bodies are bounded (413 past HUB_HTTP_API_BODY_MAX,
 * checked on Content-Length before reading and again while reading) and
 * must be valid UTF-8 (400); every error is JSON {"error": ...}; tokens are
 * compared in constant time and never logged. */
#include "hub_http.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hub_audit.h"
#include "hub_dispatch.h"
#include "hub_http_guard.h"
#include "hub_http_int.h"
#include "hub_http_policies.h"
#include "hub_media.h"
#include "hub_metrics.h"
#include "hub_reports.h"
#include "hub_rollout.h"
#include "hub_routes.h"
#include "hub_submissions.h"
#include "shoal/crypto.h"
#include "shoal/httpd.h"
#include "shoal/jsonx.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

/* The dashboard web app (cmake/ShoalEmbedDir.cmake). */
struct shoal_asset {
  const char *path;
  const unsigned char *bytes;
  size_t len;
};
extern const struct shoal_asset hub_dashboard_assets[];
extern const size_t hub_dashboard_assets_count;

struct hub_user {
  char name[SHOAL_ID_MAX + 1];
  char *token;
  size_t token_len;
  enum hub_role role;
};

struct hub_http {
  struct MHD_Daemon *daemon;
  struct hub_ctx *ctx;
  struct hub_user users[SHOAL_USERS_MAX + 1];
  size_t nusers;
  int port;
  /* Database connection pool: at most HUB_HTTP_CONN_MAX handles. */
  pthread_mutex_t pool_mu;
  hub_store *pool[HUB_HTTP_CONN_MAX];
  size_t pool_free; /* handles in pool[0..pool_free) are idle */
  size_t pool_open; /* handles opened in all */
  /* Heavy reports running now (at most HUB_HTTP_HEAVY_MAX): the others wait
   * asleep, so CPU-bound reports never starve /healthz, light API calls or
   * ingest of the machine's cores. */
  pthread_cond_t heavy_cv;
  int heavy_running;
  /* Slow-client defence: per-connection receive deadlines and the reserved
   * probe slots (docs/hub-http.md). */
  struct hub_http_guard *guard;
};

/* ---- handlers defined here ---- */

static shoal_err h_healthz(struct hub_call *call, cJSON **out, shoal_diag *d) {
  int64_t one = 0;
  shoal_err rc = hub_store_query_int(call->db, "SELECT 1", 0, &one, d);
  if (rc == SHOAL_OK && (!(*out = cJSON_CreateObject()) || !cJSON_AddTrueToObject(*out, "ok")))
    rc = shoal_fail(d, SHOAL_ENOMEM, "out of memory"); /* *out is the caller's to delete */
  return rc;
}

static shoal_err h_metrics(struct hub_call *call, cJSON **out, shoal_diag *d) {
  (void)out;
  shoal_err rc = hub_metrics_render(call->db, call->now_ms, &call->raw, &call->raw_len, d);
  if (rc == SHOAL_ELIMIT)
    rc = SHOAL_EINTERNAL;
  call->ctype = "text/plain; version=0.0.4; charset=utf-8";
  return rc;
}

static shoal_err h_devices(struct hub_call *call, cJSON **out, shoal_diag *d) {
  return hub_reports_devices(call->db, call->now_ms, out, d);
}

static shoal_err h_tickets(struct hub_call *call, cJSON **out, shoal_diag *d) {
  return hub_reports_tickets(call->db, call->now_ms, out, d);
}

static shoal_err period(const struct hub_call *call, bool required, int64_t *from, int64_t *to,
                        shoal_diag *d) {
  const char *f = hub_call_arg(call, "from"), *t = hub_call_arg(call, "to");
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

static shoal_err h_sales(struct hub_call *call, cJSON **out, shoal_diag *d) {
  int64_t from, to, tz_ms = 0;
  const char *by = hub_call_arg(call, "by"), *tz = hub_call_arg(call, "tz");
  shoal_err rc = period(call, false, &from, &to, d);
  if (rc == SHOAL_OK && tz && *tz)
    rc = hub_reports_tz_parse(tz, &tz_ms, d);
  if (rc == SHOAL_OK)
    rc = hub_reports_sales_tz(call->db, by ? by : "store", from, to, tz_ms, out, d);
  return rc;
}

static shoal_err h_settlement(struct hub_call *call, cJSON **out, shoal_diag *d) {
  int64_t from, to;
  shoal_err rc;
  if ((rc = period(call, true, &from, &to, d)) != SHOAL_OK ||
      (rc = hub_reports_settlement(call->db, from, to, out, d)) != SHOAL_OK)
    return rc;
  const char *fmt = hub_call_arg(call, "format");
  const char *accept =
      MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
  if ((fmt && strcmp(fmt, "csv") == 0) || (!fmt && accept && strstr(accept, "text/csv"))) {
    call->raw = hub_reports_settlement_csv(*out);
    cJSON_Delete(*out);
    *out = NULL;
    if (!call->raw)
      return shoal_fail(d, SHOAL_ENOMEM, "out of memory");
    call->raw_len = strlen(call->raw);
    call->ctype = "text/csv; charset=utf-8";
    return SHOAL_OK;
  }
  if (fmt && strcmp(fmt, "json") != 0) {
    cJSON_Delete(*out);
    *out = NULL;
    return shoal_fail(d, SHOAL_EINPUT, "format must be json or csv");
  }
  return SHOAL_OK;
}

static shoal_err h_submissions(struct hub_call *call, cJSON **out, shoal_diag *d) {
  int64_t from, to;
  const char *form = hub_call_arg(call, "form"), *store = hub_call_arg(call, "store");
  shoal_err rc = period(call, false, &from, &to, d);
  if (rc == SHOAL_OK)
    rc = hub_submissions_list(call->db, form && *form ? form : NULL, store && *store ? store : NULL,
                              from, to, out, d);
  return rc;
}

static const char *role_name(enum hub_role r);

/* GET /api/v1/me: who the token belongs to, so the dashboard can show the
 * role and disable what it would refuse (the route table still decides). */
static shoal_err h_me(struct hub_call *call, cJSON **out, shoal_diag *d) {
  if (!(*out = cJSON_CreateObject()))
    return shoal_fail(d, SHOAL_ENOMEM, "out of memory");
  if (!cJSON_AddStringToObject(*out, "name", call->user ? call->user : "") ||
      !cJSON_AddStringToObject(*out, "role", role_name(call->role)))
    return shoal_fail(d, SHOAL_ENOMEM, "out of memory"); /* *out is the caller's to delete */
  return SHOAL_OK;
}

/* ---- field service (SPEC 15): dispatch and photos ---- */

/* POST /api/v1/tickets and /api/v1/tickets/{id}/events on the request's own
 * handle; the ingest loop publishes the changed ticket to its store's
 * devices on its next tick. */
static shoal_err ticket_call(struct hub_call *call, const char *id, cJSON **out, shoal_diag *d) {
  struct hub_ctx hc = *call->ctx;
  hc.db = call->db;
  hc.publish = NULL;
  cJSON *req = NULL;
  shoal_err rc = hub_call_json(call, &req, d);
  if (rc == SHOAL_OK)
    rc = id ? hub_dispatch_event(&hc, id, req, out, d) : hub_dispatch_open(&hc, req, out, d);
  cJSON_Delete(req);
  return rc;
}

static shoal_err h_ticket_open(struct hub_call *call, cJSON **out, shoal_diag *d) {
  shoal_err rc = ticket_call(call, NULL, out, d);
  if (rc == SHOAL_OK) {
    call->status = 201;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(*out, "id");
    if (cJSON_IsString(id))
      shoal_strlcpy(call->target, id->valuestring, sizeof call->target);
  }
  return rc;
}

/* POST /api/v1/tickets/{id}/events */
static shoal_err h_ticket_event(struct hub_call *call, cJSON **out, shoal_diag *d) {
  char id[SHOAL_ID_MAX + 1];
  const char *slash = strchr(call->rest, '/');
  size_t n = slash ? (size_t)(slash - call->rest) : 0;
  if (!slash || strcmp(slash, "/events") != 0 || n == 0 || n >= sizeof id) {
    call->status = 404;
    return shoal_fail(d, SHOAL_ENOTFOUND, "no such route");
  }
  memcpy(id, call->rest, n);
  id[n] = '\0';
  shoal_strlcpy(call->target, id, sizeof call->target);
  return ticket_call(call, id, out, d);
}

/* GET /api/v1/media/{sha256}: the file streams from disk. */
static shoal_err h_media_get(struct hub_call *call, cJSON **out, shoal_diag *d) {
  (void)out;
  char *path = NULL, type[SHOAL_MEDIA_TYPE_MAX + 1];
  int64_t bytes = 0;
  if (strchr(call->rest, '/'))
    return shoal_fail(d, SHOAL_ENOTFOUND, "no such photo");
  shoal_err rc =
      hub_media_get(call->db, call->ctx->cfg.media_dir, call->rest, &path, &bytes, type, d);
  if (rc != SHOAL_OK)
    return rc;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  if (fd < 0)
    return shoal_fail(d, SHOAL_EINTERNAL, "the photo file is missing");
  call->fd = fd;
  call->fd_len = (uint64_t)bytes;
  shoal_strlcpy(call->ctype_buf, type, sizeof call->ctype_buf);
  call->ctype = call->ctype_buf;
  return SHOAL_OK;
}

/* PUT /api/v1/media/{sha256}: no token (SPEC 15: only bytes an ingested
 * submission named are taken). The body streamed into call->upload, begun
 * in on_request (media_put_begin); this verifies and records it. */
static shoal_err h_media_put(struct hub_call *call, cJSON **out, shoal_diag *d) {
  struct hub_media_put *p = call->upload;
  call->upload = NULL;
  if (!p)
    return shoal_fail(d, SHOAL_EINPUT, "empty photo upload");
  shoal_err rc = hub_media_put_finish(call->db, p, d);
  if (rc != SHOAL_OK)
    return rc;
  if (!(*out = cJSON_CreateObject()))
    return shoal_fail(d, SHOAL_ENOMEM, "out of memory");
  if (!cJSON_AddStringToObject(*out, "sha256", call->rest) ||
      !cJSON_AddTrueToObject(*out, "stored"))
    return shoal_fail(d, SHOAL_ENOMEM, "out of memory"); /* *out is the caller's to delete */
  call->status = 201;
  return SHOAL_OK;
}

/* ---- customers, loyalty and orders (SPEC 13, hub_routes.c) ---- */

static const char *ext_query(void *conn, const char *key) {
  return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *ext_header(void *conn, const char *name) {
  return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Every SPEC 13 route: hub_routes.c matches the path and serves it. Orders
 * come with a bearer token of an operator or an X-Shoal-Signature. */
static shoal_err h_customers(struct hub_call *call, cJSON **out, shoal_diag *d) {
  struct hub_route_match m;
  bool known = false;
  if (!hub_routes_match(call->method, call->url, &m, &known)) {
    call->status = 404;
    return shoal_fail(d, SHOAL_ENOTFOUND, known ? "method not allowed here" : "no such route");
  }
  if (call->len > m.body_max && call->body) {
    call->status = 413;
    return shoal_fail(d, SHOAL_ELIMIT, "request body over the size limit");
  }
  bool bearer_ok = call->user && call->role >= HUB_ROLE_OPERATOR;
  struct hub_route_req q = {m.id,      call->url, call->body, call->len,
                            bearer_ok, ext_query, ext_header, call->conn};
  struct hub_route_resp resp = {0};
  hub_routes_handle(call->ctx, call->db, &q, &resp);
  if (!resp.json)
    return shoal_fail(d, SHOAL_ENOMEM, "out of memory");
  call->status = resp.status;
  if (resp.status >= 400) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp.json, "error");
    shoal_fail(d, SHOAL_EINPUT, "%s", cJSON_IsString(e) ? e->valuestring : "refused");
    cJSON_Delete(resp.json);
    return SHOAL_EINPUT;
  }
  *out = resp.json;
  return SHOAL_OK;
}

/* ---- the route table ----
 * One line per route; a path ending in '/' is a prefix (the handler reads
 * call->rest). Add new routes here with their least role and, for writes,
 * the audit action. */
static const struct hub_route routes[] = {
    {"GET", "/healthz", HUB_ROLE_PUBLIC, NULL, h_healthz, false},
    {"GET", "/metrics", HUB_ROLE_PUBLIC, NULL, h_metrics, false},
    {"GET", "/api/v1/devices", HUB_ROLE_VIEWER, NULL, h_devices, false},
    {"GET", "/api/v1/tickets", HUB_ROLE_VIEWER, NULL, h_tickets, false},
    {"GET", "/api/v1/reports/sales", HUB_ROLE_VIEWER, NULL, h_sales, true},
    {"GET", "/api/v1/settlement", HUB_ROLE_VIEWER, NULL, h_settlement, true},
    /* SPEC 14: policy lifecycle */
    {"GET", "/api/v1/policies", HUB_ROLE_VIEWER, NULL, hub_h_policies_list, false},
    {"POST", "/api/v1/policies", HUB_ROLE_OPERATOR, "policy.publish", hub_h_policies_publish,
     false},
    {"GET", "/api/v1/policies/", HUB_ROLE_VIEWER, NULL, hub_h_policies_scope, false},
    {"POST", "/api/v1/policies/", HUB_ROLE_OPERATOR, "policy.rollback", hub_h_policies_rollback,
     false},
    {"POST", "/api/v1/quote", HUB_ROLE_OPERATOR, "quote", hub_h_quote, false},
    {"GET", "/api/v1/rollouts", HUB_ROLE_VIEWER, NULL, hub_h_rollouts_list, false},
    {"POST", "/api/v1/rollouts", HUB_ROLE_OPERATOR, "rollout.create", hub_h_rollouts_create, false},
    {"GET", "/api/v1/rollouts/", HUB_ROLE_VIEWER, NULL, hub_h_rollout_get, false},
    {"POST", "/api/v1/rollouts/", HUB_ROLE_OPERATOR, "rollout.action", hub_h_rollout_action, false},
    {"GET", "/api/v1/audit", HUB_ROLE_VIEWER, NULL, hub_h_audit, false},
    {"GET", "/api/v1/me", HUB_ROLE_VIEWER, NULL, h_me, false},
    {"GET", "/api/v1/forms/submissions", HUB_ROLE_VIEWER, NULL, h_submissions, true},
    /* SPEC 15: field service */
    {"POST", "/api/v1/tickets", HUB_ROLE_OPERATOR, "ticket.open", h_ticket_open, false},
    {"POST", "/api/v1/tickets/", HUB_ROLE_OPERATOR, "ticket.event", h_ticket_event, false},
    {"GET", "/api/v1/media/", HUB_ROLE_VIEWER, NULL, h_media_get, false},
    {"PUT", "/api/v1/media/", HUB_ROLE_PUBLIC, NULL, h_media_put, false},
    /* SPEC 13: customers, loyalty, orders (HUB_ROLE_SIGNED: a bearer token
     * if one is given, else the handler checks X-Shoal-Signature) */
    {"GET", "/api/v1/customers", HUB_ROLE_VIEWER, NULL, h_customers, false},
    {"POST", "/api/v1/customers", HUB_ROLE_OPERATOR, "customer.upsert", h_customers, false},
    {"GET", "/api/v1/customers/", HUB_ROLE_VIEWER, NULL, h_customers, false},
    {"POST", "/api/v1/customers/", HUB_ROLE_OPERATOR, "customer.code", h_customers, false},
    {"POST", "/api/v1/orders", HUB_ROLE_SIGNED, NULL, h_customers, false},
    {"GET", "/api/v1/reports/repeat", HUB_ROLE_VIEWER, NULL, h_customers, true},
};
#define NROUTES (sizeof routes / sizeof routes[0])

struct req {
  const struct hub_route *route;
  const struct shoal_asset *asset;
  const struct hub_user *user;
  bool responded;
  unsigned err_status; /* answer this once the body is drained (0: none) */
  char err_msg[160];
  size_t drained;
  char *body;
  size_t len, cap;
  struct hub_media_put *put; /* PUT /api/v1/media/{sha256} in progress */
};

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                               const void *data, size_t len, bool persistent) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, (void *)data, persistent ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  /* The dashboard runs only its own scripts (no inline script, no eval)
   * and cannot be framed; harmless on JSON answers. */
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'self'; img-src 'self' blob: data:; "
                          "style-src 'self' 'unsafe-inline'; object-src 'none'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"shoal-hub\"");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, const cJSON *j) {
  char *text = shoal_json_print(j);
  if (!text)
    return respond(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25, true);
  enum MHD_Result ret = respond(c, status, "application/json", text, strlen(text), false);
  free(text);
  return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *msg) {
  cJSON *j = cJSON_CreateObject();
  if (j && !cJSON_AddStringToObject(j, "error", msg)) {
    cJSON_Delete(j);
    j = NULL; /* respond_json answers 500 out of memory */
  }
  enum MHD_Result ret = respond_json(c, status, j);
  cJSON_Delete(j);
  return ret;
}

/* A failure's HTTP status: bad input 400, unknown 404, wrong state 409,
 * limits 413, an interrupted query 503, else 500. */
static unsigned fail_status(shoal_err rc) {
  switch (rc) {
  case SHOAL_EINPUT:
  case SHOAL_EJSON:
  case SHOAL_EUSAGE:
  case SHOAL_ESCOPE:
    return 400;
  case SHOAL_ENOTFOUND:
    return 404;
  case SHOAL_ESTATE:
    return 409;
  case SHOAL_ELIMIT:
    return 413;
  case SHOAL_ETIMEOUT:
    return 503;
  default:
    return 500;
  }
}

/* ---- call helpers for handlers ---- */

const char *hub_call_arg(const struct hub_call *call, const char *key) {
  return MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, key);
}

shoal_err hub_call_json(const struct hub_call *call, cJSON **out, shoal_diag *diag) {
  if (!call->body || call->len == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "the body must be a JSON object");
  shoal_err rc = shoal_json_parse(call->body, call->len, out, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (!cJSON_IsObject(*out)) {
    cJSON_Delete(*out);
    *out = NULL;
    return shoal_fail(diag, SHOAL_EINPUT, "the body must be a JSON object");
  }
  return SHOAL_OK;
}

/* ---- database pool ---- */

#define HUB_HTTP_QUERY_MAX_MS 30000 /* a request's queries, in all */
#define HUB_HTTP_HEAVY_MAX    2     /* heavy reports at once (about the cores HQ spares) */

/* Waits (at most until deadline_mono_ms) for a heavy-report slot. */
static bool heavy_enter(struct hub_http *h, int64_t deadline_mono_ms) {
  pthread_mutex_lock(&h->pool_mu);
  while (h->heavy_running >= HUB_HTTP_HEAVY_MAX) {
    int64_t left = deadline_mono_ms - shoal_mono_ms();
    if (left <= 0) {
      pthread_mutex_unlock(&h->pool_mu);
      return false;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wait = left < 200 ? left : 200;
    ts.tv_nsec += (long)(wait % 1000) * 1000000L;
    ts.tv_sec += wait / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&h->heavy_cv, &h->pool_mu, &ts);
  }
  h->heavy_running++;
  pthread_mutex_unlock(&h->pool_mu);
  return true;
}

static void heavy_leave(struct hub_http *h) {
  pthread_mutex_lock(&h->pool_mu);
  h->heavy_running--;
  pthread_cond_signal(&h->heavy_cv);
  pthread_mutex_unlock(&h->pool_mu);
}

static shoal_err pool_get(struct hub_http *h, hub_store **out, shoal_diag *diag) {
  pthread_mutex_lock(&h->pool_mu);
  hub_store *db = h->pool_free ? h->pool[--h->pool_free] : NULL;
  bool may_open = !db && h->pool_open < HUB_HTTP_CONN_MAX;
  if (may_open)
    h->pool_open++;
  pthread_mutex_unlock(&h->pool_mu);
  if (db) {
    *out = db;
    return SHOAL_OK;
  }
  if (!may_open)
    return shoal_fail(diag, SHOAL_ETIMEOUT, "too many requests at once");
  shoal_err rc = hub_store_open_again(h->ctx->db, &db, diag);
  if (rc != SHOAL_OK) {
    pthread_mutex_lock(&h->pool_mu);
    h->pool_open--;
    pthread_mutex_unlock(&h->pool_mu);
    return rc;
  }
  *out = db;
  return SHOAL_OK;
}

static void pool_put(struct hub_http *h, hub_store *db) {
  if (!db)
    return;
  hub_store_set_deadline(db, NULL);
  if (hub_store_in_tx(db))
    hub_store_rollback(db);
  pthread_mutex_lock(&h->pool_mu);
  h->pool[h->pool_free++] = db;
  pthread_mutex_unlock(&h->pool_mu);
}

/* ---- auth ---- */

/* Constant time over every configured token: no early exit on a mismatch,
 * and every user is compared. */
static const struct hub_user *token_user(const struct hub_http *h, const char *v) {
  while (*v == ' ')
    v++;
  size_t n = strlen(v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  const struct hub_user *found = NULL;
  for (size_t u = 0; u < h->nusers; u++) {
    const struct hub_user *us = &h->users[u];
    unsigned char diff = (unsigned char)(n != us->token_len);
    for (size_t i = 0; i < us->token_len; i++)
      diff |= (unsigned char)(us->token[i] ^ (i < n ? v[i] : 0));
    if (diff == 0 && !found)
      found = us;
  }
  return found;
}

static const struct hub_user *authenticate(const struct hub_http *h, struct MHD_Connection *c) {
  const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (v && strncasecmp(v, "Bearer ", 7) == 0)
    return token_user(h, v + 7);
  return NULL;
}

static const char *role_name(enum hub_role r) {
  return r == HUB_ROLE_ADMIN ? "admin" : r == HUB_ROLE_OPERATOR ? "operator" : "viewer";
}

/* ---- UTF-8 ---- */

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned min;
    unsigned cp;
    if ((c & 0xE0) == 0xC0)
      len = 2, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
      len = 3, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
      len = 4, min = 0x10000, cp = c & 0x07;
    else
      return false;
    if (i + len > n)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

/* ---- the audit hook ---- */

static void audit(struct hub_http *h, hub_store *db, const struct req *r, const char *action,
                  const char *target, unsigned status, const char *why) {
  char result[300];
  if (status < 300)
    snprintf(result, sizeof result, "ok");
  else
    snprintf(result, sizeof result, "%u %.280s", status, why ? why : "");
  shoal_diag d = {{0}};
  hub_store *own = NULL;
  if (!db && pool_get(h, &own, &d) != SHOAL_OK) {
    shoal_log(&h->ctx->log, SHOAL_LOG_WARN, "http: cannot write the audit log: %s", d.msg);
    return;
  }
  if (hub_audit_record(db ? db : own, shoal_now_ms(), r->user ? r->user->name : NULL, action,
                       target, result, &d) != SHOAL_OK)
    shoal_log(&h->ctx->log, SHOAL_LOG_WARN, "http: cannot write the audit log: %s", d.msg);
  pool_put(h, own);
}

/* ---- dispatch ---- */

static enum MHD_Result serve_asset(struct MHD_Connection *c, const struct shoal_asset *a) {
  static const struct {
    const char *ext, *ctype;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".map", "application/json"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const char *ctype = "application/octet-stream";
  const char *dot = strrchr(a->path, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(dot, types[i].ext) == 0)
      ctype = types[i].ctype;
  return respond(c, 200, ctype, a->bytes, a->len, true);
}

static enum MHD_Result handle(struct hub_http *h, struct MHD_Connection *c, struct req *r,
                              const char *url, const char *method) {
  if (r->asset)
    return serve_asset(c, r->asset);
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  enum MHD_Result ret;
  const struct hub_route *rt = r->route;
  struct hub_call call = {
      .ctx = h->ctx,
      .conn = c,
      .method = method,
      .url = url,
      .rest = url + strlen(rt->path),
      .body = r->body,
      .len = r->len,
      .user = r->user ? r->user->name : NULL,
      .role = r->user ? r->user->role : HUB_ROLE_PUBLIC,
      .now_ms = shoal_now_ms(),
      .fd = -1,
      .upload = r->put,
  };
  r->put = NULL; /* the handler owns it now */
  if (r->body && !utf8_valid((const unsigned char *)r->body, r->len)) {
    if (rt->action)
      audit(h, NULL, r, rt->action, NULL, 400, "the body is not valid UTF-8");
    return respond_error(c, 400, "the body is not valid UTF-8");
  }
  int64_t deadline = shoal_mono_ms() + HUB_HTTP_QUERY_MAX_MS;
  bool heavy = rt->heavy && heavy_enter(h, deadline);
  shoal_err rc = rt->heavy && !heavy
                     ? shoal_fail(&d, SHOAL_ETIMEOUT, "too many reports running; try again")
                     : pool_get(h, &call.db, &d);
  if (rc == SHOAL_OK) {
    hub_store_set_deadline(call.db, &deadline);
    rc = rt->handler(&call, &out, &d);
    if (rc == SHOAL_EDB && shoal_mono_ms() > deadline)
      rc = shoal_fail(&d, SHOAL_ETIMEOUT, "the request ran past %d ms", HUB_HTTP_QUERY_MAX_MS);
  }
  unsigned status = rc == SHOAL_OK ? (call.status ? call.status : 200)
                                   : (call.status >= 400 ? call.status : fail_status(rc));
  const char *msg = d.msg[0] ? d.msg : shoal_err_str(rc);
  if (rt->action)
    audit(h, call.db, r, call.action ? call.action : rt->action,
          call.target[0] ? call.target : NULL, status, msg);
  pool_put(h, call.db);
  if (heavy)
    heavy_leave(h);
  hub_media_put_abort(call.upload);
  if (rc != SHOAL_OK) {
    cJSON_Delete(out);
    free(call.raw);
    if (call.fd >= 0)
      close(call.fd);
    return respond_error(c, status, msg);
  }
  if (call.fd >= 0) {
    /* The file streams from disk; MHD closes fd with the response. */
    struct MHD_Response *resp = MHD_create_response_from_fd(call.fd_len, call.fd);
    if (!resp) {
      close(call.fd);
      return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, call.ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; sandbox");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=86400");
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
  }
  if (call.raw) {
    ret = respond(c, status, call.ctype ? call.ctype : "text/plain", call.raw, call.raw_len, false);
    free(call.raw);
    return ret;
  }
  ret = respond_json(c, status, out);
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

/* The route for method and url: exact paths first, then the longest
 * prefix. *path_known tells a 405-like miss from an unknown path. */
static const struct hub_route *find_route(const char *method, const char *url, bool *path_known) {
  const struct hub_route *best = NULL;
  size_t best_len = 0;
  bool head = strcmp(method, "HEAD") == 0;
  for (size_t i = 0; i < NROUTES; i++) {
    const struct hub_route *rt = &routes[i];
    size_t pl = strlen(rt->path);
    bool prefix = rt->path[pl - 1] == '/';
    bool match =
        prefix ? strncmp(url, rt->path, pl) == 0 && url[pl] != '\0' : strcmp(url, rt->path) == 0;
    if (!match)
      continue;
    *path_known = true;
    if (strcmp(rt->method, method) != 0 && !(head && strcmp(rt->method, "GET") == 0))
      continue;
    size_t score = prefix ? pl : pl + 100000;
    if (!best || score > best_len) {
      best = rt;
      best_len = score;
    }
  }
  return best;
}

static const struct shoal_asset *find_asset(const char *url) {
  if (strcmp(url, "/") == 0)
    url = "/index.html";
  for (size_t i = 0; i < hub_dashboard_assets_count; i++)
    if (strcmp(hub_dashboard_assets[i].path, url) == 0)
      return &hub_dashboard_assets[i];
  return NULL;
}

/* The guard's entry for a connection (NULL if the guard table was full). */
static struct hub_http_conn *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* Connection opened/closed: MHD reports the close before closing the
 * socket, which is what lets the watchdog shut sockets down safely. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  struct hub_http *h = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct hub_http_conn *hc = ci ? hub_http_guard_opened(h->guard, ci->connect_fd) : NULL;
    *socket_context = hc;
    if (!hc && ci)
      shutdown(ci->connect_fd, SHUT_RDWR); /* no deadline could be kept: refuse */
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    hub_http_guard_closed(h->guard, *socket_context);
    *socket_context = NULL;
  }
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
    bool path_known = false;
    r->route = find_route(method, url, &path_known);
    if (!r->route && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
        strncmp(url, "/api/", 5) != 0)
      r->asset = find_asset(url);
    if (!r->route && !r->asset) {
      char msg[160];
      snprintf(msg, sizeof msg, path_known ? "method %.16s not allowed here" : "no such route",
               method);
      return refuse(c, r, 404, msg);
    }
    struct hub_http_conn *hc = conn_of(c);
    if (hub_http_guard_probe_only(hc) &&
        (r->asset || (r->route->handler != h_healthz && r->route->handler != h_metrics)))
      return refuse(c, r, 503,
                    "server busy: connection limit reached; only /healthz and "
                    "/metrics are served on this connection");
    if (r->asset)
      return MHD_YES;
    if (r->route->role == HUB_ROLE_SIGNED) {
      /* A bearer token, if given, must be right and an operator's; without
       * one the handler checks the body's signature. */
      bool has_auth =
          MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION) != NULL;
      r->user = has_auth ? authenticate(h, c) : NULL;
      if (has_auth && (!r->user || r->user->role < HUB_ROLE_OPERATOR) &&
          !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Shoal-Signature"))
        return refuse(c, r, r->user ? 403 : 401, "missing or wrong bearer token");
    } else if (r->route->role != HUB_ROLE_PUBLIC) {
      r->user = authenticate(h, c);
      if (!r->user) {
        if (r->route->action)
          audit(h, NULL, r, r->route->action, url, 401, "missing or wrong bearer token");
        return refuse(c, r, 401, "missing or wrong bearer token");
      }
      if (r->user->role < r->route->role) {
        char msg[160];
        snprintf(msg, sizeof msg, "user %s is %s; this route needs %s", r->user->name,
                 role_name(r->user->role), role_name(r->route->role));
        if (r->route->action)
          audit(h, NULL, r, r->route->action, url, 403, msg);
        return refuse(c, r, 403, msg);
      }
    }
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (r->route->handler == h_media_put) {
      /* Refused before a byte is stored: unknown, held or wrong size. */
      int64_t len = cl && *cl && strspn(cl, "0123456789") == strlen(cl) && strlen(cl) < 19
                        ? (int64_t)strtoll(cl, NULL, 10)
                        : -1;
      shoal_diag d = {{0}};
      hub_store *db = NULL;
      shoal_err rc = pool_get(h, &db, &d);
      if (rc == SHOAL_OK)
        rc = hub_media_put_begin(db, h->ctx->cfg.media_dir, url + strlen(r->route->path), len,
                                 &r->put, &d);
      pool_put(h, db);
      if (rc != SHOAL_OK)
        return refuse(c, r, fail_status(rc), d.msg);
      hub_http_guard_headers(h->guard, hc, len, SHOAL_MEDIA_MAX_BYTES);
      return MHD_YES;
    }
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)HUB_HTTP_API_BODY_MAX) {
      if (r->route->action)
        audit(h, NULL, r, r->route->action, url, 413, "request body over the size limit");
      return refuse(c, r, 413, "request body over the size limit");
    }
    /* Accepted: the body (if any) gets time in proportion to its size. */
    hub_http_guard_headers(h->guard, hc,
                           has_body(c) ? (cl ? (int64_t)strtoll(cl, NULL, 10) : -1) : 0,
                           HUB_HTTP_API_BODY_MAX);
    return MHD_YES;
  }
  if (r->responded)
    return MHD_YES;
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->put && !r->err_status) {
      shoal_diag d = {{0}};
      shoal_err rc = hub_media_put_write(r->put, upload_data, n, &d);
      if (rc != SHOAL_OK) {
        hub_media_put_abort(r->put);
        r->put = NULL;
        r->err_status = fail_status(rc);
        shoal_strlcpy(r->err_msg, d.msg, sizeof r->err_msg);
        r->drained = n;
      }
      return MHD_YES;
    }
    if (r->err_status || !r->route || strcmp(r->route->method, "POST") != 0) {
      /* Only POST routes read a body; the rest is dropped, and a sender
       * that does not stop is cut off. */
      r->drained += n;
      return r->drained > HUB_HTTP_DRAIN_MAX ? MHD_NO : MHD_YES;
    }
    if (r->len + n > HUB_HTTP_API_BODY_MAX) {
      free(r->body);
      r->body = NULL;
      r->len = r->cap = 0;
      r->err_status = 413;
      shoal_strlcpy(r->err_msg, "request body over the size limit", sizeof r->err_msg);
      if (r->route->action)
        audit(h, NULL, r, r->route->action, url, 413, r->err_msg);
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
  hub_http_guard_handling(h->guard, conn_of(c)); /* the handler's time is not counted */
  if (r->err_status)
    return respond_error(c, r->err_status, r->err_msg);
  return handle(h, c, r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)toe;
  struct hub_http *h = cls;
  hub_http_guard_idle(h->guard, conn_of(c)); /* a keep-alive's next request: a new deadline */
  struct req *r = *con_cls;
  if (r) {
    hub_media_put_abort(r->put); /* a client gone mid-upload leaves nothing */
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

/* Reads a token file (trimmed, non-empty) into u. */
static shoal_err load_user(struct hub_user *u, const char *name, const char *file,
                           enum hub_role role, const char *what, shoal_diag *diag) {
  size_t len = 0;
  shoal_err rc = shoal_file_read(file, HUB_TOKEN_MAX_BYTES, &u->token, &len, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "%s", what);
    return rc;
  }
  while (len > 0 && (u->token[len - 1] == '\n' || u->token[len - 1] == '\r' ||
                     u->token[len - 1] == ' ' || u->token[len - 1] == '\t'))
    u->token[--len] = '\0';
  size_t lead = strspn(u->token, " \t\r\n");
  memmove(u->token, u->token + lead, len - lead + 1);
  len -= lead;
  if (len == 0)
    return shoal_fail(diag, SHOAL_ECONFIG, "%s %s is empty", what, file);
  u->token_len = len;
  shoal_strlcpy(u->name, name, sizeof u->name);
  u->role = role;
  return SHOAL_OK;
}

static void free_users(struct hub_http *h) {
  for (size_t i = 0; i < h->nusers; i++)
    shoal_secure_free(h->users[i].token);
  h->nusers = 0;
}

shoal_err hub_http_start(struct hub_ctx *ctx, struct hub_http **out, shoal_diag *diag) {
  *out = NULL;
  if (!ctx->cfg.http_listen)
    return SHOAL_OK;
  if (!ctx->cfg.http_token_file && ctx->cfg.user_count == 0)
    return shoal_fail(diag, SHOAL_ECONFIG,
                      "http.token_file or \"users\" is required with http.listen");
  shoal_err rc;
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  if ((rc = shoal_httpd_parse_tcp("http.listen", ctx->cfg.http_listen, &ss, &sslen, diag)) !=
      SHOAL_OK)
    return rc;
  struct hub_http *h = calloc(1, sizeof *h);
  if (!h)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  h->ctx = ctx;
  pthread_mutex_init(&h->pool_mu, NULL);
  pthread_cond_init(&h->heavy_cv, NULL);
  if (ctx->cfg.http_token_file) {
    if ((rc = load_user(&h->users[h->nusers], "admin", ctx->cfg.http_token_file, HUB_ROLE_ADMIN,
                        "http.token_file", diag)) != SHOAL_OK)
      goto fail;
    h->nusers++;
  }
  for (size_t i = 0; i < ctx->cfg.user_count; i++) {
    char what[64];
    snprintf(what, sizeof what, "users[%zu].token_file", i);
    if ((rc = load_user(&h->users[h->nusers], ctx->cfg.users[i].name, ctx->cfg.users[i].token_file,
                        (enum hub_role)ctx->cfg.users[i].role, what, diag)) != SHOAL_OK)
      goto fail;
    h->nusers++;
  }
  /* Two users with one token would make the audit log lie about who acted. */
  for (size_t i = 0; i < h->nusers; i++)
    for (size_t j = i + 1; j < h->nusers; j++)
      if (h->users[i].token_len == h->users[j].token_len &&
          memcmp(h->users[i].token, h->users[j].token, h->users[i].token_len) == 0) {
        rc = shoal_fail(diag, SHOAL_ECONFIG, "users %s and %s have the same token",
                        h->users[i].name, h->users[j].name);
        goto fail;
      }
  /* Open one pool handle now: a bad db path fails at start, not per request. */
  hub_store *first = NULL;
  if ((rc = pool_get(h, &first, diag)) != SHOAL_OK)
    goto fail;
  pool_put(h, first);
  if ((rc = hub_http_guard_new(HUB_HTTP_CONN_MAX, HUB_HTTP_PROBE_RESERVE,
                               HUB_HTTP_RECV_MAX_S * 1000LL, HUB_HTTP_BODY_MIN_RATE,
                               HUB_HTTP_PROBE_RECV_MS, &h->guard, diag)) != SHOAL_OK)
    goto fail;
  /* A thread per connection: a slow request never delays another. */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                   MHD_USE_ERROR_LOG;
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  h->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)(HUB_HTTP_CONN_MAX + HUB_HTTP_PROBE_RESERVE), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)HUB_HTTP_PER_IP_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)HUB_HTTP_CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
  if (!h->daemon) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot listen on %s (address in use?)", ctx->cfg.http_listen);
    goto fail;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : 0;
  shoal_log(&ctx->log, SHOAL_LOG_INFO, "http: listening on %s (%zu user(s))", ctx->cfg.http_listen,
            h->nusers);
  *out = h;
  return SHOAL_OK;
fail:
  hub_http_stop(h);
  return rc;
}

int hub_http_port(const struct hub_http *http) {
  return http ? http->port : 0;
}

void hub_http_stop(struct hub_http *http) {
  if (!http)
    return;
  if (http->daemon)
    MHD_stop_daemon(http->daemon);
  hub_http_guard_free(http->guard); /* after the daemon: no connection is left */
  for (size_t i = 0; i < http->pool_free; i++)
    hub_store_close(http->pool[i]);
  pthread_mutex_destroy(&http->pool_mu);
  pthread_cond_destroy(&http->heavy_cv);
  free_users(http);
  free(http);
}
