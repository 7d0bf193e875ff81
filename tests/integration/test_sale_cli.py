#!/usr/bin/env python3
"""`shoal-agent policy import`, `price -c` and `sale` with no broker (SPEC 2,
4.2, 5): imports go to the device's own chain only (exit 4 otherwise); price
-c from the cache equals price --policy on the same documents; a future
--effective-at waits; sale prints the SPEC 12 receipt (with id and total), writes the sale and its
outbox event in one transaction, and receipts stay unique when sales race;
a kiosk sells (self-checkout), a handheld does not (exit 2); bad baskets record nothing.
env: SHOAL_AGENT, SHOAL_SOURCE_DIR."""
import json, os, re, sqlite3, subprocess, sys, tempfile

import shoal_harness as h

AGENT = os.environ["SHOAL_AGENT"]
SRC = os.path.abspath(os.environ["SHOAL_SOURCE_DIR"])
check = h.Checks()


def run(*args, stdin=None):
    return subprocess.run([AGENT] + list(args), capture_output=True, text=True, timeout=60, input=stdin)




GLOBAL = {"scope": "global", "currency": "CNY",
          "items": [{"sku": "MT-001", "categories": ["tea"], "price": 2800, "cost": 900},
                    {"sku": "CK-001", "categories": ["dessert"], "price": 1800}],
          "rules": [{"id": "t", "type": "threshold", "min": 5000, "off": 800}]}
REGION = {"scope": "region/cn-sw", "items": [{"sku": "MT-001", "price": 2200}],
          "rules": [{"id": "tea", "type": "percent", "bp": 1000, "target": {"categories": ["tea"]}}]}
REGION_V2 = {"scope": "region/cn-sw", "items": [{"sku": "MT-001", "price": 100}]}
BASKET = {"region": "cn-sw", "store": "cd-001", "at": "2026-11-22T15:30:00+08:00",
          "customer": {"id": "c9", "tier": "vip", "tags": []},
          "lines": [{"sku": "MT-001", "qty": 2}, {"sku": "CK-001", "qty": 1}]}


def main():
    with tempfile.TemporaryDirectory() as d:
        def put(name, obj):
            p = os.path.join(d, name)
            with open(p, "w") as f:
                json.dump(obj, f)
            return p

        pos = put("pos.json", {"device": "pos-7", "store": "cd-001", "region": "cn-sw", "db": "pos.db",
                               "profile": os.path.join(SRC, "firmware-profiles", "pos-terminal.json")})
        kiosk = put("kiosk.json", {"device": "kiosk-1", "store": "cd-001", "region": "cn-sw", "db": "k.db",
                                   "profile": os.path.join(SRC, "firmware-profiles", "kiosk.json")})
        hand = put("hand.json", {"device": "hh-1", "store": "cd-001", "region": "cn-sw", "db": "h.db",
                                 "profile": os.path.join(SRC, "firmware-profiles", "handheld-scanner.json")})
        g, rg, rg2 = put("g.json", GLOBAL), put("r.json", REGION), put("r2.json", REGION_V2)
        east = put("east.json", {"scope": "region/cn-east"})
        bad = put("bad.json", {"scope": "global", "rules": [{"id": "x", "type": "magic"}]})
        basket = put("basket.json", BASKET)

        r = run("policy", "import", "--help")
        check(r.returncode == 0 and "DEVELOPMENT AID" in r.stdout, "policy import --help says it is a development aid")
        r = run("policy", "import", "-c", pos, g)
        check(r.returncode == 0 and json.loads(r.stdout) == {"scope": "global", "version": 1},
              "import global -> version 1 (%s)" % r.stdout.strip())
        r = run("policy", "import", "-c", pos, rg)
        check(r.returncode == 0 and json.loads(r.stdout) == {"scope": "region/cn-sw", "version": 1},
              "import region -> version 1")
        r = run("policy", "import", "-c", pos, east)
        check(r.returncode == 4 and "cn-east" in r.stderr, "import of a foreign region exits 4 naming it")
        r = run("policy", "import", "-c", pos, bad)
        check(r.returncode == 3 and "magic" in r.stderr, "import of an invalid document exits 3 naming the type")
        r = run("policy", "import", "-c", pos, rg2, "--effective-at", "2099-01-01T00:00:00Z")
        check(r.returncode == 0 and json.loads(r.stdout)["version"] == 2, "future version stored as version 2")

        r1 = run("price", "-c", pos, "--basket", basket)
        r2 = run("price", "--policy", g, "--policy", rg, "--policy", east, "--basket", basket)
        q = json.loads(r1.stdout) if r1.returncode == 0 else {}
        # -c adds the SPEC 12 checkout fields (name, tax) beside the SPEC 5.3 object.
        plain = dict(q, lines=[{k: v for k, v in l.items() if k not in ("name", "tax_bp", "tax")}
                               for l in q.get("lines", [])])
        plain.pop("tax_total", None)
        check(r1.returncode == 0 and r2.returncode == 0 and plain == json.loads(r2.stdout)
              and "tax_total" in q and all("name" in l and "tax" in l for l in q["lines"]),
              "price -c from the cache equals price --policy plus name/tax (and the future version is not yet in effect)")
        r3 = run("price", "-c", pos, "--basket", basket)
        check(r3.returncode == 0 and json.loads(r3.stdout) == q,
              "price -c answers the same from the compiled snapshot (second call)")
        check(q["total"] == 2 * 1980 + 1800 - 800, "cache price uses the region price map and rules (total %d)" % q["total"])

        r = run("price", "-c", kiosk, "--basket", basket)
        check(r.returncode == 3 and "unknown SKU" in r.stderr, "a kiosk with an empty cache cannot price (exit 3)")
        r = run("price", "-c", hand, "--basket", put("junk.json", {"junk": 1}))
        check(r.returncode == 2 and "pricing" in r.stderr, "a handheld scanner does not price: exit 2 naming module pricing")
        r = run("sale", "-c", hand, "--basket", basket)
        check(r.returncode == 2 and "sales" in r.stderr, "a handheld refuses to sell: exit 2 naming module sales")

        # A sale is stamped by the device clock: the basket's 2026-11-22 "at" is refused.
        r = run("sale", "-c", pos, "--basket", basket)
        check(r.returncode == 3 and "10 minutes" in r.stderr and BASKET["at"] in r.stderr,
              "a sale whose at is far from the device clock exits 3 naming both times")
        SALE = {k: v for k, v in BASKET.items() if k != "at"}
        basket = put("sale.json", SALE)
        r = run("sale", "-c", pos, "--basket", "-", stdin=json.dumps(SALE))
        ok = r.returncode == 0
        sale = json.loads(r.stdout) if ok else {}
        check(ok and sale.get("total") == q["total"] and re.fullmatch(r"pos-7-\d{8}-1", sale.get("id", "")),
              "sale prints a receipt with id and total and a readable receipt id (%s)" % r.stdout.strip()[:80])

        other = dict(SALE, store="cd-999")
        r = run("sale", "-c", pos, "--basket", put("other.json", other))
        check(r.returncode == 4 and "cd-999" in r.stderr, "a basket for another store exits 4 (wrong store) naming it")
        r = run("price", "-c", pos, "--basket", put("other-region.json", dict(BASKET, region="cn-east")))
        check(r.returncode == 4 and "cn-east" in r.stderr, "a basket for another region exits 4 naming it")
        unknown = dict(SALE, lines=[{"sku": "NOPE", "qty": 1}])
        r = run("sale", "-c", pos, "--basket", put("unknown.json", unknown))
        check(r.returncode == 3 and "NOPE" in r.stderr, "unknown SKU in a sale exits 3 naming it")
        r = run("sale", "-c", pos, "--basket", put("badqty.json", dict(SALE, lines=[{"sku": "MT-001", "qty": 0}])))
        check(r.returncode == 3, "qty 0 in a sale exits 3")

        # Racing sales: every receipt unique, one outbox event each.
        procs = [subprocess.Popen([AGENT, "sale", "-c", pos, "--basket", basket], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        outs = [p.communicate(timeout=60) for p in procs]
        codes = [p.returncode for p in procs]
        ids = [json.loads(o)["id"] for o, _ in outs if o.strip()]
        check(codes == [0] * 8 and len(set(ids)) == 8, "8 racing sales all succeed with distinct receipts")

        st = json.loads(run("status", "-c", pos).stdout)
        check(st["outbox_pending"] == 9, "outbox holds one event per sale (%d)" % st["outbox_pending"])
        db = sqlite3.connect(os.path.join(d, "pos.db"))
        nsales = db.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
        nlines = db.execute("SELECT COUNT(*) FROM sale_lines").fetchone()[0]
        check(nsales == 9 and nlines == 18, "9 sales with 2 lines each recorded (%d, %d)" % (nsales, nlines))
        env = json.loads(db.execute("SELECT envelope FROM outbox WHERE seq = 1").fetchone()[0])
        body = env["body"]
        want = {"receipt", "id", "device", "channel", "region", "store", "at", "currency", "subtotal", "discount",
                "rounding", "total", "lines", "applied", "coupons", "tax_total", "payments", "change", "customer",
                "policy_versions"}
        check(env["type"] == "sale" and set(body) == want, "sale event body has exactly the agreed keys (%s)" % sorted(body))
        check(body["policy_versions"] == {"global": 1, "region/cn-sw": 1} and body["at"] == sale["at"]
              and body["customer"]["id"] == "c9" and body["total"] == q["total"],
              "sale event records policy versions used, basket time, customer and total")
        check(body["lines"] == q["lines"] and body["applied"] == q["applied"], "sale event lines/applied match the quote")
        check(body["payments"] == [{"method": "cash", "amount": q["total"]}] and body["change"] == 0,
              "absent payments record one cash payment of the total")
        db.close()

    check.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
