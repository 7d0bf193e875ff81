/* agent_tickets.c - the agent's work-order store. A ticket row is always the
 * fold of the ticket's events known here, under the policies in effect, so
 * two devices holding the same events print the same ticket. Local changes
 * are ticket events, written with their outbox rows in one transaction. */
#include "agent_tickets.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_outbox.h"
#include "agent_policy.h"
#include "agent_trust.h"
#include "shoal/db.h"
#include "shoal/hlc.h"
#include "shoal/jsonx.h"
#include "shoal/signing.h"
#include "shoal/ticket.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire.h"

/* Parsed policy documents of the device's chain in effect now. */
struct chain {
  cJSON *docs[3];
  size_t n;
};

static void chain_cleanup(struct chain *c) {
  for (size_t i = 0; i < c->n; i++)
    cJSON_Delete(c->docs[i]);
  c->n = 0;
}

static shoal_err chain_load(struct agent_ctx *ctx, struct chain *c, shoal_diag *diag) {
  char *texts[3] = {NULL, NULL, NULL};
  int64_t versions[3];
  memset(c, 0, sizeof *c);
  shoal_err rc = agent_policy_effective(ctx, shoal_now_ms(), texts, versions, diag);
  if (rc != SHOAL_OK)
    return rc;
  for (size_t i = 0; i < 3; i++) {
    if (!texts[i])
      continue;
    cJSON *d = NULL;
    /* A cached document that no longer parses is skipped, not fatal: the
     * store keeps working on what it has. */
    if (shoal_json_parse(texts[i], strlen(texts[i]), &d, NULL) == SHOAL_OK)
      c->docs[c->n++] = d;
    free(texts[i]);
  }
  return SHOAL_OK;
}

/* Re-folds ticket id from its stored events and rewrites its row. */
static shoal_err refold(struct agent_ctx *ctx, const char *id, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  cJSON *events = NULL, *doc = NULL;
  char *text = NULL;
  struct chain chain = {{0}, 0};
  struct shoal_ticket_summary sum;
  shoal_err rc =
      shoal_db_prepare(ctx->db, "SELECT envelope FROM ticket_events WHERE ticket = ?", &st, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if ((rc = shoal_db_json_rows(ctx->db, st, "read ticket events", &events, diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = chain_load(ctx, &chain, diag)) != SHOAL_OK)
    goto cleanup;
  /* A part the cached price chain does not know must not stop the ticket. */
  struct shoal_ticket_fold_opts opts = {(const cJSON *const *)chain.docs, chain.n, NULL, NULL,
                                        true};
  rc = shoal_ticket_fold(events, &opts, &doc, &sum, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  if (!(text = shoal_json_print(doc))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = shoal_db_prepare(ctx->db,
                             "INSERT INTO tickets (id, store, state, priority, grp, opened_ms, "
                             "updated_ms, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT(id) DO UPDATE SET store = excluded.store, "
                             "state = excluded.state, priority = excluded.priority, "
                             "grp = excluded.grp, opened_ms = excluded.opened_ms, "
                             "updated_ms = excluded.updated_ms, doc = excluded.doc",
                             &st, diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (sum.opened) {
    sqlite3_bind_text(st, 2, sum.store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sum.priority, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, sum.opened_ms);
  }
  sqlite3_bind_text(st, 3, sum.state, -1, SQLITE_STATIC);
  if (sum.group[0])
    sqlite3_bind_text(st, 5, sum.group, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, shoal_now_ms());
  sqlite3_bind_text(st, 8, text, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "store ticket", diag);
cleanup:
  sqlite3_finalize(st);
  free(text);
  cJSON_Delete(doc);
  cJSON_Delete(events);
  chain_cleanup(&chain);
  return rc;
}

/* Stores one event envelope (text) for ticket; a known identity is left
 * as it is. *inserted tells whether it was new. */
static shoal_err store_event(struct agent_ctx *ctx, const struct shoal_event *ev,
                             const char *ticket, const char *kind, const char *envelope,
                             const char *source, bool *inserted, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc =
      shoal_db_prepare(ctx->db,
                       "INSERT OR IGNORE INTO ticket_events (device, epoch, seq, ticket, "
                       "kind, hlc, envelope, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, ev->device, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, ev->epoch, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, ev->seq);
  sqlite3_bind_text(st, 4, ticket, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)ev->hlc);
  sqlite3_bind_text(st, 7, envelope, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, source, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "store ticket event", diag);
  else if (inserted)
    *inserted = sqlite3_changes(ctx->db) > 0;
  sqlite3_finalize(st);
  return rc;
}

/* Appends body as a ticket event (outbox + local row) and re-folds. */
static shoal_err record(struct agent_ctx *ctx, const char *id, const cJSON *body,
                        shoal_diag *diag) {
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  char tid[SHOAL_ID_MAX + 1], kind[SHOAL_TICKET_KIND_MAX];
  sqlite3_stmt *st = NULL;
  shoal_err rc;
  /* Check before it reaches the outbox: a malformed event would be
   * dead-lettered by the hub and leave the devices disagreeing. */
  shoal_strlcpy(ev.device, ctx->cfg.device, sizeof ev.device);
  shoal_strlcpy(ev.store, ctx->cfg.store, sizeof ev.store);
  shoal_strlcpy(ev.epoch, ctx->epoch, sizeof ev.epoch);
  strcpy(ev.type, "ticket");
  ev.body = (cJSON *)body;
  if ((rc = shoal_ticket_event_check(&ev, tid, kind, diag)) != SHOAL_OK)
    return rc;
  int64_t seq = 0;
  uint64_t hlc = 0;
  if ((rc = agent_outbox_append(ctx, "ticket", body, &seq, &hlc, diag)) != SHOAL_OK)
    return rc;
  ev.seq = seq;
  ev.hlc = hlc;
  if ((rc = shoal_db_prepare(ctx->db, "SELECT envelope FROM outbox WHERE seq = ?", &st, diag)) !=
      SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, seq);
  if (sqlite3_step(st) != SQLITE_ROW) {
    sqlite3_finalize(st);
    return shoal_fail(diag, SHOAL_EINTERNAL, "outbox row %" PRId64 " vanished", seq);
  }
  rc = store_event(ctx, &ev, id, kind, (const char *)sqlite3_column_text(st, 0), "local", NULL,
                   diag);
  sqlite3_finalize(st);
  if (rc != SHOAL_OK)
    return rc;
  return refold(ctx, id, diag);
}

/* A new ticket id, unique across devices: the device id, part of this
 * database's epoch (a re-created database restarts the counter) and a
 * counter. */
static shoal_err new_id(struct agent_ctx *ctx, char *out, size_t outsz, shoal_diag *diag) {
  char buf[32];
  int64_t n = 0;
  shoal_err rc = agent_meta_get(ctx, "ticket_counter", buf, sizeof buf, diag);
  if (rc == SHOAL_OK)
    n = strtoll(buf, NULL, 10);
  else if (rc != SHOAL_ENOTFOUND)
    return rc;
  n++;
  snprintf(buf, sizeof buf, "%" PRId64, n);
  if ((rc = agent_meta_set(ctx, "ticket_counter", buf, diag)) != SHOAL_OK)
    return rc;
  size_t el = strlen(ctx->epoch);
  const char *ep = el > 6 ? ctx->epoch + el - 6 : ctx->epoch;
  char id[SHOAL_ID_MAX + 32];
  snprintf(id, sizeof id, "%.40s-%s-%" PRId64, ctx->cfg.device, ep, n);
  if (!shoal_id_valid(id) || !shoal_strlcpy(out, id, outsz))
    return shoal_fail(diag, SHOAL_EINTERNAL, "cannot form a ticket id from device %s",
                      ctx->cfg.device);
  return SHOAL_OK;
}

shoal_err agent_ticket_open_in_tx(struct agent_ctx *ctx, const cJSON *fields, char *out_id,
                                  size_t out_sz, shoal_diag *diag) {
  char id[SHOAL_ID_MAX + 1];
  shoal_err rc;
  if (!cJSON_IsObject(fields))
    return shoal_fail(diag, SHOAL_EINPUT, "ticket fields must be an object");
  if ((rc = shoal_profile_require(&ctx->profile, SHOAL_MOD_TICKETS, diag)) != SHOAL_OK)
    return rc;
  if ((rc = new_id(ctx, id, sizeof id, diag)) != SHOAL_OK)
    return rc;
  cJSON *body = cJSON_CreateObject();
  bool ok = cJSON_AddStringToObject(body, "ticket", id) != NULL;
  ok &= cJSON_AddStringToObject(body, "kind", "open") != NULL;
  const cJSON *cat = cJSON_GetObjectItemCaseSensitive(fields, "category");
  const cJSON *pri = cJSON_GetObjectItemCaseSensitive(fields, "priority");
  const cJSON *title = cJSON_GetObjectItemCaseSensitive(fields, "title");
  /* A missing category is left out here and refused by the validation in record(). */
  if (cat)
    ok &= shoal_json_put(body, "category", cJSON_Duplicate(cat, 1));
  /* on_submit may leave priority and title out: defaults, not a failure. */
  ok &= shoal_json_put(body, "priority",
                       pri ? cJSON_Duplicate(pri, 1) : cJSON_CreateString("normal"));
  if (title || cat)
    ok &= shoal_json_put(body, "title", cJSON_Duplicate(title ? title : cat, 1));
  for (const cJSON *f = fields->child; f; f = f->next)
    if (strcmp(f->string, "category") && strcmp(f->string, "priority") &&
        strcmp(f->string, "title") && strcmp(f->string, "ticket") && strcmp(f->string, "kind") &&
        strcmp(f->string, "store") && strcmp(f->string, "region"))
      ok &= shoal_json_put(body, f->string, cJSON_Duplicate(f, 1));
  ok &= cJSON_AddStringToObject(body, "store", ctx->cfg.store) != NULL;
  ok &= cJSON_AddStringToObject(body, "region", ctx->cfg.region) != NULL;
  rc = ok ? record(ctx, id, body, diag) : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  cJSON_Delete(body);
  if (rc != SHOAL_OK)
    return rc;
  if (!shoal_strlcpy(out_id, id, out_sz))
    return shoal_fail(diag, SHOAL_ELIMIT, "ticket id buffer too small");
  return SHOAL_OK;
}

/* SPEC 15: an event is refused unless this device holds the (opened)
 * ticket and its local state allows the kind; the merge still keeps such
 * events when they come from other devices. */
static shoal_err check_local(struct agent_ctx *ctx, const char *id, const char *kind,
                             shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  char state[SHOAL_TICKET_WORD_MAX] = "";
  shoal_err rc = shoal_db_prepare(
      ctx->db, "SELECT state FROM tickets WHERE id = ? AND store IS NOT NULL", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW)
    shoal_strlcpy(state, (const char *)sqlite3_column_text(st, 0), sizeof state);
  else if (s == SQLITE_DONE)
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "no such ticket %s on this device", id);
  else
    rc = shoal_db_fail(ctx->db, s, "read ticket", diag);
  sqlite3_finalize(st);
  if (rc != SHOAL_OK)
    return rc;
  if ((rc = shoal_ticket_kind_allowed(state, kind, diag)) != SHOAL_OK)
    shoal_diag_prefix(diag, "ticket %s", id);
  return rc;
}

shoal_err agent_ticket_event_in_tx(struct agent_ctx *ctx, const char *id, const char *kind,
                                   const cJSON *fields, shoal_diag *diag) {
  if (strcmp(kind, "open") == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "use `ticket open` to open a ticket");
  if (!shoal_id_valid(id))
    return shoal_fail(diag, SHOAL_EINPUT, "ticket id \"%.80s\" is not a valid identifier", id);
  shoal_err crc = check_local(ctx, id, kind, diag);
  if (crc != SHOAL_OK)
    return crc;
  cJSON *body = cJSON_CreateObject();
  bool ok = cJSON_AddStringToObject(body, "ticket", id) != NULL;
  ok &= cJSON_AddStringToObject(body, "kind", kind) != NULL;
  for (const cJSON *f = fields ? fields->child : NULL; f; f = f->next)
    if (strcmp(f->string, "ticket") && strcmp(f->string, "kind"))
      ok &= shoal_json_put(body, f->string, cJSON_Duplicate(f, 1));
  shoal_err rc = ok ? record(ctx, id, body, diag) : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  cJSON_Delete(body);
  return rc;
}

/* Keeps a sync's customer_history (SPEC 13) for its ticket: an array of at
 * most SHOAL_CUSTOMER_HISTORY_MAX purchases, else refused as input. */
static shoal_err keep_history(struct agent_ctx *ctx, const cJSON *body, shoal_diag *diag) {
  const cJSON *hist = cJSON_GetObjectItemCaseSensitive(body, "customer_history");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "ticket");
  if (!hist)
    return SHOAL_OK;
  if (!cJSON_IsArray(hist) || cJSON_GetArraySize(hist) > SHOAL_CUSTOMER_HISTORY_MAX ||
      !cJSON_IsString(id))
    return shoal_fail(diag, SHOAL_EINPUT, "ticket sync: bad customer_history");
  char *text = shoal_json_print(hist);
  if (!text)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  sqlite3_stmt *st = NULL;
  shoal_err rc =
      shoal_db_prepare(ctx->db,
                       "INSERT INTO ticket_customer_history (ticket, history, updated_ms) "
                       "VALUES (?, ?, ?) ON CONFLICT (ticket) DO UPDATE SET "
                       "history = excluded.history, updated_ms = excluded.updated_ms",
                       &st, diag);
  if (rc == SHOAL_OK) {
    sqlite3_bind_text(st, 1, id->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, shoal_now_ms());
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
      rc = shoal_db_fail(ctx->db, s, "keep customer history", diag);
  }
  sqlite3_finalize(st);
  free(text);
  return rc;
}

shoal_err agent_ticket_get(struct agent_ctx *ctx, const char *id, cJSON **out, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "SELECT doc, (SELECT history FROM ticket_customer_history h "
                                  "WHERE h.ticket = tickets.id) FROM tickets WHERE id = ?",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    const char *hist = (const char *)sqlite3_column_text(st, 1);
    cJSON *h = NULL;
    rc = shoal_json_parse(doc, strlen(doc), out, diag);
    /* SPEC 13: the customer's purchases, as the hub sent them. */
    if (rc == SHOAL_OK && hist && shoal_json_parse(hist, strlen(hist), &h, diag) == SHOAL_OK &&
        !cJSON_AddItemToObject(*out, "customer_history", h))
      cJSON_Delete(h);
  } else if (s == SQLITE_DONE) {
    rc = shoal_fail(diag, SHOAL_ENOTFOUND, "unknown ticket %s", id);
  } else {
    rc = shoal_db_fail(ctx->db, s, "read ticket", diag);
  }
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_ticket_list(struct agent_ctx *ctx, const char *state, cJSON **out,
                            shoal_diag *diag) {
  static const char *const keys[] = {"id",          "state",           "priority", "group",
                                     "tech",        "category",        "title",    "opened_at",
                                     "resolve_due", "escalation_level"};
  sqlite3_stmt *st = NULL;
  shoal_err rc = shoal_db_prepare(ctx->db,
                                  "SELECT doc FROM tickets WHERE (?1 IS NULL OR state = ?1) "
                                  "ORDER BY opened_ms DESC, id",
                                  &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (state)
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
  cJSON *arr = cJSON_CreateArray();
  int s = SQLITE_DONE;
  if (!arr)
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  while (rc == SHOAL_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
    const char *text = (const char *)sqlite3_column_text(st, 0);
    cJSON *doc = NULL;
    if ((rc = shoal_json_parse(text, strlen(text), &doc, diag)) != SHOAL_OK)
      break;
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);
      ok &= shoal_json_put(o, keys[i], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
    }
    if (!ok) {
      cJSON_Delete(o);
      o = NULL;
    }
    cJSON_Delete(doc);
    if (!shoal_json_push(arr, o))
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if (rc == SHOAL_OK && s != SQLITE_DONE)
    rc = shoal_db_fail(ctx->db, s, "list tickets", diag);
  sqlite3_finalize(st);
  if (rc != SHOAL_OK) {
    cJSON_Delete(arr);
    return rc;
  }
  *out = arr;
  return SHOAL_OK;
}

/* Stores one event envelope from the hub; adds its ticket to touched.
 * ticket (not NULL for the events inside a sync) is the id they must all
 * name; a lone event must come from a store this device serves. Events
 * inside a sync may come from any store's devices (a technician of another
 * store who serves this one): the hub merged them. */
static shoal_err remote_event(struct agent_ctx *ctx, const cJSON *env, const char *ticket,
                              cJSON *touched, uint64_t *max_hlc, shoal_diag *diag) {
  struct shoal_event ev;
  char tid[SHOAL_ID_MAX + 1], kind[SHOAL_TICKET_KIND_MAX];
  char *text = NULL;
  shoal_err rc = shoal_event_from_json(env, &ev, diag);
  if (rc != SHOAL_OK)
    return rc == SHOAL_ENOMEM ? rc : SHOAL_EINPUT;
  if ((rc = shoal_ticket_event_check(&ev, tid, kind, diag)) != SHOAL_OK)
    goto cleanup;
  if (ticket && strcmp(tid, ticket) != 0) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "ticket sync of %s carries an event of ticket %s", ticket,
                    tid);
    goto cleanup;
  }
  if (!ticket && !shoal_agent_config_serves(&ctx->cfg, ev.store)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "ticket event of store %s, which device %s does not serve",
                    ev.store, ctx->cfg.device);
    goto cleanup;
  }
  if (!(text = shoal_json_print(env))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  bool inserted = false;
  if ((rc = store_event(ctx, &ev, tid, kind, text, "hub", &inserted, diag)) != SHOAL_OK)
    goto cleanup;
  if (ev.hlc > *max_hlc)
    *max_hlc = ev.hlc;
  if (inserted) {
    bool seen = false;
    const cJSON *t;
    cJSON_ArrayForEach(t, touched) seen = seen || strcmp(t->valuestring, tid) == 0;
    if (!seen && !shoal_json_push(touched, cJSON_CreateString(tid))) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
cleanup:
  free(text);
  shoal_event_cleanup(&ev);
  return rc;
}

shoal_err agent_tickets_apply_remote(struct agent_ctx *ctx, const char *payload, size_t len,
                                     shoal_diag *diag) {
  cJSON *root = NULL, *touched = cJSON_CreateArray();
  uint64_t max_hlc = 0;
  bool in_tx = false;
  shoal_err rc;
  if (len > SHOAL_EVENT_MAX_BYTES) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "ticket update of %zu bytes is over the limit", len);
    goto cleanup;
  }
  if (!touched) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = shoal_json_parse(payload, len, &root, diag)) != SHOAL_OK) {
    rc = SHOAL_EINPUT;
    goto cleanup;
  }
  const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "body");
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
  if ((rc = shoal_db_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if (cJSON_IsString(kind) && strcmp(kind->valuestring, "sync") == 0) {
    /* The hub's merged view: every event of the ticket it holds. */
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(body, "events"), *e;
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(body, "ticket");
    const cJSON *store = cJSON_GetObjectItemCaseSensitive(root, "store");
    if (!cJSON_IsArray(events) || !cJSON_IsString(tk) || !cJSON_IsString(store)) {
      rc = shoal_fail(diag, SHOAL_EINPUT, "ticket sync without a ticket, store or events array");
      goto cleanup;
    }
    if (!shoal_agent_config_serves(&ctx->cfg, store->valuestring)) {
      rc = shoal_fail(diag, SHOAL_EINPUT,
                      "ticket sync for store %.64s, which device %s does not "
                      "serve",
                      store->valuestring, ctx->cfg.device);
      goto cleanup;
    }
    cJSON_ArrayForEach(e, events) {
      if ((rc = remote_event(ctx, e, tk->valuestring, touched, &max_hlc, diag)) != SHOAL_OK)
        goto cleanup;
    }
    if ((rc = keep_history(ctx, body, diag)) != SHOAL_OK)
      goto cleanup;
  } else if ((rc = remote_event(ctx, root, NULL, touched, &max_hlc, diag)) != SHOAL_OK) {
    goto cleanup;
  }
  const cJSON *t;
  cJSON_ArrayForEach(t, touched) {
    if ((rc = refold(ctx, t->valuestring, diag)) != SHOAL_OK)
      goto cleanup;
  }
  /* Later local events must order after what the hub merged. */
  if (max_hlc && (rc = agent_hlc_observe(ctx, max_hlc, diag)) != SHOAL_OK)
    goto cleanup;
  rc = shoal_db_commit(ctx->db, diag);
  in_tx = false;
cleanup:
  if (in_tx)
    shoal_db_rollback(ctx->db);
  cJSON_Delete(root);
  cJSON_Delete(touched);
  return rc;
}

shoal_err agent_ticket_scan(struct agent_ctx *ctx, const char *code, const cJSON *fields,
                            char *id_out, shoal_diag *diag) {
  struct agent_trust trust = {{0}, 0, 0};
  int64_t expires = 0;
  char id[SHOAL_ID_MAX + 1];
  shoal_err rc = agent_trust_load(ctx, &trust, diag);
  if (rc != SHOAL_OK)
    return rc;
  /* SPEC 15: a code for any store this device serves, and no other. */
  rc = SHOAL_ESCOPE;
  for (size_t i = 0; i < ctx->cfg.nserves && rc == SHOAL_ESCOPE; i++)
    rc = shoal_wo_code_verify(code, (const struct shoal_pubkey *const *)trust.keys, trust.n,
                              ctx->cfg.serves[i], shoal_now_ms() / 1000, id, &expires, diag);
  if (rc == SHOAL_ESCOPE) {
    char list[SHOAL_SERVES_MAX * (SHOAL_ID_MAX + 2)] = "";
    for (size_t i = 0; i < ctx->cfg.nserves; i++) {
      if (i)
        strcat(list, ", ");
      strcat(list, ctx->cfg.serves[i]);
    }
    shoal_fail(diag, SHOAL_ESCOPE,
               "work-order code is for another store, not one this device serves (%s)", list);
  }
  agent_trust_cleanup(&trust);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "scan refused");
    /* A code that does not even parse is no more trustworthy than a
     * forged one: both are security rejections (exit 4, HTTP 403). */
    return rc == SHOAL_EINPUT ? SHOAL_ESIG : rc;
  }
  cJSON *all = fields ? cJSON_Duplicate(fields, true) : cJSON_CreateObject();
  if (!all || !cJSON_AddNumberToObject(all, "code_expires", (double)expires)) {
    cJSON_Delete(all);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if ((rc = shoal_db_begin(ctx->db, diag)) == SHOAL_OK) {
    rc = agent_ticket_event_in_tx(ctx, id, "scan", all, diag);
    if (rc == SHOAL_OK)
      rc = shoal_db_commit(ctx->db, diag);
    if (rc != SHOAL_OK)
      shoal_db_rollback(ctx->db);
  }
  cJSON_Delete(all);
  if (rc == SHOAL_OK)
    shoal_strlcpy(id_out, id, SHOAL_ID_MAX + 1);
  return rc;
}
