/* hub_cli.h - shoal-hub's command line: the entry point behind main() and
 * the program name. The subcommands are declared by their own files'
 * headers (hub_run.h, cmd_*.h) and listed in hub_cli.c's table. */
#ifndef HUB_CLI_H
#define HUB_CLI_H

#define HUB_PROG "shoal-hub"

/* Entry from main(): dispatches argv (borrowed) to a subcommand; returns the
 * process exit code (SPEC 2). Defined in hub_cli.c. */
int hub_cli_main(int argc, char **argv);

#endif
