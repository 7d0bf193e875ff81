/* hub_submissions.c - form submissions for HQ (see hub_submissions.h). Each
 * row is built as JSON by SQLite and parsed once (hub_store_json_rows). */
#include "hub_submissions.h"

#include "store.h"

shoal_err hub_submissions_list(hub_store *db, const char *form, const char *store, int64_t from_ms,
                               int64_t to_ms, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  /* Building JSON in SQL: json_object/json() on SQLite, json_build_object
   * on PostgreSQL. */
#define LIST_SQL(obj, js)                                                                          \
  "SELECT " obj "('id', submission, 'form', form_id, 'version', version, "                         \
  "'store', store, 'region', region, 'device', device, 'at', at, "                                 \
  "'data', " js("data") ", 'tickets', " js(                                                        \
      "tickets") ") "                                                                              \
                 "FROM form_submissions WHERE (CAST(?1 AS TEXT) IS NULL OR form_id = ?1) AND "     \
                 "(CAST(?2 AS TEXT) IS NULL OR store = ?2) "                                       \
                 "AND at_ms >= ?3 AND at_ms < ?4 ORDER BY at_ms DESC, submission LIMIT ?5"
#define SQ_JSON(c) "json(" c ")"
#define PG_JSON(c) c "::json"
  static const char *const sql[2] = {LIST_SQL("json_object", SQ_JSON),
                                     LIST_SQL("json_build_object", PG_JSON)};
#undef LIST_SQL
#undef SQ_JSON
#undef PG_JSON
  shoal_err rc = hub_store_prepare(db, sql[hub_store_dialect(db) == HUB_STORE_PG], &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (form)
    hub_store_bind_text(st, 1, form, -1, HUB_STORE_TRANSIENT);
  if (store)
    hub_store_bind_text(st, 2, store, -1, HUB_STORE_TRANSIENT);
  hub_store_bind_int64(st, 3, from_ms);
  hub_store_bind_int64(st, 4, to_ms);
  hub_store_bind_int(st, 5, HUB_SUBMISSIONS_LIST_MAX);
  rc = hub_store_json_rows(db, st, "list form submissions", out, diag);
  hub_store_finalize(st);
  return rc;
}
