/* cmd_publish.h - the shoal-hub subcommands defined in cmd_publish.c, listed in
 * hub_cli.c's command table. */
#ifndef CMD_PUBLISH_H
#define CMD_PUBLISH_H

/* `shoal-hub keygen`: creates the ECDSA P-256 policy signing key pair. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_keygen(int argc, char **argv);

/* `shoal-hub publish`: validates, versions, signs, records and publishes a policy document. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_publish(int argc, char **argv);

#endif
