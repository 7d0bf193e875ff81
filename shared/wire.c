/* wire.c - topic table and event envelope encode/decode. */
#include "shoal/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/jsonx.h"
#include "shoal/scope.h"
#include "shoal/util.h"

/* The topic table: each kind's path after the prefix, with %s for ids. */
static const struct {
  enum shoal_topic kind;
  const char *fmt;    /* after "P/" */
  const char *filter; /* subscription filter after "P/" */
  int nids;
} topics[] = {
    {SHOAL_TOPIC_UP, "up/%s/%s", "up/+/+", 2},
    {SHOAL_TOPIC_ACK, "ack/%s/%s", "ack/+/+", 2},
    {SHOAL_TOPIC_POLICY_GLOBAL, "policy/global", "policy/global", 0},
    {SHOAL_TOPIC_POLICY_REGION, "policy/region/%s", "policy/region/+", 1},
    {SHOAL_TOPIC_POLICY_STORE, "policy/store/%s", "policy/store/+", 1},
    {SHOAL_TOPIC_DOWN_STORE, "down/%s", "down/+", 1},
    {SHOAL_TOPIC_DOWN_DEVICE, "down/%s/%s", "down/+/+", 2},
    {SHOAL_TOPIC_PRESENCE, "presence/%s/%s", "presence/+/+", 2},
    {SHOAL_TOPIC_TRUST, "trust", "trust", 0},
};
#define NTOPICS (sizeof topics / sizeof topics[0])

shoal_err shoal_topic_format(char *buf, size_t bufsz, const char *prefix, enum shoal_topic k,
                             const char *a, const char *b) {
  for (size_t i = 0; i < NTOPICS; i++) {
    if (topics[i].kind != k)
      continue;
    if ((topics[i].nids >= 1 && !shoal_id_valid(a)) || (topics[i].nids >= 2 && !shoal_id_valid(b)))
      return SHOAL_EINPUT;
    char tail[SHOAL_TOPIC_MAX];
    if (topics[i].nids == 0)
      snprintf(tail, sizeof tail, "%s", topics[i].fmt);
    else if (topics[i].nids == 1)
      snprintf(tail, sizeof tail, topics[i].fmt, a);
    else
      snprintf(tail, sizeof tail, topics[i].fmt, a, b);
    if (snprintf(buf, bufsz, "%s/%s", prefix, tail) >= (int)bufsz)
      return SHOAL_ELIMIT;
    return SHOAL_OK;
  }
  return SHOAL_EINTERNAL;
}

shoal_err shoal_topic_filter(char *buf, size_t bufsz, const char *prefix, enum shoal_topic k) {
  for (size_t i = 0; i < NTOPICS; i++)
    if (topics[i].kind == k)
      return snprintf(buf, bufsz, "%s/%s", prefix, topics[i].filter) >= (int)bufsz ? SHOAL_ELIMIT
                                                                                   : SHOAL_OK;
  return SHOAL_EINTERNAL;
}

shoal_err shoal_topic_parse(const char *prefix, const char *topic, enum shoal_topic *k, char *a,
                            char *b) {
  size_t pl = strlen(prefix);
  if (strncmp(topic, prefix, pl) != 0 || topic[pl] != '/')
    return SHOAL_EINPUT;
  const char *rest = topic + pl + 1;
  /* Split the rest into at most 4 segments. */
  char segs[4][SHOAL_ID_MAX + 1];
  int n = 0;
  const char *p = rest;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (n >= 4 || len > SHOAL_ID_MAX)
      return SHOAL_EINPUT;
    memcpy(segs[n], p, len);
    segs[n][len] = '\0';
    n++;
    if (!slash)
      break;
    p = slash + 1;
  }
  a[0] = b[0] = '\0';
  enum shoal_topic kind;
  int ids_from = 1, nids;
  if (n == 3 && strcmp(segs[0], "up") == 0)
    kind = SHOAL_TOPIC_UP, nids = 2;
  else if (n == 3 && strcmp(segs[0], "ack") == 0)
    kind = SHOAL_TOPIC_ACK, nids = 2;
  else if (n == 3 && strcmp(segs[0], "presence") == 0)
    kind = SHOAL_TOPIC_PRESENCE, nids = 2;
  else if (n == 2 && strcmp(segs[0], "down") == 0)
    kind = SHOAL_TOPIC_DOWN_STORE, nids = 1;
  else if (n == 3 && strcmp(segs[0], "down") == 0)
    kind = SHOAL_TOPIC_DOWN_DEVICE, nids = 2;
  else if (n == 2 && strcmp(segs[0], "policy") == 0 && strcmp(segs[1], "global") == 0)
    kind = SHOAL_TOPIC_POLICY_GLOBAL, nids = 0;
  else if (n == 3 && strcmp(segs[0], "policy") == 0 && strcmp(segs[1], "region") == 0)
    kind = SHOAL_TOPIC_POLICY_REGION, nids = 1, ids_from = 2;
  else if (n == 3 && strcmp(segs[0], "policy") == 0 && strcmp(segs[1], "store") == 0)
    kind = SHOAL_TOPIC_POLICY_STORE, nids = 1, ids_from = 2;
  else if (n == 1 && strcmp(segs[0], "trust") == 0)
    kind = SHOAL_TOPIC_TRUST, nids = 0;
  else
    return SHOAL_EINPUT;
  if (nids >= 1) {
    if (!shoal_id_valid(segs[ids_from]))
      return SHOAL_EINPUT;
    strcpy(a, segs[ids_from]);
  }
  if (nids >= 2) {
    if (!shoal_id_valid(segs[ids_from + 1]))
      return SHOAL_EINPUT;
    strcpy(b, segs[ids_from + 1]);
  }
  *k = kind;
  return SHOAL_OK;
}

shoal_err shoal_topic_scope(char *buf, size_t bufsz, enum shoal_topic k, const char *id) {
  if (k == SHOAL_TOPIC_POLICY_GLOBAL)
    return shoal_scope_format(buf, bufsz, SHOAL_SCOPE_GLOBAL, NULL, NULL);
  if (k == SHOAL_TOPIC_POLICY_REGION)
    return shoal_scope_format(buf, bufsz, SHOAL_SCOPE_REGION, id, NULL);
  if (k == SHOAL_TOPIC_POLICY_STORE)
    return shoal_scope_format(buf, bufsz, SHOAL_SCOPE_STORE, id, NULL);
  return SHOAL_EINPUT;
}

bool shoal_event_type_valid(const char *type) {
  return strcmp(type, "sale") == 0 || strcmp(type, "form") == 0 || strcmp(type, "ticket") == 0 ||
         strcmp(type, "hello") == 0 || strcmp(type, "return") == 0;
}

cJSON *shoal_event_to_json(const struct shoal_event *ev) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  /* shoal_json_put owns its item whatever happens: nothing leaks on a failure. */
  if (!cJSON_AddNumberToObject(o, "v", 1) || !cJSON_AddStringToObject(o, "device", ev->device) ||
      !cJSON_AddStringToObject(o, "store", ev->store) ||
      !cJSON_AddStringToObject(o, "epoch", ev->epoch) ||
      !cJSON_AddNumberToObject(o, "seq", (double)ev->seq) ||
      !shoal_json_put(o, "hlc", shoal_json_u64(ev->hlc)) ||
      !cJSON_AddStringToObject(o, "type", ev->type) ||
      !shoal_json_put(o, "body", ev->body ? cJSON_Duplicate(ev->body, 1) : cJSON_CreateObject())) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

shoal_err shoal_event_encode(const struct shoal_event *ev, char **out) {
  cJSON *o = shoal_event_to_json(ev);
  if (!o)
    return SHOAL_ENOMEM;
  char *s = shoal_json_print(o);
  cJSON_Delete(o);
  if (!s)
    return SHOAL_ENOMEM;
  *out = s;
  return SHOAL_OK;
}

static bool epoch_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 20)
    return false;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9')
      return false;
  if (n == 20 && strcmp(s, "18446744073709551615") > 0)
    return false;
  return true;
}

shoal_err shoal_event_from_json(const cJSON *obj, struct shoal_event *out, shoal_diag *diag) {
  struct shoal_event ev;
  memset(&ev, 0, sizeof ev);
  const char *device = NULL, *store = NULL, *epoch = NULL, *type = NULL;
  int64_t v = 0;
  shoal_err rc;
  if (!cJSON_IsObject(obj))
    return shoal_fail(diag, SHOAL_EINPUT, "event envelope must be a JSON object");
  if ((rc = shoal_json_get_int(obj, "v", true, &v, diag)) != SHOAL_OK)
    return rc;
  if (v != 1)
    return shoal_fail(diag, SHOAL_EINPUT, "unsupported envelope version %lld", (long long)v);
  if ((rc = shoal_json_get_str(obj, "device", true, &device, diag)) ||
      (rc = shoal_json_get_str(obj, "store", true, &store, diag)) ||
      (rc = shoal_json_get_str(obj, "epoch", true, &epoch, diag)) ||
      (rc = shoal_json_get_int(obj, "seq", true, &ev.seq, diag)) ||
      (rc = shoal_json_get_u64(obj, "hlc", true, &ev.hlc, diag)) ||
      (rc = shoal_json_get_str(obj, "type", true, &type, diag)))
    return rc;
  if (!shoal_id_valid(device))
    return shoal_fail(diag, SHOAL_EINPUT, "\"device\" is not a valid identifier");
  if (!shoal_id_valid(store))
    return shoal_fail(diag, SHOAL_EINPUT, "\"store\" is not a valid identifier");
  if (!epoch_valid(epoch))
    return shoal_fail(diag, SHOAL_EINPUT, "\"epoch\" must be a decimal 64-bit value");
  if (ev.seq < 1)
    return shoal_fail(diag, SHOAL_EINPUT, "\"seq\" must be >= 1");
  if (!shoal_event_type_valid(type))
    return shoal_fail(diag, SHOAL_EINPUT, "unknown event type \"%s\"", type);
  const cJSON *body = cJSON_GetObjectItemCaseSensitive(obj, "body");
  if (!cJSON_IsObject(body))
    return shoal_fail(diag, SHOAL_EINPUT, "\"body\" must be an object");
  strcpy(ev.device, device);
  strcpy(ev.store, store);
  strcpy(ev.epoch, epoch);
  shoal_strlcpy(ev.type, type, sizeof ev.type);
  ev.body = cJSON_Duplicate(body, 1);
  if (!ev.body)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  *out = ev;
  return SHOAL_OK;
}

shoal_err shoal_event_decode(const char *payload, size_t len, struct shoal_event *out,
                             shoal_diag *diag) {
  if (len > SHOAL_EVENT_MAX_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "event of %zu bytes is over the limit of %d", len,
                      SHOAL_EVENT_MAX_BYTES);
  cJSON *root = NULL;
  shoal_err rc = shoal_json_parse(payload, len, &root, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_event_from_json(root, out, diag);
  cJSON_Delete(root);
  return rc;
}

void shoal_event_cleanup(struct shoal_event *ev) {
  if (!ev)
    return;
  cJSON_Delete(ev->body);
  ev->body = NULL;
}
