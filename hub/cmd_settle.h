/* cmd_settle.h - the shoal-hub subcommand defined in cmd_settle.c, listed in
 * hub_cli.c's command table. */
#ifndef CMD_SETTLE_H
#define CMD_SETTLE_H

/* `shoal-hub settle`: store settlement for a period. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_settle(int argc, char **argv);

#endif
