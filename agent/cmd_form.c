/* cmd_form.c - `shoal-agent form`: PLACEHOLDER until issue 5 (forms) lands. */
#include <stdio.h>
#include <string.h>

#include "agent_cli.h"
#include "cli.h"

int agent_cmd_form(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: %s form ...\n\nNot built yet.\n", AGENT_PROG);
    return 0;
  }
  fprintf(stderr, "%s: error: 'form' is not built yet\n", AGENT_PROG);
  return 1;
}
