/* mqtt.c - libmosquitto session wrapper. mosquitto_lib_init is process
 * state owned by libmosquitto; it is called once through pthread_once. */
#include "shoal/mqtt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "shoal/crypto.h"
#include "shoal/shoal_limits.h"
#include "shoal/util.h"

/* Room above the largest payload (a policy envelope) a publish may carry. */
#define PUBLISH_SLACK_BYTES 1024

struct shoal_mqtt {
  struct mosquitto *mosq;
  struct shoal_mqtt_opts opts;
  char *password;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) {
  mosquitto_lib_init();
}

static void cb_connect(struct mosquitto *mosq, void *user, int rc) {
  (void)mosq;
  struct shoal_mqtt *m = user;
  if (m->opts.on_connect)
    m->opts.on_connect(m->opts.user, rc);
}

static void cb_disconnect(struct mosquitto *mosq, void *user, int rc) {
  (void)mosq;
  struct shoal_mqtt *m = user;
  if (m->opts.on_disconnect)
    m->opts.on_disconnect(m->opts.user, rc);
}

static void cb_message(struct mosquitto *mosq, void *user, const struct mosquitto_message *msg) {
  (void)mosq;
  struct shoal_mqtt *m = user;
  if (m->opts.on_message)
    m->opts.on_message(m->opts.user, msg->topic, msg->payload, (size_t)msg->payloadlen,
                       msg->retain);
}

static void cb_publish(struct mosquitto *mosq, void *user, int mid) {
  (void)mosq;
  struct shoal_mqtt *m = user;
  if (m->opts.on_publish)
    m->opts.on_publish(m->opts.user, mid);
}

static shoal_err mosq_fail(shoal_diag *diag, const char *what, int mrc) {
  return shoal_fail(diag, SHOAL_EMQTT, "%s: %s", what,
                    mrc == MOSQ_ERR_ERRNO ? "connection failed" : mosquitto_strerror(mrc));
}

shoal_err shoal_mqtt_new(const struct shoal_mqtt_opts *opts, struct shoal_mqtt **out,
                         shoal_diag *diag) {
  shoal_err rc = SHOAL_OK;
  int mrc;
  pthread_once(&lib_once, lib_init);
  struct shoal_mqtt *m = calloc(1, sizeof *m);
  if (!m)
    return shoal_fail(diag, SHOAL_ENOMEM, "out of memory");
  m->opts = *opts;
  m->mosq = mosquitto_new(opts->client_id, opts->clean_session, m);
  if (!m->mosq) {
    rc = shoal_fail(diag, SHOAL_EMQTT, "cannot create an MQTT client for \"%s\"", opts->client_id);
    goto fail;
  }
  mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  /* Nagle's algorithm added ~10 ms per message at 10k msg/s (SPEC 4.2). */
  mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
  if (opts->max_inflight > 0)
    mosquitto_max_inflight_messages_set(m->mosq, (unsigned)opts->max_inflight);
  mosquitto_connect_callback_set(m->mosq, cb_connect);
  mosquitto_disconnect_callback_set(m->mosq, cb_disconnect);
  mosquitto_message_callback_set(m->mosq, cb_message);
  mosquitto_publish_callback_set(m->mosq, cb_publish);
  const struct shoal_mqtt_config *cfg = opts->cfg;
  if (cfg->password_file) {
    size_t len = 0;
    if ((rc = shoal_file_read(cfg->password_file, SHOAL_SECRET_FILE_MAX_BYTES, &m->password, &len,
                              diag)) != SHOAL_OK)
      goto fail;
    while (len > 0 && (m->password[len - 1] == '\n' || m->password[len - 1] == '\r'))
      m->password[--len] = '\0';
  }
  if (cfg->username || m->password) {
    if ((mrc = mosquitto_username_pw_set(m->mosq, cfg->username, m->password)) !=
        MOSQ_ERR_SUCCESS) {
      rc = mosq_fail(diag, "MQTT credentials", mrc);
      goto fail;
    }
  }
  if (cfg->tls_ca) {
    if ((mrc = mosquitto_tls_set(m->mosq, cfg->tls_ca, NULL, cfg->tls_cert, cfg->tls_key, NULL)) !=
        MOSQ_ERR_SUCCESS) {
      rc = mosq_fail(diag, "MQTT TLS setup (check mqtt.tls ca/cert/key paths)", mrc);
      goto fail;
    }
  }
  if (opts->will_topic) {
    const char *p = opts->will_payload ? opts->will_payload : "";
    if ((mrc = mosquitto_will_set(m->mosq, opts->will_topic, (int)strlen(p), p, 1,
                                  opts->will_retain)) != MOSQ_ERR_SUCCESS) {
      rc = mosq_fail(diag, "MQTT last will", mrc);
      goto fail;
    }
  }
  *out = m;
  return SHOAL_OK;
fail:
  shoal_mqtt_free(m);
  return rc;
}

shoal_err shoal_mqtt_connect(struct shoal_mqtt *m, shoal_diag *diag) {
  const struct shoal_mqtt_config *cfg = m->opts.cfg;
  int mrc = mosquitto_connect(m->mosq, cfg->host, cfg->port,
                              m->opts.keepalive_s > 0 ? m->opts.keepalive_s : 30);
  if (mrc != MOSQ_ERR_SUCCESS)
    return shoal_fail(
        diag, SHOAL_EMQTT, "cannot connect to the broker at %s:%d: %s", cfg->host, cfg->port,
        mrc == MOSQ_ERR_ERRNO ? "connection refused or unreachable" : mosquitto_strerror(mrc));
  return SHOAL_OK;
}

shoal_err shoal_mqtt_reconnect(struct shoal_mqtt *m, shoal_diag *diag) {
  int mrc = mosquitto_reconnect(m->mosq);
  if (mrc != MOSQ_ERR_SUCCESS)
    return shoal_fail(diag, SHOAL_EMQTT, "cannot reconnect to the broker at %s:%d: %s",
                      m->opts.cfg->host, m->opts.cfg->port,
                      mrc == MOSQ_ERR_ERRNO ? "connection refused or unreachable"
                                            : mosquitto_strerror(mrc));
  return SHOAL_OK;
}

shoal_err shoal_mqtt_loop(struct shoal_mqtt *m, int timeout_ms, shoal_diag *diag) {
  int mrc = mosquitto_loop(m->mosq, timeout_ms, 1);
  if (mrc != MOSQ_ERR_SUCCESS)
    return mosq_fail(diag, "MQTT connection lost", mrc);
  return SHOAL_OK;
}

shoal_err shoal_mqtt_publish(struct shoal_mqtt *m, const char *topic, const void *payload,
                             size_t len, int qos, bool retain, int *mid, shoal_diag *diag) {
  if (len > (size_t)SHOAL_POLICY_ENVELOPE_MAX_BYTES + PUBLISH_SLACK_BYTES)
    return shoal_fail(diag, SHOAL_ELIMIT, "message of %zu bytes is too large", len);
  int mrc = mosquitto_publish(m->mosq, mid, topic, (int)len, payload, qos, retain);
  if (mrc != MOSQ_ERR_SUCCESS)
    return mosq_fail(diag, "MQTT publish", mrc);
  return SHOAL_OK;
}

shoal_err shoal_mqtt_subscribe(struct shoal_mqtt *m, const char *filter, int qos,
                               shoal_diag *diag) {
  int mrc = mosquitto_subscribe(m->mosq, NULL, filter, qos);
  if (mrc != MOSQ_ERR_SUCCESS)
    return mosq_fail(diag, "MQTT subscribe", mrc);
  return SHOAL_OK;
}

void shoal_mqtt_disconnect(struct shoal_mqtt *m) {
  if (m && m->mosq)
    mosquitto_disconnect(m->mosq);
}

void shoal_mqtt_free(struct shoal_mqtt *m) {
  if (!m)
    return;
  if (m->mosq)
    mosquitto_destroy(m->mosq);
  shoal_secure_free(m->password);
  free(m);
}

bool shoal_mqtt_want_write(struct shoal_mqtt *m) {
  return mosquitto_want_write(m->mosq);
}

int64_t shoal_backoff_ms(int min_s, int max_s, int attempt) {
  int64_t lo = (int64_t)min_s * 1000, hi = (int64_t)max_s * 1000;
  int64_t cap = lo > 0 ? lo : 1000;
  for (int i = 0; i < attempt && cap < hi; i++)
    cap *= 2;
  if (cap > hi)
    cap = hi;
  if (cap <= lo)
    return lo;
  uint64_t r = 0;
  (void)shoal_random_bytes(&r, sizeof r);
  return lo + (int64_t)(r % (uint64_t)(cap - lo + 1));
}
