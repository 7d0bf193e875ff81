/* hub_cli.c - shoal-hub's top level: the subcommand table (--version, --help
 * and unknown-command usage errors come from shoal_cli_dispatch). */
#include "hub_cli.h"

#include "cmd_provision.h"
#include "cmd_publish.h"
#include "cmd_report.h"
#include "cmd_settle.h"
#include "cmd_ticket.h"
#include "cmd_trust.h"
#include "hub_run.h"
#include "shoal/cli.h"

static const struct shoal_cli_command commands[] = {
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

static const struct shoal_cli_program program = {
    .prog = HUB_PROG,
    .description = "Shoal hub: ingests every store device's events exactly once, publishes signed\n"
                   "regional policies, merges work orders and serves HQ.",
    .name_width = 14,
    .commands = commands,
    .ncommands = sizeof commands / sizeof commands[0],
};

int hub_cli_main(int argc, char **argv) {
  return shoal_cli_dispatch(&program, argc, argv);
}
