/* agent_multipart.c - multipart/form-data splitting. Only what a form
 * submission needs: each part's Content-Disposition name (and whether it
 * has a filename) and Content-Type; headers are bounded and anything
 * unexpected is refused rather than guessed. */
#include "agent_multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shoal/util.h"

#define HEADERS_MAX  4096 /* one part's header block */
#define BOUNDARY_MAX 80   /* a boundary (RFC 2046: at most 70 characters), NUL included */

/* memmem without relying on _GNU_SOURCE. */
static const char *find(const char *h, size_t hl, const char *n, size_t nl) {
  if (nl == 0 || hl < nl)
    return NULL;
  for (size_t i = 0; i + nl <= hl; i++)
    if (h[i] == n[0] && memcmp(h + i, n, nl) == 0)
      return h + i;
  return NULL;
}

/* Copies the value of `key=` (quoted or not) from a header line. */
static int param(const char *line, size_t len, const char *key, char *out, size_t outsz) {
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl < len; i++) {
    if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') &&
        strncasecmp(line + i, key, kl) == 0 && line[i + kl] == '=') {
      const char *v = line + i + kl + 1, *end = line + len;
      size_t n = 0;
      if (v < end && *v == '"') {
        v++;
        while (v + n < end && v[n] != '"')
          n++;
      } else {
        while (v + n < end && v[n] != ';' && v[n] != ' ')
          n++;
      }
      if (n >= outsz)
        return -1;
      memcpy(out, v, n);
      out[n] = '\0';
      return 1;
    }
  }
  return 0;
}

static shoal_err headers(const char *h, size_t len, struct agent_multipart_part *p,
                         shoal_diag *diag) {
  while (len > 0) {
    const char *eol = find(h, len, "\r\n", 2);
    size_t ll = eol ? (size_t)(eol - h) : len;
    if (ll > 26 && strncasecmp(h, "Content-Disposition:", 20) == 0) {
      char fn[512];
      if (param(h, ll, "name", p->name, sizeof p->name) != 1)
        return shoal_fail(diag, SHOAL_EINPUT, "multipart: a part without a usable name");
      p->has_filename = param(h, ll, "filename", fn, sizeof fn) != 0;
    } else if (ll > 13 && strncasecmp(h, "Content-Type:", 13) == 0) {
      const char *v = h + 13;
      size_t vl = ll - 13;
      while (vl && *v == ' ')
        v++, vl--;
      const char *semi = memchr(v, ';', vl);
      if (semi)
        vl = (size_t)(semi - v);
      if (vl == 0 || vl > SHOAL_MEDIA_TYPE_MAX)
        return shoal_fail(diag, SHOAL_EINPUT, "multipart: a part's Content-Type is too long");
      memcpy(p->type, v, vl);
      p->type[vl] = '\0';
    }
    if (!eol)
      break;
    len -= ll + 2;
    h = eol + 2;
  }
  if (!p->name[0] || !shoal_id_valid(p->name))
    return shoal_fail(diag, SHOAL_EINPUT, "multipart: part name \"%.64s\" is not a field id",
                      p->name);
  return SHOAL_OK;
}

shoal_err agent_multipart_parse(const char *content_type, const char *body, size_t len,
                                struct agent_multipart_part *parts, size_t *nparts,
                                shoal_diag *diag) {
  char b[BOUNDARY_MAX], delim[BOUNDARY_MAX + 4];
  *nparts = 0;
  const char *bp = content_type ? strcasestr(content_type, "boundary=") : NULL;
  if (!bp || param(bp, strlen(bp), "boundary", b, sizeof b) != 1 || !b[0])
    return shoal_fail(diag, SHOAL_EINPUT, "multipart/form-data without a boundary");
  snprintf(delim, sizeof delim, "--%s", b);
  size_t dl = strlen(delim);
  const char *p = find(body, len, delim, dl), *end = body + len;
  if (!p)
    return shoal_fail(diag, SHOAL_EINPUT, "multipart: the boundary never appears");
  for (;;) {
    p += dl;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-')
      return *nparts ? SHOAL_OK : shoal_fail(diag, SHOAL_EINPUT, "multipart: no parts");
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
      return shoal_fail(diag, SHOAL_EINPUT, "multipart: malformed boundary line");
    p += 2;
    const char *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!hend || hend - p > HEADERS_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "multipart: a part's headers do not end");
    if (*nparts == AGENT_MULTIPART_PARTS_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "multipart: more than %d parts",
                        AGENT_MULTIPART_PARTS_MAX);
    struct agent_multipart_part *part = &parts[*nparts];
    memset(part, 0, sizeof *part);
    shoal_err rc = headers(p, (size_t)(hend - p), part, diag);
    if (rc != SHOAL_OK)
      return rc;
    for (size_t i = 0; i < *nparts; i++)
      if (strcmp(parts[i].name, part->name) == 0)
        return shoal_fail(diag, SHOAL_EINPUT, "multipart: part %s given twice", part->name);
    const char *data = hend + 4;
    char crlf_delim[BOUNDARY_MAX + 8];
    snprintf(crlf_delim, sizeof crlf_delim, "\r\n%s", delim);
    const char *next = find(data, (size_t)(end - data), crlf_delim, dl + 2);
    if (!next)
      return shoal_fail(diag, SHOAL_EINPUT, "multipart: part %s is not terminated", part->name);
    part->data = data;
    part->len = (size_t)(next - data);
    (*nparts)++;
    p = next + 2;
  }
}
