/* hub_cli.c - shoal-hub's top level: --version, --help and the subcommand
 * table. Unknown subcommands are usage errors (exit 2). */
#include "hub_cli.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} commands[] = {
    {"run", hub_cmd_run, "run the hub (ingest, merge, HTTP API) in the foreground"},
    {"keygen", hub_cmd_keygen, "create the ECDSA P-256 policy signing key pair"},
    {"publish", hub_cmd_publish, "validate, sign and publish a policy document"},
    {"report", hub_cmd_report, "reports from the hub database (report sales)"},
    {"ticket", hub_cmd_ticket, "work orders (ticket code: print a signed work-order code)"},
    {"settle", hub_cmd_settle, "store commission settlement for a period"},
    {"provision", hub_cmd_provision, "issue a device certificate and agent config"},
    {"broker-config", hub_cmd_broker_config, "write a Mosquitto TLS config and ACL file"},
    {"trust", hub_cmd_trust, "key rotation: sign and publish the list of trusted policy keys"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: %s <command> [options]\n       %s --version\n\n", HUB_PROG, HUB_PROG);
  fprintf(out, "Shoal hub: ingests every store device's events exactly once, publishes signed\n"
               "regional policies, merges work orders and serves HQ.\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun '%s <command> --help' for a command's options.\n"
               "Exit codes: 0 ok, 1 runtime failure, 2 usage, 3 invalid input, 4 security.\n",
          HUB_PROG);
}

int hub_cli_main(int argc, char **argv) {
  if (argc < 2) /* SPEC 2: an error is one stderr line */
    return shoal_cli_usage_error(HUB_PROG, NULL, "missing command");
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("%s %s\n", HUB_PROG, SHOAL_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, cmd) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  return shoal_cli_usage_error(HUB_PROG, NULL, "unknown command \"%s\"", cmd);
}
