/* agent_media.c - the device's content-addressed photo store. Bounds: one
 * photo at most min(media.max_mb, SHOAL_MEDIA_MAX_BYTES); all photos the
 * hub does not hold yet at most media.max_mb together. Files are written
 * through shoal_media_writer (streamed, hashed, synced, renamed), so a
 * photo is never held whole in memory and a crash leaves no torn file. */
#include "agent_media.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/media.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

#define COPY_CHUNK (64 * 1024)
#define MB         (1024LL * 1024)

struct agent_media_add {
  struct shoal_media_writer *w;
  char *dir;
  int64_t single_max; /* one photo */
  int64_t room;       /* what the store has left */
};

char *agent_media_dir(const struct agent_ctx *ctx) {
  size_t n = strlen(ctx->cfg.db) + 8;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s.media", ctx->cfg.db);
  return p;
}

shoal_err agent_media_pending(struct agent_ctx *ctx, int64_t *count, int64_t *bytes,
                              shoal_diag *diag) {
  shoal_err rc = shoal_db_query_int(ctx->db, "SELECT COUNT(*) FROM media WHERE uploaded_ms IS NULL",
                                    0, count, diag);
  if (rc == SHOAL_OK)
    rc = shoal_db_query_int(ctx->db,
                            "SELECT COALESCE(SUM(bytes), 0) FROM media WHERE uploaded_ms IS NULL",
                            0, bytes, diag);
  return rc;
}

/* The refusal for n bytes: over the per-photo limit, or no room left. */
static shoal_err too_big(const struct agent_media_add *a, const struct agent_ctx *ctx, int64_t n,
                         shoal_diag *diag) {
  if (n > a->single_max)
    return shoal_fail(diag, SHOAL_ELIMIT,
                      "photo of %lld bytes is over the limit of %lld bytes (profile %s "
                      "media.max_mb %d)",
                      (long long)n, (long long)a->single_max, ctx->profile.name,
                      ctx->profile.media_max_mb);
  return shoal_fail(diag, SHOAL_EFULL,
                    "the media store is full: %lld bytes free of media.max_mb %d MB until the "
                    "hub receives the photos waiting (sales are not affected)",
                    (long long)a->room, ctx->profile.media_max_mb);
}

#define ORPHAN_MS (3600LL * 1000) /* a photo no recorded submission names, kept this long */

/* Drops photos attached to submissions that were never recorded (invalid
 * data, a crash between copy and record), so they do not hold the quota. */
static shoal_err drop_orphans(struct agent_ctx *ctx, const char *dir, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "DELETE FROM media WHERE seq IS NULL AND uploaded_ms IS NULL "
                                  "AND added_ms < ? RETURNING sha256",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, shoal_now_ms() - ORPHAN_MS);
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    char *path = shoal_media_path(dir, (const char *)sqlite3_column_text(st, 0));
    if (path)
      unlink(path);
    free(path);
  }
  sqlite3_finalize(st);
  return s == SQLITE_DONE ? SHOAL_OK : shoal_db_fail(ctx->db, s, "drop orphan photos", diag);
}

shoal_err agent_media_add_begin(struct agent_ctx *ctx, int64_t size_hint,
                                struct agent_media_add **out, shoal_diag *diag) {
  shoal_err rc = shoal_profile_require(&ctx->profile, SHOAL_MOD_FORMS, diag);
  if (rc != SHOAL_OK)
    return rc;
  char *dir = agent_media_dir(ctx);
  rc = dir ? drop_orphans(ctx, dir, diag) : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  free(dir);
  if (rc != SHOAL_OK)
    return rc;
  int64_t count = 0, used = 0, quota = (int64_t)ctx->profile.media_max_mb * MB;
  if ((rc = agent_media_pending(ctx, &count, &used, diag)) != SHOAL_OK)
    return rc;
  struct agent_media_add *a = calloc(1, sizeof *a);
  if (!a || !(a->dir = agent_media_dir(ctx))) {
    free(a);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  a->single_max = quota < SHOAL_MEDIA_MAX_BYTES ? quota : SHOAL_MEDIA_MAX_BYTES;
  a->room = quota > used ? quota - used : 0;
  int64_t max = a->single_max < a->room ? a->single_max : a->room;
  if (size_hint >= 0 && size_hint > max)
    rc = too_big(a, ctx, size_hint, diag);
  else if (size_hint == 0)
    rc = shoal_fail(diag, SHOAL_EINPUT, "the photo is empty");
  if (rc == SHOAL_OK && (rc = shoal_media_dir_init(a->dir, diag)) == SHOAL_OK)
    rc = shoal_media_writer_open(a->dir, max, size_hint, &a->w, diag);
  if (rc != SHOAL_OK) {
    agent_media_add_abort(a);
    return rc;
  }
  *out = a;
  return SHOAL_OK;
}

shoal_err agent_media_add_write(struct agent_media_add *a, const void *data, size_t n,
                                shoal_diag *diag) {
  shoal_err rc = shoal_media_writer_write(a->w, data, n, diag);
  if (rc == SHOAL_ELIMIT) {
    /* Name the real reason: this photo is too big, or the store is full. */
    int64_t n_total = shoal_media_writer_bytes(a->w) + (int64_t)n;
    if (n_total > a->single_max)
      return shoal_fail(diag, SHOAL_ELIMIT, "photo is over the limit of %lld bytes",
                        (long long)a->single_max);
    return shoal_fail(diag, SHOAL_EFULL,
                      "the media store is full (%lld bytes free); sales are not affected",
                      (long long)a->room);
  }
  return rc;
}

void agent_media_add_abort(struct agent_media_add *a) {
  if (!a)
    return;
  shoal_media_writer_abort(a->w);
  free(a->dir);
  free(a);
}

shoal_err agent_media_add_finish(struct agent_ctx *ctx, struct agent_media_add *a, const char *type,
                                 cJSON **photo, shoal_diag *diag) {
  char sha[SHOAL_SHA256_HEX_MAX];
  int64_t bytes = 0;
  sqlite3_stmt *st = NULL;
  cJSON *o = NULL;
  if (!type)
    type = "application/octet-stream";
  shoal_err rc = SHOAL_OK;
  if (shoal_media_writer_bytes(a->w) == 0) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "the photo is empty");
    goto cleanup;
  }
  rc = shoal_media_writer_commit(a->w, NULL, sha, &bytes, diag);
  a->w = NULL;
  if (rc != SHOAL_OK)
    goto cleanup;
  /* The same photo again: one file, one row. One the hub already holds is
   * not kept twice on the device. */
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT OR IGNORE INTO media (sha256, bytes, type, added_ms) "
                             "VALUES (?, ?, ?, ?)",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, bytes);
  sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, shoal_now_ms());
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (s != SQLITE_DONE) {
    rc = shoal_db_fail(ctx->db, s, "record photo", diag);
    goto cleanup;
  }
  if (sqlite3_changes(ctx->db) == 0) {
    int64_t uploaded = 0;
    if ((rc =
             shoal_db_prepare(ctx->db, "SELECT uploaded_ms IS NOT NULL FROM media WHERE sha256 = ?",
                              &st, diag)) != SHOAL_OK)
      goto cleanup;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
      uploaded = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (uploaded) {
      char *path = shoal_media_path(a->dir, sha);
      if (path)
        unlink(path);
      free(path);
    }
  }
  o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "sha256", sha) ||
      !cJSON_AddNumberToObject(o, "bytes", (double)bytes) ||
      !cJSON_AddStringToObject(o, "type", type)) {
    cJSON_Delete(o);
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *photo = o;
cleanup:
  agent_media_add_abort(a);
  return rc;
}

static const char *type_of(const char *path) {
  static const char *const map[][2] = {{".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
                                       {".png", "image/png"},   {".webp", "image/webp"},
                                       {".heic", "image/heic"}, {".gif", "image/gif"}};
  size_t n = strlen(path);
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    size_t e = strlen(map[i][0]);
    if (n > e && strcasecmp(path + n - e, map[i][0]) == 0)
      return map[i][1];
  }
  return "application/octet-stream";
}

shoal_err agent_media_add_file(struct agent_ctx *ctx, const char *path, cJSON **photo,
                               shoal_diag *diag) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return shoal_fail(diag, errno == ENOENT ? SHOAL_EINPUT : SHOAL_EIO, "cannot open %s: %s", path,
                      strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return shoal_fail(diag, SHOAL_EINPUT, "%s is not a regular file", path);
  }
  struct agent_media_add *a = NULL;
  unsigned char *buf = malloc(COPY_CHUNK);
  shoal_err rc = buf ? agent_media_add_begin(ctx, (int64_t)sb.st_size, &a, diag)
                     : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  while (rc == SHOAL_OK) {
    ssize_t k = read(fd, buf, COPY_CHUNK);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      rc = shoal_fail(diag, SHOAL_EIO, "cannot read %s: %s", path, strerror(errno));
    if (k <= 0)
      break;
    rc = agent_media_add_write(a, buf, (size_t)k, diag);
  }
  free(buf);
  close(fd);
  if (rc != SHOAL_OK) {
    agent_media_add_abort(a);
    shoal_diag_prefix(diag, "%s", path);
    return rc;
  }
  rc = agent_media_add_finish(ctx, a, type_of(path), photo, diag);
  if (rc != SHOAL_OK)
    shoal_diag_prefix(diag, "%s", path);
  return rc;
}

shoal_err agent_media_photo_field(const shoal_form *f, const char *field, shoal_diag *diag) {
  const cJSON *fields = cJSON_GetObjectItemCaseSensitive(shoal_form_def(f), "fields"), *fd;
  cJSON_ArrayForEach(fd, fields) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(fd, "id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(fd, "type");
    if (cJSON_IsString(id) && strcmp(id->valuestring, field) == 0 && cJSON_IsString(type) &&
        strcmp(type->valuestring, "photo") == 0)
      return SHOAL_OK;
  }
  return shoal_fail(diag, SHOAL_EINPUT, "form %s has no photo field %.64s", shoal_form_id(f),
                    field);
}

shoal_err agent_media_add_buffer(struct agent_ctx *ctx, const void *data, size_t len,
                                 const char *type, cJSON **photo, shoal_diag *diag) {
  struct agent_media_add *a = NULL;
  shoal_err rc = agent_media_add_begin(ctx, (int64_t)len, &a, diag);
  if (rc == SHOAL_OK && (rc = agent_media_add_write(a, data, len, diag)) != SHOAL_OK)
    agent_media_add_abort(a);
  if (rc == SHOAL_OK)
    rc = agent_media_add_finish(ctx, a, type && *type ? type : NULL, photo, diag);
  return rc;
}

/* The device a shoal_form_each_photo callback works on, and its extra. */
struct photo_walk {
  struct agent_ctx *ctx;
  int64_t seq;
};

static shoal_err check_one(const char *field, const cJSON *v, void *user, shoal_diag *diag) {
  struct agent_ctx *ctx = ((struct photo_walk *)user)->ctx;
  const char *sha = cJSON_GetObjectItemCaseSensitive(v, "sha256")->valuestring;
  int64_t bytes = (int64_t)cJSON_GetObjectItemCaseSensitive(v, "bytes")->valuedouble;
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db, "SELECT bytes FROM media WHERE sha256 = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_DONE)
    rc = shoal_fail(diag, SHOAL_EINPUT,
                    "field %s: photo %.12s... is not in this device's media store (attach the "
                    "file with --attach %s=PATH)",
                    field, sha, field);
  else if (s == SQLITE_ROW && sqlite3_column_int64(st, 0) != bytes)
    rc = shoal_fail(diag, SHOAL_EINPUT, "field %s: photo %.12s... is %lld bytes, not %lld", field,
                    sha, (long long)sqlite3_column_int64(st, 0), (long long)bytes);
  else if (s != SQLITE_ROW)
    rc = shoal_db_fail(ctx->db, s, "read media", diag);
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_media_check(struct agent_ctx *ctx, const shoal_form *f, const cJSON *data,
                            shoal_diag *diag) {
  struct photo_walk w = {ctx, 0};
  return shoal_form_each_photo(f, data, check_one, &w, diag);
}

static shoal_err link_one(const char *field, const cJSON *v, void *user, shoal_diag *diag) {
  (void)field;
  struct agent_ctx *ctx = ((struct photo_walk *)user)->ctx;
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      ctx->db, "UPDATE media SET seq = ? WHERE sha256 = ? AND (seq IS NULL OR seq > ?)", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  int64_t seq = ((struct photo_walk *)user)->seq;
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_text(st, 2, cJSON_GetObjectItemCaseSensitive(v, "sha256")->valuestring, -1,
                    SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, seq);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  return s == SQLITE_DONE ? SHOAL_OK : shoal_db_fail(ctx->db, s, "link photo", diag);
}

shoal_err agent_media_link_in_tx(struct agent_ctx *ctx, const shoal_form *f, const cJSON *data,
                                 int64_t seq, shoal_diag *diag) {
  struct photo_walk w = {ctx, seq};
  return shoal_form_each_photo(f, data, link_one, &w, diag);
}
