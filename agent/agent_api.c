/* agent_api.c - the store API (SPEC 11) on shared/httpd: route table,
 * handlers, the in-memory model and the thread that swaps it.
 * Invariants: a handler only reads the model snapshot it took a reference
 * to (a swap never frees a model in use); every write goes through the
 * worker thread's own SQLite connection, inside the engine's transaction;
 * every route answers the same JSON as its CLI twin (same functions). */
#include "agent_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "agent_checkout.h"
#include "agent_forms.h"
#include "agent_media.h"
#include "agent_multipart.h"
#include "agent_policy.h"
#include "agent_status.h"
#include "agent_tickets.h"
#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/forms.h"
#include "shoal/httpd.h"
#include "shoal/jsonx.h"
#include "shoal/ticket.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

extern const unsigned char agent_till_html[];
extern const size_t agent_till_html_len;

#define TICKET_SEEN_MAX    32
#define TICKET_WATCH_BATCH "1000"            /* changed tickets announced per look (SQL LIMIT) */
#define SSE_RETRY          "retry: 3000\n\n" /* clients reconnect after 3 s */
#define SSE_FIRST_MAX      256               /* the stream's opening event */

/* What requests read: immutable once published, freed with its last reference. */
struct snap {
  unsigned refs;
  struct agent_model *model; /* NULL: no pricing module, or it failed to build */
  char model_err[SHOAL_DIAG_MAX];
  cJSON *forms[3]; /* policy documents in effect (forms module) */
  struct shoal_scope_chain scopes;
  int64_t versions[3];
};

struct agent_api {
  struct shoal_httpd *http;
  struct shoal_httpd_route *routes; /* routes_tmpl with user = this api */
  struct shoal_httpd_events *events;
  char *cfg_path;
  struct shoal_profile profile;
  struct shoal_logger log;
  char *token;
  size_t token_len;
  pthread_mutex_t lock; /* snap pointer and reference counts */
  struct snap *snap;
  pthread_t watcher;
  bool watcher_ok;
  pthread_mutex_t wlock;
  pthread_cond_t wcv;
  bool stopping;
  struct agent_ctx wctx; /* the watcher's own connection */
  bool synced_known, connected;
  int64_t outbox_pending;
  int64_t ticket_ms; /* newest ticket updated_ms announced */
  char ticket_seen[TICKET_SEEN_MAX][SHOAL_ID_MAX + 1];
  size_t nseen;
  int64_t last_prune;
};

/* ---- the model snapshot ---- */

static void snap_free(struct snap *s) {
  if (!s)
    return;
  agent_model_free(s->model);
  agent_forms_chain_free(s->forms);
  free(s);
}

static struct snap *snap_get(struct agent_api *api) {
  pthread_mutex_lock(&api->lock);
  struct snap *s = api->snap;
  s->refs++;
  pthread_mutex_unlock(&api->lock);
  return s;
}

static void snap_put(struct agent_api *api, struct snap *s) {
  pthread_mutex_lock(&api->lock);
  bool last = --s->refs == 0;
  pthread_mutex_unlock(&api->lock);
  if (last)
    snap_free(s);
}

/* The versions in effect now per scope of the chain: one indexed query,
 * cheap enough to run every AGENT_API_WATCH_MS. */
static shoal_err versions_now(struct agent_ctx *ctx, int64_t now, int64_t v[3], shoal_diag *d) {
  struct shoal_scope_chain scopes;
  sqlite3_stmt *st = NULL;
  agent_policy_scopes(ctx, &scopes);
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "SELECT MAX(version) FROM policies WHERE scope = ? AND "
                                  "(effective_ms IS NULL OR effective_ms <= ?)",
                                  &st, d);
  if (rc != SHOAL_OK)
    return rc;
  for (int i = 0; i < 3 && rc == SHOAL_OK; i++) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, scopes.scope[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
      v[i] = sqlite3_column_int64(st, 0);
    else
      rc = shoal_db_fail(ctx->db, s, "read policy versions", d);
  }
  sqlite3_finalize(st);
  return rc;
}

static shoal_err snap_build(struct agent_api *api, struct agent_ctx *ctx, int64_t now,
                            struct snap **out, shoal_diag *diag) {
  struct snap *s = calloc(1, sizeof *s);
  if (!s)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  s->refs = 1;
  agent_policy_scopes(ctx, &s->scopes);
  shoal_err rc = versions_now(ctx, now, s->versions, diag);
  if (rc == SHOAL_OK && (api->profile.modules & SHOAL_MOD_PRICING)) {
    shoal_diag d = {{0}};
    /* A model that cannot be built (a broken cache) keeps the API up: the
     * pricing routes answer 503 naming the reason, the rest still work. */
    if (agent_model_load(ctx, now, &s->model, &d) != SHOAL_OK) {
      s->model = NULL;
      shoal_strlcpy(s->model_err, d.msg, sizeof s->model_err);
      shoal_log(&api->log, SHOAL_LOG_ERROR, "store API: no price model: %s", d.msg);
    }
  }
  if (rc == SHOAL_OK && (api->profile.modules & SHOAL_MOD_FORMS)) {
    struct shoal_scope_chain scopes;
    rc = agent_forms_chain(ctx, now, s->forms, &scopes, diag);
  }
  if (rc != SHOAL_OK) {
    snap_free(s);
    return rc;
  }
  *out = s;
  return SHOAL_OK;
}

/* ---- events (SSE) ---- */

static void publish(struct agent_api *api, const char *name, cJSON *data) {
  char *text = data ? shoal_json_print(data) : NULL;
  if (text)
    shoal_httpd_events_publish(api->events, name, text);
  free(text);
  cJSON_Delete(data);
}

static cJSON *sync_json(bool connected, int64_t pending) {
  cJSON *o = cJSON_CreateObject();
  if (o && (!cJSON_AddBoolToObject(o, "connected", connected) ||
            !cJSON_AddNumberToObject(o, "outbox_pending", (double)pending))) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static void watch_policy(struct agent_api *api, int64_t now) {
  shoal_diag d = {{0}};
  int64_t v[3] = {0, 0, 0};
  if (versions_now(&api->wctx, now, v, &d) != SHOAL_OK) {
    shoal_log(&api->log, SHOAL_LOG_WARN, "store API: %s", d.msg);
    return;
  }
  struct snap *cur = snap_get(api);
  bool changed = memcmp(v, cur->versions, sizeof v) != 0;
  snap_put(api, cur);
  if (!changed)
    return;
  struct snap *s = NULL;
  if (snap_build(api, &api->wctx, now, &s, &d) != SHOAL_OK) {
    shoal_log(&api->log, SHOAL_LOG_ERROR, "store API: cannot load the new policies: %s", d.msg);
    return;
  }
  pthread_mutex_lock(&api->lock);
  struct snap *old = api->snap;
  api->snap = s;
  pthread_mutex_unlock(&api->lock);
  for (int i = 0; i < 3; i++) {
    if (s->versions[i] == old->versions[i])
      continue;
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "scope", s->scopes.scope[i]) &&
        cJSON_AddNumberToObject(o, "version", (double)s->versions[i]))
      publish(api, "policy", o);
    else
      cJSON_Delete(o);
    shoal_log(&api->log, SHOAL_LOG_INFO, "store API: %s version %lld in effect", s->scopes.scope[i],
              (long long)s->versions[i]);
  }
  snap_put(api, old);
}

static void watch_sync(struct agent_api *api) {
  shoal_diag d = {{0}};
  bool connected = false;
  int64_t pending = 0;
  if (agent_status_sync(&api->wctx, &connected, &pending, &d) != SHOAL_OK)
    return;
  if (api->synced_known && connected == api->connected && pending == api->outbox_pending)
    return;
  api->synced_known = true;
  api->connected = connected;
  api->outbox_pending = pending;
  publish(api, "sync", sync_json(connected, pending));
}

static bool ticket_seen(struct agent_api *api, const char *id) {
  for (size_t i = 0; i < api->nseen; i++)
    if (strcmp(api->ticket_seen[i], id) == 0)
      return true;
  return false;
}

/* Announces tickets whose row changed since the last look (updated_ms is
 * rewritten on every refold); ids at the newest millisecond are
 * remembered so they are not announced twice. */
static void watch_tickets(struct agent_api *api) {
  sqlite3_stmt *st = NULL;
  shoal_diag d = {{0}};
  if (shoal_db_prepare(api->wctx.db,
                       "SELECT id, updated_ms FROM tickets WHERE updated_ms >= ? "
                       "ORDER BY updated_ms LIMIT " TICKET_WATCH_BATCH,
                       &st, &d) != SHOAL_OK)
    return;
  sqlite3_bind_int64(st, 1, api->ticket_ms);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    int64_t ms = sqlite3_column_int64(st, 1);
    if (ms == api->ticket_ms && ticket_seen(api, id))
      continue;
    if (ms > api->ticket_ms) {
      api->ticket_ms = ms;
      api->nseen = 0;
    }
    if (api->nseen < TICKET_SEEN_MAX)
      shoal_strlcpy(api->ticket_seen[api->nseen++], id, SHOAL_ID_MAX + 1);
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "id", id))
      publish(api, "ticket", o);
    else
      cJSON_Delete(o);
  }
  sqlite3_finalize(st);
}

static void *watch_main(void *arg) {
  struct agent_api *api = arg;
  pthread_mutex_lock(&api->wlock);
  while (!api->stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += AGENT_API_WATCH_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&api->wcv, &api->wlock, &ts);
    if (api->stopping)
      break;
    pthread_mutex_unlock(&api->wlock);
    int64_t now = shoal_now_ms();
    watch_policy(api, now);
    watch_sync(api);
    if (api->profile.modules & SHOAL_MOD_TICKETS)
      watch_tickets(api);
    if ((api->profile.modules & SHOAL_MOD_SALES) &&
        shoal_mono_ms() - api->last_prune > AGENT_API_PRUNE_MS) {
      shoal_diag d = {{0}};
      api->last_prune = shoal_mono_ms();
      if (agent_checkout_prune(&api->wctx, now, 0, &d) != SHOAL_OK)
        shoal_log(&api->log, SHOAL_LOG_WARN, "store API: prune: %s", d.msg);
    }
    pthread_mutex_lock(&api->wlock);
  }
  pthread_mutex_unlock(&api->wlock);
  return NULL;
}

/* ---- worker threads ---- */

static void *worker_new(void *user) {
  struct agent_api *api = user;
  struct agent_ctx *ctx = calloc(1, sizeof *ctx);
  shoal_diag d = {{0}};
  if (!ctx)
    return NULL;
  if (agent_ctx_open(ctx, api->cfg_path, &d) != SHOAL_OK) {
    shoal_log(&api->log, SHOAL_LOG_ERROR, "store API: worker: %s", d.msg);
    free(ctx);
    return NULL;
  }
  return ctx;
}

static void worker_free(void *p) {
  struct agent_ctx *ctx = p;
  agent_ctx_close(ctx);
  free(ctx);
}

static bool auth(void *user, const struct shoal_httpd_route *route, const char *bearer, int *role) {
  (void)route;
  struct agent_api *api = user;
  *role = 1;
  return !api->token || shoal_httpd_token_eq(api->token, api->token_len, bearer);
}

/* ---- handlers ---- */

#define API(req) ((struct agent_api *)(req)->user)
#define CTX(req) ((struct agent_ctx *)(req)->thread_ctx)

static bool need_module(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp,
                        enum shoal_module m) {
  shoal_diag d = {{0}};
  if (shoal_profile_require(&API(req)->profile, m, &d) == SHOAL_OK)
    return true;
  shoal_httpd_reply_fail(resp, SHOAL_EMODULE, &d);
  return false;
}

/* A JSON request body must be there and hold no NUL byte (a string is
 * never silently cut short at one). */
static bool need_body(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!req->body || req->body_len == 0) {
    shoal_httpd_reply_error(resp, 400, NULL, "a JSON body is required");
    return false;
  }
  /* The server admits SHOAL_STORE_API_UPLOAD_MAX for photo uploads; JSON
   * bodies keep their own bound. */
  if (req->body_len > SHOAL_STORE_API_BODY_MAX) {
    shoal_httpd_reply_error(resp, 413, NULL, "request body over the size limit");
    return false;
  }
  if (memchr(req->body, '\0', req->body_len)) {
    shoal_httpd_reply_error(resp, 400, NULL, "the body holds a NUL byte");
    return false;
  }
  return true;
}

/* The model for pricing routes, or NULL after answering 503. */
static struct snap *need_model(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  struct snap *s = snap_get(API(req));
  if (!s->model) {
    shoal_httpd_reply_error(resp, 503, NULL, "no price model: %s",
                            s->model_err[0] ? s->model_err : "pricing is off");
    snap_put(API(req), s);
    return NULL;
  }
  return s;
}

static void reply_result(struct shoal_httpd_resp *resp, shoal_err rc, const shoal_diag *d,
                         unsigned status, cJSON *out) {
  if (rc != SHOAL_OK)
    shoal_httpd_reply_fail(resp, rc, d);
  else
    shoal_httpd_reply_json(resp, status, out);
  cJSON_Delete(out);
}

/* A device class with its own sales channel (a kiosk) fills it into a
 * basket that names none: textually, so the body the checkout sees (and
 * idempotency compares) is otherwise exactly what the till sent. */
static char *with_channel(struct agent_api *api, const char *body, size_t len, size_t *out_len) {
  if (!api->profile.channel[0])
    return NULL;
  cJSON *j = NULL;
  if (shoal_json_parse(body, len, &j, NULL) != SHOAL_OK)
    return NULL;
  bool add = cJSON_IsObject(j) && !cJSON_GetObjectItemCaseSensitive(j, "channel");
  bool empty = cJSON_IsObject(j) && !j->child;
  cJSON_Delete(j);
  if (!add)
    return NULL;
  const char *brace = memchr(body, '{', len);
  if (!brace)
    return NULL;
  char ins[96];
  int n = snprintf(ins, sizeof ins, "\"channel\":\"%s\"%s", api->profile.channel, empty ? "" : ",");
  size_t pre = (size_t)(brace - body) + 1;
  char *out = malloc(len + (size_t)n + 1);
  if (!out)
    return NULL;
  memcpy(out, body, pre);
  memcpy(out + pre, ins, (size_t)n);
  memcpy(out + pre + n, body + pre, len - pre);
  out[len + (size_t)n] = '\0';
  *out_len = len + (size_t)n;
  return out;
}

static void h_health(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  (void)req;
  static const char ok[] = "{\"ok\":true}";
  shoal_httpd_reply_static(resp, 200, "application/json", ok, sizeof ok - 1);
}

static void h_till(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  (void)req;
  shoal_httpd_reply_static(resp, 200, "text/html; charset=utf-8", agent_till_html,
                           agent_till_html_len);
}

static void h_status(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  shoal_err rc = agent_status_get(CTX(req), shoal_now_ms(), &out, &d);
  reply_result(resp, rc, &d, 200, out);
}

static void h_product(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!need_module(req, resp, SHOAL_MOD_PRICING))
    return;
  struct snap *s = need_model(req, resp);
  if (!s)
    return;
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  const char *sku = req->nparams ? req->params[0] : NULL;
  const char *barcode = sku ? NULL : shoal_httpd_query(req, "barcode");
  shoal_err rc;
  if (!sku && (!barcode || !*barcode))
    rc = shoal_fail(&d, SHOAL_EUSAGE, "give a SKU (/v1/products/{sku}) or ?barcode=B");
  else
    rc = agent_products_get(s->model, sku, barcode, &out, &d);
  snap_put(API(req), s);
  reply_result(resp, rc, &d, 200, out);
}

/* POST /v1/quote (sale = false) and POST /v1/sales: a basket priced on the
 * snapshot in effect, the device's channel filled in. */
static void basket_route(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp, bool sale) {
  if (!need_module(req, resp, sale ? SHOAL_MOD_SALES : SHOAL_MOD_PRICING) || !need_body(req, resp))
    return;
  struct snap *s = need_model(req, resp);
  if (!s)
    return;
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  bool replayed = false;
  size_t len = req->body_len;
  char *body = with_channel(API(req), req->body, req->body_len, &len);
  const char *text = body ? body : req->body;
  shoal_err rc =
      sale ? agent_checkout_sale(CTX(req), s->model, text, len, true, shoal_now_ms(), &out,
                                 &replayed, &d)
           : agent_checkout_quote(CTX(req), s->model, text, len, shoal_now_ms(), &out, &d);
  free(body);
  snap_put(API(req), s);
  reply_result(resp, rc, &d, !sale || replayed ? 200 : 201, out);
}

static void h_quote(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  basket_route(req, resp, false);
}

static void h_sale_post(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  basket_route(req, resp, true);
}

static void h_sale_get(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!need_module(req, resp, SHOAL_MOD_SALES))
    return;
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  shoal_err rc = agent_checkout_receipt(CTX(req), req->params[0], &out, &d);
  reply_result(resp, rc, &d, 200, out);
}

static void h_return(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!need_module(req, resp, SHOAL_MOD_SALES) || !need_body(req, resp))
    return;
  struct snap *s = snap_get(API(req));
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  bool replayed = false;
  shoal_err rc = agent_checkout_return(CTX(req), s->model, req->body, req->body_len, true,
                                       shoal_now_ms(), &out, &replayed, &d);
  snap_put(API(req), s);
  reply_result(resp, rc, &d, replayed ? 200 : 201, out);
}

static void h_forms(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!need_module(req, resp, SHOAL_MOD_FORMS))
    return;
  struct snap *s = snap_get(API(req));
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  shoal_err rc = req->nparams
                     ? agent_forms_show_json(s->forms, &s->scopes, req->params[0], &out, &d)
                     : agent_forms_list_json(s->forms, &s->scopes, &out, &d);
  snap_put(API(req), s);
  reply_result(resp, rc, &d, 200, out);
}

/* validate (submit = false) or submit one form's data. */
/* A multipart submission (SPEC 15): part "data" is the JSON object, every
 * part with a filename is a photo for the field it names, stored in the
 * media store; *data receives the data with the photo values. */
static shoal_err multipart_data(struct shoal_httpd_req *req, const char *ctype, const shoal_form *f,
                                cJSON **data, shoal_diag *d) {
  struct agent_multipart_part parts[AGENT_MULTIPART_PARTS_MAX];
  size_t n = 0;
  cJSON *out = NULL;
  shoal_err rc = agent_multipart_parse(ctype, req->body, req->body_len, parts, &n, d);
  for (size_t i = 0; rc == SHOAL_OK && i < n; i++)
    if (strcmp(parts[i].name, "data") == 0 && !parts[i].has_filename)
      rc = shoal_forms_data_parse(parts[i].data, parts[i].len, &out, d);
  if (rc == SHOAL_OK && !out)
    out = cJSON_CreateObject();
  for (size_t i = 0; rc == SHOAL_OK && i < n; i++) {
    if (strcmp(parts[i].name, "data") == 0 && !parts[i].has_filename)
      continue;
    cJSON *photo = NULL;
    if (!parts[i].has_filename)
      rc = shoal_fail(d, SHOAL_EINPUT,
                      "multipart part %s is not a file (photos are files; the "
                      "other fields go in part \"data\")",
                      parts[i].name);
    else if ((rc = agent_media_photo_field(f, parts[i].name, d)) == SHOAL_OK &&
             (rc = agent_media_add_buffer(CTX(req), parts[i].data, parts[i].len, parts[i].type,
                                          &photo, d)) == SHOAL_OK) {
      cJSON_DeleteItemFromObjectCaseSensitive(out, parts[i].name);
      if (!shoal_json_put(out, parts[i].name, photo))
        rc = shoal_fail(d, SHOAL_ENOMEM, "out of memory");
    }
  }
  if (rc != SHOAL_OK) {
    cJSON_Delete(out);
    return rc;
  }
  *data = out;
  return SHOAL_OK;
}

static void form_data(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp, bool submit) {
  const char *ctype = shoal_httpd_header(req, "Content-Type");
  bool multipart = submit && ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0;
  if (!need_module(req, resp, SHOAL_MOD_FORMS))
    return;
  if (multipart && (!req->body || !req->body_len)) {
    shoal_httpd_reply_error(resp, 400, NULL, "an empty multipart body");
    return;
  }
  if (!multipart && !need_body(req, resp))
    return;
  struct snap *s = snap_get(API(req));
  shoal_diag d = {{0}};
  shoal_form *f = NULL;
  cJSON *data = NULL, *out = NULL, *tickets = NULL;
  struct shoal_form_result r = {0};
  size_t idx = 0;
  char id[AGENT_FORM_SUBMISSION_ID_MAX];
  unsigned status = 200;
  shoal_err rc = agent_forms_find(s->forms, req->params[0], &f, &idx, &d);
  if (rc == SHOAL_OK)
    rc = multipart ? multipart_data(req, ctype, f, &data, &d)
                   : shoal_forms_data_parse(req->body, req->body_len, &data, &d);
  if (rc == SHOAL_OK)
    rc = shoal_form_validate(f, data, &r, &d);
  /* Photo values must name files this device holds (SPEC 15). */
  if (rc == SHOAL_OK && submit && r.valid)
    rc = agent_media_check(CTX(req), f, r.data, &d);
  if (rc != SHOAL_OK)
    goto done;
  if (!r.valid || !submit) {
    if (!(out = shoal_form_result_json(&r)))
      rc = shoal_fail(&d, SHOAL_ENOMEM, "out of memory");
    else if (!r.valid && submit &&
             !cJSON_AddStringToObject(out, "error", "the data is not valid (see \"errors\")"))
      rc = shoal_fail(&d, SHOAL_ENOMEM, "out of memory");
    else if (!r.valid && submit && !cJSON_AddStringToObject(out, "code", "invalid"))
      rc = shoal_fail(&d, SHOAL_ENOMEM, "out of memory");
    status = r.valid ? 200 : 422;
    goto done;
  }
  if ((rc = agent_forms_record(CTX(req), f, s->scopes.scope[idx], &r, id, &tickets, &d)) !=
      SHOAL_OK)
    goto done;
  out = cJSON_CreateObject();
  if (!out || !cJSON_AddStringToObject(out, "id", id)) {
    rc = shoal_fail(&d, SHOAL_ENOMEM, "out of memory");
    goto done;
  }
  bool put = shoal_json_put(out, "tickets", tickets);
  tickets = NULL;
  if (!put) {
    rc = shoal_fail(&d, SHOAL_ENOMEM, "out of memory");
    goto done;
  }
  status = 201;
done:
  snap_put(API(req), s);
  shoal_form_result_cleanup(&r);
  shoal_form_free(f);
  cJSON_Delete(data);
  cJSON_Delete(tickets);
  reply_result(resp, rc, &d, status, rc == SHOAL_OK ? out : (cJSON_Delete(out), NULL));
}

static void h_form_validate(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  form_data(req, resp, false);
}

static void h_form_submit(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  form_data(req, resp, true);
}

static void h_tickets(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!need_module(req, resp, SHOAL_MOD_TICKETS))
    return;
  shoal_diag d = {{0}};
  cJSON *out = NULL;
  shoal_err rc = req->nparams
                     ? agent_ticket_get(CTX(req), req->params[0], &out, &d)
                     : agent_ticket_list(CTX(req), shoal_httpd_query(req, "state"), &out, &d);
  reply_result(resp, rc, &d, 200, out);
}

/* Parses a JSON object body; only the keys in allowed (NULL-terminated;
 * NULL: any) are accepted. */
static shoal_err body_object(const struct shoal_httpd_req *req, const char *const *allowed,
                             cJSON **out, shoal_diag *d) {
  cJSON *j = NULL;
  shoal_err rc = shoal_json_parse(req->body, req->body_len, &j, d);
  if (rc != SHOAL_OK)
    return rc;
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return shoal_fail(d, SHOAL_EINPUT, "the body must be a JSON object");
  }
  for (const cJSON *k = j->child; k && allowed; k = k->next) {
    bool ok = false;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = strcmp(k->string, allowed[i]) == 0;
    if (!ok) {
      rc = shoal_fail(d, SHOAL_EINPUT, "unknown key \"%.64s\"", k->string);
      cJSON_Delete(j);
      return rc;
    }
  }
  *out = j;
  return SHOAL_OK;
}

static void h_ticket_scan(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!need_module(req, resp, SHOAL_MOD_TICKETS) || !need_body(req, resp))
    return;
  static const char *const keys[] = {"code", "tech", NULL};
  shoal_diag d = {{0}};
  cJSON *j = NULL, *out = NULL;
  char id[SHOAL_ID_MAX + 1];
  shoal_err rc = body_object(req, keys, &j, &d);
  if (rc == SHOAL_OK) {
    cJSON *code = cJSON_DetachItemFromObjectCaseSensitive(j, "code");
    if (!cJSON_IsString(code))
      rc = shoal_fail(&d, SHOAL_EINPUT, "\"code\" (a string) is required");
    else if ((rc = agent_ticket_scan(CTX(req), code->valuestring, j, id, &d)) == SHOAL_OK)
      rc = agent_ticket_get(CTX(req), id, &out, &d);
    cJSON_Delete(code);
  }
  cJSON_Delete(j);
  reply_result(resp, rc, &d, 200, out);
}

static int ignored_count(const cJSON *ticket) {
  return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ticket, "ignored"));
}

/* One event on a ticket this device holds. Recorded, re-folded and checked
 * in one transaction: a transition the local state does not allow is 422
 * and leaves nothing behind (the CLI records it and the fold ignores it;
 * a till wants to know at once). */
static void h_ticket_event(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  if (!need_module(req, resp, SHOAL_MOD_TICKETS) || !need_body(req, resp))
    return;
  struct agent_ctx *ctx = CTX(req);
  const char *id = req->params[0];
  shoal_diag d = {{0}};
  cJSON *j = NULL, *before = NULL, *out = NULL;
  char kind[SHOAL_TICKET_KIND_MAX];
  shoal_err rc = body_object(req, NULL, &j, &d);
  if (rc != SHOAL_OK)
    goto done;
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "kind");
  if (!cJSON_IsString(k) || !shoal_strlcpy(kind, k->valuestring, sizeof kind)) {
    rc = shoal_fail(&d, SHOAL_EINPUT, "\"kind\" (a ticket event kind) is required");
    goto done;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(j, "kind");
  if ((rc = shoal_db_begin(ctx->db, &d)) != SHOAL_OK)
    goto done;
  if ((rc = agent_ticket_get(ctx, id, &before, &d)) == SHOAL_OK &&
      (rc = agent_ticket_event_in_tx(ctx, id, kind, j, &d)) == SHOAL_OK &&
      (rc = agent_ticket_get(ctx, id, &out, &d)) == SHOAL_OK &&
      ignored_count(out) > ignored_count(before)) {
    const cJSON *ig = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "ignored"),
                                         ignored_count(out) - 1);
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(ig, "reason");
    rc = shoal_fail(&d, SHOAL_EINPUT, "ticket %s: \"%s\" %s", id, kind,
                    cJSON_IsString(why) ? why->valuestring : "not allowed now");
  }
  if (rc == SHOAL_OK)
    rc = shoal_db_commit(ctx->db, &d);
  if (rc != SHOAL_OK)
    shoal_db_rollback(ctx->db);
done:
  cJSON_Delete(j);
  cJSON_Delete(before);
  reply_result(resp, rc, &d, 200, rc == SHOAL_OK ? out : (cJSON_Delete(out), NULL));
}

static void h_events(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  /* The stream opens with the current sync state, so a till shows it at once. */
  bool connected = false;
  int64_t pending = 0;
  shoal_diag d = {{0}};
  char first[SSE_FIRST_MAX] = SSE_RETRY;
  if (agent_status_sync(CTX(req), &connected, &pending, &d) == SHOAL_OK)
    snprintf(first, sizeof first,
             SSE_RETRY "event: sync\ndata: {\"connected\":%s,\"outbox_pending\":%lld}\n\n",
             connected ? "true" : "false", (long long)pending);
  shoal_httpd_reply_events(req, resp, API(req)->events, first);
}

static const struct shoal_httpd_route routes_tmpl[] = {
    {"GET", "/", h_till, SHOAL_HTTPD_PUBLIC, NULL, 0},
    {"GET", "/till", h_till, SHOAL_HTTPD_PUBLIC, NULL, 0},
    {"GET", "/v1/health", h_health, SHOAL_HTTPD_PUBLIC | SHOAL_HTTPD_PROBE, NULL, 0},
    {"GET", "/v1/status", h_status, 0, NULL, 0},
    {"GET", "/v1/products", h_product, 0, NULL, 0},
    {"GET", "/v1/products/{sku}", h_product, 0, NULL, 0},
    {"POST", "/v1/quote", h_quote, SHOAL_HTTPD_BODY, NULL, 0},
    {"POST", "/v1/sales", h_sale_post, SHOAL_HTTPD_BODY, NULL, 0},
    {"GET", "/v1/sales/{id}", h_sale_get, 0, NULL, 0},
    {"POST", "/v1/returns", h_return, SHOAL_HTTPD_BODY, NULL, 0},
    {"GET", "/v1/forms", h_forms, 0, NULL, 0},
    {"GET", "/v1/forms/{id}", h_forms, 0, NULL, 0},
    {"POST", "/v1/forms/{id}/validate", h_form_validate, SHOAL_HTTPD_BODY, NULL, 0},
    {"POST", "/v1/forms/{id}/submissions", h_form_submit, SHOAL_HTTPD_BODY, NULL,
     SHOAL_STORE_API_UPLOAD_MAX},
    {"GET", "/v1/tickets", h_tickets, 0, NULL, 0},
    {"POST", "/v1/tickets/scan", h_ticket_scan, SHOAL_HTTPD_BODY, NULL, 0},
    {"GET", "/v1/tickets/{id}", h_tickets, 0, NULL, 0},
    {"POST", "/v1/tickets/{id}/events", h_ticket_event, SHOAL_HTTPD_BODY, NULL, 0},
    {"GET", "/v1/events", h_events, 0, NULL, 0},
};
#define NROUTES (sizeof routes_tmpl / sizeof routes_tmpl[0])

/* ---- start / stop ---- */

shoal_err agent_api_start(const struct agent_ctx *ctx, struct agent_api **out, shoal_diag *diag) {
  *out = NULL;
  const char *listen =
      ctx->cfg.local_api_listen ? ctx->cfg.local_api_listen : ctx->profile.local_api_listen;
  if (!listen || !*listen)
    return SHOAL_OK;
  shoal_err rc = SHOAL_OK;
  struct agent_api *api = calloc(1, sizeof *api);
  if (!api)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  pthread_mutex_init(&api->lock, NULL);
  pthread_mutex_init(&api->wlock, NULL);
  pthread_cond_init(&api->wcv, NULL);
  api->profile = ctx->profile;
  api->log = ctx->log;
  api->last_prune = shoal_mono_ms() - AGENT_API_PRUNE_MS; /* prune once soon after start */
  if (!(api->cfg_path = strdup(ctx->cfg.path)) || !(api->routes = malloc(sizeof routes_tmpl))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  if (ctx->cfg.local_api_token_file &&
      (rc = shoal_httpd_token_load(ctx->cfg.local_api_token_file, &api->token, &api->token_len,
                                   diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "local_api.token_file");
    goto fail;
  }
  struct stat tst;
  if (api->token && stat(ctx->cfg.local_api_token_file, &tst) == 0 &&
      (tst.st_mode & (S_IROTH | S_IWOTH)))
    shoal_log(&api->log, SHOAL_LOG_WARN,
              "local_api.token_file %s is readable or writable by every user of this device "
              "(mode %03o): chmod 600 or 640 it",
              ctx->cfg.local_api_token_file, (unsigned)(tst.st_mode & 0777));
  if ((rc = agent_ctx_open(&api->wctx, api->cfg_path, diag)) != SHOAL_OK ||
      (rc = snap_build(api, &api->wctx, shoal_now_ms(), &api->snap, diag)) != SHOAL_OK ||
      (rc = shoal_httpd_events_new(0, &api->events, diag)) != SHOAL_OK)
    goto fail;
  /* Each server's routes carry its api (no globals). */
  memcpy(api->routes, routes_tmpl, sizeof routes_tmpl);
  for (size_t i = 0; i < NROUTES; i++) {
    api->routes[i].user = api;
    /* Only photo submissions may be large; a JSON body is refused past its
     * own cap before it is buffered (413 on the announced length). */
    if (!api->routes[i].body_max)
      api->routes[i].body_max = SHOAL_STORE_API_BODY_MAX;
  }
  shoal_db_query_int(api->wctx.db, "SELECT COALESCE(MAX(updated_ms), 0) FROM tickets", 0,
                     &api->ticket_ms, NULL);
  struct shoal_httpd_opts o = {
      .listen = listen,
      .routes = api->routes,
      .nroutes = NROUTES,
      .auth = auth,
      .auth_user = api,
      .thread_ctx_new = worker_new,
      .thread_ctx_free = worker_free,
      .thread_ctx_user = api,
      .body_max = SHOAL_STORE_API_UPLOAD_MAX, /* the largest route cap (photo submissions) */
      .realm = "shoal-agent",
      .log = &api->log,
  };
  if ((rc = shoal_httpd_start(&o, &api->http, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "local_api");
    goto fail;
  }
  if (pthread_create(&api->watcher, NULL, watch_main, api) != 0) {
    rc = shoal_fail(diag, SHOAL_EINTERNAL, "cannot start the store API watcher");
    goto fail;
  }
  api->watcher_ok = true;
  shoal_log(&api->log, SHOAL_LOG_INFO, "store API listening on %s%s", listen,
            api->token ? " (bearer token required)" : " (no token_file: open to local clients)");
  *out = api;
  return SHOAL_OK;
fail:
  agent_api_stop(api);
  return rc;
}

void agent_api_stop(struct agent_api *api) {
  if (!api)
    return;
  if (api->watcher_ok) {
    pthread_mutex_lock(&api->wlock);
    api->stopping = true;
    pthread_cond_broadcast(&api->wcv);
    pthread_mutex_unlock(&api->wlock);
    pthread_join(api->watcher, NULL);
  }
  shoal_httpd_stop(api->http); /* joins the workers: no snapshot is in use after this */
  shoal_httpd_events_free(api->events);
  snap_free(api->snap);
  agent_ctx_close(&api->wctx);
  pthread_cond_destroy(&api->wcv);
  pthread_mutex_destroy(&api->wlock);
  pthread_mutex_destroy(&api->lock);
  shoal_secure_free(api->token);
  free(api->routes);
  free(api->cfg_path);
  free(api);
}

int agent_api_port(const struct agent_api *api) {
  return api ? shoal_httpd_port(api->http) : 0;
}
