/* media.h - a content-addressed file store (SPEC 15 photos), shared by the
 * agent's media store and the hub's: a file lives at {dir}/{sha256 hex}
 * and only ever holds the bytes that hash to its name. Bytes are streamed
 * to a temporary file in {dir}/tmp while they are hashed, checked, synced
 * and renamed into place: no caller ever holds a whole photo in memory, and
 * a crash leaves either no file or a complete one. */
#ifndef SHOAL_MEDIA_H
#define SHOAL_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/err.h"

/* {dir}/{sha} as a new string (caller frees); NULL on OOM. */
char *shoal_media_path(const char *dir, const char *sha);

/* Creates dir and dir/tmp (0700) if missing. */
shoal_err shoal_media_dir_init(const char *dir, shoal_diag *diag);

struct shoal_media_writer;

/* Starts a file in dir. max_bytes bounds what may be written (SHOAL_ELIMIT
 * past it); expect_bytes >= 0 also demands exactly that many at commit.
 * *out is owned by the caller until commit or abort. */
shoal_err shoal_media_writer_open(const char *dir, int64_t max_bytes, int64_t expect_bytes,
                                  struct shoal_media_writer **out, shoal_diag *diag);

/* Appends n bytes: SHOAL_ELIMIT past max_bytes, SHOAL_EFULL when the disk
 * is full, SHOAL_EIO otherwise. */
shoal_err shoal_media_writer_write(struct shoal_media_writer *w, const void *data, size_t n,
                                   shoal_diag *diag);

/* Bytes written so far. */
int64_t shoal_media_writer_bytes(const struct shoal_media_writer *w);

/* Finishes: checks the size (expect_bytes) and, if expect_sha is not NULL,
 * that the bytes hash to it (SHOAL_EINPUT naming both otherwise); syncs and
 * renames the file to {dir}/{sha}. sha_out (65 bytes) and *bytes_out (may
 * be NULL) receive the hash and size. Frees w in every case; on failure
 * nothing is left in dir. */
shoal_err shoal_media_writer_commit(struct shoal_media_writer *w, const char *expect_sha,
                                    char *sha_out, int64_t *bytes_out, shoal_diag *diag);

/* Drops the temporary file and frees w; NULL is a no-op. */
void shoal_media_writer_abort(struct shoal_media_writer *w);

/* Hashes an existing file, streaming; *bytes_out its size. */
shoal_err shoal_media_hash_file(const char *path, char *sha_out, int64_t *bytes_out,
                                shoal_diag *diag);

#endif
