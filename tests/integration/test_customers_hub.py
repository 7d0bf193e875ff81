"""Customers, loyalty ledger and e-commerce orders at the hub (SPEC 13),
against a real broker and `shoal-hub run`:
- the registry: create/update, find by phone, refusals (unknown key, bad
  phone, phone of another customer);
- points: a member sale from a till (its event over MQTT) earns points once
  even when redelivered; a member code reserves points (never more than the
  balance); the sale that uses the code releases the reservation; a second
  till spending the same code later is booked as an overdraft, visible per
  customer and in shoal_loyalty_overdraft_total; an unused code's
  reservation is released at expiry + grace by the hub's periodic duty;
- orders: HMAC-signed or bearer, idempotent by (channel, order_id), refund
  books a return and reverses the points, bad signature 401, duplicate lines,
  negative or inconsistent totals 422 with nothing written, unknown SKUs
  accepted and flagged, oversized 413; orders appear in `report sales`;
- the timeline, newest first, holds sales, orders, refunds, tickets and form
  submissions naming the customer; a ticket naming the customer reaches the
  store's down topic with customer_history and no name or phone;
- the repeat-purchase report by channel and by hour."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import shoal_harness as h

TOKEN = "test-token"
SECRET = b"orders-secret-7"
NAME, PHONE = "Li Wei", "+8613800138000"


def call(port, method, path, obj=None, raw=None, headers=None, token=TOKEN):
    body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def signed(obj):
    raw = json.dumps(obj).encode()
    return raw, {"X-Shoal-Signature": "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()}


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
    return None


def member_sale(store, device, epoch, seq, cust, total, earned, redeemed=0, nonce=None,
                sku="TEA-1"):
    body = h.sale_body(store, "cn-sw", receipt="%s-%d" % (device, seq), total=total,
                       lines=[{"sku": sku, "name": "Tea", "qty": 1, "base_price": total,
                               "unit_price": total, "discount": 0, "total": total}])
    body["customer"] = {"id": cust, "tier": "gold", "tags": ["night"]}
    body["member"] = {"id": cust, "tier": "gold", "points_earned": earned,
                      "points_redeemed": redeemed}
    if nonce:
        body["member"]["nonce"] = nonce
    return h.event(device, store, epoch, seq, "sale", body)


def iso_ago(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - seconds))


def test():
    with h.Env("customers-hub") as env:
        env.start_broker()
        secret = env.write_file("orders-secret", SECRET.decode() + "\n")
        env.hub_config(http=True, orders={"secret_file": secret})
        hub = env.start_hub()
        port = int(json.load(open(env.hub_cfg))["http"]["listen"].split(":")[1])
        policy = {"scope": "global",
                  "items": [{"sku": "TEA-1", "name": "Tea", "price": 6000},
                            {"sku": "CUP-1", "name": "Cup", "price": 1500}],
                  "loyalty": {"earn_per": 100, "redeem_value": 10, "code_ttl_s": 300,
                              "grace_s": 0}}
        st, _ = call(port, "POST", "/api/v1/policies", policy)
        h.check(st == 200, "policy published (%s)" % st)

        # --- registry
        st, c = call(port, "POST", "/api/v1/customers",
                     {"id": "C1", "name": NAME, "phone": PHONE, "tier": "gold", "tags": ["night"]})
        h.check(st == 201 and c["points"] == 0 and c["name"] == NAME, "created: %s %s" % (st, c))
        st, c = call(port, "POST", "/api/v1/customers", {"id": "C1", "tags": ["night", "vip"]})
        h.check(st == 200 and c["tags"] == ["night", "vip"] and c["phone"] == PHONE,
                "update keeps what it does not name: %s" % c)
        st, c = call(port, "GET", "/api/v1/customers?phone=%2B8613800138000")
        h.check(st == 200 and c["id"] == "C1", "found by phone: %s %s" % (st, c))
        for bad, want in (({"id": "C2", "nickname": "x"}, 422), ({"id": "C2", "phone": "12ab"}, 422),
                          ({"id": "C.2"}, 422), ({"id": "C2", "phone": PHONE}, 409)):
            st, e = call(port, "POST", "/api/v1/customers", bad)
            h.check(st == want and "error" in e, "%s -> %s %s (want %d)" % (bad, st, e, want))
        st, _ = call(port, "GET", "/api/v1/customers/C2")
        h.check(st == 404, "refused customer not created (%s)" % st)
        st, _ = call(port, "GET", "/api/v1/customers/C1", token=None)
        h.check(st == 401, "customers need the token (%s)" % st)

        # --- a member earns points at a till (online), exactly once
        epoch_a, epoch_b = h.new_epoch(), h.new_epoch()
        sale1 = member_sale("s1", "till-1", epoch_a, 1, "C1", 6000, 60)
        env.publish(h.up_topic("s1", "till-1"), sale1)
        env.publish(h.up_topic("s1", "till-1"), sale1)  # redelivered
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/C1")[1]["points"] == 60,
                     what="points earned")
        time.sleep(0.5)
        h.check(call(port, "GET", "/api/v1/customers/C1")[1]["points"] == 60, "earned once")

        # --- a member code reserves points; never more than available
        st, e = call(port, "POST", "/api/v1/customers/C1/code", {"points": 61})
        h.check(st == 422, "cannot reserve over the balance: %s %s" % (st, e))
        st, code = call(port, "POST", "/api/v1/customers/C1/code", {"points": 30})
        h.check(st == 201 and code["code"].startswith("SHOALM1.C1.gold.night,vip.30."),
                "code issued: %s %s" % (st, code))
        c = call(port, "GET", "/api/v1/customers/C1")[1]
        h.check(c["reserved"] == 30 and c["available"] == 30, "reserved: %s" % c)
        st, _ = call(port, "POST", "/api/v1/customers/C1/code", {"points": 31})
        h.check(st == 422, "reservations count against the balance (%s)" % st)

        # The till redeems 30 points (300 fen) on a 3000 sale: earns 27.
        sale2 = member_sale("s1", "till-1", epoch_a, 2, "C1", 3000, 27, 30, code["nonce"])
        env.publish(h.up_topic("s1", "till-1"), sale2)
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/C1")[1]["points"] == 57,
                     what="redemption booked")
        c = call(port, "GET", "/api/v1/customers/C1")[1]
        h.check(c["reserved"] == 0 and c["overdrafts"] == 0, "reservation released at use: %s" % c)
        h.check(metric(port, "shoal_loyalty_overdraft_total") == 0, "no overdraft yet")

        # A second till that spent the same code while offline reconnects:
        # its redemption still counts, as an overdraft.
        sale3 = member_sale("s2", "till-2", epoch_b, 1, "C1", 3000, 27, 30, code["nonce"])
        env.publish(h.up_topic("s2", "till-2"), sale3)
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/C1")[1]["overdrafts"] == 1,
                     what="overdraft booked")
        c = call(port, "GET", "/api/v1/customers/C1")[1]
        h.check(c["points"] == 54, "balance converged: 60 + 27 - 30 + 27 - 30 = 54, got %s" % c)
        h.check(metric(port, "shoal_loyalty_overdraft_total") == 1, "overdraft in /metrics")
        ledger = env.hub_query("SELECT SUM(points), COUNT(*) FROM loyalty_ledger WHERE customer='C1'")
        h.check(ledger[0] == (54, 5), "ledger sums to the balance: %s" % (ledger,))

        # --- release at expiry + grace (ttl 1 s, grace 0)
        policy["loyalty"]["code_ttl_s"] = 1
        st, _ = call(port, "POST", "/api/v1/policies", policy)
        st, code2 = call(port, "POST", "/api/v1/customers/C1/code", {"points": 20})
        h.check(st == 201 and call(port, "GET", "/api/v1/customers/C1")[1]["reserved"] == 20,
                "second code reserves 20")
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/C1")[1]["reserved"] == 0,
                     timeout=30, what="reservation released at expiry + grace")
        h.check(env.hub_query("SELECT state FROM member_codes WHERE nonce=?",
                              (code2["nonce"],))[0][0] == "released", "code marked released")

        # --- e-commerce orders
        order = {"channel": "tmall", "order_id": "T-1001", "status": "paid",
                 "paid_at": iso_ago(3 * 3600), "customer": "C1", "region": "cn-sw",
                 "lines": [{"sku": "TEA-1", "qty": 2, "total": 11000},
                           {"sku": "CUP-1", "qty": 1, "total": 1500}], "total": 12500}
        raw, sig = signed(order)
        st, r = call(port, "POST", "/api/v1/orders", raw=raw, headers=sig, token=None)
        h.check(st == 201 and r["result"] == "created" and r["points"] == 125
                and r["unknown_skus"] == [], "signed order: %s %s" % (st, r))
        st, r = call(port, "POST", "/api/v1/orders", raw=raw, headers=sig, token=None)
        h.check(st == 200 and r["result"] == "unchanged", "same order again: %s %s" % (st, r))
        h.check(call(port, "GET", "/api/v1/customers/C1")[1]["points"] == 54 + 125, "order earned once")
        bad_sig = {"X-Shoal-Signature": "sha256=" + "0" * 64}
        st, _ = call(port, "POST", "/api/v1/orders", raw=raw, headers=bad_sig, token=None)
        h.check(st == 401, "bad signature 401 (%s)" % st)
        st, _ = call(port, "POST", "/api/v1/orders", raw=raw, token=None)
        h.check(st == 401, "no auth 401 (%s)" % st)
        before = env.hub_db_count("orders"), env.hub_db_count("sales"), env.hub_db_count("loyalty_ledger")
        for bad in (dict(order, order_id="T-2", lines=[{"sku": "TEA-1", "qty": 1, "total": 6000},
                                                         {"sku": "TEA-1", "qty": 1, "total": 6000}],
                         total=12000),
                    dict(order, order_id="T-3", lines=[{"sku": "TEA-1", "qty": 1, "total": -5}], total=-5),
                    dict(order, order_id="T-4", total=99),
                    dict(order, order_id="T-5", status="shipped"),
                    dict(order, order_id="T-6", coupon="X")):
            st, e = call(port, "POST", "/api/v1/orders", bad)
            h.check(st == 422 and "error" in e, "bad order %s -> %s %s" % (bad["order_id"], st, e))
        st, _ = call(port, "POST", "/api/v1/orders", raw=b"{not json")
        h.check(st == 400, "malformed JSON 400 (%s)" % st)
        st, _ = call(port, "POST", "/api/v1/orders", raw=b"{" + b" " * (300 * 1024) + b"}")
        h.check(st == 413, "oversized 413 (%s)" % st)
        after = env.hub_db_count("orders"), env.hub_db_count("sales"), env.hub_db_count("loyalty_ledger")
        h.check(before == after, "refused orders wrote nothing: %s -> %s" % (before, after))
        st, r = call(port, "POST", "/api/v1/orders",
                     {"channel": "douyin", "order_id": "D-1", "status": "paid",
                      "paid_at": iso_ago(-600), "customer": "C1",
                      "lines": [{"sku": "GIFT-CARD", "qty": 1, "total": 500}], "total": 500})
        h.check(st == 201 and r["unknown_skus"] == ["GIFT-CARD"], "unknown SKU flagged: %s" % r)
        h.check(metric(port, "shoal_orders_unknown_sku_total") == 1, "flag counted")

        # Refund after paid: a return, points reversed.
        refund = dict(order, status="refunded", refunded_at=iso_ago(3600))
        raw, sig = signed(refund)
        st, r = call(port, "POST", "/api/v1/orders", raw=raw, headers=sig, token=None)
        h.check(st == 200 and r["result"] == "refunded" and r["status"] == "refunded",
                "refund: %s %s" % (st, r))
        st, r = call(port, "POST", "/api/v1/orders", raw=raw, headers=sig, token=None)
        h.check(r["result"] == "unchanged", "refund again changes nothing: %s" % r)
        c = call(port, "GET", "/api/v1/customers/C1")[1]
        h.check(c["points"] == 54 + 5, "refund reversed the order's 125 points: %s" % c["points"])
        h.check(env.hub_db_count("returns", "device = 'tmall'") == 1, "one return booked")
        rep = h.run_json([h.binary("shoal-hub"), "report", "sales", "-c", env.hub_cfg])
        tm = [x for x in rep if x["device"] == "tmall"]
        h.check(tm and tm[0]["total"] == 12500 and tm[0].get("returns") == 12500
                and tm[0].get("net") == 0, "order and refund in the sales ledger: %s" % rep)
        st, rep = call(port, "GET", "/api/v1/reports/sales?by=channel")
        tm = [x for x in rep if x["channel"] == "tmall"]
        h.check(st == 200 and tm and tm[0]["net"] == 0, "by channel: %s" % rep)

        # --- a ticket naming the customer carries customer_history, no PII
        down = env.subscribe([h.topic("down_store", "s1")])
        ev = h.event("till-1", "s1", epoch_a, 3, "ticket",
                     {"ticket": "wo-77", "kind": "open", "category": "repair", "priority": "normal",
                      "title": "kettle broken", "store": "s1", "region": "cn-sw",
                      "customer": {"id": "C1", "tier": "gold", "tags": ["night"]}})
        env.publish(h.up_topic("s1", "till-1"), ev)
        msgs = down.wait_for(lambda ms: [m for m in ms if b"customer_history" in m[1]],
                             what="ticket with history")
        msg = (msgs[0][0], msgs[0][1].decode())
        body = json.loads(msg[1])["body"]
        hist = body["customer_history"]
        h.check(len(hist) == 6 and hist[0]["sku"] == "GIFT-CARD" and hist[0]["channel"] == "douyin",
                "history newest first: %s" % hist)
        h.check(all(set(x) == {"sku", "name", "qty", "at", "channel", "store"} for x in hist),
                "history keys: %s" % hist)
        h.check(NAME not in msg[1] and PHONE not in msg[1] and "13800138000" not in msg[1],
                "no name or phone goes to devices")

        # --- the timeline, newest first, every kind
        c = call(port, "GET", "/api/v1/customers/C1")[1]
        kinds = [e["kind"] for e in c["timeline"]]
        h.check({"sale", "order", "refund", "ticket"} <= set(kinds), "timeline kinds: %s" % kinds)
        ats = [e["at"] for e in c["timeline"]]
        h.check(ats == sorted(ats, reverse=True), "timeline newest first: %s" % ats)
        h.check(len([k for k in kinds if k == "sale"]) == 3, "three till sales: %s" % kinds)

        # --- repeat purchases: C1's first purchase is the tmall order (paid
        # 3 hours ago, before the till sales) and C1 bought again; C9 buys once
        # at a till.
        env.publish(h.up_topic("s1", "till-1"), member_sale("s1", "till-1", epoch_a, 4, "C9", 6000, 60))
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/C9")[0] == 200, what="C9 sale")
        st, rep = call(port, "GET", "/api/v1/reports/repeat?by=channel")
        h.check(st == 200 and rep == [
            {"channel": "pos", "customers": 1, "repeat": 0, "rate_bp": 0},
            {"channel": "tmall", "customers": 1, "repeat": 1, "rate_bp": 10000}],
            "repeat by channel: %s" % rep)
        st, rep = call(port, "GET", "/api/v1/reports/repeat?by=hour&utc_offset=%2B08:00")
        h.check(st == 200 and sum(x["customers"] for x in rep) == 2, "repeat by hour: %s" % rep)
        st, _ = call(port, "GET", "/api/v1/reports/repeat?by=weekday")
        h.check(st == 422, "unknown by refused (%s)" % st)
        h.check(hub.alive(), "hub still running")
        env.check_sanitizers()


if __name__ == "__main__":
    h.main(test)
