/* hub_rollout.h - staged rollouts of a policy version (SPEC 14; the wire is
 * in docs/protocol.md "Staged rollout").
 *
 * A rollout publishes one signed version per stage reached. Each stage
 * version's envelope carries "rollout" {id, stable_version, percent,
 * stores, stable_doc}: devices of targeted stores apply the new document,
 * the others take the stable document under the same version. Versions
 * only grow: advancing past the last stage publishes the new document as a
 * plain version (the scope's new stable version), and an abort publishes
 * the stable document as a plain newer version, so no agent ever sees a
 * lower version (no rollback alarm), every byte is signed, and a device
 * that connects mid-rollout gets the retained newest envelope and lands
 * in the right state for its store.
 *
 * Stages are cumulative: stage k targets the union of the stores lists of
 * stages 1..k and the largest percent among them (stores whose
 * shoal_rollout_bucket is below it). */
#ifndef HUB_ROLLOUT_H
#define HUB_ROLLOUT_H

#include <stdint.h>

#include "store.h"
#include <cjson/cJSON.h>

#include "shoal/config.h"
#include "shoal/err.h"
#include "shoal/log.h"
#include "shoal/shoal_limits.h"

#define HUB_ROLLOUT_STAGES_MAX 20
#define HUB_ROLLOUT_LIST_MAX   200

/* Copies into id_out (SHOAL_ID_MAX + 1 bytes) the id of the running or
 * paused rollout of scope, or "" when there is none. */
shoal_err hub_rollout_active(hub_store *db, const char *scope, char *id_out, shoal_diag *diag);

/* Creates a rollout from a request object {"scope", "doc", "stages",
 * "gate"?, "id"?} and publishes its first stage (records the version; the
 * running hub sends it). by is the user. *out: the rollout as
 * hub_rollout_get shows it. SHOAL_EINPUT naming the problem; SHOAL_ESTATE
 * when the scope already has a rollout in progress or a scheduled version. */
shoal_err hub_rollout_create(hub_store *db, const struct shoal_hub_config *cfg, const cJSON *req,
                             const char *by, int64_t now_ms, cJSON **out, shoal_diag *diag);

/* "advance", "pause" or "abort" (SPEC 14). SHOAL_ENOTFOUND for an unknown
 * id, SHOAL_ESTATE when the rollout has ended. *out as hub_rollout_get. */
shoal_err hub_rollout_act(hub_store *db, const struct shoal_hub_config *cfg, const char *id,
                          const char *verb, const char *by, int64_t now_ms, cJSON **out,
                          shoal_diag *diag);

/* {"id", "scope", "state", "stage", "stages": [{stores|percent, "version",
 * "targeted", "applied"}], "targeted", "applied" (current stage),
 * "stable_version", "final_version", "gate", "created_at", "created_by",
 * "stage_since"}. Counts come from the versions devices report in hello. */
shoal_err hub_rollout_get(hub_store *db, const char *id, cJSON **out, shoal_diag *diag);

/* Every rollout, newest first (at most HUB_ROLLOUT_LIST_MAX), as hub_rollout_get. */
shoal_err hub_rollout_list(hub_store *db, cJSON **out, shoal_diag *diag);

/* The periodic duty of `shoal-hub run`: advances each running rollout
 * whose gate holds (share of targeted devices reporting the stage's
 * version >= min_applied, and wait_s passed since the stage began). */
shoal_err hub_rollouts_tick(hub_store *db, const struct shoal_hub_config *cfg,
                            const struct shoal_logger *log, int64_t now_ms, shoal_diag *diag);

/* Route handlers (hub_handler, hub_http_int.h), listed in hub_http.c's route
 * table. */
struct hub_call;
/* GET /api/v1/rollouts */
shoal_err hub_h_rollouts_list(struct hub_call *call, cJSON **out, shoal_diag *diag);
/* POST /api/v1/rollouts */
shoal_err hub_h_rollouts_create(struct hub_call *call, cJSON **out, shoal_diag *diag);
/* GET /api/v1/rollouts/{id} */
shoal_err hub_h_rollout_get(struct hub_call *call, cJSON **out, shoal_diag *diag);
/* POST /api/v1/rollouts/{id}/{action} */
shoal_err hub_h_rollout_action(struct hub_call *call, cJSON **out, shoal_diag *diag);

#endif
