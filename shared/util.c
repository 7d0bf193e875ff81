/* util.c - bounded I/O, atomic writes, identifiers, randomness, clocks. */
#include "shoal/util.h"
#include "shoal/shoal_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 4096 /* shoal_file_read grows its buffer when less than this is free */

shoal_err shoal_file_read(const char *path, size_t max_bytes, char **out, size_t *out_len,
                          shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  FILE *f = NULL;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  bool is_stdin = strcmp(path, "-") == 0;

  f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot open %s: %s", path, strerror(errno));
    goto cleanup;
  }
  for (;;) {
    if (len + READ_CHUNK + 1 > cap) {
      size_t ncap = cap ? cap * 2 : 2 * READ_CHUNK;
      char *nb = realloc(buf, ncap);
      if (!nb) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory reading %s", path);
        goto cleanup;
      }
      buf = nb;
      cap = ncap;
    }
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    len += n;
    if (len > max_bytes) {
      rc = shoal_fail(diag, SHOAL_ELIMIT, "%s is larger than the limit of %zu bytes",
                      is_stdin ? "standard input" : path, max_bytes);
      goto cleanup;
    }
    if (n == 0) {
      if (ferror(f)) {
        rc = shoal_fail(diag, SHOAL_EIO, "cannot read %s: %s", path, strerror(errno));
        goto cleanup;
      }
      break;
    }
  }
  if (!buf) {
    buf = malloc(1);
    if (!buf) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  buf[len] = '\0';
  *out = buf;
  if (out_len)
    *out_len = len;
  buf = NULL;
cleanup:
  if (f && !is_stdin)
    fclose(f);
  free(buf);
  return rc;
}

shoal_err shoal_file_write_atomic(const char *path, const void *data, size_t len, int mode,
                                  shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  char tmp[SHOAL_FS_PATH_MAX];
  int fd = -1;
  char *dir = NULL;

  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return shoal_fail(diag, SHOAL_ELIMIT, "path too long: %s", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot create %s: %s", tmp, strerror(errno));
    goto cleanup;
  }
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      rc = shoal_fail(diag, errno == ENOSPC ? SHOAL_EFULL : SHOAL_EIO, "cannot write %s: %s", tmp,
                      strerror(errno));
      goto cleanup;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot fsync %s: %s", tmp, strerror(errno));
    goto cleanup;
  }
  close(fd);
  fd = -1;
  if (rename(tmp, path) != 0) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    goto cleanup;
  }
  dir = shoal_path_dirname(path);
  if (dir) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
cleanup:
  if (fd >= 0) {
    close(fd);
    unlink(tmp);
  } else if (rc != SHOAL_OK) {
    unlink(tmp);
  }
  free(dir);
  return rc;
}

bool shoal_id_valid(const char *s) {
  if (!s || !*s)
    return false;
  size_t n = 0;
  for (const char *p = s; *p; p++, n++) {
    char c = *p;
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (n == 0 && !alnum)
      return false;
    if (!alnum && c != '_' && c != '.' && c != '-')
      return false;
  }
  return n <= SHOAL_ID_MAX;
}

shoal_err shoal_random_bytes(void *buf, size_t len) {
  unsigned char *p = buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return SHOAL_EIO;
    }
    p += n;
    len -= (size_t)n;
  }
  return SHOAL_OK;
}

char *shoal_path_resolve(const char *base_dir, const char *rel) {
  if (!rel)
    return NULL;
  if (rel[0] == '/' || !base_dir || !*base_dir || strstr(rel, "://")) /* absolute, or a URI */
    return strdup(rel);
  size_t n = strlen(base_dir) + 1 + strlen(rel) + 1;
  char *out = malloc(n);
  if (out)
    snprintf(out, n, "%s/%s", base_dir, rel);
  return out;
}

char *shoal_path_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return strdup(".");
  if (slash == path)
    return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

char *shoal_strdup(const char *s) {
  return s ? strdup(s) : NULL;
}

bool shoal_strlcpy(char *dst, const char *src, size_t dstsz) {
  size_t n = strlen(src);
  if (n >= dstsz) {
    if (dstsz)
      dst[0] = '\0';
    return false;
  }
  memcpy(dst, src, n + 1);
  return true;
}

int64_t shoal_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  const char *off = getenv("SHOAL_CLOCK_OFFSET_MS");
  if (off && *off)
    ms += strtoll(off, NULL, 10);
  return ms;
}

int64_t shoal_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void shoal_hex_encode(const unsigned char *in, size_t len, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hex[in[i] >> 4];
    out[2 * i + 1] = hex[in[i] & 15];
  }
  out[2 * len] = '\0';
}

bool shoal_sha256_hex_valid(const char *hex) {
  if (!hex || strlen(hex) != 64)
    return false;
  for (const char *p = hex; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}
