/* ticket.h - the work-order model (SPEC 7): ticket events, the fold that
 * turns any arrival order of them into one ticket, routing, SLA due times,
 * escalation steps and settlement. Pure: the same events and policies give
 * byte-identical JSON on every device and on the hub. Events are ordered by
 * (hlc, device, epoch, seq); a redelivered identity counts once. */
#ifndef SHOAL_TICKET_H
#define SHOAL_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/shoal_limits.h"
#include "shoal/wire.h"

/* Validates this module's sections of a policy document (SPEC 4.3:
 * routing, sla, escalation, rates); called by shoal_policy_validate_json. */
shoal_err shoal_ticket_validate_doc(const cJSON *doc, shoal_diag *diag);

/* True for "low", "normal", "high", "urgent". */
bool shoal_ticket_priority_valid(const char *p);

/* Rank of a priority (low 0 ... urgent 3), -1 if invalid. */
int shoal_ticket_priority_rank(const char *p);

/* Checks a ticket event envelope's body for its kind (SPEC 7.1): the
 * ticket id, a known kind and that kind's fields; `open` must name the
 * envelope's store. On success copies the id (SHOAL_ID_MAX + 1 bytes) and
 * kind (SHOAL_TICKET_KIND_MAX bytes). SHOAL_EINPUT names the problem. */
shoal_err shoal_ticket_event_check(const struct shoal_event *ev, char *ticket_out, char *kind_out,
                                   shoal_diag *diag);

/* Whether an event of kind may be applied to a ticket in state (SPEC 7.1,
 * the same table the fold uses). SHOAL_EINPUT naming both the state and the
 * state the event would lead to when it may not; also for "open". */
shoal_err shoal_ticket_kind_allowed(const char *state, const char *kind, shoal_diag *diag);

/* Price and cost of a part (SKU) in the ticket's store chain. Returns
 * SHOAL_ENOTFOUND for an unknown SKU. */
typedef shoal_err (*shoal_ticket_item_fn)(void *user, const char *sku, int64_t *price,
                                          int64_t *cost, shoal_diag *diag);

struct shoal_ticket_fold_opts {
  const cJSON *const *docs; /* policy documents of the chain, any order (borrowed) */
  size_t ndocs; /* docs whose scope is not global, the ticket's region or store are skipped */
  shoal_ticket_item_fn item; /* NULL: items are read from docs (most specific scope wins) */
  void *item_user;
  bool lenient_items; /* unknown part SKUs count 0 and are listed in settlement.unknown_skus
                         instead of failing the fold (stores keep working on stale prices) */
};

/* What the hub and agent index about a folded ticket. */
struct shoal_ticket_summary {
  char id[SHOAL_ID_MAX + 1];
  char store[SHOAL_ID_MAX + 1]; /* "" before open */
  char region[SHOAL_ID_MAX + 1];
  char state[SHOAL_TICKET_WORD_MAX];
  char priority[SHOAL_TICKET_WORD_MAX];
  char group[SHOAL_ID_MAX + 1];
  bool opened;
  int64_t opened_ms;      /* 0 if not opened */
  int64_t resolve_due_ms; /* 0 if no SLA applies */
  int64_t resolved_ms;    /* first resolve, 0 if none */
  int escalation_level;
  uint64_t last_hlc; /* highest hlc among the events */
};

/* Folds ticket event envelopes (a JSON array, any order, duplicates
 * allowed, all for one ticket) into the ticket as a JSON object (*out,
 * caller deletes) and, if summary is not NULL, its summary. Malformed
 * events or events of two tickets are SHOAL_EINPUT; an unknown part SKU
 * with rates given is SHOAL_ENOTFOUND. */
shoal_err shoal_ticket_fold(const cJSON *events, const struct shoal_ticket_fold_opts *opts,
                            cJSON **out, struct shoal_ticket_summary *summary, shoal_diag *diag);

/* The next escalation step due for a folded ticket at now_ms (SPEC 7.2:
 * step i falls due after_min minutes after the resolve due time). Returns
 * true and fills level (escalation_level + 1), group and priority (NULL
 * when the step does not set one; borrowed from docs) if the step is due
 * and the ticket is unresolved. */
bool shoal_ticket_escalation_due(const cJSON *const *docs, size_t ndocs,
                                 const struct shoal_ticket_summary *t, int64_t now_ms, int *level,
                                 const char **group, const char **priority);

/* When the next escalation step of a folded ticket falls due (unix ms), or
 * 0 if the ladder has no further step or the ticket is not escalatable. */
int64_t shoal_ticket_escalation_next_ms(const cJSON *const *docs, size_t ndocs,
                                        const struct shoal_ticket_summary *t);

#endif
