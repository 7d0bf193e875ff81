/* agent_run.c - `shoal-agent run`: PLACEHOLDER until issue 4 (sync) lands. */
#include <stdio.h>
#include <string.h>

#include "agent_cli.h"
#include "cli.h"

int agent_cmd_run(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: %s run ...\n\nNot built yet.\n", AGENT_PROG);
    return 0;
  }
  fprintf(stderr, "%s: error: 'run' is not built yet\n", AGENT_PROG);
  return 1;
}
