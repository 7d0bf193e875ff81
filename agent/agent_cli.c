/* agent_cli.c - shoal-agent's top level: --version, --help and the
 * subcommand table. Unknown subcommands are usage errors (exit 2). */
#include "agent_cli.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} commands[] = {
    {"run", agent_cmd_run, "run the store device daemon (sync with the hub) in the foreground"},
    {"price", agent_cmd_price, "quote a basket from the cache or from policy files"},
    {"sale", agent_cmd_sale, "price a basket and record the sale durably"},
    {"status", agent_cmd_status, "show the device's sync and policy state as JSON"},
    {"form", agent_cmd_form, "list, show, validate and submit HQ-designed forms"},
    {"ticket", agent_cmd_ticket, "work orders: open, show, list, scan, event, fold"},
    {"policy", agent_cmd_policy, "policy import: load an unsigned policy locally (development aid)"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: %s <command> [options]\n       %s --version\n\n", AGENT_PROG, AGENT_PROG);
  fprintf(out, "Shoal store agent: prices baskets, records sales and forms offline, and syncs\n"
               "with the hub over MQTT.\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun '%s <command> --help' for a command's options.\n"
               "Exit codes: 0 ok, 1 runtime failure, 2 usage, 3 invalid input, 4 security.\n",
          AGENT_PROG);
}

int agent_cli_main(int argc, char **argv) {
  if (argc < 2) /* SPEC 2: an error is one stderr line */
    return shoal_cli_usage_error(AGENT_PROG, NULL, "missing command");
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("%s %s\n", AGENT_PROG, SHOAL_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, cmd) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  return shoal_cli_usage_error(AGENT_PROG, NULL, "unknown command \"%s\"", cmd);
}
