/* hub_ingestor.h - the exactly-once ingest engine (SPEC 4.2), independent of
 * MQTT so it can be driven by tests: messages from the up and presence
 * topics are applied in batches, one SQLite transaction per batch; each
 * event identity (device, epoch, seq) is stored at most once, in the same
 * transaction as its business record; acks {"epoch", "upto"} leave through
 * a callback only after the batch committed. Bad input never stops it. */
#ifndef HUB_INGESTOR_H
#define HUB_INGESTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub_ctx.h"
#include "shoal/wire.h"

#define HUB_INGEST_BATCH_MAX    2000 /* messages per transaction, at most */
#define HUB_INGEST_BATCH_MS     50   /* oldest message in a batch waits at most this */
#define HUB_INGEST_POISON_TRIES 3    /* failures of one event before it is dead-lettered */
/* Dead letters are evidence, not storage: each keeps at most an excerpt of
 * its payload (plus the payload's size and sha256), and a device keeps at
 * most HUB_DEAD_LETTERS_PER_DEVICE rows; past that they are only counted
 * (dead_letters_dropped, shoal_dead_letters_dropped_total), so one device
 * cannot fill the hub's disk and stop ingest for all. */
#define HUB_DEAD_EXCERPT_BYTES      1024
#define HUB_DEAD_LETTERS_PER_DEVICE 1000

struct hub_ingestor;

/* A per-type event handler, listed in the event-handler table of
 * hub_ingestor.c and defined in its type's own file (hub_forms.c,
 * hub_tickets.c, hub_returns.c). It runs for each new event of its type,
 * inside a savepoint of the same transaction as the dedupe record; ev is
 * borrowed. Returning SHOAL_EINPUT/SHOAL_EJSON/SHOAL_ENOTFOUND/SHOAL_ELIMIT
 * undoes its writes and sends the event to the dead-letter table (with diag
 * as the reason), still acknowledged; any other error rolls the batch back
 * and it is retried. */
typedef shoal_err (*hub_event_fn)(struct hub_ctx *ctx, const struct shoal_event *ev,
                                  shoal_diag *diag);

/* Sends one ack (QoS 1, not retained) on topic; called after commit only. */
typedef shoal_err (*hub_ack_fn)(void *user, const char *topic, const char *payload, size_t len,
                                shoal_diag *diag);

struct hub_ingestor_stats {
  uint64_t received;     /* up messages handled */
  uint64_t stored;       /* new identities committed */
  uint64_t duplicates;   /* redelivered identities (acked again, nothing changed) */
  uint64_t dead_letters; /* dead-lettered messages committed */
  uint64_t batches;      /* transactions committed */
  uint64_t rollbacks;    /* batches rolled back (their events are resent by agents) */
  uint64_t acks;         /* acks sent */
};

/* Creates an engine over ctx (borrowed; ctx->db must stay open).
 * batch_max: messages per transaction (0: HUB_INGEST_BATCH_MAX). */
shoal_err hub_ingestor_new(struct hub_ctx *ctx, int batch_max, hub_ack_fn ack, void *ack_user,
                           struct hub_ingestor **out, shoal_diag *diag);

/* Frees; an open batch is rolled back (nothing acked). NULL is a no-op. */
void hub_ingestor_free(struct hub_ingestor *ing);

/* Applies one message received on topic (up or presence; others are
 * ignored) to the open batch, opening one if needed; commits the batch when
 * it is full. retained: the broker replayed a retained message. Bad input
 * is dead-lettered and returns SHOAL_OK. Returns an error only when the
 * database failed: the batch was then rolled back and no ack sent for it
 * (the agents resend). */
shoal_err hub_ingestor_handle(struct hub_ingestor *ing, const char *topic, const void *payload,
                              size_t len, bool retained, shoal_diag *diag);

/* True when a batch is open and its first message is HUB_INGEST_BATCH_MS old. */
bool hub_ingestor_due(const struct hub_ingestor *ing);

/* True when a batch is open (messages applied, not yet committed). */
bool hub_ingestor_open(const struct hub_ingestor *ing);

/* Commits the open batch (if any), then sends its acks and runs the
 * after-commit hooks. On a commit failure the batch is rolled back. */
shoal_err hub_ingestor_flush(struct hub_ingestor *ing, shoal_diag *diag);

/* Rolls the open batch back (no acks). */
void hub_ingestor_abort(struct hub_ingestor *ing);

/* Counters since creation. */
void hub_ingestor_stats(const struct hub_ingestor *ing, struct hub_ingestor_stats *out);

#endif
