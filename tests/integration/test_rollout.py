"""test_rollout - staged rollouts (SPEC 14, docs/protocol.md) with a real
broker, `shoal-hub run` and three real agents in three stores of cn-sw:
stage 1 (one store) changes the price in that store only while the others
keep the stable price under the same version; advance to 100% reaches all;
advancing past the last stage makes it the stable version; a second rollout
is aborted and every store (the canary included) returns to the stable
price as a newer version, with no agent counting a rollback; a device that
was offline during stage 1 comes online mid-rollout and lands on the stable
document; a gated rollout advances by itself once every targeted device
reports the version. Progress counts come from the devices' hellos."""

import json
import urllib.error
import urllib.request

import shoal_harness as h
from sync_helpers import Fleet, basket

TOKEN = "test-token"
STORES = {"pos-a": "cd-001", "pos-b": "cd-002", "pos-c": "cd-003"}


def api(port, method, path, body=None, want=200):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=data)
    req.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            code, out = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, out = e.code, e.read()
    h.check(code == want, "%s %s: %d, want %d (%r)" % (method, path, code, want, out[:300]))
    return json.loads(out)


def doc(price):
    return {"scope": "region/cn-sw", "currency": "CNY", "items": [{"sku": "TEA-1", "price": price}]}


def run():
    with h.Env("rollout") as env:
        f = Fleet(env)
        f.hub_cfg = env.hub_config(http=True)
        port = int(json.load(open(f.hub_cfg))["http"]["listen"].rsplit(":", 1)[1])
        f.start_hub()
        h.wait_until(lambda: h.port_open(port), 10, "HTTP API listening")
        for dev, store in STORES.items():
            f.add_agent(dev, store, "cn-sw")
        for dev in STORES:
            f.wait_connected(dev)

        def price(dev):
            r = h.run_cmd([h.binary("shoal-agent"), "price", "-c", f.cfgs[dev], "--basket", "-"],
                          input=json.dumps(basket("cn-sw", STORES[dev], [{"sku": "TEA-1", "qty": 1}])),
                          expect=0)
            return r.json()["total"]

        def version(dev):
            return f.status(dev)["policies"].get("region/cn-sw")

        def hub_version(dev):
            for d in api(port, "GET", "/api/v1/devices"):
                if d["device"] == dev:
                    return d["policies"].get("region/cn-sw")
            return None

        def settle(want_version, want_price, devs=STORES):
            for dev in devs:
                h.wait_until(lambda: version(dev) == want_version, 25, "%s at v%d" % (dev, want_version))
                h.wait_until(lambda: hub_version(dev) == want_version, 25,
                             "the hub hears %s applied v%d" % (dev, want_version))
            got = {dev: price(dev) for dev in devs}
            h.check(all(got[d] == want_price[d] for d in devs), "prices at v%d: %r, want %r"
                    % (want_version, got, want_price))

        api(port, "POST", "/api/v1/policies", doc(1200))
        settle(1, {d: 1200 for d in STORES})
        print("stable: v1, TEA-1 at 12.00 in all three stores")

        # --- rollout 1: stage 1 = store cd-001 only, then 100%
        ro = api(port, "POST", "/api/v1/rollouts",
                 {"scope": "region/cn-sw", "doc": doc(990),
                  "stages": [{"stores": ["cd-001"]}, {"percent": 100}]}, want=201)
        rid = ro["id"]
        h.check(ro["stage"] == 1 and ro["state"] == "running" and ro["stable_version"] == 1, "created: %r" % ro)
        settle(2, {"pos-a": 990, "pos-b": 1200, "pos-c": 1200})
        st = api(port, "GET", "/api/v1/rollouts/" + rid)
        h.check(st["stages"][0]["targeted"] == 1 and st["stages"][0]["applied"] == 1 and
                st["stages"][1]["version"] is None and st["stages"][1]["targeted"] == 3,
                "stage 1 progress: %r" % st["stages"])
        api(port, "POST", "/api/v1/policies", doc(1), want=409)  # the scope belongs to the rollout
        print("stage 1: v2 -> cd-001 at 9.90, cd-002/cd-003 keep 12.00 under v2; 1/1 applied")

        st = api(port, "POST", "/api/v1/rollouts/%s/advance" % rid)
        h.check(st["stage"] == 2 and st["stages"][1]["version"] == 3, "stage 2: %r" % st)
        settle(3, {d: 990 for d in STORES})
        st = api(port, "GET", "/api/v1/rollouts/" + rid)
        h.check(st["applied"] == 3 and st["targeted"] == 3, "100%%: 3/3 applied: %r" % st)
        st = api(port, "POST", "/api/v1/rollouts/%s/advance" % rid)
        h.check(st["state"] == "done" and st["final_version"] == 4, "done: %r" % st)
        settle(4, {d: 990 for d in STORES})
        h.check(api(port, "GET", "/api/v1/policies/region/cn-sw")["rollout"] == rid, "v4 from the rollout")
        api(port, "POST", "/api/v1/rollouts/%s/advance" % rid, want=409)
        print("100%: v3 everywhere; advance past the last stage: v4 is the stable version")

        # --- rollout 2 with pos-c offline, then aborted
        f.agents["pos-c"].stop()
        ro = api(port, "POST", "/api/v1/rollouts",
                 {"scope": "region/cn-sw", "doc": doc(1500), "id": "ro-abort",
                  "stages": [{"stores": ["cd-002"]}, {"percent": 100}]}, want=201)
        settle(5, {"pos-a": 990, "pos-b": 1500}, devs=("pos-a", "pos-b"))
        f.start_agent("pos-c")
        settle(5, {"pos-c": 990}, devs=("pos-c",))
        print("rollout 2 stage 1: cd-002 at 15.00; cd-003 came online mid-rollout and kept 9.90 (v5)")
        st = api(port, "POST", "/api/v1/rollouts/ro-abort/pause")
        h.check(st["state"] == "paused", "paused")
        st = api(port, "POST", "/api/v1/rollouts/ro-abort/abort")
        h.check(st["state"] == "aborted" and st["final_version"] == 6, "aborted: %r" % st)
        settle(6, {d: 990 for d in STORES})
        for dev in STORES:
            h.check(f.status(dev)["rejected_policies"] == 0, "%s counted no rollback/rejection" % dev)
        print("abort: v6 = the stable document; the canary back at 9.90, no rejection anywhere")

        # --- rollout 3: a gate advances by itself
        ro = api(port, "POST", "/api/v1/rollouts",
                 {"scope": "region/cn-sw", "doc": doc(880), "id": "ro-gate",
                  "stages": [{"percent": 1}, {"percent": 100}], "gate": {"min_applied": 1.0, "wait_s": 1}},
                 want=201)
        h.wait_until(lambda: api(port, "GET", "/api/v1/rollouts/ro-gate")["state"] == "done", 60,
                     "the gate to carry the rollout through both stages")
        fin = api(port, "GET", "/api/v1/rollouts/ro-gate")["final_version"]
        settle(fin, {d: 880 for d in STORES})
        audit = api(port, "GET", "/api/v1/audit")
        h.check(any(a["action"] == "rollout.abort" and a["target"] == "ro-abort" for a in audit),
                "the abort is audited")
        versions = api(port, "GET", "/api/v1/policies/region/cn-sw/versions")
        h.check(any(v["published_by"] == "gate" for v in versions), "gate-published versions say so")
        print("gate: stages advanced by themselves to v%d, 8.80 everywhere" % fin)
        env.check_sanitizers()


if __name__ == "__main__":
    h.main(run)
