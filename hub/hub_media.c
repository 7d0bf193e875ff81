/* hub_media.c - the hub's photo store (SPEC 15). The media table is the
 * gate: a PUT must match a row an ingested submission wrote, and sets its
 * stored_ms once the verified file is in place. The body is never held in
 * memory: it streams through shoal_media_writer to a temporary file. */
#include "hub_media.h"

#include <stdlib.h>
#include <string.h>

#include "shoal/crypto.h"
#include "shoal/media.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

struct hub_media_put {
  char sha[SHOAL_SHA256_HEX_MAX];
  struct shoal_media_writer *w;
};

struct name_walk {
  hub_store *db;
  hub_stmt *st;
  const char *submission, *store;
};

static shoal_err name_one(const char *field, const cJSON *v, void *user, shoal_diag *diag) {
  (void)field;
  struct name_walk *w = user;
  shoal_err rc;
  if (!w->st && (rc = hub_store_prepare(w->db,
                                        "INSERT OR IGNORE INTO media (sha256, bytes, type, "
                                        "submission, store, named_ms) VALUES (?, ?, ?, ?, ?, ?)",
                                        &w->st, diag)) != SHOAL_OK)
    return rc;
  hub_store_reset(w->st);
  hub_store_bind_text(w->st, 1, cJSON_GetObjectItemCaseSensitive(v, "sha256")->valuestring, -1,
                      HUB_STORE_STATIC);
  hub_store_bind_int64(w->st, 2,
                       (int64_t)cJSON_GetObjectItemCaseSensitive(v, "bytes")->valuedouble);
  hub_store_bind_text(w->st, 3, cJSON_GetObjectItemCaseSensitive(v, "type")->valuestring, -1,
                      HUB_STORE_STATIC);
  hub_store_bind_text(w->st, 4, w->submission, -1, HUB_STORE_STATIC);
  hub_store_bind_text(w->st, 5, w->store, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(w->st, 6, shoal_now_ms());
  int s = hub_store_step(w->st);
  return s == HUB_STORE_DONE ? SHOAL_OK : hub_store_fail(w->db, s, "record a named photo", diag);
}

shoal_err hub_media_name(hub_store *db, const shoal_form *f, const cJSON *data,
                         const char *submission, const char *store, shoal_diag *diag) {
  struct name_walk w = {db, NULL, submission, store};
  shoal_err rc = shoal_form_each_photo(f, data, name_one, &w, diag);
  hub_store_finalize(w.st);
  return rc;
}

shoal_err hub_media_put_begin(hub_store *db, const char *dir, const char *sha,
                              int64_t content_length, struct hub_media_put **out,
                              shoal_diag *diag) {
  if (!shoal_sha256_hex_valid(sha))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%.80s\" is not a SHA-256 (64 lower-case hex digits)",
                      sha);
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(db, "SELECT bytes, stored_ms FROM media WHERE sha256 = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, sha, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  int64_t bytes = 0;
  bool stored = false;
  if (s == HUB_STORE_ROW) {
    bytes = hub_store_column_int64(st, 0);
    stored = hub_store_column_type(st, 1) != HUB_STORE_NULL;
  }
  hub_store_finalize(st);
  if (s == HUB_STORE_DONE)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no submission the hub holds names photo %s", sha);
  if (s != HUB_STORE_ROW)
    return hub_store_fail(db, s, "read media", diag);
  if (stored)
    return shoal_fail(diag, SHOAL_ESTATE, "photo %s is already held", sha);
  if (content_length < 0)
    return shoal_fail(diag, SHOAL_EINPUT, "a photo upload needs Content-Length (%lld bytes)",
                      (long long)bytes);
  if (content_length != bytes)
    return shoal_fail(diag, SHOAL_EINPUT, "photo %s is %lld bytes, not %lld", sha, (long long)bytes,
                      (long long)content_length);
  struct hub_media_put *p = calloc(1, sizeof *p);
  if (!p)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  memcpy(p->sha, sha, sizeof p->sha);
  if ((rc = shoal_media_dir_init(dir, diag)) != SHOAL_OK ||
      (rc = shoal_media_writer_open(dir, bytes, bytes, &p->w, diag)) != SHOAL_OK) {
    free(p);
    return rc;
  }
  *out = p;
  return SHOAL_OK;
}

shoal_err hub_media_put_write(struct hub_media_put *p, const void *data, size_t n,
                              shoal_diag *diag) {
  return shoal_media_writer_write(p->w, data, n, diag);
}

void hub_media_put_abort(struct hub_media_put *p) {
  if (!p)
    return;
  shoal_media_writer_abort(p->w);
  free(p);
}

shoal_err hub_media_put_finish(hub_store *db, struct hub_media_put *p, shoal_diag *diag) {
  char sha[SHOAL_SHA256_HEX_MAX];
  shoal_err rc = shoal_media_writer_commit(p->w, p->sha, sha, NULL, diag);
  p->w = NULL;
  if (rc == SHOAL_OK) {
    hub_stmt *st = NULL;
    if ((rc = hub_store_prepare(db, "UPDATE media SET stored_ms = ? WHERE sha256 = ?", &st,
                                diag)) == SHOAL_OK) {
      hub_store_bind_int64(st, 1, shoal_now_ms());
      hub_store_bind_text(st, 2, sha, -1, HUB_STORE_STATIC);
      int s = hub_store_step(st);
      if (s != HUB_STORE_DONE)
        rc = hub_store_fail(db, s, "record a stored photo", diag);
      hub_store_finalize(st);
    }
  } else {
    shoal_diag_prefix(diag, "photo %s refused", p->sha);
  }
  free(p);
  return rc;
}

shoal_err hub_media_get(hub_store *db, const char *dir, const char *sha, char **path,
                        int64_t *bytes, char *type_out, shoal_diag *diag) {
  if (!shoal_sha256_hex_valid(sha))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%.80s\" is not a SHA-256", sha);
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db, "SELECT bytes, type FROM media WHERE sha256 = ? AND stored_ms IS NOT NULL", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, sha, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW) {
    *bytes = hub_store_column_int64(st, 0);
    shoal_strlcpy(type_out, (const char *)hub_store_column_text(st, 1), SHOAL_MEDIA_TYPE_MAX + 1);
    if (!(*path = shoal_media_path(dir, sha)))
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  } else if (s == HUB_STORE_DONE) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "the hub holds no photo %s", sha);
  } else {
    rc = hub_store_fail(db, s, "read media", diag);
  }
  hub_store_finalize(st);
  return rc;
}
