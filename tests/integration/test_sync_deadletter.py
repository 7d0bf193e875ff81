"""test_sync_deadletter - bad input on the up topics never stops ingest:
malformed JSON, an oversized message, an envelope whose store/device do not
match its topic and one with a bad shape (seq 0, unknown type) are stored as
dead letters with a reason, while a real agent's sales keep flowing and all
arrive exactly once. Bad acks and junk on the agent's own topics do not stop
the agent either."""

import json

import shoal_harness as h
from sync_helpers import Fleet, basket


def run():
    with h.Env("sync_deadletter") as env:
        f = Fleet(env)
        hub = f.start_hub()
        f.add_agent("pos-cd-1", "chengdu-001", "cn-sw", batch=10)
        f.wait_connected("pos-cd-1")
        f.publish_catalog(wait_for=["pos-cd-1"])
        up = h.up_topic("chengdu-001", "pos-cd-1")
        epoch = f.status("pos-cd-1")["epoch"]

        for i in range(10):
            f.sale("pos-cd-1", basket("cn-sw", "chengdu-001"))
        bad = [
            ("malformed", up, b'{"v":1,"device":'),
            ("oversized", up, b'{"pad":"' + b"x" * (300 * 1024) + b'"}'),
            ("wrong store", up, h.event("pos-cd-1", "shanghai-001", epoch, 999, "sale",
                                        h.sale_body("shanghai-001", "cn-east"))),
            ("bad shape", h.up_topic("chengdu-001", "ghost-1"),
             json.dumps({"v": 1, "device": "ghost-1", "store": "chengdu-001", "epoch": "1",
                         "seq": 0, "hlc": 1, "type": "bribe", "body": []})),
        ]
        for what, topic, payload in bad:
            env.publish(topic, payload)
        # Junk where the agent listens: its ack topic and its region's policy topic.
        env.publish(h.ack_topic("chengdu-001", "pos-cd-1"), b"not json")
        env.publish(h.ack_topic("chengdu-001", "pos-cd-1"), b'{"epoch":"1","upto":999999}')
        env.publish(h.topic("policy_region", "cn-sw"), b"\x00\xff garbage")
        for i in range(10):
            f.sale("pos-cd-1", basket("cn-sw", "chengdu-001"))

        h.wait_until(lambda: env.hub_db_count("dead_letters") >= len(bad), 20,
                     "%d dead letters" % len(bad))
        f.wait_drained(["pos-cd-1"], 30)
        f.check_report(["pos-cd-1"])
        h.check(hub.alive() and f.agents["pos-cd-1"].alive(), "hub and agent still running")
        h.check(f.status("pos-cd-1")["rejected_policies"] >= 1, "garbage policy counted")
        reasons = [r[0] for r in env.hub_query("SELECT reason FROM dead_letters ORDER BY id")]
        print("dead letters (%d): %s" % (len(reasons), " | ".join(r[:80] for r in reasons)))
        print("20 sales ingested exactly once around them; hub and agent kept running")
        print("PASS test_sync_deadletter")


if __name__ == "__main__":
    h.main(run)
