/* agent_multipart.h - a bounded multipart/form-data parser (RFC 7578) for
 * the store API's form submissions with photos (SPEC 15). Parts point into
 * the caller's body buffer: nothing is copied. */
#ifndef AGENT_MULTIPART_H
#define AGENT_MULTIPART_H

#include <stddef.h>

#include "shoal/err.h"
#include "shoal/shoal_limits.h"

#define AGENT_MULTIPART_PARTS_MAX (SHOAL_MEDIA_ATTACH_MAX + 1) /* "data" + the photos */

struct agent_multipart_part {
  char name[SHOAL_ID_MAX + 1];         /* form-data name */
  char type[SHOAL_MEDIA_TYPE_MAX + 1]; /* Content-Type, "" if none */
  int has_filename;
  const char *data; /* borrowed from the body */
  size_t len;
};

/* Splits body (len bytes) by the boundary of content_type ("multipart/
 * form-data; boundary=..."). SHOAL_EINPUT naming the problem for anything
 * malformed, a part without a name, a name that is not an identifier, a
 * name given twice or more than AGENT_MULTIPART_PARTS_MAX parts. */
shoal_err agent_multipart_parse(const char *content_type, const char *body, size_t len,
                                struct agent_multipart_part *parts, size_t *nparts,
                                shoal_diag *diag);

#endif
