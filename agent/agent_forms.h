/* agent_forms.h - the agent's side of forms (SPEC 6): the policy documents
 * in effect for this device, and recording a valid submission durably with
 * its outbox event and the tickets its on_submit actions open. */
#ifndef AGENT_FORMS_H
#define AGENT_FORMS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent_ctx.h"
#include "shoal/forms.h"
#include "shoal/scope.h"

#define AGENT_FORM_SUBMISSION_ID_MAX 96

/* Loads the cached policy documents in effect at now_ms for this device's
 * chain: docs[0] global, docs[1] region, docs[2] store (NULL where none).
 * scopes receives the chain's scope names. Caller frees with
 * agent_forms_chain_free. */
shoal_err agent_forms_chain(struct agent_ctx *ctx, int64_t now_ms, cJSON *docs[3],
                            struct shoal_scope_chain *scopes, shoal_diag *diag);

/* Deletes the documents agent_forms_chain loaded. */
void agent_forms_chain_free(cJSON *docs[3]);

/* Records a submission r (valid) of form f (from policy scope `scope`) in
 * ONE transaction: the form definition it used, the submission with its
 * cleaned data, the tickets its on_submit entries open (a ticket that
 * cannot be opened is recorded as requested, with the reason, and the
 * submission still succeeds), and its outbox event of type "form". On
 * success copies the submission id into out_id (AGENT_FORM_SUBMISSION_ID_MAX
 * bytes) and sets *out_tickets to a new array of the opened ticket ids
 * (caller deletes). */
shoal_err agent_forms_record(struct agent_ctx *ctx, const shoal_form *f, const char *scope,
                             const struct shoal_form_result *r, char *out_id, cJSON **out_tickets,
                             shoal_diag *diag);

/* Finds form id in the chain docs[3] (most specific scope wins) and
 * compiles it; *scope_idx (may be NULL) names its scope's index.
 * SHOAL_ENOTFOUND when no scope has it. Caller frees *out. */
shoal_err agent_forms_find(cJSON *const docs[3], const char *id, shoal_form **out,
                           size_t *scope_idx, shoal_diag *diag);

/* The forms in effect as `form list` prints them: [{"id", "version",
 * "title", "scope"}] (*out new array, caller deletes). */
shoal_err agent_forms_list_json(cJSON *const docs[3], const struct shoal_scope_chain *scopes,
                                cJSON **out, shoal_diag *diag);

/* One form as `form show` prints it: {"scope", "form": {...}}. */
shoal_err agent_forms_show_json(cJSON *const docs[3], const struct shoal_scope_chain *scopes,
                                const char *id, cJSON **out, shoal_diag *diag);

#endif
