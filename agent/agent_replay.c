/* agent_replay.c - heals a hub restored from an older backup (see
 * agent_replay.h and docs/troubleshooting.md). The outbox rows the hub
 * acknowledged before the restore are gone, but the business records are
 * not: each lost seq is rebuilt from the record that produced it (sale,
 * return, form submission, local ticket event) under its ORIGINAL identity
 * (device, epoch, seq), so the hub's identity check keeps exactly-once true
 * however often a chunk is replayed. A seq whose record is not a business
 * record (a hello) is filled with a hello carrying "replayed": true. */
#include "agent_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_checkout.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "shoal/wire_payloads.h"

#define HLC_OF_MS(ms) ((uint64_t)(ms) << 16) /* SPEC 4.2: ms in the high 48 bits */

/* Encodes one envelope of ctx's stream into b (takes body). */
static shoal_err put(struct agent_ctx *ctx, struct agent_sync_batch *b, int64_t seq,
                     const char *type, uint64_t hlc, cJSON *body, shoal_diag *diag) {
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  shoal_strlcpy(ev.device, ctx->cfg.device, sizeof ev.device);
  shoal_strlcpy(ev.store, ctx->cfg.store, sizeof ev.store);
  shoal_strlcpy(ev.epoch, ctx->epoch, sizeof ev.epoch);
  shoal_strlcpy(ev.type, type, sizeof ev.type);
  ev.seq = seq;
  ev.hlc = hlc;
  ev.body = body;
  char *text = NULL;
  shoal_err rc = body ? shoal_event_encode(&ev, &text) : SHOAL_ENOMEM;
  cJSON_Delete(body);
  if (rc != SHOAL_OK)
    return shoal_fail(diag, rc, "cannot encode the replay of seq %lld", (long long)seq);
  b->seq[b->n] = seq;
  b->envelope[b->n++] = text;
  return SHOAL_OK;
}

/* The record behind seq, if this device still holds one: *type is "" if not. */
static shoal_err rebuild(struct agent_ctx *ctx, int64_t seq, char type[16], uint64_t *hlc,
                         cJSON **body, shoal_diag *diag) {
  sqlite3_stmt *st = NULL;
  shoal_err rc = SHOAL_OK;
  type[0] = '\0';
  *body = NULL;
  /* A sale (its body is stored exactly as sent) or a return (its output
   * object is stored; the event is rebuilt as when it was recorded). */
  if ((rc = shoal_db_prepare(ctx->db,
                             "SELECT body, created_ms, NULL FROM sales WHERE outbox_seq = ?1 "
                             "UNION ALL SELECT r.body, r.created_ms, s.at FROM returns r "
                             "JOIN sales s ON s.receipt = r.sale WHERE r.outbox_seq = ?1",
                             &st, diag)) != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, seq);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    const char *sale_at = (const char *)sqlite3_column_text(st, 2);
    cJSON *stored = NULL;
    if (t && shoal_json_parse(t, strlen(t), &stored, diag) == SHOAL_OK) {
      *body = sale_at ? agent_checkout_return_event(ctx, stored, sale_at) : stored;
      if (sale_at)
        cJSON_Delete(stored);
      if (!*body) {
        sqlite3_finalize(st);
        return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      }
      snprintf(type, 16, sale_at ? "return" : "sale");
      *hlc = HLC_OF_MS(sqlite3_column_int64(st, 1));
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  if (type[0])
    return SHOAL_OK;
  /* A local ticket event: the whole envelope was kept. */
  if ((rc = shoal_db_prepare(ctx->db,
                             "SELECT envelope FROM ticket_events WHERE device = ? AND epoch = ? "
                             "AND seq = ? AND source = 'local'",
                             &st, diag)) != SHOAL_OK)
    return rc;
  sqlite3_bind_text(st, 1, ctx->cfg.device, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, ctx->epoch, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, seq);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    struct shoal_event ev;
    memset(&ev, 0, sizeof ev);
    shoal_diag ignore = {{0}};
    if (t && shoal_event_decode(t, strlen(t), &ev, &ignore) == SHOAL_OK) {
      snprintf(type, 16, "%s", ev.type);
      *hlc = ev.hlc;
      *body = ev.body;
      ev.body = NULL;
    }
    shoal_event_cleanup(&ev);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (type[0])
    return SHOAL_OK;
  /* A form submission: the body is rebuilt from the stored row. */
  if ((rc = shoal_db_prepare(ctx->db,
                             "SELECT id, form_id, version, data, at_ms FROM form_submissions "
                             "WHERE seq = ?",
                             &st, diag)) != SHOAL_OK)
    return rc;
  sqlite3_bind_int64(st, 1, seq);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *data = (const char *)sqlite3_column_text(st, 3);
    int64_t at_ms = sqlite3_column_int64(st, 4);
    cJSON *b = cJSON_CreateObject(), *d = NULL, *tickets = cJSON_CreateArray();
    char at[SHOAL_TIME_TEXT_MAX];
    shoal_time_format_utc(at_ms, at, sizeof at);
    if (!b || !tickets)
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    else if (data && shoal_json_parse(data, strlen(data), &d, diag) == SHOAL_OK) {
      bool ok = cJSON_AddStringToObject(b, "submission", id) != NULL;
      ok &= cJSON_AddStringToObject(b, "form", (const char *)sqlite3_column_text(st, 1)) != NULL;
      ok &= cJSON_AddNumberToObject(b, "version", (double)sqlite3_column_int64(st, 2)) != NULL;
      ok &= cJSON_AddStringToObject(b, "region", ctx->cfg.region) != NULL;
      ok &= cJSON_AddStringToObject(b, "store", ctx->cfg.store) != NULL;
      ok &= shoal_json_put(b, "data", d);
      sqlite3_stmt *tq = NULL;
      if (shoal_db_prepare(ctx->db,
                           "SELECT ticket FROM form_ticket_requests WHERE submission = ? AND "
                           "ticket IS NOT NULL ORDER BY idx",
                           &tq, diag) == SHOAL_OK) {
        sqlite3_bind_text(tq, 1, id, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(tq) == SQLITE_ROW)
          ok &= shoal_json_push(tickets,
                                cJSON_CreateString((const char *)sqlite3_column_text(tq, 0)));
      }
      sqlite3_finalize(tq);
      ok &= shoal_json_put(b, "tickets", tickets);
      tickets = NULL;
      ok &= cJSON_AddStringToObject(b, "at", at) != NULL;
      if (!ok)
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    }
    if (rc == SHOAL_OK && d) {
      snprintf(type, 16, "form");
      *hlc = HLC_OF_MS(at_ms);
      *body = b;
      b = NULL;
    }
    cJSON_Delete(b);
    cJSON_Delete(tickets);
  }
  sqlite3_finalize(st);
  return rc;
}

shoal_err agent_replay_fetch(struct agent_ctx *ctx, int64_t from, int64_t to,
                             struct agent_sync_batch *b, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  b->n = 0;
  if (from < 1 || to < from)
    return SHOAL_OK;
  if (to - from + 1 > SHOAL_OUTBOX_BATCH_MAX)
    to = from + SHOAL_OUTBOX_BATCH_MAX - 1;
  for (int64_t seq = from; seq <= to; seq++) {
    char type[16];
    uint64_t hlc = 0;
    cJSON *body = NULL;
    if ((rc = rebuild(ctx, seq, type, &hlc, &body, diag)) != SHOAL_OK)
      break;
    if (!type[0]) {
      /* No business record behind this seq (a hello): a hello fills it. */
      const struct shoal_hello h = {.profile = ctx->profile.name,
                                    .region = ctx->cfg.region,
                                    .agent_version = SHOAL_VERSION,
                                    .replayed = true};
      if ((rc = shoal_hello_encode(&h, &body, diag)) != SHOAL_OK)
        break;
      snprintf(type, sizeof type, "hello");
      hlc = HLC_OF_MS(shoal_now_ms());
    }
    if ((rc = put(ctx, b, seq, type, hlc, body, diag)) != SHOAL_OK)
      break;
  }
  if (rc != SHOAL_OK)
    agent_sync_batch_clear(b);
  return rc;
}
