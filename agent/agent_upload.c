/* agent_upload.c - photo uploads with libcurl on their own thread. The
 * queue is the media table: a photo is due when its submission's outbox
 * seq is acknowledged by the hub (sync_state.acked_upto) and its backoff
 * has passed. One photo at a time, streamed from disk (CURLOPT_READDATA):
 * memory stays flat whatever the backlog. */
#include "agent_upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent_media.h"
#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/media.h"
#include "shoal/mqtt.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

extern const struct shoal_migration agent_migrations[];
extern const size_t agent_migrations_count;

#define IDLE_WAIT_MS      1000 /* look for due photos at least this often */
#define CONNECT_TIMEOUT_S 10
#define STALL_TIMEOUT_S   60 /* below 1 byte/s this long: give up, retry later */
#define URL_MAX           2048

struct agent_uploader {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_bool stop;
  bool kicked;
  const struct agent_ctx *ctx; /* config, profile and logger only: never its db */
  char *dir;
  sqlite3 *db;
};

struct due {
  char sha[SHOAL_SHA256_HEX_MAX];
  char type[SHOAL_MEDIA_TYPE_MAX + 1];
  int64_t bytes;
  int attempts;
};

/* The next photo due, if any (*found). */
static shoal_err next_due(struct agent_uploader *u, struct due *d, bool *found, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  *found = false;
  shoal_err rc = shoal_db_prepare(
      u->db,
      "SELECT sha256, type, bytes, attempts FROM media WHERE uploaded_ms IS NULL AND seq IS NOT "
      "NULL AND seq <= (SELECT acked_upto FROM sync_state WHERE id = 1) AND next_try_ms <= ? "
      "ORDER BY seq, sha256 LIMIT 1",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, shoal_now_ms());
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    shoal_strlcpy(d->sha, (const char *)sqlite3_column_text(st, 0), sizeof d->sha);
    shoal_strlcpy(d->type, (const char *)sqlite3_column_text(st, 1), sizeof d->type);
    d->bytes = sqlite3_column_int64(st, 2);
    d->attempts = sqlite3_column_int(st, 3);
    *found = true;
  } else if (s != SQLITE_DONE) {
    rc = shoal_db_fail(u->db, s, "read the photo queue", diag);
  }
  sqlite3_finalize(st);
  return rc;
}

static shoal_err mark(struct agent_uploader *u, const struct due *d, bool done, const char *err,
                      shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      u->db,
      done ? "UPDATE media SET uploaded_ms = ?1, last_error = NULL WHERE sha256 = ?2"
           : "UPDATE media SET attempts = attempts + 1, next_try_ms = ?1, last_error = ?3 "
             "WHERE sha256 = ?2",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  int64_t now = shoal_now_ms();
  const struct shoal_profile *p = &u->ctx->profile;
  sqlite3_bind_int64(
      st, 1, done ? now : now + shoal_backoff_ms(p->backoff_min_s, p->backoff_max_s, d->attempts));
  sqlite3_bind_text(st, 2, d->sha, -1, SQLITE_STATIC);
  if (!done)
    sqlite3_bind_text(st, 3, err, -1, SQLITE_TRANSIENT);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  return s == SQLITE_DONE ? SHOAL_OK : shoal_db_fail(u->db, s, "record an upload", diag);
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  (void)dt, (void)dn, (void)ut, (void)un;
  struct agent_uploader *u = user;
  return atomic_load(&u->stop) ? 1 : 0; /* abort: retried after the restart */
}

static size_t on_body(char *p, size_t size, size_t n, void *user) {
  (void)p, (void)user;
  return size * n; /* the hub's short JSON answer is not needed */
}

/* PUTs one photo; *status is the HTTP status (0 when none arrived). */
static shoal_err put(struct agent_uploader *u, const struct due *d, long *status,
                     shoal_diag *diag) {
  const struct shoal_agent_config *c = &u->ctx->cfg;
  char url[URL_MAX];
  size_t base = strlen(c->hub_url);
  while (base > 0 && c->hub_url[base - 1] == '/')
    base--;
  if (snprintf(url, sizeof url, "%.*s/api/v1/media/%s", (int)base, c->hub_url, d->sha) >=
      (int)sizeof url)
    return shoal_fail(diag, SHOAL_ECONFIG, "hub_url is too long");
  char *path = shoal_media_path(u->dir, d->sha);
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) {
    shoal_err rc =
        shoal_fail(diag, SHOAL_EIO, "cannot open %s: %s", path ? path : "photo", strerror(errno));
    free(path);
    return rc;
  }
  free(path);
  CURL *h = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  char ctype[SHOAL_MEDIA_TYPE_MAX + 32];
  char errbuf[CURL_ERROR_SIZE] = "";
  snprintf(ctype, sizeof ctype, "Content-Type: %s", d->type);
  hdrs = curl_slist_append(hdrs, ctype);
  shoal_err rc = SHOAL_OK;
  if (!h || !hdrs) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READDATA, f);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)d->bytes);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, u);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)STALL_TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  if (strncmp(c->hub_url, "https://", 8) == 0) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    /* The device's identity: the same CA and client certificate as MQTT.
     * The fleet CA is the only trust anchor, as for MQTT: libcurl builds
     * carry a default CApath (Debian: /etc/ssl/certs) that CAINFO alone
     * leaves in place, which would trust every CA of the system store. */
    if (c->mqtt.tls_ca) {
      curl_easy_setopt(h, CURLOPT_CAINFO, c->mqtt.tls_ca);
      curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    if (c->mqtt.tls_cert && c->mqtt.tls_key) {
      curl_easy_setopt(h, CURLOPT_SSLCERT, c->mqtt.tls_cert);
      curl_easy_setopt(h, CURLOPT_SSLKEY, c->mqtt.tls_key);
    }
  }
  CURLcode cc = curl_easy_perform(h);
  *status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  /* The error buffer says which check failed ("SSL certificate problem:
   * unable to get local issuer certificate"); the code's text does not. */
  if (cc != CURLE_OK)
    rc = shoal_fail(diag, SHOAL_EIO, "upload to %s: %s", c->hub_url,
                    errbuf[0] ? errbuf : curl_easy_strerror(cc));
cleanup:
  curl_slist_free_all(hdrs);
  if (h)
    curl_easy_cleanup(h);
  fclose(f);
  return rc;
}

/* One due photo, if any; *did tells whether one was tried. */
static void step(struct agent_uploader *u, bool *did) {
  shoal_diag d = {{0}};
  struct due due;
  bool found = false;
  const struct shoal_logger *lg = &u->ctx->log;
  *did = false;
  if (next_due(u, &due, &found, &d) != SHOAL_OK) {
    shoal_log(lg, SHOAL_LOG_WARN, "photo queue: %s", d.msg);
    return;
  }
  if (!found)
    return;
  *did = true;
  long status = 0;
  shoal_err rc = put(u, &due, &status, &d);
  if (atomic_load(&u->stop) && rc != SHOAL_OK)
    return; /* interrupted by shutdown: not a failure, no backoff */
  bool done = rc == SHOAL_OK && (status == 201 || status == 200 || status == 409);
  char why[SHOAL_DIAG_MAX];
  if (!done && rc == SHOAL_OK)
    snprintf(why, sizeof why, "hub answered %ld", status);
  else
    shoal_strlcpy(why, d.msg, sizeof why);
  if (mark(u, &due, done, why, &d) != SHOAL_OK) {
    shoal_log(lg, SHOAL_LOG_WARN, "photo %.12s: %s", due.sha, d.msg);
    return;
  }
  if (done) {
    char *path = shoal_media_path(u->dir, due.sha);
    if (path)
      unlink(path); /* the hub holds it now */
    free(path);
    shoal_log(lg, SHOAL_LOG_INFO, "photo %.12s (%lld bytes) uploaded", due.sha,
              (long long)due.bytes);
  } else if (due.attempts == 0 || due.attempts % 10 == 0) {
    shoal_log(lg, SHOAL_LOG_WARN, "photo %.12s not uploaded (%s); retrying with backoff", due.sha,
              why);
  }
}

static void *run(void *arg) {
  struct agent_uploader *u = arg;
  while (!atomic_load(&u->stop)) {
    bool did = false;
    step(u, &did);
    if (did)
      continue;
    pthread_mutex_lock(&u->mu);
    if (!u->kicked && !atomic_load(&u->stop)) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += IDLE_WAIT_MS / 1000;
      pthread_cond_timedwait(&u->cv, &u->mu, &ts);
    }
    u->kicked = false;
    pthread_mutex_unlock(&u->mu);
  }
  return NULL;
}

shoal_err agent_uploader_start(const struct agent_ctx *ctx, struct agent_uploader **out,
                               shoal_diag *diag) {
  *out = NULL;
  if (!ctx->cfg.hub_url || !(ctx->profile.modules & SHOAL_MOD_FORMS))
    return SHOAL_OK;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return shoal_fail(diag, SHOAL_EIO, "cannot initialise libcurl");
  struct agent_uploader *u = calloc(1, sizeof *u);
  if (!u || !(u->dir = agent_media_dir(ctx))) {
    free(u);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  u->ctx = ctx;
  atomic_init(&u->stop, false);
  pthread_mutex_init(&u->mu, NULL);
  pthread_cond_init(&u->cv, NULL);
  shoal_err rc = shoal_db_open(ctx->cfg.db, agent_migrations, agent_migrations_count, &u->db, diag);
  if (rc == SHOAL_OK && pthread_create(&u->thread, NULL, run, u) != 0)
    rc = shoal_fail(diag, SHOAL_EIO, "cannot start the photo uploader thread");
  if (rc != SHOAL_OK) {
    shoal_db_close(u->db);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    free(u->dir);
    free(u);
    return rc;
  }
  *out = u;
  return SHOAL_OK;
}

void agent_uploader_kick(struct agent_uploader *u) {
  if (!u)
    return;
  pthread_mutex_lock(&u->mu);
  u->kicked = true;
  pthread_cond_signal(&u->cv);
  pthread_mutex_unlock(&u->mu);
}

void agent_uploader_stop(struct agent_uploader *u) {
  if (!u)
    return;
  pthread_mutex_lock(&u->mu);
  atomic_store(&u->stop, true);
  pthread_cond_signal(&u->cv);
  pthread_mutex_unlock(&u->mu);
  pthread_join(u->thread, NULL);
  shoal_db_close(u->db);
  pthread_mutex_destroy(&u->mu);
  pthread_cond_destroy(&u->cv);
  free(u->dir);
  free(u);
}
