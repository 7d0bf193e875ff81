"""sync_helpers - what the test_sync_* integration tests share on top of
shoal_harness: a fleet (broker, hub, agents with a fast-reconnecting
profile), sales through `shoal-agent sale`, policy publishing, status and the
hub's sales report. Not a test itself (no test_ prefix)."""

import json
import os
import time

import shoal_harness as h

EXAMPLES = os.path.join(h.source_dir(), "hub", "examples")


def example(name):
    return os.path.join(EXAMPLES, name)


class Fleet:
    def __init__(self, env, broker_conf=()):
        self.env = env
        self.broker = env.start_broker(extra_conf=broker_conf)
        env.keygen()
        self.hub_cfg = env.hub_config()
        self.hub = None
        self.agents = {}   # device -> Proc
        self.cfgs = {}     # device -> config path
        self.receipts = {}  # device -> {id: total}

    def start_hub(self):
        self.hub = self.env.start_hub(self.hub_cfg, name="hub")
        return self.hub

    def profile(self, name, modules, batch=50):
        """A profile that reconnects fast (tests wait on it)."""
        return h.write_json(self.env.path("profile-%s.json" % name), {
            "profile": name, "modules": modules, "cache": {"max_mb": 64},
            "outbox": {"max_events": 100000},
            "sync": {"keepalive_s": 5, "backoff_min_s": 0, "backoff_max_s": 1, "batch": batch}})

    def add_agent(self, device, store, region, modules=("pricing", "sales"), batch=50,
                  start=True, env=None):
        prof = self.profile(device, list(modules), batch)
        cfg = self.env.agent_config(device, store, region, profile=prof, local_api=False)
        self.cfgs[device] = cfg
        self.receipts.setdefault(device, {})
        if start:
            self.start_agent(device, env=env)
        return cfg

    def start_agent(self, device, env=None):
        p = self.agents.get(device)
        if p is not None and not p.alive():
            p.env = env or p.env
            p.restart()
        else:
            p = self.env.start_agent(self.cfgs[device], name="agent-" + device, env=env)
            self.agents[device] = p
        return p

    def status(self, device, env=None):
        return h.run_json([h.binary("shoal-agent"), "status", "-c", self.cfgs[device]], env=env)

    def wait_connected(self, device, timeout=20):
        h.wait_until(lambda: self.status(device)["connected"], timeout, device + " connected")

    def publish(self, doc_path, effective_at=None, expires_at=None, expect=0):
        argv = [h.binary("shoal-hub"), "publish", "-c", self.hub_cfg, "--policy", doc_path]
        if effective_at:
            argv += ["--effective-at", effective_at]
        if expires_at:
            argv += ["--expires-at", expires_at]
        return h.run_cmd(argv, expect=expect)

    def sale(self, device, basket):
        """Records a sale on device with `shoal-agent sale`; returns its result."""
        r = h.run_cmd([h.binary("shoal-agent"), "sale", "-c", self.cfgs[device], "--basket", "-"],
                      input=json.dumps(basket), timeout=30)
        if r.rc != 0:
            raise AssertionError("sale on %s failed: %r" % (device, r))
        out = r.json()
        self.receipts[device][out["id"]] = out["total"]
        return out

    def made(self, device):
        rec = self.receipts.get(device, {})
        return len(rec), sum(rec.values())

    def publish_catalog(self, wait_for=()):
        """Publishes the example catalog (global and both regions) and waits
        until each running device in wait_for holds its region's version."""
        for doc in ("global.json", "region-cn-sw.json", "region-cn-east.json"):
            self.publish(example(doc))
        for d in wait_for:
            with open(self.cfgs[d]) as fh:
                region = json.load(fh)["region"]
            h.wait_until(lambda d=d, region=region: "region/" + region in self.status(d)["policies"],
                         30, "%s to hold its catalog" % d)

    def report(self):
        rows = h.run_json([h.binary("shoal-hub"), "report", "sales", "-c", self.hub_cfg])
        return {r["device"]: r for r in rows}

    def pending(self, device):
        return self.status(device)["outbox_pending"]

    def wait_drained(self, devices, timeout=60):
        for d in devices:
            h.wait_until(lambda d=d: self.pending(d) == 0, timeout, "%s outbox drained" % d)

    def check_report(self, devices):
        """Every sale made is at the hub exactly once: counts and totals
        per device equal what the agents recorded, and no receipt twice."""
        rep = self.report()
        for d in devices:
            n, total = self.made(d)
            got = rep.get(d, {"count": 0, "total": 0})
            h.check(got["count"] == n and got["total"] == total,
                    "%s: hub has %r, agent made %d sales totalling %d" % (d, got, n, total))
        dup = self.env.hub_query(
            "SELECT COUNT(*) FROM (SELECT receipt FROM sales GROUP BY receipt HAVING COUNT(*) > 1) d")[0][0]
        h.check(dup == 0, "%d receipts stored twice at the hub" % dup)
        return rep

    def agent_db(self, device):
        with open(self.cfgs[device]) as f:
            return json.load(f)["db"]

    def agent_query(self, device, sql, args=()):
        return self.env.query(self.agent_db(device), sql, args)

    def hub_envelope(self, scope, version):
        rows = self.env.hub_query("SELECT envelope FROM policies WHERE scope = ? AND version = ?",
                                  (scope, version))
        h.check(rows, "hub has no envelope for %s v%d" % (scope, version))
        return rows[0][0]


def basket(region, store, lines=None, at=None):
    return {"region": region, "store": store,
            "at": at or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "channel": "pos",
            "lines": lines or [{"sku": "TEA-MILK-L", "qty": 1}, {"sku": "TEA-JASMINE-M", "qty": 1}]}


def iso_in(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
