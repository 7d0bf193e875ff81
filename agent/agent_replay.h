/* agent_replay.h - recovery after the hub was restored from an older
 * backup (docs/troubleshooting.md, docs/protocol.md "Restore"). Such a hub
 * acks an upto below the seq this device already had acknowledged (and
 * whose outbox rows it deleted); the daemon then re-sends the missing seqs
 * chunk by chunk, rebuilt from its business records under their original
 * identity, so the hub stores each exactly once and its watermark moves
 * again. */
#ifndef AGENT_REPLAY_H
#define AGENT_REPLAY_H

#include <stdint.h>

#include "agent_ctx.h"
#include "agent_sync.h"

/* Rebuilds the envelopes of seqs from..to (at most SHOAL_OUTBOX_BATCH_MAX of
 * them) of this device's current epoch: sales (body as stored), form
 * submissions, local ticket events (envelope as stored); a seq without a
 * business record (a hello) becomes a hello with "replayed": true. On
 * success *b owns its strings (agent_sync_batch_clear). */
shoal_err agent_replay_fetch(struct agent_ctx *ctx, int64_t from, int64_t to,
                             struct agent_sync_batch *b, shoal_diag *diag);

#endif
