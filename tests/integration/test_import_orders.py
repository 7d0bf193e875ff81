"""scripts/import-orders against a real `shoal-hub run` (SPEC 13 orders):
- a CSV export (one row per order line, rows of one order grouped) posted
  HMAC-signed: multi-line orders created with the right totals, a member's
  order earns points, an order the hub refuses (negative line total) is
  counted as refused with the hub's error and the others still booked;
  exit 1 because one was refused;
- the same export again: every order a duplicate, nothing booked twice
  (balance, sales rows and orders rows unchanged);
- a JSON Lines export with a bearer token: the refund of an earlier order
  books a return and reverses its points (counted as refunded);
- a wrong secret: every order refused 401, nothing written;
- bad files: an unknown CSV column, an order whose rows disagree, or a
  given total that is not the sum of its lines exit 2 before posting."""

import json
import os
import urllib.request

import shoal_harness as h

SECRET = "import-secret-1"
TOKEN = "test-token"

CSV = """channel,order_id,status,paid_at,customer,store,region,sku,qty,line_total,name
tmall,TM-1,paid,2026-11-11T20:15:00+08:00,C1,s1,cn-sw,TEA-1,2,12000,Tea
tmall,TM-1,paid,2026-11-11T20:15:00+08:00,C1,s1,cn-sw,CUP-1,1,1500,Cup
tmall,TM-2,paid,2026-11-11T21:00:00+08:00,,,,TEA-1,1,6000,
jd,JD-9,paid,2026-11-12T09:30:00+08:00,C1,,,CUP-1,3,4500,Cup
jd,JD-BAD,paid,2026-11-12T09:31:00+08:00,,,,CUP-1,1,-100,Cup
"""


def call(port, path):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    req.add_header("Authorization", "Bearer " + TOKEN)
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


def post(port, path, obj):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method="POST",
                                 data=json.dumps(obj).encode())
    req.add_header("Authorization", "Bearer " + TOKEN)
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.status


def importer(env, port, path, *auth, expect):
    script = os.path.join(h.source_dir(), "scripts", "import-orders")
    return h.run_cmd(["python3", script, "--hub", "http://127.0.0.1:%d" % port] + list(auth) + [path],
                     expect=expect)


def test():
    with h.Env("import-orders") as env:
        env.start_broker()
        secret = env.write_file("orders-secret", SECRET + "\n")
        env.hub_config(http=True, orders={"secret_file": secret})
        env.start_hub()
        cfg = json.load(open(env.hub_cfg))
        port = int(cfg["http"]["listen"].split(":")[1])
        token_file = cfg["http"]["token_file"]
        h.wait_until(lambda: h.port_open(port), 15, "hub HTTP listening")
        h.check(post(port, "/api/v1/policies",
                     {"scope": "global", "items": [{"sku": "TEA-1", "price": 6000},
                                                   {"sku": "CUP-1", "price": 1500}],
                      "loyalty": {"earn_per": 100, "redeem_value": 10}}) == 200, "policy")
        h.check(post(port, "/api/v1/customers", {"id": "C1", "tier": "gold"}) == 201, "customer C1")

        # --- CSV, HMAC-signed
        path = env.write_file("export.csv", CSV)
        r = importer(env, port, path, "--secret-file", secret, expect=1)
        h.check(r.out.strip() == "created 3, refunded 0, duplicate 0, refused 1, failed 0",
                "first run counts: %r" % r.out)
        h.check("jd/JD-BAD: refused 422" in r.err and "negative" in r.err,
                "the refused order named with the hub's error: %r" % r.err)
        c = call(port, "/api/v1/customers/C1")
        h.check(c["points"] == 135 + 45, "C1 earned for TM-1 (13500) and JD-9 (4500): %s" % c["points"])
        h.check(env.hub_db_count("orders") == 3 and env.hub_db_count("sales") == 3,
                "three orders booked, the refused one not")
        rows = env.hub_query("SELECT order_id, total FROM orders ORDER BY order_id")
        h.check([tuple(x) for x in rows] == [("JD-9", 4500), ("TM-1", 13500), ("TM-2", 6000)],
                "order totals are the sums of their lines: %r" % rows)

        # --- the same export again: duplicates, nothing twice
        r = importer(env, port, path, "--secret-file", secret, expect=1)
        h.check(r.out.strip() == "created 0, refunded 0, duplicate 3, refused 1, failed 0",
                "second run counts: %r" % r.out)
        h.check(call(port, "/api/v1/customers/C1")["points"] == 180
                and env.hub_db_count("orders") == 3 and env.hub_db_count("sales") == 3,
                "nothing booked twice")

        # --- JSON Lines with the bearer token: a refund
        refund = {"channel": "jd", "order_id": "JD-9", "status": "refunded",
                  "paid_at": "2026-11-12T09:30:00+08:00", "refunded_at": "2026-11-13T10:00:00+08:00",
                  "customer": "C1", "lines": [{"sku": "CUP-1", "qty": 3, "total": 4500}], "total": 4500}
        path = env.write_file("refunds.jsonl", json.dumps(refund) + "\n")
        r = importer(env, port, path, "--token-file", token_file, expect=0)
        h.check(r.out.strip() == "created 0, refunded 1, duplicate 0, refused 0, failed 0",
                "refund run counts: %r" % r.out)
        h.check(call(port, "/api/v1/customers/C1")["points"] == 135, "JD-9's points reversed")
        h.check(env.hub_db_count("returns") == 1, "the refund is a return in the sales ledger")

        # --- a wrong secret: refused 401, nothing written
        wrong = env.write_file("wrong-secret", "not-the-secret\n")
        one = env.write_file("one.csv", CSV.splitlines()[0] + "\n"
                             + "wechat,WX-1,paid,2026-11-12T10:00:00+08:00,,,,TEA-1,1,6000,Tea\n")
        r = importer(env, port, one, "--secret-file", wrong, expect=1)
        h.check("refused 1" in r.out and "refused 401" in r.err, "bad signature: %r %r" % (r.out, r.err))
        h.check(env.hub_db_count("orders", "channel = 'wechat'") == 0, "nothing written")

        # --- bad files exit 2 before posting anything
        head = CSV.splitlines()[0]
        for name, text, want in (
                ("col.csv", head + ",colour\n" + "wechat,WX-2,paid,2026-11-12T10:00:00Z,,,,TEA-1,1,6000,Tea,red\n",
                 "unknown CSV column"),
                ("mix.csv", head + "\nwechat,WX-3,paid,2026-11-12T10:00:00Z,,,,TEA-1,1,6000,Tea\n"
                 "wechat,WX-3,refunded,2026-11-12T10:00:00Z,,,,CUP-1,1,1500,Cup\n", "differ"),
                ("tot.csv", head + ",total\nwechat,WX-4,paid,2026-11-12T10:00:00Z,,,,TEA-1,1,6000,Tea,5999\n",
                 "not the sum")):
            r = importer(env, port, env.write_file(name, text), "--secret-file", secret, expect=2)
            h.check(want in r.err, "%s refused: %r" % (name, r.err))
        h.check(env.hub_db_count("orders", "channel = 'wechat'") == 0, "bad files post nothing")
        env.check_sanitizers()


if __name__ == "__main__":
    h.main(test)
