/* cmd_price.c - `shoal-agent price|sale|policy`: PLACEHOLDER until issue 3 (pricing) lands. */
#include <stdio.h>
#include <string.h>

#include "agent_cli.h"
#include "cli.h"

static int placeholder(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: %s %s ...\n\nNot built yet.\n", AGENT_PROG, argv[0]);
    return 0;
  }
  fprintf(stderr, "%s: error: '%s' is not built yet\n", AGENT_PROG, argv[0]);
  return 1;
}

int agent_cmd_price(int argc, char **argv) { return placeholder(argc, argv); }
int agent_cmd_sale(int argc, char **argv) { return placeholder(argc, argv); }
int agent_cmd_policy(int argc, char **argv) { return placeholder(argc, argv); }
