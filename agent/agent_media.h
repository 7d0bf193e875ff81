/* agent_media.h - the device's photo store (SPEC 15): files given to
 * `form submit --attach` (or the store API's multipart upload) are copied,
 * hashed as they stream, into a content-addressed folder "{db}.media"
 * bounded by the profile's media.max_mb; the media table records each
 * file and, once a submission naming it is recorded, that submission's
 * outbox seq, which the uploader (agent_upload.h) waits for the hub to
 * acknowledge. A full media store refuses photos, never sales: sales live
 * in the database, photos in their own folder. */
#ifndef AGENT_MEDIA_H
#define AGENT_MEDIA_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent_ctx.h"
#include "shoal/forms.h"

/* "{db}.media" for this device (caller frees); NULL on OOM. */
char *agent_media_dir(const struct agent_ctx *ctx);

struct agent_media_add;

/* Starts adding one photo. size_hint (bytes, -1 unknown) is checked early
 * against the limits: SHOAL_ELIMIT for a photo over media.max_mb (or
 * SHOAL_MEDIA_MAX_BYTES), SHOAL_EFULL when the store has no room left. */
shoal_err agent_media_add_begin(struct agent_ctx *ctx, int64_t size_hint,
                                struct agent_media_add **out, shoal_diag *diag);
/* Streams bytes; the same limits apply to what actually arrives. */
shoal_err agent_media_add_write(struct agent_media_add *a, const void *data, size_t n,
                                shoal_diag *diag);
/* Verifies, moves into place and records the file (own statement); *photo
 * is the field value {"sha256", "bytes", "type"} (new tree). type: MIME
 * type, NULL for application/octet-stream. Frees a in every case. */
shoal_err agent_media_add_finish(struct agent_ctx *ctx, struct agent_media_add *a, const char *type,
                                 cJSON **photo, shoal_diag *diag);
void agent_media_add_abort(struct agent_media_add *a);

/* A whole file: begin + write in chunks + finish; the type comes from the
 * file name's extension (jpg, jpeg, png, webp, heic, gif). */
shoal_err agent_media_add_file(struct agent_ctx *ctx, const char *path, cJSON **photo,
                               shoal_diag *diag);

/* SHOAL_OK if field is one of f's photo fields, else SHOAL_EINPUT naming it. */
shoal_err agent_media_photo_field(const shoal_form *f, const char *field, shoal_diag *diag);

/* Bytes already in memory (a store API multipart part): as add_file. */
shoal_err agent_media_add_buffer(struct agent_ctx *ctx, const void *data, size_t len,
                                 const char *type, cJSON **photo, shoal_diag *diag);

/* Every photo value in a submission's cleaned data must name a file this
 * device holds, with that size: SHOAL_EINPUT naming the field otherwise. */
shoal_err agent_media_check(struct agent_ctx *ctx, const shoal_form *f, const cJSON *data,
                            shoal_diag *diag);

/* Inside the submission's transaction: its photos wait for outbox seq. */
shoal_err agent_media_link_in_tx(struct agent_ctx *ctx, const shoal_form *f, const cJSON *data,
                                 int64_t seq, shoal_diag *diag);

/* Photos not yet held by the hub: count and bytes. */
shoal_err agent_media_pending(struct agent_ctx *ctx, int64_t *count, int64_t *bytes,
                              shoal_diag *diag);

#endif
