/* cmd_report.c - PLACEHOLDER commands until their issue lands: hub_cmd_report. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hub_cli.h"

static int placeholder(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: %s %s ...\n\nNot built yet.\n", HUB_PROG, argv[0]);
    return 0;
  }
  fprintf(stderr, "%s: error: '%s' is not built yet\n", HUB_PROG, argv[0]);
  return 1;
}
int hub_cmd_report(int argc, char **argv) { return placeholder(argc, argv); }
