/* test_httpd_slots.c - the HTTP server's probe-only slots (httpd.h,
 * probe_reserve): with every general slot taken, a new connection may ask
 * only a probe route (others answer 503); and a probe slot still open does
 * not count against conn_max, so once a general slot is free a new client
 * gets it, whatever probe connections are open at that moment. A real
 * server on 127.0.0.1, real sockets; every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shoal/httpd.h"
#include "shoal/util.h"

#define CONN_MAX     4
#define IO_TIMEOUT_S 20

static void h_ok(struct shoal_httpd_req *req, struct shoal_httpd_resp *resp) {
  (void)req;
  shoal_httpd_reply(resp, 200, "text/plain", "ok", 2);
}

static const struct shoal_httpd_route routes[] = {
    {"GET", "/probe", h_ok, SHOAL_HTTPD_PUBLIC | SHOAL_HTTPD_PROBE, NULL, 0},
    {"GET", "/work", h_ok, SHOAL_HTTPD_PUBLIC, NULL, 0},
};

static struct shoal_httpd *start(int *port) {
  struct shoal_httpd_opts o = {.listen = "127.0.0.1:0",
                               .routes = routes,
                               .nroutes = 2,
                               .threads = 1,
                               .conn_max = CONN_MAX,
                               .probe_reserve = 2,
                               .per_ip_max = 64};
  struct shoal_httpd *h = NULL;
  shoal_diag d = {{0}};
  assert_int_equal(shoal_httpd_start(&o, &h, &d), SHOAL_OK);
  *port = shoal_httpd_port(h);
  return h;
}

static int conn_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

/* One GET on fd (keep-alive unless close); the status, or -1. Reading the
 * answer also proves the server has taken the connection into its count. */
static int get(int fd, const char *path, bool close_it) {
  char req[256], buf[1024];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", path,
                   close_it ? "Connection: close\r\n" : "");
  if (write(fd, req, (size_t)n) != n)
    return -1;
  ssize_t got = read(fd, buf, sizeof buf - 1);
  if (got <= 0)
    return -1;
  buf[got] = '\0';
  int status = -1;
  return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : -1;
}

/* Opens CONN_MAX kept-alive connections that each got a general slot. */
static void fill_general_slots(int port, int g[CONN_MAX]) {
  for (int i = 0; i < CONN_MAX; i++) {
    g[i] = conn_to(port);
    assert_int_equal(get(g[i], "/work", false), 200);
  }
}

static void test_full_general_slots_leave_probes_only(void **state) {
  (void)state;
  int port;
  struct shoal_httpd *h = start(&port);
  int g[CONN_MAX];
  fill_general_slots(port, g);
  int p = conn_to(port);
  assert_int_equal(get(p, "/work", false), 503);
  close(p);
  p = conn_to(port);
  assert_int_equal(get(p, "/probe", true), 200);
  close(p);
  for (int i = 0; i < CONN_MAX; i++)
    close(g[i]);
  shoal_httpd_stop(h);
}

static void test_open_probe_slot_does_not_take_a_free_general_slot(void **state) {
  (void)state;
  int port;
  struct shoal_httpd *h = start(&port);
  int g[CONN_MAX];
  fill_general_slots(port, g);
  /* Every general slot taken: this one is a probe slot, kept open. */
  int p = conn_to(port);
  int64_t p_opened = shoal_mono_ms();
  assert_int_equal(get(p, "/probe", false), 200);
  close(g[0]); /* a general slot is free again */
  /* While the probe slot is open (it lives SHOAL_HTTPD_PROBE_MAX_MS), a new
   * client must get the free general slot. A 503 is retried only until the
   * server has seen g[0] close. */
  int status = -1;
  while (shoal_mono_ms() - p_opened < SHOAL_HTTPD_PROBE_MAX_MS / 2) {
    int c = conn_to(port);
    status = get(c, "/work", true);
    close(c);
    if (status == 200)
      break;
    usleep(20000);
  }
  assert_int_equal(status, 200);
  /* ...and the probe slot was still open when it did. */
  assert_int_equal(get(p, "/probe", false), 200);
  close(p);
  for (int i = 1; i < CONN_MAX; i++)
    close(g[i]);
  shoal_httpd_stop(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_general_slots_leave_probes_only),
      cmocka_unit_test(test_open_probe_slot_does_not_take_a_free_general_slot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
