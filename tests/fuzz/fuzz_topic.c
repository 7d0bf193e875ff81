/* fuzz_topic.c - the topic parser: any topic a broker delivers. Invariant:
 * a parsed topic formats back to exactly the same string. */
#include "fuzz_util.h"
#include "shoal/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *t = fuzz_cstr(data, size);
  enum shoal_topic k;
  char a[SHOAL_ID_MAX + 1], b[SHOAL_ID_MAX + 1], back[SHOAL_TOPIC_MAX + 8];
  if (shoal_topic_parse("shoal/v1", t, &k, a, b) == SHOAL_OK) {
    if (shoal_topic_format(back, sizeof back, "shoal/v1", k, a[0] ? a : NULL, b[0] ? b : NULL) !=
            SHOAL_OK ||
        strcmp(back, t) != 0) {
      fprintf(stderr, "topic %s parsed but formats as %s\n", t, back);
      abort();
    }
  }
  free(t);
  return 0;
}
