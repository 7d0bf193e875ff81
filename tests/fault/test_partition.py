#!/usr/bin/env python3
"""Network partition with 10,000 queued events (issue 8). The agent daemon
runs in its own network namespace joined to the broker by a veth pair; the
partition takes the host end of the link down (when `ip netns` is not
permitted, the broker is stopped instead). While partitioned the store keeps
selling: 10,000 sales are recorded. Then the link heals. Proves: nothing
reaches the hub during the partition; afterwards the backlog drains batch
by batch to exactly the agent's sales (none lost, none twice), the hub's
watermark reaches the agent's last seq and the outbox is empty.
SHOAL_PARTITION_EVENTS overrides the 10,000 (e.g. for a quick local run).
"""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

import shoal_harness as h

EVENTS = int(os.environ.get("SHOAL_PARTITION_EVENTS", "10000"))
WORKERS = 4


def sh(*argv):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Netns:
    """A namespace + veth pair; the host end carries the broker's address."""

    def __init__(self):
        tag = "%x" % (os.getpid() & 0xfffff)
        self.ns, self.host_if, self.ns_if = "shoalp" + tag, "shp%sa" % tag, "shp%sb" % tag
        octet = 16 + os.getpid() % 200
        self.host_ip, self.ns_ip = "10.213.%d.1" % octet, "10.213.%d.2" % octet
        self.up = False

    def create(self):
        steps = [["ip", "netns", "add", self.ns],
                 ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if],
                 ["ip", "link", "set", self.ns_if, "netns", self.ns],
                 ["ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if],
                 ["ip", "link", "set", self.host_if, "up"],
                 ["ip", "netns", "exec", self.ns, "ip", "addr", "add", self.ns_ip + "/30", "dev", self.ns_if],
                 ["ip", "netns", "exec", self.ns, "ip", "link", "set", self.ns_if, "up"],
                 ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"]]
        for s in steps:
            r = sh(*s)
            if r.returncode != 0:
                h.log("netns not available (%s: %s)" % (" ".join(s), r.stderr.strip()))
                self.destroy()
                return False
        self.up = True
        return True

    def link(self, up):
        r = sh("ip", "link", "set", self.host_if, "up" if up else "down")
        h.check(r.returncode == 0, "ip link set %s: %s" % (self.host_if, r.stderr))

    def destroy(self):
        sh("ip", "link", "del", self.host_if)
        sh("ip", "netns", "del", self.ns)


def test():
    shm = tempfile.mkdtemp(prefix="shoal-partition-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    net = Netns()
    try:
        with h.Env("partition") as env:
            run(env, net, shm)
    finally:
        net.destroy()
        shutil.rmtree(shm, ignore_errors=True)


def run(env, net, shm):
    use_netns = net.create()
    port = h.free_port()
    extra = ["listener %d %s" % (port, net.host_ip)] if use_netns else []
    env.start_broker(extra_conf=extra)
    hub_cfg = env.hub_config()
    hub = env.start_hub(hub_cfg)
    mqtt = {"host": net.host_ip, "port": port} if use_netns else env.broker.mqtt_config()
    # The agent's database on tmpfs: 10,000 fsync'd sales in seconds, not minutes.
    cfg = env.agent_config("pos1", "cd-001", "cn-sw", local_api=False,
                           db=os.path.join(shm, "pos1.db"), mqtt=mqtt)
    pol = env.write_file("global.json", {"scope": "global", "currency": "CNY",
                                         "items": [{"sku": "MT-001", "price": 2800}]})
    h.agent_cmd("policy", "import", "-c", cfg, pol, expect=0)
    basket = env.write_file("basket.json", {"region": "cn-sw", "store": "cd-001",
                                            "lines": [{"sku": "MT-001", "qty": 1}]})
    argv = [h.binary("shoal-agent"), "run", "-c", cfg]
    if use_netns:
        argv = ["ip", "netns", "exec", net.ns] + argv
    agent = env.start_proc("agent-pos1", argv)

    def status():
        return h.agent_cmd("status", "-c", cfg).json()
    h.wait_until(lambda: status()["connected"], 30, "agent connected across the link")
    h.agent_cmd("sale", "-c", cfg, "--basket", basket, expect=0)
    h.wait_until(lambda: env.hub_db_count("sales") == 1, 30, "a first sale reaches the hub")
    how = "veth link down between namespace and broker" if use_netns else "broker stopped"
    if use_netns:
        net.link(False)
    else:
        env.broker.stop()
    h.log("partition: %s" % how)

    t0 = time.monotonic()
    todo, lock, fails = list(range(EVENTS)), threading.Lock(), []

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            r = h.agent_cmd("sale", "-c", cfg, "--basket", basket)
            if r.rc != 0:
                with lock:
                    fails.append(r)
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.check(not fails, "sales failed while partitioned: %r" % fails[:2])
    record_s = time.monotonic() - t0
    pending = status()["outbox_pending"]
    at_hub = env.hub_db_count("sales")
    h.check(pending >= EVENTS and at_hub == 1,
            "during the partition: outbox %d (want >= %d), hub sales %d (want 1)" % (pending, EVENTS, at_hub))
    print("ok   partition (%s): %d sales recorded offline in %.1fs, outbox %d, hub saw none of them"
          % (how, EVENTS, record_s, pending))

    t1 = time.monotonic()
    if use_netns:
        net.link(True)
    else:
        env.broker.restart()
    h.wait_until(lambda: env.hub_db_count("sales") == EVENTS + 1, 300, "backlog drained to the hub",
                 interval=0.5)
    h.wait_until(lambda: status()["outbox_pending"] == 0, 60, "agent outbox empty")
    drain_s = time.monotonic() - t1
    con = sqlite3.connect(os.path.join(shm, "pos1.db"), timeout=10)
    agent_sales = {r[0] for r in con.execute("SELECT receipt FROM sales")}
    last_seq = int(con.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
    con.close()
    hub_sales = [r[0] for r in env.hub_query("SELECT receipt FROM sales WHERE device='pos1'")]
    h.check(len(hub_sales) == len(set(hub_sales)) == len(agent_sales) == EVENTS + 1,
            "hub %d (%d distinct) vs agent %d" % (len(hub_sales), len(set(hub_sales)), len(agent_sales)))
    h.check(set(hub_sales) == agent_sales, "hub and agent sales differ")
    def caught_up():  # a reconnect's hello may still be on its way
        c = sqlite3.connect(os.path.join(shm, "pos1.db"), timeout=10)
        last = int(c.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
        c.close()
        up = env.hub_query("SELECT MAX(upto) FROM streams WHERE device='pos1'")[0][0]
        return last if up == last else None
    last_seq = h.wait_until(caught_up, 60, "hub watermark = agent's last seq")
    h.check(env.hub_db_count("dead_letters") == 0, "dead letters after the drain")
    print("ok   healed: %d queued events drained in %.1fs (%.0f ev/s), none lost, none twice; watermark = seq %d"
          % (EVENTS, drain_s, EVENTS / max(drain_s, 0.001), last_seq))
    agent.stop()
    hub.stop()


if __name__ == "__main__":
    h.main(test)
