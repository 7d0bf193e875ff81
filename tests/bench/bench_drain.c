/* bench_drain.c - outbox drain rate: 100,000 events queued offline in one
 * agent's database (written through agent_outbox_append, as sales are),
 * then a real `shoal-agent run` connects to a real Mosquitto on a free
 * loopback port and sends them batch by batch, one batch unacknowledged at a
 * time, until the hub's acks have emptied the outbox.
 *   bench_drain [EVENTS] [--hub]
 * Default: an in-process acker stands in for the hub (measures the agent and
 * the protocol); --hub runs the real `shoal-hub run` (durable, deduped
 * ingest). Binaries: $SHOAL_AGENT / $SHOAL_HUB, else next to this program's
 * build folder. Batch: the pos-terminal profile's sync.batch ($SHOAL_BATCH
 * overrides). Prints events/s; target >= 10,000/s. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mosquitto.h>
#include <sqlite3.h>

#include "agent_ctx.h"
#include "agent_outbox.h"
#include "bench_util.h"
#include "shoal/crypto.h"
#include "shoal/db.h"
#include "shoal/util.h"
#include "shoal/wire.h"

#define LIMIT_MS 300000

static char g_epoch[24];
static int64_t g_upto, g_acked_sent;

static pid_t spawn(const char *log, char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static void stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return;
    usleep(50 * 1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* The stand-in hub: decodes each event (as the hub must), keeps the
 * contiguous seq, and acks once per network turn, cumulatively. */
static void on_up(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
  (void)m, (void)u;
  struct shoal_event ev = {0};
  shoal_diag d = {{0}};
  if (shoal_event_decode(msg->payload, (size_t)msg->payloadlen, &ev, &d) != SHOAL_OK)
    return;
  if (strcmp(ev.epoch, g_epoch) == 0 && ev.seq == g_upto + 1)
    g_upto = ev.seq;
  shoal_event_cleanup(&ev);
}

static int write_file(const char *path, const char *text) {
  shoal_diag d = {{0}};
  return shoal_file_write_atomic(path, text, strlen(text), 0644, &d) == SHOAL_OK ? 0 : -1;
}

int main(int argc, char **argv) {
  int64_t nevents = 100000;
  bool real_hub = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--hub") == 0)
      real_hub = true;
    else
      nevents = atoll(argv[i]);
  }
  if (nevents < 1 || nevents > 1000000) {
    fprintf(stderr, "usage: bench_drain [EVENTS 1..1000000] [--hub]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  char self[PATH_MAX], agent_bin[PATH_MAX + 64], hub_bin[PATH_MAX + 64];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return 1;
  self[n] = '\0';
  char *bindir = dirname(dirname(self)); /* build/tests/bench_drain -> build */
  snprintf(agent_bin, sizeof agent_bin, "%s", getenv("SHOAL_AGENT") ? getenv("SHOAL_AGENT") : "");
  if (!agent_bin[0])
    snprintf(agent_bin, sizeof agent_bin, "%s/agent/shoal-agent", bindir);
  snprintf(hub_bin, sizeof hub_bin, "%s", getenv("SHOAL_HUB") ? getenv("SHOAL_HUB") : "");
  if (!hub_bin[0])
    snprintf(hub_bin, sizeof hub_bin, "%s/hub/shoal-hub", bindir);
  int batch = getenv("SHOAL_BATCH") ? atoi(getenv("SHOAL_BATCH")) : 200;

  char dir[] = "/tmp/shoal-bench-drain-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char path[5][PATH_MAX], text[2048];
  snprintf(path[0], PATH_MAX, "%s/profile.json", dir);
  snprintf(path[1], PATH_MAX, "%s/agent.json", dir);
  snprintf(path[2], PATH_MAX, "%s/policy-pub.pem", dir);
  snprintf(path[3], PATH_MAX, "%s/hub.json", dir);
  snprintf(path[4], PATH_MAX, "%s/mosquitto.conf", dir);
  int port = bench_free_port(), exit_code = 1;
  pid_t broker = -1, hub = -1, agent = -1;
  struct mosquitto *acker = NULL;
  sqlite3 *ro = NULL;
  struct agent_ctx ctx = {0};
  shoal_diag d = {{0}};
  char *priv = NULL, *pub = NULL;

  snprintf(
      text, sizeof text,
      "{\"profile\":\"bench-pos\",\"modules\":[\"pricing\",\"sales\"],\"cache\":{\"max_mb\":256},"
      "\"outbox\":{\"max_events\":1000000},\"sync\":{\"keepalive_s\":30,\"backoff_min_s\":0,"
      "\"backoff_max_s\":1,\"batch\":%d}}",
      batch);
  if (write_file(path[0], text) != 0 || shoal_key_generate(&priv, &pub, &d) != SHOAL_OK ||
      write_file(path[2], pub) != 0)
    goto cleanup;
  snprintf(text, sizeof text,
           "{\"device\":\"pos-1\",\"store\":\"bench-store\",\"region\":\"cn-sw\","
           "\"profile\":\"profile.json\",\"db\":\"agent.db\",\"mqtt\":{\"host\":\"127.0.0.1\","
           "\"port\":%d},\"trust\":{\"policy_pub\":\"policy-pub.pem\"}}",
           port);
  if (write_file(path[1], text) != 0)
    goto cleanup;

  /* 1. Offline: queue the events the way sales do (record + outbox row per
   *    transaction would be slower; one transaction per 5,000 here). */
  int64_t t0 = shoal_mono_ms();
  if (agent_ctx_open(&ctx, path[1], &d) != SHOAL_OK)
    goto fail;
  snprintf(g_epoch, sizeof g_epoch, "%s", ctx.epoch);
  cJSON *body =
      cJSON_Parse("{\"receipt\":\"r\",\"region\":\"cn-sw\",\"store\":\"bench-store\","
                  "\"currency\":\"CNY\",\"subtotal\":2800,\"discount\":0,\"rounding\":0,"
                  "\"total\":2800,\"lines\":[{\"sku\":\"TEA-MILK-L\",\"qty\":1,"
                  "\"base_price\":2800,\"unit_price\":2800,\"discount\":0,\"total\":2800}]}");
  for (int64_t i = 0; i < nevents;) {
    if (shoal_db_begin(ctx.db, &d) != SHOAL_OK)
      goto fail;
    for (int k = 0; k < 5000 && i < nevents; k++, i++) {
      char receipt[32];
      snprintf(receipt, sizeof receipt, "r-%" PRId64, i + 1);
      cJSON_ReplaceItemInObject(body, "receipt", cJSON_CreateString(receipt));
      if (agent_outbox_append(&ctx, "sale", body, NULL, NULL, &d) != SHOAL_OK)
        goto fail;
    }
    if (shoal_db_commit(ctx.db, &d) != SHOAL_OK)
      goto fail;
  }
  cJSON_Delete(body);
  agent_ctx_close(&ctx);
  int64_t t_fill = shoal_mono_ms() - t0;

  /* 2. The broker and the hub (or the stand-in) come up. */
  snprintf(text, sizeof text,
           "listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n",
           port);
  if (write_file(path[4], text) != 0)
    goto cleanup;
  char blog[PATH_MAX + 32], hlog[PATH_MAX + 32], alog[PATH_MAX + 32];
  snprintf(blog, sizeof blog, "%s/mosquitto.log", dir);
  snprintf(hlog, sizeof hlog, "%s/hub.log", dir);
  snprintf(alog, sizeof alog, "%s/agent.log", dir);
  char *bargv[] = {"/usr/sbin/mosquitto", "-c", path[4], NULL};
  broker = spawn(blog, bargv);
  usleep(300 * 1000);
  mosquitto_lib_init();
  if (real_hub) {
    snprintf(text, sizeof text, "{\"db\":\"hub.db\",\"mqtt\":{\"host\":\"127.0.0.1\",\"port\":%d}}",
             port);
    if (write_file(path[3], text) != 0)
      goto cleanup;
    char *hargv[] = {hub_bin, "run", "-c", path[3], NULL};
    hub = spawn(hlog, hargv);
    usleep(1000 * 1000);
  } else {
    acker = mosquitto_new("bench-acker", true, NULL);
    mosquitto_int_option(acker, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_message_callback_set(acker, on_up);
    if (mosquitto_connect(acker, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "bench_drain: cannot connect the acker\n");
      goto cleanup;
    }
    mosquitto_subscribe(acker, NULL, "shoal/v1/up/+/+", 1);
    for (int i = 0; i < 20; i++)
      mosquitto_loop(acker, 10, 1);
  }

  /* 3. The agent connects: time until the outbox is empty. */
  char dbpath[PATH_MAX + 16];
  snprintf(dbpath, sizeof dbpath, "%s/agent.db", dir);
  if (sqlite3_open_v2(dbpath, &ro, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    goto cleanup;
  sqlite3_busy_timeout(ro, 5000);
  char *aargv[] = {agent_bin, "run", "-c", path[1], NULL};
  int64_t t_start = shoal_mono_ms(), t_first = 0, last_seq = 0, acked = 0;
  agent = spawn(alog, aargv);
  char ack_topic[SHOAL_TOPIC_MAX];
  shoal_topic_format(ack_topic, sizeof ack_topic, "shoal/v1", SHOAL_TOPIC_ACK, "bench-store",
                     "pos-1");
  int64_t next_check = 0;
  while (shoal_mono_ms() - t_start < LIMIT_MS) {
    if (acker) {
      mosquitto_loop(acker, 5, 1);
      if (g_upto > g_acked_sent) {
        char ack[96];
        snprintf(ack, sizeof ack, "{\"epoch\":\"%s\",\"upto\":%" PRId64 "}", g_epoch, g_upto);
        mosquitto_publish(acker, NULL, ack_topic, (int)strlen(ack), ack, 1, false);
        g_acked_sent = g_upto;
      }
    } else {
      usleep(5 * 1000);
    }
    if (shoal_mono_ms() < next_check)
      continue;
    next_check = shoal_mono_ms() + 20;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ro,
                           "SELECT (SELECT CAST(value AS INTEGER) FROM meta WHERE key='last_seq'), "
                           "acked_upto FROM sync_state",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      last_seq = sqlite3_column_int64(st, 0);
      acked = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (acked > 0 && !t_first)
      t_first = shoal_mono_ms();
    /* last_seq includes the hello appended at connect. */
    if (acked > 0 && acked >= last_seq)
      break;
  }
  int64_t t_end = shoal_mono_ms();
  bool done = acked > 0 && acked >= last_seq;
  double secs = (double)(t_end - t_start) / 1000.0;
  printf("bench_drain: %" PRId64 " events queued offline (%" PRId64 " ms to queue), batch %d, %s\n",
         nevents, t_fill, batch,
         real_hub ? "real shoal-hub (durable, deduped)"
                  : "in-process acker standing in for the hub");
  printf("  drained: %s (%" PRId64 "/%" PRId64 " acked) in %.2f s from agent start "
         "(first ack after %" PRId64 " ms)\n",
         done ? "yes" : "NO", acked, last_seq, secs, t_first ? t_first - t_start : -1);
  printf("  drain rate: %.0f events/s (target >= 10000)\n", secs > 0 ? (double)acked / secs : 0.0);
  exit_code = done ? 0 : 1;
  goto cleanup;
fail:
  fprintf(stderr, "bench_drain: %s\n", d.msg);
  agent_ctx_close(&ctx);
cleanup:
  stop(agent);
  if (acker) {
    mosquitto_disconnect(acker);
    mosquitto_destroy(acker);
  }
  stop(hub);
  stop(broker);
  sqlite3_close(ro);
  shoal_secure_free(priv);
  free(pub);
  if (!getenv("SHOAL_KEEP_TMP")) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "bench_drain: could not remove %s\n", dir);
  } else {
    fprintf(stderr, "bench_drain: kept %s\n", dir);
  }
  mosquitto_lib_cleanup();
  return exit_code;
}
