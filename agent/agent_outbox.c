/* agent_outbox.c - gapless seq, HLC and outbox rows, all inside the
 * caller's transaction so a crash can never leave a record without its
 * event or a gap in the seq. */
#include "agent_outbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/db.h"
#include "shoal/hlc.h"
#include "shoal/util.h"
#include "shoal/wire.h"

static shoal_err meta_int(struct agent_ctx *ctx, const char *key, int64_t *out, shoal_diag *diag) {
  char buf[32];
  shoal_err rc = agent_meta_get(ctx, key, buf, sizeof buf, diag);
  if (rc == SHOAL_ENOTFOUND) {
    *out = 0;
    return SHOAL_OK;
  }
  if (rc != SHOAL_OK)
    return rc;
  *out = strtoll(buf, NULL, 10);
  return SHOAL_OK;
}

static shoal_err hlc_advance(struct agent_ctx *ctx, uint64_t remote, bool is_recv, uint64_t *out,
                             shoal_diag *diag) {
  char buf[32];
  shoal_err rc = agent_meta_get(ctx, "hlc", buf, sizeof buf, diag);
  if (rc != SHOAL_OK && rc != SHOAL_ENOTFOUND)
    return rc;
  struct shoal_hlc clk = {rc == SHOAL_OK ? strtoull(buf, NULL, 10) : 0};
  uint64_t v =
      is_recv ? shoal_hlc_recv(&clk, remote, shoal_now_ms()) : shoal_hlc_tick(&clk, shoal_now_ms());
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  if ((rc = agent_meta_set(ctx, "hlc", buf, diag)) != SHOAL_OK)
    return rc;
  if (out)
    *out = v;
  return SHOAL_OK;
}

shoal_err agent_hlc_tick(struct agent_ctx *ctx, uint64_t *out, shoal_diag *diag) {
  return hlc_advance(ctx, 0, false, out, diag);
}

shoal_err agent_hlc_observe(struct agent_ctx *ctx, uint64_t remote, shoal_diag *diag) {
  return hlc_advance(ctx, remote, true, NULL, diag);
}

shoal_err agent_outbox_pending(struct agent_ctx *ctx, int64_t *out, shoal_diag *diag) {
  return shoal_db_query_int(ctx->db, "SELECT COUNT(*) FROM outbox", 0, out, diag);
}

shoal_err agent_outbox_append(struct agent_ctx *ctx, const char *type, const cJSON *body,
                              int64_t *out_seq, uint64_t *out_hlc, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  char *json = NULL;
  sqlite3_stmt *st = NULL;
  struct shoal_event ev = {0};
  int64_t last_seq = 0, acked = 0;

  if ((rc = meta_int(ctx, "last_seq", &last_seq, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_db_query_int(ctx->db, "SELECT acked_upto FROM sync_state WHERE id = 1", 0, &acked,
                               diag)) != SHOAL_OK)
    goto cleanup;
  /* Pending = issued - acknowledged; cheaper than COUNT(*) on a long outbox. */
  if (last_seq - acked >= ctx->profile.outbox_max_events) {
    rc = shoal_fail(diag, SHOAL_EFULL,
                    "outbox full: %lld events wait for the hub (profile limit %d); "
                    "restore the connection to the hub",
                    (long long)(last_seq - acked), ctx->profile.outbox_max_events);
    goto cleanup;
  }
  shoal_strlcpy(ev.device, ctx->cfg.device, sizeof ev.device);
  shoal_strlcpy(ev.store, ctx->cfg.store, sizeof ev.store);
  shoal_strlcpy(ev.epoch, ctx->epoch, sizeof ev.epoch);
  shoal_strlcpy(ev.type, type, sizeof ev.type);
  ev.seq = last_seq + 1;
  ev.body = (cJSON *)body; /* borrowed: encode duplicates it */
  if ((rc = agent_hlc_tick(ctx, &ev.hlc, diag)) != SHOAL_OK)
    goto cleanup;
  if ((rc = shoal_event_encode(&ev, &json)) != SHOAL_OK) {
    rc = shoal_fail(diag, rc, "cannot encode event");
    goto cleanup;
  }
  if (strlen(json) > SHOAL_EVENT_MAX_BYTES) {
    rc = shoal_fail(diag, SHOAL_ELIMIT, "event of %zu bytes is over the limit of %d", strlen(json),
                    SHOAL_EVENT_MAX_BYTES);
    goto cleanup;
  }
  if ((rc = shoal_db_prepare(
           ctx->db,
           "INSERT INTO outbox (seq, type, hlc, created_ms, envelope) VALUES (?, ?, ?, ?, ?)", &st,
           diag)) != SHOAL_OK)
    goto cleanup;
  sqlite3_bind_int64(st, 1, ev.seq);
  sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (int64_t)ev.hlc);
  sqlite3_bind_int64(st, 4, shoal_now_ms());
  sqlite3_bind_text(st, 5, json, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s != SQLITE_DONE) {
    rc = shoal_db_fail(ctx->db, s, "write outbox", diag);
    goto cleanup;
  }
  char seqbuf[32];
  snprintf(seqbuf, sizeof seqbuf, "%lld", (long long)ev.seq);
  if ((rc = agent_meta_set(ctx, "last_seq", seqbuf, diag)) != SHOAL_OK)
    goto cleanup;
  if (out_seq)
    *out_seq = ev.seq;
  if (out_hlc)
    *out_hlc = ev.hlc;
cleanup:
  sqlite3_finalize(st);
  free(json);
  return rc;
}
