/* agent_cli.h - shoal-agent's command line: the dispatch table and one entry
 * point per subcommand. Each returns the process exit code (SPEC 2). */
#ifndef AGENT_CLI_H
#define AGENT_CLI_H

#define AGENT_PROG "shoal-agent"

/* Entry from main(): parses argv[1] and runs the subcommand. */
int agent_cli_main(int argc, char **argv);

/* Subcommands: argv[0] is the subcommand name ("price", ...). */
int agent_cmd_run(int argc, char **argv);    /* agent_run.c */
int agent_cmd_price(int argc, char **argv);  /* cmd_price.c */
int agent_cmd_sale(int argc, char **argv);   /* cmd_price.c */
int agent_cmd_return(int argc, char **argv); /* cmd_price.c */
int agent_cmd_policy(int argc, char **argv); /* cmd_price.c: policy import (dev aid) */
int agent_cmd_status(int argc, char **argv); /* cmd_status.c */
int agent_cmd_form(int argc, char **argv);   /* cmd_form.c */
int agent_cmd_ticket(int argc, char **argv); /* cmd_ticket.c */

#endif
