#!/usr/bin/env python3
"""Clock skew of +-1 day on one agent (issue 8), through SHOAL_CLOCK_OFFSET_MS
(honoured by shoal_now_ms) on that agent's daemon and CLI. Three agents of
one store: B (right clock), A (-1 day), C (+1 day), a real hub and broker.
Proves:
  - ticket order follows causality, not wall clocks: A (a day behind)
    assigns a ticket B opened, C (a day ahead) opens one B assigns; every
    agent and the hub see both tickets "assigned" (an event ordered before
    its open would be ignored and leave them "new")
  - a policy HQ made effective an hour before issuing it applies at once on
    A, whose clock says it is a day early (time >= issued_at is proven by
    the signature)
  - an envelope already expired by HQ time is refused on A too (expiry is
    judged against the later of the device clock and the newest issued_at)
  - a policy effective an hour from now waits on A and B (pending)
"""
import json
import time

import shoal_harness as h

DAY_MS = 86400 * 1000


def iso(offset_s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


def test():
    with h.Env("clock_skew") as env:
        env.start_broker()
        hub_cfg = env.hub_config()
        hub = env.start_hub(hub_cfg)
        skew = {"B": 0, "A": -DAY_MS, "C": DAY_MS}
        cfgs, agents, envs = {}, {}, {}
        for name, off in skew.items():
            cfgs[name] = env.agent_config("pos" + name, "cd-001", "cn-sw", local_api=False)
            envs[name] = {"SHOAL_CLOCK_OFFSET_MS": str(off)}
            agents[name] = env.start_agent(cfgs[name], env=envs[name])

        def agent(name, *args, expect=0):
            return h.agent_cmd(*args, env=envs[name], expect=expect)

        def status(name):
            return agent(name, "status", "-c", cfgs[name]).json()

        for name in skew:
            h.wait_until(lambda n=name: status(n)["connected"], 20, "agent %s connected" % name)

        # ---- policies -------------------------------------------------------
        pol = lambda price: env.write_file("g%d.json" % price, {
            "scope": "global", "currency": "CNY", "items": [{"sku": "MT-001", "price": price}]})
        basket = env.write_file("basket.json", {"region": "cn-sw", "store": "cd-001",
                                                "at": "2026-11-22T10:00:00+08:00",
                                                "lines": [{"sku": "MT-001", "qty": 1}]})
        h.run_json([h.binary("shoal-hub"), "publish", "-c", hub_cfg, "--policy", pol(1000)])
        for name in skew:
            h.wait_until(lambda n=name: status(n)["policies"].get("global") == 1, 20, "%s at v1" % name)
        h.run_json([h.binary("shoal-hub"), "publish", "-c", hub_cfg, "--policy", pol(2000),
                    "--effective-at", iso(-3600)])
        for name in skew:
            h.wait_until(lambda n=name: status(n)["policies"].get("global") == 2, 20,
                         "%s applies v2 (effective an hour before it was issued)" % name)
        q = agent("A", "price", "-c", cfgs["A"], "--basket", basket).json()
        h.check(q["total"] == 2000, "A prices with v2 at once: %r" % q)
        print("ok   a policy effective before its issue time applies at once on A (clock -1 day) and C (+1 day)")

        region = env.write_file("region.json", {"scope": "region/cn-sw",
                                                "items": [{"sku": "MT-001", "price": 1}]})
        h.run_json([h.binary("shoal-hub"), "publish", "-c", hub_cfg, "--policy", region,
                    "--effective-at", iso(-7200), "--expires-at", iso(-1800)])
        for name in ("A", "B"):
            h.wait_until(lambda n=name: status(n).get("rejected_policies", 0) >= 1, 20,
                         "%s refuses the expired envelope" % name)
            h.check("region/cn-sw" not in status(name)["policies"], "%s applied an expired policy" % name)
        print("ok   an envelope expired by HQ time is refused on A although A's clock says it is valid")

        h.run_json([h.binary("shoal-hub"), "publish", "-c", hub_cfg, "--policy", pol(3000),
                    "--effective-at", iso(3600)])
        for name in ("A", "B"):
            h.wait_until(lambda n=name: status(n)["pending_policies"].get("global") == 3, 20,
                         "%s holds v3 pending" % name)
            h.check(status(name)["policies"]["global"] == 2, "%s applied a future policy early" % name)
        print("ok   a policy effective in an hour is held pending on A and B")

        # ---- tickets: causality beats wall clocks ----------------------------
        def show(name, tid):
            r = agent(name, "ticket", "show", "-c", cfgs[name], "--ticket", tid, expect=None)
            return r.json() if r.rc == 0 else None

        t1 = agent("B", "ticket", "open", "-c", cfgs["B"], "--category", "repair", "--title",
                   "Fridge", "--priority", "normal").json()["id"]
        h.wait_until(lambda: show("A", t1) is not None, 30, "A receives B's ticket")
        agent("A", "ticket", "event", "-c", cfgs["A"], "--ticket", t1, "--kind", "assign",
              "--group", "field-sw")
        t2 = agent("C", "ticket", "open", "-c", cfgs["C"], "--category", "repair", "--title",
                   "Till", "--priority", "high").json()["id"]
        h.wait_until(lambda: show("B", t2) is not None, 30, "B receives C's ticket")
        agent("B", "ticket", "event", "-c", cfgs["B"], "--ticket", t2, "--kind", "assign",
              "--group", "field-sw")

        def hub_state(tid):
            rows = env.hub_query("SELECT state FROM tickets WHERE id = ?", (tid,))
            return rows[0][0] if rows else None
        for tid, who in ((t1, "opened by B, assigned by A (-1 day)"), (t2, "opened by C (+1 day), assigned by B")):
            h.wait_until(lambda t=tid: hub_state(t) == "assigned", 30, "hub: %s assigned" % tid)
            for name in skew:
                h.wait_until(lambda n=name, t=tid: (show(n, t) or {}).get("state") == "assigned", 30,
                             "%s sees %s assigned" % (name, tid))
            print("ok   ticket %s %s: assigned at the hub and on all three agents" % (tid, who))
        for name in skew:
            agents[name].stop()
        hub.stop()


if __name__ == "__main__":
    h.main(test)
