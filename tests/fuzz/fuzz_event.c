/* fuzz_event.c - the event envelope decoder (SPEC 4.2), the first thing the
 * hub runs on every byte a device sends. Invariant: anything that decodes
 * re-encodes and decodes to the same identity. */
#include "fuzz_util.h"
#include "shoal/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct shoal_event ev;
  shoal_diag d;
  if (shoal_event_decode((const char *)data, size, &ev, &d) != SHOAL_OK)
    return 0;
  char *text = NULL;
  if (shoal_event_encode(&ev, &text) != SHOAL_OK)
    abort();
  struct shoal_event again;
  if (shoal_event_decode(text, strlen(text), &again, &d) != SHOAL_OK) {
    fprintf(stderr, "re-encoded event does not decode: %s\n%s\n", d.msg, text);
    abort();
  }
  if (strcmp(ev.device, again.device) || strcmp(ev.store, again.store) ||
      strcmp(ev.epoch, again.epoch) || ev.seq != again.seq || ev.hlc != again.hlc ||
      strcmp(ev.type, again.type))
    abort();
  /* The topic parser sees the same identifiers on the hub. */
  char topic[SHOAL_TOPIC_MAX], a[SHOAL_ID_MAX + 1], b[SHOAL_ID_MAX + 1];
  enum shoal_topic k;
  if (shoal_topic_format(topic, sizeof topic, "shoal/v1", SHOAL_TOPIC_UP, ev.store, ev.device) !=
          SHOAL_OK ||
      shoal_topic_parse("shoal/v1", topic, &k, a, b) != SHOAL_OK || k != SHOAL_TOPIC_UP ||
      strcmp(a, ev.store) || strcmp(b, ev.device))
    abort();
  shoal_event_cleanup(&again);
  shoal_event_cleanup(&ev);
  free(text);
  return 0;
}
