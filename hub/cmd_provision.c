/* cmd_provision.c - `shoal-hub provision` and `shoal-hub broker-config`:
 * per-device TLS identities from the hub's device CA, and the Mosquitto
 * config + ACL that confine each identity to its own topics.
 * Identity model (docs/security.md): a device certificate's CN is the device
 * id and the broker uses it as the username; the store (and region) a device
 * belongs to live in the hub's provisioned_devices table, from which the ACL
 * is written as one explicit `user` block per device. The hub's own identity
 * is HUB_CA_HUB_IDENTITY, which no device id can equal. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd_provision.h"
#include "hub_ca.h"
#include "hub_cli.h"
#include "hub_ctx.h"
#include "hub_dispatch.h"
#include "hub_publish.h"
#include "shoal/cli.h"
#include "shoal/crypto.h"
#include "shoal/jsonx.h"
#include "shoal/profile.h"
#include "shoal/sbuf.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "store.h"

#define DEFAULT_PROFILE "pos-terminal"
#define DEFAULT_REGION  "default"
#define ACL_MAX_BYTES   (64 * 1024 * 1024)

/* mkdir -p for an output folder. A device bundle is 0700 (it holds the
 * device key); the broker folder must be 0755 because Mosquitto started as
 * root drops to its own user before reading the ACL file. */
static shoal_err mkdir_p(const char *path, int mode, shoal_diag *diag) {
  char buf[SHOAL_PATH_MAX + 1];
  if (!shoal_strlcpy(buf, path, sizeof buf))
    return shoal_fail(diag, SHOAL_ELIMIT, "path too long: %s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
      return shoal_fail(diag, SHOAL_EIO, "cannot create %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
    return shoal_fail(diag, SHOAL_EIO, "cannot create %s: %s", buf, strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    return shoal_fail(diag, SHOAL_EIO, "%s is not a folder", buf);
  return SHOAL_OK;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static shoal_err write_in(const char *dir, const char *name, const char *text, int mode,
                          char **path_out, shoal_diag *diag) {
  char *path = shoal_path_resolve(dir, name);
  if (!path)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  shoal_err rc = shoal_file_write_atomic(path, text, strlen(text), mode, diag);
  if (rc == SHOAL_OK && path_out)
    *path_out = path;
  else
    free(path);
  return rc;
}

/* The device CA's files: the config's device_ca, else device-ca.{crt,key}
 * beside the hub config (created on first use). */
static shoal_err open_ca(const struct hub_ctx *ctx, struct hub_ca **ca, bool *created,
                         shoal_diag *diag) {
  char *dir = shoal_path_dirname(ctx->cfg.path);
  char *cert = ctx->cfg.device_ca_cert ? strdup(ctx->cfg.device_ca_cert)
                                       : shoal_path_resolve(dir, "device-ca.crt");
  char *key = ctx->cfg.device_ca_key ? strdup(ctx->cfg.device_ca_key)
                                     : shoal_path_resolve(dir, "device-ca.key");
  shoal_err rc = (cert && key) ? hub_ca_open(cert, key, ca, created, diag)
                               : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  free(dir);
  free(cert);
  free(key);
  return rc;
}

/* Finds firmware profile NAME (or a path to one): SHOAL_PROFILES_DIR, the
 * hub config's folder, beside the executable (build tree / install), cwd. */
static shoal_err find_profile(const struct hub_ctx *ctx, const char *name, char **text_out,
                              char **file_name_out, struct shoal_profile *prof, shoal_diag *diag) {
  char cand[6][PATH_MAX + 128];
  int n = 0;
  bool is_path =
      strchr(name, '/') || (strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".json") == 0);
  if (is_path) {
    snprintf(cand[n++], sizeof cand[0], "%s", name);
  } else {
    if (!shoal_id_valid(name))
      return shoal_fail(diag, SHOAL_EINPUT, "profile \"%s\" is not a profile name or path", name);
    const char *env = getenv("SHOAL_PROFILES_DIR");
    if (env && *env)
      snprintf(cand[n++], sizeof cand[0], "%s/%s.json", env, name);
    char *cdir = shoal_path_dirname(ctx->cfg.path);
    if (cdir)
      snprintf(cand[n++], sizeof cand[0], "%s/firmware-profiles/%s.json", cdir, name);
    free(cdir);
    char exe[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el > 0) {
      exe[el] = '\0';
      char *slash = strrchr(exe, '/');
      if (slash)
        *slash = '\0';
      snprintf(cand[n++], sizeof cand[0], "%s/../../firmware-profiles/%s.json", exe, name);
      snprintf(cand[n++], sizeof cand[0], "%s/../share/shoal/firmware-profiles/%s.json", exe, name);
    }
    snprintf(cand[n++], sizeof cand[0], "firmware-profiles/%s.json", name);
  }
  for (int i = 0; i < n; i++) {
    if (!file_exists(cand[i]))
      continue;
    size_t len = 0;
    char *text = NULL;
    shoal_err rc = shoal_file_read(cand[i], SHOAL_PROFILE_MAX_BYTES, &text, &len, diag);
    if (rc == SHOAL_OK)
      rc = shoal_profile_parse(text, len, prof, diag);
    if (rc != SHOAL_OK) {
      free(text);
      shoal_diag_prefix(diag, "%s", cand[i]);
      return rc == SHOAL_EIO ? rc : SHOAL_EINPUT;
    }
    const char *base = strrchr(cand[i], '/');
    *file_name_out = strdup(base ? base + 1 : cand[i]);
    *text_out = text;
    return *file_name_out ? SHOAL_OK : shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  return shoal_fail(diag, SHOAL_EINPUT,
                    "firmware profile \"%s\" not found (give a path, or set SHOAL_PROFILES_DIR)",
                    name);
}

/* Region for a device provisioned without --region: what this device or
 * another device of the same store was given before, else what the store's
 * devices reported in hello, else DEFAULT_REGION. */
static shoal_err default_region(struct hub_ctx *ctx, const char *device, const char *store,
                                char out[SHOAL_ID_MAX + 1], shoal_diag *diag) {
  static const char *const queries[] = {
      "SELECT region FROM provisioned_devices WHERE device = ?1",
      "SELECT region FROM provisioned_devices WHERE store = ?2 ORDER BY issued_ms DESC LIMIT 1",
      "SELECT region FROM devices WHERE store = ?2 AND region IS NOT NULL LIMIT 1",
  };
  for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
    hub_stmt *st = NULL;
    shoal_err rc = hub_store_prepare(ctx->db, queries[i], &st, diag);
    if (rc != SHOAL_OK)
      return rc;
    hub_store_bind_text(st, 1, device, -1, HUB_STORE_STATIC);
    hub_store_bind_text(st, 2, store, -1, HUB_STORE_STATIC);
    int s = hub_store_step(st);
    bool found = s == HUB_STORE_ROW && hub_store_column_text(st, 0) &&
                 shoal_id_valid((const char *)hub_store_column_text(st, 0));
    if (found)
      shoal_strlcpy(out, (const char *)hub_store_column_text(st, 0), SHOAL_ID_MAX + 1);
    hub_store_finalize(st);
    if (s != HUB_STORE_ROW && s != HUB_STORE_DONE)
      return hub_store_fail(ctx->db, s, "look up the region", diag);
    if (found)
      return SHOAL_OK;
  }
  strcpy(out, DEFAULT_REGION);
  return SHOAL_OK;
}

static char *agent_config_json(const struct hub_ctx *ctx, const char *device, const char *store,
                               const char *region, const char *profile_file, bool with_trust,
                               const char *const *serves, size_t nserves) {
  cJSON *o = cJSON_CreateObject(), *mqtt = NULL, *tls = NULL, *trust = NULL;
  char *text = NULL;
  if (!o || !cJSON_AddStringToObject(o, "device", device) ||
      !cJSON_AddStringToObject(o, "store", store) ||
      !cJSON_AddStringToObject(o, "region", region) ||
      !cJSON_AddStringToObject(o, "profile", profile_file) ||
      !cJSON_AddStringToObject(o, "db", "agent.db") ||
      !(mqtt = cJSON_AddObjectToObject(o, "mqtt")) ||
      !cJSON_AddStringToObject(mqtt, "host", ctx->cfg.mqtt.host) ||
      !cJSON_AddNumberToObject(mqtt, "port", ctx->cfg.mqtt.port) ||
      !(tls = cJSON_AddObjectToObject(mqtt, "tls")) ||
      !cJSON_AddStringToObject(tls, "ca", "ca.crt") ||
      !cJSON_AddStringToObject(tls, "cert", "device.crt") ||
      !cJSON_AddStringToObject(tls, "key", "device.key") ||
      !cJSON_AddStringToObject(o, "topic_prefix", ctx->cfg.topic_prefix))
    goto cleanup;
  if (with_trust && (!(trust = cJSON_AddObjectToObject(o, "trust")) ||
                     !cJSON_AddStringToObject(trust, "policy_pub", "policy-pub.pem")))
    goto cleanup;
  if (nserves) {
    cJSON *arr = cJSON_AddArrayToObject(o, "serves");
    for (size_t i = 0; i < nserves; i++)
      if (!arr || !cJSON_AddItemToArray(arr, cJSON_CreateString(serves[i])))
        goto cleanup;
  }
  text = cJSON_Print(o);
cleanup:
  cJSON_Delete(o);
  return text;
}

static shoal_err revoke_device(struct hub_ctx *ctx, const char *device, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      ctx->db,
      "UPDATE provisioned_devices SET revoked_ms = ? WHERE device = ? AND revoked_ms IS NULL", &st,
      diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_int64(st, 1, shoal_now_ms());
  hub_store_bind_text(st, 2, device, -1, HUB_STORE_STATIC);
  int s = hub_store_step(st);
  hub_store_finalize(st);
  if (s != HUB_STORE_DONE)
    return hub_store_fail(ctx->db, s, "revoke", diag);
  if (hub_store_changes(ctx->db) == 0)
    return shoal_fail(diag, SHOAL_ENOTFOUND, "device %s is not provisioned (or already revoked)",
                      device);
  printf("{\"device\": \"%s\", \"revoked\": true}\n", device);
  return SHOAL_OK;
}

static const struct shoal_argspec provision_spec[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file"},
    {"store", 0, true, false, "S", "store the device belongs to"},
    {"device", 0, true, false, "D", "device id (the certificate's CN)"},
    {"out", 0, true, false, "DIR", "folder for the device's certificate, key and agent config"},
    {"region", 0, true, false, "R", "region (default: the store's, else \"" DEFAULT_REGION "\")"},
    {"profile", 0, true, false, "NAME",
     "firmware profile name or file (default " DEFAULT_PROFILE ")"},
    {"days", 0, true, false, "N", "certificate lifetime in days (default 1825)"},
    {"serves", 0, true, false, "S1,S2",
     "stores whose tickets the device handles (default: its store); the ACL grants exactly these"},
    {"force", 0, false, false, NULL, "re-provision a device already provisioned for another store"},
    {"revoke", 0, false, false, NULL,
     "revoke --device (drop it from the ACL at the next broker-config)"},
};

/* The command line of `provision`, checked before anything is opened. */
struct provision_opts {
  const char *config, *store, *device, *out, *region, *profile, *serves_arg;
  bool revoke, force;
  int days;
  char serves_buf[SHOAL_SERVES_MAX * (SHOAL_ID_MAX + 1) + 1];
  const char *serves[SHOAL_SERVES_MAX];
  size_t nserves;
};

/* What one provisioning run makes; freed by provision_run_free. */
struct provision_run {
  struct hub_ctx ctx;
  struct hub_ca *ca;
  char *cert, *key, *pub, *conf, *prof_text, *prof_file, *conf_path, *out_abs;
  char region[SHOAL_ID_MAX + 1];
  char serial[HUB_CA_SERIAL_HEX_MAX];
  struct shoal_profile prof;
  bool ca_created;
};

static void provision_run_free(struct provision_run *r) {
  hub_ca_free(r->ca);
  free(r->cert);
  shoal_secure_free(r->key);
  free(r->pub);
  free(r->conf);
  free(r->prof_text);
  free(r->prof_file);
  free(r->conf_path);
  free(r->out_abs);
  hub_ctx_close(&r->ctx);
}

/* --serves S1,S2 (SPEC 15): checked like every identifier, before
 * anything is written; without it the device serves its own store.
 * Returns -1 to go on, else the exit code (the error reported). */
static int provision_parse_serves(struct provision_opts *o, shoal_diag *diag) {
  if (!o->serves_arg || o->revoke) {
    if (o->store)
      o->serves[o->nserves++] = o->store;
    return -1;
  }
  if (!shoal_strlcpy(o->serves_buf, o->serves_arg, sizeof o->serves_buf))
    return shoal_cli_usage_error(HUB_PROG, "provision", "--serves lists too many stores");
  for (char *save = NULL, *tok = strtok_r(o->serves_buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    if (o->nserves == SHOAL_SERVES_MAX)
      return shoal_cli_usage_error(HUB_PROG, "provision", "--serves lists more than %d stores",
                                   SHOAL_SERVES_MAX);
    if (!shoal_id_valid(tok))
      return shoal_cli_fail(
          HUB_PROG,
          shoal_fail(diag, SHOAL_EINPUT,
                     "--serves: \"%s\" is not a valid store identifier; nothing was issued", tok),
          diag);
    bool dup = false;
    for (size_t i = 0; i < o->nserves; i++)
      dup = dup || strcmp(o->serves[i], tok) == 0;
    if (!dup)
      o->serves[o->nserves++] = tok;
  }
  if (o->nserves == 0)
    return shoal_cli_usage_error(HUB_PROG, "provision", "--serves needs at least one store");
  return -1;
}

/* Phase 1: options. Returns -1 to go on, else the exit code (help printed
 * or the error reported). */
static int provision_parse(int argc, char **argv, struct provision_opts *o, shoal_diag *diag) {
  struct shoal_args a;
  const int nspec = (int)(sizeof provision_spec / sizeof provision_spec[0]);
  if (shoal_args_parse(&a, provision_spec, nspec, argc, argv, 1, diag) != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "provision", "%s", diag->msg);
  if (a.help) {
    shoal_args_usage(
        stdout,
        HUB_PROG " provision -c CONFIG --store S --device D --out DIR [--region R] "
                 "[--profile NAME]\n       " HUB_PROG " provision -c CONFIG --device D --revoke",
        "Issues a TLS client certificate (CN = the device id) from the hub's device CA "
        "(created on first use) and writes, in DIR, everything the device needs: "
        "ca.crt, device.crt, device.key, policy-pub.pem, its firmware profile and "
        "agent.json. The device is recorded for the broker ACL; re-run broker-config "
        "and reload the broker (SIGHUP) afterwards.",
        provision_spec, nspec);
    return 0;
  }
  o->config = shoal_args_get(&a, "config");
  o->store = shoal_args_get(&a, "store");
  o->device = shoal_args_get(&a, "device");
  o->out = shoal_args_get(&a, "out");
  o->region = shoal_args_get(&a, "region");
  o->serves_arg = shoal_args_get(&a, "serves");
  o->profile = shoal_args_get(&a, "profile") ? shoal_args_get(&a, "profile") : DEFAULT_PROFILE;
  o->revoke = shoal_args_flag(&a, "revoke");
  o->force = shoal_args_flag(&a, "force");
  const char *days_s = shoal_args_get(&a, "days");
  if (!o->config || !o->device || (!o->revoke && (!o->store || !o->out)))
    return shoal_cli_usage_error(HUB_PROG, "provision",
                                 o->revoke ? "-c CONFIG and --device are required"
                                           : "-c CONFIG, --store, --device and --out are required");
  /* Identifiers are checked before anything is opened or written: a device
   * name with '/', '+' or '#' would be a foothold in other stores' topics. */
  if (!shoal_id_valid(o->device) || (o->store && !shoal_id_valid(o->store)) ||
      (o->region && !shoal_id_valid(o->region))) {
    const char *bad = !shoal_id_valid(o->device)                ? o->device
                      : (o->store && !shoal_id_valid(o->store)) ? o->store
                                                                : o->region;
    shoal_err rc =
        shoal_fail(diag, SHOAL_EINPUT,
                   "\"%s\" is not a valid identifier (^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$); "
                   "nothing was issued",
                   bad);
    return shoal_cli_fail(HUB_PROG, rc, diag);
  }
  o->days = HUB_CA_DEVICE_DAYS;
  if (days_s) {
    char *end = NULL;
    long d = strtol(days_s, &end, 10);
    if (!*days_s || *end || d < 1 || d > 36500)
      return shoal_cli_usage_error(HUB_PROG, "provision", "--days must be 1..36500");
    o->days = (int)d;
  }
  return provision_parse_serves(o, diag);
}

/* A device belongs to one store: moving one is an explicit act (--force). */
static shoal_err provision_check_move(struct hub_ctx *ctx, const struct provision_opts *o,
                                      shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      ctx->db, "SELECT store FROM provisioned_devices WHERE device = ?", &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, o->device, -1, HUB_STORE_STATIC);
  char prev[SHOAL_ID_MAX + 1] = "";
  if (hub_store_step(st) == HUB_STORE_ROW && hub_store_column_text(st, 0))
    shoal_strlcpy(prev, (const char *)hub_store_column_text(st, 0), sizeof prev);
  hub_store_finalize(st);
  if (*prev && strcmp(prev, o->store) != 0 && !o->force)
    return shoal_fail(diag, SHOAL_EINPUT,
                      "device %s is already provisioned for store %s (give --force to move it "
                      "to %s)",
                      o->device, prev, o->store);
  return SHOAL_OK;
}

/* Phase 2: identity and profile: region, firmware profile, policy key,
 * the device certificate and its agent.json (nothing written yet). */
static shoal_err provision_resolve(struct provision_run *r, const struct provision_opts *o,
                                   shoal_diag *diag) {
  shoal_err rc;
  if (o->region)
    shoal_strlcpy(r->region, o->region, sizeof r->region);
  else if ((rc = default_region(&r->ctx, o->device, o->store, r->region, diag)) != SHOAL_OK)
    return rc;
  if ((rc = find_profile(&r->ctx, o->profile, &r->prof_text, &r->prof_file, &r->prof, diag)) !=
      SHOAL_OK)
    return rc;
  if (r->ctx.cfg.signing_key) {
    if ((rc = hub_ca_pubkey_pem_from_key(r->ctx.cfg.signing_key, &r->pub, diag)) != SHOAL_OK)
      return rc;
  } else {
    fprintf(stderr,
            "%s: warning: %s has no signing_key; agent.json gets no trust.policy_pub "
            "(add it before the agent verifies policies)\n",
            HUB_PROG, r->ctx.cfg.path);
  }
  if ((rc = open_ca(&r->ctx, &r->ca, &r->ca_created, diag)) != SHOAL_OK ||
      (rc = hub_ca_issue(r->ca, HUB_CERT_DEVICE, o->device, NULL, 0, o->days, &r->cert, &r->key,
                         r->serial, diag)) != SHOAL_OK)
    return rc;
  if (!(r->conf = agent_config_json(&r->ctx, o->device, o->store, r->region, r->prof_file,
                                    r->pub != NULL, o->serves, o->serves_arg ? o->nserves : 0)))
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  return SHOAL_OK;
}

/* Phase 3: the device's folder: CA, key, certificate, policy key, profile,
 * agent.json. */
static shoal_err provision_write(struct provision_run *r, const struct provision_opts *o,
                                 shoal_diag *diag) {
  shoal_err rc;
  if ((rc = mkdir_p(o->out, 0700, diag)) != SHOAL_OK)
    return rc;
  if (!(r->out_abs = realpath(o->out, NULL)))
    return shoal_fail(diag, SHOAL_EIO, "cannot resolve %s: %s", o->out, strerror(errno));
  const char *dir = r->out_abs;
  if ((rc = write_in(dir, "ca.crt", hub_ca_cert_pem(r->ca), 0644, NULL, diag)) ||
      (rc = write_in(dir, "device.key", r->key, 0600, NULL, diag)) ||
      (rc = write_in(dir, "device.crt", r->cert, 0644, NULL, diag)) ||
      (r->pub && (rc = write_in(dir, "policy-pub.pem", r->pub, 0644, NULL, diag))) ||
      (rc = write_in(dir, r->prof_file, r->prof_text, 0644, NULL, diag)) ||
      (rc = write_in(dir, "agent.json", r->conf, 0600, &r->conf_path, diag)))
    return rc;
  return SHOAL_OK;
}

/* Phase 4: the device in provisioned_devices and device_serves (inside
 * the caller's transaction). */
static shoal_err provision_record(struct provision_run *r, const struct provision_opts *o,
                                  shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(
      r->ctx.db,
      "INSERT INTO provisioned_devices (device, store, region, profile, cert_serial, "
      "issued_ms, revoked_ms) VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT(device) DO UPDATE "
      "SET store = excluded.store, region = excluded.region, profile = excluded.profile, "
      "cert_serial = excluded.cert_serial, issued_ms = excluded.issued_ms, revoked_ms = "
      "NULL",
      &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, o->device, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 2, o->store, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 3, r->region, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 4, r->prof.name, -1, HUB_STORE_STATIC);
  hub_store_bind_text(st, 5, r->serial, -1, HUB_STORE_STATIC);
  hub_store_bind_int64(st, 6, shoal_now_ms());
  int s = hub_store_step(st);
  hub_store_finalize(st);
  if (s != HUB_STORE_DONE)
    return hub_store_fail(r->ctx.db, s, "record the provisioned device", diag);
  return hub_serves_provision(r->ctx.db, o->device, o->serves, o->nserves, diag);
}

/* Phase 5: the report printed on success; NULL on OOM. Built before the
 * commit so a run that cannot report changes nothing in the database. */
static cJSON *provision_report(const struct provision_run *r, const struct provision_opts *o) {
  cJSON *res = cJSON_CreateObject(), *sv = NULL;
  bool ok = res && cJSON_AddStringToObject(res, "device", o->device) &&
            cJSON_AddStringToObject(res, "store", o->store) &&
            cJSON_AddStringToObject(res, "region", r->region) &&
            (sv = cJSON_AddArrayToObject(res, "serves"));
  for (size_t i = 0; ok && i < o->nserves; i++)
    ok = shoal_json_push(sv, cJSON_CreateString(o->serves[i]));
  ok = ok && cJSON_AddStringToObject(res, "profile", r->prof.name) &&
       cJSON_AddStringToObject(res, "config", r->conf_path) &&
       cJSON_AddStringToObject(res, "dir", r->out_abs) &&
       cJSON_AddStringToObject(res, "serial", r->serial) &&
       cJSON_AddBoolToObject(res, "ca_created", r->ca_created);
  if (!ok) {
    cJSON_Delete(res);
    return NULL;
  }
  return res;
}

int hub_cmd_provision(int argc, char **argv) {
  struct provision_opts o;
  memset(&o, 0, sizeof o);
  shoal_diag diag = {{0}};
  int code = provision_parse(argc, argv, &o, &diag);
  if (code >= 0)
    return code;
  code = 0;
  struct provision_run r;
  memset(&r, 0, sizeof r);
  cJSON *res = NULL;
  bool in_tx = false;
  shoal_err rc;
  if ((rc = hub_ctx_open(&r.ctx, o.config, &diag)) != SHOAL_OK ||
      (rc = hub_store_begin(r.ctx.db, &diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = true;
  if (o.revoke) {
    if ((rc = revoke_device(&r.ctx, o.device, &diag)) == SHOAL_OK &&
        (rc = hub_store_commit(r.ctx.db, &diag)) == SHOAL_OK)
      in_tx = false;
    goto cleanup;
  }
  if ((rc = provision_check_move(&r.ctx, &o, &diag)) != SHOAL_OK ||
      (rc = provision_resolve(&r, &o, &diag)) != SHOAL_OK ||
      (rc = provision_write(&r, &o, &diag)) != SHOAL_OK ||
      (rc = provision_record(&r, &o, &diag)) != SHOAL_OK)
    goto cleanup;
  if (!(res = provision_report(&r, &o))) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = hub_store_commit(r.ctx.db, &diag)) != SHOAL_OK)
    goto cleanup;
  in_tx = false;
  code = shoal_cli_print_json(HUB_PROG, res);
cleanup:
  if (in_tx)
    hub_store_rollback(r.ctx.db);
  cJSON_Delete(res);
  provision_run_free(&r);
  return rc == SHOAL_OK ? code : shoal_cli_fail(HUB_PROG, rc, &diag);
}

/* ---- broker-config ---------------------------------------------------- */

/* A topic of kind k for the ACL (identifiers were validated on insert and
 * are checked again by shoal_topic_format). */
static shoal_err acl_topic(struct shoal_sbuf *b, const char *access, const char *prefix,
                           enum shoal_topic k, const char *x, const char *y) {
  char t[SHOAL_TOPIC_MAX];
  shoal_err rc = shoal_topic_format(t, sizeof t, prefix, k, x, y);
  if (rc == SHOAL_OK)
    shoal_sbuf_printf(b, "topic %s %s\n", access, t);
  return rc;
}

/* Read grants on P/down/{store} for each store device serves (SPEC 15):
 * its provisioned list, or its own store for a device provisioned before
 * serves existed. */
static shoal_err acl_down(struct hub_ctx *ctx, struct shoal_sbuf *b, const char *P, const char *d,
                          const char *S, shoal_diag *diag) {
  hub_stmt *st = NULL;
  shoal_err rc = hub_store_prepare(ctx->db,
                                   "SELECT store FROM device_serves WHERE device = ? AND "
                                   "source = 'provision' ORDER BY store",
                                   &st, diag);
  if (rc != SHOAL_OK)
    return rc;
  hub_store_bind_text(st, 1, d, -1, HUB_STORE_STATIC);
  int s, n = 0;
  while (rc == SHOAL_OK && (s = hub_store_step(st)) == HUB_STORE_ROW) {
    const char *x = (const char *)hub_store_column_text(st, 0);
    if (!x || !shoal_id_valid(x))
      continue;
    n++;
    if ((rc = acl_topic(b, "read", P, SHOAL_TOPIC_DOWN_STORE, x, NULL)) != SHOAL_OK)
      rc = shoal_fail(diag, rc, "ACL down topic of store %s for device %s", x, d);
  }
  hub_store_finalize(st);
  if (rc == SHOAL_OK && n == 0 &&
      (rc = acl_topic(b, "read", P, SHOAL_TOPIC_DOWN_STORE, S, NULL)) != SHOAL_OK)
    rc = shoal_fail(diag, rc, "ACL down topic for device %s", d);
  return rc;
}

static shoal_err write_acl(struct hub_ctx *ctx, const char *path, int *ndevices, shoal_diag *diag) {
  struct shoal_sbuf b = {.max = ACL_MAX_BYTES};
  hub_stmt *st = NULL;
  shoal_err rc = SHOAL_OK;
  const char *P = ctx->cfg.topic_prefix;
  shoal_sbuf_printf(
      &b,
      "# Mosquitto ACL written by shoal-hub broker-config; do not edit: re-run it after\n"
      "# provisioning and send the broker SIGHUP. Usernames are certificate CNs\n"
      "# (use_identity_as_username). Anything not granted here is denied.\n\n"
      "# The hub: ingest, acks, policies, downlinks, presence, trust updates.\n"
      "user %s\ntopic readwrite %s/#\n\n"
      "# The hub's command-line tools (publish, trust): same grants, own client id.\n"
      "user %s\ntopic readwrite %s/#\n",
      HUB_CA_HUB_IDENTITY, P, HUB_CA_TOOLS_IDENTITY, P);
  if ((rc = hub_store_prepare(ctx->db,
                              "SELECT device, store, region FROM provisioned_devices WHERE "
                              "revoked_ms IS NULL ORDER BY device",
                              &st, diag)) != SHOAL_OK)
    goto cleanup;
  int n = 0, s;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    const char *d = (const char *)hub_store_column_text(st, 0);
    const char *S = (const char *)hub_store_column_text(st, 1);
    const char *R = (const char *)hub_store_column_text(st, 2);
    /* A row that is not a valid identifier triple is skipped, never
     * written: it could otherwise widen another device's grants. */
    if (!d || !S || !R || !shoal_id_valid(d) || !shoal_id_valid(S) || !shoal_id_valid(R))
      continue;
    shoal_sbuf_printf(&b, "\n# device %s, store %s, region %s\nuser %s\n", d, S, R, d);
    if ((rc = acl_topic(&b, "write", P, SHOAL_TOPIC_UP, S, d)) ||
        (rc = acl_topic(&b, "write", P, SHOAL_TOPIC_PRESENCE, S, d)) ||
        (rc = acl_topic(&b, "read", P, SHOAL_TOPIC_ACK, S, d)) ||
        (rc = acl_topic(&b, "read", P, SHOAL_TOPIC_DOWN_DEVICE, S, d)) ||
        (rc = acl_topic(&b, "read", P, SHOAL_TOPIC_POLICY_GLOBAL, NULL, NULL)) ||
        (rc = acl_topic(&b, "read", P, SHOAL_TOPIC_POLICY_REGION, R, NULL)) ||
        (rc = acl_topic(&b, "read", P, SHOAL_TOPIC_POLICY_STORE, S, NULL)) ||
        (rc = acl_topic(&b, "read", P, SHOAL_TOPIC_TRUST, NULL, NULL))) {
      rc = shoal_fail(diag, rc, "ACL topic for device %s", d);
      goto cleanup;
    }
    if ((rc = acl_down(ctx, &b, P, d, S, diag)) != SHOAL_OK)
      goto cleanup;
    n++;
  }
  if (s != HUB_STORE_DONE) {
    rc = hub_store_fail(ctx->db, s, "read provisioned devices", diag);
    goto cleanup;
  }
  if (b.failed) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "ACL too large");
    goto cleanup;
  }
  if ((rc = shoal_file_write_atomic(path, b.p, b.len, 0644, diag)) != SHOAL_OK)
    goto cleanup;
  *ndevices = n;
cleanup:
  hub_store_finalize(st);
  free(b.p);
  return rc;
}

/* Keeps an identity (cert + key files) that already chains to the CA with
 * the right CN; otherwise issues a new one. */
static shoal_err ensure_identity(struct hub_ca *ca, enum hub_cert_kind kind, const char *cn,
                                 const char *const *sans, size_t nsans, const char *cert_path,
                                 const char *key_path, bool *issued, shoal_diag *diag) {
  *issued = false;
  if (file_exists(cert_path) && file_exists(key_path)) {
    char *pem = NULL;
    size_t len = 0;
    shoal_diag ignore;
    bool ok = shoal_file_read(cert_path, 65536, &pem, &len, &ignore) == SHOAL_OK &&
              hub_ca_verify(ca, pem, cn, &ignore) == SHOAL_OK;
    free(pem);
    if (ok)
      return SHOAL_OK;
  }
  char *cert = NULL, *key = NULL, serial[HUB_CA_SERIAL_HEX_MAX];
  shoal_err rc =
      hub_ca_issue(ca, kind, cn, sans, nsans, HUB_CA_DEVICE_DAYS, &cert, &key, serial, diag);
  if (rc == SHOAL_OK &&
      (rc = shoal_file_write_atomic(key_path, key, strlen(key), 0600, diag)) == SHOAL_OK)
    rc = shoal_file_write_atomic(cert_path, cert, strlen(cert), 0644, diag);
  free(cert);
  shoal_secure_free(key);
  if (rc == SHOAL_OK)
    *issued = true;
  return rc;
}

static const struct shoal_argspec broker_spec[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file"},
    {"out", 0, true, false, "DIR", "folder for mosquitto.conf, acl and the broker's TLS files"},
};

/* The files broker-config writes, all in dir (its real path). */
struct broker_paths {
  char *dir, *conf, *acl, *ca, *srv_crt, *srv_key, *hub_crt, *hub_key, *tools_crt, *tools_key;
};

static void broker_paths_free(struct broker_paths *p) {
  char **all[] = {&p->dir,     &p->conf,    &p->acl,     &p->ca,        &p->srv_crt,
                  &p->srv_key, &p->hub_crt, &p->hub_key, &p->tools_crt, &p->tools_key};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    free(*all[i]);
    *all[i] = NULL;
  }
}

static shoal_err broker_paths_resolve(const char *out, struct broker_paths *p, shoal_diag *diag) {
  if (!(p->dir = realpath(out, NULL)))
    return shoal_fail(diag, SHOAL_EIO, "cannot resolve %s: %s", out, strerror(errno));
  p->conf = shoal_path_resolve(p->dir, "mosquitto.conf");
  p->acl = shoal_path_resolve(p->dir, "acl");
  p->ca = shoal_path_resolve(p->dir, "ca.crt");
  p->srv_crt = shoal_path_resolve(p->dir, "server.crt");
  p->srv_key = shoal_path_resolve(p->dir, "server.key");
  p->hub_crt = shoal_path_resolve(p->dir, "hub.crt");
  p->hub_key = shoal_path_resolve(p->dir, "hub.key");
  p->tools_crt = shoal_path_resolve(p->dir, HUB_TOOLS_CERT_FILE);
  p->tools_key = shoal_path_resolve(p->dir, HUB_TOOLS_KEY_FILE);
  if (!p->conf || !p->acl || !p->ca || !p->srv_crt || !p->srv_key || !p->hub_crt || !p->hub_key ||
      !p->tools_crt || !p->tools_key)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  return SHOAL_OK;
}

/* The CA certificate and the broker's, hub's and tools' identities in the
 * output folder; and the TLS files the hub config names that do not exist
 * yet, so `broker-config` then `run` is the whole setup. */
static shoal_err broker_identities(const struct hub_ctx *ctx, struct hub_ca *ca,
                                   const struct broker_paths *p, shoal_diag *diag) {
  const char *host = ctx->cfg.mqtt.host;
  const char *sans[4] = {host};
  size_t nsans = 1;
  const char *extra[] = {"127.0.0.1", "::1", "localhost"};
  for (size_t i = 0; i < 3; i++)
    if (strcmp(extra[i], host) != 0)
      sans[nsans++] = extra[i];
  bool srv_issued = false, hub_issued = false, tools_issued = false;
  shoal_err rc;
  if ((rc = shoal_file_write_atomic(p->ca, hub_ca_cert_pem(ca), strlen(hub_ca_cert_pem(ca)), 0644,
                                    diag)) != SHOAL_OK ||
      (rc = ensure_identity(ca, HUB_CERT_SERVER, host, sans, nsans, p->srv_crt, p->srv_key,
                            &srv_issued, diag)) != SHOAL_OK ||
      (rc = ensure_identity(ca, HUB_CERT_HUB, HUB_CA_HUB_IDENTITY, NULL, 0, p->hub_crt, p->hub_key,
                            &hub_issued, diag)) != SHOAL_OK ||
      (rc = ensure_identity(ca, HUB_CERT_TOOLS, HUB_CA_TOOLS_IDENTITY, NULL, 0, p->tools_crt,
                            p->tools_key, &tools_issued, diag)) != SHOAL_OK)
    return rc;
  const struct shoal_mqtt_config *m = &ctx->cfg.mqtt;
  if (m->tls_ca && !file_exists(m->tls_ca) &&
      (rc = shoal_file_write_atomic(m->tls_ca, hub_ca_cert_pem(ca), strlen(hub_ca_cert_pem(ca)),
                                    0644, diag)) != SHOAL_OK)
    return rc;
  if (m->tls_cert && m->tls_key && !file_exists(m->tls_cert) && !file_exists(m->tls_key)) {
    bool ignored;
    if ((rc = ensure_identity(ca, HUB_CERT_HUB, HUB_CA_HUB_IDENTITY, NULL, 0, m->tls_cert,
                              m->tls_key, &ignored, diag)) != SHOAL_OK)
      return rc;
  }
  /* The tools' identity beside the hub's own certificate, where
   * hub_publish_tools_mqtt looks for it. */
  if (m->tls_cert) {
    struct shoal_mqtt_config tm;
    char *tp[2];
    hub_publish_tools_mqtt(m, &tm, tp);
    bool ignored;
    if (tp[0] && tp[1])
      rc = ensure_identity(ca, HUB_CERT_TOOLS, HUB_CA_TOOLS_IDENTITY, NULL, 0, tp[0], tp[1],
                           &ignored, diag);
    free(tp[0]);
    free(tp[1]);
  }
  return rc;
}

/* mosquitto.conf's text into conf (conf->failed on OOM). */
static void broker_conf_text(const struct hub_ctx *ctx, const struct broker_paths *p,
                             struct shoal_sbuf *conf) {
  shoal_sbuf_printf(conf,
                    "# Mosquitto config written by shoal-hub broker-config from %s.\n"
                    "# Re-run broker-config rather than editing; reload with SIGHUP.\n"
                    "per_listener_settings false\n"
                    "allow_anonymous false\n"
                    "acl_file %s\n"
                    "# The broker is not Shoal's durable store (SPEC 4.2); enable persistence\n"
                    "# with a persistence_location the broker's user can write to keep retained\n"
                    "# policies across broker restarts.\n"
                    "persistence false\n"
                    "set_tcp_nodelay true\n"
                    "max_queued_messages 10000\n\n"
                    "listener %d %s\n"
                    "protocol mqtt\n"
                    "cafile %s\n"
                    "certfile %s\n"
                    "keyfile %s\n"
                    "require_certificate true\n"
                    "use_identity_as_username true\n"
                    "# The client id is the certificate's CN: no client can take over\n"
                    "# another's session (the hub's, another device's) by naming its id.\n"
                    "use_username_as_clientid true\n",
                    ctx->cfg.path, p->acl, ctx->cfg.mqtt.port, ctx->cfg.mqtt.host, p->ca,
                    p->srv_crt, p->srv_key);
  /* Mosquitto started as root switches to user "mosquitto" before it reads
   * the ACL and the server key, which root wrote here with mode 0600 (often
   * in a 0700 folder). Written as root, the broker is told to stay root; a
   * production install changes this to a dedicated user owning DIR. */
  if (geteuid() == 0)
    shoal_sbuf_printf(conf,
                      "\n# Generated as root: change to the broker's own user once it owns %s.\n"
                      "user root\n",
                      p->dir);
}

/* The report printed on success; NULL on OOM. */
static cJSON *broker_report(const struct broker_paths *p, int ndev, bool ca_created) {
  cJSON *res = cJSON_CreateObject();
  if (res && cJSON_AddStringToObject(res, "config", p->conf) &&
      cJSON_AddStringToObject(res, "acl", p->acl) && cJSON_AddStringToObject(res, "ca", p->ca) &&
      cJSON_AddStringToObject(res, "hub_identity", HUB_CA_HUB_IDENTITY) &&
      cJSON_AddStringToObject(res, "hub_cert", p->hub_crt) &&
      cJSON_AddStringToObject(res, "hub_key", p->hub_key) &&
      cJSON_AddStringToObject(res, "tools_identity", HUB_CA_TOOLS_IDENTITY) &&
      cJSON_AddStringToObject(res, "tools_cert", p->tools_crt) &&
      cJSON_AddNumberToObject(res, "devices", ndev) &&
      cJSON_AddBoolToObject(res, "ca_created", ca_created))
    return res;
  cJSON_Delete(res);
  return NULL;
}

int hub_cmd_broker_config(int argc, char **argv) {
  struct shoal_args a;
  shoal_diag diag = {{0}};
  shoal_err rc = SHOAL_OK;
  struct hub_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  struct hub_ca *ca = NULL;
  struct broker_paths paths;
  memset(&paths, 0, sizeof paths);
  struct shoal_sbuf conf = {.max = ACL_MAX_BYTES};
  cJSON *res = NULL;
  const int nspec = (int)(sizeof broker_spec / sizeof broker_spec[0]);
  if (shoal_args_parse(&a, broker_spec, nspec, argc, argv, 1, &diag) != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "broker-config", "%s", diag.msg);
  if (a.help) {
    shoal_args_usage(stdout, HUB_PROG " broker-config -c CONFIG --out DIR",
                     "Writes a Mosquitto config for a TLS listener on the hub config's mqtt "
                     "host:port (client certificates required, CN used as the username, no "
                     "anonymous clients) and an ACL confining each provisioned device to its own "
                     "topics, plus the broker's server certificate and the hub's client identity "
                     "(CN " HUB_CA_HUB_IDENTITY ") issued by the device CA.",
                     broker_spec, nspec);
    return 0;
  }
  const char *config = shoal_args_get(&a, "config"), *out = shoal_args_get(&a, "out");
  if (!config || !out)
    return shoal_cli_usage_error(HUB_PROG, "broker-config", "-c CONFIG and --out DIR are required");
  bool created = false;
  int ndev = 0, code = 0;
  if ((rc = hub_ctx_open(&ctx, config, &diag)) != SHOAL_OK ||
      (rc = open_ca(&ctx, &ca, &created, &diag)) != SHOAL_OK ||
      (rc = mkdir_p(out, 0755, &diag)) != SHOAL_OK ||
      (rc = broker_paths_resolve(out, &paths, &diag)) != SHOAL_OK ||
      (rc = broker_identities(&ctx, ca, &paths, &diag)) != SHOAL_OK ||
      (rc = write_acl(&ctx, paths.acl, &ndev, &diag)) != SHOAL_OK)
    goto cleanup;
  broker_conf_text(&ctx, &paths, &conf);
  if (conf.failed || !(res = broker_report(&paths, ndev, created))) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = shoal_file_write_atomic(paths.conf, conf.p, conf.len, 0644, &diag)) != SHOAL_OK)
    goto cleanup;
  code = shoal_cli_print_json(HUB_PROG, res);
cleanup:
  hub_ca_free(ca);
  free(conf.p);
  cJSON_Delete(res);
  broker_paths_free(&paths);
  hub_ctx_close(&ctx);
  return rc == SHOAL_OK ? code : shoal_cli_fail(HUB_PROG, rc, &diag);
}
