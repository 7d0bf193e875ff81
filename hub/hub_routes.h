/* hub_routes.h - HTTP routes of the customer, loyalty and order modules
 * (SPEC 13), kept out of hub_http.c's table: the server asks
 * hub_routes_match() when a request starts (auth mode, body limit) and
 * hub_routes_handle() once its body is in. No libmicrohttpd here: the
 * server passes lookups for query arguments and headers. */
#ifndef HUB_ROUTES_H
#define HUB_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "hub_ctx.h"

enum hub_route_auth {
  HUB_ROUTE_BEARER,         /* Authorization: Bearer, as every API route */
  HUB_ROUTE_BEARER_OR_HMAC, /* or X-Shoal-Signature over the body (orders.secret_file) */
};

struct hub_route_match {
  int id; /* > 0 */
  enum hub_route_auth auth;
  size_t body_max; /* 0: the route reads no body */
};

/* True if method + path (no query) is one of these routes; fills *m. A
 * known path with another method gives false and *path_known true. */
bool hub_routes_match(const char *method, const char *path, struct hub_route_match *m,
                      bool *path_known);

struct hub_route_req {
  int id;
  const char *path;
  const char *body; /* NUL-terminated, may be NULL */
  size_t len;
  bool bearer_ok; /* the bearer token was presented and right */
  const char *(*query)(void *conn, const char *key);
  const char *(*header)(void *conn, const char *name);
  void *conn;
};

struct hub_route_resp {
  unsigned status;
  cJSON *json; /* owned; the body (an {"error"} object on failure) */
};

/* Serves one matched request on db (the server's own handle). Always fills
 * resp (a JSON body and a status). */
void hub_routes_handle(struct hub_ctx *ctx, hub_store *db, const struct hub_route_req *req,
                       struct hub_route_resp *resp);

#endif
