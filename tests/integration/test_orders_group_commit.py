"""Group commit of POST /api/v1/orders (SPEC 13) against a real
`shoal-hub run`: 16 keep-alive clients post at once, so orders share
transactions, and still every request gets its own answer:
- 400 distinct good orders: each 201 "created", each booked once, the
  member's points the exact sum;
- the same order posted by 8 clients at once: exactly one 201 "created",
  the rest 200 "unchanged", one row;
- one order id posted with 8 different totals at once: exactly one 201,
  seven 409 naming the recorded total - a refused order inside a batch
  rolls back alone (its savepoint) and its batch-mates stay booked;
- invalid orders (negative line total, duplicate SKU lines) mixed in: 422
  each, nothing of them written;
- with orders.batch_max 1 (one commit per order) the same answers.
The counts in the database are checked against the answers."""

import http.client
import json
import threading

import shoal_harness as h

TOKEN = "test-token"
CLIENTS = 16


def order(oid, total=1000, customer="G1", lines=None):
    return {"channel": "shop", "order_id": oid, "status": "paid",
            "paid_at": "2026-11-11T12:00:00Z", "customer": customer,
            "lines": lines or [{"sku": "TEA-1", "qty": 1, "total": total}], "total": total}


def post_all(port, bodies):
    """Posts bodies from CLIENTS keep-alive connections at once; returns
    [(status, answer)] in the order of bodies."""
    results = [None] * len(bodies)
    start = threading.Barrier(CLIENTS)

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        for i in range(k, len(bodies), CLIENTS):
            raw = json.dumps(bodies[i]).encode()
            conn.request("POST", "/api/v1/orders", raw, {"Authorization": "Bearer " + TOKEN,
                                                         "Content-Type": "application/json"})
            r = conn.getresponse()
            results[i] = (r.status, json.loads(r.read()))
        conn.close()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    h.check(all(r is not None for r in results), "every request answered")
    return results


def run(env, batch_max, tag):
    extra = {"orders": {"batch_max": batch_max}} if batch_max else {}
    cfg = env.hub_config(name="hub-" + tag, http=True, **extra)
    port = int(json.load(open(cfg))["http"]["listen"].split(":")[1])
    proc = env.start_hub(cfg, name="hub-" + tag)
    h.wait_until(lambda: h.port_open(port), 15, "hub HTTP listening")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("POST", "/api/v1/policies",
                 json.dumps({"scope": "global", "items": [{"sku": "TEA-1", "price": 1000}],
                             "loyalty": {"earn_per": 100, "redeem_value": 10}}),
                 {"Authorization": "Bearer " + TOKEN})
    h.check(conn.getresponse().status == 200, "policy published")

    good = [order("%s-G%03d" % (tag, i), total=1000 + i) for i in range(400)]
    same = [order("%s-SAME" % tag, total=5000) for _ in range(8)]
    clash = [order("%s-CLASH" % tag, total=6000 + 100 * i) for i in range(8)]
    bad = [order("%s-NEG%d" % (tag, i), lines=[{"sku": "TEA-1", "qty": 1, "total": -5}], total=-5)
           for i in range(4)]
    bad += [order("%s-DUP%d" % (tag, i), total=2000,
                  lines=[{"sku": "TEA-1", "qty": 1, "total": 1000},
                         {"sku": "TEA-1", "qty": 1, "total": 1000}]) for i in range(4)]
    # Interleave, so every batch mixes kinds.
    bodies, kinds = [], []
    groups = [("good", good), ("same", same), ("clash", clash), ("bad", bad)]
    while any(g for _, g in groups):
        for name, g in groups:
            if g:
                bodies.append(g.pop(0))
                kinds.append(name)
    res = post_all(port, bodies)
    by = {}
    for kind, (st, ans) in zip(kinds, res):
        by.setdefault(kind, []).append((st, ans))
    h.check(all(st == 201 and a["result"] == "created" for st, a in by["good"]),
            "%s: every good order created: %s" % (tag, [x for x in by["good"] if x[0] != 201][:3]))
    sts = sorted(st for st, _ in by["same"])
    h.check(sts == [200] * 7 + [201], "%s: same order 8 times: one created, 7 unchanged (%s)" % (tag, sts))
    sts = sorted(st for st, _ in by["clash"])
    h.check(sts == [201] + [409] * 7, "%s: one id, 8 totals: one created, 7 x 409 (%s)" % (tag, sts))
    winner = [b["total"] for b, (st, _) in zip([x for x, k in zip(bodies, kinds) if k == "clash"],
                                               by["clash"]) if st == 201][0]
    h.check(all("recorded with total %d" % winner in a["error"] for st, a in by["clash"] if st == 409),
            "%s: each 409 names the recorded total" % tag)
    h.check(all(st == 422 and "error" in a for st, a in by["bad"]), "%s: invalid orders 422" % tag)

    db = env.path("hub-%s.db" % tag)

    def q(sql):
        return env.hub_sql(sql, db_path=db)[0][0]
    h.check(q("SELECT COUNT(*) FROM orders") == 400 + 1 + 1, "%s: 402 orders stored" % tag)
    h.check(q("SELECT COUNT(*) FROM sales WHERE epoch = 'orders'") == 402, "%s: 402 sales rows" % tag)
    want = sum((1000 + i) // 100 for i in range(400)) + 50 + winner // 100
    h.check(q("SELECT points FROM customers WHERE id = 'G1'") == want,
            "%s: points are the exact sum (%d)" % (tag, want))
    h.check(q("SELECT COUNT(*) FROM orders WHERE order_id LIKE '%NEG%' OR order_id LIKE '%DUP%'") == 0,
            "%s: nothing of the invalid orders" % tag)
    proc.stop()


def test():
    with h.Env("orders-group-commit") as env:
        env.start_broker()
        run(env, None, "gc")
        run(env, 1, "one")
        env.check_sanitizers()


if __name__ == "__main__":
    h.main(test)
