/* test_hub_http_guard.c - the hub HTTP watchdog (issue 16, hub_http_guard.h)
 * on socket pairs, with short deadlines: a connection that has not sent its
 * request by the deadline is shut down however it trickles; a handler's
 * time is never counted; a declared body extends the deadline by its size
 * over the minimum rate; connections past the general limit take reserved,
 * probe-only slots with the short probe deadline; a full table refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hub_http_guard.h"
#include "shoal/util.h"

#define RECV_MS  300
#define PROBE_MS 100
#define RATE     1000 /* bytes/s: 1000 bytes of body = 1 s more */

struct pair {
  int server, client;
};

static struct pair mkpair(void) {
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  return (struct pair){sv[0], sv[1]};
}

/* True once the server end was shut down: the client reads EOF. */
static bool cut(const struct pair *p) {
  char b;
  struct timeval tv = {0, 1000};
  setsockopt(p->client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return recv(p->client, &b, 1, 0) == 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits up to ms for p to be cut; returns the elapsed ms, or -1. */
static int64_t wait_cut(const struct pair *p, int ms) {
  int64_t t0 = shoal_mono_ms();
  while (shoal_mono_ms() - t0 < ms) {
    if (cut(p))
      return shoal_mono_ms() - t0;
    sleep_ms(10);
  }
  return -1;
}

static struct hub_http_guard *guard_recv(unsigned general, unsigned reserve, int64_t recv_ms) {
  struct hub_http_guard *g = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(hub_http_guard_new(general, reserve, recv_ms, RATE, PROBE_MS, &g, &d), SHOAL_OK);
  return g;
}

static struct hub_http_guard *guard(unsigned general, unsigned reserve) {
  return guard_recv(general, reserve, RECV_MS);
}

static void test_hub_http_guard_cuts_at_deadline_whatever_the_trickle(void **state) {
  (void)state;
  struct hub_http_guard *g = guard(4, 1);
  struct pair p = mkpair();
  struct hub_http_conn *c = hub_http_guard_opened(g, p.server);
  assert_non_null(c);
  assert_false(hub_http_guard_probe_only(c));
  /* Bytes keep arriving: the deadline does not move. */
  for (int i = 0; i < 5; i++) {
    assert_int_equal(write(p.client, "x", 1), 1);
    sleep_ms(20);
  }
  assert_true(wait_cut(&p, 2000) >= 0);
  assert_int_equal(hub_http_guard_cut(g), 1);
  hub_http_guard_closed(g, c);
  close(p.server);
  close(p.client);
  hub_http_guard_free(g);
}

static void test_hub_http_guard_handler_time_not_counted(void **state) {
  (void)state;
  struct hub_http_guard *g = guard(4, 1);
  struct pair p = mkpair();
  struct hub_http_conn *c = hub_http_guard_opened(g, p.server);
  hub_http_guard_headers(g, c, 0, 0);
  hub_http_guard_handling(g, c);
  sleep_ms(RECV_MS * 3); /* a slow handler */
  assert_false(cut(&p));
  assert_int_equal(hub_http_guard_cut(g), 0);
  /* The response went out; the next request on the connection has a new deadline. */
  hub_http_guard_idle(g, c);
  assert_true(wait_cut(&p, 2000) >= 0);
  hub_http_guard_closed(g, c);
  close(p.server);
  close(p.client);
  hub_http_guard_free(g);
}

static void test_hub_http_guard_body_extends_by_size(void **state) {
  (void)state;
  struct hub_http_guard *g = guard(4, 1);
  struct pair p = mkpair(), q = mkpair();
  struct hub_http_conn *c = hub_http_guard_opened(g, p.server);
  struct hub_http_conn *e = hub_http_guard_opened(g, q.server);
  hub_http_guard_headers(g, c, 1000, 1000000); /* 1 s more */
  hub_http_guard_headers(g, e, 0, 1000000);
  assert_true(wait_cut(&q, 2000) >= 0);
  assert_false(cut(&p)); /* still within its body allowance */
  assert_true(wait_cut(&p, 3000) >= 0);
  /* A declared length over the route's maximum counts as the maximum. */
  hub_http_guard_closed(g, c);
  hub_http_guard_closed(g, e);
  close(p.server), close(p.client), close(q.server), close(q.client);
  hub_http_guard_free(g);
}

static void test_hub_http_guard_reserved_slots_are_probe_only(void **state) {
  (void)state;
  /* General deadline far away (60 s): only the probe deadline can fire. */
  struct hub_http_guard *g = guard_recv(2, 1, 60000);
  struct pair p[4];
  struct hub_http_conn *c[4];
  for (int i = 0; i < 4; i++) {
    p[i] = mkpair();
    c[i] = hub_http_guard_opened(g, p[i].server);
  }
  assert_false(hub_http_guard_probe_only(c[0]));
  assert_false(hub_http_guard_probe_only(c[1]));
  assert_non_null(c[2]);
  assert_true(hub_http_guard_probe_only(c[2]));
  assert_null(c[3]); /* the table is full: the caller refuses the connection */
  /* The reserved slot has the short probe deadline; the general ones do not. */
  assert_true(wait_cut(&p[2], 20000) >= 0);
  assert_false(cut(&p[0]));
  assert_false(cut(&p[1]));
  /* A closed slot is reused, as a general one when below the limit. */
  hub_http_guard_closed(g, c[0]);
  hub_http_guard_closed(g, c[2]);
  struct pair r = mkpair();
  struct hub_http_conn *n = hub_http_guard_opened(g, r.server);
  assert_non_null(n);
  assert_false(hub_http_guard_probe_only(n));
  hub_http_guard_closed(g, n);
  hub_http_guard_closed(g, c[1]);
  close(r.server), close(r.client);
  for (int i = 0; i < 4; i++)
    close(p[i].server), close(p[i].client);
  hub_http_guard_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hub_http_guard_cuts_at_deadline_whatever_the_trickle),
      cmocka_unit_test(test_hub_http_guard_handler_time_not_counted),
      cmocka_unit_test(test_hub_http_guard_body_extends_by_size),
      cmocka_unit_test(test_hub_http_guard_reserved_slots_are_probe_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
