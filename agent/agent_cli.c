/* agent_cli.c - shoal-agent's top level: the subcommand table (--version,
 * --help and unknown-command usage errors come from shoal_cli_dispatch). */
#include "agent_cli.h"

#include "shoal/cli.h"

static const struct shoal_cli_command commands[] = {
    {"run", agent_cmd_run, "run the store device daemon (sync with the hub) in the foreground"},
    {"price", agent_cmd_price, "quote a basket from the cache or from policy files"},
    {"sale", agent_cmd_sale, "price a basket and record the sale durably"},
    {"return", agent_cmd_return, "return units of a sale made on this device"},
    {"status", agent_cmd_status, "show the device's sync and policy state as JSON"},
    {"form", agent_cmd_form, "list, show, validate and submit HQ-designed forms"},
    {"ticket", agent_cmd_ticket, "work orders: open, show, list, scan, event, fold"},
    {"policy", agent_cmd_policy,
     "policy import: load an unsigned policy locally (development aid)"},
};

static const struct shoal_cli_program program = {
    .prog = AGENT_PROG,
    .description = "Shoal store agent: prices baskets, records sales and forms offline, and syncs\n"
                   "with the hub over MQTT.",
    .name_width = 8,
    .commands = commands,
    .ncommands = sizeof commands / sizeof commands[0],
};

int agent_cli_main(int argc, char **argv) {
  return shoal_cli_dispatch(&program, argc, argv);
}
