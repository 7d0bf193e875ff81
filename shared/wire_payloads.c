/* wire_payloads.c - encode and decode of the non-envelope wire payloads
 * (wire_payloads.h). The encoders' output is byte-for-byte what agents and
 * hubs have always sent (tests/unit/test_wire_payloads.c and the
 * integration tests pin it); the decoders keep their error messages, which
 * end up in logs and dead letters. */
#include "shoal/wire_payloads.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "shoal/checkout.h"
#include "shoal/jsonx.h"
#include "shoal/profile.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

#define EPOCH_DIGITS_MAX 20 /* a 64-bit value in decimal */

static bool epoch_valid(const char *epoch) {
  size_t n = epoch ? strlen(epoch) : 0;
  if (n == 0 || n > EPOCH_DIGITS_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (epoch[i] < '0' || epoch[i] > '9')
      return false;
  return true;
}

shoal_err shoal_ack_encode(const char *epoch, int64_t upto, char *buf, size_t bufsz, size_t *len,
                           shoal_diag *diag) {
  if (!epoch_valid(epoch))
    return shoal_fail(diag, SHOAL_EINPUT, "ack: epoch must be 1 to %d decimal digits",
                      EPOCH_DIGITS_MAX);
  if (upto < 0)
    return shoal_fail(diag, SHOAL_EINPUT, "ack: upto must be >= 0");
  int n = snprintf(buf, bufsz, "{\"epoch\":\"%s\",\"upto\":%" PRId64 "}", epoch, upto);
  if (n < 0 || (size_t)n >= bufsz)
    return shoal_fail(diag, SHOAL_ELIMIT, "ack: buffer of %zu bytes is too small", bufsz);
  *len = (size_t)n;
  return SHOAL_OK;
}

shoal_err shoal_ack_decode(const void *payload, size_t len, uint64_t *epoch_out, int64_t *upto_out,
                           shoal_diag *diag) {
  cJSON *obj = NULL;
  shoal_diag why = {{0}};
  shoal_err rc = SHOAL_OK;
  if (len > SHOAL_ACK_MAX_BYTES)
    return shoal_fail(diag, SHOAL_EINPUT, "ack of %zu bytes is over the limit of %d", len,
                      SHOAL_ACK_MAX_BYTES);
  if (shoal_json_parse(payload, len, &obj, &why) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_EINPUT, "malformed ack (%s)", why.msg);
  uint64_t epoch = 0;
  int64_t upto = 0;
  if (!cJSON_IsObject(obj) || shoal_json_get_u64(obj, "epoch", true, &epoch, &why) != SHOAL_OK ||
      shoal_json_get_int(obj, "upto", true, &upto, &why) != SHOAL_OK || upto < 0) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "malformed ack: want {\"epoch\": E, \"upto\": N}");
    goto cleanup;
  }
  *epoch_out = epoch;
  *upto_out = upto;
cleanup:
  cJSON_Delete(obj);
  return rc;
}

shoal_err shoal_presence_encode(const struct shoal_presence *p, char **out, shoal_diag *diag) {
  if (!p->device || !p->store)
    return shoal_fail(diag, SHOAL_EINPUT, "presence: device and store are required");
  cJSON *o = cJSON_CreateObject();
  bool ok = o != NULL;
  ok = ok && cJSON_AddBoolToObject(o, "online", p->online) != NULL;
  ok = ok && cJSON_AddStringToObject(o, "device", p->device) != NULL;
  ok = ok && cJSON_AddStringToObject(o, "store", p->store) != NULL;
  if (p->region)
    ok = ok && cJSON_AddStringToObject(o, "region", p->region) != NULL;
  if (p->profile)
    ok = ok && cJSON_AddStringToObject(o, "profile", p->profile) != NULL;
  if (p->at_ms >= 0) {
    char at[SHOAL_TIME_TEXT_MAX];
    shoal_time_format_utc(p->at_ms, at, sizeof at);
    ok = ok && cJSON_AddStringToObject(o, "at", at) != NULL;
  }
  char *text = ok ? shoal_json_print(o) : NULL;
  cJSON_Delete(o);
  if (!text)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  *out = text;
  return SHOAL_OK;
}

shoal_err shoal_presence_decode(const void *payload, size_t len, bool *online, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  cJSON *root = NULL;
  bool on = false;
  if (len > SHOAL_PRESENCE_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "presence message of %zu bytes is too large", len);
  if ((rc = shoal_json_parse(payload, len, &root, diag)) != SHOAL_OK)
    goto cleanup;
  if (!cJSON_IsObject(root)) {
    rc = shoal_fail(diag, SHOAL_EINPUT, "presence: not a JSON object");
    goto cleanup;
  }
  if ((rc = shoal_json_get_bool(root, "online", true, &on, diag)) != SHOAL_OK)
    goto cleanup;
  *online = on;
cleanup:
  cJSON_Delete(root);
  return rc;
}

/* ---- hello ---- */

shoal_err shoal_hello_encode(const struct shoal_hello *h, cJSON **out, shoal_diag *diag) {
  if (!h->profile || !h->region || !h->agent_version)
    return shoal_fail(diag, SHOAL_EINPUT, "hello: profile, region and agent_version are required");
  static const enum shoal_module all[] = {SHOAL_MOD_PRICING, SHOAL_MOD_SALES, SHOAL_MOD_FORMS,
                                          SHOAL_MOD_TICKETS};
  cJSON *body = cJSON_CreateObject();
  bool ok = body != NULL;
  ok = ok && cJSON_AddStringToObject(body, "profile", h->profile) != NULL;
  ok = ok && cJSON_AddStringToObject(body, "region", h->region) != NULL;
  if (h->replayed) {
    ok = ok && cJSON_AddStringToObject(body, "agent_version", h->agent_version) != NULL;
    ok = ok && cJSON_AddBoolToObject(body, "replayed", true) != NULL;
    goto done;
  }
  cJSON *mods = ok ? cJSON_AddArrayToObject(body, "modules") : NULL;
  ok = ok && mods != NULL;
  for (size_t i = 0; ok && i < sizeof all / sizeof all[0]; i++)
    if (h->modules & all[i])
      ok = shoal_json_push(mods, cJSON_CreateString(shoal_module_name(all[i])));
  ok = ok && cJSON_AddStringToObject(body, "agent_version", h->agent_version) != NULL;
  cJSON *serves = ok ? cJSON_AddArrayToObject(body, "serves") : NULL;
  ok = ok && serves != NULL;
  for (size_t i = 0; ok && i < h->nserves; i++)
    ok = shoal_json_push(serves, cJSON_CreateString(h->serves[i]));
  for (const cJSON *m = h->status ? h->status->child : NULL; ok && m; m = m->next)
    ok = shoal_json_put(body, m->string, cJSON_Duplicate(m, true));
  if (h->outbox_pending >= 0)
    ok = ok && cJSON_AddNumberToObject(body, "outbox_pending", (double)h->outbox_pending) != NULL;
  if (h->acked >= 0)
    ok = ok && cJSON_AddNumberToObject(body, "acked", (double)h->acked) != NULL;
done:
  if (!ok) {
    cJSON_Delete(body);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = body;
  return SHOAL_OK;
}

/* First key of names[] present in obj (aliases of one field), or NULL. */
static const cJSON *get_any(const cJSON *obj, const char *const *names, const char **which) {
  for (; *names; names++) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, *names);
    if (it) {
      *which = *names;
      return it;
    }
  }
  return NULL;
}

#define HELLO_PROFILE_MAX 128 /* bytes of "profile" */
#define HELLO_VERSION_MAX 64  /* bytes of "agent_version" */
#define HELLO_SCOPE_MAX   80  /* bytes of a scope named in "policies" (incl. NUL) */

shoal_err shoal_hello_decode(const cJSON *body, struct shoal_hello_info *out, shoal_diag *diag) {
  static const char *const k_profile[] = {"profile", NULL};
  static const char *const k_region[] = {"region", NULL};
  static const char *const k_version[] = {"agent_version", "version", NULL};
  static const char *const k_depth[] = {"outbox_depth", "outbox_pending", NULL};
  static const char *const k_pol[] = {"policies", "policy_versions", "versions", NULL};
  struct shoal_hello_info h = {.outbox_depth = -1};
  const char *which = NULL;
  const cJSON *it;
  if (!cJSON_IsObject(body))
    return shoal_fail(diag, SHOAL_EINPUT, "hello: the body must be an object");
  if ((it = get_any(body, k_profile, &which))) {
    if (!cJSON_IsString(it) || strlen(it->valuestring) > HELLO_PROFILE_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be a short string", which);
    h.profile = it->valuestring;
  }
  if ((it = get_any(body, k_region, &which))) {
    if (!cJSON_IsString(it) || !shoal_id_valid(it->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"region\" must be an identifier");
    h.region = it->valuestring;
  }
  if ((it = get_any(body, k_version, &which))) {
    if (!cJSON_IsString(it) || strlen(it->valuestring) > HELLO_VERSION_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be a short string", which);
    h.agent_version = it->valuestring;
  }
  if ((it = get_any(body, k_depth, &which))) {
    if (!shoal_json_is_int(it) || shoal_json_int(it) < 0)
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be an integer >= 0", which);
    h.outbox_depth = shoal_json_int(it);
  }
  if ((it = get_any(body, k_pol, &which))) {
    if (!cJSON_IsObject(it))
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\" must be an object", which);
    const cJSON *v;
    cJSON_ArrayForEach(v, it) {
      if (strlen(v->string) >= HELLO_SCOPE_MAX ||
          !(shoal_json_is_int(v) || cJSON_IsNull(v) || cJSON_IsObject(v)))
        return shoal_fail(diag, SHOAL_EINPUT, "hello: \"%s\".\"%.80s\" must be a version", which,
                          v->string);
    }
    h.policies = it;
  }
  *out = h;
  return SHOAL_OK;
}

shoal_err shoal_hello_serves_decode(const cJSON *body, const char **stores, size_t *n,
                                    bool *present, shoal_diag *diag) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "serves"), *e;
  size_t k = 0;
  if (!list) {
    *n = 0;
    *present = false;
    return SHOAL_OK;
  }
  if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > SHOAL_SERVES_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "hello: \"serves\" must be an array of at most %d stores",
                      SHOAL_SERVES_MAX);
  cJSON_ArrayForEach(e, list) {
    if (!cJSON_IsString(e) || !shoal_id_valid(e->valuestring))
      return shoal_fail(diag, SHOAL_EINPUT, "hello: \"serves\" must list store identifiers");
    stores[k++] = e->valuestring;
  }
  *n = k;
  *present = true;
  return SHOAL_OK;
}

int64_t shoal_hello_acked(const cJSON *body) {
  int64_t acked = -1; /* stays when absent */
  shoal_diag ignore = {{0}};
  if (shoal_json_get_int(body, "acked", false, &acked, &ignore) != SHOAL_OK || acked < 0)
    return -1;
  return acked;
}

/* ---- sale ---- */

shoal_err shoal_sale_body_encode(const cJSON *receipt, const cJSON *customer,
                                 const char *const *scopes, const int64_t *versions, size_t nscopes,
                                 const char *member_nonce, cJSON **out, shoal_diag *diag) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(receipt, "id");
  if (!cJSON_IsString(id))
    return shoal_fail(diag, SHOAL_EINPUT, "sale: the receipt has no \"id\"");
  if (member_nonce && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(receipt, "member")))
    return shoal_fail(diag, SHOAL_EINPUT, "sale: a member nonce without a \"member\" block");
  cJSON *body = cJSON_Duplicate(receipt, true);
  bool ok = body && cJSON_AddStringToObject(body, "receipt", id->valuestring);
  if (ok && customer)
    ok = shoal_json_put(body, "customer", cJSON_Duplicate(customer, true));
  cJSON *pv = ok ? cJSON_AddObjectToObject(body, "policy_versions") : NULL;
  ok = pv != NULL;
  for (size_t i = 0; ok && i < nscopes; i++)
    if (versions[i] > 0)
      ok = cJSON_AddNumberToObject(pv, scopes[i], (double)versions[i]) != NULL;
  if (ok && member_nonce)
    ok = cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(body, "member"), "nonce",
                                 member_nonce) != NULL;
  if (!ok) {
    cJSON_Delete(body);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = body;
  return SHOAL_OK;
}

#define RECEIPT_ID_MAX 128 /* bytes of a receipt or return id */

static shoal_err money_field(const cJSON *body, const char *key, int64_t *out, shoal_diag *diag) {
  shoal_err rc = shoal_json_get_int(body, key, true, out, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (*out > SHOAL_MONEY_MAX || *out < -SHOAL_MONEY_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" is out of range", key);
  return SHOAL_OK;
}

/* A business body's "store" must be the envelope's, its "at" an instant
 * (*at_ms). what names the body ("sale", "return") in the message. */
static shoal_err store_and_at(const struct shoal_event *ev, const char *what, const char *store,
                              const char *at, int64_t *at_ms, shoal_diag *diag) {
  struct shoal_time t;
  if (strcmp(store, ev->store) != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "%s for store \"%.64s\" sent by a device of store \"%s\"",
                      what, store, ev->store);
  if (shoal_time_parse(at, &t, diag) != SHOAL_OK) {
    shoal_diag_prefix(diag, "\"at\"");
    return SHOAL_EINPUT;
  }
  *at_ms = t.unix_ms;
  return SHOAL_OK;
}

shoal_err shoal_sale_decode(const struct shoal_event *ev, struct shoal_sale_info *out,
                            shoal_diag *diag) {
  const cJSON *b = ev->body;
  const char *store = NULL, *at = NULL;
  struct shoal_sale_info s = {0};
  shoal_err rc;
  if ((rc = shoal_json_get_str(b, "receipt", true, &s.receipt, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(b, "region", true, &s.region, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(b, "store", true, &store, diag)) != SHOAL_OK ||
      (rc = shoal_json_get_str(b, "at", true, &at, diag)) != SHOAL_OK)
    return rc;
  if (!s.receipt[0] || strlen(s.receipt) > RECEIPT_ID_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "\"receipt\" must be 1 to 128 characters");
  if (!shoal_id_valid(s.region))
    return shoal_fail(diag, SHOAL_EINPUT, "\"region\" is not a valid identifier");
  if ((rc = store_and_at(ev, "sale", store, at, &s.at_ms, diag)) != SHOAL_OK)
    return rc;
  if ((rc = money_field(b, "subtotal", &s.subtotal, diag)) != SHOAL_OK ||
      (rc = money_field(b, "discount", &s.discount, diag)) != SHOAL_OK ||
      (rc = money_field(b, "rounding", &s.rounding, diag)) != SHOAL_OK ||
      (rc = money_field(b, "total", &s.total, diag)) != SHOAL_OK)
    return rc;
  if (s.subtotal < 0 || s.total < 0)
    return shoal_fail(diag, SHOAL_EINPUT, "negative \"subtotal\" or \"total\"");
  if (s.subtotal - s.discount + s.rounding != s.total)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "total %" PRId64 " != subtotal %" PRId64 " - discount %" PRId64
                      " + rounding %" PRId64,
                      s.total, s.subtotal, s.discount, s.rounding);
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(b, "lines");
  if (!cJSON_IsArray(lines))
    return shoal_fail(diag, SHOAL_EINPUT, "\"lines\" must be an array");
  int n = 0;
  const cJSON *l;
  cJSON_ArrayForEach(l, lines) {
    if (!cJSON_IsObject(l))
      return shoal_fail(diag, SHOAL_EINPUT, "lines[%d] must be an object", n);
    if (++n > SHOAL_BASKET_MAX_LINES)
      return shoal_fail(diag, SHOAL_EINPUT, "more than %d lines", SHOAL_BASKET_MAX_LINES);
  }
  *out = s;
  return SHOAL_OK;
}

/* ---- return ---- */

shoal_err shoal_return_body_encode(const cJSON *ret, const char *store, const char *region,
                                   const char *sale_at, cJSON **out, shoal_diag *diag) {
  cJSON *ev = cJSON_Duplicate(ret, true);
  if (!ev || !cJSON_AddStringToObject(ev, "store", store) ||
      !cJSON_AddStringToObject(ev, "region", region) ||
      !cJSON_AddStringToObject(ev, "sale_at", sale_at)) {
    cJSON_Delete(ev);
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  *out = ev;
  return SHOAL_OK;
}

shoal_err shoal_return_decode(const struct shoal_event *ev, struct shoal_return_info *out,
                              shoal_diag *diag) {
  const cJSON *b = ev->body;
  const char *at = NULL, *store = NULL;
  struct shoal_return_info r = {0};
  if (shoal_json_get_str(b, "id", true, &r.id, diag) != SHOAL_OK ||
      shoal_json_get_str(b, "sale", true, &r.sale, diag) != SHOAL_OK ||
      shoal_json_get_str(b, "store", true, &store, diag) != SHOAL_OK ||
      shoal_json_get_str(b, "at", true, &at, diag) != SHOAL_OK ||
      shoal_json_get_int(b, "refund", true, &r.refund, diag) != SHOAL_OK)
    return SHOAL_EINPUT;
  if (!r.id[0] || strlen(r.id) > RECEIPT_ID_MAX || !r.sale[0] || strlen(r.sale) > RECEIPT_ID_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "\"id\" and \"sale\" must be 1 to 128 characters");
  if (store_and_at(ev, "return", store, at, &r.at_ms, diag) != SHOAL_OK)
    return SHOAL_EINPUT;
  if (r.refund < 0 || r.refund > SHOAL_MONEY_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "\"refund\" is out of range");
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(b, "lines");
  const cJSON *refunds = cJSON_GetObjectItemCaseSensitive(b, "refunds");
  if (!cJSON_IsArray(lines) || cJSON_GetArraySize(lines) > SHOAL_BASKET_MAX_LINES ||
      !cJSON_IsArray(refunds))
    return shoal_fail(diag, SHOAL_EINPUT, "\"lines\" and \"refunds\" must be arrays");
  if (cJSON_GetArraySize(refunds) > SHOAL_PAYMENT_METHODS_MAX)
    return shoal_fail(diag, SHOAL_EINPUT, "\"refunds\" has more than %d entries",
                      SHOAL_PAYMENT_METHODS_MAX);
  /* The refunds must add up to the refund. Each amount and the running sum
   * stay within SHOAL_MONEY_MAX, so the sum cannot overflow. */
  int64_t sum = 0, a = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, refunds) {
    if (shoal_json_get_int(e, "amount", true, &a, diag) != SHOAL_OK || a <= 0 ||
        a > SHOAL_MONEY_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "refunds: each needs an \"amount\" > 0");
    sum += a;
    if (sum > SHOAL_MONEY_MAX)
      return shoal_fail(diag, SHOAL_EINPUT, "refunds add up to more than the money limit");
  }
  if (sum != r.refund)
    return shoal_fail(diag, SHOAL_EINPUT, "refunds add up to %" PRId64 ", not the refund %" PRId64,
                      sum, r.refund);
  *out = r;
  return SHOAL_OK;
}
