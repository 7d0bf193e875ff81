/* policy.c - policy document top-level validation; sections are delegated
 * to their owning modules so the hub's publish and the agent agree. */
#include "shoal/policy.h"

#include <string.h>

#include "shoal/checkout.h"
#include "shoal/forms.h"
#include "shoal/jsonx.h"
#include "shoal/pricing.h"
#include "shoal/settle.h"
#include "shoal/shoal_limits.h"
#include "shoal/ticket.h"
#include "shoal/util.h"

/* Top-level keys and the JSON type each must have. */
static const struct {
  const char *key;
  int type; /* cJSON type flag */
} top_keys[] = {
    {"scope", cJSON_String},     {"currency", cJSON_String},   {"items", cJSON_Array},
    {"rules", cJSON_Array},      {"disable", cJSON_Array},     {"round", cJSON_Object},
    {"forms", cJSON_Array},      {"routing", cJSON_Array},     {"sla", cJSON_Object},
    {"escalation", cJSON_Array}, {"rates", cJSON_Object},      {"settlement", cJSON_Object},
    {"payments", cJSON_Array},   {"utc_offset", cJSON_String}, {"loyalty", cJSON_Object},
};

static const char *type_name(int t) {
  switch (t) {
  case cJSON_String:
    return "a string";
  case cJSON_Array:
    return "an array";
  case cJSON_Object:
    return "an object";
  }
  return "?";
}

shoal_err shoal_policy_validate_json(const cJSON *doc, char *scope_out, shoal_diag *diag) {
  shoal_err rc;
  if (!cJSON_IsObject(doc))
    return shoal_fail(diag, SHOAL_EINPUT, "a policy document must be a JSON object");
  const cJSON *k;
  cJSON_ArrayForEach(k, doc) {
    size_t i;
    for (i = 0; i < sizeof top_keys / sizeof top_keys[0]; i++)
      if (strcmp(top_keys[i].key, k->string) == 0)
        break;
    if (i == sizeof top_keys / sizeof top_keys[0])
      return shoal_fail(diag, SHOAL_EINPUT, "policy: unknown key \"%s\"", k->string);
    if ((k->type & 0xFF) != top_keys[i].type)
      return shoal_fail(diag, SHOAL_EINPUT, "policy: \"%s\" must be %s", k->string,
                        type_name(top_keys[i].type));
  }
  const char *scope = NULL;
  if ((rc = shoal_json_get_str(doc, "scope", true, &scope, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "policy");
    return rc;
  }
  enum shoal_scope_kind kind;
  const char *id;
  if ((rc = shoal_scope_parse(scope, &kind, &id, diag)) != SHOAL_OK)
    return rc;
  if ((rc = shoal_pricing_validate_doc(doc, diag)) != SHOAL_OK ||
      (rc = shoal_forms_validate_doc(doc, diag)) != SHOAL_OK ||
      (rc = shoal_ticket_validate_doc(doc, diag)) != SHOAL_OK ||
      (rc = shoal_settle_validate_doc(doc, diag)) != SHOAL_OK ||
      (rc = shoal_checkout_validate_doc(doc, diag)) != SHOAL_OK)
    return rc;
  if (scope_out)
    shoal_strlcpy(scope_out, scope, SHOAL_SCOPE_MAX);
  return SHOAL_OK;
}

shoal_err shoal_policy_validate(const char *doc, size_t len, char *scope_out, shoal_diag *diag) {
  if (len > SHOAL_POLICY_DOC_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "policy document of %zu bytes is over the limit of %d",
                      len, SHOAL_POLICY_DOC_MAX_BYTES);
  cJSON *root = NULL;
  shoal_err rc = shoal_json_parse(doc, len, &root, diag);
  if (rc != SHOAL_OK) {
    shoal_diag_prefix(diag, "policy");
    return rc;
  }
  rc = shoal_policy_validate_json(root, scope_out, diag);
  cJSON_Delete(root);
  return rc;
}
