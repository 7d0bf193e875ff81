/* hub_audit.c - the audit log table (migration 0007) and GET /api/v1/audit. */
#include "hub_audit.h"

#include <stdlib.h>

#include "hub_http_int.h"
#include "shoal/jsonx.h"
#include "store.h"

shoal_err hub_audit_record(hub_store *db, int64_t at_ms, const char *user, const char *action,
                           const char *target, const char *result, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      db, "INSERT INTO audit (at_ms, \"user\", action, target, result) VALUES (?, ?, ?, ?, ?)", &st,
      diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, at_ms);
  hub_store_bind_text(st, 2, user, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 3, action, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 4, target, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 5, result, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "write the audit log", diag);
  hub_store_finalize(st);
  return rc;
}

shoal_err hub_audit_list(hub_store *db, int64_t limit, int64_t before_id, cJSON **out,
                         shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(db,
                                   "SELECT id, at_ms, \"user\", action, target, result FROM audit "
                                   "WHERE (?1 <= 0 OR id < ?1) ORDER BY id DESC LIMIT ?2",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, before_id);
  hub_store_bind_int64(st, 2, limit);
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr != NULL;
  int s = HUB_STORE_DONE;
  while (ok && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *row = cJSON_CreateObject();
    ok = shoal_json_push(arr, row) &&
         cJSON_AddNumberToObject(row, "id", (double)hub_store_column_int64(st, 0)) &&
         hub_store_json_add_time(row, "at", st, 1) && hub_store_json_add_text(row, "user", st, 2) &&
         hub_store_json_add_text(row, "action", st, 3) &&
         hub_store_json_add_text(row, "target", st, 4) &&
         hub_store_json_add_text(row, "result", st, 5);
  }
  hub_store_finalize(st);
  if (!ok || s != HUB_STORE_DONE) {
    cJSON_Delete(arr);
    return ok ? hub_store_fail(db, s, "read the audit log", diag)
              : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = arr;
  return SHOAL_OK;
}

/* GET /api/v1/audit[?limit=N][&before=ID] */
shoal_err hub_h_audit(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  const char *l = hub_call_arg(call, "limit"), *b = hub_call_arg(call, "before");
  int64_t limit = 200, before = 0;
  if (l) {
    char *end = NULL;
    limit = strtoll(l, &end, 10);
    if (!*l || *end || limit < 1 || limit > HUB_AUDIT_LIST_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "limit must be 1 to %d", HUB_AUDIT_LIST_MAX);
  }
  if (b) {
    char *end = NULL;
    before = strtoll(b, &end, 10);
    if (!*b || *end || before < 1)
      return shoal_fail(diag, SHOAL_EINPUT, "before must be an audit id");
  }
  return hub_audit_list(call->db, limit, before, out, diag);
}
