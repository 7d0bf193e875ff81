/* cmd_ticket.c - `shoal-agent ticket`: PLACEHOLDER until issue 6 (tickets) lands. */
#include <stdio.h>
#include <string.h>

#include "agent_cli.h"
#include "cli.h"

int agent_cmd_ticket(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: %s ticket ...\n\nNot built yet.\n", AGENT_PROG);
    return 0;
  }
  fprintf(stderr, "%s: error: 'ticket' is not built yet\n", AGENT_PROG);
  return 1;
}
