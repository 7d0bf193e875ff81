/* httpd.c - the HTTP server module shared by agent and hub (httpd.h).
 * libmicrohttpd runs a pool of epoll worker threads; handlers run on them
 * with a per-thread context. Invariants: a request's TOTAL time is bounded
 * (a sweeper thread shuts down sockets whose current request began more
 * than request_max_s ago, whatever trickle of bytes they send); bodies are
 * bounded; every error is JSON {"error", "code"}; a bearer token never
 * reaches a log; a few slots past the connection limit serve only probe
 * routes, briefly, so health checks are answered under a connection flood.
 * Event-stream subscribers are suspended connections while
 * idle (no thread held) and resumed when an event or a ping is due. */
#include "shoal/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "shoal/jsonx.h"
#include "shoal/util.h"

#define SWEEP_MS       250
#define CHANNELS_MAX   8
#define PATH_MAX_BYTES 2048

/* One client connection (MHD socket context). */
struct conn {
  struct conn *prev, *next;
  int fd;
  int64_t start_ms;  /* when the current request (or the wait for one) began */
  int64_t opened_ms; /* when the connection was accepted */
  bool streaming;    /* an event stream: no request deadline */
  bool in_request;   /* the request line has arrived (else: keep-alive wait) */
  bool cut;
  bool reserved; /* opened while conn_max general slots were taken: probes only */
};

/* One request (MHD request context). */
struct req {
  const struct shoal_httpd_route *route;
  int role;
  bool responded;
  unsigned err_status;
  char err_code[24];
  char err_msg[200];
  char allow[64];
  size_t drained;
  char *body;
  size_t len, cap;
  const char *url;           /* MHD's, valid for the request */
  char path[PATH_MAX_BYTES]; /* params point into this copy */
  const char *params[SHOAL_HTTPD_PARAMS_MAX];
  size_t nparams;
};

struct thread_slot {
  void (*free_fn)(void *);
  void *ctx;
};

struct shoal_httpd {
  struct MHD_Daemon *d;
  struct shoal_httpd_opts o;
  char *listen;
  char *unix_path;
  char listen_host[256]; /* TCP: the host part of listen (a name the Host header may give) */
  char hostname[256];    /* this machine's name (a name the Host header may give) */
  int port;
  pthread_key_t key;
  bool key_ok;
  pthread_mutex_t lock; /* conns, chans, stopping */
  struct conn *conns;
  unsigned ngeneral; /* open connections on general slots (not reserved): held against conn_max */
  struct shoal_httpd_events *chans[CHANNELS_MAX];
  pthread_t sweeper;
  bool sweeper_ok;
  pthread_cond_t cv;
  bool stopping;
};

struct sse_sub {
  struct sse_sub *next;
  struct shoal_httpd_events *ev;
  struct MHD_Connection *mc;
  char *buf;
  size_t len, off, cap;
  bool suspended, dead;
  int64_t last_ms;
  struct sockaddr_storage peer; /* AF_UNSPEC: not counted per address */
};

/* Whether two subscribers came from the same client address (port aside). */
static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family)
    return false;
  if (a->ss_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  if (a->ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
  return false;
}

struct shoal_httpd_events {
  pthread_mutex_t lock;
  struct sse_sub *subs;
  unsigned n, max;
  bool closing;
};

/* ---- small helpers ---- */

bool shoal_httpd_token_eq(const char *expected, size_t expected_len, const char *given) {
  if (!given)
    return false;
  size_t n = strlen(given);
  unsigned char diff = (unsigned char)(n != expected_len);
  for (size_t i = 0; i < expected_len; i++)
    diff |= (unsigned char)(expected[i] ^ (i < n ? given[i] : 0));
  return diff == 0;
}

shoal_err shoal_httpd_token_load(const char *path, char **out, size_t *len, shoal_diag *diag) {
  char *t = NULL;
  size_t n = 0;
  shoal_err rc = shoal_file_read(path, SHOAL_HTTPD_TOKEN_MAX_BYTES, &t, &n, diag);
  if (rc != SHOAL_OK)
    return rc == SHOAL_EIO ? SHOAL_ECONFIG : rc;
  while (n > 0 && strchr(" \t\r\n", t[n - 1]))
    t[--n] = '\0';
  size_t lead = strspn(t, " \t\r\n");
  memmove(t, t + lead, n - lead + 1);
  n -= lead;
  if (n == 0) {
    free(t);
    return shoal_fail(diag, SHOAL_ECONFIG, "token file %s is empty", path);
  }
  *out = t;
  *len = n;
  return SHOAL_OK;
}

static const char *code_for(unsigned status) {
  switch (status) {
  case 400:
    return "bad_request";
  case 401:
    return "unauthorized";
  case 403:
    return "forbidden";
  case 404:
    return "not_found";
  case 405:
    return "method_not_allowed";
  case 409:
    return "conflict";
  case 413:
    return "too_large";
  case 422:
    return "invalid";
  case 503:
    return "unavailable";
  default:
    return status >= 500 ? "internal" : "error";
  }
}

unsigned shoal_httpd_status_for(shoal_err rc) {
  switch (rc) {
  case SHOAL_OK:
    return 200;
  case SHOAL_EJSON:
  case SHOAL_EUSAGE:
    return 400;
  case SHOAL_EINPUT:
  case SHOAL_ELIMIT:
    return 422;
  case SHOAL_ENOTFOUND:
    return 404;
  case SHOAL_ESIG:
  case SHOAL_EROLLBACK:
  case SHOAL_EEXPIRED:
  case SHOAL_ESCOPE:
    return 403;
  case SHOAL_EMODULE:
    return 503;
  case SHOAL_ECONFLICT:
    return 409;
  default:
    return 500;
  }
}

static void resp_clear(struct shoal_httpd_resp *resp) {
  if (!resp->body_static)
    free(resp->body);
  resp->body = NULL;
  resp->len = 0;
  resp->body_static = false;
}

void shoal_httpd_reply(struct shoal_httpd_resp *resp, unsigned status, const char *ctype,
                       const void *data, size_t len) {
  resp_clear(resp);
  resp->body = malloc(len + 1);
  if (!resp->body) {
    shoal_httpd_reply_static(resp, 500, "application/json",
                             "{\"error\":\"out of memory\",\"code\":\"internal\"}", 43);
    return;
  }
  memcpy(resp->body, data, len);
  resp->body[len] = '\0';
  resp->len = len;
  resp->status = status;
  resp->ctype = ctype;
}

void shoal_httpd_reply_static(struct shoal_httpd_resp *resp, unsigned status, const char *ctype,
                              const void *data, size_t len) {
  resp_clear(resp);
  resp->body = (char *)data;
  resp->len = len;
  resp->body_static = true;
  resp->status = status;
  resp->ctype = ctype;
}

void shoal_httpd_reply_json(struct shoal_httpd_resp *resp, unsigned status, const void *cjson) {
  char *text = shoal_json_print(cjson);
  if (!text) {
    shoal_httpd_reply_static(resp, 500, "application/json",
                             "{\"error\":\"out of memory\",\"code\":\"internal\"}", 43);
    return;
  }
  resp_clear(resp);
  resp->body = text;
  resp->len = strlen(text);
  resp->status = status;
  resp->ctype = "application/json";
}

static void reply_error_v(struct shoal_httpd_resp *resp, unsigned status, const char *code,
                          const char *msg) {
  cJSON *j = cJSON_CreateObject();
  if (!j || !cJSON_AddStringToObject(j, "error", msg) ||
      !cJSON_AddStringToObject(j, "code", code ? code : code_for(status))) {
    cJSON_Delete(j);
    shoal_httpd_reply_static(resp, 500, "application/json",
                             "{\"error\":\"out of memory\",\"code\":\"internal\"}", 43);
    return;
  }
  shoal_httpd_reply_json(resp, status, j);
  cJSON_Delete(j);
}

void shoal_httpd_reply_error(struct shoal_httpd_resp *resp, unsigned status, const char *code,
                             const char *fmt, ...) {
  char msg[SHOAL_DIAG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  reply_error_v(resp, status, code, msg);
}

void shoal_httpd_reply_fail(struct shoal_httpd_resp *resp, shoal_err rc, const shoal_diag *diag) {
  reply_error_v(resp, shoal_httpd_status_for(rc), NULL,
                diag && diag->msg[0] ? diag->msg : shoal_err_str(rc));
}

const char *shoal_httpd_query(const struct shoal_httpd_req *req, const char *key) {
  return MHD_lookup_connection_value(req->conn__, MHD_GET_ARGUMENT_KIND, key);
}

const char *shoal_httpd_header(const struct shoal_httpd_req *req, const char *name) {
  return MHD_lookup_connection_value(req->conn__, MHD_HEADER_KIND, name);
}

/* ---- routing ---- */

/* Matches path against pattern segment by segment; on success params
 * point into buf (a copy of path with the parameter segments cut out). */
static bool route_match(const char *pattern, const char *path, char *buf, size_t bufsz,
                        const char **params, size_t *nparams) {
  if (!shoal_strlcpy(buf, path, bufsz))
    return false;
  size_t np = 0;
  char *cut[SHOAL_HTTPD_PARAMS_MAX];
  const char *p = pattern;
  char *s = buf;
  while (*p && *s) {
    if (*p != '/' || *s != '/')
      return false;
    p++, s++;
    const char *pe = strchr(p, '/');
    size_t plen = pe ? (size_t)(pe - p) : strlen(p);
    char *se = strchr(s, '/');
    size_t slen = se ? (size_t)(se - s) : strlen(s);
    if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
      if (slen == 0 || np >= SHOAL_HTTPD_PARAMS_MAX)
        return false;
      cut[np] = se;
      params[np++] = s;
    } else if (plen != slen || memcmp(p, s, plen) != 0) {
      return false;
    }
    p += plen;
    s += slen;
  }
  if (*p || *s)
    return false;
  for (size_t i = 0; i < np; i++)
    if (cut[i])
      *cut[i] = '\0';
  *nparams = np;
  return true;
}

/* ---- request handling ---- */

static bool has_body(struct MHD_Connection *c) {
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const char *te =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return (cl && strtoull(cl, NULL, 10) > 0) || te;
}

static bool expects_continue(struct MHD_Connection *c) {
  const char *e = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
  return e && strcasestr(e, "100-continue");
}

static struct conn *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? (struct conn *)ci->socket_context : NULL;
}

static enum MHD_Result queue(struct shoal_httpd *h, struct MHD_Connection *c, struct req *r,
                             struct shoal_httpd_resp *resp);

static enum MHD_Result answer_error(struct shoal_httpd *h, struct MHD_Connection *c, struct req *r,
                                    unsigned status, const char *code, const char *msg) {
  struct shoal_httpd_resp resp = {0};
  reply_error_v(&resp, status, code, msg);
  return queue(h, c, r, &resp);
}

/* Refuses a request: clients that send their whole body before reading
 * would see a broken pipe, not the status, if the connection closed under
 * them; unless the client waits for 100 Continue, the body is read and
 * dropped first (up to SHOAL_HTTPD_DRAIN_MAX), then the error is sent. */
static enum MHD_Result refuse(struct shoal_httpd *h, struct MHD_Connection *c, struct req *r,
                              unsigned status, const char *code, const char *msg) {
  if (!has_body(c) || expects_continue(c)) {
    r->responded = true;
    return answer_error(h, c, r, status, code, msg);
  }
  r->err_status = status;
  shoal_strlcpy(r->err_code, code ? code : code_for(status), sizeof r->err_code);
  shoal_strlcpy(r->err_msg, msg, sizeof r->err_msg);
  return MHD_YES;
}

static void *thread_ctx(struct shoal_httpd *h, bool *failed) {
  *failed = false;
  if (!h->o.thread_ctx_new)
    return NULL;
  struct thread_slot *s = pthread_getspecific(h->key);
  if (s)
    return s->ctx;
  s = calloc(1, sizeof *s);
  if (!s || !(s->ctx = h->o.thread_ctx_new(h->o.thread_ctx_user))) {
    free(s);
    *failed = true;
    return NULL;
  }
  s->free_fn = h->o.thread_ctx_free;
  if (pthread_setspecific(h->key, s) != 0) {
    if (s->free_fn)
      s->free_fn(s->ctx);
    free(s);
    *failed = true;
    return NULL;
  }
  return s->ctx;
}

static void thread_slot_free(void *p) {
  struct thread_slot *s = p;
  if (s && s->free_fn)
    s->free_fn(s->ctx);
  free(s);
}

static void conn_mark_stream(struct shoal_httpd *h, struct MHD_Connection *c) {
  struct conn *k = conn_of(c);
  pthread_mutex_lock(&h->lock);
  if (k)
    k->streaming = true;
  pthread_mutex_unlock(&h->lock);
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max);
static void sse_done(void *cls);
static bool channel_register(struct shoal_httpd *h, struct shoal_httpd_events *ev);

static struct MHD_Response *stream_response(struct shoal_httpd *h, struct MHD_Connection *c,
                                            struct shoal_httpd_resp *resp) {
  struct shoal_httpd_events *ev = resp->stream;
  struct sse_sub *s = calloc(1, sizeof *s);
  if (!s || !channel_register(h, ev)) {
    free(s);
    return NULL;
  }
  s->ev = ev;
  s->mc = c;
  s->last_ms = shoal_mono_ms();
  /* One address may hold only a few of the channel's streams, so a single
   * client cannot take every slot and leave the tills without events. */
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!h->unix_path && ci && ci->client_addr &&
      (ci->client_addr->sa_family == AF_INET || ci->client_addr->sa_family == AF_INET6))
    memcpy(&s->peer, ci->client_addr,
           ci->client_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                 : sizeof(struct sockaddr_in6));
  if (resp->len) {
    s->buf = malloc(resp->len);
    if (!s->buf) {
      free(s);
      return NULL;
    }
    memcpy(s->buf, resp->body, resp->len);
    s->len = s->cap = resp->len;
  }
  pthread_mutex_lock(&ev->lock);
  bool full = ev->n >= ev->max || ev->closing;
  if (!full && s->peer.ss_family != AF_UNSPEC) {
    unsigned mine = 0;
    for (struct sse_sub *o = ev->subs; o; o = o->next)
      mine += !o->dead && same_peer(&o->peer, &s->peer);
    full = mine >= SHOAL_HTTPD_SSE_PER_IP_MAX;
  }
  if (!full) {
    s->next = ev->subs;
    ev->subs = s;
    ev->n++;
  }
  pthread_mutex_unlock(&ev->lock);
  if (full) {
    free(s->buf);
    free(s);
    return NULL;
  }
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_done);
  if (!r) {
    sse_done(s);
    return NULL;
  }
  return r;
}

static enum MHD_Result queue(struct shoal_httpd *h, struct MHD_Connection *c, struct req *r,
                             struct shoal_httpd_resp *resp) {
  struct MHD_Response *m = NULL;
  if (resp->stream) {
    m = stream_response(h, c, resp);
    if (!m) {
      struct shoal_httpd_events *ev = resp->stream;
      resp->stream = NULL;
      (void)ev;
      reply_error_v(resp, 503, NULL, "too many event subscribers");
    } else {
      resp_clear(resp);
      MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
      MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
      MHD_add_response_header(m, "X-Accel-Buffering", "no");
      conn_mark_stream(h, c);
      enum MHD_Result ret = MHD_queue_response(c, 200, m);
      MHD_destroy_response(m);
      return ret;
    }
  }
  if (!resp->status)
    reply_error_v(resp, 500, NULL, "the handler gave no answer");
  if (resp->body_static)
    m = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_PERSISTENT);
  else
    m = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE);
  if (!m) {
    resp_clear(resp);
    return MHD_NO;
  }
  resp->body = NULL; /* MHD owns it now */
  MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
                          resp->ctype ? resp->ctype : "application/json");
  MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
  /* No page of ours may be framed by another site (clickjacking the till). */
  MHD_add_response_header(m, "X-Frame-Options", "DENY");
  MHD_add_response_header(m, "Content-Security-Policy", "frame-ancestors 'none'");
  if (resp->status == 401) {
    char v[128];
    snprintf(v, sizeof v, "Bearer realm=\"%s\"", h->o.realm ? h->o.realm : "shoal");
    MHD_add_response_header(m, MHD_HTTP_HEADER_WWW_AUTHENTICATE, v);
  }
  if (resp->status == 405 && r && r->allow[0])
    MHD_add_response_header(m, MHD_HTTP_HEADER_ALLOW, r->allow);
  if (resp->location[0])
    MHD_add_response_header(m, MHD_HTTP_HEADER_LOCATION, resp->location);
  enum MHD_Result ret = MHD_queue_response(c, resp->status, m);
  MHD_destroy_response(m);
  return ret;
}

/* The host part of a Host header value or an Origin's authority
 * ("h", "h:port", "[v6]:port") into out; false when it does not fit. */
static bool host_part(const char *v, char *out, size_t outsz) {
  size_t n;
  if (v[0] == '[') {
    const char *e = strchr(v, ']');
    if (!e)
      return false;
    n = (size_t)(e - v) + 1;
  } else {
    const char *colon = strchr(v, ':');
    n = colon ? (size_t)(colon - v) : strlen(v);
  }
  if (n == 0 || n >= outsz)
    return false;
  memcpy(out, v, n);
  out[n] = '\0';
  return true;
}

/* A browser defence for a TCP listener (no token is needed on the loopback
 * or when the operator set none): the Host header must name this device by
 * an IP literal, "localhost", the listen host or the machine's name, so a
 * page whose own name was re-pointed at this address (DNS rebinding) is
 * refused; and a request carrying an Origin (browsers send one on every
 * cross-site POST, even a "simple" text/plain or multipart one that needs
 * no preflight) must come from the origin it is sent to. Clients that send
 * neither header (tills, curl) are not affected. */
static bool host_allowed(struct shoal_httpd *h, struct MHD_Connection *c, char *msg, size_t msgsz) {
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
  char name[256];
  if (host) {
    struct in_addr a4;
    struct in6_addr a6;
    bool ok = host_part(host, name, sizeof name);
    if (ok && name[0] == '[') {
      name[strlen(name) - 1] = '\0';
      ok = inet_pton(AF_INET6, name + 1, &a6) == 1;
    } else if (ok) {
      ok = inet_pton(AF_INET, name, &a4) == 1 || strcasecmp(name, "localhost") == 0 ||
           (h->listen_host[0] && strcasecmp(name, h->listen_host) == 0) ||
           (h->hostname[0] && strcasecmp(name, h->hostname) == 0);
      size_t hn = strlen(h->hostname);
      if (!ok && hn && strncasecmp(name, h->hostname, hn) == 0 &&
          strcasecmp(name + hn, ".local") == 0)
        ok = true;
    }
    if (!ok) {
      snprintf(msg, msgsz,
               "Host \"%.64s\" does not name this device (use its IP address, "
               "localhost or its host name)",
               host);
      return false;
    }
  }
  if (origin) {
    const char *auth = strstr(origin, "://");
    if (!auth || !host || strcasecmp(auth + 3, host) != 0) {
      snprintf(msg, msgsz, "cross-origin request from \"%.64s\" refused", origin);
      return false;
    }
  }
  return true;
}

static size_t route_body_max(const struct shoal_httpd *h, const struct shoal_httpd_route *rt) {
  return rt->body_max && rt->body_max < h->o.body_max ? rt->body_max : h->o.body_max;
}

/* First call for a request: route, auth, announced length. */
static enum MHD_Result begin(struct shoal_httpd *h, struct MHD_Connection *c, struct req *r,
                             const char *url, const char *method) {
  const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
  r->url = url;
  bool path_known = false;
  for (size_t i = 0; i < h->o.nroutes; i++) {
    const struct shoal_httpd_route *rt = &h->o.routes[i];
    const char *params[SHOAL_HTTPD_PARAMS_MAX] = {0};
    size_t np = 0;
    if (!route_match(rt->pattern, url, r->path, sizeof r->path, params, &np))
      continue;
    if (strcmp(rt->method, m) != 0) {
      if (!strstr(r->allow, rt->method)) {
        size_t used = strlen(r->allow);
        snprintf(r->allow + used, sizeof r->allow - used, "%s%s", used ? ", " : "", rt->method);
      }
      path_known = true;
      continue;
    }
    r->route = rt;
    memcpy(r->params, params, sizeof params);
    r->nparams = np;
    break;
  }
  if (!r->route) {
    if (path_known) {
      char msg[160];
      snprintf(msg, sizeof msg, "method %.16s not allowed here (allowed: %s)", method, r->allow);
      return refuse(h, c, r, 405, NULL, msg);
    }
    return refuse(h, c, r, 404, NULL, "no such route");
  }
  if (!(r->route->flags & SHOAL_HTTPD_PROBE)) {
    struct conn *k = conn_of(c);
    pthread_mutex_lock(&h->lock);
    bool reserved = k && k->reserved;
    pthread_mutex_unlock(&h->lock);
    if (reserved)
      return refuse(h, c, r, 503, NULL,
                    "server busy: every connection slot is taken; only probes are answered");
  }
  if (!h->unix_path) {
    char msg[200];
    if (!host_allowed(h, c, msg, sizeof msg))
      return refuse(h, c, r, 403, NULL, msg);
  }
  if (!(r->route->flags & SHOAL_HTTPD_PUBLIC) && h->o.auth) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *bearer = NULL;
    if (v && strncasecmp(v, "Bearer ", 7) == 0) {
      bearer = v + 7;
      while (*bearer == ' ')
        bearer++;
    }
    int role = 0;
    if (!h->o.auth(h->o.auth_user, r->route, bearer, &role))
      return refuse(h, c, r, 401, NULL, "missing or wrong bearer token");
    r->role = role;
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if ((r->route->flags & SHOAL_HTTPD_BODY) && cl &&
      strtoull(cl, NULL, 10) > (unsigned long long)route_body_max(h, r->route))
    return refuse(h, c, r, 413, NULL, "request body over the size limit");
  return MHD_YES;
}

static enum MHD_Result take_body(struct shoal_httpd *h, struct req *r, const char *data, size_t n) {
  if (r->err_status || !(r->route->flags & SHOAL_HTTPD_BODY)) {
    /* A refused request's body, or one sent to a route that reads none,
     * is dropped; a sender that does not stop is cut off. */
    r->drained += n;
    return r->drained > SHOAL_HTTPD_DRAIN_MAX ? MHD_NO : MHD_YES;
  }
  if (r->len + n > route_body_max(h, r->route)) {
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
    r->err_status = 413;
    shoal_strlcpy(r->err_code, code_for(413), sizeof r->err_code);
    shoal_strlcpy(r->err_msg, "request body over the size limit", sizeof r->err_msg);
    r->drained = n;
    return MHD_YES;
  }
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 1024;
    while (cap < r->len + n + 1)
      cap *= 2;
    char *nb = realloc(r->body, cap);
    if (!nb)
      return MHD_NO;
    r->body = nb;
    r->cap = cap;
  }
  memcpy(r->body + r->len, data, n);
  r->len += n;
  r->body[r->len] = '\0';
  return MHD_YES;
}

static enum MHD_Result dispatch(struct shoal_httpd *h, struct MHD_Connection *c, struct req *r,
                                const char *method) {
  bool failed = false;
  void *tctx = thread_ctx(h, &failed);
  if (failed)
    return answer_error(h, c, r, 503, NULL, "server busy: cannot open a worker context");
  struct shoal_httpd_req q = {0};
  q.method = strcmp(method, "HEAD") == 0 ? "GET" : method;
  q.path = r->url;
  memcpy(q.params, r->params, sizeof q.params);
  q.nparams = r->nparams;
  q.body = r->body;
  q.body_len = r->len;
  q.thread_ctx = tctx;
  q.user = r->route->user;
  q.role = r->role;
  q.conn__ = c;
  struct shoal_httpd_resp resp = {0};
  r->route->fn(&q, &resp);
  return queue(h, c, r, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  struct shoal_httpd *h = cls;
  struct req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    *con_cls = r;
    return begin(h, c, r, url, method);
  }
  if (r->responded)
    return MHD_YES;
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    return take_body(h, r, upload_data, n);
  }
  r->responded = true;
  if (r->err_status)
    return answer_error(h, c, r, r->err_status, r->err_code, r->err_msg);
  return dispatch(h, c, r, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)toe;
  struct shoal_httpd *h = cls;
  struct req *r = *con_cls;
  if (r) {
    free(r->body);
    free(r);
    *con_cls = NULL;
  }
  struct conn *k = conn_of(c);
  if (k) {
    pthread_mutex_lock(&h->lock);
    k->start_ms = shoal_mono_ms(); /* the wait for the next request starts */
    k->in_request = false;
    pthread_mutex_unlock(&h->lock);
  }
}

/* The request line has arrived: the request's own clock starts. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)uri;
  struct shoal_httpd *h = cls;
  struct conn *k = conn_of(c);
  if (k) {
    pthread_mutex_lock(&h->lock);
    k->start_ms = shoal_mono_ms();
    k->in_request = true;
    pthread_mutex_unlock(&h->lock);
  }
  return NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  struct shoal_httpd *h = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    struct conn *k = calloc(1, sizeof *k);
    if (!k)
      return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    k->fd = ci ? ci->connect_fd : -1;
    k->start_ms = k->opened_ms = shoal_mono_ms();
    pthread_mutex_lock(&h->lock);
    /* Only connections on general slots count against conn_max: a probe
     * slot still open must not push a newcomer off a free general slot. */
    k->reserved = h->ngeneral >= h->o.conn_max;
    if (!k->reserved)
      h->ngeneral++;
    k->next = h->conns;
    if (h->conns)
      h->conns->prev = k;
    h->conns = k;
    pthread_mutex_unlock(&h->lock);
    *socket_context = k;
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    struct conn *k = *socket_context;
    if (!k)
      return;
    /* Unlinked before MHD closes the descriptor: the sweeper never touches
     * a descriptor number that may have been reused. */
    pthread_mutex_lock(&h->lock);
    if (k->prev)
      k->prev->next = k->next;
    else
      h->conns = k->next;
    if (k->next)
      k->next->prev = k->prev;
    if (!k->reserved)
      h->ngeneral--;
    pthread_mutex_unlock(&h->lock);
    free(k);
    *socket_context = NULL;
  }
}

/* ---- Server-Sent Events ---- */

shoal_err shoal_httpd_events_new(unsigned max_subs, struct shoal_httpd_events **out,
                                 shoal_diag *diag) {
  struct shoal_httpd_events *ev = calloc(1, sizeof *ev);
  if (!ev)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  pthread_mutex_init(&ev->lock, NULL);
  ev->max = max_subs ? max_subs : SHOAL_HTTPD_SSE_SUBS_MAX;
  *out = ev;
  return SHOAL_OK;
}

void shoal_httpd_events_free(struct shoal_httpd_events *ev) {
  if (!ev)
    return;
  pthread_mutex_destroy(&ev->lock);
  free(ev);
}

unsigned shoal_httpd_events_count(struct shoal_httpd_events *ev) {
  pthread_mutex_lock(&ev->lock);
  unsigned n = ev->n;
  pthread_mutex_unlock(&ev->lock);
  return n;
}

/* Appends text to a subscriber (ev->lock held); past the lag limit the
 * subscriber is marked dead and will be cut off. */
static void sub_append(struct sse_sub *s, const char *text, size_t n) {
  if (s->dead)
    return;
  if (s->len - s->off + n > SHOAL_HTTPD_SSE_BUF_MAX) {
    s->dead = true;
    return;
  }
  if (s->off > 0) {
    memmove(s->buf, s->buf + s->off, s->len - s->off);
    s->len -= s->off;
    s->off = 0;
  }
  if (s->len + n > s->cap) {
    size_t cap = s->cap ? s->cap : 512;
    while (cap < s->len + n)
      cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (!nb) {
      s->dead = true;
      return;
    }
    s->buf = nb;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, text, n);
  s->len += n;
}

static void sub_wake(struct sse_sub *s) {
  if (s->suspended) {
    s->suspended = false;
    MHD_resume_connection(s->mc);
  }
}

void shoal_httpd_events_publish(struct shoal_httpd_events *ev, const char *name, const char *data) {
  if (!ev)
    return;
  size_t n = strlen(name) + strlen(data) + 20;
  char *msg = malloc(n);
  if (!msg)
    return;
  int len = snprintf(msg, n, "event: %s\ndata: %s\n\n", name, data);
  pthread_mutex_lock(&ev->lock);
  for (struct sse_sub *s = ev->subs; s; s = s->next) {
    sub_append(s, msg, (size_t)len);
    sub_wake(s);
  }
  pthread_mutex_unlock(&ev->lock);
  free(msg);
}

/* Pings idle subscribers (a dead peer is only noticed on a write) and,
 * when closing, wakes every one so its stream ends. */
static void events_tick(struct shoal_httpd_events *ev, int64_t now, bool closing) {
  static const char ping[] = ": ping\n\n";
  pthread_mutex_lock(&ev->lock);
  if (closing)
    ev->closing = true;
  for (struct sse_sub *s = ev->subs; s; s = s->next) {
    if (closing) {
      sub_wake(s);
      continue;
    }
    if (s->len == s->off && now - s->last_ms >= SHOAL_HTTPD_SSE_PING_S * 1000LL) {
      sub_append(s, ping, sizeof ping - 1);
      s->last_ms = now;
      sub_wake(s);
    }
  }
  pthread_mutex_unlock(&ev->lock);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  struct sse_sub *s = cls;
  struct shoal_httpd_events *ev = s->ev;
  ssize_t ret;
  pthread_mutex_lock(&ev->lock);
  if (s->dead) {
    ret = MHD_CONTENT_READER_END_WITH_ERROR;
  } else if (s->len > s->off) {
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    if (s->off == s->len)
      s->off = s->len = 0;
    s->last_ms = shoal_mono_ms();
    ret = (ssize_t)n;
  } else if (ev->closing) {
    ret = MHD_CONTENT_READER_END_OF_STREAM;
  } else {
    /* Nothing to send: park the connection (no thread, no polling) until
     * an event or a ping resumes it. */
    s->suspended = true;
    MHD_suspend_connection(s->mc);
    ret = 0;
  }
  pthread_mutex_unlock(&ev->lock);
  return ret;
}

static void sse_done(void *cls) {
  struct sse_sub *s = cls;
  struct shoal_httpd_events *ev = s->ev;
  pthread_mutex_lock(&ev->lock);
  for (struct sse_sub **pp = &ev->subs; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      ev->n--;
      break;
    }
  pthread_mutex_unlock(&ev->lock);
  free(s->buf);
  free(s);
}

static bool channel_register(struct shoal_httpd *h, struct shoal_httpd_events *ev) {
  bool ok = false;
  pthread_mutex_lock(&h->lock);
  for (int i = 0; i < CHANNELS_MAX && !ok; i++) {
    if (h->chans[i] == ev)
      ok = true;
    else if (!h->chans[i]) {
      h->chans[i] = ev;
      ok = true;
    }
  }
  pthread_mutex_unlock(&h->lock);
  return ok;
}

void shoal_httpd_reply_events(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp,
                              struct shoal_httpd_events *ev, const char *first) {
  (void)req;
  resp_clear(resp);
  if (first && *first) {
    shoal_httpd_reply(resp, 200, "text/event-stream", first, strlen(first));
  }
  resp->status = 200;
  resp->stream = ev;
}

/* ---- deadline sweeper ---- */

static void *sweep_main(void *arg) {
  struct shoal_httpd *h = arg;
  pthread_mutex_lock(&h->lock);
  while (!h->stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += SWEEP_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->cv, &h->lock, &ts);
    if (h->stopping)
      break;
    int64_t now = shoal_mono_ms(), limit = (int64_t)h->o.request_max_s * 1000;
    /* Before its request line a connection is idle keep-alive (MHD's idle
     * timeout closes it) or trickling that line: bounded by both limits. */
    int64_t wait_limit = limit + (int64_t)h->o.idle_max_s * 1000;
    unsigned cut = 0, cut_probe = 0;
    for (struct conn *k = h->conns; k; k = k->next) {
      if (k->streaming || k->cut || k->fd < 0)
        continue;
      if (k->reserved ? now - k->opened_ms <= SHOAL_HTTPD_PROBE_MAX_MS
                      : now - k->start_ms <= (k->in_request ? limit : wait_limit))
        continue;
      /* MHD sees the end of the stream and closes the connection itself
       * (the descriptor stays valid until NOTIFY_CLOSED, under this lock). */
      shutdown(k->fd, SHUT_RDWR);
      k->cut = true;
      if (k->reserved)
        cut_probe++;
      else
        cut++;
    }
    struct shoal_httpd_events *chans[CHANNELS_MAX];
    memcpy(chans, h->chans, sizeof chans);
    pthread_mutex_unlock(&h->lock);
    if (cut)
      shoal_log(h->o.log, SHOAL_LOG_WARN, "http: cut %u connection(s) past the %u s deadline", cut,
                h->o.request_max_s);
    if (cut_probe)
      shoal_log(h->o.log, SHOAL_LOG_WARN,
                "http: cut %u connection(s) on probe slots past %d ms (every general slot taken)",
                cut_probe, SHOAL_HTTPD_PROBE_MAX_MS);
    for (int i = 0; i < CHANNELS_MAX && chans[i]; i++)
      events_tick(chans[i], now, false);
    pthread_mutex_lock(&h->lock);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

/* ---- listening ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  struct shoal_httpd *h = cls;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  shoal_log(h->o.log, SHOAL_LOG_DEBUG, "http: %s", buf);
}

shoal_err shoal_httpd_parse_tcp(const char *what, const char *listen, struct sockaddr_storage *ss,
                                socklen_t *sslen, shoal_diag *d) {
  char host[256], port[16];
  const char *colon;
  if (listen[0] == '[') {
    const char *end = strchr(listen, ']');
    if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
      return shoal_fail(d, SHOAL_ECONFIG, "%s \"%s\" must be host:port", what, listen);
    memcpy(host, listen + 1, (size_t)(end - listen - 1));
    host[end - listen - 1] = '\0';
    colon = end + 1;
  } else {
    colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
      return shoal_fail(d, SHOAL_ECONFIG, "%s \"%s\" must be host:port", what, listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
  }
  if (!shoal_strlcpy(port, colon + 1, sizeof port) || !port[0] ||
      strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
    return shoal_fail(d, SHOAL_ECONFIG, "%s \"%s\": bad port", what, listen);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0 || !res)
    return shoal_fail(d, SHOAL_ECONFIG, "%s \"%s\": %s", what, listen, gai_strerror(gai));
  /* "localhost" may resolve to ::1 and 127.0.0.1: IPv4 first, as most
   * clients of "localhost:PORT" try it first. */
  struct addrinfo *pick = res;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
  memset(ss, 0, sizeof *ss);
  memcpy(ss, pick->ai_addr, pick->ai_addrlen);
  if (sslen)
    *sslen = pick->ai_addrlen;
  freeaddrinfo(res);
  return SHOAL_OK;
}

/* Creates, binds (mode 0660) and listens on a unix socket; a stale socket
 * file nobody answers on is replaced. */
static shoal_err unix_listen(const char *path, int *out, shoal_diag *d) {
  struct sockaddr_un sa = {0};
  sa.sun_family = AF_UNIX;
  if (path[0] != '/')
    return shoal_fail(d, SHOAL_ECONFIG, "listen unix:%s: the path must be absolute", path);
  if (!shoal_strlcpy(sa.sun_path, path, sizeof sa.sun_path))
    return shoal_fail(d, SHOAL_ECONFIG, "listen unix:%s: path longer than %zu bytes", path,
                      sizeof sa.sun_path - 1);
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return shoal_fail(d, SHOAL_ECONFIG, "listen unix:%s: exists and is not a socket", path);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
      close(probe);
      return shoal_fail(d, SHOAL_EIO, "listen unix:%s: another process is serving there", path);
    }
    if (probe >= 0)
      close(probe);
    if (unlink(path) != 0)
      return shoal_fail(d, SHOAL_EIO, "listen unix:%s: cannot remove the stale socket: %s", path,
                        strerror(errno));
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return shoal_fail(d, SHOAL_EIO, "socket: %s", strerror(errno));
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, 0660) != 0 ||
      listen(fd, 128) != 0) {
    shoal_err rc = shoal_fail(d, SHOAL_EIO, "listen unix:%s: %s", path, strerror(errno));
    close(fd);
    return rc;
  }
  *out = fd;
  return SHOAL_OK;
}

shoal_err shoal_httpd_start(const struct shoal_httpd_opts *opts, struct shoal_httpd **out,
                            shoal_diag *diag) {
  *out = NULL;
  shoal_err rc = SHOAL_OK;
  int ufd = -1;
  struct sockaddr_storage ss;
  if (!opts->listen || !*opts->listen)
    return shoal_fail(diag, SHOAL_ECONFIG, "no listen address");
  struct shoal_httpd *h = calloc(1, sizeof *h);
  if (!h)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  h->o = *opts;
  if (!h->o.threads)
    h->o.threads = SHOAL_HTTPD_THREADS;
  if (!h->o.conn_max)
    h->o.conn_max = SHOAL_HTTPD_CONN_MAX;
  if (!h->o.per_ip_max)
    h->o.per_ip_max = SHOAL_HTTPD_PER_IP_MAX;
  if (!h->o.probe_reserve)
    h->o.probe_reserve = SHOAL_HTTPD_PROBE_RESERVE;
  if (!h->o.body_max)
    h->o.body_max = SHOAL_HTTP_BODY_MAX_BYTES;
  if (!h->o.request_max_s)
    h->o.request_max_s = SHOAL_HTTPD_REQUEST_MAX_S;
  if (!h->o.idle_max_s)
    h->o.idle_max_s = SHOAL_HTTPD_IDLE_MAX_S;
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->cv, NULL);
  if (!(h->listen = strdup(opts->listen))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  h->o.listen = h->listen;
  bool is_unix = strncmp(opts->listen, "unix:", 5) == 0;
  if (is_unix) {
    if ((rc = unix_listen(opts->listen + 5, &ufd, diag)) != SHOAL_OK)
      goto fail;
    if (!(h->unix_path = strdup(opts->listen + 5))) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto fail;
    }
  } else if ((rc = shoal_httpd_parse_tcp("listen (host:port or unix:/absolute/path)", opts->listen,
                                         &ss, NULL, diag)) != SHOAL_OK) {
    goto fail;
  } else {
    host_part(opts->listen, h->listen_host, sizeof h->listen_host);
    if (h->listen_host[0] == '[')
      h->listen_host[0] = '\0'; /* a v6 literal is allowed as one anyway */
    if (gethostname(h->hostname, sizeof h->hostname) != 0)
      h->hostname[0] = '\0';
    h->hostname[sizeof h->hostname - 1] = '\0';
  }
  if (pthread_key_create(&h->key, thread_slot_free) != 0) {
    rc = shoal_fail(diag, SHOAL_EINTERNAL, "pthread_key_create failed");
    goto fail;
  }
  h->key_ok = true;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG;
  if (!is_unix && ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  struct MHD_OptionItem addr[3] = {
      {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
  if (is_unix) {
    addr[0] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, ufd, NULL};
  } else {
    addr[0] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    addr[1] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)h->o.per_ip_max,
                                      NULL};
  }
  h->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
      MHD_OPTION_THREAD_POOL_SIZE, h->o.threads, MHD_OPTION_CONNECTION_LIMIT,
      h->o.conn_max + h->o.probe_reserve, MHD_OPTION_CONNECTION_TIMEOUT, h->o.idle_max_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SHOAL_HTTPD_CONN_MEMORY,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_ARRAY, addr, MHD_OPTION_END);
  if (!h->d) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot listen on %s (address in use?)", opts->listen);
    goto fail;
  }
  ufd = -1; /* MHD owns it now */
  if (!is_unix) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
  }
  if (pthread_create(&h->sweeper, NULL, sweep_main, h) != 0) {
    rc = shoal_fail(diag, SHOAL_EINTERNAL, "cannot start the deadline thread");
    goto fail;
  }
  h->sweeper_ok = true;
  *out = h;
  return SHOAL_OK;
fail:
  if (ufd >= 0)
    close(ufd);
  shoal_httpd_stop(h);
  return rc;
}

int shoal_httpd_port(const struct shoal_httpd *h) {
  return h ? h->port : 0;
}

void shoal_httpd_stop(struct shoal_httpd *h) {
  if (!h)
    return;
  pthread_mutex_lock(&h->lock);
  h->stopping = true;
  pthread_cond_broadcast(&h->cv);
  struct shoal_httpd_events *chans[CHANNELS_MAX];
  memcpy(chans, h->chans, sizeof chans);
  pthread_mutex_unlock(&h->lock);
  if (h->sweeper_ok)
    pthread_join(h->sweeper, NULL);
  if (h->d) {
    /* Suspended event streams are resumed so they end before the stop. */
    for (int i = 0; i < CHANNELS_MAX && chans[i]; i++)
      events_tick(chans[i], 0, true);
    for (int tries = 0; tries < 100; tries++) {
      unsigned left = 0;
      for (int i = 0; i < CHANNELS_MAX && chans[i]; i++)
        left += shoal_httpd_events_count(chans[i]);
      if (!left)
        break;
      for (int i = 0; i < CHANNELS_MAX && chans[i]; i++)
        events_tick(chans[i], 0, true);
      usleep(10000);
    }
    MHD_stop_daemon(h->d);
  }
  if (h->unix_path)
    unlink(h->unix_path);
  if (h->key_ok)
    pthread_key_delete(h->key);
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->lock);
  free(h->unix_path);
  free(h->listen);
  free(h);
}
