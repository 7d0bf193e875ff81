"""Policy keygen and publish against a real broker: keys written with the
right modes and never silently replaced; versions per scope go 1, 2, 3;
the envelope is retained on the scope's topic; invalid documents exit 3
naming the problem and record nothing; an unreachable broker exits 1 and
records nothing; after a broker restart (retained messages lost) the running
hub republishes the newest version of every scope, never an older one."""

import json
import os
import stat

import shoal_harness as h


def test():
    with h.Env("hub_publish") as env:
        # keygen
        priv, pub = env.keygen()
        h.check(stat.S_IMODE(os.stat(priv).st_mode) == 0o600, "private key mode 0600")
        h.check(open(pub).read().startswith("-----BEGIN PUBLIC KEY-----"), "public key PEM")
        before = open(priv).read()
        r = env.hub("keygen", "--out", os.path.dirname(priv))
        h.check(r.rc != 0 and "already" in r.err and open(priv).read() == before,
                "keygen refuses to overwrite: %r" % r)
        env.hub("keygen", "--out", os.path.dirname(priv), "--force", expect=0)
        h.check(open(priv).read() != before, "--force replaces the key")
        print("keygen: 0600 private key, refuses to overwrite without --force")

        env.start_broker()
        cfg = env.hub_config()

        # Several processes creating the database at once (daemon + CLIs):
        # each waits for the others' migration instead of failing.
        import subprocess
        for _ in range(3):
            fresh = env.hub_config(name="fresh", db=env.path("fresh.db"))
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(env.path("fresh.db" + suffix)):
                    os.unlink(env.path("fresh.db" + suffix))
            ps = [subprocess.Popen([h.binary("shoal-hub"), "report", "sales", "-c", fresh],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(6)]
            outs = [(p.wait(30), p.stderr.read().decode()) for p in ps]
            h.check(all(rc == 0 for rc, _ in outs), "concurrent first opens: %r" % outs)
        env.hub_cfg = cfg
        print("six processes opening a new database at once: all succeed")
        region = env.write_file("region.json", {"scope": "region/cn-sw", "currency": "CNY",
                                                "items": [{"sku": "TEA-1", "price": 1200}]})
        glob = env.write_file("global.json", {"scope": "global", "items": [{"sku": "TEA-1", "price": 1500}]})

        # Versions per scope.
        got = [env.hub("publish", "-c", cfg, "--policy", region, expect=0).json() for _ in range(3)]
        h.check([{k: g[k] for k in ("scope", "version")} for g in got] ==
                [{"scope": "region/cn-sw", "version": v} for v in (1, 2, 3)], "versions: %r" % got)
        g = env.hub("publish", "-c", cfg, "--policy", glob, "--effective-at",
                    "2030-01-01T00:00:00+08:00", expect=0).json()
        h.check(g == {"scope": "global", "version": 1}, "global starts at 1: %r" % g)
        print("publish: region/cn-sw versions 1, 2, 3; global version 1")

        sub = env.subscribe(h.PREFIX + "/policy/#")
        sub.wait_for(lambda m: len(m) >= 2, 10, "retained envelopes")
        envs = {t: json.loads(p) for t, p in sub.messages()}
        reg = envs[h.topic("policy_region", "cn-sw")]
        h.check(reg["version"] == 3 and reg["scope"] == "region/cn-sw" and reg["sig"], "retained v3: %r" % reg)
        h.check(json.loads(reg["doc"])["items"][0]["price"] == 1200, "doc carried as a string")
        ge = envs[h.topic("policy_global")]
        h.check(ge["effective_at"] == "2030-01-01T00:00:00+08:00" and ge["expires_at"] is None,
                "effective_at signed into the envelope: %r" % ge)
        print("retained envelopes: region v3 and global v1 with effective_at")

        # Invalid documents: exit 3, named, nothing recorded.
        bad = {
            "bad JSON": "{\"scope\": \"global\", ",
            "unknown key": json.dumps({"scope": "global", "prices": []}),
            "bad scope": json.dumps({"scope": "region/a/b"}),
            "not an object": "[1, 2]",
        }
        n_before = env.hub_db_count("policies")
        for what, text in bad.items():
            f = env.write_file("bad.json", text)
            r = env.hub("publish", "-c", cfg, "--policy", f)
            h.check(r.rc == 3, "%s: exit 3, got %r" % (what, r))
            h.check(r.err.startswith("shoal-hub: error: ") and len(r.err.strip().splitlines()) == 1,
                    "%s: one error line: %r" % (what, r.err))
        r = env.hub("publish", "-c", cfg, "--policy", region, "--effective-at", "tomorrow")
        h.check(r.rc == 3 and "effective" in r.err, "bad --effective-at: %r" % r)
        h.check(env.hub_db_count("policies") == n_before, "nothing recorded for invalid documents")
        r = env.hub("publish", "-c", cfg)
        h.check(r.rc == 2, "missing --policy is a usage error: %r" % r)
        print("invalid documents: exit 3 with one error line, nothing recorded")

        # Broker unreachable: exit 1, nothing recorded.
        down_cfg = env.hub_config(name="hub-down", mqtt={"host": "127.0.0.1", "port": h.free_port()},
                                  db=env.path("hub.db"))
        r = env.hub("publish", "-c", down_cfg, "--policy", region, "--timeout", "3")
        h.check(r.rc == 1 and "broker" in r.err, "unreachable broker: exit 1: %r" % r)
        h.check(env.hub_db_count("policies") == n_before, "nothing recorded when the broker is down")
        env.hub_cfg = cfg
        print("broker unreachable: exit 1, no version used up")

        # A running hub republishes the newest versions after the broker lost them.
        hub = env.start_hub(cfg)
        mark = len(hub.log_text())
        sub.stop()
        env.broker.restart()
        env.wait_log(hub, "republished the newest version of 2 scope(s)", timeout=30, after=mark)
        sub2 = env.subscribe(h.PREFIX + "/policy/#")
        sub2.wait_for(lambda m: len(m) >= 2, 10, "retained envelopes after restart")
        vers = sorted((t, json.loads(p)["version"]) for t, p in sub2.messages())
        h.check(vers == [(h.topic("policy_global"), 1), (h.topic("policy_region", "cn-sw"), 3)],
                "newest versions back on the broker: %r" % vers)
        # A new version while the hub runs: subscribers see it, and only it.
        sub2.clear()
        env.hub("publish", "-c", cfg, "--policy", region, expect=0)
        sub2.wait_for(lambda m: any(json.loads(p)["version"] == 4 for _, p in m), 10, "v4")
        import time
        time.sleep(0.6)  # the hub's poll must not send an older version after it
        seen = [json.loads(p)["version"] for t, p in sub2.messages() if t.endswith("cn-sw")]
        h.check(seen and all(v == 4 for v in seen), "only v4 seen after publishing it: %r" % seen)
        print("broker restart: hub republished global v1 and region v3; then v4 alone")


h.main(test)
