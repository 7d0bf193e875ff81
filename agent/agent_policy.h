/* agent_policy.h - the agent's cache of accepted policy versions per scope,
 * and which version is in effect now (effective_at may lie in the future;
 * a stored version takes effect at its time, also offline). */
#ifndef AGENT_POLICY_H
#define AGENT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent_ctx.h"
#include "shoal/scope.h"

#define AGENT_POLICY_NO_TIME INT64_MIN /* effective/expires not set */

struct agent_policy_row {
  const char *scope;
  int64_t version;
  const char *issued_at; /* may be NULL */
  int64_t issued_ms;     /* AGENT_POLICY_NO_TIME if unknown */
  int64_t effective_ms;  /* AGENT_POLICY_NO_TIME: effective on receipt */
  int64_t expires_ms;    /* AGENT_POLICY_NO_TIME: never */
  const char *doc;       /* policy document JSON */
  const char *envelope;  /* signed envelope as received, or NULL */
  const char *source;    /* "hub" or "import" */
};

/* Stores an accepted version (no checks here: the caller verified it). */
shoal_err agent_policy_store(struct agent_ctx *ctx, const struct agent_policy_row *row,
                             shoal_diag *diag);

/* Highest stored version for scope (0 if none). */
shoal_err agent_policy_latest(struct agent_ctx *ctx, const char *scope, int64_t *out,
                              shoal_diag *diag);

/* The scope chain of this device: "global", "region/R", "store/S" (the
 * config's region and store are valid ids, so every slot is filled). */
void agent_policy_scopes(const struct agent_ctx *ctx, struct shoal_scope_chain *out);

/* For each scope of the chain, the document in effect at now_ms: the
 * highest version whose effective time has come. docs[i] are heap strings
 * (NULL where a scope has none; free each), versions[i] 0 where none. */
shoal_err agent_policy_effective(struct agent_ctx *ctx, int64_t now_ms, char *docs[3],
                                 int64_t versions[3], shoal_diag *diag);

/* Only the versions agent_policy_effective would give (no documents read):
 * a cheap check whether a compiled model is still current. */
shoal_err agent_policy_effective_versions(struct agent_ctx *ctx, int64_t now_ms,
                                          int64_t versions[3], shoal_diag *diag);

/* Adds "policies" {scope: version in effect}, "pending_policies" (versions
 * stored but not yet effective) and "stale" (scopes whose effective version
 * has expired) to obj. */
shoal_err agent_policy_status(struct agent_ctx *ctx, int64_t now_ms, cJSON *obj, shoal_diag *diag);

#endif
