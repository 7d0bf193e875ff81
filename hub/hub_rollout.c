/* hub_rollout.c - staged rollouts (see hub_rollout.h, docs/protocol.md):
 * the rollouts table (migration 0007), one signed version per stage, the
 * gate duty, progress counts from devices' reported versions, and the
 * HTTP handlers of /api/v1/rollouts. Every state change and the version it
 * publishes commit in one transaction. */
#include "hub_rollout.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_http_int.h"
#include "hub_publish.h"
#include "shoal/jsonx.h"
#include "shoal/policy.h"
#include "shoal/signing.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "store.h"

struct rollout {
  char id[SHOAL_ID_MAX + 1];
  char scope[SHOAL_SCOPE_MAX];
  char *doc;
  int64_t stable_version;
  cJSON *stages; /* array */
  bool has_gate;
  double min_applied;
  int64_t wait_s;
  int64_t stage; /* 1-based */
  char state[16];
  cJSON *stage_versions; /* array of versions */
  int64_t stage_since_ms, created_ms, updated_ms;
  int64_t final_version; /* 0: none */
  char created_by[SHOAL_ID_MAX + 1];
};

static void rollout_free(struct rollout *r) {
  free(r->doc);
  cJSON_Delete(r->stages);
  cJSON_Delete(r->stage_versions);
  memset(r, 0, sizeof *r);
}

#define ROLLOUT_COLS                                                                               \
  "id, scope, doc, stable_version, stages, min_applied, wait_s, stage, state, stage_versions, "    \
  "stage_since_ms, final_version, created_ms, created_by, updated_ms"

static shoal_err rollout_load(hub_store *db, const char *id, struct rollout *r, shoal_diag *diag) {
  hub_stmt *st = NULL;
  memset(r, 0, sizeof *r);
  shoal_err rc =
      hub_store_prepare(db, "SELECT " ROLLOUT_COLS " FROM rollouts WHERE id = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_DONE) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "no rollout %s", id);
  } else if (s != HUB_STORE_ROW) {
    rc = hub_store_fail(db, s, "read rollout", diag);
  } else {
    shoal_strlcpy(r->id, (const char *)hub_store_column_text(st, 0), sizeof r->id);
    shoal_strlcpy(r->scope, (const char *)hub_store_column_text(st, 1), sizeof r->scope);
    r->doc = strdup((const char *)hub_store_column_text(st, 2));
    r->stable_version = hub_store_column_int64(st, 3);
    shoal_diag ignored;
    /* An unreadable column reads as an empty list; out of memory (NULL
     * here) fails below. */
    if (shoal_json_parse((const char *)hub_store_column_text(st, 4),
                         (size_t)hub_store_column_bytes(st, 4), &r->stages,
                         &ignored) == SHOAL_ENOMEM)
      r->stages = NULL;
    else if (!r->stages)
      r->stages = cJSON_CreateArray();
    r->has_gate = hub_store_column_type(st, 5) != HUB_STORE_NULL;
    r->min_applied = hub_store_column_double(st, 5);
    r->wait_s = hub_store_column_int64(st, 6);
    r->stage = hub_store_column_int64(st, 7);
    shoal_strlcpy(r->state, (const char *)hub_store_column_text(st, 8), sizeof r->state);
    if (shoal_json_parse((const char *)hub_store_column_text(st, 9),
                         (size_t)hub_store_column_bytes(st, 9), &r->stage_versions,
                         &ignored) == SHOAL_ENOMEM)
      r->stage_versions = NULL;
    else if (!r->stage_versions)
      r->stage_versions = cJSON_CreateArray();
    r->stage_since_ms = hub_store_column_int64(st, 10);
    r->final_version = hub_store_column_int64(st, 11);
    r->created_ms = hub_store_column_int64(st, 12);
    if (hub_store_column_type(st, 13) != HUB_STORE_NULL)
      shoal_strlcpy(r->created_by, (const char *)hub_store_column_text(st, 13),
                    sizeof r->created_by);
    r->updated_ms = hub_store_column_int64(st, 14);
    if (!r->doc || !r->stages || !r->stage_versions)
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  hub_store_finalize(st);
  if (rc != SHOAL_OK)
    rollout_free(r);
  return rc;
}

static shoal_err rollout_save(hub_store *db, const struct rollout *r, bool insert,
                              shoal_diag *diag) {
  hub_stmt *st = NULL;
  char *stages = shoal_json_print(r->stages), *versions = shoal_json_print(r->stage_versions);
  shoal_err rc = SHOAL_OK;
  if (!stages || !versions) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = hub_store_prepare(
           db,
           insert ? "INSERT INTO rollouts (" ROLLOUT_COLS ") VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                  : "UPDATE rollouts SET stage = ?8, state = ?9, stage_versions = ?10, "
                    "stage_since_ms = ?11, final_version = ?12, updated_ms = ?15 WHERE id = ?1",
           &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, r->id, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, r->scope, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 3, r->doc, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 4, r->stable_version);
  hub_store_bind_text(st, 5, stages, -1, HUB_STORE_STATIC);
  if (r->has_gate) {
    hub_store_bind_double(st, 6, r->min_applied);
    hub_store_bind_int64(st, 7, r->wait_s);
  }
  hub_store_bind_int64(st, 8, r->stage);
  hub_store_bind_text(st, 9, r->state, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 10, versions, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 11, r->stage_since_ms);
  if (r->final_version)
    hub_store_bind_int64(st, 12, r->final_version);
  hub_store_bind_int64(st, 13, r->created_ms);
  if (r->created_by[0])
    hub_store_bind_text(st, 14, r->created_by, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 15, r->updated_ms);
  int s = hub_store_step(st);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "record rollout", diag);
cleanup:
  hub_store_finalize(st);
  free(stages);
  free(versions);
  return rc;
}

shoal_err hub_rollout_active(hub_store *db, const char *scope, char *id_out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  id_out[0] = '\0';
  shoal_err rc = hub_store_prepare(
      db, "SELECT id FROM rollouts WHERE scope = ? AND state IN ('running', 'paused') LIMIT 1", &st,
      diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW)
    shoal_strlcpy(id_out, (const char *)hub_store_column_text(st, 0), SHOAL_ID_MAX + 1);
  else if (s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "read rollouts", diag);
  hub_store_finalize(st);
  return rc;
}

/* The cumulative targeting of stage k (1-based) into t (stores borrowed
 * from stages: t->stores is a heap array of borrowed pointers). */
static shoal_err stage_targeting(const cJSON *stages, int64_t k, struct shoal_policy_rollout *t,
                                 shoal_diag *diag) {
  size_t n = 0;
  const cJSON *st;
  int64_t i = 0;
  cJSON_ArrayForEach(st, stages) {
    if (++i > k)
      break;
    n += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "stores"));
  }
  if (n > SHOAL_ROLLOUT_STORES_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "more than %d stores listed in a rollout",
                      SHOAL_ROLLOUT_STORES_MAX);
  t->stores = n ? calloc(n, sizeof *t->stores) : NULL;
  if (n && !t->stores)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  t->nstores = 0;
  t->percent = 0;
  i = 0;
  cJSON_ArrayForEach(st, stages) {
    if (++i > k)
      break;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, "percent");
    if (cJSON_IsNumber(p) && (int)p->valuedouble > t->percent)
      t->percent = (int)p->valuedouble;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(st, "stores")) {
      bool dup = false;
      for (size_t j = 0; j < t->nstores; j++)
        dup = dup || strcmp(t->stores[j], s->valuestring) == 0;
      if (!dup)
        t->stores[t->nstores++] = s->valuestring;
    }
  }
  return SHOAL_OK;
}

/* The document of the scope's stable version (stable 0: an empty document
 * of the scope: as if the scope had none). */
static shoal_err stable_doc(hub_store *db, const char *scope, int64_t stable, char **out,
                            shoal_diag *diag) {
  if (stable == 0) {
    cJSON *o = cJSON_CreateObject();
    *out = cJSON_AddStringToObject(o, "scope", scope) ? shoal_json_print(o) : NULL;
    cJSON_Delete(o);
    return *out ? SHOAL_OK : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(db, "SELECT doc FROM policies WHERE scope = ? AND version = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, scope, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 2, stable);
  *out = NULL;
  if (hub_store_step(st) == HUB_STORE_ROW)
    *out = strdup((const char *)hub_store_column_text(st, 0));
  hub_store_finalize(st);
  return *out ? SHOAL_OK : shoal_fail(diag, SHOAL_EDB, "%s v%" PRId64 " is missing", scope, stable);
}

/* Publishes (records, inside the caller's transaction) the version of
 * stage r->stage, or with final the plain closing version of doc. */
static shoal_err publish_step(hub_store *db, const struct shoal_hub_config *cfg, struct rollout *r,
                              bool final, const char *doc, const char *by, int64_t *version,
                              shoal_diag *diag) {
  struct shoal_policy_rollout t;
  memset(&t, 0, sizeof t);
  struct hub_published pub = {0};
  shoal_err rc = SHOAL_OK;
  if (!final) {
    if ((rc = stage_targeting(r->stages, r->stage, &t, diag)) != SHOAL_OK)
      goto cleanup;
    shoal_strlcpy(t.id, r->id, sizeof t.id);
    t.stable_version = r->stable_version;
    if ((rc = stable_doc(db, r->scope, r->stable_version, &t.stable_doc, diag)) != SHOAL_OK)
      goto cleanup;
  }
  struct hub_publish_meta meta = {
      .published_by = by, .rollout_id = r->id, .rollout = final ? NULL : &t, .in_txn = true};
  if ((rc = hub_publish_record_ex(db, cfg, doc, strlen(doc), NULL, NULL, &meta, &pub, diag)) !=
      SHOAL_OK)
    goto cleanup;
  *version = pub.version;
cleanup:
  hub_published_cleanup(&pub);
  free(t.stores); /* borrowed strings */
  free(t.stable_doc);
  return rc;
}

/* ---- progress ---- */

struct dev {
  char store[SHOAL_ID_MAX + 1];
  int64_t version; /* reported for the scope, 0 if none */
};

/* Devices of scope's audience with their reported version of scope. */
static shoal_err scope_devices(hub_store *db, const char *scope, struct dev **out, size_t *n,
                               shoal_diag *diag) {
  enum shoal_scope_kind kind;
  const char *sid = NULL;
  shoal_err rc = shoal_scope_parse(scope, &kind, &sid, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_stmt *st = NULL;
  if ((rc = hub_store_prepare(db,
                              kind == SHOAL_SCOPE_GLOBAL
                                  ? "SELECT store, policy_versions FROM "
                                    "devices WHERE CAST(?1 AS TEXT) IS NOT NULL"
                              : kind == SHOAL_SCOPE_REGION ? "SELECT store, policy_versions FROM "
                                                             "devices WHERE region = ?1"
                                                           : "SELECT store, policy_versions FROM "
                                                             "devices WHERE store = ?1",
                              &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, kind == SHOAL_SCOPE_GLOBAL ? "" : sid, -1, HUB_STORE_STATIC);
  size_t cap = 0, cnt = 0;
  struct dev *arr = NULL;
  int s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    if (cnt == cap) {
      cap = cap ? cap * 2 : 64;
      struct dev *na = realloc(arr, cap * sizeof *na);
      if (!na) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        break;
      }
      arr = na;
    }
    struct dev *d = &arr[cnt++];
    shoal_strlcpy(d->store, (const char *)hub_store_column_text(st, 0), sizeof d->store);
    d->version = 0;
    const char *pv = (const char *)hub_store_column_text(st, 1);
    cJSON *j = NULL;
    shoal_diag ignored;
    if (pv && shoal_json_parse(pv, strlen(pv), &j, &ignored) == SHOAL_OK) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, scope);
      if (shoal_json_is_int(v))
        d->version = shoal_json_int(v);
    }
    cJSON_Delete(j);
  }
  if (rc == SHOAL_OK && s != HUB_STORE_DONE)
    rc = hub_store_fail(db, s, "read devices", diag);
  hub_store_finalize(st);
  if (rc != SHOAL_OK) {
    free(arr);
    return rc;
  }
  *out = arr;
  *n = cnt;
  return SHOAL_OK;
}

/* Targeted and applied counts of stage k (version 0: not reached). */
static shoal_err stage_counts(const struct rollout *r, const struct dev *devs, size_t n, int64_t k,
                              int64_t version, int64_t *targeted, int64_t *applied,
                              shoal_diag *diag) {
  struct shoal_policy_rollout t;
  memset(&t, 0, sizeof t);
  shoal_err rc = stage_targeting(r->stages, k, &t, diag);
  if (rc != SHOAL_OK)
    return rc;
  *targeted = *applied = 0;
  for (size_t i = 0; i < n; i++) {
    if (!shoal_rollout_targets(&t, devs[i].store))
      continue;
    (*targeted)++;
    if (version > 0 && devs[i].version >= version)
      (*applied)++;
  }
  free(t.stores);
  return SHOAL_OK;
}

static int64_t stage_version(const struct rollout *r, int64_t k) {
  const cJSON *v = cJSON_GetArrayItem(r->stage_versions, (int)(k - 1));
  return shoal_json_is_int(v) ? shoal_json_int(v) : 0;
}

static shoal_err rollout_json(hub_store *db, const struct rollout *r, cJSON **out,
                              shoal_diag *diag) {
  struct dev *devs = NULL;
  size_t n = 0;
  shoal_err rc = scope_devices(db, r->scope, &devs, &n, diag);
  if (rc != SHOAL_OK)
    return rc;
  cJSON *o = cJSON_CreateObject();
  bool ok = o != NULL;
  ok &= cJSON_AddStringToObject(o, "id", r->id) != NULL;
  ok &= cJSON_AddStringToObject(o, "scope", r->scope) != NULL;
  ok &= cJSON_AddStringToObject(o, "state", r->state) != NULL;
  ok &= cJSON_AddNumberToObject(o, "stage", (double)r->stage) != NULL;
  ok &= cJSON_AddNumberToObject(o, "stable_version", (double)r->stable_version) != NULL;
  if (r->final_version)
    ok &= cJSON_AddNumberToObject(o, "final_version", (double)r->final_version) != NULL;
  else
    ok &= cJSON_AddNullToObject(o, "final_version") != NULL;
  if (r->has_gate) {
    cJSON *g = cJSON_AddObjectToObject(o, "gate");
    ok &= g != NULL;
    ok &= cJSON_AddNumberToObject(g, "min_applied", r->min_applied) != NULL;
    ok &= cJSON_AddNumberToObject(g, "wait_s", (double)r->wait_s) != NULL;
  } else {
    ok &= cJSON_AddNullToObject(o, "gate") != NULL;
  }
  char t[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_utc(r->created_ms, t, sizeof t);
  ok &= cJSON_AddStringToObject(o, "created_at", t) != NULL;
  if (r->created_by[0])
    ok &= cJSON_AddStringToObject(o, "created_by", r->created_by) != NULL;
  else
    ok &= cJSON_AddNullToObject(o, "created_by") != NULL;
  shoal_time_format_utc(r->stage_since_ms, t, sizeof t);
  ok &= cJSON_AddStringToObject(o, "stage_since", t) != NULL;
  cJSON *stages = cJSON_AddArrayToObject(o, "stages");
  const cJSON *st;
  int64_t k = 0, cur_t = 0, cur_a = 0;
  cJSON_ArrayForEach(st, r->stages) {
    k++;
    cJSON *row = cJSON_Duplicate(st, true);
    if (!shoal_json_push(stages, row)) { /* row deleted */
      ok = false;
      break;
    }
    int64_t v = stage_version(r, k), tg = 0, ap = 0;
    if ((rc = stage_counts(r, devs, n, k, v, &tg, &ap, diag)) != SHOAL_OK)
      break;
    if (v)
      ok &= cJSON_AddNumberToObject(row, "version", (double)v) != NULL;
    else
      ok &= cJSON_AddNullToObject(row, "version") != NULL;
    ok &= cJSON_AddNumberToObject(row, "targeted", (double)tg) != NULL;
    ok &= cJSON_AddNumberToObject(row, "applied", (double)ap) != NULL;
    if (k == r->stage)
      cur_t = tg, cur_a = ap;
  }
  ok &= cJSON_AddNumberToObject(o, "targeted", (double)cur_t) != NULL;
  ok &= cJSON_AddNumberToObject(o, "applied", (double)cur_a) != NULL;
  ok &= cJSON_AddNumberToObject(o, "devices", (double)n) != NULL;
  /* After the end: how many of the scope's devices report the closing version. */
  if (r->final_version) {
    int64_t fin = 0;
    for (size_t i = 0; i < n; i++)
      fin += devs[i].version >= r->final_version;
    ok &= cJSON_AddNumberToObject(o, "final_applied", (double)fin) != NULL;
  }
  free(devs);
  if (rc == SHOAL_OK && !ok)
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (rc != SHOAL_OK) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return SHOAL_OK;
}

shoal_err hub_rollout_get(hub_store *db, const char *id, cJSON **out, shoal_diag *diag) {
  struct rollout r;
  shoal_err rc = rollout_load(db, id, &r, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = rollout_json(db, &r, out, diag);
  rollout_free(&r);
  return rc;
}

shoal_err hub_rollout_list(hub_store *db, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc =
      hub_store_prepare(db, "SELECT id FROM rollouts ORDER BY created_ms DESC LIMIT ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int(st, 1, HUB_ROLLOUT_LIST_MAX);
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  while (rc == SHOAL_OK && hub_store_step(st) == HUB_STORE_ROW) {
    cJSON *one = NULL;
    if ((rc = hub_rollout_get(db, (const char *)hub_store_column_text(st, 0), &one, diag)) ==
            SHOAL_OK &&
        !shoal_json_push(arr, one))
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  hub_store_finalize(st);
  if (rc != SHOAL_OK) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return SHOAL_OK;
}

/* ---- create ---- */

static shoal_err check_stages(const cJSON *stages, shoal_diag *diag) {
  if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) < 1 ||
      cJSON_GetArraySize(stages) > HUB_ROLLOUT_STAGES_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "\"stages\" must be an array of 1 to %d stages",
                      HUB_ROLLOUT_STAGES_MAX);
  int i = 0, last_pct = 0;
  const cJSON *st;
  cJSON_ArrayForEach(st, stages) {
    if (!cJSON_IsObject(st) || cJSON_GetArraySize(st) != 1)
      return shoal_fail(diag, SHOAL_EINPUT,
                        "stages[%d] must be {\"stores\": [ids]} or {\"percent\": 1..100}", i);
    const cJSON *stores = cJSON_GetObjectItemCaseSensitive(st, "stores");
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(st, "percent");
    if (stores) {
      if (!cJSON_IsArray(stores) || cJSON_GetArraySize(stores) < 1 ||
          cJSON_GetArraySize(stores) > SHOAL_ROLLOUT_STORES_MAX)
        return shoal_fail(diag, SHOAL_EINPUT, "stages[%d].stores must be a non-empty array", i);
      const cJSON *s;
      cJSON_ArrayForEach(s, stores) {
        if (!cJSON_IsString(s) || !shoal_id_valid(s->valuestring))
          return shoal_fail(diag, SHOAL_EINPUT, "stages[%d].stores holds a bad store id", i);
      }
    } else if (pct) {
      if (!shoal_json_is_int(pct) || shoal_json_int(pct) < 1 || shoal_json_int(pct) > 100)
        return shoal_fail(diag, SHOAL_EINPUT, "stages[%d].percent must be an integer 1..100", i);
      if ((int)shoal_json_int(pct) < last_pct)
        return shoal_fail(diag, SHOAL_EINPUT,
                          "stages[%d].percent is below an earlier stage's (stages only grow)", i);
      last_pct = (int)shoal_json_int(pct);
    } else {
      return shoal_fail(diag, SHOAL_EINPUT,
                        "stages[%d] must be {\"stores\": [ids]} or {\"percent\": 1..100}", i);
    }
    i++;
  }
  return SHOAL_OK;
}

/* The request's gate ({"min_applied", "wait_s"} or null) into r. */
static shoal_err create_gate(const cJSON *gate, struct rollout *r, shoal_diag *diag) {
  const cJSON *k;
  if (!gate || cJSON_IsNull(gate))
    return SHOAL_OK;
  if (!cJSON_IsObject(gate))
    return shoal_fail(diag, SHOAL_EINPUT, "\"gate\" must be {\"min_applied\", \"wait_s\"}");
  cJSON_ArrayForEach(k, gate) {
    if (strcmp(k->string, "min_applied") && strcmp(k->string, "wait_s"))
      return shoal_fail(diag, SHOAL_EINPUT, "unknown key \"gate.%s\"", k->string);
  }
  const cJSON *ma = cJSON_GetObjectItemCaseSensitive(gate, "min_applied");
  if (ma && (!cJSON_IsNumber(ma) || ma->valuedouble < 0.0 || ma->valuedouble > 1.0))
    return shoal_fail(diag, SHOAL_EINPUT, "gate.min_applied must be a number 0.0..1.0");
  shoal_err rc = shoal_json_get_int(gate, "wait_s", false, &r->wait_s, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (r->wait_s < 0 || r->wait_s > 30LL * 86400)
    return shoal_fail(diag, SHOAL_EINPUT, "gate.wait_s must be 0..2592000");
  r->has_gate = true;
  r->min_applied = ma ? ma->valuedouble : 0.0;
  return SHOAL_OK;
}

/* Phase 1 of create: the request, checked, into r (id, scope, gate, doc
 * text, stages, created_by); nothing read from the database yet. */
static shoal_err create_parse(const cJSON *req, const char *by, struct rollout *r,
                              shoal_diag *diag) {
  shoal_err rc;
  const cJSON *k;
  cJSON_ArrayForEach(k, req) {
    if (strcmp(k->string, "scope") && strcmp(k->string, "doc") && strcmp(k->string, "stages") &&
        strcmp(k->string, "gate") && strcmp(k->string, "id"))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "unknown key \"%s\" (want scope, doc, stages, gate, id)", k->string);
  }
  const char *scope = NULL, *id = NULL;
  if ((rc = shoal_json_get_str(req, "scope", true, &scope, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(req, "id", false, &id, diag)) != SHOAL_OK)
    return rc;
  enum shoal_scope_kind kind;
  const char *sid;
  if ((rc = shoal_scope_parse(scope, &kind, &sid, diag)) != SHOAL_OK)
    return rc;
  const cJSON *doc = cJSON_GetObjectItemCaseSensitive(req, "doc");
  if (!cJSON_IsObject(doc))
    return shoal_fail(diag, SHOAL_EINPUT, "\"doc\" must be a policy document (an object)");
  char doc_scope[SHOAL_SCOPE_MAX];
  if ((rc = shoal_policy_validate_json(doc, doc_scope, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "doc");
    return rc;
  }
  if (strcmp(doc_scope, scope) != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "doc is for scope %s, not %s", doc_scope, scope);
  const cJSON *stages = cJSON_GetObjectItemCaseSensitive(req, "stages");
  if ((rc = check_stages(stages, diag)) != SHOAL_OK ||
      (rc = create_gate(cJSON_GetObjectItemCaseSensitive(req, "gate"), r, diag)) != SHOAL_OK)
    return rc;
  if (id) {
    if (!shoal_id_valid(id))
      return shoal_fail(diag, SHOAL_EINPUT, "\"id\" must be an identifier");
    shoal_strlcpy(r->id, id, sizeof r->id);
  } else {
    unsigned char rnd[6];
    char hex[13];
    shoal_random_bytes(rnd, sizeof rnd);
    shoal_hex_encode(rnd, sizeof rnd, hex);
    snprintf(r->id, sizeof r->id, "ro-%s", hex);
  }
  shoal_strlcpy(r->scope, scope, sizeof r->scope);
  if (by)
    shoal_strlcpy(r->created_by, by, sizeof r->created_by);
  if (!(r->doc = shoal_json_print(doc)) || !(r->stages = cJSON_Duplicate(stages, true)) ||
      !(r->stage_versions = cJSON_CreateArray()))
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (strlen(r->doc) > SHOAL_POLICY_DOC_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "doc is over %d bytes", SHOAL_POLICY_DOC_MAX_BYTES);
  return SHOAL_OK;
}

/* One integer (a COUNT(*), a MAX) of a query on text ?1 and, when the
 * query names it, integer ?2. */
static shoal_err create_count(hub_store *db, const char *sql, const char *text, int64_t num,
                              int64_t *out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(db, sql, &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, text, -1, HUB_STORE_STATIC);
  if (strstr(sql, "?2"))
    hub_store_bind_int64(st, 2, num);
  *out = 0;
  if (hub_store_step(st) == HUB_STORE_ROW)
    *out = hub_store_column_int64(st, 0);
  hub_store_finalize(st);
  return SHOAL_OK;
}

/* Phase 2 of create (in the caller's transaction): the scope has no
 * rollout running, the id is free, no scheduled version is still to come;
 * r->stable_version is the scope's newest version. */
static shoal_err create_check_scope(hub_store *db, struct rollout *r, int64_t now_ms,
                                    shoal_diag *diag) {
  char active[SHOAL_ID_MAX + 1];
  shoal_err rc = hub_rollout_active(db, r->scope, active, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (active[0])
    return shoal_fail(diag, SHOAL_ESTATE, "%s already has rollout %s in progress", r->scope,
                      active);
  int64_t n = 0;
  if ((rc = create_count(db, "SELECT COUNT(*) FROM rollouts WHERE id = ?1", r->id, 0, &n, diag)) !=
      SHOAL_OK)
    return rc;
  if (n)
    return shoal_fail(diag, SHOAL_ESTATE, "rollout %s already exists", r->id);
  /* A scheduled version still to come would take effect mid-rollout. */
  if ((rc = create_count(db,
                         "SELECT COUNT(*) FROM policies WHERE scope = ?1 AND effective_at IS "
                         "NOT NULL AND shoal_time_ms(effective_at) > ?2",
                         r->scope, now_ms, &n, diag)) != SHOAL_OK)
    return rc;
  if (n)
    return shoal_fail(diag, SHOAL_ESTATE,
                      "%s has a scheduled version still to take effect; roll out after it",
                      r->scope);
  return create_count(db, "SELECT COALESCE(MAX(version), 0) FROM policies WHERE scope = ?1",
                      r->scope, 0, &r->stable_version, diag);
}

shoal_err hub_rollout_create(hub_store *db, const struct shoal_hub_config *cfg, const cJSON *req,
                             const char *by, int64_t now_ms, cJSON **out, shoal_diag *diag) {
  struct rollout r;
  memset(&r, 0, sizeof r);
  bool in_txn = false;
  shoal_err rc;
  if ((rc = create_parse(req, by, &r, diag)) != SHOAL_OK ||
      (rc = hub_store_begin(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_txn = true;
  if ((rc = create_check_scope(db, &r, now_ms, diag)) != SHOAL_OK)
    goto cleanup;
  r.stage = 1;
  shoal_strlcpy(r.state, "running", sizeof r.state);
  r.stage_since_ms = r.created_ms = r.updated_ms = now_ms;
  int64_t v = 0;
  if ((rc = publish_step(db, cfg, &r, false, r.doc, by, &v, diag)) != SHOAL_OK)
    goto cleanup;
  if (!shoal_json_push(r.stage_versions, cJSON_CreateNumber((double)v))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = rollout_save(db, &r, true, diag)) != SHOAL_OK ||
      (rc = hub_store_commit(db, diag)) != SHOAL_OK)
    goto cleanup;
  in_txn = false;
  rc = rollout_json(db, &r, out, diag);
cleanup:
  if (in_txn)
    hub_store_rollback(db);
  rollout_free(&r);
  return rc;
}

/* ---- transitions ---- */

/* Moves r one stage on (inside the caller's transaction); past the last
 * stage publishes the plain closing version. */
static shoal_err advance(hub_store *db, const struct shoal_hub_config *cfg, struct rollout *r,
                         const char *by, int64_t now_ms, shoal_diag *diag) {
  int64_t v = 0;
  int64_t n = cJSON_GetArraySize(r->stages);
  shoal_err rc;
  if (r->stage >= n) {
    if ((rc = publish_step(db, cfg, r, true, r->doc, by, &v, diag)) != SHOAL_OK)
      return rc;
    r->final_version = v;
    shoal_strlcpy(r->state, "done", sizeof r->state);
  } else {
    r->stage++;
    if ((rc = publish_step(db, cfg, r, false, r->doc, by, &v, diag)) != SHOAL_OK)
      return rc;
    if (!shoal_json_push(r->stage_versions, cJSON_CreateNumber((double)v)))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  r->stage_since_ms = r->updated_ms = now_ms;
  return rollout_save(db, r, false, diag);
}

shoal_err hub_rollout_act(hub_store *db, const struct shoal_hub_config *cfg, const char *id,
                          const char *verb, const char *by, int64_t now_ms, cJSON **out,
                          shoal_diag *diag) {
  struct rollout r;
  memset(&r, 0, sizeof r);
  if (strcmp(verb, "advance") && strcmp(verb, "pause") && strcmp(verb, "abort"))
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no rollout action \"%s\" (advance, pause, abort)",
                      verb);
  shoal_err rc = hub_store_begin(db, diag);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = rollout_load(db, id, &r, diag)) != SHOAL_OK)
    goto cleanup;
  if (strcmp(r.state, "running") != 0 && strcmp(r.state, "paused") != 0) {
    rc = shoal_fail(diag, SHOAL_ESTATE, "rollout %s is %s", id, r.state);
    goto cleanup;
  }
  if (strcmp(verb, "advance") == 0) {
    rc = advance(db, cfg, &r, by, now_ms, diag);
  } else if (strcmp(verb, "pause") == 0) {
    shoal_strlcpy(r.state, "paused", sizeof r.state);
    r.updated_ms = now_ms;
    rc = rollout_save(db, &r, false, diag);
  } else {
    /* Abort: the stable document again, as a newer plain version. */
    char *doc = NULL;
    int64_t v = 0;
    if ((rc = stable_doc(db, r.scope, r.stable_version, &doc, diag)) == SHOAL_OK)
      rc = publish_step(db, cfg, &r, true, doc, by, &v, diag);
    free(doc);
    if (rc == SHOAL_OK) {
      r.final_version = v;
      shoal_strlcpy(r.state, "aborted", sizeof r.state);
      r.updated_ms = now_ms;
      rc = rollout_save(db, &r, false, diag);
    }
  }
  if (rc == SHOAL_OK)
    rc = hub_store_commit(db, diag);
  if (rc == SHOAL_OK)
    rc = rollout_json(db, &r, out, diag);
cleanup:
  if (hub_store_in_tx(db))
    hub_store_rollback(db);
  rollout_free(&r);
  return rc;
}

shoal_err hub_rollouts_tick(hub_store *db, const struct shoal_hub_config *cfg,
                            const struct shoal_logger *log, int64_t now_ms, shoal_diag *diag) {
  hub_stmt *st = NULL;
  char ids[16][SHOAL_ID_MAX + 1];
  int nids = 0;
  shoal_err rc = hub_store_prepare(
      db, "SELECT id FROM rollouts WHERE state = 'running' AND min_applied IS NOT NULL LIMIT 16",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  while (hub_store_step(st) == HUB_STORE_ROW && nids < 16)
    shoal_strlcpy(ids[nids++], (const char *)hub_store_column_text(st, 0), sizeof ids[0]);
  hub_store_finalize(st);
  for (int i = 0; i < nids && rc == SHOAL_OK; i++) {
    struct rollout r;
    if ((rc = hub_store_begin(db, diag)) != SHOAL_OK)
      break;
    if ((rc = rollout_load(db, ids[i], &r, diag)) != SHOAL_OK) {
      hub_store_rollback(db);
      break;
    }
    bool go = false;
    if (strcmp(r.state, "running") == 0 && r.has_gate &&
        now_ms - r.stage_since_ms >= r.wait_s * 1000) {
      struct dev *devs = NULL;
      size_t n = 0;
      int64_t tg = 0, ap = 0;
      if ((rc = scope_devices(db, r.scope, &devs, &n, diag)) == SHOAL_OK)
        rc = stage_counts(&r, devs, n, r.stage, stage_version(&r, r.stage), &tg, &ap, diag);
      free(devs);
      /* Integer share: applied / targeted >= min_applied, no device: holds. */
      go = rc == SHOAL_OK && (tg == 0 || (double)ap >= r.min_applied * (double)tg);
    }
    if (go && (rc = advance(db, cfg, &r, "gate", now_ms, diag)) == SHOAL_OK)
      shoal_log(log, SHOAL_LOG_INFO, "rollout %s: gate held, now %s stage %" PRId64, r.id, r.state,
                r.stage);
    if (rc == SHOAL_OK)
      rc = hub_store_commit(db, diag);
    if (hub_store_in_tx(db))
      hub_store_rollback(db);
    rollout_free(&r);
  }
  return rc;
}

/* ---- HTTP ---- */

/* GET /api/v1/rollouts */
shoal_err hub_h_rollouts_list(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  return hub_rollout_list(call->db, out, diag);
}

/* POST /api/v1/rollouts */
shoal_err hub_h_rollouts_create(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  cJSON *req = NULL;
  shoal_err rc = hub_call_json(call, &req, diag);
  if (rc != SHOAL_OK)
    return rc;
  const cJSON *scope = cJSON_GetObjectItemCaseSensitive(req, "scope");
  if (cJSON_IsString(scope))
    snprintf(call->target, sizeof call->target, "%.100s", scope->valuestring);
  rc = hub_rollout_create(call->db, &call->ctx->cfg, req, call->user, call->now_ms, out, diag);
  if (rc == SHOAL_OK) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(*out, "id");
    snprintf(call->target, sizeof call->target, "%s %s", id->valuestring,
             cJSON_GetObjectItemCaseSensitive(*out, "scope")->valuestring);
    call->status = 201;
  }
  cJSON_Delete(req);
  return rc;
}

/* GET /api/v1/rollouts/{id} */
shoal_err hub_h_rollout_get(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  if (!shoal_id_valid(call->rest))
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no rollout %.80s", call->rest);
  return hub_rollout_get(call->db, call->rest, out, diag);
}

/* POST /api/v1/rollouts/{id}/advance|pause|abort */
shoal_err hub_h_rollout_action(struct hub_call *call, cJSON **out, shoal_diag *diag) {
  char id[SHOAL_ID_MAX + 1];
  const char *slash = strrchr(call->rest, '/');
  size_t il = slash ? (size_t)(slash - call->rest) : 0;
  if (!slash || il == 0 || il > SHOAL_ID_MAX)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "want POST /api/v1/rollouts/{id}/advance|pause|abort");
  memcpy(id, call->rest, il);
  id[il] = '\0';
  const char *verb = slash + 1;
  snprintf(call->target, sizeof call->target, "%s", id);
  call->action = strcmp(verb, "advance") == 0 ? "rollout.advance"
                 : strcmp(verb, "pause") == 0 ? "rollout.pause"
                 : strcmp(verb, "abort") == 0 ? "rollout.abort"
                                              : NULL;
  if (!shoal_id_valid(id))
    return shoal_fail(diag, SHOAL_ENOTFOUND, "no rollout %s", id);
  return hub_rollout_act(call->db, &call->ctx->cfg, id, verb, call->user, call->now_ms, out, diag);
}
