/* expr.h - the expression language of forms and routing (SPEC 6): compile a
 * text once into an AST, then evaluate it any number of times against an
 * environment (a cJSON object; names are looked up by dotted path, missing =
 * null). Numbers are exact decimals, never floating point; evaluation never
 * fails on data (type mismatches, division by zero or overflow give null),
 * only on resource limits. A compiled expression is immutable: several
 * threads may evaluate it at once. */
#ifndef SHOAL_EXPR_H
#define SHOAL_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"

typedef struct shoal_expr shoal_expr;

/* Compiles text (NUL-terminated, at most SHOAL_EXPR_MAX_BYTES). On success
 * *out is a new expression the caller frees with shoal_expr_free. A syntax
 * error is SHOAL_EINPUT with diag "at column N: expected ..." (1-based
 * column, counted in characters). */
shoal_err shoal_expr_compile(const char *text, shoal_expr **out, shoal_diag *diag);

/* Frees an expression; NULL is a no-op. */
void shoal_expr_free(shoal_expr *e);

/* The source text the expression was compiled from (owned by e). */
const char *shoal_expr_text(const shoal_expr *e);

/* The distinct names the expression references, in order of first
 * appearance ("customer.tier" as written, dots included). Strings owned by
 * e. Use it to check that a form's expression names only earlier fields. */
size_t shoal_expr_name_count(const shoal_expr *e);
const char *shoal_expr_name_at(const shoal_expr *e, size_t i);

/* Evaluates e against env (a cJSON object, borrowed; NULL = empty).
 * Name lookup: a key equal to the whole name wins, else the name is split
 * at dots and followed through nested objects; missing = null.
 * Environment values: null, bool, string, array (a list), object, number
 * (an integer double is exact; other doubles go through their shortest
 * round-trip text) and cJSON raw nodes holding decimal text ("12.50"),
 * which are read exactly - use raw nodes for decimal form fields.
 * On success *out is a new cJSON tree the caller deletes: null, true/false,
 * a string, an array, a copy of an object, or a number as a RAW node
 * holding exact decimal text (cJSON_IsRaw; e.g. "0.333333").
 * Fails only with SHOAL_ENOMEM or SHOAL_ELIMIT (evaluation memory bound). */
shoal_err shoal_expr_eval(const shoal_expr *e, const cJSON *env, cJSON **out, shoal_diag *diag);

/* Evaluates e and reduces the result to its truth (see shoal_expr_truthy):
 * what `if`, `visible_if` and `required` use. *out set on success. */
shoal_err shoal_expr_test(const shoal_expr *e, const cJSON *env, bool *out, shoal_diag *diag);

/* Truth of a value: NULL, null, false, 0, "", [] and {} are false; every
 * other value is true. Raw nodes are read as decimal text (0.00 is false). */
bool shoal_expr_truthy(const cJSON *v);

#endif
