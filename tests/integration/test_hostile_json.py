#!/usr/bin/env python3
"""test_hostile_json - input read one way and stored another is refused end
to end (issue 16), with the real CLI, broker and hub:
  - a SKU "TEA-MILK-L\\u0000X" in a basket, a device id with \\u0000 in an
    agent config, a policy with a NUL, invalid UTF-8 or a duplicated key
    ("sku" and "\\u0073ku") all exit 3 and nothing is published;
  - over MQTT, a sale with a NUL in its receipt, a sale with a duplicated
    "total" key and a sale whose region is not its device's are
    dead-lettered while honest sales are stored exactly once."""
import json
import os

import shoal_harness as h
from sync_helpers import Fleet, basket, example


def run():
    with h.Env("hostile_json") as env:
        f = Fleet(env)
        hub = f.start_hub()
        f.add_agent("pos-cd-1", "chengdu-001", "cn-sw", batch=10)
        f.wait_connected("pos-cd-1")
        f.publish_catalog(wait_for=["pos-cd-1"])

        # --- CLI: basket, config, policy
        b = json.dumps(basket("cn-sw", "chengdu-001",
                              lines=[{"sku": "TEA-MILK-L", "qty": 1}]))
        r = h.agent_cmd("price", "-c", f.cfgs["pos-cd-1"], "--basket", "-",
                        input=b.replace('"TEA-MILK-L"', '"TEA-MILK-L\\u0000X"'))
        h.check(r.rc == 3 and "NUL" in r.err, "basket SKU with NUL refused with exit 3: %r" % r)
        r = h.agent_cmd("price", "-c", f.cfgs["pos-cd-1"], "--basket", "-", input=b)
        h.check(r.rc == 0, "the honest basket prices: %r" % r)
        cfg = json.load(open(f.cfgs["pos-cd-1"]))
        bad_cfg = env.write_file("nul-agent.json", json.dumps(cfg).replace(
            '"pos-cd-1"', '"pos-cd-1\\u0000evil"'))
        r = h.agent_cmd("status", "-c", bad_cfg)
        h.check(r.rc == 3 and "NUL" in r.err, "config device id with NUL refused: %r" % r)
        print("ok   basket SKU and config device id holding \\u0000 exit 3")

        before = env.hub_db_count("policies")
        doc = open(example("store-chengdu-001.json")).read()
        cases = {
            "nul": doc.replace('"opening-week"', '"opening-week\\u0000x"', 1),
            "utf8": doc.rstrip().rstrip("}") + ', "note": "\xff"}',
            "dup": '{"scope": "store/chengdu-001", "items": [{"sku": "A1", "price": 100, '
                   '"\\u0073ku": "B2"}]}',
        }
        for what, text in cases.items():
            p = os.path.join(env.path("bad-%s.json" % what))
            with open(p, "wb") as fh:
                fh.write(text.encode("latin-1") if what == "utf8" else text.encode())
            r = f.publish(p, expect=None)
            h.check(r.rc == 3, "policy with %s refused with exit 3: %r" % (what, r))
        h.check(env.hub_db_count("policies") == before, "nothing recorded for refused policies")
        print("ok   policies with NUL, invalid UTF-8 or a duplicated key exit 3, nothing published")

        # --- MQTT: events from a simulated device of the same fleet
        up = h.up_topic("chengdu-001", "pos-cd-9")
        epoch = h.new_epoch()
        hello = h.event("pos-cd-9", "chengdu-001", epoch, 1, "hello", {"region": "cn-sw"})
        good = h.event("pos-cd-9", "chengdu-001", epoch, 2, "sale",
                       h.sale_body("chengdu-001", "cn-sw", receipt="ok-2", total=500))
        nul = h.event("pos-cd-9", "chengdu-001", epoch, 3, "sale",
                      h.sale_body("chengdu-001", "cn-sw", receipt="R3\u0000X", total=500))
        dup = h.event("pos-cd-9", "chengdu-001", epoch, 4, "sale",
                      h.sale_body("chengdu-001", "cn-sw", receipt="dup-4", total=500))
        dup = dup.replace('"total": 500', '"total": 500, "\\u0074otal": 900', 1) \
            if '"total": 500' in dup else dup.replace('"total":500', '"total":500,"\\u0074otal":900', 1)
        h.check("\\u0074otal" in dup, "duplicate key injected")
        region = h.event("pos-cd-9", "chengdu-001", epoch, 5, "sale",
                         h.sale_body("chengdu-001", "cn-east", receipt="east-5", total=500))
        good2 = h.event("pos-cd-9", "chengdu-001", epoch, 6, "sale",
                        h.sale_body("chengdu-001", "cn-sw", receipt="ok-6", total=700))
        env.publish_lines(up, [hello, good, nul, dup, region, good2])
        h.wait_until(lambda: env.hub_db_count("dead_letters", "device = 'pos-cd-9'") >= 3 and
                     env.hub_db_count("sales", "device = 'pos-cd-9'") >= 2, 20,
                     "3 dead letters and 2 sales from pos-cd-9")
        rows = env.hub_query("SELECT receipt, total FROM sales WHERE device = 'pos-cd-9' "
                             "ORDER BY seq")
        h.check(rows == [("ok-2", 500), ("ok-6", 700)], "only the honest sales stored: %r" % rows)
        dead = env.hub_query("SELECT seq, reason FROM dead_letters WHERE device = 'pos-cd-9' "
                             "ORDER BY id")
        # An envelope that does not parse cannot be trusted with an identity
        # (seq NULL); the region mismatch parsed, so its identity is used up.
        h.check([d[0] for d in dead] == [None, None, 5],
                "NUL, duplicate and region dead-lettered: %r" % dead)
        h.check("NUL" in dead[0][1] and "duplicate key" in dead[1][1] and "region" in dead[2][1],
                "reasons name the problem: %r" % dead)
        print("ok   sale events with NUL, a duplicated key or a foreign region dead-lettered: %s"
              % " | ".join(d[1][:70] for d in dead))
        h.check(hub.alive(), "hub still running")
        print("PASS test_hostile_json")


if __name__ == "__main__":
    h.main(run)
