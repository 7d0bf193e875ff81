#!/usr/bin/env python3
"""Differential test of the pricing engine (SPEC 5): `shoal-agent price
--policy ... --basket ...` against the independent Python reference in
tests/lib/ref_pricing.py. First the reference must reproduce every
conformance vector (so it is a fair judge), then both price a few hundred
seeded random policy chains and baskets and must agree to the fen on every
output key (or both refuse the basket with exit 3).
env: SHOAL_AGENT, SHOAL_SOURCE_DIR; optional REF_CASES (default 300), REF_SEED."""
import glob, json, os, random, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ref_pricing  # noqa: E402

AGENT = os.environ["SHOAL_AGENT"]
SRC = os.environ.get("SHOAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = int(os.environ.get("REF_CASES", "300"))
SEED = int(os.environ.get("REF_SEED", "20261122"))

SKUS = ["A", "B", "C", "D", "E", "F", "G", "H", "I"]
CATS = ["tea", "drinks", "coffee", "dessert", "misc"]


def agent_price(d, policies, basket):
    args = [AGENT, "price"]
    for i, p in enumerate(policies):
        path = os.path.join(d, "p%d.json" % i)
        with open(path, "w") as f:
            json.dump(p, f)
        args += ["--policy", path]
    bpath = os.path.join(d, "basket.json")
    with open(bpath, "w") as f:
        json.dump(basket, f)
    r = subprocess.run(args + ["--basket", bpath], capture_output=True, text=True, timeout=30)
    return r


def rand_when(rng, stage):
    w = {}
    if rng.random() < 0.15:
        w["tiers"] = rng.sample(["vip", "gold", "basic"], rng.randint(1, 2))
    if rng.random() < 0.1:
        w["channels"] = rng.sample(["pos", "app"], 1)
    if rng.random() < 0.1:
        w["tags_any"] = rng.sample(["staff", "student", "new"], rng.randint(1, 2))
    if rng.random() < 0.1:
        w["days"] = sorted(rng.sample(range(1, 8), rng.randint(1, 4)))
    if rng.random() < 0.1:
        a, b = rng.sample(range(0, 24), 2)
        w["hours"] = "%02d:%02d-%02d:00" % (a, rng.choice([0, 30]), b)
    if rng.random() < 0.1:
        w["from"] = "2026-11-%02dT12:00:00+08:00" % rng.randint(18, 21)
    if rng.random() < 0.1:
        w["until"] = "2026-11-%02dT00:00:00Z" % rng.randint(22, 25)
    if rng.random() < 0.05:
        w["from"] = "2026-11-%02d" % rng.randint(19, 22)
    if rng.random() < 0.05 and "from" not in w:
        w["until"] = "2026-11-%02dT%02d:00" % (rng.randint(20, 23), rng.randint(0, 23))
    if stage == 1 and rng.random() < 0.2:
        w["min_qty"] = rng.randint(2, 4)
    return w


def rand_rule(rng, rid):
    typ = rng.choice(list(ref_pricing.STAGE))
    r = {"id": rid, "type": typ}
    if rng.random() < 0.5:
        r["priority"] = rng.randint(-1, 3)
    if typ != "bundle" and rng.random() < 0.7:
        t = {}
        if rng.random() < 0.6:
            t["skus"] = rng.sample(SKUS, rng.randint(1, 3))
        if not t or rng.random() < 0.4:
            t["categories"] = rng.sample(CATS, rng.randint(1, 2))
        r["target"] = t
    w = rand_when(rng, ref_pricing.STAGE[typ])
    if w:
        r["when"] = w
    if rng.random() < 0.15:
        r["coupon"] = rng.choice(["C1", "C2", "C3"])
    if ref_pricing.STAGE[typ] > 1 and rng.random() < 0.15:
        r["exclusive"] = True
    if typ == "price":
        r["price"] = rng.randint(0, 4000)
    elif typ == "percent":
        r["bp"] = rng.choice([0, 1, 333, 1250, 2500, 5000, 9999, 10000, rng.randint(0, 10000)])
    elif typ == "amount":
        r["off"] = rng.randint(0, 3000)
    elif typ == "bogo":
        r["buy"], r["get"] = rng.randint(1, 3), rng.randint(1, 2)
        if rng.random() < 0.5:
            r["bp"] = rng.choice([5000, 3333, rng.randint(0, 10000)])
    elif typ == "bundle":
        r["items"] = [{"sku": s, "qty": rng.randint(1, 2)} for s in rng.sample(SKUS[:5], rng.randint(1, 2))]
        r["price"] = rng.randint(0, 8000)
    elif typ == "threshold":
        r["min"], r["off"] = rng.randint(1, 20000), rng.randint(0, 4000)
        if rng.random() < 0.5:
            r["repeat"] = True
        if rng.random() < 0.5:
            r["max_off"] = rng.randint(0, 6000)
    else:
        r["bp"] = rng.randint(0, 3000)
        if rng.random() < 0.5:
            r["min"] = rng.randint(0, 15000)
    return r


def rand_case(rng):
    items = [{"sku": s, "name": "item " + s, "categories": rng.sample(CATS, rng.randint(0, 2)),
              "price": rng.choice([1, 25, 50, 99, 100, 333, 900, 1800, 2600, 2800, 3200, rng.randint(0, 5000)])}
             for s in SKUS[:-1]]  # "I" has no price: unknown
    docs = [{"scope": "global", "currency": "CNY", "items": items, "rules": []},
            {"scope": "region/cn-sw", "items": [], "rules": []},
            {"scope": "store/cd-001", "items": [], "rules": []},
            {"scope": "region/cn-east", "items": [{"sku": "A", "price": 1}],
             "rules": [{"id": "east", "type": "basket_percent", "bp": 9000}]}]
    for d in docs[1:3]:
        for s in rng.sample(SKUS[:-1], rng.randint(0, 3)):
            it = {"sku": s}
            if rng.random() < 0.7:
                it["price"] = rng.randint(0, 5000)
            if rng.random() < 0.3:
                it["categories"] = rng.sample(CATS, 1)
            d["items"].append(it)
    ids = ["r%d" % i for i in range(8)]
    for d in docs[:3]:
        for rid in rng.sample(ids, rng.randint(0, 4)):
            d["rules"].append(rand_rule(rng, rid))
    if rng.random() < 0.3:
        docs[2]["disable"] = rng.sample(ids, 2)
    if rng.random() < 0.4:
        docs[rng.randint(0, 2)]["round"] = {"step": rng.choice([5, 10, 50, 100]),
                                            "mode": rng.choice(["down", "up", "half_up"])}
    basket = {"region": "cn-sw", "store": "cd-001",
              "at": rng.choice(["2026-11-20T15:30:00+08:00", "2026-11-22T23:10:00+08:00",
                                "2026-11-21T01:05:00Z", "2026-11-19T09:00:00-05:00"]),
              "lines": [{"sku": rng.choice(SKUS[:-1] if rng.random() < 0.97 else SKUS),
                         "qty": rng.randint(1, 7)} for _ in range(rng.randint(1, 7))]}
    if rng.random() < 0.5:
        basket["customer"] = {"id": "c1", "tier": rng.choice(["vip", "gold", "basic"]),
                              "tags": rng.sample(["staff", "student", "new"], rng.randint(0, 2))}
    if rng.random() < 0.3:
        basket["channel"] = rng.choice(["pos", "app"])
    if rng.random() < 0.5:
        basket["coupons"] = [rng.choice(["C1", "C2", "C3", "ZZ"]) for _ in range(rng.randint(1, 3))]
    return docs, basket


def compare(got, want):
    for k in ("currency", "subtotal", "discount", "rounding", "total", "lines", "applied", "coupons"):
        if got.get(k) != want[k]:
            return "%s: agent %s, reference %s" % (k, json.dumps(got.get(k)), json.dumps(want[k]))
    return None


def main():
    failures = 0
    vecs = sorted(glob.glob(os.path.join(SRC, "tests", "conformance", "pricing", "*.json")))
    for p in vecs:
        v = json.load(open(p))
        e = v["expect"]
        try:
            got = ref_pricing.quote(v["policies"], v["basket"])
        except ref_pricing.RefError:
            got = {"exit": 3}
        if "exit" in e:
            ok = got == {"exit": 3}
        else:
            ok = all(got[k] == e[k] for k in e)
        if not ok:
            failures += 1
            print("FAIL reference disagrees with vector %s" % os.path.basename(p))
    print("ok   reference reproduces %d conformance vectors" % (len(vecs) - failures))
    rng = random.Random(SEED)
    agreed = refused = 0
    with tempfile.TemporaryDirectory() as d:
        for n in range(CASES):
            docs, basket = rand_case(rng)
            try:
                want = ref_pricing.quote(docs, basket)
            except ref_pricing.RefError:
                want = None
            r = agent_price(d, docs, basket)
            if want is None:
                if r.returncode != 3 or not r.stderr.strip():
                    failures += 1
                    print("FAIL case %d: reference refuses, agent exit %d %s" % (n, r.returncode, r.stderr))
                else:
                    refused += 1
                continue
            if r.returncode != 0:
                failures += 1
                print("FAIL case %d: agent exit %d: %s" % (n, r.returncode, r.stderr.strip()))
                continue
            why = compare(json.loads(r.stdout), want)
            if why:
                failures += 1
                print("FAIL case %d: %s\n  policies %s\n  basket %s" % (n, why, json.dumps(docs[:3]), json.dumps(basket)))
                if failures > 5:
                    break
            else:
                agreed += 1
    print("%s  %d random baskets agree to the fen with the reference, %d refused by both (seed %d)"
          % ("ok  " if not failures else "FAIL", agreed, refused, SEED))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
