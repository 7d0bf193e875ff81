/* util.h - small helpers every module needs: bounded file reads, atomic file
 * writes (tmp + fsync + rename), identifier checks, random values, paths. */
#ifndef SHOAL_UTIL_H
#define SHOAL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/err.h"

/* Reads a whole file ("-" = stdin) of at most max_bytes into a NUL-terminated
 * heap buffer. On success *out (caller frees) and *out_len are set. */
shoal_err shoal_file_read(const char *path, size_t max_bytes, char **out, size_t *out_len,
                          shoal_diag *diag);

/* Writes data to path atomically: a temporary file beside it, fsync, rename,
 * fsync of the directory. mode is the new file's permission bits. */
shoal_err shoal_file_write_atomic(const char *path, const void *data, size_t len, int mode,
                                  shoal_diag *diag);

/* True if s matches ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ (SPEC section 3). */
bool shoal_id_valid(const char *s);

/* Fills buf with len bytes from the kernel's random source. */
shoal_err shoal_random_bytes(void *buf, size_t len);

/* Joins base_dir and rel unless rel is absolute; result is heap (caller frees). */
char *shoal_path_resolve(const char *base_dir, const char *rel);

/* The folder part of path ("." if none); heap, caller frees. */
char *shoal_path_dirname(const char *path);

/* strdup that returns NULL for NULL. */
char *shoal_strdup(const char *s);

/* Copies src into dst of size dstsz; false (dst untouched beyond a NUL) if it does not fit. */
bool shoal_strlcpy(char *dst, const char *src, size_t dstsz);

/* Milliseconds since the Unix epoch from the real-time clock; honours the
 * environment variable SHOAL_CLOCK_OFFSET_MS (tests simulate a skewed or
 * advancing clock with it). */
int64_t shoal_now_ms(void);

/* Monotonic milliseconds (for timeouts and backoff, never stored). */
int64_t shoal_mono_ms(void);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void shoal_hex_encode(const unsigned char *in, size_t len, char *out);

/* True for a SHA-256 in lower-case hex: exactly 64 of [0-9a-f] (media hashes). */
bool shoal_sha256_hex_valid(const char *hex);

#endif
