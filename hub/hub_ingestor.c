/* hub_ingestor.c - exactly-once ingest. Invariants:
 * - an identity (device, epoch, seq) is inserted into events in the same
 *   transaction as its business record (sale row, registry update, form or
 *   ticket record) or its dead letter, so a crash leaves both or neither;
 * - streams.upto is the highest seq with every seq <= it in events;
 * - an ack leaves only after the transaction holding what it covers has
 *   committed; a rolled-back batch sends no ack (the agents resend);
 * - an envelope whose store/device differ from its topic's is dead-lettered
 *   WITHOUT recording its identity: a device must not be able to consume
 *   another device's sequence numbers. */
#include "hub_ingestor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_customers.h"
#include "hub_devices.h"
#include "hub_forms.h"
#include "hub_loyalty.h"
#include "hub_member_notice.h"
#include "hub_returns.h"
#include "hub_tickets.h"
#include "hub_webhook.h"
#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/shoal_limits.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "shoal/wire_payloads.h"
#include "store.h"

#define POISON_SLOTS 16

struct stream {
  char device[SHOAL_ID_MAX + 1];
  char store[SHOAL_ID_MAX + 1];
  char epoch[SHOAL_U64_TEXT_MAX];
  int64_t upto, orig_upto;
  int64_t max_stored; /* highest seq known to be in events */
  bool in_db;         /* a streams row exists */
  bool stored_new;    /* an identity was stored for it in this batch */
};

struct poison {
  char device[SHOAL_ID_MAX + 1];
  char epoch[SHOAL_U64_TEXT_MAX];
  int64_t seq;
  int tries;
};

enum stmt_id {
  ST_INS_EVENT,
  ST_INS_SALE,
  ST_SEL_STREAM,
  ST_MAX_SEQ,
  ST_PROBE,
  ST_PUT_STREAM,
  ST_INS_DEAD,
  ST_DEV_EPOCH,
  ST_DEAD_COUNT,
  ST_DEAD_DROP,
  ST_REGISTRY,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INS_EVENT] = "INSERT OR IGNORE INTO events (device, epoch, seq, store, type, hlc, "
                     "received_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_SALE] = "INSERT INTO sales (device, epoch, seq, store, region, receipt, at_ms, "
                    "subtotal, discount, rounding, total, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_SEL_STREAM] = "SELECT upto FROM streams WHERE device = ? AND epoch = ?",
    [ST_MAX_SEQ] = "SELECT MAX(seq) FROM events WHERE device = ? AND epoch = ?",
    [ST_PROBE] = "SELECT 1 FROM events WHERE device = ? AND epoch = ? AND seq = ?",
    [ST_PUT_STREAM] = "INSERT INTO streams (device, epoch, upto) VALUES (?, ?, ?) "
                      "ON CONFLICT (device, epoch) DO UPDATE SET upto = excluded.upto",
    [ST_INS_DEAD] = "INSERT INTO dead_letters (received_ms, topic, device, store, epoch, seq, "
                    "reason, payload, payload_bytes, payload_sha256) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_DEAD_COUNT] = "SELECT COUNT(*) FROM dead_letters WHERE device IS ?",
    [ST_DEAD_DROP] = "INSERT INTO dead_letters_dropped (device, count, last_ms) VALUES (?, 1, ?) "
                     "ON CONFLICT (device) DO UPDATE SET count = dead_letters_dropped.count + 1, "
                     "last_ms = excluded.last_ms",
    /* Where the registry puts a device: provisioned store and region (the
     * authority), and the region of its last hello. */
    [ST_REGISTRY] = "SELECT (SELECT store FROM provisioned_devices WHERE device = ?1 AND "
                    "revoked_ms IS NULL), (SELECT region FROM provisioned_devices WHERE "
                    "device = ?1 AND revoked_ms IS NULL), (SELECT region FROM devices WHERE "
                    "device = ?1)",
    [ST_DEV_EPOCH] = "SELECT epoch FROM devices WHERE device = ? AND store = ?",
    [ST_SAVEPOINT] = "SAVEPOINT ingest_event",
    [ST_RELEASE] = "RELEASE ingest_event",
    [ST_ROLLBACK_TO] = "ROLLBACK TO ingest_event",
};

struct hub_ingestor {
  struct hub_ctx *ctx;
  int batch_max;
  hub_ack_fn ack;
  void *ack_user;
  hub_stmt *st[ST_COUNT];
  bool open;
  int n; /* messages in the open batch */
  int64_t opened_mono;
  int64_t now_ms;         /* wall clock at the batch's first message */
  struct stream *streams; /* streams touched by the open batch */
  int nstreams;
  int *slots;      /* open-addressing index into streams, -1 = empty */
  unsigned nslots; /* power of two, > 2 * batch_max */
  struct poison poison[POISON_SLOTS];
  unsigned poison_next;
  struct hub_ingestor_stats stats;
  /* The registry's last answer (origin_check), valid within one batch:
   * consecutive events mostly come from one device. */
  struct {
    bool valid;
    char device[SHOAL_ID_MAX + 1];
    char pstore[SHOAL_ID_MAX + 1], pregion[SHOAL_ID_MAX + 1], hregion[SHOAL_ID_MAX + 1];
  } reg;
  uint64_t pending_dead; /* dead letters in the open batch */
  uint64_t pending_stored;
  uint64_t pending_dups;
};

/* ------------------------------------------------------------ statements */

static hub_stmt *stmt(struct hub_ingestor *ing, enum stmt_id id) {
  hub_stmt *s = ing->st[id];
  hub_store_reset(s);
  hub_store_clear_bindings(s);
  return s;
}

static shoal_err exec_stmt(struct hub_ingestor *ing, enum stmt_id id, const char *what,
                           shoal_diag *diag) {
  hub_stmt *s = stmt(ing, id);
  int rc = hub_store_step(s);
  hub_store_reset(s);
  if (rc != HUB_STORE_DONE)
    return hub_store_fail(ing->ctx->db, rc, what, diag);
  return SHOAL_OK;
}

shoal_err hub_ingestor_new(struct hub_ctx *ctx, int batch_max, hub_ack_fn ack, void *ack_user,
                           struct hub_ingestor **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  struct hub_ingestor *ing = calloc(1, sizeof *ing);
  if (!ing)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  ing->ctx = ctx;
  ing->batch_max = batch_max > 0 ? batch_max : HUB_INGEST_BATCH_MAX;
  if (ing->batch_max > 100000)
    ing->batch_max = 100000;
  ing->ack = ack;
  ing->ack_user = ack_user;
  ing->nslots = 16;
  while (ing->nslots <= 2u * (unsigned)ing->batch_max)
    ing->nslots *= 2;
  ing->streams = calloc((size_t)ing->batch_max, sizeof *ing->streams);
  ing->slots = malloc(ing->nslots * sizeof *ing->slots);
  if (!ing->streams || !ing->slots) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  memset(ing->slots, 0xff, ing->nslots * sizeof *ing->slots);
  for (int i = 0; i < ST_COUNT; i++)
    if ((rc = hub_store_prepare(ctx->db, stmt_sql[i], &ing->st[i], diag)) != SHOAL_OK)
      goto fail;
  *out = ing;
  return SHOAL_OK;
fail:
  hub_ingestor_free(ing);
  return rc;
}

void hub_ingestor_free(struct hub_ingestor *ing) {
  if (!ing)
    return;
  hub_ingestor_abort(ing);
  for (int i = 0; i < ST_COUNT; i++)
    hub_store_finalize(ing->st[i]);
  free(ing->streams);
  free(ing->slots);
  free(ing);
}

void hub_ingestor_stats(const struct hub_ingestor *ing, struct hub_ingestor_stats *out) {
  *out = ing->stats;
}

/* ------------------------------------------------------------ batches */

static void batch_reset(struct hub_ingestor *ing) {
  memset(ing->slots, 0xff, ing->nslots * sizeof *ing->slots);
  ing->nstreams = 0;
  ing->n = 0;
  ing->open = false;
  ing->reg.valid = false;
  ing->pending_dead = ing->pending_stored = ing->pending_dups = 0;
}

void hub_ingestor_abort(struct hub_ingestor *ing) {
  if (!ing || !ing->open)
    return;
  hub_store_rollback(ing->ctx->db);
  ing->stats.rollbacks++;
  batch_reset(ing);
}

static shoal_err batch_open(struct hub_ingestor *ing, shoal_diag *diag) {
  if (ing->open)
    return SHOAL_OK;
  shoal_err rc = hub_store_begin(ing->ctx->db, diag);
  if (rc != SHOAL_OK)
    return rc;
  ing->open = true;
  ing->n = 0;
  ing->opened_mono = shoal_mono_ms();
  return SHOAL_OK;
}

bool hub_ingestor_open(const struct hub_ingestor *ing) {
  return ing->open;
}

bool hub_ingestor_due(const struct hub_ingestor *ing) {
  return ing->open && shoal_mono_ms() - ing->opened_mono >= HUB_INGEST_BATCH_MS;
}

/* ------------------------------------------------------------ streams */

static uint32_t stream_hash(const char *device, const char *epoch) {
  uint32_t h = 2166136261u;
  for (const char *p = device; *p; p++)
    h = (h ^ (uint8_t)*p) * 16777619u;
  h = (h ^ 0xffu) * 16777619u;
  for (const char *p = epoch; *p; p++)
    h = (h ^ (uint8_t)*p) * 16777619u;
  return h;
}

/* The open batch's record of stream (device, epoch), loaded on first use. */
static shoal_err stream_get(struct hub_ingestor *ing, const char *store, const char *device,
                            const char *epoch, struct stream **out, shoal_diag *diag) {
  uint32_t mask = ing->nslots - 1, i = stream_hash(device, epoch) & mask;
  for (; ing->slots[i] >= 0; i = (i + 1) & mask) {
    struct stream *s = &ing->streams[ing->slots[i]];
    if (strcmp(s->device, device) == 0 && strcmp(s->epoch, epoch) == 0) {
      *out = s;
      return SHOAL_OK;
    }
  }
  if (ing->nstreams >= ing->batch_max)
    return shoal_fail(diag, SHOAL_EINTERNAL, "ingest batch has too many streams");
  struct stream *s = &ing->streams[ing->nstreams];
  memset(s, 0, sizeof *s);
  shoal_strlcpy(s->device, device, sizeof s->device);
  shoal_strlcpy(s->store, store, sizeof s->store);
  shoal_strlcpy(s->epoch, epoch, sizeof s->epoch);
  hub_stmt *q = stmt(ing, ST_SEL_STREAM);
  hub_store_bind_text(q, 1, device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 2, epoch, -1, HUB_STORE_STATIC);
  int r = hub_store_step(q);
  if (r == HUB_STORE_ROW) {
    s->in_db = true;
    s->upto = s->orig_upto = hub_store_column_int64(q, 0);
  } else if (r != HUB_STORE_DONE) {
    hub_store_reset(q);
    return hub_store_fail(ing->ctx->db, r, "read ack watermark", diag);
  }
  hub_store_reset(q);
  q = stmt(ing, ST_MAX_SEQ);
  hub_store_bind_text(q, 1, device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 2, epoch, -1, HUB_STORE_STATIC);
  r = hub_store_step(q);
  if (r == HUB_STORE_ROW)
    s->max_stored = hub_store_column_int64(q, 0); /* NULL reads as 0 */
  hub_store_reset(q);
  if (r != HUB_STORE_ROW)
    return hub_store_fail(ing->ctx->db, r, "read stream", diag);
  ing->slots[i] = ing->nstreams++;
  *out = s;
  return SHOAL_OK;
}

/* Seq was just stored in s: move the watermark over every contiguous seq. */
static shoal_err stream_stored(struct hub_ingestor *ing, struct stream *s, int64_t seq,
                               shoal_diag *diag) {
  s->stored_new = true;
  if (seq > s->max_stored)
    s->max_stored = seq;
  if (seq != s->upto + 1)
    return SHOAL_OK; /* above a gap (or below the watermark): upto waits */
  s->upto = seq;
  while (s->upto < s->max_stored) {
    hub_stmt *q = stmt(ing, ST_PROBE);
    hub_store_bind_text(q, 1, s->device, -1, HUB_STORE_STATIC);
    hub_store_bind_text(q, 2, s->epoch, -1, HUB_STORE_STATIC);
    hub_store_bind_int64(q, 3, s->upto + 1);
    int r = hub_store_step(q);
    hub_store_reset(q);
    if (r == HUB_STORE_DONE)
      break;
    if (r != HUB_STORE_ROW)
      return hub_store_fail(ing->ctx->db, r, "advance ack watermark", diag);
    s->upto++;
  }
  return SHOAL_OK;
}

/* ------------------------------------------------------------ dead letters */

/* Past the device's cap a dead letter is only counted. */
static shoal_err dead_letter_capped(struct hub_ingestor *ing, const char *device, bool *capped,
                                    shoal_diag *diag) {
  hub_stmt *q = stmt(ing, ST_DEAD_COUNT);
  if (device && *device)
    hub_store_bind_text(q, 1, device, -1, HUB_STORE_STATIC);
  int r = hub_store_step(q);
  int64_t n = r == HUB_STORE_ROW ? hub_store_column_int64(q, 0) : 0;
  hub_store_reset(q);
  if (r != HUB_STORE_ROW)
    return hub_store_fail(ing->ctx->db, r, "count dead letters", diag);
  *capped = n >= HUB_DEAD_LETTERS_PER_DEVICE;
  if (!*capped)
    return SHOAL_OK;
  q = stmt(ing, ST_DEAD_DROP);
  hub_store_bind_text(q, 1, device && *device ? device : "", -1, HUB_STORE_STATIC);
  hub_store_bind_int64(q, 2, ing->now_ms);
  r = hub_store_step(q);
  hub_store_reset(q);
  if (r != HUB_STORE_DONE)
    return hub_store_fail(ing->ctx->db, r, "count a dropped dead letter", diag);
  return SHOAL_OK;
}

/* Records a refused message: an excerpt of the payload with its size and
 * sha256 (bounded evidence), or only a count past the device's cap. */
static shoal_err dead_letter(struct hub_ingestor *ing, const char *topic, const char *device,
                             const char *store, const char *epoch, int64_t seq, const char *reason,
                             const void *payload, size_t len, shoal_diag *diag) {
  bool capped = false;
  shoal_err rc = dead_letter_capped(ing, device, &capped, diag);
  if (rc != SHOAL_OK)
    return rc;
  ing->pending_dead++;
  if (capped) {
    shoal_log(&ing->ctx->log, SHOAL_LOG_DEBUG, "dead letter from %s counted only: %s", topic,
              reason);
    return SHOAL_OK;
  }
  char hex[SHOAL_SHA256_HEX_MAX];
  shoal_sha256_hex(payload, len, hex);
  hub_stmt *q = stmt(ing, ST_INS_DEAD);
  hub_store_bind_int64(q, 1, ing->now_ms);
  hub_store_bind_text(q, 2, topic, -1, HUB_STORE_STATIC);
  if (device && *device)
    hub_store_bind_text(q, 3, device, -1, HUB_STORE_STATIC);
  if (store && *store)
    hub_store_bind_text(q, 4, store, -1, HUB_STORE_STATIC);
  if (epoch && *epoch)
    hub_store_bind_text(q, 5, epoch, -1, HUB_STORE_STATIC);
  if (seq > 0)
    hub_store_bind_int64(q, 6, seq);
  hub_store_bind_text(q, 7, reason, -1, HUB_STORE_STATIC);
  hub_store_bind_blob(q, 8, payload,
                      (int)(len > HUB_DEAD_EXCERPT_BYTES ? HUB_DEAD_EXCERPT_BYTES : len),
                      HUB_STORE_STATIC);
  hub_store_bind_int64(q, 9, (int64_t)len);
  hub_store_bind_text(q, 10, hex, -1, HUB_STORE_TRANSIENT);
  int r = hub_store_step(q);
  hub_store_reset(q);
  if (r != HUB_STORE_DONE)
    return hub_store_fail(ing->ctx->db, r, "record dead letter", diag);
  shoal_log(&ing->ctx->log, SHOAL_LOG_WARN, "dead letter from %s: %s", topic, reason);
  return SHOAL_OK;
}

/* The registry's word on where ev's device is: SHOAL_EINPUT if it is
 * provisioned in another store, or if region (when given) is not its
 * region: the provisioned one, else (unless provisioned_only) the one of
 * its last hello. Devices the registry does not know pass. */
static shoal_err origin_check(struct hub_ingestor *ing, const struct shoal_event *ev,
                              const char *region, bool provisioned_only, shoal_diag *diag) {
  if (!ing->reg.valid || strcmp(ing->reg.device, ev->device) != 0) {
    hub_stmt *q = stmt(ing, ST_REGISTRY);
    hub_store_bind_text(q, 1, ev->device, -1, HUB_STORE_STATIC);
    int r = hub_store_step(q);
    if (r != HUB_STORE_ROW) {
      hub_store_reset(q);
      ing->reg.valid = false;
      return hub_store_fail(ing->ctx->db, r, "read device registry", diag);
    }
    const char *t;
    t = (const char *)hub_store_column_text(q, 0);
    shoal_strlcpy(ing->reg.pstore, t ? t : "", sizeof ing->reg.pstore);
    t = (const char *)hub_store_column_text(q, 1);
    shoal_strlcpy(ing->reg.pregion, t ? t : "", sizeof ing->reg.pregion);
    t = (const char *)hub_store_column_text(q, 2);
    shoal_strlcpy(ing->reg.hregion, t ? t : "", sizeof ing->reg.hregion);
    shoal_strlcpy(ing->reg.device, ev->device, sizeof ing->reg.device);
    ing->reg.valid = true;
    hub_store_reset(q);
  }
  const char *pstore = ing->reg.pstore;
  const char *want = ing->reg.pregion[0] ? ing->reg.pregion
                     : provisioned_only  ? ""
                                         : ing->reg.hregion;
  if (pstore[0] && strcmp(pstore, ev->store) != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "device %s is registered in store %s, not store %s",
                      ev->device, pstore, ev->store);
  if (region && want[0] && strcmp(region, want) != 0)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "region \"%.64s\" is not the region of device %s in the registry (%s)",
                      region, ev->device, want);
  return SHOAL_OK;
}

/* An unattributable message from topic's device: re-ack what the hub holds
 * for the device's current stream, so the hub still answers. */
static shoal_err ack_current(struct hub_ingestor *ing, const char *store, const char *device,
                             shoal_diag *diag) {
  char epoch[24] = "";
  hub_stmt *q = stmt(ing, ST_DEV_EPOCH);
  hub_store_bind_text(q, 1, device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 2, store, -1, HUB_STORE_STATIC);
  int r = hub_store_step(q);
  if (r == HUB_STORE_ROW && hub_store_column_text(q, 0))
    shoal_strlcpy(epoch, (const char *)hub_store_column_text(q, 0), sizeof epoch);
  hub_store_reset(q);
  if (r != HUB_STORE_ROW && r != HUB_STORE_DONE)
    return hub_store_fail(ing->ctx->db, r, "read device epoch", diag);
  if (!epoch[0])
    return SHOAL_OK;
  struct stream *s;
  return stream_get(ing, store, device, epoch, &s, diag);
}

/* ------------------------------------------------------------ poison events */

static struct poison *poison_find(struct hub_ingestor *ing, const struct shoal_event *ev) {
  for (int i = 0; i < POISON_SLOTS; i++) {
    struct poison *p = &ing->poison[i];
    if (p->tries && p->seq == ev->seq && strcmp(p->device, ev->device) == 0 &&
        strcmp(p->epoch, ev->epoch) == 0)
      return p;
  }
  return NULL;
}

static void poison_note(struct hub_ingestor *ing, const struct shoal_event *ev) {
  struct poison *p = poison_find(ing, ev);
  if (!p) {
    p = &ing->poison[ing->poison_next++ % POISON_SLOTS];
    memset(p, 0, sizeof *p);
    shoal_strlcpy(p->device, ev->device, sizeof p->device);
    shoal_strlcpy(p->epoch, ev->epoch, sizeof p->epoch);
    p->seq = ev->seq;
  }
  p->tries++;
}

/* ------------------------------------------------------------ sales */

/* The sale body's shape (shoal_sale_decode: the agent's priced quote plus
 * receipt, region, store, at; what the hub reports on must be whole and
 * self-consistent), then its member block (SPEC 13), checked here before
 * anything is written. */
static shoal_err sale_check(const struct shoal_event *ev, struct shoal_sale_info *out,
                            shoal_diag *diag) {
  shoal_err rc = shoal_sale_decode(ev, out, diag);
  if (rc != SHOAL_OK)
    return rc;
  const char *mid, *nonce;
  int64_t earned, redeemed;
  return hub_loyalty_member_parse(ev->body, &mid, &nonce, &earned, &redeemed, diag);
}

static bool webhook_wants(const struct hub_ctx *ctx, unsigned ev) {
  for (size_t i = 0; i < ctx->cfg.webhook_count; i++)
    if (ctx->cfg.webhooks[i].events & ev)
      return true;
  return false;
}

/* The exact bytes of top-level member "body" of a valid JSON object, so the
 * hub stores the sale as sent (and does not pay for re-printing it). False
 * if not found the simple way (an escaped key): the caller re-prints. */
static bool raw_body(const char *json, size_t len, const char **start, size_t *n) {
  const char *p = json, *end = json + len;
  while (p < end && *p != '{')
    p++;
  if (p >= end)
    return false;
  p++;
  for (;;) {
    while (p < end && *p != '"' && *p != '}')
      p++;
    if (p >= end || *p == '}')
      return false;
    const char *k = p + 1, *q = shoal_json_skip_value(p, end);
    if (!q)
      return false;
    bool is_body = q - k == 5 && memcmp(k, "body\"", 5) == 0;
    while (q < end && *q != ':')
      q++;
    if (q >= end)
      return false;
    q++;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
      q++;
    const char *v_end = shoal_json_skip_value(q, end);
    if (!v_end)
      return false;
    if (is_body) {
      *start = q;
      *n = (size_t)(v_end - q);
      return true;
    }
    p = v_end;
  }
}

static shoal_err sale_store(struct hub_ingestor *ing, const struct shoal_event *ev,
                            const struct shoal_sale_info *sale, const char *payload, size_t len,
                            shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  const char *raw = NULL;
  size_t raw_len = 0;
  char *body = NULL, *hook = NULL;
  if (!raw_body(payload, len, &raw, &raw_len) || raw_len > (size_t)INT32_MAX) {
    if (!(body = shoal_json_print(ev->body)))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    raw = body;
    raw_len = strlen(body);
  }
  hub_stmt *q = stmt(ing, ST_INS_SALE);
  hub_store_bind_text(q, 1, ev->device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 2, ev->epoch, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(q, 3, ev->seq);
  hub_store_bind_text(q, 4, ev->store, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 5, sale->region, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 6, sale->receipt, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(q, 7, sale->at_ms);
  hub_store_bind_int64(q, 8, sale->subtotal);
  hub_store_bind_int64(q, 9, sale->discount);
  hub_store_bind_int64(q, 10, sale->rounding);
  hub_store_bind_int64(q, 11, sale->total);
  hub_store_bind_text(q, 12, raw, (int)raw_len, HUB_STORE_STATIC);
  int r = hub_store_step(q);
  hub_store_reset(q);
  if (r != HUB_STORE_DONE) {
    rc = hub_store_fail(ing->ctx->db, r, "store sale", diag);
    goto cleanup;
  }
  char event[2 * SHOAL_ID_MAX + 64];
  snprintf(event, sizeof event, "sale:%s/%s/%" PRId64, ev->device, ev->epoch, ev->seq);
  if ((rc = hub_customers_on_sale(ing->ctx->db, event, ev->store, ev->body, sale->at_ms,
                                  ing->now_ms, diag)) != SHOAL_OK)
    goto cleanup;
  if (webhook_wants(ing->ctx, SHOAL_WEBHOOK_SALE)) {
    /* The envelope (identity, hlc) with the sale as its body. */
    cJSON *env = shoal_event_to_json(ev);
    hook = env ? shoal_json_print(env) : NULL;
    cJSON_Delete(env);
    if (!hook) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    rc = hub_webhook_enqueue(ing->ctx, "sale", hook, diag);
  }
cleanup:
  free(body);
  free(hook);
  return rc;
}

/* ------------------------------------------------------------ events */

static bool input_error(shoal_err rc) {
  return rc == SHOAL_EINPUT || rc == SHOAL_EJSON || rc == SHOAL_ENOTFOUND || rc == SHOAL_ELIMIT;
}

/* "sale": checked, its region against the device's, stored as sent. */
static shoal_err sale_apply(struct hub_ingestor *ing, const struct shoal_event *ev,
                            const char *payload, size_t len, shoal_diag *diag) {
  shoal_err rc;
  struct shoal_sale_info sale;
  if ((rc = sale_check(ev, &sale, diag)) != SHOAL_OK)
    return input_error(rc) ? rc : SHOAL_EINPUT;
  if ((rc = origin_check(ing, ev, sale.region, false, diag)) != SHOAL_OK)
    return rc;
  return sale_store(ing, ev, &sale, payload, len, diag);
}

/* "hello": the device registry (hub_devices.c) records the presence. */
static shoal_err hello_apply(struct hub_ingestor *ing, const struct shoal_event *ev,
                             const char *payload, size_t len, shoal_diag *diag) {
  (void)payload;
  (void)len;
  shoal_err rc;
  const cJSON *reg = cJSON_GetObjectItemCaseSensitive(ev->body, "region");
  if ((rc = origin_check(ing, ev, cJSON_IsString(reg) ? reg->valuestring : NULL, true, diag)))
    return rc;
  ing->reg.valid = false; /* the hello may change the device's region */
  return hub_devices_hello(ing->ctx->db, ev, ing->now_ms, diag);
}

/* The event-handler table: one row per event type. Sales and hellos need
 * the engine itself (its registry cache, statements and the raw payload)
 * and write one row each, so they run without a savepoint (apply); every
 * other type is a hub_event_fn in its own file, run inside a savepoint
 * (handler). */
static const struct event_type {
  const char *type;
  shoal_err (*apply)(struct hub_ingestor *ing, const struct shoal_event *ev, const char *payload,
                     size_t len, shoal_diag *diag);
  hub_event_fn handler;
} event_types[] = {
    {"sale", sale_apply, NULL},           {"hello", hello_apply, NULL},
    {"form", NULL, hub_forms_ingest},     {"ticket", NULL, hub_tickets_ingest},
    {"return", NULL, hub_returns_ingest},
};

static const struct event_type *event_type_find(const char *type) {
  for (size_t i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
    if (strcmp(event_types[i].type, type) == 0)
      return &event_types[i];
  return NULL;
}

/* Runs the table's handler of a new event (a hub_event_fn inside a
 * savepoint). Returns SHOAL_OK (stored), an input error (diag says why; its
 * writes are undone) or another error (the batch must roll back). A type
 * missing from the table is an input error; shoal_event_decode already
 * refuses types the protocol does not define (shoal_event_type_valid). */
static shoal_err apply_event(struct hub_ingestor *ing, const struct shoal_event *ev,
                             const char *payload, size_t len, shoal_diag *diag) {
  shoal_err rc;
  const struct event_type *t = event_type_find(ev->type);
  if (t && t->apply)
    return t->apply(ing, ev, payload, len, diag);
  if ((rc = exec_stmt(ing, ST_SAVEPOINT, "savepoint", diag)) != SHOAL_OK)
    return rc;
  if (t)
    rc = t->handler(ing->ctx, ev, diag);
  else
    rc = shoal_fail(diag, SHOAL_EINPUT, "unknown event type \"%s\"", ev->type);
  if (rc != SHOAL_OK) {
    shoal_diag keep = *diag;
    shoal_err rb = exec_stmt(ing, ST_ROLLBACK_TO, "rollback to savepoint", diag);
    if (rb == SHOAL_OK)
      rb = exec_stmt(ing, ST_RELEASE, "release savepoint", diag);
    if (rb != SHOAL_OK)
      return rb;
    *diag = keep;
    return rc;
  }
  return exec_stmt(ing, ST_RELEASE, "release savepoint", diag);
}

static shoal_err handle_up(struct hub_ingestor *ing, const char *topic, const char *tstore,
                           const char *tdevice, const void *payload, size_t len, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  shoal_diag why = {{0}};
  struct shoal_event ev = {0};
  struct stream *s = NULL;
  char reason[SHOAL_DIAG_MAX + 64];

  if (len > SHOAL_EVENT_MAX_BYTES) {
    snprintf(reason, sizeof reason, "event of %zu bytes is over the limit of %d", len,
             SHOAL_EVENT_MAX_BYTES);
    if ((rc = dead_letter(ing, topic, tdevice, tstore, NULL, 0, reason, payload, len, diag)))
      return rc;
    return ack_current(ing, tstore, tdevice, diag);
  }
  if ((rc = shoal_event_decode(payload, len, &ev, &why)) != SHOAL_OK) {
    if (rc == SHOAL_ENOMEM) { /* not the event's fault: the batch rolls back, it comes again */
      *diag = why;
      return rc;
    }
    snprintf(reason, sizeof reason, "malformed event: %s", why.msg);
    if ((rc = dead_letter(ing, topic, tdevice, tstore, NULL, 0, reason, payload, len, diag)))
      return rc;
    return ack_current(ing, tstore, tdevice, diag);
  }
  if (strcmp(ev.store, tstore) != 0 || strcmp(ev.device, tdevice) != 0) {
    snprintf(reason, sizeof reason,
             "envelope names store/device %s/%s but came on the topic of %s/%s", ev.store,
             ev.device, tstore, tdevice);
    rc = dead_letter(ing, topic, tdevice, tstore, ev.epoch, ev.seq, reason, payload, len, diag);
    if (rc == SHOAL_OK)
      rc = ack_current(ing, tstore, tdevice, diag);
    goto cleanup;
  }
  /* A device the registry places in another store does not get to use
   * this store's topic, nor consume its own sequence numbers from it. */
  if ((rc = origin_check(ing, &ev, NULL, true, &why)) != SHOAL_OK) {
    if (!input_error(rc)) {
      *diag = why;
      goto cleanup;
    }
    snprintf(reason, sizeof reason, "%s event refused: %s", ev.type, why.msg);
    rc = dead_letter(ing, topic, tdevice, tstore, ev.epoch, ev.seq, reason, payload, len, diag);
    goto cleanup;
  }
  if ((rc = stream_get(ing, ev.store, ev.device, ev.epoch, &s, diag)) != SHOAL_OK)
    goto cleanup;

  hub_stmt *q = stmt(ing, ST_INS_EVENT);
  hub_store_bind_text(q, 1, ev.device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 2, ev.epoch, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(q, 3, ev.seq);
  hub_store_bind_text(q, 4, ev.store, -1, HUB_STORE_STATIC);
  hub_store_bind_text(q, 5, ev.type, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(q, 6, (int64_t)ev.hlc);
  hub_store_bind_int64(q, 7, ing->now_ms);
  int r = hub_store_step(q);
  hub_store_reset(q);
  if (r != HUB_STORE_DONE) {
    rc = hub_store_fail(ing->ctx->db, r, "record event identity", diag);
    goto cleanup;
  }
  if (hub_store_changes(ing->ctx->db) == 0) {
    ing->pending_dups++; /* redelivered: nothing changes; the stream is acked again */
    goto cleanup;
  }

  struct poison *p = poison_find(ing, &ev);
  if (p && p->tries >= HUB_INGEST_POISON_TRIES) {
    snprintf(reason, sizeof reason, "could not be processed after %d tries", p->tries);
    rc = dead_letter(ing, topic, ev.device, ev.store, ev.epoch, ev.seq, reason, payload, len, diag);
  } else {
    rc = apply_event(ing, &ev, payload, len, &why);
    if (rc != SHOAL_OK && input_error(rc)) {
      snprintf(reason, sizeof reason, "%s event refused: %s", ev.type, why.msg);
      rc = dead_letter(ing, topic, ev.device, ev.store, ev.epoch, ev.seq, reason, payload, len,
                       diag);
    } else if (rc != SHOAL_OK) {
      poison_note(ing, &ev);
      *diag = why;
      shoal_diag_prefix(diag, "%s event %s/%s/%" PRId64, ev.type, ev.device, ev.epoch, ev.seq);
      goto cleanup;
    } else {
      ing->pending_stored++;
    }
  }
  if (rc == SHOAL_OK)
    rc = stream_stored(ing, s, ev.seq, diag);
  if (rc == SHOAL_OK && strcmp(ev.type, "hello") == 0) {
    /* The device says what the hub acknowledged to it; above what the hub
     * holds, the hub was restored from an older backup. The device heals
     * it from this ack on (agent_replay.h); the operator hears of it here. */
    int64_t acked = shoal_hello_acked(ev.body);
    if (acked > s->upto)
      shoal_log(&ing->ctx->log, SHOAL_LOG_WARN,
                "device %s/%s had seqs up to %" PRId64 " acknowledged but the hub holds %" PRId64
                " (restored from a backup?): the device re-sends the missing events",
                ev.store, ev.device, acked, s->upto);
  }
cleanup:
  shoal_event_cleanup(&ev);
  return rc;
}

shoal_err hub_ingestor_handle(struct hub_ingestor *ing, const char *topic, const void *payload,
                              size_t len, bool retained, shoal_diag *diag) {
  enum shoal_topic kind;
  char a[SHOAL_ID_MAX + 1], b[SHOAL_ID_MAX + 1];
  shoal_diag why = {{0}};
  const char *prefix = ing->ctx->cfg.topic_prefix ? ing->ctx->cfg.topic_prefix : "shoal/v1";
  bool parsed = shoal_topic_parse(prefix, topic, &kind, a, b) == SHOAL_OK;
  if (!parsed) {
    /* Under the up filter but not P/up/{store}/{device} with valid
     * identifiers: nobody to ack, but keep it as evidence. */
    char up[SHOAL_TOPIC_MAX];
    size_t n = (size_t)snprintf(up, sizeof up, "%s/up/", prefix);
    if (n >= sizeof up || strncmp(topic, up, n) != 0) {
      shoal_log(&ing->ctx->log, SHOAL_LOG_DEBUG, "ignored message on %.200s", topic);
      return SHOAL_OK;
    }
  } else if (kind != SHOAL_TOPIC_UP && kind != SHOAL_TOPIC_PRESENCE) {
    shoal_log(&ing->ctx->log, SHOAL_LOG_DEBUG, "ignored message on %.200s", topic);
    return SHOAL_OK;
  }
  shoal_err rc = batch_open(ing, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (ing->n == 0)
    ing->now_ms = shoal_now_ms();
  ing->n++;
  if (!parsed) {
    ing->stats.received++;
    rc = dead_letter(ing, topic, NULL, NULL, NULL, 0,
                     "topic is not up/{store}/{device} with valid identifiers", payload, len, diag);
  } else if (kind == SHOAL_TOPIC_PRESENCE) {
    rc = hub_devices_presence(ing->ctx->db, a, b, payload, len, retained, ing->now_ms, &why);
    if (rc != SHOAL_OK && input_error(rc)) {
      shoal_log(&ing->ctx->log, SHOAL_LOG_WARN, "ignored presence on %s: %s", topic, why.msg);
      rc = SHOAL_OK;
    } else if (rc != SHOAL_OK) {
      *diag = why;
    }
  } else {
    ing->stats.received++;
    rc = handle_up(ing, topic, a, b, payload, len, diag);
  }
  if (rc != SHOAL_OK) {
    hub_ingestor_abort(ing);
    return rc;
  }
  if (ing->n >= ing->batch_max || ing->nstreams >= ing->batch_max)
    return hub_ingestor_flush(ing, diag);
  return SHOAL_OK;
}

shoal_err hub_ingestor_flush(struct hub_ingestor *ing, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  if (!ing->open)
    return SHOAL_OK;
  for (int i = 0; i < ing->nstreams; i++) {
    struct stream *s = &ing->streams[i];
    if (s->in_db && s->upto == s->orig_upto && !s->stored_new)
      continue;
    if (!s->in_db || s->upto != s->orig_upto) {
      hub_stmt *q = stmt(ing, ST_PUT_STREAM);
      hub_store_bind_text(q, 1, s->device, -1, HUB_STORE_STATIC);
      hub_store_bind_text(q, 2, s->epoch, -1, HUB_STORE_STATIC);
      hub_store_bind_int64(q, 3, s->upto);
      int r = hub_store_step(q);
      hub_store_reset(q);
      if (r != HUB_STORE_DONE) {
        rc = hub_store_fail(ing->ctx->db, r, "store ack watermark", diag);
        goto fail;
      }
    }
    if (s->stored_new && (rc = hub_devices_touch(ing->ctx->db, s->store, s->device, s->epoch,
                                                 ing->now_ms, diag)) != SHOAL_OK)
      goto fail;
  }
  int64_t t_commit = shoal_mono_ms();
  if ((rc = hub_store_commit(ing->ctx->db, diag)) != SHOAL_OK)
    goto fail;
  shoal_log(&ing->ctx->log, SHOAL_LOG_DEBUG,
            "batch: %d messages, %d streams, open %" PRId64 " ms, commit %" PRId64 " ms", ing->n,
            ing->nstreams, t_commit - ing->opened_mono, shoal_mono_ms() - t_commit);
  ing->open = false;
  ing->stats.batches++;
  ing->stats.stored += ing->pending_stored;
  ing->stats.dead_letters += ing->pending_dead;
  ing->stats.duplicates += ing->pending_dups;

  /* Committed: now, and only now, tell the devices. */
  const char *prefix = ing->ctx->cfg.topic_prefix ? ing->ctx->cfg.topic_prefix : "shoal/v1";
  for (int i = 0; i < ing->nstreams && ing->ack; i++) {
    const struct stream *s = &ing->streams[i];
    char topic[SHOAL_TOPIC_MAX], payload[SHOAL_ACK_MAX_BYTES];
    size_t n = 0;
    shoal_diag why = {{0}};
    if (shoal_topic_format(topic, sizeof topic, prefix, SHOAL_TOPIC_ACK, s->store, s->device) !=
        SHOAL_OK)
      continue;
    if (shoal_ack_encode(s->epoch, s->upto, payload, sizeof payload, &n, &why) != SHOAL_OK ||
        ing->ack(ing->ack_user, topic, payload, n, &why) != SHOAL_OK)
      shoal_log(&ing->ctx->log, SHOAL_LOG_WARN, "ack to %s not sent (the device will resend): %s",
                topic, why.msg);
    else
      ing->stats.acks++;
  }
  batch_reset(ing);
  shoal_diag why = {{0}};
  if (hub_tickets_after_commit(ing->ctx, &why) != SHOAL_OK)
    shoal_log(&ing->ctx->log, SHOAL_LOG_WARN, "ticket publishing after commit: %s", why.msg);
  if (hub_member_notice_publish(ing->ctx, shoal_now_ms(), &why) != SHOAL_OK)
    shoal_log(&ing->ctx->log, SHOAL_LOG_WARN, "member code notices after commit: %s", why.msg);
  return SHOAL_OK;
fail:
  hub_ingestor_abort(ing);
  return rc;
}
