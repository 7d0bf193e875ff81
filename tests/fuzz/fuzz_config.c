/* fuzz_config.c - agent and hub config files (SPEC 3) and firmware
 * profiles (SPEC 9): table-driven loaders that must refuse, never crash on,
 * any file an installer might leave behind. */
#include <unistd.h>

#include "fuzz_util.h"
#include "shoal/config.h"
#include "shoal/profile.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  snprintf(path, sizeof path, "/tmp/shoal-fuzz-config-%ld.json", (long)getpid());
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  shoal_diag d;
  struct shoal_profile prof;
  (void)shoal_profile_parse((const char *)data, size, &prof, &d);
  FILE *f = fopen(path, "wb");
  if (!f)
    abort();
  if (size && fwrite(data, 1, size, f) != size)
    abort();
  fclose(f);
  struct shoal_agent_config ac;
  if (shoal_agent_config_load(path, &ac, &d) == SHOAL_OK) {
    if (!shoal_id_valid(ac.device) || !shoal_id_valid(ac.store) || !shoal_id_valid(ac.region))
      abort(); /* SPEC 3: configs refuse identifiers that could reach a topic */
    shoal_agent_config_cleanup(&ac);
  }
  struct shoal_hub_config hc;
  if (shoal_hub_config_load(path, &hc, &d) == SHOAL_OK)
    shoal_hub_config_cleanup(&hc);
  return 0;
}
