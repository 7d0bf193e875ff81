/* forms.h - the form engine (SPEC 6), used unchanged by agent and hub: the
 * validation of a policy document's `forms` section, forms compiled once
 * per version (expressions parsed, patterns compiled), the scope-chain
 * lookup of a form, submission validation (errors in field order, then
 * unknown keys in submitted order; cleaned data in field order) and the
 * on_submit actions a valid submission triggers. */
#ifndef SHOAL_FORMS_H
#define SHOAL_FORMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"

/* Validates this module's sections of a policy document (SPEC 4.3);
 * called by shoal_policy_validate_json. Every form must compile (see
 * shoal_form_compile) and form ids must be unique within the document. */
shoal_err shoal_forms_validate_doc(const cJSON *doc, shoal_diag *diag);

typedef struct shoal_form shoal_form;

/* Validates one form definition and compiles it: field ids valid and
 * unique, known types and keys, expressions that parse and name only
 * earlier fields (on_submit `if`: any field), patterns that compile as
 * POSIX EREs, well-shaped choices, min/max, min_len/max_len and defaults.
 * def is copied; on success *out is owned by the caller (shoal_form_free).
 * Errors are SHOAL_EINPUT naming the form, the field and the problem. */
shoal_err shoal_form_compile(const cJSON *def, shoal_form **out, shoal_diag *diag);

/* Frees a compiled form; NULL is a no-op. */
void shoal_form_free(shoal_form *f);

/* Accessors; strings and the definition are owned by f. */
const char *shoal_form_id(const shoal_form *f);
int64_t shoal_form_version(const shoal_form *f);
const cJSON *shoal_form_def(const shoal_form *f);

/* Finds form id in a scope chain: docs[0..n) ordered from least to most
 * specific (global, region, store; NULL entries allowed). The most
 * specific document holding a form with that id wins; with version > 0
 * only a form with that id AND version counts (the hub re-validating an
 * older submission). Returns the definition (borrowed from docs) and the
 * index of its document in *out_index (may be NULL), or NULL if none. */
const cJSON *shoal_forms_find(const cJSON *const *docs, size_t n, const char *id, int64_t version,
                              size_t *out_index);

/* The outcome of validating one submission. */
struct shoal_form_result {
  bool valid;
  cJSON *errors; /* [{"field", "code"}] */
  cJSON *data;   /* cleaned data, in field order */
  cJSON *env;    /* the values expressions saw: valid fields only, decimals as raw numbers */
};

/* Validates data (an object; numbers may be plain cJSON numbers or raw
 * nodes holding their exact source text, see shoal_forms_data_parse)
 * against f per SPEC 6 steps 1-5. On success *out holds new trees the
 * caller releases with shoal_form_result_cleanup; an invalid submission is
 * still SHOAL_OK with out->valid false. Fails on a non-object (EINPUT) or
 * on resource limits. */
shoal_err shoal_form_validate(const shoal_form *f, const cJSON *data, struct shoal_form_result *out,
                              shoal_diag *diag);

/* Deletes the trees a result holds; safe on a zeroed result. */
void shoal_form_result_cleanup(struct shoal_form_result *r);

/* {"valid", "errors", "data"} as a new tree (caller deletes); NULL on OOM. */
cJSON *shoal_form_result_json(const struct shoal_form_result *r);

/* The tickets a valid submission opens: a new array (caller deletes) of
 * {"category", "priority", "title"}, one per on_submit entry whose `if` is
 * true against r->env (an entry without `if` always matches), in order. */
shoal_err shoal_form_on_submit(const shoal_form *f, const struct shoal_form_result *r, cJSON **out,
                               shoal_diag *diag);

/* Parses submitted form data (a JSON object, at most
 * SHOAL_FORM_DATA_MAX_BYTES). Top-level numbers become raw nodes holding
 * their exact source text, so 3.0 is not an int and 12345678901234567890
 * is compared exactly. Duplicate keys are refused. *out: caller deletes. */
shoal_err shoal_forms_data_parse(const char *text, size_t len, cJSON **out, shoal_diag *diag);

/* True for a v2 photo value (SPEC 15): exactly {"sha256": 64 lower-case hex,
 * "bytes": 1..SHOAL_MEDIA_MAX_BYTES, "type": "type/subtype"}. */
bool shoal_forms_photo_valid(const cJSON *v);

/* Calls fn for each photo field of f whose value in data (cleaned data) is
 * a v2 photo, in field order; stops at and returns the first failure. */
typedef shoal_err (*shoal_form_photo_fn)(const char *field, const cJSON *photo, void *user,
                                         shoal_diag *diag);
shoal_err shoal_form_each_photo(const shoal_form *f, const cJSON *data, shoal_form_photo_fn fn,
                                void *user, shoal_diag *diag);

#endif
