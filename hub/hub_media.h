/* hub_media.h - photos at the hub (SPEC 15). An ingested form submission
 * names each photo (hash, size, type); a device then PUTs the bytes, which
 * the hub accepts only for a named hash it does not hold yet, with exactly
 * the named size and a body that hashes to it, streamed to a temporary file
 * and verified before it takes the hash's name. HQ reads them back with
 * GET. No HTTP here: hub_http.c maps these calls and their errors. */
#ifndef HUB_MEDIA_H
#define HUB_MEDIA_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/forms.h"

/* Records the photos a valid submission names (fields of type "photo" in
 * f whose value is a v2 photo object), inside the caller's transaction. */
shoal_err hub_media_name(hub_store *db, const shoal_form *f, const cJSON *data,
                         const char *submission, const char *store, shoal_diag *diag);

struct hub_media_put;

/* Starts a PUT of sha with content_length bytes (-1: unknown). Refusals,
 * before any byte is stored: SHOAL_EINPUT a malformed hash, a missing or
 * wrong length (naming both sizes); SHOAL_ENOTFOUND a hash no ingested
 * submission names; SHOAL_ESTATE a hash already held. */
shoal_err hub_media_put_begin(hub_store *db, const char *dir, const char *sha,
                              int64_t content_length, struct hub_media_put **out, shoal_diag *diag);

/* Streams n body bytes (SHOAL_ELIMIT past the named size). */
shoal_err hub_media_put_write(struct hub_media_put *p, const void *data, size_t n,
                              shoal_diag *diag);

/* Verifies size and hash, moves the file into place and records it.
 * Frees p in every case (nothing is kept on failure). */
shoal_err hub_media_put_finish(hub_store *db, struct hub_media_put *p, shoal_diag *diag);

/* Drops a PUT (client gone, refused); NULL is a no-op. */
void hub_media_put_abort(struct hub_media_put *p);

/* A stored photo: *path (caller frees), size and MIME type (type_out holds
 * SHOAL_MEDIA_TYPE_MAX + 1 bytes). SHOAL_ENOTFOUND if not held. */
shoal_err hub_media_get(hub_store *db, const char *dir, const char *sha, char **path,
                        int64_t *bytes, char *type_out, shoal_diag *diag);

#endif
