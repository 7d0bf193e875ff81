/* main.c - shoal-hub entry point: all logic lives in the hub core. */
#include "hub_cli.h"

int main(int argc, char **argv) {
  return hub_cli_main(argc, argv);
}
