/* sbuf.c - the bounded growing text buffer (see sbuf.h). */
#include "shoal/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void shoal_sbuf_printf(struct shoal_sbuf *b, const char *fmt, ...) {
  if (b->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = true;
      return;
    }
    if (b->p && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t need = b->len + (size_t)n + 1, cap = b->cap ? b->cap : 4096;
    while (cap < need)
      cap *= 2;
    char *np = cap > b->max ? NULL : realloc(b->p, cap);
    if (!np) {
      b->failed = true;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
}
