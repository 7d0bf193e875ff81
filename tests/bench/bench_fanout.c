/* bench_fanout.c - policy fan-out: how long until N simulated agents (500 by
 * default; in-process libmosquitto clients with persistent sessions, each
 * verifying the signed envelope and running the acceptance rules as a real
 * agent does) have applied a new regional policy, on a real Mosquitto on a
 * free loopback port. A further 50 clients in another region must never
 * receive it. Usage: bench_fanout [AGENTS] (up to 6,000: the bench raises its
 * and the broker's open-file limit, as `ulimit -n` would). Prints figures;
 * exit 1 if the policy did not reach every agent within the time limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mosquitto.h>

#include "bench_util.h"
#include "shoal/crypto.h"
#include "shoal/signing.h"
#include "shoal/timeutil.h"
#include "shoal/util.h"
#include "shoal/wire.h"

#define MAX_AGENTS   6000
#define OTHER_REGION 50
#define LIMIT_MS     60000

struct sim {
  struct mosquitto *mosq;
  char region[16];
  char store[32];
  bool subscribed;
  int64_t held;       /* version applied */
  int64_t applied_ms; /* when the new version was applied */
  int wrong;          /* envelopes for another scope delivered */
};

static struct shoal_pubkey *g_pub;
static int64_t g_target_version;

static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *q) {
  (void)m, (void)mid, (void)n, (void)q;
  ((struct sim *)u)->subscribed = true;
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
  (void)m;
  struct sim *s = u;
  struct shoal_policy_envelope env = {0};
  shoal_diag d = {{0}};
  const struct shoal_pubkey *keys[1] = {g_pub};
  if (shoal_policy_envelope_verify(msg->payload, (size_t)msg->payloadlen, keys, 1, &env, &d) !=
      SHOAL_OK)
    return;
  enum shoal_policy_verdict v;
  if (shoal_policy_envelope_check(&env, s->region, s->store, s->held, shoal_now_ms(), 0, &v, &d) ==
          SHOAL_OK &&
      v == SHOAL_POLICY_ACCEPT) {
    s->held = env.version;
    if (env.version == g_target_version)
      s->applied_ms = shoal_mono_ms();
  } else if (strncmp(env.scope, "region/", 7) == 0 && strcmp(env.scope + 7, s->region) != 0) {
    s->wrong++;
  }
  shoal_policy_envelope_cleanup(&env);
}

static pid_t start_broker(int port, const char *dir) {
  char conf[512];
  snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
  FILE *f = fopen(conf, "w");
  if (!f)
    return -1;
  fprintf(f,
          "listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
          "persistence false\nmax_queued_messages 10000\n",
          port);
  fclose(f);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", 1);
    if (devnull >= 0) {
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* One pass over every client: poll the sockets, then read, write, misc. */
static void pump(struct sim *sims, int n, int timeout_ms) {
  static struct pollfd pfd[MAX_AGENTS + OTHER_REGION];
  for (int i = 0; i < n; i++) {
    pfd[i].fd = mosquitto_socket(sims[i].mosq);
    pfd[i].events = POLLIN | (mosquitto_want_write(sims[i].mosq) ? POLLOUT : 0);
    pfd[i].revents = 0;
  }
  if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
    return;
  for (int i = 0; i < n; i++) {
    if (pfd[i].revents & POLLIN)
      mosquitto_loop_read(sims[i].mosq, 1);
    if (mosquitto_want_write(sims[i].mosq))
      mosquitto_loop_write(sims[i].mosq, 1);
    mosquitto_loop_misc(sims[i].mosq);
  }
}

int main(int argc, char **argv) {
  int nagents = argc > 1 ? atoi(argv[1]) : 500;
  if (nagents < 1 || nagents > MAX_AGENTS) {
    fprintf(stderr, "usage: bench_fanout [AGENTS 1..%d]\n", MAX_AGENTS);
    return 2;
  }
  int total = nagents + OTHER_REGION, exit_code = 1;
  /* One socket per client here and one per client in the broker (which
   * inherits the limit): raise the soft open-file limit to the hard one. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)total + 64) {
    fprintf(stderr, "bench_fanout: open-file limit %llu is below %d clients (raise ulimit -n)\n",
            (unsigned long long)rl.rlim_cur, total);
    return 2;
  }
  char dir[] = "/tmp/shoal-bench-fanout-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  signal(SIGPIPE, SIG_IGN);
  shoal_diag d = {{0}};
  char *priv_pem = NULL, *pub_pem = NULL, *env_text = NULL, keypath[600];
  struct shoal_privkey *priv = NULL;
  struct sim *sims = calloc((size_t)total, sizeof *sims);
  struct mosquitto *pub = NULL;
  pid_t broker = -1;
  if (!sims || shoal_key_generate(&priv_pem, &pub_pem, &d) != SHOAL_OK ||
      shoal_pubkey_parse(pub_pem, strlen(pub_pem), &g_pub, &d) != SHOAL_OK) {
    fprintf(stderr, "bench_fanout: key: %s\n", d.msg);
    goto cleanup;
  }
  snprintf(keypath, sizeof keypath, "%s/policy-key.pem", dir);
  if (shoal_file_write_atomic(keypath, priv_pem, strlen(priv_pem), 0600, &d) != SHOAL_OK ||
      shoal_privkey_load(keypath, &priv, &d) != SHOAL_OK) {
    fprintf(stderr, "bench_fanout: key: %s\n", d.msg);
    goto cleanup;
  }
  int port = bench_free_port();
  broker = start_broker(port, dir);
  mosquitto_lib_init();
  usleep(300 * 1000);

  char topic[SHOAL_TOPIC_MAX], other[SHOAL_TOPIC_MAX];
  shoal_topic_format(topic, sizeof topic, "shoal/v1", SHOAL_TOPIC_POLICY_REGION, "cn-sw", NULL);
  shoal_topic_format(other, sizeof other, "shoal/v1", SHOAL_TOPIC_POLICY_REGION, "cn-east", NULL);
  int64_t t0 = shoal_mono_ms();
  for (int i = 0; i < total; i++) {
    struct sim *s = &sims[i];
    snprintf(s->region, sizeof s->region, "%s", i < nagents ? "cn-sw" : "cn-east");
    snprintf(s->store, sizeof s->store, "store-%04d", i);
    char id[64];
    snprintf(id, sizeof id, "bench-agent-%d", i);
    s->mosq = mosquitto_new(id, false, s);
    mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_subscribe_callback_set(s->mosq, on_subscribe);
    mosquitto_message_callback_set(s->mosq, on_message);
    int rc = MOSQ_ERR_UNKNOWN;
    for (int attempt = 0; attempt < 50 && rc != MOSQ_ERR_SUCCESS; attempt++) {
      rc = mosquitto_connect(s->mosq, "127.0.0.1", port, 60);
      if (rc != MOSQ_ERR_SUCCESS)
        usleep(100 * 1000);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "bench_fanout: client %d cannot connect: %s\n", i, mosquitto_strerror(rc));
      goto cleanup;
    }
    mosquitto_subscribe(s->mosq, NULL, i < nagents ? topic : other, 1);
  }
  for (int64_t until = shoal_mono_ms() + 30000; shoal_mono_ms() < until;) {
    pump(sims, total, 20);
    int ready = 0;
    for (int i = 0; i < total; i++)
      ready += sims[i].subscribed;
    if (ready == total)
      break;
  }
  int64_t t_ready = shoal_mono_ms();

  /* HQ publishes version 2 of the cn-sw price map, retained, QoS 1. */
  g_target_version = 2;
  char issued[40];
  shoal_time_format_utc_s(shoal_now_ms(), issued, sizeof issued);
  const char *doc =
      "{\"scope\":\"region/cn-sw\",\"items\":[{\"sku\":\"TEA-MILK-L\",\"price\":1500}]}";
  if (shoal_policy_envelope_sign(priv, "region/cn-sw", 2, issued, NULL, NULL, doc, &env_text, &d) !=
      SHOAL_OK) {
    fprintf(stderr, "bench_fanout: sign: %s\n", d.msg);
    goto cleanup;
  }
  pub = mosquitto_new("bench-hq", true, NULL);
  if (mosquitto_connect(pub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
    goto cleanup;
  int64_t t_pub = shoal_mono_ms();
  mosquitto_publish(pub, NULL, topic, (int)strlen(env_text), env_text, 1, true);
  int applied = 0;
  while (shoal_mono_ms() - t_pub < LIMIT_MS) {
    mosquitto_loop(pub, 0, 1);
    pump(sims, total, 5);
    applied = 0;
    for (int i = 0; i < nagents; i++)
      applied += sims[i].applied_ms != 0;
    if (applied == nagents)
      break;
  }
  /* Give the other region a moment to show any leak. */
  for (int64_t until = shoal_mono_ms() + 300; shoal_mono_ms() < until;)
    pump(sims, total, 20);
  int64_t last = 0, wrong = 0, sum = 0;
  for (int i = 0; i < nagents; i++) {
    if (sims[i].applied_ms - t_pub > last)
      last = sims[i].applied_ms - t_pub;
    sum += sims[i].applied_ms ? sims[i].applied_ms - t_pub : 0;
  }
  for (int i = 0; i < total; i++)
    wrong += sims[i].wrong + (i >= nagents && sims[i].held != 0);
  printf("bench_fanout: %d agents in region cn-sw (+%d in cn-east), persistent sessions, QoS 1\n",
         nagents, OTHER_REGION);
  printf("  connect+subscribe all: %lld ms\n", (long long)(t_ready - t0));
  printf("  applied (verified ECDSA P-256 + acceptance rules): %d/%d\n", applied, nagents);
  printf("  time until all applied: %lld ms (mean per agent %lld ms)\n", (long long)last,
         (long long)(applied ? sum / applied : 0));
  printf("  (the %d signature checks run one after another on this one thread; real devices\n"
         "   verify in parallel, so a fleet applies faster than this figure)\n",
         nagents);
  printf("  deliveries to the other region: %lld (must be 0)\n", (long long)wrong);
  exit_code = applied == nagents && wrong == 0 ? 0 : 1;
cleanup:
  if (sims)
    for (int i = 0; i < total; i++)
      if (sims[i].mosq) {
        mosquitto_disconnect(sims[i].mosq);
        mosquitto_destroy(sims[i].mosq);
      }
  if (pub) {
    mosquitto_disconnect(pub);
    mosquitto_destroy(pub);
  }
  if (broker > 0) {
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
  }
  free(sims);
  free(env_text);
  shoal_secure_free(priv_pem);
  free(pub_pem);
  shoal_privkey_free(priv);
  shoal_pubkey_free(g_pub);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_fanout: could not remove %s\n", dir);
  mosquitto_lib_cleanup();
  return exit_code;
}
