/* main.c - shoal-agent entry point: all logic lives in the agent core. */
#include "agent_cli.h"

int main(int argc, char **argv) {
  return agent_cli_main(argc, argv);
}
