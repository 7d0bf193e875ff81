"""kill -9 of the hub mid-stream, and a broker restart: after the devices
resend what was not acknowledged (as agents do), every event is stored
exactly once, the acks reach the last seq, and nothing is doubled. Also:
SIGTERM stops the hub cleanly with exit 0."""

import threading
import time

import shoal_harness as h

DEVICES = 5
PER_DEVICE = 2000


def test():
    with h.Env("hub_crash") as env:
        env.start_broker()
        cfg = env.hub_config()
        hub = env.start_hub(cfg)
        acks = env.subscribe(h.PREFIX + "/ack/#")
        devs = [h.SimDevice(env, "s%d" % (i % 2), "pos-%d" % i, acks=acks) for i in range(DEVICES)]
        for d in devs:
            d.make(PER_DEVICE, total=100 + devs.index(d))

        # Stream from every device at once and kill the hub -9 mid-ingest.
        senders = [threading.Thread(target=d.send, args=(range(1, PER_DEVICE + 1),)) for d in devs]
        for t in senders:
            t.start()
        h.wait_until(lambda: env.hub_db_count("events") >= 1000, 30, "ingest under way", interval=0.01)
        hub.kill9()
        stored_at_kill = env.hub_db_count("events")
        for t in senders:
            t.join(60)
        print("hub killed -9 with %d of %d events stored" % (stored_at_kill, DEVICES * PER_DEVICE))
        h.check(stored_at_kill < DEVICES * PER_DEVICE, "the kill came mid-stream")
        hub.restart()
        env.wait_log(hub, "subscribed")

        # The devices resend everything not acknowledged until all are covered.
        deadline = time.monotonic() + 120
        rounds = 0
        while time.monotonic() < deadline and any(d.upto() < PER_DEVICE for d in devs):
            time.sleep(1.5)
            rounds += 1
            for d in devs:
                if d.upto() < PER_DEVICE:
                    d.resend_unacked()
        h.check(all(d.upto() == PER_DEVICE for d in devs),
                "acks reached %d for every device: %r" % (PER_DEVICE, [d.upto() for d in devs]))
        h.check(env.hub_db_count("events") == DEVICES * PER_DEVICE, "every identity once")
        h.check(env.hub_db_count("sales") == DEVICES * PER_DEVICE, "every sale once")
        dup = env.hub_query("SELECT COUNT(*) FROM (SELECT receipt FROM sales GROUP BY device, receipt "
                            "HAVING COUNT(*) > 1)")[0][0]
        h.check(dup == 0, "no receipt twice")
        rep = {r["device"]: r for r in env.hub("report", "sales", "-c", cfg, expect=0).json()}
        for d in devs:
            h.check(rep[d.device]["count"] == PER_DEVICE and rep[d.device]["total"] == d.total(),
                    "report for %s: %r" % (d.device, rep[d.device]))
        print("after kill -9 and %d resend rounds: %d events, each stored once, report totals exact"
              % (rounds, DEVICES * PER_DEVICE))

        # Broker restart: the hub reconnects by itself and ingests again.
        mark = len(hub.log_text())
        env.broker.restart(down_s=1.0)
        env.wait_log(hub, "subscribed to up and presence topics", timeout=30, after=mark)
        late = h.SimDevice(env, "s1", "late-1", acks=acks)
        late.make(50)
        h.wait_until(lambda: (late.resend_unacked() or True) and late.upto() == 50, 40,
                     "ingest after the broker came back", interval=1.0)
        print("broker restart: hub reconnected and ingested 50 more")

        rc = hub.stop()
        h.check(rc == 0, "SIGTERM exit code 0, got %r" % rc)
        h.check("stopping" in hub.log_text(), "clean stop logged")
        print("SIGTERM: exit 0")


h.main(test)
