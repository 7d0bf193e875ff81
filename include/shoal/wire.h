/* wire.h - the wire protocol, defined once (SPEC section 4): the topic table,
 * topic formatting and parsing, and the event envelope's encode/decode.
 * A topic string written anywhere else in the code base is a bug. */
#ifndef SHOAL_WIRE_H
#define SHOAL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "shoal/err.h"
#include "shoal/shoal_limits.h"

enum shoal_topic {
  SHOAL_TOPIC_UP,            /* P/up/{store}/{device}          agent -> hub   */
  SHOAL_TOPIC_ACK,           /* P/ack/{store}/{device}         hub -> agent   */
  SHOAL_TOPIC_POLICY_GLOBAL, /* P/policy/global                hub -> agents, retained */
  SHOAL_TOPIC_POLICY_REGION, /* P/policy/region/{region}       retained */
  SHOAL_TOPIC_POLICY_STORE,  /* P/policy/store/{store}         retained */
  SHOAL_TOPIC_DOWN_STORE,    /* P/down/{store}                 hub -> agents  */
  SHOAL_TOPIC_DOWN_DEVICE,   /* P/down/{store}/{device}        hub -> agent   */
  SHOAL_TOPIC_PRESENCE,      /* P/presence/{store}/{device}    agent LWT, retained */
  SHOAL_TOPIC_TRUST, /* P/trust                        hub -> agents, retained (key rotation) */
};

/* Formats the topic of kind k. a and b are the identifiers the kind needs
 * (store/device, region, store), validated with shoal_id_valid; unused ones
 * may be NULL. Returns SHOAL_EINPUT for a bad identifier, SHOAL_ELIMIT if buf
 * is too small. */
shoal_err shoal_topic_format(char *buf, size_t bufsz, const char *prefix, enum shoal_topic k,
                             const char *a, const char *b);

/* Subscription filter for every topic of kind k ("P/up/+/+"). */
shoal_err shoal_topic_filter(char *buf, size_t bufsz, const char *prefix, enum shoal_topic k);

/* Parses a concrete topic under prefix. On success sets *k and copies the
 * identifiers into a and b (each SHOAL_ID_MAX + 1 bytes; "" when unused). */
shoal_err shoal_topic_parse(const char *prefix, const char *topic, enum shoal_topic *k, char *a,
                            char *b);

/* Policy scope string (scope.h) of a policy topic kind and its id:
 * "global", "region/R", "store/S". SHOAL_EINPUT for another topic kind. */
shoal_err shoal_topic_scope(char *buf, size_t bufsz, enum shoal_topic k, const char *id);

/* Event envelope (SPEC 4.2). body is owned by the struct. */
struct shoal_event {
  char device[SHOAL_ID_MAX + 1];
  char store[SHOAL_ID_MAX + 1];
  char epoch[24]; /* decimal string of a 64-bit value */
  int64_t seq;    /* >= 1 */
  uint64_t hlc;
  char type[16]; /* sale, return, form, ticket, hello */
  cJSON *body;   /* an object */
};

/* Serialises ev as one compact JSON object; *out is heap (caller frees). */
shoal_err shoal_event_encode(const struct shoal_event *ev, char **out);

/* Builds the envelope as a cJSON tree (caller deletes); body is duplicated. */
cJSON *shoal_event_to_json(const struct shoal_event *ev);

/* Parses and validates an envelope of at most SHOAL_EVENT_MAX_BYTES: v == 1,
 * identifiers valid, epoch a decimal 64-bit string, seq >= 1, known type,
 * body an object. On success *out owns a body (shoal_event_cleanup). */
shoal_err shoal_event_decode(const char *payload, size_t len, struct shoal_event *out,
                             shoal_diag *diag);

/* The same from an already-parsed object (body is duplicated). */
shoal_err shoal_event_from_json(const cJSON *obj, struct shoal_event *out, shoal_diag *diag);

/* Frees the body; the struct may be reused. */
void shoal_event_cleanup(struct shoal_event *ev);

/* True for the event types of SPEC 4.2. */
bool shoal_event_type_valid(const char *type);

#endif
