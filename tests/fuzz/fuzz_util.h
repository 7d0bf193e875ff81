/* fuzz_util.h - helpers shared by the libFuzzer targets: NUL-terminated
 * copies of the input, files from tests/fuzz, a fixed P-256 key pair. */
#ifndef SHOAL_FUZZ_UTIL_H
#define SHOAL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal/crypto.h"
#include "shoal/util.h"

/* A heap NUL-terminated copy of the input (libFuzzer's buffer is not). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s)
    abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* Reads tests/fuzz/<name>; aborts if missing (a broken harness, not a finding). */
static inline char *fuzz_read(const char *name, size_t *len) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", SHOAL_FUZZ_DIR, name);
  char *text = NULL;
  size_t n = 0;
  shoal_diag d;
  if (shoal_file_read(path, 16 * 1024 * 1024, &text, &n, &d) != SHOAL_OK) {
    fprintf(stderr, "fuzz: cannot read %s: %s\n", path, d.msg);
    abort();
  }
  if (len)
    *len = n;
  return text;
}

/* A fresh key pair per process: signatures never verify by chance, so the
 * targets exercise every parsing step before the signature check. */
static inline void fuzz_keys(struct shoal_privkey **priv, struct shoal_pubkey **pub) {
  char *ps = NULL, *pubs = NULL;
  shoal_diag d;
  if (shoal_key_generate(&ps, &pubs, &d) != SHOAL_OK)
    abort();
  char path[64];
  snprintf(path, sizeof path, "/tmp/shoal-fuzz-key-%ld.pem", (long)getpid());
  if (shoal_file_write_atomic(path, ps, strlen(ps), 0600, &d) != SHOAL_OK ||
      (priv && shoal_privkey_load(path, priv, &d) != SHOAL_OK) ||
      shoal_pubkey_parse(pubs, strlen(pubs), pub, &d) != SHOAL_OK)
    abort();
  unlink(path);
  shoal_secure_free(ps);
  free(pubs);
}

#endif
