/* policy.h - the policy document (SPEC 4.3): top-level shape, scope names,
 * and the one validation used by `shoal-hub publish`, POST /api/v1/policies
 * and `shoal-agent policy import`. Each section is checked by the module
 * that owns it (pricing, forms, tickets, settlement). */
#ifndef SHOAL_POLICY_H
#define SHOAL_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/scope.h"

/* Validates a whole policy document given as JSON text: an object, a valid
 * "scope", only known top-level keys with the right JSON types, then every
 * section through its owner's validator. Copies the scope into scope_out
 * (SHOAL_SCOPE_MAX bytes) on success. Failures are SHOAL_EJSON/SHOAL_EINPUT
 * with a message naming the problem (exit 3). */
shoal_err shoal_policy_validate(const char *doc, size_t len, char *scope_out, shoal_diag *diag);

/* The same over an already-parsed document. */
shoal_err shoal_policy_validate_json(const cJSON *doc, char *scope_out, shoal_diag *diag);

#endif
