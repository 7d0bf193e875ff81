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
                            "HAVING COUNT(*) > 1) d")[0][0]
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

        # SIGTERM mid-stream: the in-flight batch is committed and its ack
        # still leaves before the hub disconnects (exit 0).
        last = h.SimDevice(env, "s1", "term-1", acks=acks)
        last.make(10000)
        sender = threading.Thread(target=last.send, args=(range(1, 10001),))
        sender.start()
        h.wait_until(lambda: env.hub_db_count("events", "device = 'term-1'") >= 300, 20,
                     "ingest under way", interval=0.01)
        rc = hub.stop()
        sender.join(60)
        h.check(rc == 0, "SIGTERM exit code 0, got %r" % rc)
        h.check("stopping" in hub.log_text(), "clean stop logged")
        stored = env.hub_db_count("events", "device = 'term-1'")
        # (The sender publishes without flow control, so the broker may drop
        # some past its queue limit: compare with the stored watermark.)
        upto = env.hub_query("SELECT upto FROM streams WHERE device = 'term-1'")[0][0]
        # Promised (hub_run.c): the last batch's acks leave, and the broker
        # takes them, before the hub disconnects. A lost ack is a failure here.
        h.wait_until(lambda: last.upto() == upto, 15,
                     "an ack for everything committed at stop (watermark %d)" % upto)
        print("SIGTERM: the last ack (upto %d) matches the committed watermark" % upto)
        h.check(0 < upto < 10000, "the stop came mid-stream (watermark %d)" % upto)
        print("SIGTERM mid-stream: exit 0 with %d events committed" % stored)


h.main(test)
