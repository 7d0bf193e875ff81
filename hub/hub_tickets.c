/* hub_tickets.c - the hub's work-order merge (SPEC 7): stores every ticket
 * event once, re-folds the ticket under the hub's published policies (the
 * hub's routing is authoritative), publishes merged tickets to the store's
 * down topic after commit, and emits SLA escalations as its own events
 * (device "hub", its own epoch and gapless seq). */
#include "hub_tickets.h"
#include "hub_customers.h"
#include "hub_publish.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_dispatch.h"
#include "hub_webhook.h"
#include "shoal/hlc.h"
#include "shoal/jsonx.h"
#include "shoal/scope.h"
#include "shoal/ticket.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "store.h"

#define DOWN_CHUNK_BYTES (SHOAL_EVENT_MAX_BYTES / 2) /* events per down message, with headroom */

void hub_ticket_chain_cleanup(struct hub_ticket_chain *c) {
  for (size_t i = 0; i < c->n; i++)
    cJSON_Delete(c->docs[i]);
  c->n = 0;
}

/* Adds the document in effect at now_ms for scope (if any) to the chain. */
static shoal_err load_scope(struct hub_ctx *ctx, const char *scope, int64_t now_ms,
                            struct hub_ticket_chain *c, shoal_diag *diag) {
  cJSON *doc = NULL;
  shoal_err rc = hub_policy_in_effect(ctx->db, scope, now_ms, &doc, diag);
  if (rc == SHOAL_OK && doc)
    c->docs[c->n++] = doc;
  return rc;
}

shoal_err hub_ticket_chain_load(struct hub_ctx *ctx, const char *region, const char *store,
                                int64_t now_ms, struct hub_ticket_chain *out, shoal_diag *diag) {
  struct shoal_scope_chain chain;
  memset(out, 0, sizeof *out);
  shoal_err rc = shoal_scope_chain(&chain, region, store, diag);
  for (int i = 0; i < SHOAL_SCOPE_CHAIN_LEN && rc == SHOAL_OK; i++)
    if (shoal_scope_chain_has(&chain, (enum shoal_scope_kind)i))
      rc = load_scope(ctx, chain.scope[i], now_ms, out, diag);
  if (rc != SHOAL_OK)
    hub_ticket_chain_cleanup(out);
  return rc;
}

/* Every stored event envelope of ticket id, in (hlc) order, as a JSON array. */
static shoal_err load_events(struct hub_ctx *ctx, const char *id, cJSON **out, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(ctx->db,
                                   "SELECT envelope FROM ticket_events WHERE ticket = ? "
                                   "ORDER BY hlc, device, epoch, seq",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  rc = hub_store_json_rows(ctx->db, st, "read ticket events", out, diag);
  hub_store_finalize(st);
  return rc;
}

shoal_err hub_ticket_fold(struct hub_ctx *ctx, const char *id, int64_t now_ms, cJSON **out,
                          struct shoal_ticket_summary *sum, shoal_diag *diag) {
  cJSON *events = NULL, *doc = NULL;
  struct hub_ticket_chain chain = {{0}, 0};
  shoal_err rc = load_events(ctx, id, &events, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (cJSON_GetArraySize(events) == 0) {
    cJSON_Delete(events);
    return shoal_fail(diag, SHOAL_ENOTFOUND, "unknown ticket %s", id);
  }
  /* The chain depends on the ticket's region, which its open names. */
  if ((rc = shoal_ticket_fold(events, NULL, &doc, sum, diag)) != SHOAL_OK)
    goto cleanup;
  cJSON_Delete(doc);
  doc = NULL;
  if ((rc = hub_ticket_chain_load(ctx, sum->region, sum->store, now_ms, &chain, diag)) != SHOAL_OK)
    goto cleanup;
  struct shoal_ticket_fold_opts opts = {(const cJSON *const *)chain.docs, chain.n, NULL, NULL,
                                        true};
  if ((rc = shoal_ticket_fold(events, &opts, &doc, sum, diag)) != SHOAL_OK)
    goto cleanup;
  *out = doc;
  doc = NULL;
cleanup:
  cJSON_Delete(doc);
  cJSON_Delete(events);
  hub_ticket_chain_cleanup(&chain);
  return rc;
}

/* A ticket naming a customer goes on that customer's timeline (SPEC 13). */
static shoal_err ticket_on_timeline(struct hub_ctx *ctx, const char *id, const cJSON *doc,
                                    const struct shoal_ticket_summary *sum, shoal_diag *diag) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "customer");
  const cJSON *cid = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "id") : NULL;
  if (!cJSON_IsString(cid) || !shoal_id_valid(cid->valuestring))
    return SHOAL_OK;
  cJSON *e = cJSON_CreateObject();
  static const char *const keys[] = {"category", "title", "priority"};
  bool ok = e && cJSON_AddStringToObject(e, "store", sum->store);
  for (size_t i = 0; ok && i < 3; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);
    if (cJSON_IsString(v))
      ok = cJSON_AddStringToObject(e, keys[i], v->valuestring) != NULL;
  }
  shoal_err rc = ok ? hub_customers_timeline_add(ctx->db, cid->valuestring, sum->opened_ms,
                                                 "ticket", id, e, diag)
                    : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  cJSON_Delete(e);
  return rc;
}

/* Re-folds id and rewrites its row, marked changed for publishing. */
static shoal_err refold(struct hub_ctx *ctx, const char *id, const char *store, int64_t now_ms,
                        struct shoal_ticket_summary *sum, shoal_diag *diag) {
  cJSON *doc = NULL;
  char *text = NULL;
  hub_stmt *st = NULL;
  shoal_err rc = hub_ticket_fold(ctx, id, now_ms, &doc, sum, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (!(text = shoal_json_print(doc))) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = hub_store_prepare(
           ctx->db,
           "INSERT INTO tickets (id, store, region, state, priority, grp, opened_ms, "
           "resolve_due_ms, resolved_ms, escalation_level, doc, changed, updated_ms) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12) "
           "ON CONFLICT(id) DO UPDATE SET region = ?3, state = ?4, priority = ?5, grp = ?6, "
           "opened_ms = ?7, resolve_due_ms = ?8, resolved_ms = ?9, escalation_level = ?10, "
           "doc = ?11, changed = 1, updated_ms = ?12, esc_next_ms = NULL",
           &st, diag)) != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, sum->opened ? sum->store : store, -1, HUB_STORE_STATIC);
  if (sum->opened) {
    hub_store_bind_text(st, 3, sum->region, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 5, sum->priority, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 7, sum->opened_ms);
  }
  hub_store_bind_text(st, 4, sum->state, -1, HUB_STORE_STATIC);
  if (sum->group[0])
    hub_store_bind_text(st, 6, sum->group, -1, HUB_STORE_STATIC);
  if (sum->resolve_due_ms)
    hub_store_bind_int64(st, 8, sum->resolve_due_ms);
  if (sum->resolved_ms)
    hub_store_bind_int64(st, 9, sum->resolved_ms);
  hub_store_bind_int(st, 10, sum->escalation_level);
  hub_store_bind_text(st, 11, text, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 12, now_ms);
  int s = hub_store_step(st);
  if (s != HUB_STORE_DONE)
    rc = hub_store_fail(ctx->db, s, "store ticket", diag);
  else
    rc = hub_webhook_enqueue(ctx, "ticket", text, diag);
  if (rc == SHOAL_OK && sum->opened)
    rc = ticket_on_timeline(ctx, id, doc, sum, diag);
cleanup:
  hub_store_finalize(st);
  free(text);
  cJSON_Delete(doc);
  return rc;
}

static shoal_err insert_event(struct hub_ctx *ctx, const struct shoal_event *ev, const char *id,
                              const char *kind, shoal_diag *diag) {
  char *text = NULL;
  hub_stmt *st = NULL;
  shoal_err rc = shoal_event_encode(ev, &text);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, rc, "cannot encode ticket event");
  if ((rc = hub_store_prepare(ctx->db,
                              "INSERT OR IGNORE INTO ticket_events (device, epoch, seq, ticket, "
                              "store, kind, hlc, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              &st, diag)) == SHOAL_OK) {
    hub_store_bind_text(st, 1, ev->device, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 2, ev->epoch, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 3, ev->seq);
    hub_store_bind_text(st, 4, id, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 5, ev->store, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 6, kind, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(st, 7, (int64_t)ev->hlc);
    hub_store_bind_text(st, 8, text, -1, HUB_STORE_STATIC);
    int s = hub_store_step(st);
    if (s != HUB_STORE_DONE)
      rc = hub_store_fail(ctx->db, s, "store ticket event", diag);
  }
  hub_store_finalize(st);
  free(text);
  return rc;
}

shoal_err hub_tickets_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag) {
  char id[SHOAL_ID_MAX + 1], kind[SHOAL_TICKET_KIND_MAX];
  shoal_err rc = shoal_ticket_event_check(ev, id, kind, diag);
  if (rc != SHOAL_OK)
    return rc == SHOAL_ENOMEM ? rc : SHOAL_EINPUT;
  /* A ticket belongs to the store that opened it (or first spoke of it):
   * another store's device cannot write into it. */
  hub_stmt *st = NULL;
  if ((rc =
           hub_store_prepare(ctx->db,
                             "SELECT store, (SELECT COUNT(*) FROM ticket_events WHERE ticket = ?1) "
                             "FROM tickets WHERE id = ?1",
                             &st, diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  if (hub_store_step(st) == HUB_STORE_ROW) {
    const char *store = (const char *)hub_store_column_text(st, 0);
    int64_t count = hub_store_column_int64(st, 1);
    bool serves = strcmp(store, ev->store) == 0;
    /* SPEC 15: a technician's device of another store that serves it. */
    if (!serves &&
        (rc = hub_serves_allows(ctx->db, ev->device, store, &serves, diag)) != SHOAL_OK) {
      hub_store_finalize(st);
      return rc;
    }
    if (!serves)
      rc = shoal_fail(diag, SHOAL_EINPUT,
                      "ticket %s belongs to store %s, which device %s of store %s does not serve",
                      id, store, ev->device, ev->store);
    else if (count >= SHOAL_TICKET_EVENTS_MAX)
      rc = shoal_fail(diag, SHOAL_ELIMIT, "ticket %s has %d events, the limit", id,
                      SHOAL_TICKET_EVENTS_MAX);
  }
  hub_store_finalize(st);
  if (rc != SHOAL_OK)
    return rc;
  /* A savepoint: an event the fold refuses goes to the dead letters
   * without leaving its row behind. */
  struct shoal_ticket_summary sum;
  if ((rc = hub_store_exec(ctx->db, "SAVEPOINT hub_ticket", diag)) != SHOAL_OK)
    return rc;
  if ((rc = insert_event(ctx, ev, id, kind, diag)) == SHOAL_OK)
    rc = refold(ctx, id, ev->store, shoal_now_ms(), &sum, diag);
  if (rc != SHOAL_OK)
    hub_store_exec(ctx->db, "ROLLBACK TO hub_ticket", NULL);
  shoal_diag d2;
  shoal_err rrc = hub_store_exec(ctx->db, "RELEASE hub_ticket", &d2);
  if (rc == SHOAL_OK && rrc != SHOAL_OK) {
    if (diag)
      *diag = d2;
    rc = rrc;
  }
  return rc;
}

/* The hub's identity for its own events: epoch fixed on first use. An
 * event (consume) takes the next gapless seq; a sync message, which is a
 * carrier rather than an event, reuses the current one (at least 1). */
static shoal_err clock_next(struct hub_ctx *ctx, int64_t now_ms, uint64_t min_hlc, bool consume,
                            char *epoch, int64_t *seq, uint64_t *hlc, shoal_diag *diag) {
  hub_stmt *st = NULL;
  uint64_t r = 0;
  while (r == 0)
    if (shoal_random_bytes(&r, sizeof r) != SHOAL_OK)
      return shoal_fail(diag, SHOAL_EIO, "cannot read random bytes for the hub's epoch");
  char fresh[SHOAL_U64_TEXT_MAX];
  snprintf(fresh, sizeof fresh, "%" PRIu64, r);
  shoal_err rc = hub_store_prepare(ctx->db,
                                   "INSERT OR IGNORE INTO ticket_clock (id, epoch, seq, hlc) "
                                   "VALUES (1, ?, 0, 0)",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, fresh, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  hub_store_finalize(st);
  if (s != HUB_STORE_DONE)
    return hub_store_fail(ctx->db, s, "init hub clock", diag);
  if ((rc = hub_store_prepare(ctx->db, "SELECT epoch, seq, hlc FROM ticket_clock WHERE id = 1", &st,
                              diag)) != SHOAL_OK)
    return rc;
  if ((s = hub_store_step(st)) != HUB_STORE_ROW) {
    hub_store_finalize(st);
    return hub_store_fail(ctx->db, s, "read hub clock", diag);
  }
  shoal_strlcpy(epoch, (const char *)hub_store_column_text(st, 0), 24);
  int64_t cur = hub_store_column_int64(st, 1);
  *seq = consume ? cur + 1 : (cur > 0 ? cur : 1);
  struct shoal_hlc clk = {(uint64_t)hub_store_column_int64(st, 2)};
  hub_store_finalize(st);
  if (min_hlc > clk.last)
    clk.last = min_hlc;
  *hlc = shoal_hlc_tick(&clk, now_ms);
  if ((rc = hub_store_prepare(ctx->db, "UPDATE ticket_clock SET seq = ?, hlc = ? WHERE id = 1", &st,
                              diag)) != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, consume ? *seq : cur);
  hub_store_bind_int64(st, 2, (int64_t)*hlc);
  s = hub_store_step(st);
  hub_store_finalize(st);
  return s == HUB_STORE_DONE ? SHOAL_OK : hub_store_fail(ctx->db, s, "advance hub clock", diag);
}

/* Publishes one down message for store with the given events. */
static shoal_err publish_chunk(struct hub_ctx *ctx, const char *id, const char *store,
                               cJSON *events, cJSON *history, uint64_t min_hlc, int64_t now_ms,
                               shoal_diag *diag) {
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  char topic[SHOAL_TOPIC_MAX], *text = NULL;
  const char *prefix = ctx->cfg.topic_prefix ? ctx->cfg.topic_prefix : "shoal/v1";
  shoal_err rc =
      shoal_topic_format(topic, sizeof topic, prefix, SHOAL_TOPIC_DOWN_STORE, store, NULL);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, rc, "cannot form the down topic of store %s", store);
  strcpy(ev.device, "hub");
  shoal_strlcpy(ev.store, store, sizeof ev.store);
  strcpy(ev.type, "ticket");
  if ((rc = clock_next(ctx, now_ms, min_hlc, false, ev.epoch, &ev.seq, &ev.hlc, diag)) != SHOAL_OK)
    return rc;
  ev.body = cJSON_CreateObject();
  if (!ev.body || !cJSON_AddStringToObject(ev.body, "ticket", id) ||
      !cJSON_AddStringToObject(ev.body, "kind", "sync") ||
      !cJSON_AddItemReferenceToObject(ev.body, "events", events) ||
      /* SPEC 13: the customer's purchases, no name or phone */
      (history && !cJSON_AddItemReferenceToObject(ev.body, "customer_history", history))) {
    cJSON_Delete(ev.body);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  rc = shoal_event_encode(&ev, &text);
  cJSON_Delete(ev.body);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, rc, "cannot encode ticket sync");
  rc = ctx->publish(ctx->publish_user, topic, text, strlen(text), false, diag);
  free(text);
  return rc;
}

/* The purchase history of the customer a ticket names (NULL if none). */
static shoal_err ticket_customer_history(struct hub_ctx *ctx, const char *id, cJSON **out,
                                         shoal_diag *diag) {
  hub_stmt *st = NULL;
  char cust[SHOAL_ID_MAX + 1] = "";
  *out = NULL;
  shoal_err rc = hub_store_prepare(
      ctx->db, "SELECT json_extract(doc, '$.customer.id') FROM tickets WHERE id = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  if (hub_store_step(st) == HUB_STORE_ROW && hub_store_column_type(st, 0) == HUB_STORE_TEXT)
    shoal_strlcpy(cust, (const char *)hub_store_column_text(st, 0), sizeof cust);
  hub_store_finalize(st);
  if (!cust[0] || !shoal_id_valid(cust))
    return SHOAL_OK;
  rc = hub_customers_history(ctx->db, cust, out, diag);
  if (rc == SHOAL_OK && cJSON_GetArraySize(*out) == 0) {
    cJSON_Delete(*out); /* nothing bought: no history to carry */
    *out = NULL;
  }
  return rc;
}

/* Publishes one changed ticket: all its events, in chunks that fit an envelope. */
static shoal_err publish_ticket(struct hub_ctx *ctx, const char *id, const char *store,
                                int64_t now_ms, shoal_diag *diag) {
  hub_stmt *st = NULL;
  cJSON *chunk = cJSON_CreateArray();
  size_t bytes = 0;
  uint64_t max_hlc = 0;
  cJSON *history = NULL;
  shoal_err rc = chunk ? ticket_customer_history(ctx, id, &history, diag)
                       : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  if (rc != SHOAL_OK)
    goto cleanup;
  rc = hub_store_prepare(ctx->db,
                         "SELECT envelope, hlc FROM ticket_events WHERE ticket = ? "
                         "ORDER BY hlc, device, epoch, seq",
                         &st, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  int s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    const char *env = (const char *)hub_store_column_text(st, 0);
    size_t len = strlen(env);
    uint64_t h = (uint64_t)hub_store_column_int64(st, 1);
    if (bytes && bytes + len > DOWN_CHUNK_BYTES) {
      if ((rc = publish_chunk(ctx, id, store, chunk, history, max_hlc, now_ms, diag)) != SHOAL_OK)
        goto cleanup;
      cJSON_Delete(chunk);
      chunk = cJSON_CreateArray();
      bytes = 0;
    }
    cJSON *e = NULL;
    if ((rc = shoal_json_parse(env, len, &e, diag)) != SHOAL_OK)
      goto cleanup;
    if (!shoal_json_push(chunk, e)) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    bytes += len + 1;
    if (h > max_hlc)
      max_hlc = h;
  }
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "read ticket events", diag);
    goto cleanup;
  }
  if (bytes)
    rc = publish_chunk(ctx, id, store, chunk, history, max_hlc, now_ms, diag);
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(chunk);
  cJSON_Delete(history);
  return rc;
}

shoal_err hub_tickets_after_commit(struct hub_ctx *ctx, shoal_diag *diag) {
  if (!ctx->publish)
    return SHOAL_OK;
  hub_stmt *st = NULL;
  cJSON *ids = cJSON_CreateArray(), *it;
  int64_t now_ms = shoal_now_ms();
  shoal_err rc = hub_store_prepare(
      ctx->db, "SELECT id, store FROM tickets WHERE changed = 1 LIMIT 1000", &st, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  bool ok = ids != NULL;
  int s = HUB_STORE_DONE;
  while (ok && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *pair = cJSON_CreateArray();
    ok = shoal_json_push(ids, pair) &&
         shoal_json_push(pair, cJSON_CreateString((const char *)hub_store_column_text(st, 0))) &&
         shoal_json_push(pair, cJSON_CreateString((const char *)hub_store_column_text(st, 1)));
  }
  hub_store_finalize(st);
  st = NULL;
  if (!ok) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "list changed tickets", diag);
    goto cleanup;
  }
  /* The clock and the changed flags are written in one transaction per
   * batch; a crash before commit publishes the tickets again (the agents
   * ignore identities they hold). */
  if (cJSON_GetArraySize(ids) == 0)
    goto cleanup;
  if ((rc = hub_store_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  cJSON_ArrayForEach(it, ids) {
    const char *id = cJSON_GetArrayItem(it, 0)->valuestring;
    const char *store = cJSON_GetArrayItem(it, 1)->valuestring;
    if ((rc = publish_ticket(ctx, id, store, now_ms, diag)) != SHOAL_OK)
      break;
    if ((rc = hub_store_prepare(ctx->db, "UPDATE tickets SET changed = 0 WHERE id = ?", &st,
                                diag)) != SHOAL_OK)
      break;
    hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
    s = hub_store_step(st);
    hub_store_finalize(st);
    st = NULL;
    if (s != HUB_STORE_DONE) {
      rc = hub_store_fail(ctx->db, s, "mark ticket published", diag);
      break;
    }
  }
  /* What was published stays marked, even if a later ticket failed. */
  shoal_diag d2;
  shoal_err crc = hub_store_commit(ctx->db, &d2);
  if (crc != SHOAL_OK) {
    hub_store_rollback(ctx->db);
    if (rc == SHOAL_OK) {
      rc = crc;
      if (diag)
        *diag = d2;
    }
  }
cleanup:
  hub_store_finalize(st);
  cJSON_Delete(ids);
  return rc;
}

/* Writes one event of the hub's own stream (device "hub", its epoch and
 * gapless seq, an HLC after min_hlc) for ticket id of store, body borrowed;
 * checked like any device's event. *text_out (may be NULL) gets the
 * envelope (caller frees). Inside the caller's transaction. */
static shoal_err emit_own(struct hub_ctx *ctx, const char *id, const char *store, uint64_t min_hlc,
                          const cJSON *body, int64_t now_ms, char **text_out, shoal_diag *diag) {
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  char tid[SHOAL_ID_MAX + 1], kind[SHOAL_TICKET_KIND_MAX];
  strcpy(ev.device, "hub");
  shoal_strlcpy(ev.store, store, sizeof ev.store);
  strcpy(ev.type, "ticket");
  ev.body = (cJSON *)body;
  shoal_err rc = shoal_ticket_event_check(&ev, tid, kind, diag);
  if (rc != SHOAL_OK)
    return rc == SHOAL_ENOMEM ? rc : SHOAL_EINPUT;
  if (strcmp(tid, id) != 0)
    return shoal_fail(diag, SHOAL_EINTERNAL, "hub event for ticket %s names %s", id, tid);
  if ((rc = clock_next(ctx, now_ms, min_hlc, true, ev.epoch, &ev.seq, &ev.hlc, diag)) != SHOAL_OK ||
      (rc = insert_event(ctx, &ev, id, kind, diag)) != SHOAL_OK)
    return rc;
  if (text_out && shoal_event_encode(&ev, text_out) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ENOMEM, "cannot encode ticket event");
  return SHOAL_OK;
}

shoal_err hub_tickets_emit(struct hub_ctx *ctx, const char *id, const char *store,
                           const cJSON *body, int64_t now_ms, struct shoal_ticket_summary *sum,
                           shoal_diag *diag) {
  /* After every event the hub holds of it: the hub's word comes last. */
  hub_stmt *st = NULL;
  uint64_t last = 0;
  shoal_err rc = hub_store_prepare(
      ctx->db, "SELECT COALESCE(MAX(hlc), 0) FROM ticket_events WHERE ticket = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, id, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  if (s == HUB_STORE_ROW)
    last = (uint64_t)hub_store_column_int64(st, 0);
  hub_store_finalize(st);
  if (s != HUB_STORE_ROW)
    return hub_store_fail(ctx->db, s, "read ticket events", diag);
  if ((rc = emit_own(ctx, id, store, last, body, now_ms, NULL, diag)) != SHOAL_OK)
    return rc;
  return refold(ctx, id, store, now_ms, sum, diag);
}

/* Emits one escalate event for a ticket (inside the caller's transaction). */
static shoal_err emit_escalate(struct hub_ctx *ctx, const struct shoal_ticket_summary *t, int level,
                               const char *group, const char *priority, int64_t now_ms,
                               shoal_diag *diag) {
  cJSON *body = cJSON_CreateObject();
  char *text = NULL;
  if (!body || !cJSON_AddStringToObject(body, "ticket", t->id) ||
      !cJSON_AddStringToObject(body, "kind", "escalate") ||
      !cJSON_AddNumberToObject(body, "level", level) ||
      !cJSON_AddStringToObject(body, "group", group) ||
      (priority && !cJSON_AddStringToObject(body, "priority", priority))) {
    cJSON_Delete(body);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  shoal_err rc = emit_own(ctx, t->id, t->store, t->last_hlc, body, now_ms, &text, diag);
  if (rc == SHOAL_OK)
    rc = hub_webhook_enqueue(ctx, "escalation", text, diag);
  free(text);
  cJSON_Delete(body);
  return rc;
}

#define ESC_RECHECK_MS   (3600LL * 1000) /* overdue tickets with no step due: look hourly */
#define RESYNC_RECENT_MS (7LL * 24 * 3600 * 1000) /* closed tickets younger than this go too */

/* Marks for publishing the live tickets of every store where a device said
 * hello since the last time (it may have missed merged tickets). */
static shoal_err mark_resync(struct hub_ctx *ctx, int64_t now_ms, shoal_diag *diag) {
  static const char *const sql[] = {
      "WITH hellos AS (SELECT store, MAX(last_hello_ms) AS ms FROM devices "
      "  WHERE last_hello_ms IS NOT NULL GROUP BY store), "
      "due AS (SELECT h.store, h.ms FROM hellos h LEFT JOIN ticket_resync r ON r.store = h.store "
      "  WHERE r.last_ms IS NULL OR h.ms > r.last_ms) "
      "UPDATE tickets SET changed = 1 WHERE store IN (SELECT store FROM due) AND "
      "(state NOT IN ('closed', 'cancelled') OR updated_ms > ?1)",
      "INSERT INTO ticket_resync (store, last_ms) "
      "SELECT h.store, h.ms FROM (SELECT store, MAX(last_hello_ms) AS ms FROM devices "
      "  WHERE last_hello_ms IS NOT NULL GROUP BY store) h "
      "LEFT JOIN ticket_resync r ON r.store = h.store WHERE r.last_ms IS NULL OR h.ms > r.last_ms "
      "ON CONFLICT(store) DO UPDATE SET last_ms = excluded.last_ms"};
  shoal_err rc = SHOAL_OK;
  for (size_t i = 0; rc == SHOAL_OK && i < sizeof sql / sizeof sql[0]; i++) {
    hub_stmt *st = NULL;
    if ((rc = hub_store_prepare(ctx->db, sql[i], &st, diag)) != SHOAL_OK)
      return rc;
    if (i == 0)
      hub_store_bind_int64(st, 1, now_ms - RESYNC_RECENT_MS);
    int s = hub_store_step(st);
    if (s != HUB_STORE_DONE)
      rc = hub_store_fail(ctx->db, s, "ticket resync", diag);
    hub_store_finalize(st);
  }
  return rc;
}

shoal_err hub_tickets_tick(struct hub_ctx *ctx, int64_t now_ms, shoal_diag *diag) {
  hub_stmt *st = NULL;
  cJSON *ids = cJSON_CreateArray(), *it;
  bool in_tx = false;
  shoal_err rc = hub_store_prepare(
      ctx->db,
      "SELECT id, store, region, state, resolve_due_ms, escalation_level, "
      "(SELECT MAX(hlc) FROM ticket_events e WHERE e.ticket = t.id) FROM tickets t "
      "WHERE state IN ('new', 'assigned', 'on_site') AND resolve_due_ms IS NOT NULL AND "
      "resolve_due_ms <= ?1 AND (esc_next_ms IS NULL OR esc_next_ms <= ?1) "
      "ORDER BY resolve_due_ms LIMIT 1000",
      &st, diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  hub_store_bind_int64(st, 1, now_ms);
  bool ok = ids != NULL;
  int s = HUB_STORE_DONE;
  while (ok && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    cJSON *row = cJSON_CreateArray();
    ok = shoal_json_push(ids, row);
    for (int c = 0; ok && c < 4; c++)
      ok = shoal_json_push(row,
                           cJSON_CreateString(hub_store_column_type(st, c) == HUB_STORE_NULL
                                                  ? ""
                                                  : (const char *)hub_store_column_text(st, c)));
    for (int c = 4; ok && c < 7; c++)
      ok = shoal_json_push(row, shoal_json_u64((uint64_t)hub_store_column_int64(st, c)));
  }
  hub_store_finalize(st);
  st = NULL;
  if (!ok) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "list overdue tickets", diag);
    goto cleanup;
  }
  /* Most ticks have nothing to do: write nothing then. */
  int64_t hellos = 0;
  if ((rc = hub_store_query_int(ctx->db,
                                "SELECT COUNT(*) FROM (SELECT store, MAX(last_hello_ms) AS ms "
                                "FROM devices WHERE last_hello_ms IS NOT NULL GROUP BY store) h "
                                "LEFT JOIN ticket_resync r ON r.store = h.store "
                                "WHERE r.last_ms IS NULL OR h.ms > r.last_ms",
                                0, &hellos, diag)) != SHOAL_OK)
    goto cleanup;
  if (hellos == 0 && cJSON_GetArraySize(ids) == 0)
    goto publish;
  if ((rc = hub_store_begin(ctx->db, diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if ((rc = mark_resync(ctx, now_ms, diag)) != SHOAL_OK)
    goto cleanup;
  cJSON_ArrayForEach(it, ids) {
    /* The row holds what the ladder needs; fold only when a step is due. */
    struct shoal_ticket_summary t;
    memset(&t, 0, sizeof t);
    shoal_strlcpy(t.id, cJSON_GetArrayItem(it, 0)->valuestring, sizeof t.id);
    shoal_strlcpy(t.store, cJSON_GetArrayItem(it, 1)->valuestring, sizeof t.store);
    shoal_strlcpy(t.region, cJSON_GetArrayItem(it, 2)->valuestring, sizeof t.region);
    shoal_strlcpy(t.state, cJSON_GetArrayItem(it, 3)->valuestring, sizeof t.state);
    t.opened = true;
    t.resolve_due_ms = (int64_t)strtoull(cJSON_GetArrayItem(it, 4)->valuestring, NULL, 10);
    t.escalation_level = (int)strtoll(cJSON_GetArrayItem(it, 5)->valuestring, NULL, 10);
    t.last_hlc = strtoull(cJSON_GetArrayItem(it, 6)->valuestring, NULL, 10);
    struct hub_ticket_chain chain;
    if ((rc = hub_ticket_chain_load(ctx, t.region, t.store, now_ms, &chain, diag)) != SHOAL_OK)
      goto cleanup;
    int level = 0, steps = 0;
    const char *group = NULL, *priority = NULL;
    bool any = false;
    /* Every step that has come due (a hub that was down catches up), each
     * one event; bounded by the ladder's length. */
    while (steps++ < SHOAL_TICKET_ESC_STEPS_MAX &&
           shoal_ticket_escalation_due((const cJSON *const *)chain.docs, chain.n, &t, now_ms,
                                       &level, &group, &priority)) {
      if ((rc = emit_escalate(ctx, &t, level, group, priority, now_ms, diag)) != SHOAL_OK)
        break;
      t.escalation_level = level;
      any = true;
    }
    /* Look again when the next step falls due, and at least hourly (a
     * newly published ladder applies to tickets already overdue). */
    int64_t next = shoal_ticket_escalation_next_ms((const cJSON *const *)chain.docs, chain.n, &t);
    hub_ticket_chain_cleanup(&chain);
    if (rc != SHOAL_OK)
      goto cleanup;
    if (any && (rc = refold(ctx, t.id, t.store, now_ms, &t, diag)) != SHOAL_OK)
      goto cleanup;
    if (!next || next > now_ms + ESC_RECHECK_MS)
      next = now_ms + ESC_RECHECK_MS;
    if ((rc = hub_store_prepare(ctx->db, "UPDATE tickets SET esc_next_ms = ? WHERE id = ?", &st,
                                diag)) != SHOAL_OK)
      goto cleanup;
    hub_store_bind_int64(st, 1, next);
    hub_store_bind_text(st, 2, t.id, -1, HUB_STORE_STATIC);
    s = hub_store_step(st);
    hub_store_finalize(st);
    st = NULL;
    if (s != HUB_STORE_DONE) {
      rc = hub_store_fail(ctx->db, s, "schedule ticket timer", diag);
      goto cleanup;
    }
  }
  rc = hub_store_commit(ctx->db, diag);
  in_tx = false;
  if (rc != SHOAL_OK)
    goto cleanup;
publish:
  /* Also retries what an earlier publish could not send (broker down). */
  rc = hub_tickets_after_commit(ctx, diag);
cleanup:
  if (in_tx)
    hub_store_rollback(ctx->db);
  hub_store_finalize(st);
  cJSON_Delete(ids);
  return rc;
}
