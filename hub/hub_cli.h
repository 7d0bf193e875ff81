/* hub_cli.h - shoal-hub's command line: the dispatch table and one entry
 * point per subcommand. Each returns the process exit code (SPEC 2). */
#ifndef HUB_CLI_H
#define HUB_CLI_H

#define HUB_PROG "shoal-hub"

/* Entry from main(). */
int hub_cli_main(int argc, char **argv);

int hub_cmd_run(int argc, char **argv);           /* hub_run.c */
int hub_cmd_keygen(int argc, char **argv);        /* cmd_publish.c */
int hub_cmd_publish(int argc, char **argv);       /* cmd_publish.c */
int hub_cmd_report(int argc, char **argv);        /* cmd_report.c */
int hub_cmd_ticket(int argc, char **argv);        /* cmd_ticket.c */
int hub_cmd_settle(int argc, char **argv);        /* cmd_settle.c */
int hub_cmd_provision(int argc, char **argv);     /* cmd_provision.c */
int hub_cmd_broker_config(int argc, char **argv); /* cmd_provision.c */
int hub_cmd_trust(int argc, char **argv);         /* cmd_trust.c */

#endif
