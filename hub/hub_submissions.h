/* hub_submissions.h - form submissions for HQ (the dashboard's "form
 * submissions" page): the stored, re-validated submissions (SPEC 6) by
 * form, store and period, newest first. Read-only. */
#ifndef HUB_SUBMISSIONS_H
#define HUB_SUBMISSIONS_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/err.h"

/* At most this many rows in one answer (the newest). */
#define HUB_SUBMISSIONS_LIST_MAX 10000

/**
 * Submissions whose time is in [from_ms, to_ms), of form `form` and store
 * `store` when not NULL, newest first, at most HUB_SUBMISSIONS_LIST_MAX:
 * [{"id", "form", "version", "store", "region", "device", "at", "data",
 * "tickets"}] (data: the cleaned data as the hub re-validated it; a photo
 * field is {"sha256", "bytes", "type"}, served by GET /api/v1/media/{sha256}).
 * *out is a new array the caller deletes.
 */
shoal_err hub_submissions_list(hub_store *db, const char *form, const char *store, int64_t from_ms,
                               int64_t to_ms, cJSON **out, shoal_diag *diag);

#endif
