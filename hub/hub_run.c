/* hub_run.c - `shoal-hub run -c CONFIG`: the hub daemon. One thread drives
 * one persistent MQTT session (client id "shoal-hub", clean session off)
 * and the ingest engine: messages are applied in batches, a batch commits
 * when full, when input goes idle, or when HUB_INGEST_BATCH_MS old, and
 * acks leave after the commit.
 * The same loop publishes recorded policy versions, runs the ticket timers
 * once a second and reconnects with backoff when the broker goes away.
 * SIGTERM/SIGINT: the in-flight batch is committed (or rolled back), acks
 * flushed, the session closed cleanly, exit 0. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub_cli.h"
#include "hub_ctx.h"
#include "hub_duties.h"
#include "hub_http.h"
#include "hub_ingestor.h"
#include "hub_loyalty.h"
#include "hub_member_notice.h"
#include "hub_publish.h"
#include "hub_rollout.h"
#include "hub_run.h"
#include "hub_tickets.h"
#include "hub_trust.h"
#include "hub_webhook.h"
#include "shoal/cli.h"
#include "shoal/mqtt.h"
#include "shoal/util.h"
#include "shoal/wire.h"
#include "store.h"

#define HUB_CLIENT_ID      "shoal-hub"
#define HUB_KEEPALIVE_S    30
#define HUB_BACKOFF_MIN_S  1
#define HUB_BACKOFF_MAX_S  5    /* one client, not a fleet: no herd to spread out */
#define HUB_MAX_INFLIGHT   1000 /* our outgoing acks in flight to the broker */
#define HUB_POLICY_POLL_MS 200  /* how soon a version recorded elsewhere goes out */
#define HUB_TICK_MS        1000
#define HUB_STATS_MS       60000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

struct hub_run {
  struct hub_ctx ctx;
  struct shoal_mqtt *m;
  struct hub_ingestor *ing;
  bool connected;
  bool announce;         /* log "subscribed" once the SUBSCRIBE left */
  bool resync_policies;  /* republish every scope's newest version */
  int attempt;           /* reconnect attempts since the last success */
  int64_t next_connect;  /* mono ms */
  int64_t policy_rowid;  /* newest policies.rowid published */
  int db_errors;         /* consecutive ingest database failures */
  bool stopping;         /* the last batch is committed: apply nothing more */
  long ignored_at_stop;  /* messages dropped because of that */
  long unconfirmed;      /* our QoS 1 publishes the broker has not PUBACKed */
  struct hub_duty clock; /* singleton duties of the loop (SPEC 16) */
};

/* ------------------------------------------------------------ MQTT callbacks */

static shoal_err publish_qos1(void *user, const char *topic, const char *payload, size_t len,
                              bool retain, shoal_diag *diag) {
  struct hub_run *r = user;
  if (!r->m)
    return shoal_fail(diag, SHOAL_EMQTT, "no broker session");
  shoal_err rc = shoal_mqtt_publish(r->m, topic, payload, len, 1, retain, NULL, diag);
  if (rc == SHOAL_OK)
    r->unconfirmed++;
  return rc;
}

/* The broker's PUBACK for one of our QoS 1 publishes. */
static void on_publish(void *user, int mid) {
  (void)mid;
  struct hub_run *r = user;
  if (r->unconfirmed > 0)
    r->unconfirmed--;
}

static shoal_err send_ack(void *user, const char *topic, const char *payload, size_t len,
                          shoal_diag *diag) {
  return publish_qos1(user, topic, payload, len, false, diag);
}

static void on_connect(void *user, int rc) {
  struct hub_run *r = user;
  shoal_diag diag = {{0}};
  char filter[SHOAL_TOPIC_MAX];
  if (rc != 0) {
    shoal_log(&r->ctx.log, SHOAL_LOG_ERROR, "broker refused the connection (code %d)", rc);
    return;
  }
  r->connected = true;
  r->attempt = 0;
  shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "connected to %s:%d", r->ctx.cfg.mqtt.host,
            r->ctx.cfg.mqtt.port);
  /* Subscribe on every connect: a broker without persistence has forgotten
   * the session after a restart. */
  static const enum shoal_topic kinds[] = {SHOAL_TOPIC_UP, SHOAL_TOPIC_PRESENCE};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    /* ingest.shared (SPEC 16): device events go to one hub of the group
     * each ($share/{group}/...); presence (retained, idempotent) to all. */
    size_t off = 0;
    if (kinds[i] == SHOAL_TOPIC_UP && r->ctx.cfg.ingest_group)
      off = (size_t)snprintf(filter, sizeof filter, "$share/%s/", r->ctx.cfg.ingest_group);
    if (off >= sizeof filter ||
        shoal_topic_filter(filter + off, sizeof filter - off, r->ctx.cfg.topic_prefix, kinds[i]) !=
            SHOAL_OK ||
        shoal_mqtt_subscribe(r->m, filter, 1, &diag) != SHOAL_OK) {
      shoal_log(&r->ctx.log, SHOAL_LOG_ERROR, "subscribe %s: %s", filter, diag.msg);
      continue;
    }
  }
  r->announce = true;
  r->resync_policies = true;
}

static void on_disconnect(void *user, int rc) {
  struct hub_run *r = user;
  if (r->connected)
    shoal_log(&r->ctx.log, rc == 0 ? SHOAL_LOG_INFO : SHOAL_LOG_WARN, "disconnected from broker%s",
              rc == 0 ? "" : " (connection lost)");
  r->connected = false;
}

static void on_message(void *user, const char *topic, const void *payload, size_t len,
                       bool retained) {
  struct hub_run *r = user;
  shoal_diag diag = {{0}};
  if (r->stopping) {
    /* After the last commit nothing more is applied, so every committed
     * event is acked before we disconnect; these were not acked and their
     * devices resend them. */
    r->ignored_at_stop++;
    return;
  }
  if (hub_ingestor_handle(r->ing, topic, payload, len, retained, &diag) != SHOAL_OK) {
    /* The batch rolled back and sent no ack: its devices resend. */
    r->db_errors++;
    shoal_log(&r->ctx.log, SHOAL_LOG_ERROR, "ingest batch rolled back: %s", diag.msg);
  } else {
    r->db_errors = 0;
  }
}

/* ------------------------------------------------------------ policies */

/* Publishes recorded versions: at connect the newest of every scope (the
 * broker may have lost its retained messages), else a scope's newest
 * version recorded since the last poll that no broker confirmed yet (the
 * HTTP API records without publishing; a `publish` may have lost its
 * PUBACK). Never an older version after a newer one: subscribed agents
 * would count it as a rollback. */
static void publish_policies(struct hub_run *r) {
  hub_stmt *st = NULL;
  shoal_diag diag = {{0}};
  bool resync = r->resync_policies;
  /* Recording order: SQLite's rowid; on PostgreSQL the policies.id
   * identity column (ids are taken under the writers' lock, so they commit
   * in order). */
  static const char *const sql[2][2] = {
      {"SELECT p.rowid, p.scope, p.version, p.envelope FROM policies p "
       "WHERE p.rowid > ? AND p.confirmed_ms IS NULL "
       "AND p.version = (SELECT MAX(version) FROM policies q WHERE q.scope = p.scope) "
       "ORDER BY p.rowid LIMIT 100",
       "SELECT p.rowid, p.scope, p.version, p.envelope FROM policies p "
       "WHERE p.version = (SELECT MAX(version) FROM policies q WHERE q.scope = p.scope) "
       "ORDER BY p.rowid"},
      {"SELECT p.id, p.scope, p.version, p.envelope FROM policies p "
       "WHERE p.id > ? AND p.confirmed_ms IS NULL "
       "AND p.version = (SELECT MAX(version) FROM policies q WHERE q.scope = p.scope) "
       "ORDER BY p.id LIMIT 100",
       "SELECT p.id, p.scope, p.version, p.envelope FROM policies p "
       "WHERE p.version = (SELECT MAX(version) FROM policies q WHERE q.scope = p.scope) "
       "ORDER BY p.id"}};
  int pg = hub_store_dialect(r->ctx.db) == HUB_STORE_PG;
  /* Versions published per poll are capped (LIMIT 100); the rest go next time. */
  if (hub_store_prepare(r->ctx.db, sql[pg][resync], &st, &diag) != SHOAL_OK) {
    shoal_log(&r->ctx.log, SHOAL_LOG_ERROR, "read policies: %s", diag.msg);
    return;
  }
  if (!resync)
    hub_store_bind_int64(st, 1, r->policy_rowid);
  hub_stmt *mark = NULL;
  if (hub_store_prepare(r->ctx.db,
                        pg ? "UPDATE policies SET confirmed_ms = ? WHERE id = ?"
                           : "UPDATE policies SET confirmed_ms = ? WHERE rowid = ?",
                        &mark, &diag) != SHOAL_OK)
    mark = NULL;
  int s, n = 0;
  int64_t max_rowid = r->policy_rowid;
  while ((s = hub_store_step(st)) == HUB_STORE_ROW) {
    int64_t rowid = hub_store_column_int64(st, 0);
    const char *scope = (const char *)hub_store_column_text(st, 1);
    int64_t version = hub_store_column_int64(st, 2);
    const char *env = (const char *)hub_store_column_text(st, 3);
    int envlen = hub_store_column_bytes(st, 3);
    char topic[SHOAL_TOPIC_MAX];
    if (hub_publish_topic(r->ctx.cfg.topic_prefix, scope, topic, sizeof topic, &diag) != SHOAL_OK ||
        publish_qos1(r, topic, env, (size_t)envlen, true, &diag) != SHOAL_OK) {
      shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "publish %s v%" PRId64 ": %s", scope, version,
                diag.msg);
      break; /* retried at the next poll */
    }
    n++;
    if (mark) {
      hub_store_reset(mark);
      hub_store_bind_int64(mark, 1, shoal_now_ms());
      hub_store_bind_int64(mark, 2, rowid);
      (void)hub_store_step(mark);
    }
    if (!resync)
      shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "published %s version %" PRId64, scope, version);
    if (rowid > max_rowid)
      max_rowid = rowid;
  }
  hub_store_finalize(st);
  hub_store_finalize(mark);
  /* At a resync the newest version of the scope holding the highest rowid
   * was read, so every row recorded after the read is above max_rowid and
   * goes out at the next poll. */
  if (resync) {
    if (n)
      shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "republished the newest version of %d scope(s)", n);
    /* The retained trust chain (key rotation) is lost with the broker's
     * retained messages too. */
    char *chain = NULL, topic[SHOAL_TOPIC_MAX];
    if (hub_trust_chain(&r->ctx, &chain, &diag) == SHOAL_OK &&
        shoal_topic_format(topic, sizeof topic, r->ctx.cfg.topic_prefix, SHOAL_TOPIC_TRUST, NULL,
                           NULL) == SHOAL_OK &&
        shoal_mqtt_publish(r->m, topic, chain, strlen(chain), 1, true, NULL, &diag) != SHOAL_OK)
      shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "republish trust chain: %s", diag.msg);
    free(chain);
    r->resync_policies = false;
  }
  r->policy_rowid = max_rowid;
}

/* ------------------------------------------------------------ the loop */

static void schedule_reconnect(struct hub_run *r) {
  int64_t delay = shoal_backoff_ms(HUB_BACKOFF_MIN_S, HUB_BACKOFF_MAX_S, r->attempt++);
  r->next_connect = shoal_mono_ms() + delay;
  shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "reconnecting in %.1f s", (double)delay / 1000);
}

static void log_stats(struct hub_run *r) {
  struct hub_ingestor_stats s;
  hub_ingestor_stats(r->ing, &s);
  shoal_log(&r->ctx.log, SHOAL_LOG_INFO,
            "ingest: %" PRIu64 " received, %" PRIu64 " stored, %" PRIu64 " duplicates, %" PRIu64
            " dead letters, %" PRIu64 " batches, %" PRIu64 " rollbacks, %" PRIu64 " acks",
            s.received, s.stored, s.duplicates, s.dead_letters, s.batches, s.rollbacks, s.acks);
}

static void flush_batch(struct hub_run *r) {
  shoal_diag diag = {{0}};
  if (hub_ingestor_flush(r->ing, &diag) != SHOAL_OK) {
    r->db_errors++;
    shoal_log(&r->ctx.log, SHOAL_LOG_ERROR, "ingest commit failed (devices will resend): %s",
              diag.msg);
  }
}

static void run_loop(struct hub_run *r) {
  shoal_diag diag = {{0}};
  int64_t last_tick = shoal_mono_ms(), last_poll = 0, last_stats = shoal_mono_ms();
  bool connecting = false; /* TCP up, CONNACK not seen yet */
  bool was_duty = false;
  int64_t connack_deadline = 0;
  while (!stop_requested) {
    int64_t now = shoal_mono_ms();
    if (!r->connected && !connecting && now >= r->next_connect) {
      if (shoal_mqtt_connect(r->m, &diag) == SHOAL_OK) {
        connecting = true;
        connack_deadline = now + 10000;
      } else {
        shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "%s", diag.msg);
        schedule_reconnect(r);
      }
    }
    if (r->connected || connecting) {
      /* Short waits while a batch is open (its commit is due within
       * HUB_INGEST_BATCH_MS); longer when idle: a message wakes us anyway. */
      int wait_ms = hub_ingestor_due(r->ing) ? 0 : hub_ingestor_open(r->ing) ? 2 : 50;
      struct hub_ingestor_stats before, after;
      hub_ingestor_stats(r->ing, &before);
      shoal_err lrc = shoal_mqtt_loop(r->m, wait_ms, &diag);
      hub_ingestor_stats(r->ing, &after);
      /* Input went idle with a batch open: commit now rather than at
       * HUB_INGEST_BATCH_MS. A device keeps one batch in flight and waits
       * for its ack (SPEC 4.2), so a timer-only commit would cap one
       * device's drain at batch / HUB_INGEST_BATCH_MS; under steady load
       * from many devices input is never idle and batches still fill. */
      if (lrc == SHOAL_OK && after.received == before.received && hub_ingestor_open(r->ing))
        flush_batch(r);
      if (lrc != SHOAL_OK) {
        shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "%s", diag.msg);
        r->connected = connecting = false;
        schedule_reconnect(r);
      } else if (r->connected) {
        connecting = false;
      } else if (connecting && shoal_mono_ms() > connack_deadline) {
        shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "no CONNACK from the broker");
        connecting = false;
        schedule_reconnect(r);
      }
    } else {
      usleep(20 * 1000);
    }
    if (hub_ingestor_due(r->ing))
      flush_batch(r);
    if (r->db_errors > 0) /* a failing disk: do not spin */
      usleep((useconds_t)(r->db_errors > 50 ? 50 : r->db_errors) * 10000);
    if (r->announce && r->connected && !shoal_mqtt_want_write(r->m)) {
      r->announce = false;
      shoal_log(&r->ctx.log, SHOAL_LOG_INFO, "subscribed to up and presence topics");
    }
    now = shoal_mono_ms();
    bool duty = hub_duty_held(&r->clock);
    if (duty && !was_duty) /* a new holder republishes what the last one may not have */
      r->resync_policies = true;
    was_duty = duty;
    if (duty && r->connected && (r->resync_policies || now - last_poll >= HUB_POLICY_POLL_MS)) {
      flush_batch(r);
      publish_policies(r);
      last_poll = now;
    }
    if (duty && now - last_tick >= HUB_TICK_MS) {
      last_tick = now;
      flush_batch(r);
      if (hub_tickets_tick(&r->ctx, shoal_now_ms(), &diag) != SHOAL_OK)
        shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "ticket timers: %s", diag.msg);
      if (hub_loyalty_release_due(r->ctx.db, shoal_now_ms(), NULL, &diag) != SHOAL_OK)
        shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "member code reservations: %s", diag.msg);
      if (r->connected && hub_member_notice_publish(&r->ctx, shoal_now_ms(), &diag) != SHOAL_OK)
        shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "member code notices: %s", diag.msg);
      /* Rollout gates (SPEC 14): a stage version it records goes out with
       * the next policy poll. */
      if (hub_rollouts_tick(r->ctx.db, &r->ctx.cfg, &r->ctx.log, shoal_now_ms(), &diag) != SHOAL_OK)
        shoal_log(&r->ctx.log, SHOAL_LOG_WARN, "rollout gates: %s", diag.msg);
    }
    if (now - last_stats >= HUB_STATS_MS) {
      last_stats = now;
      log_stats(r);
    }
  }
}

static const struct shoal_argspec run_opts[] = {
    {"config", 'c', true, false, "CONFIG", "hub config file (required)"},
};
#define NOPTS ((int)(sizeof run_opts / sizeof run_opts[0]))

int hub_cmd_run(int argc, char **argv) {
  shoal_diag diag = {{0}};
  struct shoal_args args;
  struct hub_run r;
  struct hub_http *http = NULL;
  struct hub_webhooks *hooks = NULL;
  int exit_code = 0;
  memset(&r, 0, sizeof r);
  shoal_err rc = shoal_args_parse(&args, run_opts, NOPTS, argc, argv, 1, &diag);
  if (rc != SHOAL_OK)
    return shoal_cli_usage_error(HUB_PROG, "run", "%s", diag.msg);
  if (args.help) {
    shoal_args_usage(stdout, HUB_PROG " run -c CONFIG",
                     "Runs the hub in the foreground: ingests every device's events exactly\n"
                     "once (acks after commit), keeps the device registry, publishes recorded\n"
                     "policy versions, serves the HTTP API when configured. Logs go to stderr.\n"
                     "SIGTERM or SIGINT stops it cleanly (exit 0).",
                     run_opts, NOPTS);
    return 0;
  }
  const char *config = shoal_args_get(&args, "config");
  if (!config)
    return shoal_cli_usage_error(HUB_PROG, "run", "missing -c CONFIG");
  if (args.npositional)
    return shoal_cli_usage_error(HUB_PROG, "run", "unexpected argument \"%s\"", args.positional[0]);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  /* SA_RESTART keeps SQLite's and libmosquitto's reads and writes whole;
   * the loop's poll still returns early on the signal. */
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if ((rc = hub_ctx_open(&r.ctx, config, &diag)) != SHOAL_OK)
    goto fail;
  r.ctx.publish = publish_qos1;
  r.ctx.publish_user = &r;
  if ((rc = hub_ingestor_new(&r.ctx, 0, send_ack, &r, &r.ing, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = hub_duty_open(&r.ctx, HUB_DUTY_CLOCK, "timers", &r.clock, &diag)) != SHOAL_OK)
    goto fail;
  /* Hubs sharing ingest are distinct broker clients with throwaway
   * sessions: a dead hub's session must not hold back its share of the
   * device traffic (the devices resend what was never acked). */
  char client_id[96];
  bool shared = r.ctx.cfg.ingest_group != NULL;
  if (shared) {
    char host[48] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(client_id, sizeof client_id, "%s-%.40s-%ld", HUB_CLIENT_ID, host, (long)getpid());
  } else {
    snprintf(client_id, sizeof client_id, "%s", HUB_CLIENT_ID);
  }
  struct shoal_mqtt_opts o = {
      .cfg = &r.ctx.cfg.mqtt,
      .client_id = client_id,
      .clean_session = shared,
      .keepalive_s = HUB_KEEPALIVE_S,
      .max_inflight = HUB_MAX_INFLIGHT,
      .on_connect = on_connect,
      .on_disconnect = on_disconnect,
      .on_message = on_message,
      .on_publish = on_publish,
      .user = &r,
      .log = &r.ctx.log,
  };
  if ((rc = shoal_mqtt_new(&o, &r.m, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = hub_http_start(&r.ctx, &http, &diag)) != SHOAL_OK)
    goto fail;
  if ((rc = hub_webhooks_start(&r.ctx, &hooks, &diag)) != SHOAL_OK)
    goto fail;
  shoal_log(&r.ctx.log, SHOAL_LOG_INFO, "hub %s started (db %s, broker %s:%d%s%s)", SHOAL_VERSION,
            hub_store_dialect(r.ctx.db) == HUB_STORE_PG ? "postgresql" : r.ctx.cfg.db,
            r.ctx.cfg.mqtt.host, r.ctx.cfg.mqtt.port, shared ? ", shared ingest group " : "",
            shared ? r.ctx.cfg.ingest_group : "");

  run_loop(&r);

  shoal_log(&r.ctx.log, SHOAL_LOG_INFO, "stopping");
  flush_batch(&r);
  r.stopping = true;
  if (r.connected) {
    /* Push out the acks of the last batch and wait (bounded) for the
     * broker to take them, then say goodbye. */
    int64_t until = shoal_mono_ms() + 2000;
    while ((r.unconfirmed > 0 || shoal_mqtt_want_write(r.m)) && shoal_mono_ms() < until)
      if (shoal_mqtt_loop(r.m, 20, NULL) != SHOAL_OK)
        break;
    shoal_mqtt_disconnect(r.m);
    (void)shoal_mqtt_loop(r.m, 20, NULL);
  }
  if (r.ignored_at_stop)
    shoal_log(&r.ctx.log, SHOAL_LOG_INFO,
              "%ld message(s) arrived after the last commit; not acked, their devices resend them",
              r.ignored_at_stop);
  log_stats(&r);
  goto cleanup;
fail:
  exit_code = shoal_cli_fail(HUB_PROG, rc, &diag);
cleanup:
  hub_webhooks_stop(hooks);
  hub_http_stop(http);
  hub_ingestor_free(r.ing);
  hub_duty_close(&r.clock);
  shoal_mqtt_free(r.m);
  hub_ctx_close(&r.ctx);
  return exit_code;
}
