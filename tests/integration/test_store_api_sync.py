#!/usr/bin/env python3
"""Store API with a real broker and hub (SPEC 4, 11, 12): a till watching
GET /v1/events sees `sync` turn connected, a `policy` event when HQ
publishes a new version (and the new price at once), and `sync` turn
disconnected when the broker goes away; sales and a return made through
the API while online and offline reach the hub exactly once each.
env: SHOAL_AGENT, SHOAL_HUB, SHOAL_SOURCE_DIR."""

import json

import shoal_harness as h
from store_api import EventStream, StoreApi

N_ONLINE, N_OFFLINE = 15, 15
DOC = {"scope": "region/cn-sw", "currency": "CNY",
       "items": [{"sku": "MT-001", "categories": ["tea"], "price": 2800},
                 {"sku": "CK-001", "categories": ["dessert"], "price": 1800}]}


def main():
    with h.Env("store-api-sync") as env:
        env.start_broker()
        hub_cfg = env.hub_config()
        env.start_hub(hub_cfg)
        cfg = env.agent_config("pos-1", "cd-001", "cn-sw")
        listen = json.load(open(cfg))["local_api"]["listen"]
        env.hub("publish", "-c", hub_cfg, "--policy", env.write_file("r1.json", DOC), expect=0)
        env.start_agent(cfg)
        h.wait_until(lambda: h.port_open(int(listen.rsplit(":", 1)[1])), 20, "store API")
        api = StoreApi(listen)
        es = EventStream(listen)
        es.wait_for(lambda n, d: n == "sync" and d["connected"] is True, 30, "sync connected")
        h.wait_until(lambda: api.get("/v1/products/MT-001")[0] == 200, 30, "region v1 in effect")

        doc2 = dict(DOC, items=[dict(DOC["items"][0], price=3000), DOC["items"][1]])
        env.hub("publish", "-c", hub_cfg, "--policy", env.write_file("r2.json", doc2), expect=0)
        es.wait_for(lambda n, d: n == "policy" and d == {"scope": "region/cn-sw", "version": 2},
                    30, "policy event for region/cn-sw v2")
        st, p = api.get("/v1/products/MT-001")
        h.check(st == 200 and p["base_price"] == 3000, "the new price is served: %r" % p)

        def sell(i):
            st, r = api.post("/v1/sales", {"region": "cn-sw", "store": "cd-001",
                                           "request_id": "t1-%04d" % i,
                                           "lines": [{"sku": "MT-001", "qty": 1}]})
            h.check(st == 201, "sale %d: %r %r" % (i, st, r))
            return r["id"]

        ids = [sell(i) for i in range(N_ONLINE)]
        env.broker.stop()
        es.wait_for(lambda n, d: n == "sync" and d["connected"] is False, 30, "sync disconnected")
        ids += [sell(N_ONLINE + i) for i in range(N_OFFLINE)]
        # A replay while offline records nothing new.
        st, _ = api.post("/v1/sales", {"region": "cn-sw", "store": "cd-001", "request_id": "t1-0000",
                                       "lines": [{"sku": "MT-001", "qty": 1}]})
        h.check(st == 200, "a replayed request_id answers 200")
        st, ret = api.post("/v1/returns", {"request_id": "r-1", "sale": ids[0],
                                           "lines": [{"sku": "MT-001", "qty": 1}]})
        h.check(st == 201 and ret["refund"] == 3000, "a return offline: %r %r" % (st, ret))
        es.wait_for(lambda n, d: n == "sync" and d["outbox_pending"] >= N_OFFLINE, 30,
                    "sync event with the offline backlog")
        env.broker.start()
        es.wait_for(lambda n, d: n == "sync" and d["connected"] and d["outbox_pending"] == 0, 60,
                    "sync connected with an empty outbox")
        total = N_ONLINE + N_OFFLINE
        h.wait_until(lambda: env.hub_db_count("sales", "device = 'pos-1'") == total, 60,
                     "hub to hold every sale")
        h.wait_until(lambda: env.hub_db_count("returns") == 1, 30, "hub to hold the return")
        h.check(env.hub_db_count("sales", "device = 'pos-1'") == total,
                "the hub holds exactly %d sales" % total)
        n_ids = env.hub_query("SELECT COUNT(DISTINCT receipt) FROM sales WHERE device = 'pos-1'")[0][0]
        h.check(n_ids == total, "each receipt once at the hub (%d)" % n_ids)
        h.check(env.hub_db_count("returns") == 1, "the return once at the hub")
        es.close()


if __name__ == "__main__":
    h.main(main)
