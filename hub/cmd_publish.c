/* cmd_publish.c - `shoal-hub keygen` (the policy signing key pair) and
 * `shoal-hub publish` (validate, version, sign, record, publish retained;
 * the logic lives in hub_publish.c, shared with the HTTP API). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd_publish.h"
#include "hub_cli.h"
#include "hub_ctx.h"
#include "hub_publish.h"
#include "shoal/cli.h"
#include "shoal/crypto.h"
#include "shoal/shoal_limits.h"
#include "shoal/util.h"

static const struct shoal_argspec keygen_opts[] = {
    {"out", 0, true, false, "DIR", "folder for policy-key.pem and policy-pub.pem (required)"},
    {"force", 0, false, false, NULL, "replace an existing key pair"},
};
#define NKEYGEN ((int)(sizeof keygen_opts / sizeof keygen_opts[0]))

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

int hub_cmd_keygen(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  char *priv = NULL, *pub = NULL, *priv_path = NULL, *pub_path = NULL;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, keygen_opts, NKEYGEN, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "keygen", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, HUB_PROG " keygen --out DIR [--force]",
                     "Creates the ECDSA P-256 policy signing key pair: DIR/policy-key.pem\n"
                     "(private, mode 0600; point the hub config's signing_key at it) and\n"
                     "DIR/policy-pub.pem (give it to every agent as trust.policy_pub).\n"
                     "An existing key is never replaced without --force: agents trust it.",
                     keygen_opts, NKEYGEN);
    return 0;
  }
  const char *out = shoal_args_get(&args, "out");
  if (!out)
    return shoal_cli_usage_error(HUB_PROG, "keygen", "missing --out DIR");
  if (args.npositional)
    return shoal_cli_usage_error(HUB_PROG, "keygen", "unexpected argument \"%s\"",
                                 args.positional[0]);
  if (mkdir(out, 0700) != 0 && errno != EEXIST) {
    rc = shoal_fail(&diag, SHOAL_EIO, "cannot create %s: %s", out, strerror(errno));
    goto fail;
  }
  priv_path = shoal_path_resolve(out, "policy-key.pem");
  pub_path = shoal_path_resolve(out, "policy-pub.pem");
  if (!priv_path || !pub_path) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  if (!shoal_args_flag(&args, "force") && (file_exists(priv_path) || file_exists(pub_path))) {
    rc =
        shoal_fail(&diag, SHOAL_EINPUT,
                   "%s already holds a key pair; agents trust it (use --force to replace it)", out);
    goto fail;
  }
  if ((rc = shoal_key_generate(&priv, &pub, &diag)) != SHOAL_OK)
    goto fail;
  /* Private first: a public key without its private half is useless. */
  if ((rc = shoal_file_write_atomic(priv_path, priv, strlen(priv), 0600, &diag)) != SHOAL_OK ||
      (rc = shoal_file_write_atomic(pub_path, pub, strlen(pub), 0644, &diag)) != SHOAL_OK)
    goto fail;
  cJSON *o = cJSON_CreateObject();
  if (!cJSON_AddStringToObject(o, "private_key", priv_path) ||
      !cJSON_AddStringToObject(o, "public_key", pub_path)) {
    cJSON_Delete(o);
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  exit_code = shoal_cli_print_json(HUB_PROG, o);
  cJSON_Delete(o);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(HUB_PROG, rc, &diag);
cleanup:
  shoal_secure_free(priv);
  free(pub);
  free(priv_path);
  free(pub_path);
  return exit_code;
}

static const struct shoal_argspec publish_opts[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file (required)"},
    {"policy", 0, true, false, "FILE", "policy document to publish, or - for stdin (required)"},
    {"effective-at", 0, true, false, "ISO8601", "when the version takes effect (default: now)"},
    {"expires-at", 0, true, false, "ISO8601", "when the version expires (default: never)"},
    {"timeout", 0, true, false, "SECONDS", "wait at most this long for the broker (default 10)"},
};
#define NPUBLISH ((int)(sizeof publish_opts / sizeof publish_opts[0]))

int hub_cmd_publish(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct hub_ctx ctx = {0};
  struct hub_published pub;
  memset(&pub, 0, sizeof pub);
  char *doc = NULL;
  size_t len = 0;
  int exit_code = 0;
  shoal_err rc = shoal_args_parse(&args, publish_opts, NPUBLISH, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "publish", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(
        stdout,
        HUB_PROG " publish -c CONFIG --policy FILE [--effective-at ISO8601] [--expires-at ISO8601]",
        "Validates the policy document (exit 3 naming the problem), assigns the next\n"
        "version of its scope, signs it, records it and publishes it retained (QoS 1)\n"
        "on the scope's topic, waiting for the broker's acknowledgement.\n"
        "Prints {\"scope\": ..., \"version\": N}, plus \"unreachable\": [versions] when\n"
        "it overtakes scheduled versions (they will never take effect) and\n"
        "\"warnings\" (a rule on a SKU no scope prices, a scope no device reported).\n"
        "If the broker cannot be reached nothing is recorded (exit 1); if it stops\n"
        "answering after the version was recorded, exit 1 too, and `shoal-hub run`\n"
        "publishes that version when it is connected.",
        publish_opts, NPUBLISH);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  const char *policy = shoal_args_get(&args, "policy");
  const char *timeout = shoal_args_get(&args, "timeout");
  if (!config)
    return shoal_cli_usage_error(HUB_PROG, "publish", "missing -c CONFIG");
  if (!policy)
    return shoal_cli_usage_error(HUB_PROG, "publish", "missing --policy FILE");
  if (args.npositional)
    return shoal_cli_usage_error(HUB_PROG, "publish", "unexpected argument \"%s\"",
                                 args.positional[0]);
  int timeout_ms = HUB_PUBLISH_TIMEOUT_MS;
  if (timeout) {
    char *end = NULL;
    long t = strtol(timeout, &end, 10);
    if (!*timeout || *end || t < 1 || t > 3600)
      return shoal_cli_usage_error(HUB_PROG, "publish", "--timeout wants 1 to 3600 seconds");
    timeout_ms = (int)t * 1000;
  }
  if ((rc = shoal_file_read(policy, SHOAL_POLICY_DOC_MAX_BYTES, &doc, &len, &diag)) != SHOAL_OK) {
    if (rc == SHOAL_EIO)
      rc = SHOAL_EINPUT; /* an unreadable --policy file is bad input */
    goto fail;
  }
  if ((rc = hub_ctx_open(&ctx, config, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = hub_publish_policy(ctx.db, &ctx.cfg, doc, len, shoal_args_get(&args, "effective-at"),
                               shoal_args_get(&args, "expires-at"), timeout_ms, &ctx.log, &pub,
                               &diag)) != SHOAL_OK)
    goto fail;
  /* {"scope", "version"} plus SPEC 14's "unreachable" and "warnings". */
  cJSON *res = hub_published_json(&pub);
  exit_code = shoal_cli_print_json(HUB_PROG, res);
  cJSON_Delete(res);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(HUB_PROG, rc, &diag);
cleanup:
  hub_published_cleanup(&pub);
  free(doc);
  hub_ctx_close(&ctx);
  return exit_code;
}
