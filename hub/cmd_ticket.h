/* cmd_ticket.h - the shoal-hub subcommand defined in cmd_ticket.c, listed in
 * hub_cli.c's command table. */
#ifndef CMD_TICKET_H
#define CMD_TICKET_H

/* `shoal-hub ticket`: work-order codes, merged tickets, statements. argv is
 * borrowed; returns the process exit code (SPEC 2). */
int hub_cmd_ticket(int argc, char **argv);

#endif
