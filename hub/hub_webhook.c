/* hub_webhook.c - webhook delivery (SPEC 10). Events are queued durably in
 * webhook_queue inside the ingest transaction that stored them; a worker
 * thread with its own database handle POSTs them with libcurl, signed with
 * X-Shoal-Signature: sha256=<hex HMAC-SHA256(secret, body)>. Invariants: a
 * row leaves the queue only on a 2xx (delivered) or into webhook_dead (after
 * HUB_WEBHOOK_ATTEMPTS_MAX failures or HUB_WEBHOOK_MAX_AGE_MS); each
 * receiver's queue is sent in id order and its oldest row gates the rest (a
 * failing receiver gets one probe per backoff period, not one per event);
 * nothing here ever waits on ingest's lock for longer than a row write. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_duties.h"
#include "hub_http.h" /* HUB_TOKEN_MAX_BYTES: a secret file is read as a token is */
#include "hub_webhook.h"
#include "shoal/crypto.h"
#include "shoal/util.h"
#include "store.h"

struct hook {
  char *url;
  char *secret; /* NULL: no secret_file, deliveries go unsigned */
  size_t secret_len;
};

struct hub_webhooks {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_bool stop;
  hub_store *db;
  struct hub_duty duty; /* dispatch runs on one hub at a time (SPEC 16) */
  struct shoal_logger log;
  struct hub_webhook_opts opts;
  struct hook hooks[SHOAL_WEBHOOKS_MAX];
  size_t nhooks;
};

void hub_webhook_opts_default(struct hub_webhook_opts *o) {
  o->backoff_min_ms = HUB_WEBHOOK_BACKOFF_MIN_MS;
  o->backoff_max_ms = HUB_WEBHOOK_BACKOFF_MAX_MS;
  o->max_attempts = HUB_WEBHOOK_ATTEMPTS_MAX;
  o->max_age_ms = HUB_WEBHOOK_MAX_AGE_MS;
  o->poll_ms = HUB_WEBHOOK_POLL_MS;
  o->connect_timeout_ms = HUB_WEBHOOK_CONNECT_TIMEOUT_MS;
  o->timeout_ms = HUB_WEBHOOK_TIMEOUT_MS;
}

static unsigned kind_mask(const char *kind) {
  if (strcmp(kind, "sale") == 0)
    return SHOAL_WEBHOOK_SALE;
  if (strcmp(kind, "ticket") == 0)
    return SHOAL_WEBHOOK_TICKET;
  if (strcmp(kind, "return") == 0)
    return SHOAL_WEBHOOK_RETURN;
  if (strcmp(kind, "escalation") == 0)
    return SHOAL_WEBHOOK_ESCALATION;
  return 0;
}

shoal_err hub_webhook_enqueue(struct hub_ctx *ctx, const char *kind, const char *body_json,
                              shoal_diag *diag) {
  unsigned mask = kind_mask(kind);
  if (!mask)
    return shoal_fail(diag, SHOAL_EINPUT, "unknown webhook event kind \"%s\"", kind);
  size_t len = strlen(body_json);
  /* An oversized body must not refuse the event that produced it: it goes
   * straight to the dead list (with a note, not the body) and ingest goes on. */
  bool too_big = len > HUB_WEBHOOK_BODY_MAX;
  hub_stmt *st = NULL;
  shoal_err rc = SHOAL_OK;
  int64_t now = shoal_now_ms();
  for (size_t i = 0; i < ctx->cfg.webhook_count; i++) {
    if (!(ctx->cfg.webhooks[i].events & mask))
      continue;
    if (!st && (rc = hub_store_prepare(
                    ctx->db,
                    too_big ? "INSERT INTO webhook_dead (url, kind, body, created_ms, attempts, "
                              "failed_ms, last_error) VALUES (?1, ?2, ?3, ?4, 0, ?4, "
                              "'body over the size limit')"
                            : "INSERT INTO webhook_queue (url, kind, body, created_ms, next_ms) "
                              "VALUES (?1, ?2, ?3, ?4, ?4)",
                    &st, diag)) != SHOAL_OK)
      return rc;
    hub_store_reset(st);
    hub_store_bind_text(st, 1, ctx->cfg.webhooks[i].url, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 2, kind, -1, HUB_STORE_STATIC);
    if (too_big) {
      char note[96];
      snprintf(note, sizeof note, "{\"omitted_bytes\":%zu}", len);
      hub_store_bind_text(st, 3, note, -1, HUB_STORE_TRANSIENT);
    } else {
      hub_store_bind_text(st, 3, body_json, (int)len, HUB_STORE_STATIC);
    }
    hub_store_bind_int64(st, 4, now);
    int src = hub_store_step(st);
    if (src != HUB_STORE_DONE) {
      rc = hub_store_fail(ctx->db, src, "queueing a webhook delivery", diag);
      break;
    }
  }
  hub_store_finalize(st);
  return rc;
}

/* ---- worker ---- */

static shoal_err exec_bind(hub_store *db, const char *sql, const char *t1, int64_t i2, int64_t i3,
                           const char *t4, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (t1)
    hub_store_bind_text(st, 1, t1, -1, HUB_STORE_TRANSIENT);
  hub_store_bind_int64(st, 2, i2);
  hub_store_bind_int64(st, 3, i3);
  if (t4)
    hub_store_bind_text(st, 4, t4, -1, HUB_STORE_TRANSIENT);
  int src = hub_store_step(st);
  if (src != HUB_STORE_DONE)
    rc = hub_store_fail(db, src, "webhook queue", diag);
  hub_store_finalize(st);
  return rc;
}

static void count(hub_store *db, const char *name, int64_t by) {
  shoal_diag d;
  exec_bind(db,
            "INSERT INTO hub_counters (name, value) VALUES (?1, ?2) "
            "ON CONFLICT (name) DO UPDATE SET value = hub_counters.value + ?2",
            name, by, 0, NULL, &d);
}

static int abort_on_stop(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  return atomic_load(&((struct hub_webhooks *)p)->stop) ? 1 : 0;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *user) {
  (void)ptr, (void)user;
  return size * nmemb;
}

/* One POST; true on a 2xx. err gets a short reason otherwise. */
static bool post(struct hub_webhooks *w, CURL *curl, const struct hook *h, int64_t id,
                 const char *kind, const char *body, size_t len, char *err, size_t errsz) {
  struct curl_slist *hdrs = NULL;
  char line[128], sig[65];
  hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
  snprintf(line, sizeof line, "X-Shoal-Event: %s", kind);
  hdrs = curl_slist_append(hdrs, line);
  snprintf(line, sizeof line, "X-Shoal-Delivery: %lld", (long long)id);
  hdrs = curl_slist_append(hdrs, line);
  if (h->secret) {
    shoal_hmac_sha256_hex(h->secret, h->secret_len, body, len, sig);
    snprintf(line, sizeof line, "X-Shoal-Signature: sha256=%s", sig);
    hdrs = curl_slist_append(hdrs, line);
  }
  hdrs = curl_slist_append(hdrs, "Expect:");
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, h->url);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, w->opts.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, w->opts.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, w);
  CURLcode cc = curl_easy_perform(curl);
  curl_slist_free_all(hdrs);
  if (cc != CURLE_OK) {
    snprintf(err, errsz, "%s", curl_easy_strerror(cc));
    return false;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    snprintf(err, errsz, "HTTP %ld", status);
    return false;
  }
  return true;
}

static const struct hook *find_hook(const struct hub_webhooks *w, const char *url) {
  for (size_t i = 0; i < w->nhooks; i++)
    if (strcmp(w->hooks[i].url, url) == 0)
      return &w->hooks[i];
  return NULL;
}

static void to_dead(struct hub_webhooks *w, int64_t id, const char *why) {
  shoal_diag d;
  if (hub_store_begin(w->db, &d) != SHOAL_OK)
    return;
  if (exec_bind(w->db,
                "INSERT INTO webhook_dead (url, kind, body, created_ms, attempts, failed_ms, "
                "last_error) SELECT url, kind, body, created_ms, attempts, ?2, ?4 FROM "
                "webhook_queue WHERE id = ?3",
                NULL, shoal_now_ms(), id, why, &d) != SHOAL_OK ||
      exec_bind(w->db, "DELETE FROM webhook_queue WHERE id = ?3", NULL, 0, id, NULL, &d) !=
          SHOAL_OK) {
    hub_store_rollback(w->db);
    return;
  }
  count(w->db, "webhook_dead_total", 1);
  hub_store_commit(w->db, &d);
  shoal_log(&w->log, SHOAL_LOG_WARN, "webhook delivery %lld given up: %s", (long long)id, why);
}

/* Records a failed attempt on row id: a later retry (backoff), or the
 * dead list once the attempts or the age run out. */
static void failed(struct hub_webhooks *w, int64_t id, const char *url, int attempts,
                   int64_t created_ms, const char *why) {
  shoal_diag d;
  int64_t now = shoal_now_ms();
  count(w->db, "webhook_failures_total", 1);
  if (attempts + 1 >= w->opts.max_attempts || now - created_ms > w->opts.max_age_ms) {
    exec_bind(w->db, "UPDATE webhook_queue SET attempts = attempts + 1 WHERE id = ?3", NULL, 0, id,
              NULL, &d);
    to_dead(w, id, why);
    return;
  }
  int64_t delay = w->opts.backoff_min_ms;
  for (int i = 0; i < attempts && delay < w->opts.backoff_max_ms; i++)
    delay *= 2;
  if (delay > w->opts.backoff_max_ms)
    delay = w->opts.backoff_max_ms;
  uint32_t r = 0;
  shoal_random_bytes(&r, sizeof r);
  delay += (int64_t)(r % (uint32_t)(delay / 4 + 1)); /* jitter: no thundering herd on recovery */
  exec_bind(w->db,
            "UPDATE webhook_queue SET attempts = attempts + 1, next_ms = ?2, last_error = ?4 "
            "WHERE id = ?3",
            NULL, now + delay, id, why, &d);
  shoal_log(&w->log, SHOAL_LOG_INFO, "webhook %s: delivery %lld failed (%s), retry in %lld ms", url,
            (long long)id, why, (long long)delay);
}

/* Removes delivered rows in one transaction (one fsync per batch, not per
 * delivery). A crash before this commits re-sends them: at least once. */
static void flush_delivered(struct hub_webhooks *w, const int64_t *ids, int n) {
  shoal_diag d;
  if (n == 0 || hub_store_begin(w->db, &d) != SHOAL_OK)
    return;
  for (int i = 0; i < n; i++)
    exec_bind(w->db, "DELETE FROM webhook_queue WHERE id = ?3", NULL, 0, ids[i], NULL, &d);
  count(w->db, "webhook_delivered_total", n);
  if (hub_store_commit(w->db, &d) != SHOAL_OK)
    hub_store_rollback(w->db);
}

/* Delivers the due head of one receiver's queue, in id order. The row
 * with the lowest id gates the rest: while it waits for its retry, the
 * receiver gets one probe per backoff period, not one per queued event. */
static int deliver_hook(struct hub_webhooks *w, CURL *curl, const struct hook *h) {
  /* Zeroed: the compiler cannot see that flush_delivered reads only ndone entries. */
  int64_t ids[HUB_WEBHOOK_BATCH], done[HUB_WEBHOOK_BATCH] = {0};
  int attempts[HUB_WEBHOOK_BATCH], n = 0, ndone = 0, delivered = 0;
  int64_t created[HUB_WEBHOOK_BATCH], next[HUB_WEBHOOK_BATCH];
  char *kinds[HUB_WEBHOOK_BATCH], *bodies[HUB_WEBHOOK_BATCH];
  size_t lens[HUB_WEBHOOK_BATCH];
  hub_stmt *st = NULL;
  shoal_diag d;
  if (hub_store_prepare(w->db,
                        "SELECT id, kind, body, attempts, created_ms, next_ms FROM webhook_queue "
                        "WHERE url = ?1 ORDER BY id LIMIT ?2",
                        &st, &d) != SHOAL_OK) {
    shoal_log(&w->log, SHOAL_LOG_ERROR, "webhooks: %s", d.msg);
    return 0;
  }
  hub_store_bind_text(st, 1, h->url, -1, HUB_STORE_STATIC);
  hub_store_bind_int(st, 2, HUB_WEBHOOK_BATCH);
  int64_t now = shoal_now_ms();
  while (n < HUB_WEBHOOK_BATCH && hub_store_step(st) == HUB_STORE_ROW) {
    next[n] = hub_store_column_int64(st, 5);
    if (next[n] > now)
      break; /* the head waits for its retry: so does the rest */
    ids[n] = hub_store_column_int64(st, 0);
    kinds[n] = shoal_strdup((const char *)hub_store_column_text(st, 1));
    lens[n] = (size_t)hub_store_column_bytes(st, 2);
    bodies[n] = shoal_strdup((const char *)hub_store_column_text(st, 2));
    attempts[n] = hub_store_column_int(st, 3);
    created[n] = hub_store_column_int64(st, 4);
    n++;
  }
  hub_store_finalize(st);
  int64_t started = shoal_mono_ms();
  for (int i = 0; i < n && !atomic_load(&w->stop); i++) {
    /* A slow receiver yields to the others after its time slice. */
    if (i > 0 && shoal_mono_ms() - started > HUB_WEBHOOK_SLICE_MS)
      break;
    if (!kinds[i] || !bodies[i])
      break; /* OOM: retried next round */
    char err[CURL_ERROR_SIZE + 32] = "";
    if (post(w, curl, h, ids[i], kinds[i], bodies[i], lens[i], err, sizeof err)) {
      done[ndone++] = ids[i];
      delivered++;
      continue;
    }
    if (!atomic_load(&w->stop)) {
      flush_delivered(w, done, ndone);
      ndone = 0;
      failed(w, ids[i], h->url, attempts[i], created[i], err);
    }
    break;
  }
  flush_delivered(w, done, ndone);
  for (int i = 0; i < n; i++) {
    free(kinds[i]);
    free(bodies[i]);
  }
  return delivered;
}

/* One pass over every receiver; returns how many deliveries were made. */
static int deliver_round(struct hub_webhooks *w, CURL *curl) {
  int delivered = 0;
  for (size_t i = 0; i < w->nhooks && !atomic_load(&w->stop); i++)
    delivered += deliver_hook(w, curl, &w->hooks[i]);
  return delivered;
}

/* Deliveries queued for a URL no longer in the config can never be sent. */
static void bury_unconfigured(struct hub_webhooks *w) {
  hub_stmt *st = NULL;
  shoal_diag d;
  int64_t ids[HUB_WEBHOOK_BATCH];
  for (int round = 0; round < 100000 && !atomic_load(&w->stop); round++) {
    int n = 0;
    if (hub_store_prepare(w->db, "SELECT id, url FROM webhook_queue ORDER BY url, id", &st, &d) !=
        SHOAL_OK)
      return;
    while (n < HUB_WEBHOOK_BATCH && hub_store_step(st) == HUB_STORE_ROW)
      if (!find_hook(w, (const char *)hub_store_column_text(st, 1)))
        ids[n++] = hub_store_column_int64(st, 0);
    hub_store_finalize(st);
    for (int i = 0; i < n; i++)
      to_dead(w, ids[i], "webhook no longer configured");
    if (n < HUB_WEBHOOK_BATCH)
      return;
  }
}

static void *worker(void *arg) {
  struct hub_webhooks *w = arg;
  CURL *curl = curl_easy_init();
  if (!curl) {
    shoal_log(&w->log, SHOAL_LOG_ERROR, "webhooks: curl_easy_init failed");
    return NULL;
  }
  bool buried = false;
  while (!atomic_load(&w->stop)) {
    if (hub_duty_held(&w->duty)) {
      if (!buried)
        bury_unconfigured(w);
      buried = true;
      int delivered = deliver_round(w, curl);
      if (delivered > 0)
        continue; /* more may be due right away */
    } else {
      buried = false; /* the configs of the hubs may differ: look again when ours */
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (w->opts.poll_ms % 1000) * 1000000LL;
    ts.tv_sec += (time_t)(w->opts.poll_ms / 1000 + ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&w->mu);
    if (!atomic_load(&w->stop))
      pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    pthread_mutex_unlock(&w->mu);
  }
  curl_easy_cleanup(curl);
  return NULL;
}

/* libcurl's global state, once per process (not thread-safe itself). */
static void curl_init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void webhooks_free(struct hub_webhooks *w) {
  for (size_t i = 0; i < w->nhooks; i++) {
    free(w->hooks[i].url);
    shoal_secure_free(w->hooks[i].secret);
  }
  hub_store_close(w->db);
  hub_duty_close(&w->duty);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

shoal_err hub_webhooks_start_opts(struct hub_ctx *ctx, const struct hub_webhook_opts *opts,
                                  struct hub_webhooks **out, shoal_diag *diag) {
  *out = NULL;
  if (ctx->cfg.webhook_count == 0)
    return SHOAL_OK;
  shoal_err rc = SHOAL_OK;
  static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
  pthread_once(&curl_once, curl_init_once);
  struct hub_webhooks *w = calloc(1, sizeof *w);
  if (!w)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  atomic_init(&w->stop, false);
  w->log = ctx->log;
  w->opts = *opts;
  for (size_t i = 0; i < ctx->cfg.webhook_count; i++) {
    struct hook *h = &w->hooks[w->nhooks++];
    h->url = shoal_strdup(ctx->cfg.webhooks[i].url);
    if (!h->url) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto fail;
    }
    if (ctx->cfg.webhooks[i].secret_file) {
      size_t len = 0;
      if ((rc = shoal_file_read(ctx->cfg.webhooks[i].secret_file, HUB_TOKEN_MAX_BYTES, &h->secret,
                                &len, diag)) != SHOAL_OK) {
        shoal_diag_prefix(diag, "webhooks[%zu].secret_file", i);
        goto fail;
      }
      while (len > 0 && (h->secret[len - 1] == '\n' || h->secret[len - 1] == '\r' ||
                         h->secret[len - 1] == ' ' || h->secret[len - 1] == '\t'))
        h->secret[--len] = '\0';
      h->secret_len = len;
    }
  }
  if ((rc = hub_store_open(ctx->cfg.db, &w->db, diag)) != SHOAL_OK ||
      (rc = hub_duty_open(ctx, HUB_DUTY_WEBHOOKS, "webhooks", &w->duty, diag)) != SHOAL_OK)
    goto fail;
  if (pthread_create(&w->thread, NULL, worker, w) != 0) {
    rc = shoal_fail(diag, SHOAL_EINTERNAL, "cannot start the webhook thread");
    goto fail;
  }
  *out = w;
  return SHOAL_OK;
fail:
  webhooks_free(w);
  return rc;
}

shoal_err hub_webhooks_start(struct hub_ctx *ctx, struct hub_webhooks **out, shoal_diag *diag) {
  struct hub_webhook_opts o;
  hub_webhook_opts_default(&o);
  return hub_webhooks_start_opts(ctx, &o, out, diag);
}

void hub_webhooks_stop(struct hub_webhooks *w) {
  if (!w)
    return;
  pthread_mutex_lock(&w->mu);
  atomic_store(&w->stop, true);
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  webhooks_free(w);
}
