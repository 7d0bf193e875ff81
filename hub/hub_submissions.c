/* hub_submissions.c - form submissions for HQ (see hub_submissions.h). Each
 * row is built as JSON by SQLite and parsed once (shoal_db_json_rows). */
#include "hub_submissions.h"

#include "db.h"

shoal_err hub_submissions_list(sqlite3 *db, const char *form, const char *store, int64_t from_ms,
                               int64_t to_ms, cJSON **out, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(
      db,
      "SELECT json_object('id', submission, 'form', form_id, 'version', version, "
      "'store', store, 'region', region, 'device', device, 'at', at, "
      "'data', json(data), 'tickets', json(tickets)) "
      "FROM form_submissions WHERE (?1 IS NULL OR form_id = ?1) AND (?2 IS NULL OR store = ?2) "
      "AND at_ms >= ?3 AND at_ms < ?4 ORDER BY at_ms DESC, submission LIMIT ?5",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (form)
    sqlite3_bind_text(st, 1, form, -1, SQLITE_TRANSIENT);
  if (store)
    sqlite3_bind_text(st, 2, store, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, from_ms);
  sqlite3_bind_int64(st, 4, to_ms);
  sqlite3_bind_int(st, 5, HUB_SUBMISSIONS_LIST_MAX);
  rc = shoal_db_json_rows(db, st, "list form submissions", out, diag);
  sqlite3_finalize(st);
  return rc;
}
