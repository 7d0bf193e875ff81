"""Hub ingest over a real broker: exactly once by (device, epoch, seq), acks
cumulative and only for what is stored, gaps hold the ack back, bad input is
dead-lettered and acknowledged while ingest carries on, hello and presence
fill the device registry, report sales counts each sale once."""

import json
import time

import shoal_harness as h


def acks_for(acks, store, device, epoch):
    return [a for a in acks.json_payloads(h.ack_topic(store, device)) if a.get("epoch") == epoch]


def test():
    with h.Env("hub_ingest") as env:
        env.start_broker()
        cfg = env.hub_config()
        env.start_hub(cfg)
        acks = env.subscribe(h.PREFIX + "/ack/#")

        # 1. In-order events are stored and acked cumulatively.
        d1 = h.SimDevice(env, "s1", "pos-1", acks=acks)
        d1.send(d1.make(5, total=1000))
        h.wait_until(lambda: d1.upto() == 5, 10, "ack upto 5")
        h.check(env.hub_db_count("sales", "device = 'pos-1'") == 5, "5 sales stored")
        print("in order: 5 events stored, ack upto 5")

        # 2. Redelivery changes nothing and is acked again.
        n_before = len(acks_for(acks, "s1", "pos-1", d1.epoch))
        d1.send([3, 3, 5])
        h.wait_until(lambda: len(acks_for(acks, "s1", "pos-1", d1.epoch)) > n_before, 10,
                     "a repeated ack for redelivered events")
        time.sleep(0.2)
        h.check(env.hub_db_count("sales", "device = 'pos-1'") == 5, "still 5 sales after redelivery")
        h.check(env.hub_db_count("events", "device = 'pos-1'") == 5, "still 5 identities")
        h.check(d1.upto() == 5, "ack after redelivery still upto 5")
        print("redelivery: nothing doubled, acked again with upto 5")

        # 3. A gap holds the ack back; filling it releases everything.
        d1.make(5)  # seqs 6..10
        d1.send([6, 8, 9, 10])
        h.wait_until(lambda: env.hub_db_count("events", "device = 'pos-1'") == 9, 10,
                     "events above the gap stored")
        time.sleep(0.3)
        h.check(d1.upto() == 6, "upto waits at 6 for seq 7, got %d" % d1.upto())
        d1.send([7])
        h.wait_until(lambda: d1.upto() == 10, 10, "ack upto 10 once the gap is filled")
        h.check(env.hub_db_count("sales", "device = 'pos-1'") == 10, "10 sales")
        print("gap: upto held at 6 until seq 7 came, then 10")

        # 4. Bad input: dead letters, acknowledged, and ingest goes on.
        up = h.up_topic("s1", "pos-1")
        d1.make(3)  # 11..13
        bad_sale = json.loads(d1.events[12])
        bad_sale["body"]["total"] = "lots"
        d1.events[12] = json.dumps(bad_sale)
        env.publish(up, "{not json")
        env.publish(up, "x" * (300 * 1024))                            # oversized
        env.publish(up, h.event("pos-1", "s2", d1.epoch, 11, "sale",   # wrong store for topic
                                h.sale_body("s2", "cn-sw")))
        env.publish(up, h.event("pos-9", "s1", d1.epoch, 11, "sale",   # wrong device for topic
                                h.sale_body("s1", "cn-sw")))
        d1.send([11, 12, 13])
        h.wait_until(lambda: d1.upto() == 13, 10, "ack upto 13 past the refused sale")
        dead = env.hub_query("SELECT reason, seq FROM dead_letters ORDER BY id")
        reasons = [r for r, _ in dead]
        h.check(len(dead) == 5, "5 dead letters, got %r" % (dead,))
        h.check(any("malformed" in r for r in reasons), "malformed JSON dead-lettered")
        h.check(any("over the limit" in r for r in reasons), "oversized dead-lettered")
        h.check(sum("came on the topic of" in r for r in reasons) == 2, "topic mismatches dead-lettered")
        h.check(any(s == 12 and "total" in r for r, s in dead), "bad sale body dead-lettered with its seq")
        h.check(env.hub_db_count("sales", "device = 'pos-1'") == 12, "12 good sales (seq 12 refused)")
        h.check(env.hub_db_count("events", "device = 'pos-9'") == 0,
                "a mismatched envelope consumed no identity of the device it names")
        # A redelivered refused event is not dead-lettered twice.
        d1.send([12])
        time.sleep(0.5)
        h.check(env.hub_db_count("dead_letters") == 5, "no second dead letter for a redelivery")
        print("bad input: 5 dead letters (malformed, oversized, 2 topic mismatches, bad body); "
              "ingest went on to upto 13")

        # 5. hello and presence fill the registry.
        hello = h.event("pos-1", "s1", d1.epoch, 14, "hello",
                        {"profile": "pos-terminal", "region": "cn-sw", "agent_version": "0.1.0",
                         "outbox_depth": 7, "policies": {"global": 3, "region/cn-sw": 2}})
        env.publish(up, hello)
        env.publish(h.topic("presence", "s1", "pos-1"), '{"online": true}', retain=True)
        h.wait_until(lambda: env.hub_query(
            "SELECT profile, outbox_depth, online, region, agent_version FROM devices "
            "WHERE device = 'pos-1'") == [("pos-terminal", 7, 1, "cn-sw", "0.1.0")], 10,
            "hello and presence in the registry")
        pv = json.loads(env.hub_query("SELECT policy_versions FROM devices WHERE device='pos-1'")[0][0])
        h.check(pv == {"global": 3, "region/cn-sw": 2}, "policy versions from hello: %r" % pv)
        env.publish(h.topic("presence", "s1", "pos-1"), '{"online": false}', retain=True)
        h.wait_until(lambda: env.hub_query("SELECT online FROM devices WHERE device='pos-1'") == [(0,)],
                     10, "offline presence")
        h.wait_until(lambda: d1.upto() == 14, 10, "hello acked")
        print("registry: hello (profile, versions, outbox depth, agent version) and presence recorded")

        # 6. A second device and a new epoch (database recreated) are separate streams.
        d2 = h.SimDevice(env, "s2", "pos-2", acks=acks)
        d2.send(d2.make(3, total=500))
        d1b = h.SimDevice(env, "s1", "pos-1", epoch=h.new_epoch(), acks=acks)
        d1b.send(d1b.make(2, total=300))
        h.wait_until(lambda: d2.upto() == 3 and d1b.upto() == 2, 10, "acks for both streams")
        rep = env.hub("report", "sales", "-c", cfg, expect=0).json()
        by = {(r["store"], r["device"]): (r["count"], r["total"]) for r in rep}
        h.check(by == {("s1", "pos-1"): (14, 12 * 1000 + 2 * 300), ("s2", "pos-2"): (3, 1500)},
                "report sales: %r" % rep)
        print("report sales: %s" % json.dumps(rep))


h.main(test)
