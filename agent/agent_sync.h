/* agent_sync.h - the database side of the agent's sync with the hub (SPEC
 * 4.2, 4.3): accepting signed policy envelopes, applying the hub's
 * cumulative acks to the outbox, reading outbox batches and the hello
 * event. No MQTT here (agent_run.c drives the session), so every rule can
 * be tested on a database alone. Invariant: an outbox row is deleted only
 * inside the transaction that records an ack covering its seq. */
#ifndef AGENT_SYNC_H
#define AGENT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_ctx.h"
#include "agent_trust.h"
#include "shoal/shoal_limits.h"

/* What became of one policy message. */
enum agent_policy_outcome {
  AGENT_POLICY_ACCEPTED, /* stored (in effect now or at its effective_at) */
  AGENT_POLICY_SAME,     /* the version already held: ignored (retained redelivery) */
  AGENT_POLICY_EMPTY,    /* empty payload (a cleared retained topic): ignored */
  AGENT_POLICY_REJECTED, /* refused, recorded in policy_rejections; diag says why */
};

/* Handles one message from a policy topic whose scope is topic_scope
 * ("global", "region/R", "store/S"). Verifies the signature over the exact
 * bytes against trust, then scope, rollback and expiry (shoal_policy_
 * envelope_check against the newest issued_at accepted), strips the
 * document to the sections the profile's modules use and stores it with
 * the envelope as received. Rejections are recorded and counted; what the
 * agent had stays. Returns SHOAL_OK with *outcome (diag holds the reason
 * for a rejection), or a database error. */
shoal_err agent_sync_on_policy(struct agent_ctx *ctx, const struct agent_trust *trust,
                               const char *topic_scope, const void *payload, size_t len,
                               enum agent_policy_outcome *outcome, shoal_diag *diag);

/* Keeps only the policy document sections the modules (mask of enum
 * shoal_module) use, plus "scope". *out is heap JSON text (caller frees).
 * SHOAL_EJSON if doc is not a JSON object. */
shoal_err agent_sync_strip_doc(const char *doc, unsigned modules, char **out, shoal_diag *diag);

/* Applies one ack message {"epoch": E, "upto": N}: an ack for another epoch
 * is ignored; otherwise the outbox rows with seq <= N are deleted and
 * sync_state records acked_upto and last_ack in one transaction. upto is
 * capped at the last seq issued. *acked_upto (in: what the caller knew)
 * is set to the acknowledged seq after the call; *advanced tells whether
 * it moved. SHOAL_EINPUT for a malformed ack (caller logs, never fatal). */
shoal_err agent_sync_on_ack(struct agent_ctx *ctx, const void *payload, size_t len,
                            int64_t *acked_upto, bool *advanced, shoal_diag *diag);

/* The two halves of agent_sync_on_ack, so a daemon can apply many acks
 * received in one network turn with one transaction. parse: validates the
 * message; *ours is false for another epoch. apply: as on_ack. */
shoal_err agent_sync_parse_ack(struct agent_ctx *ctx, const void *payload, size_t len, bool *ours,
                               int64_t *upto, shoal_diag *diag);
shoal_err agent_sync_apply_ack(struct agent_ctx *ctx, int64_t upto, int64_t *acked_upto,
                               bool *advanced, shoal_diag *diag);

/* One batch of outbox rows to send, in seq order. */
struct agent_sync_batch {
  size_t n;
  int64_t seq[SHOAL_OUTBOX_BATCH_MAX];
  char *envelope[SHOAL_OUTBOX_BATCH_MAX]; /* heap, exactly as stored */
};

/* Reads up to limit (<= SHOAL_OUTBOX_BATCH_MAX) rows with seq > after_seq.
 * On success *b owns its strings (agent_sync_batch_clear). */
shoal_err agent_sync_fetch(struct agent_ctx *ctx, int64_t after_seq, int limit,
                           struct agent_sync_batch *b, shoal_diag *diag);
void agent_sync_batch_clear(struct agent_sync_batch *b);

/* The acked seq recorded in sync_state. */
shoal_err agent_sync_acked(struct agent_ctx *ctx, int64_t *out, shoal_diag *diag);

/* Records the daemon's state for `status`: connected flag and daemon pid
 * (0: no daemon). connect_now also stamps last_connect_ms. */
shoal_err agent_sync_set_state(struct agent_ctx *ctx, bool connected, long pid, bool connect_now,
                               shoal_diag *diag);

/* Appends the hello event (profile, modules, applied policy versions,
 * outbox depth, agent version) to the outbox in its own transaction. */
shoal_err agent_sync_hello(struct agent_ctx *ctx, shoal_diag *diag);

/* Newest issued_at (ms) among accepted policies, 0 if none: the floor of
 * "now" for expiry (a clock set back cannot revive an expired policy). */
shoal_err agent_sync_newest_issued(struct agent_ctx *ctx, int64_t *out, shoal_diag *diag);

#endif
