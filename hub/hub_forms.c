/* hub_forms.c - PLACEHOLDER until the forms issue lands: accepts forms events
 * without further processing (the identity is still recorded by ingest). */
#include "hub_ingest.h"

shoal_err hub_forms_ingest(struct hub_ctx *ctx, const struct shoal_event *ev, shoal_diag *diag) {
  (void)ctx;
  (void)ev;
  (void)diag;
  return SHOAL_OK;
}
