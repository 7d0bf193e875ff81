/* hub_http_int.h - what the hub's HTTP route handlers share (not a public
 * interface of the hub): the call a handler gets, the handler signature,
 * and the route table entry. hub_http.c owns the server, authentication,
 * roles and the audit log, and defines the functions declared here; each
 * group of routes lives in its own file (hub_http_policies.c,
 * hub_rollout.c, ...), is declared by that file's header and is listed once
 * in the route table in hub_http.c. */
#ifndef HUB_HTTP_INT_H
#define HUB_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "hub_ctx.h"
#include "shoal/err.h"

/* Roles of SPEC 14, in order of power. HUB_ROLE_PUBLIC: no token needed. */
enum hub_role {
  HUB_ROLE_SIGNED =
      -2, /* a bearer token if given (operator or above), else the handler checks a signature */
  HUB_ROLE_PUBLIC = -1,
  HUB_ROLE_VIEWER = 0,
  HUB_ROLE_OPERATOR = 1,
  HUB_ROLE_ADMIN = 2
};

/* One request, as a handler sees it. */
struct hub_call {
  struct hub_ctx *ctx;
  hub_store *db; /* this request's own connection (a pool handle) */
  struct MHD_Connection *conn;
  const char *method; /* "GET", "POST", ... (HEAD is answered as GET) */
  const char *url;    /* the path, no query */
  const char *rest;   /* for prefix routes: the path after the prefix */
  const char *body;   /* NUL-terminated, valid UTF-8; NULL when none */
  size_t len;
  const char *user; /* the authenticated user name; NULL on public routes */
  enum hub_role role;
  int64_t now_ms;
  /* Filled by the handler. */
  char target[160];   /* what the write acted on, for the audit log */
  const char *action; /* audit action, when the route's own is too coarse */
  unsigned status;    /* 0: 200 on success, the mapped status on error */
  char *raw;          /* a non-JSON answer (heap), with ctype */
  size_t raw_len;
  const char *ctype;
  const unsigned char *raw_static; /* or a static one (embedded assets) */
  char ctype_buf[128];             /* room for a ctype the handler builds (a photo's type) */
  int fd;                          /* or a file to stream (>= 0; the server closes it) */
  uint64_t fd_len;
  void *upload; /* a streamed body's state (PUT /api/v1/media, hub_media.c) */
};

/* A handler: on success *out is the JSON answer (or call->raw is set); on
 * failure the diag names the problem and call->status may pick the HTTP
 * status (else it follows from the error code: 400/413/500). */
typedef shoal_err (*hub_handler)(struct hub_call *call, cJSON **out, shoal_diag *diag);

/* A route: exact path, or prefix when the path ends in '/'. action names a
 * write in the audit log (NULL for reads). */
struct hub_route {
  const char *method;
  const char *path;
  enum hub_role role;
  const char *action;
  hub_handler handler;
  bool heavy; /* a report that scans many rows: at most HUB_HTTP_HEAVY_MAX run at once */
};

/* Query string argument of the request, or NULL (borrowed from the request). */
const char *hub_call_arg(const struct hub_call *call, const char *key);

/* The body parsed as a JSON object (SHOAL_EINPUT when absent or not an
 * object); *out owned by the caller. */
shoal_err hub_call_json(const struct hub_call *call, cJSON **out, shoal_diag *diag);

#endif
