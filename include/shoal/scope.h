/* scope.h - the policy scope vocabulary (SPEC 4.3): "global", "region/<id>",
 * "store/<id>", and a device's chain global -> region/R -> store/S. Every
 * scope string Shoal builds or reads goes through this module, so there is
 * one width (SHOAL_SCOPE_MAX) and one identifier check (shoal_id_valid). */
#ifndef SHOAL_SCOPE_H
#define SHOAL_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "shoal/err.h"
#include "shoal/shoal_limits.h"

/* A scope's kind; the value is also its rank in a chain (broadest first). */
enum shoal_scope_kind { SHOAL_SCOPE_GLOBAL, SHOAL_SCOPE_REGION, SHOAL_SCOPE_STORE };

#define SHOAL_SCOPE_CHAIN_LEN 3 /* global, region/R, store/S */

/* The scopes that apply to one store, indexed by enum shoal_scope_kind.
 * A slot the chain lacks (no region or no store given) is "". */
struct shoal_scope_chain {
  char scope[SHOAL_SCOPE_CHAIN_LEN][SHOAL_SCOPE_MAX];
};

/* Parses "global", "region/<id>" or "store/<id>". *id_out points into scope
 * (or "" for global). Anything else, including an id that fails
 * shoal_id_valid (too long, bad characters), is SHOAL_EINPUT naming it. */
shoal_err shoal_scope_parse(const char *scope, enum shoal_scope_kind *kind, const char **id_out,
                            shoal_diag *diag);

/* Writes the scope of kind and id ("global" ignores id) into buf.
 * SHOAL_EINPUT for an invalid id, SHOAL_ELIMIT if bufsz is too small. */
shoal_err shoal_scope_format(char *buf, size_t bufsz, enum shoal_scope_kind kind, const char *id,
                             shoal_diag *diag);

/* Builds the chain of a store in region: "global", "region/<region>",
 * "store/<store>". A NULL or empty region/store leaves its slot "" (the
 * chain lacks it); an invalid id is SHOAL_EINPUT and the chain is all "". */
shoal_err shoal_scope_chain(struct shoal_scope_chain *out, const char *region, const char *store,
                            shoal_diag *diag);

/* True if the chain has a scope of kind. */
bool shoal_scope_chain_has(const struct shoal_scope_chain *c, enum shoal_scope_kind kind);

/* The slot (enum shoal_scope_kind) holding scope, or -1 if the chain lacks it. */
int shoal_scope_chain_find(const struct shoal_scope_chain *c, const char *scope);

/* "global", "region" or "store". */
const char *shoal_scope_kind_name(enum shoal_scope_kind kind);

#endif
