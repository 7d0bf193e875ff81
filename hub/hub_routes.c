/* hub_routes.c - the SPEC 13 routes (see hub_routes.h):
 *   POST /api/v1/customers               create or update
 *   GET  /api/v1/customers?phone=P       find one by phone
 *   GET  /api/v1/customers/{id}          profile, points, reserved, timeline
 *   POST /api/v1/customers/{id}/code     issue a member code
 *   POST /api/v1/orders                  e-commerce order (bearer or HMAC)
 *   GET  /api/v1/reports/repeat?by=channel|hour
 * Statuses: 400 malformed JSON, 401 auth, 404 unknown, 409 conflict, 413
 * too large (the server), 422 invalid input, 500 otherwise. */
#include "hub_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_customers.h"
#include "hub_orders.h"
#include "hub_reports_repeat.h"
#include "shoal/crypto.h"
#include "shoal/shoal_limits.h"
#include "shoal/util.h"

enum {
  RT_CUSTOMERS_POST = 1,
  RT_CUSTOMERS_FIND,
  RT_CUSTOMER_GET,
  RT_CUSTOMER_CODE,
  RT_ORDERS,
  RT_REPEAT,
};

#define CUSTOMERS         "/api/v1/customers"
#define CUSTOMER_BODY_MAX (64 * 1024)

/* "/api/v1/customers/{id}[/code]": the id into out, *code set for /code. */
static bool customer_path(const char *path, char *out, size_t cap, bool *code) {
  size_t n = strlen(CUSTOMERS);
  if (strncmp(path, CUSTOMERS "/", n + 1) != 0)
    return false;
  const char *id = path + n + 1, *slash = strchr(id, '/');
  size_t len = slash ? (size_t)(slash - id) : strlen(id);
  *code = slash != NULL;
  if (slash && strcmp(slash, "/code") != 0)
    return false;
  if (len == 0 || len >= cap)
    return false;
  memcpy(out, id, len);
  out[len] = '\0';
  return true;
}

bool hub_routes_match(const char *method, const char *path, struct hub_route_match *m,
                      bool *path_known) {
  bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  bool post = strcmp(method, "POST") == 0;
  char id[SHOAL_ID_MAX + 2];
  bool code = false;
  memset(m, 0, sizeof *m);
  m->auth = HUB_ROUTE_BEARER;
  *path_known = true;
  if (strcmp(path, CUSTOMERS) == 0) {
    if (post) {
      m->id = RT_CUSTOMERS_POST;
      m->body_max = CUSTOMER_BODY_MAX;
    } else if (get) {
      m->id = RT_CUSTOMERS_FIND;
    }
  } else if (customer_path(path, id, sizeof id, &code)) {
    if (code && post) {
      m->id = RT_CUSTOMER_CODE;
      m->body_max = 4096;
    } else if (!code && get) {
      m->id = RT_CUSTOMER_GET;
    }
  } else if (strcmp(path, "/api/v1/orders") == 0) {
    if (post) {
      m->id = RT_ORDERS;
      m->auth = HUB_ROUTE_BEARER_OR_HMAC;
      m->body_max = SHOAL_ORDER_BODY_MAX;
    }
  } else if (strcmp(path, "/api/v1/reports/repeat") == 0) {
    if (get)
      m->id = RT_REPEAT;
  } else {
    *path_known = false;
  }
  return m->id != 0;
}

static void fail(struct hub_route_resp *r, unsigned status, const char *msg) {
  r->status = status;
  r->json = cJSON_CreateObject();
  if (r->json && !cJSON_AddStringToObject(r->json, "error", msg)) {
    cJSON_Delete(r->json);
    r->json = NULL; /* the caller answers out of memory */
  }
}

static void from_err(struct hub_route_resp *r, shoal_err rc, const shoal_diag *d) {
  unsigned status = 500;
  switch (rc) {
  case SHOAL_EJSON:
  case SHOAL_EUSAGE:
    status = 400;
    break;
  case SHOAL_EINPUT:
    status = 422;
    break;
  case SHOAL_ENOTFOUND:
    status = 404;
    break;
  case SHOAL_ESTATE:
    status = 409;
    break;
  case SHOAL_ELIMIT:
    status = 413;
    break;
  case SHOAL_ESIG:
    status = 401;
    break;
  default:
    break;
  }
  fail(r, status, d->msg[0] ? d->msg : shoal_err_str(rc));
}

/* Bearer or a valid X-Shoal-Signature with orders.secret_file. */
static bool order_authorized(struct hub_ctx *ctx, const struct hub_route_req *q) {
  if (q->bearer_ok)
    return true;
  const char *sig = q->header(q->conn, "X-Shoal-Signature");
  if (!sig || !ctx->cfg.orders_secret_file)
    return false;
  char *secret = NULL;
  size_t len = 0;
  shoal_diag d = {{0}};
  if (shoal_file_read(ctx->cfg.orders_secret_file, 4096, &secret, &len, &d) != SHOAL_OK) {
    shoal_log(&ctx->log, SHOAL_LOG_WARN, "orders.secret_file: %s", d.msg);
    return false;
  }
  while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r' || secret[len - 1] == ' '))
    secret[--len] = '\0';
  bool ok = hub_orders_signature_ok(sig, secret, len, q->body ? q->body : "", q->len);
  shoal_secure_free(secret);
  return ok;
}

void hub_routes_handle(struct hub_ctx *ctx, hub_store *db, const struct hub_route_req *q,
                       struct hub_route_resp *r) {
  shoal_diag d = {{0}};
  shoal_err rc = SHOAL_OK;
  cJSON *out = NULL;
  int64_t now = shoal_now_ms();
  r->status = 200;
  r->json = NULL;
  switch (q->id) {
  case RT_CUSTOMERS_POST: {
    bool created = false;
    if (!q->body || !q->len)
      return fail(r, 400, "the body must be a customer {\"id\", ...}");
    rc = hub_customers_upsert(db, q->body, q->len, now, &out, &created, &d);
    r->status = created ? 201 : 200;
    break;
  }
  case RT_CUSTOMERS_FIND: {
    const char *phone = q->query(q->conn, "phone");
    if (!phone || !*phone)
      return fail(r, 400, "give ?phone=P");
    rc = hub_customers_find_phone(db, phone, &out, &d);
    break;
  }
  case RT_CUSTOMER_GET:
  case RT_CUSTOMER_CODE: {
    char id[SHOAL_ID_MAX + 2];
    bool code = false;
    if (!customer_path(q->path, id, sizeof id, &code) || !shoal_id_valid(id))
      return fail(r, 404, "no such customer");
    if (q->id == RT_CUSTOMER_GET) {
      rc = hub_customers_get(db, id, true, &out, &d);
    } else {
      rc = hub_customers_issue_code(db, &ctx->cfg, id, q->body, q->len, now, &out, &d);
      r->status = 201;
    }
    break;
  }
  case RT_ORDERS:
    if (!order_authorized(ctx, q))
      return fail(r, 401, "missing bearer token or bad X-Shoal-Signature");
    if (!q->body || !q->len)
      return fail(r, 400, "the body must be an order");
    rc = hub_orders_ingest(db, q->body, q->len, now, ctx->cfg.orders_batch_max, &r->status, &out,
                           &d);
    break;
  case RT_REPEAT: {
    const char *by = q->query(q->conn, "by");
    rc =
        hub_reports_repeat(db, by ? by : "channel", q->query(q->conn, "utc_offset"), now, &out, &d);
    break;
  }
  default:
    return fail(r, 404, "no such route");
  }
  if (rc != SHOAL_OK) {
    cJSON_Delete(out);
    return from_err(r, rc, &d);
  }
  r->json = out;
}
