/* config.c - table-driven configuration loading.
 * Every option appears once in an opt table: its dotted name, type, where it
 * goes in the struct, whether it is required, and its default. The walker
 * visits every key in the file, so a key not in the table is always caught. */
#include "shoal/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "shoal/jsonx.h"
#include "shoal/util.h"

enum opt_type { OPT_OBJ, OPT_STR, OPT_ID, OPT_PATH, OPT_INT, OPT_WEBHOOKS, OPT_SERVES, OPT_USERS };

struct opt {
  const char *name; /* dotted path, e.g. "mqtt.tls.ca" */
  enum opt_type type;
  size_t offset; /* into the config struct (unused for OPT_OBJ) */
  bool required;
  const char *def_str;
  int64_t def_int, min, max;
};

#define MQTT_OPTS(T)                                                                               \
  {"mqtt", OPT_OBJ, 0, false, NULL, 0, 0, 0},                                                      \
      {"mqtt.host", OPT_STR, offsetof(T, mqtt.host), false, "127.0.0.1", 0, 0, 0},                 \
      {"mqtt.port", OPT_INT, offsetof(T, mqtt.port), false, NULL, 1883, 1, 65535},                 \
      {"mqtt.username", OPT_STR, offsetof(T, mqtt.username), false, NULL, 0, 0, 0},                \
      {"mqtt.password_file", OPT_PATH, offsetof(T, mqtt.password_file), false, NULL, 0, 0, 0},     \
      {"mqtt.tls", OPT_OBJ, 0, false, NULL, 0, 0, 0},                                              \
      {"mqtt.tls.ca", OPT_PATH, offsetof(T, mqtt.tls_ca), false, NULL, 0, 0, 0},                   \
      {"mqtt.tls.cert", OPT_PATH, offsetof(T, mqtt.tls_cert), false, NULL, 0, 0, 0}, {             \
    "mqtt.tls.key", OPT_PATH, offsetof(T, mqtt.tls_key), false, NULL, 0, 0, 0                      \
  }

static const struct opt agent_opts[] = {
    {"device", OPT_ID, offsetof(struct shoal_agent_config, device), true, NULL, 0, 0, 0},
    {"store", OPT_ID, offsetof(struct shoal_agent_config, store), true, NULL, 0, 0, 0},
    {"region", OPT_ID, offsetof(struct shoal_agent_config, region), true, NULL, 0, 0, 0},
    {"profile", OPT_PATH, offsetof(struct shoal_agent_config, profile), true, NULL, 0, 0, 0},
    {"db", OPT_PATH, offsetof(struct shoal_agent_config, db), true, NULL, 0, 0, 0},
    MQTT_OPTS(struct shoal_agent_config),
    {"trust", OPT_OBJ, 0, false, NULL, 0, 0, 0},
    {"trust.policy_pub", OPT_PATH, offsetof(struct shoal_agent_config, trust_policy_pub), false,
     NULL, 0, 0, 0},
    {"trust.policy_pub_next", OPT_PATH, offsetof(struct shoal_agent_config, trust_policy_pub_next),
     false, NULL, 0, 0, 0},
    {"topic_prefix", OPT_STR, offsetof(struct shoal_agent_config, topic_prefix), false, "shoal/v1",
     0, 0, 0},
    {"local_api", OPT_OBJ, 0, false, NULL, 0, 0, 0},
    {"local_api.listen", OPT_STR, offsetof(struct shoal_agent_config, local_api_listen), false,
     NULL, 0, 0, 0},
    {"serves", OPT_SERVES, 0, false, NULL, 0, 0, 0},
    {"hub_url", OPT_STR, offsetof(struct shoal_agent_config, hub_url), false, NULL, 0, 0, 0},
    {"local_api.token_file", OPT_PATH, offsetof(struct shoal_agent_config, local_api_token_file),
     false, NULL, 0, 0, 0},
};

static const struct opt hub_opts[] = {
    {"db", OPT_PATH, offsetof(struct shoal_hub_config, db), true, NULL, 0, 0, 0},
    MQTT_OPTS(struct shoal_hub_config),
    {"signing_key", OPT_PATH, offsetof(struct shoal_hub_config, signing_key), false, NULL, 0, 0, 0},
    {"http", OPT_OBJ, 0, false, NULL, 0, 0, 0},
    {"http.listen", OPT_STR, offsetof(struct shoal_hub_config, http_listen), false, NULL, 0, 0, 0},
    {"http.token_file", OPT_PATH, offsetof(struct shoal_hub_config, http_token_file), false, NULL,
     0, 0, 0},
    {"topic_prefix", OPT_STR, offsetof(struct shoal_hub_config, topic_prefix), false, "shoal/v1", 0,
     0, 0},
    {"device_ca", OPT_OBJ, 0, false, NULL, 0, 0, 0},
    {"device_ca.cert", OPT_PATH, offsetof(struct shoal_hub_config, device_ca_cert), false, NULL, 0,
     0, 0},
    {"device_ca.key", OPT_PATH, offsetof(struct shoal_hub_config, device_ca_key), false, NULL, 0, 0,
     0},
    {"webhooks", OPT_WEBHOOKS, 0, false, NULL, 0, 0, 0},
    {"media_dir", OPT_PATH, offsetof(struct shoal_hub_config, media_dir), false, NULL, 0, 0, 0},
    {"orders", OPT_OBJ, 0, false, NULL, 0, 0, 0},
    {"orders.secret_file", OPT_PATH, offsetof(struct shoal_hub_config, orders_secret_file), false,
     NULL, 0, 0, 0},
    {"orders.batch_max", OPT_INT, offsetof(struct shoal_hub_config, orders_batch_max), false, NULL,
     SHOAL_ORDER_BATCH_MAX, 1, SHOAL_ORDER_BATCH_MAX},
    {"users", OPT_USERS, 0, false, NULL, 0, 0, 0},
    {"ingest", OPT_OBJ, 0, false, NULL, 0, 0, 0},
    {"ingest.shared", OPT_OBJ, offsetof(struct shoal_hub_config, ingest_shared), false, NULL, 0, 0,
     0},
    {"ingest.shared.group", OPT_ID, offsetof(struct shoal_hub_config, ingest_group), false, NULL, 0,
     0, 0},
};

struct load_ctx {
  const struct opt *opts;
  size_t n;
  bool *seen;
  void *out;
  const char *dir;  /* config file's folder */
  const char *file; /* for messages */
};

static const struct opt *find_opt(const struct load_ctx *c, const char *name, size_t *idx) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->opts[i].name, name) == 0) {
      *idx = i;
      return &c->opts[i];
    }
  return NULL;
}

static bool topic_prefix_valid(const char *s) {
  if (!*s || strlen(s) > 64 || s[0] == '/' || s[strlen(s) - 1] == '/')
    return false;
  for (const char *p = s; *p; p++)
    if (*p == '+' || *p == '#' || (unsigned char)*p < 0x20)
      return false;
  return true;
}

static shoal_err load_webhooks(struct load_ctx *c, const cJSON *arr, shoal_diag *diag) {
  struct shoal_hub_config *hub = c->out;
  if (!cJSON_IsArray(arr))
    return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"webhooks\" must be an array", c->file);
  const cJSON *w;
  cJSON_ArrayForEach(w, arr) {
    size_t i = hub->webhook_count;
    if (i >= SHOAL_WEBHOOKS_MAX)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: more than %d webhooks", c->file,
                        SHOAL_WEBHOOKS_MAX);
    if (!cJSON_IsObject(w))
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: webhooks[%zu] must be an object", c->file, i);
    struct shoal_webhook_config *wc = &hub->webhooks[i];
    hub->webhook_count++;
    const cJSON *k;
    cJSON_ArrayForEach(k, w) {
      if (strcmp(k->string, "url") == 0 && cJSON_IsString(k)) {
        if (strncmp(k->valuestring, "http://", 7) != 0 &&
            strncmp(k->valuestring, "https://", 8) != 0)
          return shoal_fail(diag, SHOAL_ECONFIG, "%s: webhooks[%zu].url must be http(s)://",
                            c->file, i);
        wc->url = strdup(k->valuestring);
      } else if (strcmp(k->string, "secret_file") == 0 && cJSON_IsString(k)) {
        wc->secret_file = shoal_path_resolve(c->dir, k->valuestring);
      } else if (strcmp(k->string, "events") == 0 && cJSON_IsArray(k)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, k) {
          const char *s = cJSON_IsString(e) ? e->valuestring : "";
          if (strcmp(s, "sale") == 0)
            wc->events |= SHOAL_WEBHOOK_SALE;
          else if (strcmp(s, "ticket") == 0)
            wc->events |= SHOAL_WEBHOOK_TICKET;
          else if (strcmp(s, "escalation") == 0)
            wc->events |= SHOAL_WEBHOOK_ESCALATION;
          else if (strcmp(s, "return") == 0)
            wc->events |= SHOAL_WEBHOOK_RETURN;
          else
            return shoal_fail(diag, SHOAL_ECONFIG,
                              "%s: webhooks[%zu].events: unknown event \"%s\" (sale, return, "
                              "ticket, escalation)",
                              c->file, i, s);
        }
      } else if (strcmp(k->string, "url") == 0 || strcmp(k->string, "secret_file") == 0 ||
                 strcmp(k->string, "events") == 0) {
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: webhooks[%zu].%s has the wrong type", c->file,
                          i, k->string);
      } else {
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: unknown key \"webhooks[%zu].%s\"", c->file, i,
                          k->string);
      }
    }
    if (!wc->url)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: missing key \"webhooks[%zu].url\"", c->file, i);
    if (!wc->events)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: missing key \"webhooks[%zu].events\"", c->file,
                        i);
  }
  return SHOAL_OK;
}

/* "serves": a non-empty array of distinct store identifiers. */
static shoal_err load_serves(struct load_ctx *c, const cJSON *arr, shoal_diag *diag) {
  struct shoal_agent_config *a = c->out;
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
    return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"serves\" must be a non-empty array of store ids",
                      c->file);
  if (cJSON_GetArraySize(arr) > SHOAL_SERVES_MAX)
    return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"serves\" lists more than %d stores", c->file,
                      SHOAL_SERVES_MAX);
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (!cJSON_IsString(e) || !shoal_id_valid(e->valuestring))
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"serves\": %s%s%s is not a valid store id",
                        c->file, cJSON_IsString(e) ? "\"" : "",
                        cJSON_IsString(e) ? e->valuestring : "an element",
                        cJSON_IsString(e) ? "\"" : "");
    if (shoal_agent_config_serves(a, e->valuestring))
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"serves\" names store %s twice", c->file,
                        e->valuestring);
    if (!(a->serves[a->nserves] = strdup(e->valuestring)))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    a->nserves++;
  }
  return SHOAL_OK;
}

/* "users": [{"name", "token_file", "role"}] (SPEC 14): every key required,
 * names unique identifiers, roles viewer|operator|admin. */
static shoal_err load_users(struct load_ctx *c, const cJSON *arr, shoal_diag *diag) {
  struct shoal_hub_config *hub = c->out;
  static const char *const roles[] = {"viewer", "operator", "admin"};
  if (!cJSON_IsArray(arr))
    return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"users\" must be an array", c->file);
  const cJSON *u;
  cJSON_ArrayForEach(u, arr) {
    size_t i = hub->user_count;
    if (i >= SHOAL_USERS_MAX)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: more than %d users", c->file, SHOAL_USERS_MAX);
    if (!cJSON_IsObject(u))
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: users[%zu] must be an object", c->file, i);
    struct shoal_user_config *uc = &hub->users[i];
    hub->user_count++;
    uc->role = -1;
    const cJSON *k;
    cJSON_ArrayForEach(k, u) {
      if (!cJSON_IsString(k) || !*k->valuestring || strlen(k->valuestring) > SHOAL_PATH_MAX) {
        if (strcmp(k->string, "name") && strcmp(k->string, "token_file") &&
            strcmp(k->string, "role"))
          return shoal_fail(diag, SHOAL_ECONFIG, "%s: unknown key \"users[%zu].%s\"", c->file, i,
                            k->string);
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: users[%zu].%s must be a non-empty string",
                          c->file, i, k->string);
      }
      if (strcmp(k->string, "name") == 0) {
        if (!shoal_id_valid(k->valuestring))
          return shoal_fail(diag, SHOAL_ECONFIG,
                            "%s: users[%zu].name \"%s\" is not a valid identifier", c->file, i,
                            k->valuestring);
        for (size_t j = 0; j < i; j++)
          if (strcmp(hub->users[j].name, k->valuestring) == 0)
            return shoal_fail(diag, SHOAL_ECONFIG, "%s: users[%zu].name \"%s\" given twice",
                              c->file, i, k->valuestring);
        free(uc->name);
        uc->name = strdup(k->valuestring);
      } else if (strcmp(k->string, "token_file") == 0) {
        free(uc->token_file);
        uc->token_file = shoal_path_resolve(c->dir, k->valuestring);
      } else if (strcmp(k->string, "role") == 0) {
        for (int r = 0; r < 3; r++)
          if (strcmp(k->valuestring, roles[r]) == 0)
            uc->role = r;
        if (uc->role < 0)
          return shoal_fail(diag, SHOAL_ECONFIG,
                            "%s: users[%zu].role \"%s\" must be viewer, operator or admin", c->file,
                            i, k->valuestring);
      } else {
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: unknown key \"users[%zu].%s\"", c->file, i,
                          k->string);
      }
    }
    if (!uc->name)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: missing key \"users[%zu].name\"", c->file, i);
    if (!uc->token_file)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: missing key \"users[%zu].token_file\"", c->file,
                        i);
    if (uc->role < 0)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: missing key \"users[%zu].role\"", c->file, i);
  }
  return SHOAL_OK;
}

bool shoal_agent_config_serves(const struct shoal_agent_config *cfg, const char *store) {
  for (size_t i = 0; i < cfg->nserves; i++)
    if (strcmp(cfg->serves[i], store) == 0)
      return true;
  return false;
}

static shoal_err walk(struct load_ctx *c, const cJSON *obj, const char *prefix, shoal_diag *diag) {
  const cJSON *item;
  cJSON_ArrayForEach(item, obj) {
    char name[256];
    if (snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", item->string) >=
        (int)sizeof name)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: key too long", c->file);
    size_t idx = 0;
    const struct opt *o = find_opt(c, name, &idx);
    if (!o)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: unknown key \"%s\"", c->file, name);
    if (c->seen[idx])
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: key \"%s\" given twice", c->file, name);
    c->seen[idx] = true;
    char *field = (char *)c->out + o->offset;
    switch (o->type) {
    case OPT_OBJ:
      if (!cJSON_IsObject(item))
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"%s\" must be an object", c->file, name);
      if (o->offset) /* an object whose presence is itself a setting */
        *(bool *)field = true;
      shoal_err rc = walk(c, item, name, diag);
      if (rc != SHOAL_OK)
        return rc;
      break;
    case OPT_STR:
    case OPT_ID:
    case OPT_PATH:
      if (!cJSON_IsString(item))
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"%s\" must be a string", c->file, name);
      if (strlen(item->valuestring) > SHOAL_PATH_MAX)
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"%s\" is too long", c->file, name);
      if (o->type == OPT_ID && !shoal_id_valid(item->valuestring))
        return shoal_fail(diag, SHOAL_ECONFIG,
                          "%s: \"%s\" is not a valid identifier (want "
                          "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$): \"%s\"",
                          c->file, name, item->valuestring);
      if (o->type == OPT_PATH && !*item->valuestring)
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"%s\" is empty", c->file, name);
      *(char **)field = o->type == OPT_PATH ? shoal_path_resolve(c->dir, item->valuestring)
                                            : strdup(item->valuestring);
      if (!*(char **)field)
        return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      break;
    case OPT_INT:
      if (!shoal_json_is_int(item))
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"%s\" must be an integer", c->file, name);
      int64_t v = shoal_json_int(item);
      if (v < o->min || v > o->max)
        return shoal_fail(diag, SHOAL_ECONFIG, "%s: \"%s\" must be between %lld and %lld", c->file,
                          name, (long long)o->min, (long long)o->max);
      *(int *)field = (int)v;
      break;
    case OPT_USERS: {
      shoal_err urc = load_users(c, item, diag);
      if (urc != SHOAL_OK)
        return urc;
      break;
    }
    case OPT_WEBHOOKS: {
      shoal_err wrc = load_webhooks(c, item, diag);
      if (wrc != SHOAL_OK)
        return wrc;
      break;
    }
    case OPT_SERVES: {
      shoal_err src = load_serves(c, item, diag);
      if (src != SHOAL_OK)
        return src;
      break;
    }
    }
  }
  return SHOAL_OK;
}

static shoal_err load(const char *path, const struct opt *opts, size_t n, void *out,
                      char **out_path, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  cJSON *root = NULL;
  char *dir = NULL;
  bool seen[64] = {0};

  rc = shoal_json_load_file(path, SHOAL_CONFIG_MAX_BYTES, &root, diag);
  if (rc != SHOAL_OK) {
    if (rc == SHOAL_EJSON)
      rc = SHOAL_ECONFIG;
    goto cleanup;
  }
  if (!cJSON_IsObject(root)) {
    rc = shoal_fail(diag, SHOAL_ECONFIG, "%s: a config file must be a JSON object", path);
    goto cleanup;
  }
  dir = shoal_path_dirname(path);
  struct load_ctx c = {opts, n, seen, out, dir, path};
  rc = walk(&c, root, "", diag);
  if (rc != SHOAL_OK)
    goto cleanup;
  for (size_t i = 0; i < n; i++) {
    const struct opt *o = &opts[i];
    if (seen[i])
      continue;
    if (o->required) {
      rc = shoal_fail(diag, SHOAL_ECONFIG, "%s: missing required key \"%s\"", path, o->name);
      goto cleanup;
    }
    char *field = (char *)out + o->offset;
    if ((o->type == OPT_STR || o->type == OPT_ID || o->type == OPT_PATH) && o->def_str)
      *(char **)field = strdup(o->def_str);
    else if (o->type == OPT_INT)
      *(int *)field = (int)o->def_int;
  }
  *out_path = strdup(path);
cleanup:
  cJSON_Delete(root);
  free(dir);
  return rc;
}

static void mqtt_cleanup(struct shoal_mqtt_config *m) {
  free(m->host);
  free(m->username);
  free(m->password_file);
  free(m->tls_ca);
  free(m->tls_cert);
  free(m->tls_key);
}

void shoal_agent_config_cleanup(struct shoal_agent_config *cfg) {
  if (!cfg)
    return;
  free(cfg->path);
  free(cfg->device);
  free(cfg->store);
  free(cfg->region);
  free(cfg->profile);
  free(cfg->db);
  mqtt_cleanup(&cfg->mqtt);
  free(cfg->trust_policy_pub);
  free(cfg->trust_policy_pub_next);
  free(cfg->topic_prefix);
  free(cfg->local_api_listen);
  for (size_t i = 0; i < cfg->nserves; i++)
    free(cfg->serves[i]);
  free(cfg->hub_url);
  free(cfg->local_api_token_file);
  memset(cfg, 0, sizeof *cfg);
}

void shoal_hub_config_cleanup(struct shoal_hub_config *cfg) {
  if (!cfg)
    return;
  free(cfg->path);
  free(cfg->db);
  mqtt_cleanup(&cfg->mqtt);
  free(cfg->signing_key);
  free(cfg->ingest_group);
  free(cfg->http_listen);
  free(cfg->http_token_file);
  free(cfg->topic_prefix);
  free(cfg->device_ca_cert);
  free(cfg->device_ca_key);
  free(cfg->media_dir);
  free(cfg->orders_secret_file);
  for (size_t i = 0; i < cfg->webhook_count; i++) {
    free(cfg->webhooks[i].url);
    free(cfg->webhooks[i].secret_file);
  }
  for (size_t i = 0; i < cfg->user_count; i++) {
    free(cfg->users[i].name);
    free(cfg->users[i].token_file);
  }
  memset(cfg, 0, sizeof *cfg);
}

shoal_err shoal_agent_config_load(const char *path, struct shoal_agent_config *out,
                                  shoal_diag *diag) {
  memset(out, 0, sizeof *out);
  _Static_assert(sizeof agent_opts / sizeof agent_opts[0] <= 64, "seen[] too small");
  shoal_err rc =
      load(path, agent_opts, sizeof agent_opts / sizeof agent_opts[0], out, &out->path, diag);
  if (rc == SHOAL_OK && !topic_prefix_valid(out->topic_prefix))
    rc = shoal_fail(diag, SHOAL_ECONFIG,
                    "%s: \"topic_prefix\" must not be empty, start or end "
                    "with '/', or contain '+' or '#'",
                    path);
  if (rc == SHOAL_OK && out->hub_url && strncmp(out->hub_url, "http://", 7) != 0 &&
      strncmp(out->hub_url, "https://", 8) != 0)
    rc = shoal_fail(diag, SHOAL_ECONFIG, "%s: \"hub_url\" must start with http:// or https://",
                    path);
  /* serves defaults to the device's own store (SPEC 15). */
  if (rc == SHOAL_OK && out->nserves == 0) {
    if ((out->serves[0] = strdup(out->store)) != NULL)
      out->nserves = 1;
    else
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if (rc != SHOAL_OK)
    shoal_agent_config_cleanup(out);
  return rc;
}

shoal_err shoal_hub_config_load(const char *path, struct shoal_hub_config *out, shoal_diag *diag) {
  memset(out, 0, sizeof *out);
  _Static_assert(sizeof hub_opts / sizeof hub_opts[0] <= 64, "seen[] too small");
  shoal_err rc = load(path, hub_opts, sizeof hub_opts / sizeof hub_opts[0], out, &out->path, diag);
  if (rc == SHOAL_OK && !out->media_dir) {
    char *dir = shoal_path_dirname(path);
    out->media_dir = dir ? shoal_path_resolve(dir, "media") : NULL;
    free(dir);
    if (!out->media_dir)
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  if (rc == SHOAL_OK && !topic_prefix_valid(out->topic_prefix))
    rc = shoal_fail(diag, SHOAL_ECONFIG,
                    "%s: \"topic_prefix\" must not be empty, start or end "
                    "with '/', or contain '+' or '#'",
                    path);
  if (rc == SHOAL_OK && out->ingest_shared && !out->ingest_group)
    rc = shoal_fail(diag, SHOAL_ECONFIG, "%s: missing key \"ingest.shared.group\"", path);
  if (rc != SHOAL_OK)
    shoal_hub_config_cleanup(out);
  return rc;
}
