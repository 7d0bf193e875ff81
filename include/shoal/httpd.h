/* httpd.h - one HTTP/1.1 server module for agent and hub, over libmicrohttpd.
 * A route table (method + path pattern with {param} segments), an auth
 * callback, JSON errors {"error", "code"}, bodies capped (413 on the
 * announced length and while reading), TCP host:port (IPv4/IPv6) or
 * unix:/absolute/path, a pool of worker threads each with its own context
 * (e.g. a database handle), connection limits, a TOTAL deadline per request
 * that a trickle of bytes cannot extend, and Server-Sent Event channels whose
 * subscribers are bounded in count and hold no thread while idle. */
#ifndef SHOAL_HTTPD_H
#define SHOAL_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shoal/err.h"
#include "shoal/log.h"
#include "shoal/shoal_limits.h"

struct shoal_httpd;
struct shoal_httpd_events;

/* One request as a handler sees it. Everything is borrowed for the call. */
struct shoal_httpd_req {
  const char *method;                         /* "GET", "POST", ... (HEAD is routed as GET) */
  const char *path;                           /* decoded path, without the query */
  const char *params[SHOAL_HTTPD_PARAMS_MAX]; /* {param} values in pattern order */
  size_t nparams;
  const char *body; /* NUL-terminated copy (may hold inner NULs); NULL when none */
  size_t body_len;
  void *thread_ctx; /* this worker thread's context (opts.thread_ctx_new) */
  void *user;       /* the route's user pointer */
  int role;         /* what the auth callback granted (0 when the route needs none) */
  void *conn__;     /* private */
};

/* What a handler answers. Set through the shoal_httpd_reply* helpers. */
struct shoal_httpd_resp {
  unsigned status;
  const char *ctype;
  char *body; /* heap (freed by the server) unless body_static */
  size_t len;
  bool body_static;                      /* body points to storage that outlives the server */
  struct shoal_httpd_events *stream;     /* set by shoal_httpd_reply_events */
  char location[SHOAL_HTTPD_HEADER_MAX]; /* optional Location header */
};

typedef void (*shoal_httpd_handler)(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp);

enum shoal_httpd_route_flags {
  SHOAL_HTTPD_PUBLIC = 1u << 0, /* no auth callback for this route */
  SHOAL_HTTPD_BODY = 1u << 1,   /* reads a request body (else one is refused with 413) */
  SHOAL_HTTPD_PROBE = 1u << 2,  /* a probe (health, metrics): also served on a reserved slot */
};

struct shoal_httpd_route {
  const char *method;  /* "GET", "POST", ... */
  const char *pattern; /* "/v1/products/{sku}": a {name} segment matches one non-empty segment */
  shoal_httpd_handler fn;
  unsigned flags; /* enum shoal_httpd_route_flags */
  void *user;
  size_t body_max; /* this route's body cap; 0: the server's opts.body_max */
};

/* Decides whether a request may go on. bearer is the token after
 * "Authorization: Bearer " (NULL when absent). Return true and set *role to
 * allow; false answers 401. Called on a worker thread. */
typedef bool (*shoal_httpd_auth_fn)(void *user, const struct shoal_httpd_route *route,
                                    const char *bearer, int *role);

struct shoal_httpd_opts {
  const char *listen;                     /* "host:port", "[v6]:port" or "unix:/absolute/path" */
  const struct shoal_httpd_route *routes; /* borrowed; must outlive the server */
  size_t nroutes;
  shoal_httpd_auth_fn auth; /* NULL: every route is public */
  void *auth_user;
  /* Per worker thread: created on the thread's first request, freed when
   * the thread ends (server stop). NULL new: thread_ctx is NULL. A NULL
   * result answers 503 and is retried on the next request. */
  void *(*thread_ctx_new)(void *user);
  void (*thread_ctx_free)(void *ctx);
  void *thread_ctx_user;
  unsigned threads;  /* worker threads; 0: SHOAL_HTTPD_THREADS */
  unsigned conn_max; /* 0: SHOAL_HTTPD_CONN_MAX */
  /* Slots beyond conn_max kept for probes: a connection accepted while
   * conn_max others hold general slots (open probe slots do not count)
   * may only ask a SHOAL_HTTPD_PROBE route (others
   * answer 503) and is cut SHOAL_HTTPD_PROBE_MAX_MS after it opened, so a
   * flood of slow clients cannot keep a health check from being answered.
   * 0: SHOAL_HTTPD_PROBE_RESERVE. */
  unsigned probe_reserve;
  unsigned per_ip_max;    /* 0: SHOAL_HTTPD_PER_IP_MAX (not applied to unix sockets) */
  size_t body_max;        /* 0: SHOAL_HTTP_BODY_MAX_BYTES */
  unsigned request_max_s; /* total time one request may take; 0: SHOAL_HTTPD_REQUEST_MAX_S */
  unsigned idle_max_s;    /* keep-alive idle; 0: SHOAL_HTTPD_IDLE_MAX_S */
  const char *realm;      /* WWW-Authenticate realm; NULL "shoal" */
  const struct shoal_logger *log;
};

/* Starts listening and serving (threads run until shoal_httpd_stop). A unix
 * socket is created mode 0660; a stale socket file (nobody listening) is
 * replaced, anything else at the path is an error. */
shoal_err shoal_httpd_start(const struct shoal_httpd_opts *opts, struct shoal_httpd **out,
                            shoal_diag *diag);
/* Parses "host:port" or "[v6]:port" (a name is resolved; IPv4 preferred)
 * into *ss and, unless NULL, *sslen. `what` names the setting in errors
 * (e.g. "http.listen"). */
shoal_err shoal_httpd_parse_tcp(const char *what, const char *listen, struct sockaddr_storage *ss,
                                socklen_t *sslen, shoal_diag *d);
/* The TCP port bound (useful with port 0); 0 for a unix socket. */
int shoal_httpd_port(const struct shoal_httpd *h);
/* Stops: closes the listener and every connection, joins the threads
 * (thread contexts are freed), removes a unix socket file. NULL: no-op. */
void shoal_httpd_stop(struct shoal_httpd *h);

/* ---- handler helpers ---- */

/* A query argument (decoded) or NULL. */
const char *shoal_httpd_query(const struct shoal_httpd_req *req, const char *key);
/* A request header or NULL. */
const char *shoal_httpd_header(const struct shoal_httpd_req *req, const char *name);

/* Answers status with JSON text of j (j stays the caller's). */
void shoal_httpd_reply_json(struct shoal_httpd_resp *resp, unsigned status, const void *cjson);
/* Answers status with a copy of data. */
void shoal_httpd_reply(struct shoal_httpd_resp *resp, unsigned status, const char *ctype,
                       const void *data, size_t len);
/* Answers status with static data (not copied, not freed). */
void shoal_httpd_reply_static(struct shoal_httpd_resp *resp, unsigned status, const char *ctype,
                              const void *data, size_t len);
/* Answers {"error": msg, "code": code}; code NULL picks the word for status
 * (bad_request, unauthorized, forbidden, not_found, method_not_allowed,
 * conflict, too_large, invalid, unavailable, internal). */
void shoal_httpd_reply_error(struct shoal_httpd_resp *resp, unsigned status, const char *code,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The HTTP status for an error code: EJSON/EUSAGE 400, EINPUT/ELIMIT 422,
 * ENOTFOUND 404, ECONFLICT 409, security codes 403, EMODULE 503, else 500. */
unsigned shoal_httpd_status_for(shoal_err rc);
/* Answers with the status for rc and diag's text. */
void shoal_httpd_reply_fail(struct shoal_httpd_resp *resp, shoal_err rc, const shoal_diag *diag);

/* ---- Server-Sent Events ---- */

/* A broadcast channel. At most max_subs subscribers (0: SHOAL_HTTPD_SSE_SUBS_MAX),
 * SHOAL_HTTPD_SSE_PER_IP_MAX of them from one TCP client address;
 * a subscriber that falls SHOAL_HTTPD_SSE_BUF_MAX bytes behind is cut off.
 * Idle subscribers hold no thread; a comment line goes out every
 * SHOAL_HTTPD_SSE_PING_S so dead peers are noticed. */
shoal_err shoal_httpd_events_new(unsigned max_subs, struct shoal_httpd_events **out,
                                 shoal_diag *diag);
/* Frees the channel; call after every server using it has stopped. */
void shoal_httpd_events_free(struct shoal_httpd_events *ev);
/* Sends "event: name\ndata: data\n\n" to every subscriber (data is one line
 * of JSON text). Thread-safe; never blocks on a subscriber. */
void shoal_httpd_events_publish(struct shoal_httpd_events *ev, const char *name, const char *data);
/* Subscribers connected now. */
unsigned shoal_httpd_events_count(struct shoal_httpd_events *ev);
/* Turns this request's answer into a text/event-stream on ev; first is
 * optional text sent first (e.g. the current state as events). 503 when
 * the channel is full. */
void shoal_httpd_reply_events(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp,
                              struct shoal_httpd_events *ev, const char *first);

/* Reads a bearer token file (at most SHOAL_HTTPD_TOKEN_MAX_BYTES, blanks
 * around it trimmed) into *out (free with shoal_secure_free). An unreadable
 * or empty file is SHOAL_ECONFIG naming it. */
shoal_err shoal_httpd_token_load(const char *path, char **out, size_t *len, shoal_diag *diag);

/* Constant-time comparison of a presented token with an expected one
 * (time depends only on the expected length). */
bool shoal_httpd_token_eq(const char *expected, size_t expected_len, const char *given);

#endif
