#!/usr/bin/env python3
"""bench_upload - photo uploads (SPEC 15) over loopback with a real
Mosquitto, `shoal-hub run` and `shoal-agent run`.
  bench_upload.py [PHOTOS] [MB]     (default 200 photos of 2 MB)
The agent is offline while PHOTOS photos are submitted with `form submit
--attach`; then it connects and drains them. Prints: upload MB/s (first
upload to last photo stored at the hub), the agent's RSS before and at peak
during the drain, and sale latency (`shoal-agent sale` until the hub holds
the sale) with no upload running and during the drain: the uploader runs on
its own thread, so sales must not wait behind photos. Run from the build
folder's tests/ directory or anywhere with SHOAL_BUILD set."""

import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import shoal_harness as h  # noqa: E402
from sync_helpers import Fleet, basket, example  # noqa: E402

FORM = {"forms": [{"id": "shot", "version": 1, "title": "Photo",
                                      "fields": [{"id": "photo", "type": "photo"}]}]}


def rss_kb(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    mb = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    size = int(mb * 1024 * 1024)
    with h.Env("bench_upload") as env:
        f = Fleet(env)
        hub_cfg = env.hub_config(http=True)
        f.hub_cfg = hub_cfg
        hport = int(json.load(open(hub_cfg))["http"]["listen"].split(":")[1])
        f.start_hub()
        prof = h.write_json(env.path("profile-pos.json"), {
            "profile": "pos-photo", "modules": ["pricing", "sales", "forms"],
            "media": {"max_mb": int(n * mb) + 64}, "cache": {"max_mb": 64},
            "outbox": {"max_events": 100000},
            "sync": {"keepalive_s": 5, "backoff_min_s": 0, "backoff_max_s": 1, "batch": 100}})
        cfg = env.agent_config("pos1", "chengdu-001", "cn-sw", profile=prof, local_api=False,
                               hub_url="http://127.0.0.1:%d" % hport)
        f.cfgs["pos1"] = cfg
        f.receipts["pos1"] = {}
        f.status("pos1")
        agent = f.start_agent("pos1")
        f.wait_connected("pos1", 30)
        f.publish_catalog(wait_for=["pos1"])
        f.publish(env.write_file("form.json", dict(json.load(open(example("global.json"))),
                                                   forms=FORM["forms"])))
        h.wait_until(lambda: f.status("pos1")["policies"].get("global") == 2, 30, "form policy")

        def sale_latency():
            t0 = time.time()
            out = f.sale("pos1", basket("cn-sw", "chengdu-001"))
            cli = time.time() - t0
            h.wait_until(lambda: env.hub_db_count("sales", "receipt = ?", (out["id"],)) == 1, 60,
                         "sale at the hub", interval=0.01)
            return cli, time.time() - t0

        base = [sale_latency() for _ in range(10)]
        rss_idle = rss_kb(agent.pid)

        # Offline: queue the photos.
        agent.stop()
        data = env.write_file("d.json", {})
        t0 = time.time()
        for i in range(n):
            p = env.path("p.bin")
            with open(p, "wb") as fh:
                fh.write(os.urandom(size))
            h.run_cmd([h.binary("shoal-agent"), "form", "submit", "-c", cfg, "--form", "shot",
                       "--data", data, "--attach", "photo=" + p], expect=0)
        queue_s = time.time() - t0
        agent = f.start_agent("pos1")
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kb(agent.pid))
                time.sleep(0.05)
        threading.Thread(target=sample, daemon=True).start()
        f.wait_connected("pos1", 30)
        start = time.time()
        during = []
        while env.hub_db_count("media", "stored_ms IS NOT NULL") < n:
            during.append(sale_latency())
            if time.time() - start > 1800:
                raise AssertionError("drain took over 30 min")
        stored = env.hub_query("SELECT MIN(stored_ms), MAX(stored_ms) FROM media")[0]
        done.set()
        span = (stored[1] - stored[0]) / 1000.0
        total_mb = n * size / 1048576.0
        wall = time.time() - start

        def fmt(xs, i):
            v = sorted(x[i] for x in xs)
            return "median %.0f ms, max %.0f ms (n=%d)" % (statistics.median(v) * 1000,
                                                           v[-1] * 1000, len(v))
        print("photos: %d x %.1f MB = %.0f MB, queued offline in %.1f s (form submit --attach)"
              % (n, mb, total_mb, queue_s))
        print("upload: %.1f MB/s (first to last stored %.1f s; connect to all stored %.1f s)"
              % (total_mb / max(span, 0.001), span, wall))
        print("agent RSS: %d KB connected and idle; peak %d KB during the drain"
              % (rss_idle, peak[0]))
        print("sale CLI latency: idle %s; during the drain %s" % (fmt(base, 0), fmt(during, 0)))
        print("sale to hub latency: idle %s; during the drain %s" % (fmt(base, 1), fmt(during, 1)))


if __name__ == "__main__":
    h.main(main)
