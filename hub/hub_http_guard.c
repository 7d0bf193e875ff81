/* hub_http_guard.c - the deadline table and watchdog behind
 * hub_http_guard.h. Invariant: an entry's fd is shut down only while the
 * entry is in use, under the table's mutex, and the server reports a
 * connection closed (hub_http_guard_closed, which takes the same mutex)
 * before it closes the socket, so the watchdog never touches an fd that
 * was closed or reused. shutdown() (not close()) wakes the connection's
 * thread, which then sees EOF and closes the connection the normal way. */
#include "hub_http_guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "shoal/util.h"

#define GUARD_TICK_MS 100 /* watchdog period: how late past a deadline a cut may come */

struct hub_http_conn {
  bool used;
  bool probe_only;
  int fd;
  int64_t req_start_ms; /* when the current request began to arrive */
  int64_t deadline_ms;  /* 0: none (handler running or response sending) */
};

struct hub_http_guard {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool thread_started, stopping;
  unsigned general, cap, open;
  int64_t recv_max_ms, body_min_rate, probe_ms;
  uint64_t cut;
  struct hub_http_conn *conns; /* cap entries */
};

static void *watchdog(void *arg) {
  struct hub_http_guard *g = arg;
  pthread_mutex_lock(&g->mu);
  while (!g->stopping) {
    int64_t now = shoal_mono_ms();
    for (unsigned i = 0; i < g->cap; i++) {
      struct hub_http_conn *c = &g->conns[i];
      if (c->used && c->deadline_ms && now > c->deadline_ms && c->fd >= 0) {
        shutdown(c->fd, SHUT_RDWR);
        c->deadline_ms = 0; /* once */
        g->cut++;
      }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += GUARD_TICK_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

shoal_err hub_http_guard_new(unsigned general, unsigned reserve, int64_t recv_max_ms,
                             int64_t body_min_rate, int64_t probe_ms, struct hub_http_guard **out,
                             shoal_diag *diag) {
  *out = NULL;
  struct hub_http_guard *g = calloc(1, sizeof *g);
  if (!g)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  g->general = general;
  g->cap = general + reserve;
  g->recv_max_ms = recv_max_ms;
  g->body_min_rate = body_min_rate > 0 ? body_min_rate : 1;
  g->probe_ms = probe_ms;
  g->conns = calloc(g->cap, sizeof *g->conns);
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  if (!g->conns) {
    hub_http_guard_free(g);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if (pthread_create(&g->thread, NULL, watchdog, g) != 0) {
    hub_http_guard_free(g);
    return shoal_fail(diag, SHOAL_EIO, "cannot start the HTTP watchdog thread");
  }
  g->thread_started = true;
  *out = g;
  return SHOAL_OK;
}

void hub_http_guard_free(struct hub_http_guard *g) {
  if (!g)
    return;
  if (g->thread_started) {
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
  }
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
  free(g->conns);
  free(g);
}

struct hub_http_conn *hub_http_guard_opened(struct hub_http_guard *g, int fd) {
  struct hub_http_conn *c = NULL;
  pthread_mutex_lock(&g->mu);
  for (unsigned i = 0; i < g->cap && !c; i++)
    if (!g->conns[i].used)
      c = &g->conns[i];
  if (c) {
    /* Past the general limit: a reserved slot, for a quick probe only. */
    c->probe_only = g->open >= g->general;
    c->used = true;
    c->fd = fd;
    c->req_start_ms = shoal_mono_ms();
    c->deadline_ms = c->req_start_ms + (c->probe_only ? g->probe_ms : g->recv_max_ms);
    g->open++;
  }
  pthread_mutex_unlock(&g->mu);
  return c;
}

void hub_http_guard_closed(struct hub_http_guard *g, struct hub_http_conn *c) {
  if (!c)
    return;
  pthread_mutex_lock(&g->mu);
  c->used = false;
  c->fd = -1;
  c->deadline_ms = 0;
  g->open--;
  pthread_mutex_unlock(&g->mu);
}

bool hub_http_guard_probe_only(const struct hub_http_conn *c) {
  return c && c->probe_only;
}

void hub_http_guard_headers(struct hub_http_guard *g, struct hub_http_conn *c, int64_t body_len,
                            int64_t body_max) {
  if (!c)
    return;
  if (body_len < 0 || body_len > body_max)
    body_len = body_max;
  pthread_mutex_lock(&g->mu);
  if (c->deadline_ms && !c->probe_only)
    c->deadline_ms = c->req_start_ms + g->recv_max_ms + body_len * 1000 / g->body_min_rate;
  pthread_mutex_unlock(&g->mu);
}

void hub_http_guard_handling(struct hub_http_guard *g, struct hub_http_conn *c) {
  if (!c)
    return;
  pthread_mutex_lock(&g->mu);
  c->deadline_ms = 0;
  pthread_mutex_unlock(&g->mu);
}

void hub_http_guard_idle(struct hub_http_guard *g, struct hub_http_conn *c) {
  if (!c)
    return;
  pthread_mutex_lock(&g->mu);
  if (c->used) {
    c->req_start_ms = shoal_mono_ms();
    c->deadline_ms = c->req_start_ms + (c->probe_only ? g->probe_ms : g->recv_max_ms);
  }
  pthread_mutex_unlock(&g->mu);
}

uint64_t hub_http_guard_cut(struct hub_http_guard *g) {
  pthread_mutex_lock(&g->mu);
  uint64_t n = g->cut;
  pthread_mutex_unlock(&g->mu);
  return n;
}
