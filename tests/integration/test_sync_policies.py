"""test_sync_policies - signed regional policies over a real broker and hub:
region isolation (a cn-east price map never reaches a cn-sw device and vice
versa, the cn-sw price change reaches only cn-sw); a replayed old envelope
(rollback), a forged one (doc altered after signing) and a foreign-scope one
are refused, counted in rejected_policies, versions unchanged; a version
published with a future effective_at is stored, reported pending, and takes
effect at its time, also with the broker down (controllable clock:
SHOAL_CLOCK_OFFSET_MS)."""

import json

import shoal_harness as h
from sync_helpers import Fleet, example, iso_in


def policies(fleet, dev, env=None):
    return fleet.status(dev, env=env)["policies"]


def scopes_held(fleet, dev):
    return {r[0] for r in fleet.agent_query(dev, "SELECT DISTINCT scope FROM policies")}


def run():
    with h.Env("sync_policies") as env:
        f = Fleet(env)
        f.start_hub()
        f.add_agent("pos-cd-1", "chengdu-001", "cn-sw")
        f.add_agent("pos-sh-1", "shanghai-001", "cn-east")
        f.wait_connected("pos-cd-1")
        f.wait_connected("pos-sh-1")

        for doc in ("global.json", "region-cn-sw.json", "region-cn-east.json",
                    "store-chengdu-001.json"):
            out = f.publish(example(doc)).json()
            h.check(out["version"] == 1, "first version of %s is 1: %r" % (doc, out))
        h.wait_until(lambda: policies(f, "pos-cd-1") == {"global": 1, "region/cn-sw": 1,
                                                         "store/chengdu-001": 1},
                     20, "Chengdu POS to hold global, cn-sw and its store")
        h.wait_until(lambda: policies(f, "pos-sh-1") == {"global": 1, "region/cn-east": 1},
                     20, "Shanghai POS to hold global and cn-east")

        # The Chengdu price change reaches Chengdu only.
        out = f.publish(example("region-cn-sw-price-change.json")).json()
        h.check(out == {"scope": "region/cn-sw", "version": 2} or
                (out["scope"] == "region/cn-sw" and out["version"] == 2), "publish: %r" % out)
        h.wait_until(lambda: policies(f, "pos-cd-1").get("region/cn-sw") == 2, 20,
                     "cn-sw v2 on the Chengdu POS")
        h.check(scopes_held(f, "pos-sh-1") == {"global", "region/cn-east"},
                "Shanghai holds only its own scopes: %r" % scopes_held(f, "pos-sh-1"))
        h.check(scopes_held(f, "pos-cd-1") == {"global", "region/cn-sw", "store/chengdu-001"},
                "Chengdu holds only its own scopes: %r" % scopes_held(f, "pos-cd-1"))
        h.check(f.status("pos-sh-1")["rejected_policies"] == 0, "nothing foreign was even offered")
        print("region isolation: cn-sw v2 applied in Chengdu, never seen in Shanghai")

        # The hub's fleet view (SPEC 4.3, 10) knows what each device applied,
        # not only what it held at connect: the connect hello goes out before
        # the retained policies arrive, so an accepted policy sends a new one.
        def hub_versions(dev):
            rows = env.hub_query("SELECT policy_versions FROM devices WHERE device = ?", (dev,))
            return json.loads(rows[0][0]) if rows and rows[0][0] else {}
        h.wait_until(lambda: hub_versions("pos-cd-1") == {"global": 1, "region/cn-sw": 2,
                                                          "store/chengdu-001": 1},
                     20, "the hub to record the Chengdu POS's applied versions")
        h.wait_until(lambda: hub_versions("pos-sh-1") == {"global": 1, "region/cn-east": 1},
                     20, "the hub to record the Shanghai POS's applied versions")
        print("fleet view: the hub records the versions each device applied")

        topic_sw = h.topic("policy_region", "cn-sw")
        v1 = f.hub_envelope("region/cn-sw", 1)
        v2 = f.hub_envelope("region/cn-sw", 2)
        before = f.status("pos-cd-1")["rejected_policies"]

        # Replay of the old envelope (a rollback to dearer prices).
        env.publish(topic_sw, v1, retain=True)
        h.wait_until(lambda: f.status("pos-cd-1")["rejected_policies"] >= before + 1, 20,
                     "rollback to be refused")
        # Forgery: the price list altered after signing.
        forged = json.loads(v2)
        forged["version"] = 3
        forged["doc"] = forged["doc"].replace("1500", "1")
        env.publish(topic_sw, json.dumps(forged), retain=True)
        h.wait_until(lambda: f.status("pos-cd-1")["rejected_policies"] >= before + 2, 20,
                     "forgery to be refused")
        # A genuine envelope for another region, replayed on this region's topic.
        env.publish(topic_sw, f.hub_envelope("region/cn-east", 1), retain=True)
        h.wait_until(lambda: f.status("pos-cd-1")["rejected_policies"] >= before + 3, 20,
                     "foreign scope to be refused")
        h.check(policies(f, "pos-cd-1")["region/cn-sw"] == 2, "Chengdu still applies cn-sw v2")
        h.check(f.agent_query("pos-cd-1", "SELECT MAX(version) FROM policies WHERE scope='region/cn-sw'")[0][0] == 2,
                "no forged version stored")
        reasons = [r[0] for r in f.agent_query("pos-cd-1", "SELECT reason FROM policy_rejections")]
        print("refused: %d envelopes (%s)" % (len(reasons), "; ".join(reasons)))
        h.check(f.agents["pos-cd-1"].alive(), "the agent survived every bad envelope")
        env.publish(topic_sw, v2, retain=True)  # put the genuine retained one back

        # effective_at in the future: stored, pending, then in effect.
        out = f.publish(example("region-cn-sw.json"), effective_at=iso_in(3600)).json()
        h.check(out["version"] == 3, "v3 published: %r" % out)
        h.wait_until(lambda: f.status("pos-cd-1")["pending_policies"].get("region/cn-sw") == 3,
                     20, "v3 stored as pending")
        h.check(policies(f, "pos-cd-1")["region/cn-sw"] == 2, "v2 applies until v3's time")
        # expires_at: an applied version that expires keeps applying, listed as stale.
        out = f.publish(example("store-chengdu-001.json"), expires_at=iso_in(600)).json()
        h.wait_until(lambda: policies(f, "pos-cd-1").get("store/chengdu-001") == out["version"],
                     20, "store policy with an expiry")
        h.check(f.status("pos-cd-1")["stale"] == [], "nothing stale yet")
        st = f.status("pos-cd-1", env={"SHOAL_CLOCK_OFFSET_MS": str(3600 * 1000)})
        h.check(st["stale"] == ["store/chengdu-001"] and
                st["policies"]["store/chengdu-001"] == out["version"],
                "an hour later the expired store policy still applies, listed stale: %r" % st)
        print("expires_at: expired store policy keeps applying and is listed under stale")

        f.broker.stop()  # offline from here on
        later = {"SHOAL_CLOCK_OFFSET_MS": str(2 * 3600 * 1000)}
        milk = {"region": "cn-sw", "store": "chengdu-001", "at": "2026-11-22T10:00:00+08:00",
                "lines": [{"sku": "TEA-MILK-L", "qty": 1}]}

        def price(env_=None):
            return h.run_json([h.binary("shoal-agent"), "price", "-c", f.cfgs["pos-cd-1"],
                               "--basket", "-"], input=json.dumps(milk), env=env_)["total"]
        now_price, later_price = price(), price(later)
        h.check((now_price, later_price) == (1500, 1600),
                "milk tea at 15.00 under v2 now, 16.00 under v3 two hours later (offline): %r"
                % ((now_price, later_price),))
        st = f.status("pos-cd-1", env=later)
        h.check(st["policies"]["region/cn-sw"] == 3 and "region/cn-sw" not in st["pending_policies"],
                "two hours later (offline) v3 applies: %r" % st)
        h.wait_until(lambda: not f.status("pos-cd-1")["connected"], 20,
                     "status to report the broker outage")
        print("effective_at: v3 pending now, in effect 2h later with the broker down "
              "(milk tea quoted %d then %d fen)" % (now_price, later_price))
        print("PASS test_sync_policies")


if __name__ == "__main__":
    h.main(run)
