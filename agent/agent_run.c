/* agent_run.c - `shoal-agent run -c CONFIG`: the store device daemon. One
 * persistent MQTT session (clean-session off, stable client id, retained
 * presence with a last will), driven from this one thread, so MQTT
 * callbacks and database transactions never interleave. Outbox flow
 * control (SPEC 4.2): at most one batch unacknowledged by the hub; resent
 * after a reconnect and when no ack has advanced for SHOAL_SYNC_RESEND_MS.
 * Nothing from the network can stop the daemon: bad input is logged. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_api.h"
#include "agent_cli.h"
#include "agent_ctx.h"
#include "agent_member.h"
#include "agent_replay.h"
#include "agent_sync.h"
#include "agent_tickets.h"
#include "agent_trust.h"
#include "agent_upload.h"
#include "shoal/cli.h"
#include "shoal/db.h"
#include "shoal/jsonx.h"
#include "shoal/mqtt.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "shoal/wire_payloads.h"

#define LOOP_MS            50   /* network wait per turn: bounds latency of new sales */
#define POLL_IDLE_MS       1000 /* re-read the outbox at least this often when idle */
#define CONNACK_TIMEOUT_MS 15000
#define SHUTDOWN_FLUSH_MS  2000
#define NSUBS_FIXED        6 /* policy x3, own device down, ack, trust; + one down per served store */
#define NSUBS_MAX          (NSUBS_FIXED + SHOAL_SERVES_MAX)
/* A policy accepted mid-session is reported to the hub in a fresh hello
 * (the connect hello goes out before the retained policies arrive), once
 * the burst of retained topics has settled. */
#define POLICY_HELLO_DELAY_MS 300
#define API_RETRY_MS          5000 /* the store API's address was busy: try again this often */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

struct run {
  struct agent_ctx ctx;
  struct agent_trust trust;
  struct shoal_mqtt *m;
  const char *prefix;
  char client_id[2 * SHOAL_ID_MAX + 16];
  char t_up[SHOAL_TOPIC_MAX], t_ack[SHOAL_TOPIC_MAX], t_presence[SHOAL_TOPIC_MAX];
  char subs[NSUBS_MAX][SHOAL_TOPIC_MAX];
  int nsubs;
  char will[512];
  /* session */
  bool session;    /* TCP connected, CONNACK pending or accepted */
  bool connected;  /* CONNACK accepted and the session is live */
  bool need_setup; /* just connected: subscribe, presence, hello */
  bool lost;       /* set by callbacks: drop the session and back off */
  bool ever_connected;
  int64_t hello_due; /* monotonic ms a policy-change hello is due; 0: none */
  int attempt;
  int64_t next_connect, session_start;
  /* outbox flow control */
  int64_t acked;     /* seq the hub has acknowledged */
  int64_t sent_upto; /* last seq of the window in flight (<= acked: none) */
  int64_t last_progress, last_poll;
  int64_t resend_ms; /* current resend timeout: doubles while the hub stays silent */
  int64_t data_version;
  bool dirty;    /* this process changed the outbox */
  bool ack_seen; /* acks arrived this turn, highest in ack_pending */
  int64_t ack_pending;
  struct agent_sync_batch batch;
  struct agent_uploader *uploader; /* photos (SPEC 15); NULL without hub_url */
  struct agent_api *api;           /* the store API (SPEC 11): its own threads, no broker needed */
  int64_t api_retry_at;            /* address busy at start: try again then (0: no retry due) */
  /* hub restored from an older backup (agent_replay.h) */
  bool behind_seen;    /* an ack below what it had acknowledged arrived */
  int64_t behind_upto; /* the upto of that ack */
  int64_t replay_from; /* first seq of the last chunk re-sent */
  int64_t replay_at;   /* when it was re-sent (monotonic ms) */
};

static shoal_err data_version(struct run *r, int64_t *out, shoal_diag *diag) {
  return shoal_db_query_int(r->ctx.db, "PRAGMA data_version", 0, out, diag);
}

static void log_diag(struct run *r, enum shoal_log_level lvl, const char *what,
                     const shoal_diag *d) {
  shoal_log(&r->ctx.log, lvl, "%s: %s", what, d->msg[0] ? d->msg : "unknown error");
}

static void handle_policy(struct run *r, enum shoal_topic k, const char *id, const void *payload,
                          size_t len) {
  char scope[SHOAL_SCOPE_MAX];
  shoal_diag d = {{0}};
  if (shoal_topic_scope(scope, sizeof scope, k, id) != SHOAL_OK)
    return;
  enum agent_policy_outcome out;
  shoal_err rc = agent_sync_on_policy(&r->ctx, &r->trust, scope, payload, len, &out, &d);
  if (rc != SHOAL_OK)
    log_diag(r, SHOAL_LOG_ERROR, "cannot apply a policy", &d);
  else if (out == AGENT_POLICY_ACCEPTED) {
    shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "%s", d.msg);
    r->hello_due = shoal_mono_ms() + POLICY_HELLO_DELAY_MS;
  } else if (out == AGENT_POLICY_REJECTED)
    shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "policy refused on %s: %s", scope, d.msg);
}

/* Acks are validated on arrival and applied once per network turn
 * (apply_acks): a draining backlog may bring several per turn. */
static void handle_ack(struct run *r, const void *payload, size_t len) {
  shoal_diag d = {{0}};
  bool ours = false;
  int64_t upto = 0;
  if (agent_sync_parse_ack(&r->ctx, payload, len, &ours, &upto, &d) != SHOAL_OK) {
    log_diag(r, SHOAL_LOG_WARN, "ack ignored", &d);
    return;
  }
  if (!ours)
    return;
  if (upto < r->acked) {
    /* The hub holds less than it once acknowledged: restored from a backup. */
    r->behind_seen = true;
    r->behind_upto = upto;
    return;
  }
  r->ack_seen = true;
  if (upto > r->ack_pending)
    r->ack_pending = upto;
}

static void apply_acks(struct run *r) {
  if (!r->ack_seen)
    return;
  shoal_diag d = {{0}};
  bool advanced = false;
  int64_t acked = r->acked;
  r->ack_seen = false;
  if (agent_sync_apply_ack(&r->ctx, r->ack_pending, &acked, &advanced, &d) != SHOAL_OK) {
    log_diag(r, SHOAL_LOG_WARN, "cannot record an ack (the next one covers it)", &d);
    return;
  }
  if (advanced) {
    agent_uploader_kick(r->uploader); /* photos of acked submissions may go */
    r->acked = acked;
    r->last_progress = shoal_mono_ms();
    r->resend_ms = SHOAL_SYNC_RESEND_MS;
    r->dirty = true;
  }
}

/* A hub behind this device's acknowledged seq gets the missing seqs back,
 * one chunk per ack (its acks pace the replay as they pace the outbox); a
 * chunk is not re-sent before the resend timeout unless the hub moved. */
static void replay(struct run *r) {
  if (!r->behind_seen)
    return;
  r->behind_seen = false;
  int64_t from = r->behind_upto + 1, now = shoal_mono_ms();
  if (from > r->acked)
    return;
  if (from == r->replay_from && now - r->replay_at < SHOAL_SYNC_RESEND_MS)
    return;
  int64_t to = from + r->ctx.profile.batch - 1;
  if (to > r->acked)
    to = r->acked;
  struct agent_sync_batch b = {0};
  shoal_diag d = {{0}};
  if (agent_replay_fetch(&r->ctx, from, to, &b, &d) != SHOAL_OK) {
    log_diag(r, SHOAL_LOG_ERROR, "cannot rebuild events for a restored hub", &d);
    return;
  }
  shoal_log(&r->ctx.log, SHOAL_LOG_WARN,
            "the hub holds seq %lld but had acknowledged %lld (restored from a backup?): "
            "re-sending seqs %lld..%lld from this device's records",
            (long long)r->behind_upto, (long long)r->acked, (long long)from, (long long)to);
  for (size_t i = 0; i < b.n; i++) {
    if (shoal_mqtt_publish(r->m, r->t_up, b.envelope[i], strlen(b.envelope[i]), 1, false, NULL,
                           &d) != SHOAL_OK) {
      log_diag(r, SHOAL_LOG_WARN, "publish", &d);
      r->lost = true;
      break;
    }
  }
  agent_sync_batch_clear(&b);
  r->replay_from = from;
  r->replay_at = now;
}

/* Key rotation (docs/security.md): a newer signed trust list replaces the
 * keys policies are verified with from now on. */
static void handle_trust(struct run *r, const void *payload, size_t len) {
  shoal_diag d = {{0}};
  bool changed = false;
  if (agent_trust_on_update(&r->ctx, &r->trust, payload, len, &changed, &d) != SHOAL_OK)
    log_diag(r, SHOAL_LOG_WARN, "trust update refused", &d);
  else if (changed)
    shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "%s", d.msg);
}

static void handle_down(struct run *r, const void *payload, size_t len) {
  shoal_diag d = {{0}};
  bool notice = false; /* SPEC 13: a member code another device used */
  if (agent_member_on_notice(&r->ctx, payload, len, shoal_now_ms(), &notice, &d) != SHOAL_OK)
    log_diag(r, SHOAL_LOG_WARN, "member code notice ignored", &d);
  if (notice || !(r->ctx.profile.modules & SHOAL_MOD_TICKETS))
    return;
  if (agent_tickets_apply_remote(&r->ctx, payload, len, &d) != SHOAL_OK)
    log_diag(r, SHOAL_LOG_WARN, "ticket update ignored", &d);
}

static void cb_message(void *user, const char *topic, const void *payload, size_t len,
                       bool retained) {
  (void)retained;
  struct run *r = user;
  enum shoal_topic k;
  char a[SHOAL_ID_MAX + 1], b[SHOAL_ID_MAX + 1];
  if (shoal_topic_parse(r->prefix, topic, &k, a, b) != SHOAL_OK) {
    shoal_log(&r->ctx.log, SHOAL_LOG_DEBUG, "message on unexpected topic ignored");
    return;
  }
  switch (k) {
  case SHOAL_TOPIC_ACK:
    if (strcmp(a, r->ctx.cfg.store) == 0 && strcmp(b, r->ctx.cfg.device) == 0)
      handle_ack(r, payload, len);
    break;
  case SHOAL_TOPIC_POLICY_GLOBAL:
    handle_policy(r, k, NULL, payload, len);
    break;
  case SHOAL_TOPIC_POLICY_REGION:
  case SHOAL_TOPIC_POLICY_STORE:
    handle_policy(r, k, a, payload, len);
    break;
  case SHOAL_TOPIC_DOWN_STORE:
    if (shoal_agent_config_serves(&r->ctx.cfg, a))
      handle_down(r, payload, len);
    break;
  case SHOAL_TOPIC_DOWN_DEVICE:
    if (strcmp(a, r->ctx.cfg.store) == 0 && strcmp(b, r->ctx.cfg.device) == 0)
      handle_down(r, payload, len);
    break;
  case SHOAL_TOPIC_TRUST:
    handle_trust(r, payload, len);
    break;
  default:
    break;
  }
}

static void cb_connect(void *user, int rc) {
  struct run *r = user;
  if (rc == 0) {
    r->connected = true;
    r->need_setup = true;
    r->attempt = 0;
  } else {
    shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "broker refused the connection (CONNACK %d)", rc);
    r->lost = true;
  }
}

static void cb_disconnect(void *user, int rc) {
  struct run *r = user;
  (void)rc;
  r->lost = true;
}

static void set_state(struct run *r, bool connected, bool connect_now) {
  shoal_diag d = {{0}};
  if (agent_sync_set_state(&r->ctx, connected, (long)getpid(), connect_now, &d) != SHOAL_OK)
    log_diag(r, SHOAL_LOG_WARN, "cannot record sync state", &d);
}

static shoal_err publish_presence(struct run *r, bool online, shoal_diag *diag) {
  const struct shoal_presence p = {
      .online = online,
      .device = r->ctx.cfg.device,
      .store = r->ctx.cfg.store,
      .region = r->ctx.cfg.region,
      .profile = r->ctx.profile.name,
      .at_ms = shoal_now_ms(),
  };
  char *text = NULL;
  shoal_err rc = shoal_presence_encode(&p, &text, diag);
  if (rc != SHOAL_OK)
    return rc;
  rc = shoal_mqtt_publish(r->m, r->t_presence, text, strlen(text), 1, true, NULL, diag);
  free(text);
  return rc;
}

/* After CONNACK: (re)subscribe (a broker restarted without persistence has
 * forgotten the session), announce presence and hello, and resend the
 * window from the first unacknowledged seq. */
static void session_setup(struct run *r) {
  shoal_diag d = {{0}};
  r->need_setup = false;
  r->hello_due = 0; /* the connect hello below reports what is applied */
  for (int i = 0; i < r->nsubs; i++)
    if (shoal_mqtt_subscribe(r->m, r->subs[i], 1, &d) != SHOAL_OK) {
      log_diag(r, SHOAL_LOG_WARN, "subscribe", &d);
      r->lost = true;
      return;
    }
  if (publish_presence(r, true, &d) != SHOAL_OK)
    log_diag(r, SHOAL_LOG_WARN, "presence", &d);
  if (agent_sync_hello(&r->ctx, &d) != SHOAL_OK)
    log_diag(r, SHOAL_LOG_WARN, "hello not queued", &d);
  int64_t acked = 0;
  if (agent_sync_acked(&r->ctx, &acked, &d) == SHOAL_OK)
    r->acked = acked;
  r->sent_upto = 0;
  r->resend_ms = SHOAL_SYNC_RESEND_MS;
  r->dirty = true;
  r->ever_connected = true;
  set_state(r, true, true);
  shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "connected to %s:%d as %s", r->ctx.cfg.mqtt.host,
            r->ctx.cfg.mqtt.port, r->client_id);
}

/* Sends the next window when none is in flight, or resends the one in
 * flight when no ack has advanced for a while (the broker may have dropped
 * it silently). */
static void pump(struct run *r) {
  int64_t now = shoal_mono_ms();
  shoal_diag d = {{0}};
  if (r->sent_upto > r->acked) {
    if (now - r->last_progress < r->resend_ms)
      return;
    shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "no ack for %lld ms: resending from seq %lld",
              (long long)r->resend_ms, (long long)(r->acked + 1));
    /* A hub that stays down should not have a whole fleet re-flooding the
     * broker every few seconds: back off up to SHOAL_SYNC_RESEND_MAX_MS. */
    r->resend_ms =
        r->resend_ms * 2 > SHOAL_SYNC_RESEND_MAX_MS ? SHOAL_SYNC_RESEND_MAX_MS : r->resend_ms * 2;
  } else {
    int64_t dv = 0;
    if (data_version(r, &dv, &d) != SHOAL_OK)
      dv = r->data_version + 1;
    if (!r->dirty && dv == r->data_version && now - r->last_poll < POLL_IDLE_MS)
      return;
    r->data_version = dv;
  }
  r->last_poll = now;
  r->dirty = false;
  if (agent_sync_fetch(&r->ctx, r->acked, r->ctx.profile.batch, &r->batch, &d) != SHOAL_OK) {
    log_diag(r, SHOAL_LOG_ERROR, "cannot read the outbox", &d);
    return;
  }
  if (r->batch.n == 0) {
    r->sent_upto = 0;
    return;
  }
  for (size_t i = 0; i < r->batch.n; i++) {
    if (shoal_mqtt_publish(r->m, r->t_up, r->batch.envelope[i], strlen(r->batch.envelope[i]), 1,
                           false, NULL, &d) != SHOAL_OK) {
      log_diag(r, SHOAL_LOG_WARN, "publish", &d);
      r->lost = true;
      break;
    }
    r->sent_upto = r->batch.seq[i];
  }
  agent_sync_batch_clear(&r->batch);
  r->last_progress = now;
}

static void drop_session(struct run *r, const char *why) {
  if (r->connected)
    shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "disconnected from the broker: %s", why);
  r->session = r->connected = r->need_setup = r->lost = false;
  r->sent_upto = 0;
  int64_t delay =
      shoal_backoff_ms(r->ctx.profile.backoff_min_s, r->ctx.profile.backoff_max_s, r->attempt);
  if (r->attempt < 30)
    r->attempt++;
  r->next_connect = shoal_mono_ms() + delay;
  set_state(r, false, false);
}

static void try_connect(struct run *r) {
  shoal_diag d = {{0}};
  shoal_err rc = r->ever_connected ? shoal_mqtt_reconnect(r->m, &d) : shoal_mqtt_connect(r->m, &d);
  if (rc != SHOAL_OK) {
    if (r->attempt == 0 || r->attempt % 10 == 0)
      log_diag(r, SHOAL_LOG_WARN, "broker unreachable (selling continues offline)", &d);
    drop_session(r, d.msg);
    return;
  }
  r->session = true;
  r->lost = false;
  r->session_start = shoal_mono_ms();
}

static void sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop) {
  }
}

static shoal_err run_setup(struct run *r, shoal_diag *diag) {
  shoal_err rc;
  const struct shoal_agent_config *c = &r->ctx.cfg;
  r->prefix = c->topic_prefix ? c->topic_prefix : "shoal/v1";
  snprintf(r->client_id, sizeof r->client_id, "shoal-agent-%s-%s", c->store, c->device);
  if ((rc = shoal_topic_format(r->t_up, sizeof r->t_up, r->prefix, SHOAL_TOPIC_UP, c->store,
                               c->device)) != SHOAL_OK ||
      (rc = shoal_topic_format(r->t_ack, sizeof r->t_ack, r->prefix, SHOAL_TOPIC_ACK, c->store,
                               c->device)) != SHOAL_OK ||
      (rc = shoal_topic_format(r->t_presence, sizeof r->t_presence, r->prefix, SHOAL_TOPIC_PRESENCE,
                               c->store, c->device)) != SHOAL_OK ||
      (rc = shoal_topic_format(r->subs[0], SHOAL_TOPIC_MAX, r->prefix, SHOAL_TOPIC_POLICY_GLOBAL,
                               NULL, NULL)) != SHOAL_OK ||
      (rc = shoal_topic_format(r->subs[1], SHOAL_TOPIC_MAX, r->prefix, SHOAL_TOPIC_POLICY_REGION,
                               c->region, NULL)) != SHOAL_OK ||
      (rc = shoal_topic_format(r->subs[2], SHOAL_TOPIC_MAX, r->prefix, SHOAL_TOPIC_POLICY_STORE,
                               c->store, NULL)) != SHOAL_OK ||
      (rc = shoal_topic_format(r->subs[3], SHOAL_TOPIC_MAX, r->prefix, SHOAL_TOPIC_DOWN_DEVICE,
                               c->store, c->device)) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ECONFIG, "%s: topic_prefix \"%s\" makes topics too long", c->path,
                      r->prefix);
  snprintf(r->subs[4], SHOAL_TOPIC_MAX, "%s", r->t_ack);
  if ((rc = shoal_topic_format(r->subs[5], SHOAL_TOPIC_MAX, r->prefix, SHOAL_TOPIC_TRUST, NULL,
                               NULL)) != SHOAL_OK)
    return shoal_fail(diag, SHOAL_ECONFIG, "%s: topic_prefix too long", c->path);
  /* SPEC 15: the down topic of every store this device serves. */
  r->nsubs = NSUBS_FIXED;
  for (size_t i = 0; i < c->nserves; i++)
    if ((rc = shoal_topic_format(r->subs[r->nsubs++], SHOAL_TOPIC_MAX, r->prefix,
                                 SHOAL_TOPIC_DOWN_STORE, c->serves[i], NULL)) != SHOAL_OK)
      return shoal_fail(diag, SHOAL_ECONFIG, "%s: topic_prefix too long", c->path);
  /* The last will: offline, no region, profile or time (the broker sends
   * it, whenever that is). */
  const struct shoal_presence will = {
      .online = false, .device = c->device, .store = c->store, .at_ms = -1};
  char *will_text = NULL;
  if ((rc = shoal_presence_encode(&will, &will_text, diag)) != SHOAL_OK)
    return rc;
  bool will_fits = strlen(will_text) < sizeof r->will;
  shoal_strlcpy(r->will, will_text, sizeof r->will);
  free(will_text);
  if (!will_fits)
    return shoal_fail(diag, SHOAL_ELIMIT, "presence will over %zu bytes", sizeof r->will);
  struct shoal_mqtt_opts o = {
      .cfg = &c->mqtt,
      .client_id = r->client_id,
      .clean_session = false,
      .keepalive_s = r->ctx.profile.keepalive_s,
      .max_inflight = r->ctx.profile.batch, /* the whole window goes out at once */
      .will_topic = r->t_presence,
      .will_payload = r->will,
      .will_retain = true,
      .on_connect = cb_connect,
      .on_disconnect = cb_disconnect,
      .on_message = cb_message,
      .user = r,
      .log = &r->ctx.log,
  };
  return shoal_mqtt_new(&o, &r->m, diag);
}

static void shutdown_session(struct run *r) {
  shoal_diag d = {{0}};
  if (r->connected && publish_presence(r, false, &d) == SHOAL_OK) {
    int64_t until = shoal_mono_ms() + SHUTDOWN_FLUSH_MS;
    while (shoal_mqtt_want_write(r->m) && shoal_mono_ms() < until)
      if (shoal_mqtt_loop(r->m, 50, &d) != SHOAL_OK)
        break;
    /* One more turn so the broker's PUBACK for the presence is read. */
    (void)shoal_mqtt_loop(r->m, 50, &d);
  }
  if (r->session)
    shoal_mqtt_disconnect(r->m);
  (void)shoal_mqtt_loop(r->m, 10, &d);
  if (agent_sync_set_state(&r->ctx, false, 0, false, &d) != SHOAL_OK)
    log_diag(r, SHOAL_LOG_WARN, "cannot record sync state", &d);
}

/* Starts the store API. A busy address is not fatal: selling, syncing and
 * the CLI go on, and the API is tried again every API_RETRY_MS. Any other
 * failure (a bad token file, a bad address) leaves diag set and
 * api_retry_at 0: the daemon refuses to start. */
static shoal_err api_try_start(struct run *r, shoal_diag *diag) {
  shoal_err rc = agent_api_start(&r->ctx, &r->api, diag);
  r->api_retry_at = 0;
  if (rc == SHOAL_EIO) {
    shoal_log(&r->ctx.log, SHOAL_LOG_ERROR, "store API not served yet (retrying): %s", diag->msg);
    r->api_retry_at = shoal_mono_ms() + API_RETRY_MS;
    return SHOAL_OK;
  }
  return rc;
}

static const struct shoal_argspec run_opts[] = {
    {"config", 'c', true, false, "CONFIG", "agent config file (required)"},
};
#define NOPTS ((int)(sizeof run_opts / sizeof run_opts[0]))

int agent_cmd_run(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  int exit_code = 0;
  struct run *r = NULL;
  shoal_err rc = shoal_args_parse(&args, run_opts, NOPTS, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(AGENT_PROG, "run", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, AGENT_PROG " run -c CONFIG",
                     "Runs the store device daemon in the foreground: keeps one MQTT session to\n"
                     "the broker, sends the outbox to the hub batch by batch (rows leave only on\n"
                     "the hub's ack), and accepts signed policies for its region and store.\n"
                     "Sales keep working offline; SIGTERM or SIGINT stop it cleanly.",
                     run_opts, NOPTS);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  if (!config)
    return shoal_cli_usage_error(AGENT_PROG, "run", "missing -c CONFIG");
  if (args.npositional)
    return shoal_cli_usage_error(AGENT_PROG, "run", "unexpected argument \"%s\"",
                                 args.positional[0]);
  r = calloc(1, sizeof *r);
  if (!r) {
    rc = shoal_fail(&diag, SHOAL_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = agent_ctx_open(&r->ctx, config, &diag)) != SHOAL_OK ||
      (rc = agent_trust_load(&r->ctx, &r->trust, &diag)) != SHOAL_OK ||
      (rc = run_setup(r, &diag)) != SHOAL_OK ||
      (rc = agent_sync_acked(&r->ctx, &r->acked, &diag)) != SHOAL_OK ||
      (rc = agent_uploader_start(&r->ctx, &r->uploader, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = api_try_start(r, &diag)) != SHOAL_OK)
    goto fail;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  set_state(r, false, false);
  shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "running as %s/%s (region %s, profile %s, epoch %s)",
            r->ctx.cfg.store, r->ctx.cfg.device, r->ctx.cfg.region, r->ctx.profile.name,
            r->ctx.epoch);
  r->next_connect = shoal_mono_ms();
  while (!g_stop) {
    int64_t now = shoal_mono_ms();
    if (r->api_retry_at && now >= r->api_retry_at) {
      shoal_diag d = {{0}};
      if (api_try_start(r, &d) != SHOAL_OK)
        shoal_log(&r->ctx.log, SHOAL_LOG_ERROR, "store API: %s", d.msg);
    }
    if (!r->session) {
      if (now >= r->next_connect)
        try_connect(r);
      else
        sleep_ms(r->next_connect - now < 100 ? r->next_connect - now : 100);
      continue;
    }
    shoal_diag d = {{0}};
    if (shoal_mqtt_loop(r->m, LOOP_MS, &d) != SHOAL_OK) {
      drop_session(r, d.msg);
      continue;
    }
    if (!r->connected && !r->lost && now - r->session_start > CONNACK_TIMEOUT_MS) {
      shoal_mqtt_disconnect(r->m);
      r->lost = true;
    }
    if (r->lost) {
      drop_session(r, "connection closed");
      continue;
    }
    apply_acks(r);
    if (r->connected && r->need_setup)
      session_setup(r);
    if (r->connected && !r->lost && r->hello_due && now >= r->hello_due) {
      /* SPEC 4.3: the hub's fleet view shows what each device applied. */
      r->hello_due = 0;
      if (agent_sync_hello(&r->ctx, &d) != SHOAL_OK)
        log_diag(r, SHOAL_LOG_WARN, "hello not queued", &d);
      r->dirty = true;
    }
    if (r->connected && !r->lost)
      replay(r);
    if (r->connected && !r->lost)
      pump(r);
  }
  shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "stopping");
  shutdown_session(r);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(AGENT_PROG, rc, &diag);
cleanup:
  if (r) {
    agent_uploader_stop(r->uploader);
    agent_api_stop(r->api);
    agent_sync_batch_clear(&r->batch);
    shoal_mqtt_free(r->m);
    agent_trust_cleanup(&r->trust);
    agent_ctx_close(&r->ctx);
    free(r);
  }
  return exit_code;
}
