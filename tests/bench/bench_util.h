/* bench_util.h - helpers the benchmark programs share (header-only: each
 * bench is one .c built on its own). */
#ifndef SHOAL_BENCH_UTIL_H
#define SHOAL_BENCH_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A free TCP port on 127.0.0.1 (bind port 0 and read back what the kernel
 * picked), or 0 if none could be had. */
static inline int bench_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    return 0;
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

#endif
