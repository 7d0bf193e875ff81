/* cmd_trust.h - the shoal-hub subcommand defined in cmd_trust.c, listed in
 * hub_cli.c's command table. */
#ifndef CMD_TRUST_H
#define CMD_TRUST_H

/* `shoal-hub trust`: signs, records and publishes a trust update. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_trust(int argc, char **argv);

#endif
