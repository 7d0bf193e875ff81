/* cmd_report.h - the shoal-hub subcommand defined in cmd_report.c, listed in
 * hub_cli.c's command table. */
#ifndef CMD_REPORT_H
#define CMD_REPORT_H

/* `shoal-hub report`: reports from the hub database. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_report(int argc, char **argv);

#endif
