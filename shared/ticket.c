/* ticket.c - the work-order model (SPEC 7): event checks, the fold, routing,
 * SLA and escalation, settlement. Determinism is the invariant: the fold
 * dedupes identities and sorts before it looks at anything, and every list
 * it prints is in fold order, so arrival order never reaches the output. */
#include "shoal/ticket.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/expr.h"
#include "shoal/hlc.h"
#include "shoal/jsonx.h"
#include "shoal/money.h"
#include "shoal/policy.h"
#include "shoal/pricing.h"
#include "shoal/slacal.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"

static const char *const priorities[] = {"low", "normal", "high", "urgent"};

int shoal_ticket_priority_rank(const char *p) {
  for (int i = 0; p && i < 4; i++)
    if (strcmp(p, priorities[i]) == 0)
      return i;
  return -1;
}

bool shoal_ticket_priority_valid(const char *p) {
  return shoal_ticket_priority_rank(p) >= 0;
}

/* ---- policy sections ---------------------------------------------------- */

static shoal_err check_nonneg_int(const cJSON *obj, const char *key, bool required, const char *ctx,
                                  int64_t max, shoal_diag *diag) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it) {
    if (required)
      return shoal_fail(diag, SHOAL_EINPUT, "%s: missing \"%s\"", ctx, key);
    return SHOAL_OK;
  }
  if (!shoal_json_is_int(it) || shoal_json_int(it) < 0 || shoal_json_int(it) > max)
    return shoal_fail(diag, SHOAL_EINPUT, "%s: \"%s\" must be an integer in 0..%" PRId64, ctx, key,
                      max);
  return SHOAL_OK;
}

static shoal_err check_keys(const cJSON *obj, const char *const *allowed, const char *ctx,
                            shoal_diag *diag) {
  for (const cJSON *k = obj->child; k; k = k->next) {
    bool ok = false;
    for (size_t i = 0; allowed[i]; i++)
      ok = ok || strcmp(k->string, allowed[i]) == 0;
    if (!ok)
      return shoal_fail(diag, SHOAL_EINPUT, "%s: unknown key \"%s\"", ctx, k->string);
  }
  return SHOAL_OK;
}

static shoal_err validate_routing(const cJSON *routing, shoal_diag *diag) {
  static const char *const keys[] = {"id", "if", "set", "stop", NULL};
  static const char *const set_keys[] = {"group", "priority", NULL};
  if (!cJSON_IsArray(routing))
    return shoal_fail(diag, SHOAL_EINPUT, "\"routing\" must be an array");
  if (cJSON_GetArraySize(routing) > SHOAL_TICKET_ROUTING_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "\"routing\" has more than %d rules",
                      SHOAL_TICKET_ROUTING_MAX);
  int i = 0;
  shoal_err rc;
  for (const cJSON *r = routing->child; r; r = r->next, i++) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "routing[%d]", i);
    if (!cJSON_IsObject(r))
      return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object", ctx);
    if ((rc = check_keys(r, keys, ctx, diag)) != SHOAL_OK)
      return rc;
    const char *id = NULL, *cond = NULL;
    bool stop = false;
    if ((rc = shoal_json_get_str(r, "id", true, &id, diag)) ||
        (rc = shoal_json_get_str(r, "if", false, &cond, diag)) ||
        (rc = shoal_json_get_bool(r, "stop", false, &stop, diag))) {
      shoal_diag_prefix(diag, "%s", ctx);
      return rc;
    }
    if (!shoal_id_valid(id))
      return shoal_fail(diag, SHOAL_EINPUT, "%s: \"id\" is not a valid identifier", ctx);
    for (const cJSON *p = routing->child; p != r; p = p->next) {
      const cJSON *pid = cJSON_GetObjectItemCaseSensitive(p, "id");
      if (cJSON_IsString(pid) && strcmp(pid->valuestring, id) == 0)
        return shoal_fail(diag, SHOAL_EINPUT, "routing: duplicate rule id \"%s\"", id);
    }
    if (cond) {
      shoal_expr *e = NULL;
      if ((rc = shoal_expr_compile(cond, &e, diag)) != SHOAL_OK) {
        shoal_diag_prefix(diag, "routing rule %s: \"if\"", id);
        return SHOAL_EINPUT;
      }
      shoal_expr_free(e);
    }
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(r, "set");
    if (set) {
      if (!cJSON_IsObject(set))
        return shoal_fail(diag, SHOAL_EINPUT, "routing rule %s: \"set\" must be an object", id);
      if ((rc = check_keys(set, set_keys, ctx, diag)) != SHOAL_OK)
        return rc;
      const char *g = NULL, *p = NULL;
      if ((rc = shoal_json_get_str(set, "group", false, &g, diag)) ||
          (rc = shoal_json_get_str(set, "priority", false, &p, diag))) {
        shoal_diag_prefix(diag, "routing rule %s: set", id);
        return rc;
      }
      if (g && !shoal_id_valid(g))
        return shoal_fail(diag, SHOAL_EINPUT,
                          "routing rule %s: set.group is not a valid identifier", id);
      if (p && !shoal_ticket_priority_valid(p))
        return shoal_fail(diag, SHOAL_EINPUT,
                          "routing rule %s: set.priority \"%s\" is not low, normal, high or urgent",
                          id, p);
    }
  }
  return SHOAL_OK;
}

static shoal_err validate_sla(const cJSON *sla, shoal_diag *diag) {
  static const char *const keys[] = {"respond_min", "resolve_min", NULL};
  if (!cJSON_IsObject(sla))
    return shoal_fail(diag, SHOAL_EINPUT, "\"sla\" must be an object");
  shoal_err rc;
  for (const cJSON *e = sla->child; e; e = e->next) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "sla.%.40s", e->string);
    if (strcmp(e->string, "calendar") == 0) { /* SPEC 15 */
      if ((rc = shoal_slacal_validate(e, diag)) != SHOAL_OK)
        return rc;
      continue;
    }
    if (!shoal_ticket_priority_valid(e->string))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "sla: unknown priority \"%s\" (low, normal, high, urgent)", e->string);
    if (!cJSON_IsObject(e))
      return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object", ctx);
    if ((rc = check_keys(e, keys, ctx, diag)) != SHOAL_OK)
      return rc;
    for (size_t i = 0; keys[i]; i++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, keys[i]);
      if (v && (!shoal_json_is_int(v) || shoal_json_int(v) < 1 ||
                shoal_json_int(v) > 100LL * 365 * 24 * 60))
        return shoal_fail(diag, SHOAL_EINPUT, "%s.%s must be a positive integer (minutes)", ctx,
                          keys[i]);
    }
  }
  return SHOAL_OK;
}

static shoal_err validate_escalation(const cJSON *esc, shoal_diag *diag) {
  static const char *const keys[] = {"after_min", "group", "priority", NULL};
  if (!cJSON_IsArray(esc))
    return shoal_fail(diag, SHOAL_EINPUT, "\"escalation\" must be an array");
  if (cJSON_GetArraySize(esc) > SHOAL_TICKET_ESC_STEPS_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "\"escalation\" has more than %d steps",
                      SHOAL_TICKET_ESC_STEPS_MAX);
  int i = 0;
  shoal_err rc;
  for (const cJSON *s = esc->child; s; s = s->next, i++) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "escalation[%d]", i);
    if (!cJSON_IsObject(s))
      return shoal_fail(diag, SHOAL_EINPUT, "%s must be an object", ctx);
    if ((rc = check_keys(s, keys, ctx, diag)) != SHOAL_OK ||
        (rc = check_nonneg_int(s, "after_min", true, ctx, 100LL * 365 * 24 * 60, diag)) != SHOAL_OK)
      return rc;
    const char *g = NULL, *p = NULL;
    if ((rc = shoal_json_get_str(s, "group", true, &g, diag)) ||
        (rc = shoal_json_get_str(s, "priority", false, &p, diag))) {
      shoal_diag_prefix(diag, "%s", ctx);
      return rc;
    }
    if (!shoal_id_valid(g))
      return shoal_fail(diag, SHOAL_EINPUT, "%s: \"group\" is not a valid identifier", ctx);
    if (p && !shoal_ticket_priority_valid(p))
      return shoal_fail(diag, SHOAL_EINPUT,
                        "%s: priority \"%s\" is not low, normal, high or urgent", ctx, p);
  }
  return SHOAL_OK;
}

static shoal_err validate_rates(const cJSON *rates, shoal_diag *diag) {
  static const char *const keys[] = {"labor_per_hour", "labor_cost_per_hour", "travel",
                                     "late_comp_per_hour", NULL};
  if (!cJSON_IsObject(rates))
    return shoal_fail(diag, SHOAL_EINPUT, "\"rates\" must be an object");
  shoal_err rc;
  if ((rc = check_keys(rates, keys, "rates", diag)) != SHOAL_OK)
    return rc;
  for (size_t i = 0; keys[i]; i++) {
    if (strcmp(keys[i], "travel") == 0)
      continue;
    if ((rc = check_nonneg_int(rates, keys[i], false, "rates", SHOAL_MONEY_MAX, diag)) != SHOAL_OK)
      return rc;
  }
  const cJSON *travel = cJSON_GetObjectItemCaseSensitive(rates, "travel");
  if (travel) {
    if (!cJSON_IsObject(travel))
      return shoal_fail(diag, SHOAL_EINPUT, "rates.travel must be an object {region: minor}");
    for (const cJSON *t = travel->child; t; t = t->next) {
      if (!shoal_id_valid(t->string))
        return shoal_fail(diag, SHOAL_EINPUT, "rates.travel: \"%s\" is not a valid region",
                          t->string);
      if (!shoal_json_is_int(t) || shoal_json_int(t) < 0 || shoal_json_int(t) > SHOAL_MONEY_MAX)
        return shoal_fail(diag, SHOAL_EINPUT,
                          "rates.travel.%s must be a non-negative integer (minor units)",
                          t->string);
    }
  }
  return SHOAL_OK;
}

shoal_err shoal_ticket_validate_doc(const cJSON *doc, shoal_diag *diag) {
  const cJSON *s;
  shoal_err rc;
  if ((s = cJSON_GetObjectItemCaseSensitive(doc, "routing")) &&
      (rc = validate_routing(s, diag)) != SHOAL_OK)
    return rc;
  if ((s = cJSON_GetObjectItemCaseSensitive(doc, "sla")) &&
      (rc = validate_sla(s, diag)) != SHOAL_OK)
    return rc;
  if ((s = cJSON_GetObjectItemCaseSensitive(doc, "escalation")) &&
      (rc = validate_escalation(s, diag)) != SHOAL_OK)
    return rc;
  if ((s = cJSON_GetObjectItemCaseSensitive(doc, "rates")) &&
      (rc = validate_rates(s, diag)) != SHOAL_OK)
    return rc;
  return SHOAL_OK;
}

/* ---- policy chain ------------------------------------------------------- */

/* Specificity of a doc for a ticket: 0 global, 1 its region, 2 its store,
 * -1 another region/store or no valid scope. */
static int doc_rank(const cJSON *doc, const char *region, const char *store) {
  const cJSON *sc = cJSON_GetObjectItemCaseSensitive(doc, "scope");
  if (!cJSON_IsString(sc))
    return -1;
  enum shoal_scope_kind kind;
  const char *id = NULL;
  if (shoal_scope_parse(sc->valuestring, &kind, &id, NULL) != SHOAL_OK)
    return -1;
  if (kind == SHOAL_SCOPE_GLOBAL)
    return 0;
  if (kind == SHOAL_SCOPE_REGION)
    return region && strcmp(id, region) == 0 ? 1 : -1;
  return store && strcmp(id, store) == 0 ? 2 : -1;
}

/* The value of key from the most specific doc of the chain that sets it. */
static const cJSON *chain_key(const cJSON *const *docs, size_t n, const char *region,
                              const char *store, const char *key) {
  const cJSON *best = NULL;
  int best_rank = -1;
  for (size_t i = 0; i < n; i++) {
    int r = doc_rank(docs[i], region, store);
    const cJSON *v = r >= 0 ? cJSON_GetObjectItemCaseSensitive(docs[i], key) : NULL;
    if (v && r > best_rank) {
      best = v;
      best_rank = r;
    }
  }
  return best;
}

/* The ticket's store price chain (SPEC 5.1) as a pricing model, built from
 * the docs that belong to its global/region/store scopes. */
static shoal_err chain_model(const cJSON *const *docs, size_t n, const char *region,
                             const char *store, struct shoal_pricing_model **out,
                             shoal_diag *diag) {
  struct shoal_scope_chain chain;
  struct shoal_pricing_src src[SHOAL_PRICING_SCOPES];
  int link[SHOAL_PRICING_SCOPES]; /* rank -> index in src, -1 if the chain lacks it */
  size_t nsrc = 0;
  shoal_err rc = shoal_scope_chain(&chain, region, store, diag);
  if (rc != SHOAL_OK)
    return rc;
  for (int r = 0; r < SHOAL_PRICING_SCOPES; r++) {
    link[r] = -1;
    if (!shoal_scope_chain_has(&chain, (enum shoal_scope_kind)r))
      continue;
    src[nsrc].scope = chain.scope[r];
    src[nsrc].doc = NULL;
    src[nsrc].version = 0;
    link[r] = (int)nsrc++;
  }
  /* Several docs of one scope: the last given wins, as a newer version would. */
  for (size_t i = 0; i < n; i++) {
    int r = doc_rank(docs[i], region, store);
    if (r >= 0 && link[r] >= 0)
      src[link[r]].doc = docs[i];
  }
  rc = shoal_pricing_model_new(src, nsrc, out, diag);
  if (rc != SHOAL_OK)
    shoal_diag_prefix(diag, "price chain of store %s", store);
  return rc;
}

/* ---- events ------------------------------------------------------------- */

static const char *const kinds[] = {"open",     "assign",   "scan",  "labor",  "part",
                                    "note",     "resolve",  "close", "cancel", "reopen",
                                    "priority", "escalate", NULL};

static shoal_err body_str(const cJSON *body, const char *key, bool required, bool id,
                          const char **out, shoal_diag *diag) {
  const char *s = NULL;
  shoal_err rc = shoal_json_get_str(body, key, required, &s, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (s && id && !shoal_id_valid(s))
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" is not a valid identifier", key);
  if (s && strlen(s) > SHOAL_TICKET_TEXT_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "\"%s\" is longer than %d bytes", key,
                      SHOAL_TICKET_TEXT_MAX);
  if (s)
    *out = s;
  return SHOAL_OK;
}

static shoal_err body_int(const cJSON *body, const char *key, int64_t min, int64_t max,
                          int64_t *out, shoal_diag *diag) {
  shoal_err rc = shoal_json_get_int(body, key, true, out, diag);
  if (rc != SHOAL_OK)
    return rc;
  if (*out < min || *out > max)
    return shoal_fail(diag, SHOAL_EINPUT, "\"%s\" must be in %" PRId64 "..%" PRId64, key, min, max);
  return SHOAL_OK;
}

static shoal_err check_body(const struct shoal_event *ev, const char *kind, shoal_diag *diag) {
  const cJSON *b = ev->body;
  const char *s = NULL;
  int64_t n = 0;
  shoal_err rc = SHOAL_OK;
  if (strcmp(kind, "open") == 0) {
    const char *p = NULL, *store = NULL, *region = NULL;
    if ((rc = body_str(b, "category", true, false, &s, diag)) ||
        (rc = body_str(b, "title", false, false, &s, diag)) ||
        (rc = body_str(b, "priority", true, false, &p, diag)) ||
        (rc = body_str(b, "store", false, true, &store, diag)) ||
        (rc = body_str(b, "region", false, true, &region, diag)))
      return rc;
    if (!shoal_ticket_priority_valid(p))
      return shoal_fail(diag, SHOAL_EINPUT, "priority \"%s\" is not low, normal, high or urgent",
                        p);
    /* store defaults to the sender's; naming another is refused */
    if (store && strcmp(store, ev->store) != 0)
      return shoal_fail(diag, SHOAL_EINPUT, "open names store %s but was sent by store %s", store,
                        ev->store);
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(b, "customer");
    if (cust && !cJSON_IsObject(cust) && !cJSON_IsNull(cust))
      return shoal_fail(diag, SHOAL_EINPUT, "\"customer\" must be an object");
    const cJSON *form = cJSON_GetObjectItemCaseSensitive(b, "form");
    if (form && !cJSON_IsString(form) && !cJSON_IsObject(form) && !cJSON_IsNull(form))
      return shoal_fail(diag, SHOAL_EINPUT, "\"form\" must be a string or an object");
  } else if (strcmp(kind, "assign") == 0) {
    if ((rc = body_str(b, "group", false, true, &s, diag)) ||
        (rc = body_str(b, "tech", false, true, &s, diag)))
      return rc;
  } else if (strcmp(kind, "labor") == 0) {
    if ((rc = body_int(b, "minutes", 1, SHOAL_TICKET_MINUTES_MAX, &n, diag)) ||
        (rc = body_str(b, "tech", true, true, &s, diag)))
      return rc;
  } else if (strcmp(kind, "part") == 0) {
    if ((rc = body_str(b, "sku", true, false, &s, diag)) ||
        (rc = body_int(b, "qty", 1, SHOAL_LINE_MAX_QTY, &n, diag)))
      return rc;
    if (!*s)
      return shoal_fail(diag, SHOAL_EINPUT, "\"sku\" must not be empty");
  } else if (strcmp(kind, "note") == 0) {
    rc = body_str(b, "text", true, false, &s, diag);
  } else if (strcmp(kind, "priority") == 0) {
    if ((rc = body_str(b, "priority", true, false, &s, diag)))
      return rc;
    if (!shoal_ticket_priority_valid(s))
      return shoal_fail(diag, SHOAL_EINPUT, "priority \"%s\" is not low, normal, high or urgent",
                        s);
  } else if (strcmp(kind, "escalate") == 0) {
    const char *p = NULL;
    if ((rc = body_int(b, "level", 1, SHOAL_TICKET_ESC_STEPS_MAX, &n, diag)) ||
        (rc = body_str(b, "group", true, true, &s, diag)) ||
        (rc = body_str(b, "priority", false, false, &p, diag)))
      return rc;
    if (p && !shoal_ticket_priority_valid(p))
      return shoal_fail(diag, SHOAL_EINPUT, "priority \"%s\" is not low, normal, high or urgent",
                        p);
  }
  return rc;
}

shoal_err shoal_ticket_event_check(const struct shoal_event *ev, char *ticket_out, char *kind_out,
                                   shoal_diag *diag) {
  const char *id = NULL, *kind = NULL;
  shoal_err rc;
  if (strcmp(ev->type, "ticket") != 0)
    return shoal_fail(diag, SHOAL_EINPUT, "event of type %s is not a ticket event", ev->type);
  if ((rc = shoal_json_get_str(ev->body, "ticket", true, &id, diag)) ||
      (rc = shoal_json_get_str(ev->body, "kind", true, &kind, diag)))
    return rc;
  if (!shoal_id_valid(id))
    return shoal_fail(diag, SHOAL_EINPUT, "ticket id \"%.80s\" is not a valid identifier", id);
  bool known = false;
  for (size_t i = 0; kinds[i]; i++)
    known = known || strcmp(kinds[i], kind) == 0;
  if (!known)
    return shoal_fail(diag, SHOAL_EINPUT, "unknown ticket event kind \"%.40s\"", kind);
  if ((rc = check_body(ev, kind, diag)) != SHOAL_OK) {
    shoal_diag_prefix(diag, "ticket %s %s event (%s/%" PRId64 ")", id, kind, ev->device, ev->seq);
    return rc;
  }
  strcpy(ticket_out, id);
  strcpy(kind_out, kind);
  return SHOAL_OK;
}

/* ---- fold --------------------------------------------------------------- */

struct tev {
  struct shoal_event ev;
  char kind[SHOAL_TICKET_KIND_MAX];
  uint64_t epoch;
  char *canon; /* body text: breaks ties between two versions of one identity */
};

static int cmp_identity(const struct tev *a, const struct tev *b) {
  int c = strcmp(a->ev.device, b->ev.device);
  if (c)
    return c;
  if (a->epoch != b->epoch)
    return a->epoch < b->epoch ? -1 : 1;
  if ((c = strcmp(a->ev.epoch, b->ev.epoch)))
    return c;
  if (a->ev.seq != b->ev.seq)
    return a->ev.seq < b->ev.seq ? -1 : 1;
  return 0;
}

static int cmp_dedupe(const void *pa, const void *pb) {
  const struct tev *a = *(const struct tev *const *)pa, *b = *(const struct tev *const *)pb;
  int c = cmp_identity(a, b);
  if (c)
    return c;
  if (a->ev.hlc != b->ev.hlc)
    return a->ev.hlc < b->ev.hlc ? -1 : 1;
  return strcmp(a->canon, b->canon);
}

static int cmp_order(const void *pa, const void *pb) {
  const struct tev *a = *(const struct tev *const *)pa, *b = *(const struct tev *const *)pb;
  if (a->ev.hlc != b->ev.hlc)
    return a->ev.hlc < b->ev.hlc ? -1 : 1;
  return cmp_identity(a, b);
}

enum tstate { T_NEW, T_ASSIGNED, T_ON_SITE, T_RESOLVED, T_CLOSED, T_CANCELLED, T_NSTATES };
static const char *const state_names[] = {"new",      "assigned", "on_site",
                                          "resolved", "closed",   "cancelled"};

#define S_(x) (1u << (x))
#define LIVE_ (S_(T_NEW) | S_(T_ASSIGNED) | S_(T_ON_SITE))
#define WORK_ (LIVE_ | S_(T_RESOLVED))
/* SPEC 7.1 transitions, once: the states each kind is allowed from. The
 * fold and the agent's refusals (shoal_ticket_kind_allowed) read this one
 * table. Work (labor, part, note) is booked on a live ticket, resolved
 * included (a technician books time after the fix); closed and cancelled
 * tickets are final. */
static const struct {
  const char *kind;
  unsigned from;
} allowed_from[] = {
    {"assign", S_(T_NEW)},
    {"scan", S_(T_ASSIGNED)},
    {"resolve", S_(T_ON_SITE)},
    {"close", S_(T_RESOLVED)},
    {"reopen", S_(T_RESOLVED)},
    {"cancel", LIVE_},
    {"labor", WORK_},
    {"part", WORK_},
    {"note", WORK_},
    {"priority", LIVE_},
    {"escalate", LIVE_},
};

static bool allowed(const char *kind, enum tstate s) {
  for (size_t i = 0; i < sizeof allowed_from / sizeof allowed_from[0]; i++)
    if (strcmp(allowed_from[i].kind, kind) == 0)
      return (allowed_from[i].from & S_(s)) != 0;
  return false;
}

shoal_err shoal_ticket_kind_allowed(const char *state, const char *kind, shoal_diag *diag) {
  for (int s = 0; s < T_NSTATES; s++) {
    if (strcmp(state_names[s], state) != 0)
      continue;
    if (strcmp(kind, "open") == 0)
      return shoal_fail(diag, SHOAL_EINPUT, "ticket is already open (state %s)", state);
    if (allowed(kind, (enum tstate)s))
      return SHOAL_OK;
    /* Name the state the event would lead to, so the refusal says both. */
    static const char *const to[][2] = {{"assign", "assigned"},  {"scan", "on_site"},
                                        {"resolve", "resolved"}, {"close", "closed"},
                                        {"reopen", "on_site"},   {"cancel", "cancelled"}};
    for (size_t i = 0; i < sizeof to / sizeof to[0]; i++)
      if (strcmp(to[i][0], kind) == 0)
        return shoal_fail(diag, SHOAL_EINPUT,
                          "%s is not allowed from state %s (%s -> %s is not a transition)", kind,
                          state, state, to[i][1]);
    return shoal_fail(diag, SHOAL_EINPUT, "%s is not allowed in state %s", kind, state);
  }
  return shoal_fail(diag, SHOAL_EINPUT, "unknown ticket state \"%.20s\"", state);
}

struct fold {
  bool opened;
  enum tstate state;
  const cJSON *open; /* the open body */
  char priority[SHOAL_TICKET_WORD_MAX];
  char open_priority[SHOAL_TICKET_WORD_MAX]; /* after routing: the SLA clock's priority */
  const char *group, *tech;
  int escalation_level;
  int64_t opened_ms, first_response_ms, resolved_ms, closed_ms, cancelled_ms;
  int64_t labor_minutes;
  cJSON *labor, *parts, *notes, *ignored, *routed;
  bool oom; /* an allocation failed while folding: the fold fails with ENOMEM */
};

static void ignore(struct fold *f, const struct tev *t, const char *reason) {
  cJSON *o = cJSON_CreateObject();
  bool ok = o != NULL;
  ok &= cJSON_AddStringToObject(o, "device", t->ev.device) != NULL;
  ok &= cJSON_AddStringToObject(o, "epoch", t->ev.epoch) != NULL;
  ok &= cJSON_AddNumberToObject(o, "seq", (double)t->ev.seq) != NULL;
  ok &= cJSON_AddStringToObject(o, "kind", t->kind) != NULL;
  ok &= cJSON_AddStringToObject(o, "reason", reason) != NULL;
  if (!ok) {
    cJSON_Delete(o);
    o = NULL;
  }
  if (!shoal_json_push(f->ignored, o))
    f->oom = true;
}

/* Adds n to the "key" entry whose "name" member equals name, or appends one. */
static void sum_into(struct fold *f, cJSON *arr, const char *name_key, const char *name,
                     const char *num_key, int64_t n) {
  cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, name_key);
    if (strcmp(nm->valuestring, name) == 0) {
      cJSON *v = cJSON_GetObjectItemCaseSensitive(e, num_key);
      cJSON_SetNumberValue(v, v->valuedouble + (double)n);
      return;
    }
  }
  e = cJSON_CreateObject();
  bool ok = e != NULL;
  ok &= cJSON_AddStringToObject(e, name_key, name) != NULL;
  ok &= cJSON_AddNumberToObject(e, num_key, (double)n) != NULL;
  if (!ok) {
    cJSON_Delete(e);
    e = NULL;
  }
  if (!shoal_json_push(arr, e))
    f->oom = true;
}

/* Replaces vars[key] with the string v; false if out of memory. Not
 * cJSON_ReplaceItemInObject: cJSON 1.7.15 ignores a failed copy of the key
 * there and links the item with no name, so the key silently disappears
 * (found by tests/fault/fault_alloc.c). */
static bool replace_str(cJSON *vars, const char *key, const char *v) {
  cJSON_DeleteItemFromObjectCaseSensitive(vars, key);
  return shoal_json_put(vars, key, cJSON_CreateString(v));
}

/* Routing (SPEC 7.2): ordered rules over the ticket's fields; each matching
 * rule's set applies in order (later rules see earlier sets), a matching
 * stop ends the list. */
static shoal_err route(struct fold *f, const cJSON *routing, const struct tev *open,
                       shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  if (!routing)
    return SHOAL_OK;
  const cJSON *b = open->ev.body;
  cJSON *vars = cJSON_CreateObject();
  bool ok = vars != NULL;
  const char *keys[] = {"category", "title", "store", "region"};
  for (size_t i = 0; i < 4; i++)
    ok &= shoal_json_put(vars, keys[i],
                         cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b, keys[i]), 1));
  ok &= cJSON_AddStringToObject(vars, "priority", f->priority) != NULL;
  ok &= cJSON_AddNullToObject(vars, "group") != NULL;
  const cJSON *cust = cJSON_GetObjectItemCaseSensitive(b, "customer");
  ok &= shoal_json_put(vars, "customer",
                       cJSON_IsObject(cust) ? cJSON_Duplicate(cust, 1) : cJSON_CreateNull());
  if (!ok) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  const cJSON *r;
  cJSON_ArrayForEach(r, routing) {
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(r, "if");
    bool match = true;
    if (cJSON_IsString(cond)) {
      shoal_expr *e = NULL;
      if ((rc = shoal_expr_compile(cond->valuestring, &e, diag)) != SHOAL_OK)
        goto cleanup;
      rc = shoal_expr_test(e, vars, &match, diag);
      shoal_expr_free(e);
      if (rc != SHOAL_OK)
        goto cleanup;
    }
    if (!match)
      continue;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
    if (!shoal_json_push(f->routed,
                         cJSON_CreateString(cJSON_IsString(id) ? id->valuestring : ""))) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(r, "set");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(set, "group");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(set, "priority");
    if (cJSON_IsString(g)) {
      f->group = g->valuestring;
      if (!replace_str(vars, "group", g->valuestring)) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        goto cleanup;
      }
    }
    if (cJSON_IsString(p) && shoal_ticket_priority_valid(p->valuestring)) {
      shoal_strlcpy(f->priority, p->valuestring, sizeof f->priority);
      if (!replace_str(vars, "priority", p->valuestring)) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        goto cleanup;
      }
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "stop")))
      break;
  }
cleanup:
  cJSON_Delete(vars);
  if (rc != SHOAL_OK)
    shoal_diag_prefix(diag, "routing");
  return rc;
}

static shoal_err apply(struct fold *f, const struct tev *t, const cJSON *routing,
                       shoal_diag *diag) {
  const cJSON *b = t->ev.body;
  const char *k = t->kind;
  int64_t ms = SHOAL_HLC_MS(t->ev.hlc);
  if (strcmp(k, "open") == 0) {
    if (f->opened) {
      ignore(f, t, "already open");
      return SHOAL_OK;
    }
    f->opened = true;
    f->open = b;
    f->state = T_NEW;
    f->opened_ms = ms;
    shoal_strlcpy(f->priority, cJSON_GetObjectItemCaseSensitive(b, "priority")->valuestring,
                  sizeof f->priority);
    shoal_err rc = route(f, routing, t, diag);
    if (rc != SHOAL_OK)
      return rc;
    memcpy(f->open_priority, f->priority, sizeof f->priority);
    return SHOAL_OK;
  }
  if (!f->opened) {
    ignore(f, t, "before open");
    return SHOAL_OK;
  }
  char why[64];
  snprintf(why, sizeof why, "not allowed in state %s", state_names[f->state]);
  const cJSON *v;
  if (!allowed(k, f->state))
    goto refuse;
  if (strcmp(k, "assign") == 0) {
    f->state = T_ASSIGNED;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(b, "group")))
      f->group = v->valuestring;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(b, "tech")))
      f->tech = v->valuestring;
    if (!f->first_response_ms)
      f->first_response_ms = ms;
  } else if (strcmp(k, "scan") == 0) {
    f->state = T_ON_SITE;
  } else if (strcmp(k, "resolve") == 0) {
    f->state = T_RESOLVED;
    if (!f->resolved_ms)
      f->resolved_ms = ms;
  } else if (strcmp(k, "close") == 0) {
    f->state = T_CLOSED;
    f->closed_ms = ms;
  } else if (strcmp(k, "reopen") == 0) {
    f->state = T_ON_SITE;
  } else if (strcmp(k, "cancel") == 0) {
    f->state = T_CANCELLED;
    f->cancelled_ms = ms;
  } else if (strcmp(k, "labor") == 0) {
    int64_t m = shoal_json_int(cJSON_GetObjectItemCaseSensitive(b, "minutes"));
    f->labor_minutes += m;
    sum_into(f, f->labor, "tech", cJSON_GetObjectItemCaseSensitive(b, "tech")->valuestring,
             "minutes", m);
  } else if (strcmp(k, "part") == 0) {
    sum_into(f, f->parts, "sku", cJSON_GetObjectItemCaseSensitive(b, "sku")->valuestring, "qty",
             shoal_json_int(cJSON_GetObjectItemCaseSensitive(b, "qty")));
  } else if (strcmp(k, "note") == 0) {
    cJSON *n = cJSON_CreateObject();
    char at[SHOAL_TIME_TEXT_MAX];
    shoal_time_format_utc(ms, at, sizeof at);
    bool ok = n != NULL;
    ok &= cJSON_AddStringToObject(n, "at", at) != NULL;
    ok &= cJSON_AddStringToObject(n, "device", t->ev.device) != NULL;
    ok &= cJSON_AddStringToObject(n, "text",
                                  cJSON_GetObjectItemCaseSensitive(b, "text")->valuestring) != NULL;
    if (!ok) {
      cJSON_Delete(n);
      n = NULL;
    }
    if (!shoal_json_push(f->notes, n))
      f->oom = true;
  } else if (strcmp(k, "priority") == 0) {
    shoal_strlcpy(f->priority, cJSON_GetObjectItemCaseSensitive(b, "priority")->valuestring,
                  sizeof f->priority);
  } else if (strcmp(k, "escalate") == 0) {
    int level = (int)shoal_json_int(cJSON_GetObjectItemCaseSensitive(b, "level"));
    /* Two emitters of one step (a hub restart) must not double-escalate. */
    if (level <= f->escalation_level) {
      ignore(f, t, "escalation level already reached");
      return SHOAL_OK;
    }
    f->escalation_level = level;
    f->group = cJSON_GetObjectItemCaseSensitive(b, "group")->valuestring;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(b, "priority")) &&
        shoal_ticket_priority_rank(v->valuestring) > shoal_ticket_priority_rank(f->priority))
      shoal_strlcpy(f->priority, v->valuestring, sizeof f->priority);
  }
  return SHOAL_OK;
refuse:
  ignore(f, t, why);
  return SHOAL_OK;
}

/* False if out of memory. */
static bool add_time(cJSON *o, const char *key, int64_t ms) {
  if (!ms)
    return cJSON_AddNullToObject(o, key) != NULL;
  char buf[SHOAL_TIME_TEXT_MAX];
  shoal_time_format_utc(ms, buf, sizeof buf);
  return cJSON_AddStringToObject(o, key, buf) != NULL;
}

static int64_t int_or0(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return shoal_json_is_int(v) ? shoal_json_int(v) : 0;
}

/* Due time in ms for the SLA priority (minutes counted in the calendar),
 * 0 if no SLA entry. */
static int64_t sla_due(const cJSON *sla, const struct shoal_slacal *cal, const char *priority,
                       const char *which, int64_t from_ms) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(sla, priority);
  int64_t m = int_or0(e, which);
  return m > 0 ? shoal_slacal_add(cal, from_ms, m) : 0;
}

/* The ticket's SLA calendar (SPEC 15): sla.calendar and utc_offset, each
 * from the most specific scope of the chain that sets it. A calendar that
 * does not parse counts as none (the hub refuses to publish one). */
static void chain_cal(const cJSON *const *docs, size_t n, const char *region, const char *store,
                      struct shoal_slacal *cal) {
  const cJSON *sla = chain_key(docs, n, region, store, "sla");
  const cJSON *off = chain_key(docs, n, region, store, "utc_offset");
  if (shoal_slacal_init(cal, cJSON_GetObjectItemCaseSensitive(sla, "calendar"),
                        cJSON_IsString(off) ? off->valuestring : NULL, NULL) != SHOAL_OK) {
    shoal_slacal_cleanup(cal);
    memset(cal, 0, sizeof *cal);
  }
}

#define CHECKED(expr)                                                                              \
  do {                                                                                             \
    if (!(expr)) {                                                                                 \
      rc = shoal_fail(diag, SHOAL_ELIMIT, "settlement amount out of range");                       \
      goto cleanup;                                                                                \
    }                                                                                              \
  } while (0)

/* Settlement (SPEC 7.3), all integer minor units. */
static shoal_err settle(const struct fold *f, const cJSON *rates, int64_t due_ms,
                        const struct shoal_slacal *cal, const struct shoal_ticket_fold_opts *opts,
                        const char *region, const char *store, cJSON **out, shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  int64_t per_h = int_or0(rates, "labor_per_hour"), cost_h = int_or0(rates, "labor_cost_per_hour");
  int64_t comp_h = int_or0(rates, "late_comp_per_hour");
  int64_t travel = int_or0(cJSON_GetObjectItemCaseSensitive(rates, "travel"), region);
  int64_t labor_rev = 0, labor_cost = 0, parts_rev = 0, parts_cost = 0, late_hours = 0,
          late_comp = 0, revenue = 0, cost = 0, profit = 0, x = 0;
  cJSON *unknown = cJSON_CreateArray(), *s = NULL;
  struct shoal_pricing_model *model = NULL;
  if (!unknown) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (!opts->item && cJSON_GetArraySize(f->parts) > 0 &&
      (rc = chain_model(opts->docs, opts->ndocs, region, store, &model, diag)) != SHOAL_OK)
    goto cleanup;
  CHECKED(shoal_mul_checked(f->labor_minutes, per_h, &x));
  labor_rev = shoal_div_ceil(x, 60);
  CHECKED(shoal_mul_checked(f->labor_minutes, cost_h, &x));
  labor_cost = shoal_div_ceil(x, 60);
  const cJSON *p;
  cJSON_ArrayForEach(p, f->parts) {
    const char *sku = cJSON_GetObjectItemCaseSensitive(p, "sku")->valuestring;
    int64_t qty = (int64_t)cJSON_GetObjectItemCaseSensitive(p, "qty")->valuedouble;
    int64_t price = 0, pcost = 0;
    bool has_cost = true;
    if (opts->item) {
      rc = opts->item(opts->item_user, sku, &price, &pcost, diag);
    } else {
      rc = shoal_pricing_item(model, sku, &price, &pcost, &has_cost);
      if (rc == SHOAL_ENOTFOUND)
        shoal_fail(diag, rc, "unknown SKU %s (no price in the chain of store %s)", sku, store);
      else if (rc == SHOAL_OK && !has_cost)
        pcost = 0;
    }
    if (rc == SHOAL_ENOTFOUND && opts->lenient_items) {
      if (!shoal_json_push(unknown, cJSON_CreateString(sku))) {
        rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
        goto cleanup;
      }
      price = pcost = 0;
      rc = SHOAL_OK;
    }
    if (rc != SHOAL_OK)
      goto cleanup;
    CHECKED(shoal_mul_checked(qty, price, &x) && shoal_add_checked(parts_rev, x, &parts_rev));
    CHECKED(shoal_mul_checked(qty, pcost, &x) && shoal_add_checked(parts_cost, x, &parts_cost));
  }
  /* Late hours are started calendar hours (SPEC 15; wall-clock without one). */
  if (due_ms && f->resolved_ms > due_ms)
    late_hours = shoal_div_ceil(shoal_slacal_between(cal, due_ms, f->resolved_ms), 3600000);
  CHECKED(shoal_mul_checked(late_hours, comp_h, &late_comp));
  CHECKED(shoal_add_checked(labor_rev, parts_rev, &revenue) &&
          shoal_add_checked(revenue, travel, &revenue) &&
          shoal_add_checked(revenue, -late_comp, &revenue));
  CHECKED(shoal_add_checked(labor_cost, parts_cost, &cost));
  CHECKED(shoal_add_checked(revenue, -cost, &profit));
  s = cJSON_CreateObject();
  bool ok = s != NULL;
  ok &= cJSON_AddNumberToObject(s, "revenue", (double)revenue) != NULL;
  ok &= cJSON_AddNumberToObject(s, "cost", (double)cost) != NULL;
  ok &= cJSON_AddNumberToObject(s, "profit", (double)profit) != NULL;
  ok &= cJSON_AddNumberToObject(s, "labor_revenue", (double)labor_rev) != NULL;
  ok &= cJSON_AddNumberToObject(s, "parts_revenue", (double)parts_rev) != NULL;
  ok &= cJSON_AddNumberToObject(s, "travel", (double)travel) != NULL;
  ok &= cJSON_AddNumberToObject(s, "late_hours", (double)late_hours) != NULL;
  ok &= cJSON_AddNumberToObject(s, "late_comp", (double)late_comp) != NULL;
  ok &= cJSON_AddNumberToObject(s, "labor_cost", (double)labor_cost) != NULL;
  ok &= cJSON_AddNumberToObject(s, "parts_cost", (double)parts_cost) != NULL;
  /* Per technician, each share rounded up on its own (for statements). */
  cJSON *by = cJSON_AddArrayToObject(s, "by_tech");
  ok &= by != NULL;
  cJSON_ArrayForEach(p, f->labor) {
    int64_t m = (int64_t)cJSON_GetObjectItemCaseSensitive(p, "minutes")->valuedouble, r = 0, c = 0;
    if (!shoal_mul_checked(m, per_h, &r) || !shoal_mul_checked(m, cost_h, &c)) {
      rc = shoal_fail(diag, SHOAL_ELIMIT, "settlement amount out of range");
      goto cleanup;
    }
    cJSON *e = cJSON_CreateObject();
    bool eok = e != NULL;
    eok &= cJSON_AddStringToObject(
               e, "tech", cJSON_GetObjectItemCaseSensitive(p, "tech")->valuestring) != NULL;
    eok &= cJSON_AddNumberToObject(e, "minutes", (double)m) != NULL;
    eok &= cJSON_AddNumberToObject(e, "labor_revenue", (double)shoal_div_ceil(r, 60)) != NULL;
    eok &= cJSON_AddNumberToObject(e, "labor_cost", (double)shoal_div_ceil(c, 60)) != NULL;
    if (!eok) {
      cJSON_Delete(e);
      e = NULL;
    }
    ok &= shoal_json_push(by, e);
  }
  if (cJSON_GetArraySize(unknown) > 0) {
    ok &= shoal_json_put(s, "unknown_skus", unknown);
    unknown = NULL;
  }
  if (!ok) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  *out = s;
  s = NULL;
cleanup:
  shoal_pricing_model_free(model);
  cJSON_Delete(unknown);
  cJSON_Delete(s);
  return rc;
}

static void tevs_free(struct tev **v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    shoal_event_cleanup(&v[i]->ev);
    free(v[i]->canon);
    free(v[i]);
  }
  free(v);
}

/* ---- fold phases: load events, apply them, render the ticket ---------- */

/* Parses and checks every envelope of events (one ticket: its id into id),
 * drops redeliveries and sorts the rest in fold order. *vp and *np are set
 * as events are read, so the caller frees them with tevs_free whatever
 * happens. */
static shoal_err fold_load_events(const cJSON *events, struct tev ***vp, size_t *np,
                                  char id[SHOAL_ID_MAX + 1], shoal_diag *diag) {
  if (!cJSON_IsArray(events))
    return shoal_fail(diag, SHOAL_EINPUT, "ticket events must be a JSON array of envelopes");
  int total = cJSON_GetArraySize(events);
  if (total > SHOAL_TICKET_EVENTS_MAX)
    return shoal_fail(diag, SHOAL_ELIMIT, "%d ticket events are over the limit of %d", total,
                      SHOAL_TICKET_EVENTS_MAX);
  if (total == 0)
    return shoal_fail(diag, SHOAL_EINPUT, "no ticket events");
  struct tev **v = *vp = calloc((size_t)total, sizeof *v);
  if (!v)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  const cJSON *e;
  cJSON_ArrayForEach(e, events) {
    struct tev *t = calloc(1, sizeof *t);
    if (!t)
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    v[(*np)++] = t;
    char tid[SHOAL_ID_MAX + 1];
    shoal_err rc;
    if ((rc = shoal_event_from_json(e, &t->ev, diag)) != SHOAL_OK ||
        (rc = shoal_ticket_event_check(&t->ev, tid, t->kind, diag)) != SHOAL_OK) {
      shoal_diag_prefix(diag, "event %zu", *np - 1);
      return rc == SHOAL_ENOMEM ? rc : SHOAL_EINPUT;
    }
    if (!id[0])
      strcpy(id, tid);
    else if (strcmp(id, tid) != 0)
      return shoal_fail(diag, SHOAL_EINPUT, "events of two tickets (%s and %s)", id, tid);
    t->epoch = strtoull(t->ev.epoch, NULL, 10);
    if (!(t->canon = shoal_json_print(t->ev.body)))
      return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  }
  /* A redelivery is the same identity; keep one version, chosen by content
   * rather than arrival, so even a conflicting replay folds the same. */
  size_t n = *np, distinct = 0;
  qsort(v, n, sizeof *v, cmp_dedupe);
  for (size_t i = 0; i < n; i++) {
    if (distinct && cmp_identity(v[distinct - 1], v[i]) == 0) {
      shoal_event_cleanup(&v[i]->ev);
      free(v[i]->canon);
      free(v[i]);
      continue;
    }
    v[distinct++] = v[i];
  }
  *np = distinct;
  qsort(v, distinct, sizeof *v, cmp_order);
  return SHOAL_OK;
}

/* Applies the n events in fold order to f (whose arrays it creates). */
static shoal_err fold_apply_events(struct fold *f, struct tev *const *v, size_t n,
                                   const cJSON *routing, const char *id, shoal_diag *diag) {
  f->labor = cJSON_CreateArray();
  f->parts = cJSON_CreateArray();
  f->notes = cJSON_CreateArray();
  f->ignored = cJSON_CreateArray();
  f->routed = cJSON_CreateArray();
  if (!f->labor || !f->parts || !f->notes || !f->ignored || !f->routed)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  shoal_err rc;
  for (size_t i = 0; i < n; i++)
    if ((rc = apply(f, v[i], routing, diag)) != SHOAL_OK)
      return rc;
  if (f->oom)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory folding ticket %s", id);
  return SHOAL_OK;
}

/* Renders the folded ticket (SPEC 12) into o, moving f's arrays into it.
 * false on out-of-memory. */
static bool fold_render(cJSON *o, struct fold *f, const char *id, const char *store, size_t n,
                        int64_t respond_due, int64_t resolve_due) {
  bool ok = true;
  const cJSON *ob = f->open;
#define OPEN_STR(key)                                                                              \
  do {                                                                                             \
    const cJSON *s_ = ob ? cJSON_GetObjectItemCaseSensitive(ob, key) : NULL;                       \
    if (cJSON_IsString(s_))                                                                        \
      ok &= cJSON_AddStringToObject(o, key, s_->valuestring) != NULL;                              \
    else                                                                                           \
      ok &= cJSON_AddNullToObject(o, key) != NULL;                                                 \
  } while (0)
  ok &= cJSON_AddStringToObject(o, "id", id) != NULL;
  if (store)
    ok &= cJSON_AddStringToObject(o, "store", store) != NULL;
  else
    ok &= cJSON_AddNullToObject(o, "store") != NULL;
  OPEN_STR("region");
  ok &= cJSON_AddStringToObject(o, "state", state_names[f->state]) != NULL;
  OPEN_STR("category");
  OPEN_STR("title");
#undef OPEN_STR
  if (f->opened)
    ok &= cJSON_AddStringToObject(o, "priority", f->priority) != NULL;
  else
    ok &= cJSON_AddNullToObject(o, "priority") != NULL;
  if (f->group)
    ok &= cJSON_AddStringToObject(o, "group", f->group) != NULL;
  else
    ok &= cJSON_AddNullToObject(o, "group") != NULL;
  if (f->tech)
    ok &= cJSON_AddStringToObject(o, "tech", f->tech) != NULL;
  else
    ok &= cJSON_AddNullToObject(o, "tech") != NULL;
  const cJSON *cust = ob ? cJSON_GetObjectItemCaseSensitive(ob, "customer") : NULL;
  ok &= shoal_json_put(o, "customer", cust ? cJSON_Duplicate(cust, 1) : cJSON_CreateNull());
  const cJSON *form = ob ? cJSON_GetObjectItemCaseSensitive(ob, "form") : NULL;
  ok &= shoal_json_put(o, "form", form ? cJSON_Duplicate(form, 1) : cJSON_CreateNull());
  ok &= shoal_json_put(o, "routed", f->routed);
  f->routed = NULL;
  ok &= cJSON_AddNumberToObject(o, "escalation_level", f->escalation_level) != NULL;
  ok &= add_time(o, "opened_at", f->opened_ms);
  ok &= add_time(o, "first_response_at", f->first_response_ms);
  ok &= add_time(o, "resolved_at", f->resolved_ms);
  ok &= add_time(o, "closed_at", f->closed_ms);
  ok &= add_time(o, "cancelled_at", f->cancelled_ms);
  ok &= add_time(o, "respond_due", respond_due);
  ok &= add_time(o, "resolve_due", resolve_due);
  ok &= cJSON_AddNumberToObject(o, "labor_minutes", (double)f->labor_minutes) != NULL;
  ok &= shoal_json_put(o, "labor", f->labor);
  ok &= shoal_json_put(o, "parts", f->parts);
  ok &= shoal_json_put(o, "notes", f->notes);
  f->labor = f->parts = f->notes = NULL;
  ok &= cJSON_AddNumberToObject(o, "events", (double)n) != NULL;
  ok &= shoal_json_put(o, "ignored", f->ignored);
  f->ignored = NULL;
  return ok;
}

/* The fold's summary row (the hub's ticket index). */
static void fold_summarize(struct shoal_ticket_summary *summary, const struct fold *f,
                           const char *id, const char *region, const char *store,
                           int64_t resolve_due, uint64_t last_hlc) {
  memset(summary, 0, sizeof *summary);
  strcpy(summary->id, id);
  if (f->opened) {
    shoal_strlcpy(summary->store, store, sizeof summary->store);
    if (region)
      shoal_strlcpy(summary->region, region, sizeof summary->region);
    shoal_strlcpy(summary->priority, f->priority, sizeof summary->priority);
  }
  shoal_strlcpy(summary->state, state_names[f->state], sizeof summary->state);
  if (f->group)
    shoal_strlcpy(summary->group, f->group, sizeof summary->group);
  summary->opened = f->opened;
  summary->opened_ms = f->opened_ms;
  summary->resolve_due_ms = resolve_due;
  summary->resolved_ms = f->resolved_ms;
  summary->escalation_level = f->escalation_level;
  summary->last_hlc = last_hlc;
}

shoal_err shoal_ticket_fold(const cJSON *events, const struct shoal_ticket_fold_opts *opts,
                            cJSON **out, struct shoal_ticket_summary *summary, shoal_diag *diag) {
  static const struct shoal_ticket_fold_opts no_opts = {0};
  shoal_err rc = SHOAL_OK;
  struct tev **v = NULL;
  size_t n = 0;
  char id[SHOAL_ID_MAX + 1] = "";
  struct fold f;
  memset(&f, 0, sizeof f);
  struct shoal_slacal cal;
  memset(&cal, 0, sizeof cal);
  cJSON *o = NULL;
  if (!opts)
    opts = &no_opts;
  if ((rc = fold_load_events(events, &v, &n, id, diag)) != SHOAL_OK)
    goto cleanup;

  /* The policy chain depends on the ticket's region and store, known from
   * its first open in fold order. */
  const char *region = NULL, *store = NULL;
  for (size_t i = 0; i < n && !store; i++)
    if (strcmp(v[i]->kind, "open") == 0) {
      const cJSON *r = cJSON_GetObjectItemCaseSensitive(v[i]->ev.body, "region");
      region = cJSON_IsString(r) ? r->valuestring : NULL;
      store = v[i]->ev.store; /* equal to the body's store when it names one */
    }
  const cJSON *routing = chain_key(opts->docs, opts->ndocs, region, store, "routing");
  const cJSON *sla = chain_key(opts->docs, opts->ndocs, region, store, "sla");
  const cJSON *rates = chain_key(opts->docs, opts->ndocs, region, store, "rates");
  if ((rc = fold_apply_events(&f, v, n, routing, id, diag)) != SHOAL_OK)
    goto cleanup;

  int64_t respond_due = 0, resolve_due = 0;
  chain_cal(opts->docs, opts->ndocs, region, store, &cal);
  if (f.opened) {
    respond_due = sla_due(sla, &cal, f.open_priority, "respond_min", f.opened_ms);
    resolve_due = sla_due(sla, &cal, f.open_priority, "resolve_min", f.opened_ms);
  }
  o = cJSON_CreateObject();
  if (!o || !fold_render(o, &f, id, store, n, respond_due, resolve_due)) {
    rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (rates && f.opened) {
    cJSON *s = NULL;
    struct fold view = f;
    view.parts = cJSON_GetObjectItemCaseSensitive(o, "parts");
    view.labor = cJSON_GetObjectItemCaseSensitive(o, "labor");
    if ((rc = settle(&view, rates, resolve_due, &cal, opts, region, store, &s, diag)) != SHOAL_OK)
      goto cleanup;
    if (!shoal_json_put(o, "settlement", s)) {
      rc = shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  if (summary)
    fold_summarize(summary, &f, id, region, store, resolve_due, n ? v[n - 1]->ev.hlc : 0);
  *out = o;
  o = NULL;
cleanup:
  cJSON_Delete(o);
  cJSON_Delete(f.labor);
  cJSON_Delete(f.parts);
  cJSON_Delete(f.notes);
  cJSON_Delete(f.ignored);
  cJSON_Delete(f.routed);
  shoal_slacal_cleanup(&cal);
  tevs_free(v, n);
  return rc;
}

bool shoal_ticket_escalation_due(const cJSON *const *docs, size_t ndocs,
                                 const struct shoal_ticket_summary *t, int64_t now_ms, int *level,
                                 const char **group, const char **priority) {
  if (!t->opened || !t->resolve_due_ms)
    return false;
  if (strcmp(t->state, "new") && strcmp(t->state, "assigned") && strcmp(t->state, "on_site"))
    return false;
  const cJSON *esc = chain_key(docs, ndocs, t->region, t->store, "escalation");
  const cJSON *step = cJSON_GetArrayItem(esc, t->escalation_level);
  if (!cJSON_IsObject(step))
    return false;
  struct shoal_slacal cal;
  chain_cal(docs, ndocs, t->region, t->store, &cal);
  int64_t due = shoal_slacal_add(&cal, t->resolve_due_ms, int_or0(step, "after_min"));
  shoal_slacal_cleanup(&cal);
  if (!due || now_ms < due)
    return false;
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(step, "group");
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(step, "priority");
  if (!cJSON_IsString(g))
    return false;
  *level = t->escalation_level + 1;
  *group = g->valuestring;
  *priority = cJSON_IsString(p) ? p->valuestring : NULL;
  return true;
}

int64_t shoal_ticket_escalation_next_ms(const cJSON *const *docs, size_t ndocs,
                                        const struct shoal_ticket_summary *t) {
  if (!t->opened || !t->resolve_due_ms)
    return 0;
  if (strcmp(t->state, "new") && strcmp(t->state, "assigned") && strcmp(t->state, "on_site"))
    return 0;
  const cJSON *esc = chain_key(docs, ndocs, t->region, t->store, "escalation");
  const cJSON *step = cJSON_GetArrayItem(esc, t->escalation_level);
  if (!cJSON_IsObject(step))
    return 0;
  struct shoal_slacal cal;
  chain_cal(docs, ndocs, t->region, t->store, &cal);
  int64_t due = shoal_slacal_add(&cal, t->resolve_due_ms, int_or0(step, "after_min"));
  shoal_slacal_cleanup(&cal);
  return due;
}
