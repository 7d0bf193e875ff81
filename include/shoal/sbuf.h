/* sbuf.h - a growing text buffer filled printf-style, bounded by a caller's
 * maximum, for generated files and pages (broker ACL, /metrics). Once an
 * append fails the buffer is marked failed and later appends do nothing, so
 * callers check once at the end (and then use none of the text). */
#ifndef SHOAL_SBUF_H
#define SHOAL_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct shoal_sbuf {
  char *p;     /* NUL-terminated text (NULL until the first append); caller frees */
  size_t len;  /* bytes in p, without the NUL */
  size_t cap;  /* bytes allocated */
  size_t max;  /* the allocation never grows past this many bytes */
  bool failed; /* an append did not fit under max, ran out of memory or failed to format */
};

/* Appends printf output to b. Start from `struct shoal_sbuf b = {.max = N}`. */
void shoal_sbuf_printf(struct shoal_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
