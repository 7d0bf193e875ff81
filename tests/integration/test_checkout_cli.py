#!/usr/bin/env python3
"""Checkout from the command line (SPEC 12), then through a real broker and
hub. Without a broker: `sale` prints the receipt (names, VAT per line half
up, tax_total, payments, cash change, cashier, time from the device clock in
the store's utc_offset); an "at" more than 10 minutes off is exit 3 naming
both times; unknown basket keys and qty 2.0 are exit 3 naming the key;
payments that do not add up are exit 3; `return` refunds exactly (partial
then the rest adds up to the total, rounding included), refuses over-returns
and unknown sales recording nothing, and defaults refunds to the sale's
methods largest first; request_id replays give the first result and another
body is refused. With broker and hub: returns reach the hub once, `report
sales` shows returns and net, `settle` commissions net sales, the `return`
webhook is delivered, the sales report groups by sku, channel, payment and
rule, and a return naming an unknown sale or refunding more than remains is
dead-lettered."""
import http.server
import json
import os
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shoal_harness as h  # noqa: E402
import sync_helpers as sh  # noqa: E402

AGENT = h.binary("shoal-agent")

POLICY = {"scope": "global", "currency": "CNY", "utc_offset": "+08:00",
          "payments": ["cash", "card", "wechat"],
          "items": [{"sku": "MT", "name": "Milk tea", "barcode": "6901", "tax_bp": 1300, "price": 2800},
                    {"sku": "CK", "name": "Cake", "tax_bp": 600, "price": 1800}],
          "rules": [{"id": "t", "type": "threshold", "min": 5000, "off": 800}],
          "round": {"step": 10, "mode": "down"}}


def agent(*args, stdin=None, expect=None):
    return h.run_cmd([AGENT] + list(args), input=stdin, timeout=60, expect=expect)


def tax(total, bp):
    return (2 * total * bp + 10000 + bp) // (2 * (10000 + bp))


def offline(env):
    cfg = env.agent_config("pos-1", "s1", "r1", trust=False)
    pol = env.write_file("g.json", POLICY)
    agent("policy", "import", "-c", cfg, pol, expect=0)
    base = {"region": "r1", "store": "s1", "cashier": "amy",
            "lines": [{"sku": "MT", "qty": 3}, {"sku": "CK", "qty": 1}]}

    def sale(b, expect=None):
        return agent("sale", "-c", cfg, "--basket", "-", stdin=json.dumps(b))

    # Receipt: 3x2800 + 1800 = 10200, threshold 800 off -> 9400, card + cash with change.
    r = sale(dict(base, request_id="k1", payments=[{"method": "card", "amount": 5000},
                                                   {"method": "cash", "amount": 5000}]))
    h.check(r.rc == 0, "sale with card + cash succeeds (%r)" % r)
    rc = r.json()
    h.check(rc["total"] == 9400 and rc["change"] == 600, "total 9400, change 600 (%r)" % rc)
    want_keys = {"id", "store", "device", "at", "cashier", "currency", "subtotal", "discount", "rounding",
                 "total", "lines", "applied", "coupons", "payments", "change", "tax_total"}
    h.check(want_keys <= set(rc), "receipt carries the SPEC 12 keys (%s)" % sorted(set(rc)))
    l0, l1 = rc["lines"]
    h.check(l0["name"] == "Milk tea" and l0["tax"] == tax(l0["total"], 1300) and
            l1["tax"] == tax(l1["total"], 600) and rc["tax_total"] == l0["tax"] + l1["tax"],
            "VAT per line half up and tax_total (%r)" % [l0, l1, rc["tax_total"]])
    h.check(rc["at"].endswith("+08:00") and rc["cashier"] == "amy" and rc["device"] == "pos-1",
            "sale stamped in the store's +08:00, cashier and device on the receipt (%s)" % rc["at"])
    sale_id = rc["id"]

    # Idempotency: same key + body -> same receipt, nothing new; other body -> refused.
    r2 = sale(dict(base, request_id="k1", payments=[{"method": "card", "amount": 5000},
                                                    {"method": "cash", "amount": 5000}]))
    h.check(r2.rc == 0 and r2.json() == rc, "the same request_id and body print the first receipt")
    r3 = sale(dict(base, request_id="k1"))
    h.check(r3.rc == 3 and "k1" in r3.err, "the same request_id with another body exits 3 (%r)" % r3.err)
    db = os.path.join(os.path.dirname(cfg), json.load(open(cfg))["db"])
    h.check(env.query(db, "SELECT COUNT(*) FROM sales")[0][0] == 1, "the replay recorded nothing")

    # Bad baskets: each exits 3 naming the problem, records nothing.
    now = time.time()
    for what, b, needle in [
        ("unknown key", dict(base, tip=5), "tip"),
        ("qty 2.0", None, "qty"),
        ("payments short", dict(base, payments=[{"method": "card", "amount": 100}]), "missing"),
        ("card over the total", dict(base, payments=[{"method": "card", "amount": 9500}]), "cash"),
        ("method not allowed", dict(base, payments=[{"method": "alipay", "amount": 9400}]), "alipay"),
        ("at 11 minutes ahead", dict(base, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 660))),
         "10 minutes"),
        ("at 11 minutes behind", dict(base, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 660))),
         "10 minutes"),
    ]:
        if b is None:
            r = agent("sale", "-c", cfg, "--basket", "-",
                      stdin='{"region":"r1","store":"s1","lines":[{"sku":"MT","qty":2.0}]}')
        else:
            r = sale(b)
        h.check(r.rc == 3 and needle in r.err, "%s: exit 3 naming %s (%d %s)" % (what, needle, r.rc, r.err.strip()))
    r = sale(dict(base, member_code="SHOALM1.x"))  # SPEC 13: malformed is refused like forged
    h.check(r.rc == 4 and "member_code" in r.err, "malformed member code: exit 4 (%d %s)"
            % (r.rc, r.err.strip()))
    r = sale(dict(base, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 300))))
    h.check(r.rc == 0, "an at 5 minutes off is accepted (%r)" % r.err)
    q = agent("price", "-c", cfg, "--basket", "-",
              stdin=json.dumps(dict(base, at="2019-01-01T00:00:00+08:00")))
    h.check(q.rc == 0 and q.json()["total"] == 9400, "price accepts any at")
    h.check(env.query(db, "SELECT COUNT(*) FROM sales")[0][0] == 2, "refused sales recorded nothing")

    # Returns: one unit, then the rest, add up to the total exactly.
    r = agent("return", "-c", cfg, "--sale", sale_id, "--lines", "-", "--request-id", "ret1",
              stdin=json.dumps([{"sku": "MT", "qty": 1}]))
    h.check(r.rc == 0, "partial return succeeds (%r)" % r)
    first = r.json()
    h.check(set(first) >= {"id", "sale", "refund", "lines", "refunds"} and first["sale"] == sale_id,
            "return prints id, sale, refund, lines, refunds (%r)" % first)
    h.check(first["refunds"] == [{"method": "card", "amount": first["refund"]}],
            "refund goes to the largest payment first (card 5000 over cash 4400 net)")
    again = agent("return", "-c", cfg, "--sale", sale_id, "--lines", "-", "--request-id", "ret1",
                  stdin=json.dumps([{"sku": "MT", "qty": 1}]))
    h.check(again.rc == 0 and again.json() == first, "the same return request replays the first result")
    over = agent("return", "-c", cfg, "--sale", sale_id, "--lines", "-",
                 stdin=json.dumps([{"sku": "MT", "qty": 3}]))
    h.check(over.rc == 3 and "remain" in over.err, "over-return exits 3 (%s)" % over.err.strip())
    unk = agent("return", "-c", cfg, "--sale", "pos-1-20000101-99", "--lines", "-",
                stdin=json.dumps([{"sku": "MT", "qty": 1}]))
    h.check(unk.rc == 3 and "not known" in unk.err, "unknown sale exits 3")
    bad = agent("return", "-c", cfg, "--lines", "-",
                stdin=json.dumps({"sale": sale_id, "lines": [{"sku": "MT", "qty": 2}, {"sku": "CK", "qty": 1}],
                                  "refunds": [{"method": "cash", "amount": 1}]}))
    h.check(bad.rc == 3 and "add up" in bad.err, "given refunds that do not add up exit 3")
    rest = agent("return", "-c", cfg, "--lines", "-",
                 stdin=json.dumps({"sale": sale_id, "lines": [{"sku": "MT", "qty": 2}, {"sku": "CK", "qty": 1}],
                                   "reason": "spilt"}))
    h.check(rest.rc == 0 and first["refund"] + rest.json()["refund"] == 9400,
            "the rest refunds exactly what remains: together the total (%r)" % rest.out)
    lines_total = {l["sku"]: l["total"] for l in rc["lines"]}
    got = {}
    for o in (first, rest.json()):
        for l in o["lines"]:
            got[l["sku"]] = got.get(l["sku"], 0) + l["refund"]
    h.check(got == lines_total, "each line refunds its total exactly over its returns (%r)" % got)
    h.check(env.query(db, "SELECT COUNT(*) FROM outbox WHERE type = 'return'")[0][0] == 2,
            "one return outbox event per return")


class Receiver:
    def __init__(self, port):
        self.port, self.deliveries, self.lock = port, [], threading.Lock()

    def start(self):
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rcv.lock:
                    rcv.deliveries.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def with_hub(env):
    f = sh.Fleet(env)
    rport = h.free_port()
    secret = env.write_file("hook.secret", "s3cret\n")
    f.hub_cfg = env.hub_config(http=True, webhooks=[
        {"url": "http://127.0.0.1:%d/hook" % rport, "events": ["return"], "secret_file": secret}])
    receiver = Receiver(rport)
    receiver.start()
    try:
        f.start_hub()
        f.add_agent("pos-cd-1", "chengdu-001", "cn-sw")
        f.wait_connected("pos-cd-1")
        f.publish_catalog(wait_for=["pos-cd-1"])
        b = sh.basket("cn-sw", "chengdu-001", lines=[{"sku": "TEA-MILK-L", "qty": 2},
                                                     {"sku": "SNACK-EGGTART", "qty": 1}])
        b.pop("at")
        s1 = f.sale("pos-cd-1", b)
        s2 = f.sale("pos-cd-1", b)
        h.check(s1["lines"][0]["tax"] == tax(s1["lines"][0]["total"], 600),
                "the demo catalog's VAT shows on the receipt")
        cfg = f.cfgs["pos-cd-1"]
        r = agent("return", "-c", cfg, "--sale", s1["id"], "--lines", "-",
                  stdin=json.dumps([{"sku": "TEA-MILK-L", "qty": 1}]))
        h.check(r.rc == 0, "return on a synced device (%r)" % r)
        refund = r.json()["refund"]
        f.wait_drained(["pos-cd-1"], 60)
        rep = f.report()["pos-cd-1"]
        gross = s1["total"] + s2["total"]
        h.check(rep["count"] == 2 and rep["total"] == gross and rep["returns"] == refund
                and rep["net"] == gross - refund, "report sales: returns and net at the hub (%r)" % rep)
        h.check(env.hub_db_count("returns") == 1, "the return is stored once at the hub")
        st = h.run_json([h.binary("shoal-hub"), "settle", "-c", f.hub_cfg, "--from", "2000-01-01",
                         "--to", "2100-01-01"])
        row = [x for x in st if x["store"] == "chengdu-001"][0]
        net = gross - refund
        # franchise: marginal 5% up to 100000.00 -> 5% of net, half up.
        h.check(row["sales_total"] == net and row["commission"] == (net * 500 + 5000) // 10000,
                "settlement commissions net sales (%r)" % row)
        h.wait_until(lambda: any(b'"return"' in d[1] for d in receiver.deliveries), 30,
                     "return webhook delivered")
        hook = [json.loads(d[1]) for d in receiver.deliveries if b'"return"' in d[1]][0]
        h.check(hook["type"] == "return" and hook["body"]["refund"] == refund,
                "the return webhook carries the return event (%r)" % hook.get("type"))
        f.agents["pos-cd-1"].stop()
        # Forged returns: an unknown sale, and more than remains, are dead-lettered.
        db = f.agent_db("pos-cd-1")
        epoch = env.query(db, "SELECT value FROM meta WHERE key = 'epoch'")[0][0]
        last = int(env.query(db, "SELECT value FROM meta WHERE key = 'last_seq'")[0][0])
        before = env.hub_db_count("dead_letters")
        body = {"id": "x-R1", "sale": "nope", "store": "chengdu-001", "region": "cn-sw",
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "refund": 1, "rounding": 0,
                "lines": [], "refunds": [{"method": "cash", "amount": 1}]}
        env.publish(h.up_topic("chengdu-001", "pos-cd-1"),
                    h.event("pos-cd-1", "chengdu-001", epoch, last + 1, "return", body))
        big = dict(body, id="x-R2", sale=s2["id"], refund=s2["total"] + 1,
                   refunds=[{"method": "cash", "amount": s2["total"] + 1}])
        env.publish(h.up_topic("chengdu-001", "pos-cd-1"),
                    h.event("pos-cd-1", "chengdu-001", epoch, last + 2, "return", big))
        h.wait_until(lambda: env.hub_db_count("dead_letters") >= before + 2, 20, "forged returns dead-lettered")
        reasons = [r[0] for r in env.hub_query("SELECT reason FROM dead_letters")]
        h.check(any("never sent" in r for r in reasons) and any("remains" in r for r in reasons),
                "dead letters say why (%r)" % reasons)
        h.check(env.hub_db_count("returns") == 1, "forged returns stored nothing")
    finally:
        receiver.stop()
    return f


def reports_by(env, f):
    """The by= groupings through the hub library's report, via the HTTP API."""
    import urllib.request
    hc = json.load(open(f.hub_cfg))
    port = int(hc["http"]["listen"].rsplit(":", 1)[1])
    tok_path = hc["http"]["token_file"]
    if not os.path.isabs(tok_path):
        tok_path = os.path.join(os.path.dirname(f.hub_cfg), tok_path)
    token = open(tok_path).read().strip()
    out = {}
    for by in ("sku", "channel", "payment", "rule"):
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/reports/sales?by=%s" % (port, by),
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=15) as r:
            out[by] = json.loads(r.read())
    return out


def main():
    with h.Env("checkout_cli") as env:
        offline(env)
    with h.Env("checkout_hub") as env:
        f = with_hub(env)
        h.wait_until(lambda: h.port_open(int(json.load(open(f.hub_cfg))["http"]["listen"].rsplit(":", 1)[1])),
                     15, "hub HTTP API")
        rep = reports_by(env, f)
        sku = {r["sku"]: r for r in rep["sku"]}
        h.check(sku["TEA-MILK-L"]["qty"] == 4 and sku["TEA-MILK-L"]["returned_qty"] == 1
                and sku["TEA-MILK-L"]["net"] == sku["TEA-MILK-L"]["total"] - sku["TEA-MILK-L"]["returns"],
                "by=sku: quantities, returns and net per SKU (%r)" % sku.get("TEA-MILK-L"))
        h.check([r["channel"] for r in rep["channel"]] == ["pos"] and rep["channel"][0]["count"] == 2,
                "by=channel (%r)" % rep["channel"])
        pay = {r["method"]: r for r in rep["payment"]}
        h.check(set(pay) == {"cash"} and pay["cash"]["returns"] > 0, "by=payment: cash taken and refunded (%r)" % pay)
        h.check(all({"rule", "discount", "count"} <= set(r) for r in rep["rule"]), "by=rule rows (%r)" % rep["rule"])
    print("checkout CLI and hub returns: ok")


if __name__ == "__main__":
    h.main(main)
