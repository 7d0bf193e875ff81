/* media.c - content-addressed file store: stream, hash, verify, sync,
 * rename. The temporary name carries the pid and a random suffix, so two
 * writers (two uploads of one hash) never share a file; the rename is the
 * only way a file appears under a hash name. */
#include "shoal/media.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "shoal/crypto.h"
#include "shoal/shoal_limits.h"
#include "shoal/util.h"

#define COPY_CHUNK (64 * 1024)

struct shoal_media_writer {
  char *dir;
  char tmp[SHOAL_FS_PATH_MAX];
  int fd;
  int64_t max_bytes, expect_bytes, written;
  mbedtls_sha256_context sha;
};

char *shoal_media_path(const char *dir, const char *sha) {
  size_t n = strlen(dir) + strlen(sha) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", dir, sha);
  return p;
}

static shoal_err mkdir_one(const char *path, shoal_diag *diag) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    return shoal_fail(diag, errno == ENOSPC ? SHOAL_EFULL : SHOAL_EIO, "cannot create %s: %s", path,
                      strerror(errno));
  return SHOAL_OK;
}

shoal_err shoal_media_dir_init(const char *dir, shoal_diag *diag) {
  char tmp[SHOAL_FS_PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s/tmp", dir) >= (int)sizeof tmp)
    return shoal_fail(diag, SHOAL_ELIMIT, "media folder path too long: %s", dir);
  shoal_err rc = mkdir_one(dir, diag);
  return rc == SHOAL_OK ? mkdir_one(tmp, diag) : rc;
}

shoal_err shoal_media_writer_open(const char *dir, int64_t max_bytes, int64_t expect_bytes,
                                  struct shoal_media_writer **out, shoal_diag *diag) {
  struct shoal_media_writer *w = calloc(1, sizeof *w);
  if (!w || !(w->dir = shoal_strdup(dir))) {
    free(w);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  unsigned r = 0;
  (void)shoal_random_bytes(&r, sizeof r);
  snprintf(w->tmp, sizeof w->tmp, "%s/tmp/%ld-%08x.part", dir, (long)getpid(), r);
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd < 0) {
    shoal_err rc = shoal_fail(diag, errno == ENOSPC ? SHOAL_EFULL : SHOAL_EIO,
                              "cannot create %s: %s", w->tmp, strerror(errno));
    free(w->dir);
    free(w);
    return rc;
  }
  w->max_bytes = max_bytes;
  w->expect_bytes = expect_bytes;
  mbedtls_sha256_init(&w->sha);
  mbedtls_sha256_starts_ret(&w->sha, 0);
  *out = w;
  return SHOAL_OK;
}

shoal_err shoal_media_writer_write(struct shoal_media_writer *w, const void *data, size_t n,
                                   shoal_diag *diag) {
  if ((int64_t)n > w->max_bytes - w->written)
    return shoal_fail(diag, SHOAL_ELIMIT, "more than %lld bytes", (long long)w->max_bytes);
  const unsigned char *p = data;
  size_t left = n;
  while (left > 0) {
    ssize_t k = write(w->fd, p, left);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return shoal_fail(diag, errno == ENOSPC ? SHOAL_EFULL : SHOAL_EIO, "cannot write %s: %s",
                        w->tmp, strerror(errno));
    }
    p += k;
    left -= (size_t)k;
  }
  mbedtls_sha256_update_ret(&w->sha, data, n);
  w->written += (int64_t)n;
  return SHOAL_OK;
}

int64_t shoal_media_writer_bytes(const struct shoal_media_writer *w) {
  return w->written;
}

void shoal_media_writer_abort(struct shoal_media_writer *w) {
  if (!w)
    return;
  if (w->fd >= 0)
    close(w->fd);
  unlink(w->tmp);
  mbedtls_sha256_free(&w->sha);
  free(w->dir);
  free(w);
}

shoal_err shoal_media_writer_commit(struct shoal_media_writer *w, const char *expect_sha,
                                    char *sha_out, int64_t *bytes_out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  unsigned char digest[SHOAL_SHA256_BYTES];
  char hex[SHOAL_SHA256_HEX_MAX];
  char *final = NULL;
  mbedtls_sha256_finish_ret(&w->sha, digest);
  shoal_hex_encode(digest, sizeof digest, hex);
  if (w->expect_bytes >= 0 && w->written != w->expect_bytes) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "%lld bytes arrived, %lld expected", (long long)w->written,
                    (long long)w->expect_bytes);
    goto cleanup;
  }
  if (expect_sha && strcmp(hex, expect_sha) != 0) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "the bytes hash to %s, not %s", hex, expect_sha);
    goto cleanup;
  }
  if (fsync(w->fd) != 0) {
    rc = shoal_fail(diag, errno == ENOSPC ? SHOAL_EFULL : SHOAL_EIO, "cannot fsync %s: %s", w->tmp,
                    strerror(errno));
    goto cleanup;
  }
  if (!(final = shoal_media_path(w->dir, hex))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (rename(w->tmp, final) != 0) {
    rc = shoal_fail(diag, SHOAL_EIO, "cannot rename %s to %s: %s", w->tmp, final, strerror(errno));
    goto cleanup;
  }
  int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  if (sha_out)
    memcpy(sha_out, hex, sizeof hex);
  if (bytes_out)
    *bytes_out = w->written;
cleanup:
  free(final);
  shoal_media_writer_abort(w); /* the rename moved the file: unlink finds nothing */
  return rc;
}

shoal_err shoal_media_hash_file(const char *path, char *sha_out, int64_t *bytes_out,
                                shoal_diag *diag) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return shoal_fail(diag, SHOAL_EIO, "cannot open %s: %s", path, strerror(errno));
  mbedtls_sha256_context sha;
  mbedtls_sha256_init(&sha);
  mbedtls_sha256_starts_ret(&sha, 0);
  unsigned char *buf = malloc(COPY_CHUNK);
  int64_t total = 0;
  shoal_err rc = buf ? SHOAL_OK : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  while (rc == SHOAL_OK) {
    ssize_t k = read(fd, buf, COPY_CHUNK);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      rc = shoal_fail(diag, SHOAL_EIO, "cannot read %s: %s", path, strerror(errno));
    if (k <= 0)
      break;
    mbedtls_sha256_update_ret(&sha, buf, (size_t)k);
    total += k;
  }
  if (rc == SHOAL_OK) {
    unsigned char digest[SHOAL_SHA256_BYTES];
    mbedtls_sha256_finish_ret(&sha, digest);
    shoal_hex_encode(digest, sizeof digest, sha_out);
    if (bytes_out)
      *bytes_out = total;
  }
  free(buf);
  mbedtls_sha256_free(&sha);
  close(fd);
  return rc;
}
