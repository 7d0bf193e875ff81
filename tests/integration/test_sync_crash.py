"""test_sync_crash - kill -9 of an agent daemon and of the hub in the middle
of a drain, with sales still being made, loses nothing and doubles nothing.
The broker is set to queue at most 30 messages per offline client
(max_queued_messages), so while the hub is down Mosquitto silently drops
most of what the agents send: only the agents' outboxes and their resend
(no ack advanced for a while) can bring those events to the hub. At the
end the hub's report equals, per device, the count and total of the sales
the agents recorded, and no receipt is stored twice."""

import threading
import time

import shoal_harness as h
from sync_helpers import Fleet, basket

BACKLOG, LIVE = 150, 40


def run():
    with h.Env("sync_crash") as env:
        f = Fleet(env, broker_conf=["max_queued_messages 30"])
        hub = f.start_hub()
        devs = {"pos-cd-1": ("chengdu-001", "cn-sw"), "pos-sh-1": ("shanghai-001", "cn-east")}
        for d, (store, region) in devs.items():
            f.add_agent(d, store, region, batch=20)
        f.publish_catalog(wait_for=list(devs))
        for d in devs:
            h.check(f.agents[d].stop() == 0, d + " stops cleanly")
        # A backlog built offline (no daemon running), as after a long outage.
        for i in range(BACKLOG):
            for d, (store, region) in devs.items():
                f.sale(d, basket(region, store))
        for d in devs:
            f.start_agent(d)

        errors = []

        def sell_live():
            try:
                for i in range(LIVE):
                    for d, (store, region) in devs.items():
                        f.sale(d, basket(region, store))
                    time.sleep(0.05)
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        seller = threading.Thread(target=sell_live)
        seller.start()

        # kill -9 the Chengdu agent once part of its backlog is through.
        h.wait_until(lambda: env.hub_db_count("sales", "device = 'pos-cd-1'") >= 20, 30,
                     "first Chengdu sales at the hub")
        f.agents["pos-cd-1"].kill9()
        pending_at_kill = f.pending("pos-cd-1")
        print("agent pos-cd-1 killed with -9, %d events pending" % pending_at_kill)
        time.sleep(0.5)
        f.start_agent("pos-cd-1")

        # kill -9 the hub mid-stream; the broker drops what it cannot queue.
        h.wait_until(lambda: env.hub_db_count("sales") >= 120, 30, "120 sales at the hub")
        hub.kill9()
        at_kill = env.hub_db_count("sales")
        print("hub killed with -9 with %d sales stored" % at_kill)
        time.sleep(2)
        hub.restart()
        env.wait_log(hub, "subscribed", timeout=20, after=0)

        seller.join(120)
        h.check(not seller.is_alive() and not errors, "live sales made: %r" % errors)
        f.wait_drained(list(devs), 120)
        rep = f.check_report(list(devs))
        resent = sum(p.log_text().count("resending") for p in f.agents.values())
        for d in devs:
            n, total = f.made(d)
            print("%s: %d sales, %d fen made; hub has %d / %d" % (d, n, total, rep[d]["count"],
                                                               rep[d]["total"]))
        print("agents resent %d windows after acks stalled; nothing lost, nothing doubled" % resent)
        print("PASS test_sync_crash")


if __name__ == "__main__":
    h.main(run)
