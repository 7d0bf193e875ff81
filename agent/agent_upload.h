/* agent_upload.h - the photo uploader of `shoal-agent run` (SPEC 15). Its
 * own thread and its own database handle, so an upload never blocks the
 * MQTT loop or the sales outbox: it PUTs each photo of the media store to
 * {hub_url}/api/v1/media/{sha256} with libcurl, streaming from the file,
 * once the hub has acknowledged the submission naming it; https uses the
 * device's TLS identity (mqtt.tls). A failed or interrupted upload is
 * retried with backoff; after a restart it starts again from the first
 * byte (the hub keeps nothing of a truncated body). The hub's 201, or 409
 * (already held), ends it: the local copy is deleted. */
#ifndef AGENT_UPLOAD_H
#define AGENT_UPLOAD_H

#include "agent_ctx.h"

struct agent_uploader;

/* Starts the uploader if the config names hub_url and the profile has the
 * forms module (*out = NULL otherwise). ctx's config must outlive it. */
shoal_err agent_uploader_start(const struct agent_ctx *ctx, struct agent_uploader **out,
                               shoal_diag *diag);

/* Wakes the uploader (a new photo may be due: an ack arrived). */
void agent_uploader_kick(struct agent_uploader *u);

/* Stops (an upload in flight is aborted, to be retried after restart) and
 * frees; NULL is a no-op. */
void agent_uploader_stop(struct agent_uploader *u);

#endif
