"""test_sync_offline - stores keep selling through a broker outage and every
sale reaches the hub exactly once after it returns. Two POS in two regions
and a handheld (no sales module) run against a real Mosquitto and hub; sales
are made online, the broker is stopped (its in-memory queues are lost),
more sales are made offline while the daemons run, the broker comes back on
the same port; the agents reconnect by themselves (backoff with jitter),
drain their outboxes batch by batch, and the hub's report equals what the
agents recorded, with no receipt twice. Also checks presence (retained,
last will) and that each connect sent a hello the hub registered."""

import json

import shoal_harness as h
from sync_helpers import Fleet, basket

ONLINE, OFFLINE = 15, 40


def run():
    with h.Env("sync_offline") as env:
        f = Fleet(env)
        f.start_hub()
        f.add_agent("pos-cd-1", "chengdu-001", "cn-sw", batch=7)
        f.add_agent("pos-sh-1", "shanghai-001", "cn-east", batch=7)
        f.add_agent("scan-cd-1", "chengdu-001", "cn-sw", modules=("forms", "tickets"))
        for d in f.cfgs:
            f.wait_connected(d)
        f.publish_catalog(wait_for=list(f.cfgs))
        pres = env.subscribe(h.topic("presence", "+", "+"))

        for i in range(ONLINE):
            f.sale("pos-cd-1", basket("cn-sw", "chengdu-001"))
            f.sale("pos-sh-1", basket("cn-east", "shanghai-001"))
        f.wait_drained(["pos-cd-1", "pos-sh-1"], 30)
        f.check_report(["pos-cd-1", "pos-sh-1"])
        print("online: %d sales per POS at the hub" % ONLINE)

        f.broker.stop()
        for d in f.cfgs:
            h.wait_until(lambda d=d: not f.status(d)["connected"], 20, d + " to notice the outage")
        for i in range(OFFLINE):
            f.sale("pos-cd-1", basket("cn-sw", "chengdu-001"))
            f.sale("pos-sh-1", basket("cn-east", "shanghai-001"))
        for d in ("pos-cd-1", "pos-sh-1"):
            st = f.status(d)
            h.check(st["outbox_pending"] >= OFFLINE, "%s queued offline: %r" % (d, st))
        print("offline: %d sales per POS queued, outbox %d / %d" % (
            OFFLINE, f.pending("pos-cd-1"), f.pending("pos-sh-1")))

        f.broker.start()
        pres.stop()
        pres = env.subscribe(h.topic("presence", "+", "+"))
        for d in f.cfgs:
            f.wait_connected(d, 30)
        f.wait_drained(list(f.cfgs), 60)
        rep = f.check_report(["pos-cd-1", "pos-sh-1"])
        h.check("scan-cd-1" not in rep, "the handheld made no sales: %r" % rep.get("scan-cd-1"))
        for d in f.cfgs:
            h.check(all(p.alive() for p in f.agents.values()), "agents alive")
        # Registry: every device said hello; presence retained online.
        rows = env.hub_query("SELECT device, profile FROM devices WHERE last_hello_ms IS NOT NULL")
        h.check({r[0] for r in rows} >= set(f.cfgs), "hello registered for every device: %r" % rows)
        online = {}
        pres.wait_for(lambda msgs: len({t for t, _ in msgs}) >= 3, 10, "retained presence")
        for t, p in pres.messages():
            online[t.rsplit("/", 1)[-1]] = json.loads(p)["online"]
        h.check(online == {"pos-cd-1": True, "pos-sh-1": True, "scan-cd-1": True},
                "presence after the outage: %r" % online)
        n_cd, t_cd = f.made("pos-cd-1")
        n_sh, t_sh = f.made("pos-sh-1")
        print("after the outage: hub has %d sales (%d fen) from Chengdu and %d (%d fen) from "
              "Shanghai, each exactly once; outboxes empty" % (n_cd, t_cd, n_sh, t_sh))

        # Clean stop: exit 0 and the offline presence is retained.
        for d, p in f.agents.items():
            rc = p.stop()
            h.check(rc == 0, "%s exit code on SIGTERM: %r" % (d, rc))
            h.check(not f.status(d)["connected"], d + " reports disconnected after stop")
        print("PASS test_sync_offline")


if __name__ == "__main__":
    h.main(run)
