/* mqtt.h - one MQTT session over libmosquitto, shared by agent and hub:
 * persistent session (clean-session off, stable client id), optional TLS
 * with client certificates, username/password file, last will, TCP_NODELAY.
 * The caller drives the network loop (shoal_mqtt_loop) from one thread, so
 * callbacks run on that thread, between the caller's own transactions. */
#ifndef SHOAL_MQTT_H
#define SHOAL_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/config.h"
#include "shoal/err.h"
#include "shoal/log.h"

struct shoal_mqtt;

struct shoal_mqtt_opts {
  const struct shoal_mqtt_config *cfg; /* host, port, credentials, TLS (borrowed) */
  const char *client_id;               /* stable per device / hub */
  bool clean_session;                  /* false for Shoal's agents and hub */
  int keepalive_s;
  int max_inflight;       /* 0: libmosquitto's default (20) */
  const char *will_topic; /* NULL: no last will */
  const char *will_payload;
  bool will_retain;
  /* Callbacks (any may be NULL), run inside shoal_mqtt_loop. */
  void (*on_connect)(void *user, int rc);    /* rc 0 = accepted */
  void (*on_disconnect)(void *user, int rc); /* rc 0 = asked for */
  void (*on_message)(void *user, const char *topic, const void *payload, size_t len, bool retained);
  void (*on_publish)(void *user, int mid); /* broker PUBACK for QoS 1 */
  void *user;
  const struct shoal_logger *log; /* may be NULL */
};

/* Creates a session (not yet connected). The password, if any, is read
 * from cfg->password_file now. */
shoal_err shoal_mqtt_new(const struct shoal_mqtt_opts *opts, struct shoal_mqtt **out,
                         shoal_diag *diag);

/* Connects (blocking TCP/TLS connect; CONNACK arrives via on_connect). */
shoal_err shoal_mqtt_connect(struct shoal_mqtt *m, shoal_diag *diag);

/* Reconnects after a drop, with the same options. */
shoal_err shoal_mqtt_reconnect(struct shoal_mqtt *m, shoal_diag *diag);

/* Runs network I/O for at most timeout_ms. SHOAL_EMQTT when the connection
 * is lost (the caller backs off and reconnects). */
shoal_err shoal_mqtt_loop(struct shoal_mqtt *m, int timeout_ms, shoal_diag *diag);

/* Queues a publish. *mid (may be NULL) identifies it in on_publish. */
shoal_err shoal_mqtt_publish(struct shoal_mqtt *m, const char *topic, const void *payload,
                             size_t len, int qos, bool retain, int *mid, shoal_diag *diag);

shoal_err shoal_mqtt_subscribe(struct shoal_mqtt *m, const char *filter, int qos, shoal_diag *diag);

/* Sends DISCONNECT (the will is not published). */
void shoal_mqtt_disconnect(struct shoal_mqtt *m);

/* Frees the session; NULL is a no-op. */
void shoal_mqtt_free(struct shoal_mqtt *m);

/* Messages queued for sending but not yet acknowledged by the broker. */
bool shoal_mqtt_want_write(struct shoal_mqtt *m);

/* Full-jitter exponential backoff: a random delay in
 * [min_s, min(max_s, min_s * 2^attempt)] seconds, in milliseconds, so a
 * fleet reconnecting after an outage spreads out. attempt counts from 0. */
int64_t shoal_backoff_ms(int min_s, int max_s, int attempt);

#endif
