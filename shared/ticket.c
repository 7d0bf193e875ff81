/* ticket.c - PLACEHOLDER until issue 6 (tickets) lands: accepts every section. */
#include "ticket.h"

shoal_err shoal_ticket_validate_doc(const cJSON *doc, shoal_diag *diag) {
  (void)doc;
  (void)diag;
  return SHOAL_OK;
}
