/* cmd_provision.h - the shoal-hub subcommands defined in cmd_provision.c, listed in
 * hub_cli.c's command table. */
#ifndef CMD_PROVISION_H
#define CMD_PROVISION_H

/* `shoal-hub provision`: issues a device certificate and agent config. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_provision(int argc, char **argv);

/* `shoal-hub broker-config`: writes the Mosquitto TLS config and ACL file. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_broker_config(int argc, char **argv);

#endif
