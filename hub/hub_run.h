/* hub_run.h - the shoal-hub subcommand defined in hub_run.c, listed in
 * hub_cli.c's command table. */
#ifndef HUB_RUN_H
#define HUB_RUN_H

/* `shoal-hub run`: the hub daemon, in the foreground until SIGTERM/SIGINT. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_run(int argc, char **argv);

#endif
