/* scope.c - policy scope names and a store's scope chain (see scope.h). */
#include "shoal/scope.h"

#include <stdio.h>
#include <string.h>

#include "shoal/util.h"

/* Prefix of each kind's scope string; global has no id. */
static const char *const prefixes[SHOAL_SCOPE_CHAIN_LEN] = {"global", "region/", "store/"};

_Static_assert(SHOAL_SCOPE_MAX > sizeof "region/" + SHOAL_ID_MAX,
               "SHOAL_SCOPE_MAX holds the longest scope");

shoal_err shoal_scope_parse(const char *scope, enum shoal_scope_kind *kind, const char **id_out,
                            shoal_diag *diag) {
  if (strcmp(scope, prefixes[SHOAL_SCOPE_GLOBAL]) == 0) {
    *kind = SHOAL_SCOPE_GLOBAL;
    *id_out = "";
    return SHOAL_OK;
  }
  for (int k = SHOAL_SCOPE_REGION; k <= SHOAL_SCOPE_STORE; k++) {
    size_t plen = strlen(prefixes[k]);
    if (strncmp(scope, prefixes[k], plen) == 0 && shoal_id_valid(scope + plen)) {
      *kind = (enum shoal_scope_kind)k;
      *id_out = scope + plen;
      return SHOAL_OK;
    }
  }
  return shoal_fail(diag, SHOAL_EINPUT,
                    "bad scope \"%s\" (want \"global\", \"region/<id>\" or \"store/<id>\")", scope);
}

shoal_err shoal_scope_format(char *buf, size_t bufsz, enum shoal_scope_kind kind, const char *id,
                             shoal_diag *diag) {
  int n;
  if (bufsz)
    buf[0] = '\0';
  if (kind == SHOAL_SCOPE_GLOBAL)
    n = snprintf(buf, bufsz, "%s", prefixes[kind]);
  else if ((kind == SHOAL_SCOPE_REGION || kind == SHOAL_SCOPE_STORE) && shoal_id_valid(id))
    n = snprintf(buf, bufsz, "%s%s", prefixes[kind], id);
  else
    return shoal_fail(diag, SHOAL_EINPUT, "bad %s id \"%s\"",
                      kind == SHOAL_SCOPE_REGION ? "region" : "store", id ? id : "");
  if (n < 0 || (size_t)n >= bufsz) {
    if (bufsz)
      buf[0] = '\0';
    return shoal_fail(diag, SHOAL_ELIMIT, "a scope does not fit in %zu bytes", bufsz);
  }
  return SHOAL_OK;
}

shoal_err shoal_scope_chain(struct shoal_scope_chain *out, const char *region, const char *store,
                            shoal_diag *diag) {
  const char *ids[SHOAL_SCOPE_CHAIN_LEN] = {NULL, region, store};
  memset(out, 0, sizeof *out);
  for (int k = 0; k < SHOAL_SCOPE_CHAIN_LEN; k++) {
    if (k != SHOAL_SCOPE_GLOBAL && (!ids[k] || !*ids[k]))
      continue;
    shoal_err rc = shoal_scope_format(out->scope[k], sizeof out->scope[k], (enum shoal_scope_kind)k,
                                      ids[k], diag);
    if (rc != SHOAL_OK) {
      memset(out, 0, sizeof *out);
      return rc;
    }
  }
  return SHOAL_OK;
}

bool shoal_scope_chain_has(const struct shoal_scope_chain *c, enum shoal_scope_kind kind) {
  return (unsigned)kind < SHOAL_SCOPE_CHAIN_LEN && c->scope[kind][0] != '\0';
}

int shoal_scope_chain_find(const struct shoal_scope_chain *c, const char *scope) {
  if (!scope || !*scope)
    return -1;
  for (int k = 0; k < SHOAL_SCOPE_CHAIN_LEN; k++)
    if (strcmp(c->scope[k], scope) == 0)
      return k;
  return -1;
}

const char *shoal_scope_kind_name(enum shoal_scope_kind kind) {
  switch (kind) {
  case SHOAL_SCOPE_GLOBAL:
    return "global";
  case SHOAL_SCOPE_REGION:
    return "region";
  case SHOAL_SCOPE_STORE:
    return "store";
  }
  return "?";
}
