#!/usr/bin/env python3
"""Concurrent lanes on one device through the store API (SPEC 11): 4
threads, each its own keep-alive connection, sell N baskets each and
replay every 5th request (a till retrying after a lost answer) while a
fifth thread quotes. Afterwards the database holds exactly 4*N sales with
unique receipts and 4*N "sale" outbox events, each replay got its first
receipt back (200), and no request failed. Real daemon, no broker.
env: SHOAL_AGENT, SHOAL_SOURCE_DIR."""

import json
import threading

import shoal_harness as h
from store_api import StoreApi

N = 60
LANES = 4
GLOBAL = {"scope": "global", "currency": "CNY",
          "items": [{"sku": "MT-%03d" % i, "categories": ["tea"], "price": 1000 + i}
                    for i in range(20)]}


def main():
    with h.Env("store-api-lanes") as env:
        cfg = env.agent_config("pos-1", "cd-001", "cn-sw")
        listen = json.load(open(cfg))["local_api"]["listen"]
        env.agent("policy", "import", "-c", cfg, env.write_file("g.json", GLOBAL), expect=0)
        env.start_agent(cfg)
        h.wait_until(lambda: h.port_open(int(listen.rsplit(":", 1)[1])), 20, "store API")
        errors, receipts, replays = [], {}, []
        lock = threading.Lock()
        stop = threading.Event()

        def lane(k):
            api = StoreApi(listen, timeout=60)
            for i in range(N):
                body = {"region": "cn-sw", "store": "cd-001", "request_id": "lane%d-%04d" % (k, i),
                        "lines": [{"sku": "MT-%03d" % ((k * 7 + i) % 20), "qty": 1 + i % 3}]}
                st, r = api.post("/v1/sales", body)
                if st != 201:
                    with lock:
                        errors.append((k, i, st, r))
                    continue
                with lock:
                    receipts[body["request_id"]] = r
                if i % 5 == 0:
                    st2, r2 = api.post("/v1/sales", body)
                    with lock:
                        replays.append(st2 == 200 and r2 == r)

        def quoter():
            api = StoreApi(listen, timeout=60)
            while not stop.is_set():
                st, r = api.post("/v1/quote", {"region": "cn-sw", "store": "cd-001",
                                               "lines": [{"sku": "MT-001", "qty": 2}]})
                if st != 200:
                    with lock:
                        errors.append(("quote", st, r))

        q = threading.Thread(target=quoter)
        q.start()
        threads = [threading.Thread(target=lane, args=(k,)) for k in range(LANES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        stop.set()
        q.join(60)
        h.check(not errors, "no request failed: %r" % errors[:5])
        h.check(len(receipts) == LANES * N, "%d sales answered 201" % len(receipts))
        h.check(replays and all(replays), "%d replays got 200 and the first receipt" % len(replays))
        db = env.path("pos-1.db")
        n_sales = env.query(db, "SELECT COUNT(*) FROM sales")[0][0]
        n_ids = env.query(db, "SELECT COUNT(DISTINCT receipt) FROM sales")[0][0]
        n_events = env.query(db, "SELECT COUNT(*) FROM outbox WHERE type = 'sale'")[0][0]
        h.check(n_sales == LANES * N and n_ids == n_sales,
                "exactly %d sales with unique receipts (got %d, %d distinct)"
                % (LANES * N, n_sales, n_ids))
        h.check(n_events == LANES * N, "exactly one sale event per sale (%d)" % n_events)
        ids = {r["id"] for r in receipts.values()}
        h.check(len(ids) == LANES * N, "every lane saw its own receipt id")


if __name__ == "__main__":
    h.main(main)
