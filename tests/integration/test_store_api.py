#!/usr/bin/env python3
"""Store API (SPEC 11, 12) against a real `shoal-agent run` with NO broker:
every route answers its status (200/201, 400, 401, 403 wrong store/region
and forged or foreign codes, 404, 405, 409, 413, 422, 503 for a module not
in the profile) with JSON errors {"error", "code"}; every route gives the
same JSON as its CLI twin; the model is swapped when a version is imported
by another process (products and quotes change, an SSE `policy` event
arrives) and `sync` / `ticket` events follow changes; sales are idempotent
by request_id; a kiosk sells on channel kiosk; the API also serves on a
unix socket (mode 0660). env: SHOAL_AGENT, SHOAL_HUB, SHOAL_SOURCE_DIR."""

import json
import os
import socket
import stat

import shoal_harness as h
from store_api import EventStream, StoreApi

TOKEN = "lane-token-1"
check = h.Checks()




GLOBAL = {"scope": "global", "currency": "CNY",
          "items": [{"sku": "MT-001", "name": "Milk tea", "barcode": "6901234567892",
                     "categories": ["tea"], "price": 2800, "tax_bp": 1300},
                    {"sku": "CK-001", "name": "Cake", "categories": ["dessert"], "price": 1800}],
          "rules": [{"id": "kiosk10", "type": "percent", "bp": 1000,
                     "when": {"channels": ["kiosk"]}}],
          "forms": [{"id": "feedback", "version": 1, "title": "Feedback",
                     "fields": [{"id": "stars", "type": "int", "required": True, "min": 1, "max": 5},
                                {"id": "text", "type": "text"}],
                     "on_submit": [{"if": "stars <= 1",
                                    "ticket": {"category": "complaint", "priority": "high",
                                               "title": "Unhappy customer"}}]}]}
BASKET = {"region": "cn-sw", "store": "cd-001",
          "lines": [{"sku": "MT-001", "qty": 2}, {"sku": "CK-001", "qty": 1}]}


def err_ok(st, body, status, what):
    ok = st in status if isinstance(status, tuple) else st == status
    check(ok and isinstance(body, dict) and isinstance(body.get("error"), str)
          and isinstance(body.get("code"), str), "%s -> %s JSON error (got %r %r)"
          % (what, status, st, body))


def main():
    with h.Env("store-api") as env:
        tok = env.write_file("api-token", TOKEN + "\n")
        port = h.free_port()
        listen = "127.0.0.1:%d" % port
        cfg = env.agent_config("pos-1", "cd-001", "cn-sw", local_api=False)
        c = json.load(open(cfg))
        c["local_api"] = {"listen": listen, "token_file": tok}
        h.write_json(cfg, c)
        g = env.write_file("global.json", GLOBAL)
        env.agent("policy", "import", "-c", cfg, g, expect=0)
        agent = env.start_agent(cfg)
        h.wait_until(lambda: h.port_open(port), 20, "store API to listen")
        api = StoreApi(listen, TOKEN)
        anon = StoreApi(listen, None)

        # --- health, auth, routing
        st, body = anon.get("/v1/health")
        check(st == 200 and body == {"ok": True}, "GET /v1/health needs no token: %r %r" % (st, body))
        st, body = anon.get("/v1/status")
        err_ok(st, body, 401, "GET /v1/status without a token")
        st, body = StoreApi(listen, "wrong").get("/v1/status")
        err_ok(st, body, 401, "GET /v1/status with a wrong token")
        st, status = api.get("/v1/status")
        cli = env.agent("status", "-c", cfg, expect=0).json()
        check(st == 200 and status == cli, "GET /v1/status equals `status`: %r vs %r" % (status, cli))
        st, body = api.call("DELETE", "/v1/sales")
        err_ok(st, body, 405, "DELETE /v1/sales")
        st, hdrs, _ = api.raw("PUT", "/v1/quote", body={})
        check(st == 405 and "POST" in hdrs.get("allow", ""), "405 names the allowed method: %r" % hdrs)
        st, body = api.get("/v1/nothing")
        err_ok(st, body, 404, "GET /v1/nothing")

        # --- products
        st, p = api.get("/v1/products/MT-001")
        check(st == 200 and p == {"sku": "MT-001", "name": "Milk tea", "barcode": "6901234567892",
                                  "categories": ["tea"], "base_price": 2800, "tax_bp": 1300},
              "GET /v1/products/MT-001: %r" % p)
        st, p = api.get("/v1/products?barcode=6901234567892")
        check(st == 200 and p and p.get("sku") == "MT-001", "product by barcode: %r %r" % (st, p))
        st, body = api.get("/v1/products/NOPE-1")
        err_ok(st, body, 404, "unknown SKU lookup")
        st, body = api.get("/v1/products?barcode=000")
        err_ok(st, body, 404, "unknown barcode lookup")
        st, body = api.get("/v1/products")
        err_ok(st, body, 400, "GET /v1/products with neither sku nor barcode")

        # --- quote: same JSON as `price -c`, bad input refused with the right status
        basket_at = dict(BASKET, at="2026-11-22T15:30:00+08:00")
        st, q = api.post("/v1/quote", basket_at)
        cliq = env.agent("price", "-c", cfg, "--basket", "-", input=basket_at, expect=0).json()
        check(st == 200 and q == cliq, "POST /v1/quote equals `price -c`: %r vs %r" % (q, cliq))
        check(st == 200 and q.get("total") == 7400, "quote total 2*2800+1800 = 7400: %r" % q)
        for what, body, status in [
                ("malformed JSON", "{\"lines\": [", 400),
                ("a NUL byte inside a string", b'{"lines":[{"sku":"MT-\x00001","qty":1}]}', 400),
                ("an array body", "[]", (400, 422)),
                ("unknown SKU", dict(BASKET, lines=[{"sku": "XX-9", "qty": 1}]), 422),
                ("qty as a string", dict(BASKET, lines=[{"sku": "MT-001", "qty": "2"}]), 422),
                ("qty 0", dict(BASKET, lines=[{"sku": "MT-001", "qty": 0}]), 422),
                ("qty 2.0", '{"lines":[{"sku":"MT-001","qty":2.0}]}', 422),
                ("an unknown basket key", dict(BASKET, colour="red"), 422),
                ("another store's basket", dict(BASKET, store="cd-999"), 403),
                ("another region's basket", dict(BASKET, region="cn-east"), 403)]:
            st, b = api.post("/v1/quote", body)
            err_ok(st, b, status, "POST /v1/quote with " + what)
        st, b = api.post("/v1/quote", "")
        err_ok(st, b, 400, "POST /v1/quote with no body")
        big = '{"lines":[' + ",".join(['{"sku":"MT-001","qty":1}'] * 60000) + "]}"
        st, b = api.post("/v1/quote", big)
        err_ok(st, b, 413, "POST /v1/quote with a %d-byte body" % len(big))
        st, b = api.get("/v1/health")
        check(st == 200, "the connection is usable after a 413")

        # --- sales: 201, durable, idempotent
        sale = dict(BASKET, request_id="till1-0001", payments=[{"method": "cash", "amount": 10000}])
        st, r1 = api.post("/v1/sales", sale)
        check(st == 201 and isinstance(r1, dict) and r1.get("total") == 7400 and r1.get("id"),
              "POST /v1/sales -> 201 receipt: %r %r" % (st, r1))
        check(isinstance(r1, dict) and r1.get("change") == 2600, "cash change 2600: %r" % r1)
        sid = r1.get("id") if isinstance(r1, dict) else None
        n_sales = lambda: env.query(env.path("pos-1.db"), "SELECT COUNT(*) FROM sales")[0][0]
        check(n_sales() == 1, "the sale is in the database when the response arrives")
        st, r2 = api.post("/v1/sales", sale)
        check(st == 200 and r2 == r1, "same request_id, same body -> 200 and the first receipt")
        check(n_sales() == 1, "a replay records nothing")
        st, b = api.post("/v1/sales", dict(sale, lines=[{"sku": "CK-001", "qty": 1}],
                                           payments=[{"method": "card", "amount": 1800}]))
        err_ok(st, b, 409, "same request_id, another body")
        st, b = api.post("/v1/sales", BASKET)
        err_ok(st, b, 422, "POST /v1/sales without request_id")
        st, b = api.post("/v1/sales", dict(BASKET, request_id="bad id/1"))
        err_ok(st, b, 422, "POST /v1/sales with a request_id that is not an identifier")
        st, b = api.post("/v1/sales", dict(sale, request_id="till1-0002",
                                           payments=[{"method": "card", "amount": 100}]))
        err_ok(st, b, 422, "payments that do not add up")
        st, b = api.post("/v1/sales", dict(sale, request_id="till1-0003", store="cd-999"))
        err_ok(st, b, 403, "a sale for another store")
        check(n_sales() == 1, "refused sales record nothing")
        st, rec = api.get("/v1/sales/%s" % sid)
        check(st == 200 and isinstance(rec, dict) and rec.get("id") == sid
              and rec.get("returns") == [], "GET /v1/sales/{id}: %r %r" % (st, rec))
        st, b = api.get("/v1/sales/pos-1-20000101-999")
        err_ok(st, b, 404, "GET of an unknown sale")

        # --- returns
        ret = {"request_id": "till1-r1", "sale": sid, "lines": [{"sku": "MT-001", "qty": 1}]}
        st, rr = api.post("/v1/returns", ret)
        check(st == 201 and isinstance(rr, dict) and rr.get("refund") == 2800,
              "POST /v1/returns -> 201, refund 2800: %r %r" % (st, rr))
        st, rr2 = api.post("/v1/returns", ret)
        check(st == 200 and rr2 == rr, "a replayed return -> 200, same result")
        st, b = api.post("/v1/returns", dict(ret, request_id="till1-r2",
                                             lines=[{"sku": "MT-001", "qty": 2}]))
        err_ok(st, b, 422, "returning more than remains")
        st, b = api.post("/v1/returns", dict(ret, request_id="till1-r3", sale="pos-1-20000101-9"))
        err_ok(st, b, 404, "a return of an unknown sale")
        st, rec = api.get("/v1/sales/%s" % sid)
        check(st == 200 and len(rec.get("returns", [])) == 1, "the receipt lists the return")

        # --- forms: same JSON as the CLI
        st, fl = api.get("/v1/forms")
        check(st == 200 and fl == env.agent("form", "list", "-c", cfg, expect=0).json(),
              "GET /v1/forms equals `form list`: %r" % fl)
        st, fs = api.get("/v1/forms/feedback")
        check(st == 200 and fs == env.agent("form", "show", "-c", cfg, "--form", "feedback",
                                            expect=0).json(), "GET /v1/forms/{id} equals `form show`")
        st, b = api.get("/v1/forms/nope")
        err_ok(st, b, 404, "GET of an unknown form")
        bad = {"stars": 9, "extra": 1}
        st, v = api.post("/v1/forms/feedback/validate", bad)
        cliv = env.agent("form", "validate", "-c", cfg, "--form", "feedback", "--data", "-",
                         input=bad, expect=3).json()
        check(st == 422 and v == cliv, "invalid data -> 422, body as `form validate`: %r" % v)
        st, v = api.post("/v1/forms/feedback/validate", {"stars": 4})
        check(st == 200 and v.get("valid") is True, "valid data -> 200: %r" % v)
        st, b = api.post("/v1/forms/feedback/validate", "{oops")
        err_ok(st, b, 400, "validate with malformed JSON")

        # --- SSE: subscribe now, then watch the changes below arrive
        es = EventStream(listen, TOKEN)
        check(es.status == 200, "GET /v1/events -> 200 text/event-stream")
        es.wait_for(lambda n, d: n == "sync", 10, "initial sync event")
        pending0 = es.of("sync")[-1]["outbox_pending"]

        st, sub = api.post("/v1/forms/feedback/submissions", {"stars": 1, "text": "cold tea"})
        check(st == 201 and isinstance(sub, dict) and sub.get("id") and len(sub.get("tickets", [])) == 1,
              "a submission -> 201 {id, tickets} and opens its ticket: %r" % sub)
        st, b = api.post("/v1/forms/feedback/submissions", {"stars": "x"})
        err_ok(st, b, 422, "an invalid submission")
        es.wait_for(lambda n, d: n == "sync" and d["outbox_pending"] > pending0, 15,
                    "sync event with the new outbox depth")
        tid = sub["tickets"][0]
        es.wait_for(lambda n, d: n == "ticket" and d == {"id": tid}, 15, "ticket event")

        # --- tickets
        st, tl = api.get("/v1/tickets")
        check(st == 200 and tl == env.agent("ticket", "list", "-c", cfg, expect=0).json(),
              "GET /v1/tickets equals `ticket list`")
        st, tl = api.get("/v1/tickets?state=closed")
        check(st == 200 and tl == [], "GET /v1/tickets?state=closed is empty")
        st, t = api.get("/v1/tickets/" + tid)
        check(st == 200 and t.get("id") == tid and t.get("state") == "new", "GET /v1/tickets/{id}")
        st, b = api.get("/v1/tickets/nope-1")
        err_ok(st, b, 404, "GET of an unknown ticket")
        st, b = api.post("/v1/tickets/nope-1/events", {"kind": "assign", "group": "g"})
        err_ok(st, b, 404, "an event on an unknown ticket")
        st, b = api.post("/v1/tickets/%s/events" % tid, {"kind": "close"})
        err_ok(st, b, 422, "close on a new ticket (transition not allowed)")
        st, t = api.get("/v1/tickets/" + tid)
        check(t.get("state") == "new" and not t.get("ignored"), "a refused event leaves nothing: %r" % t)
        st, t = api.post("/v1/tickets/%s/events" % tid, {"kind": "assign", "group": "field",
                                                         "tech": "wang"})
        check(st == 200 and t.get("state") == "assigned", "assign -> 200 ticket: %r %r" % (st, t))
        hub_cfg = env.hub_config()
        code = env.hub("ticket", "code", "-c", hub_cfg, "--ticket", tid, "--store", "cd-001",
                       expect=0).out.strip()
        foreign = env.hub("ticket", "code", "-c", hub_cfg, "--ticket", tid, "--store", "cd-002",
                          expect=0).out.strip()
        st, b = api.post("/v1/tickets/scan", {"code": foreign})
        err_ok(st, b, 403, "scan of another store's code")
        forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
        st, b = api.post("/v1/tickets/scan", {"code": forged})
        err_ok(st, b, 403, "scan of a forged code")
        st, b = api.post("/v1/tickets/scan", {"code": code, "colour": 1})
        err_ok(st, b, 422, "scan with an unknown key")
        st, t = api.post("/v1/tickets/scan", {"code": code, "tech": "wang"})
        check(st == 200 and t.get("state") == "on_site", "scan -> 200, on site: %r %r" % (st, t))

        # --- the model swaps when another process imports a version
        g2 = dict(GLOBAL, items=[dict(GLOBAL["items"][0], price=3000), GLOBAL["items"][1]])
        env.agent("policy", "import", "-c", cfg, env.write_file("global2.json", g2), expect=0)
        es.wait_for(lambda n, d: n == "policy" and d == {"scope": "global", "version": 2}, 15,
                    "policy event for global v2")
        st, p = api.get("/v1/products/MT-001")
        check(st == 200 and p["base_price"] == 3000, "the new price is served after the swap: %r" % p)
        es.close()

        # --- unix socket, kiosk channel, 503 for modules not in the profile
        sock = env.path("api.sock")
        kcfg = env.agent_config("kiosk-1", "cd-001", "cn-sw", profile="kiosk")
        c = json.load(open(kcfg))
        c["local_api"] = {"listen": "unix:" + sock}
        h.write_json(kcfg, c)
        env.agent("policy", "import", "-c", kcfg, g, expect=0)
        # A stale socket file from a crash is replaced.
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        s.close()
        env.start_agent(kcfg)
        h.wait_until(lambda: os.path.exists(sock) and stat.S_IMODE(os.stat(sock).st_mode) == 0o660
                     and h.run_cmd(["true"]).rc == 0 and _unix_ok(sock), 20, "unix socket API")
        check(stat.S_IMODE(os.stat(sock).st_mode) == 0o660, "the socket is mode 0660")
        kapi = StoreApi("unix:" + sock)
        st, q = kapi.post("/v1/quote", BASKET)
        check(st == 200 and q.get("total") == 2 * 2520 + 1620,
              "a kiosk's basket is on channel kiosk (rule kiosk10 applies): %r" % q)
        st, q = api.post("/v1/quote", BASKET)
        check(st == 200 and q.get("total") == 2 * 3000 + 1800, "a till's basket is not: %r" % q)
        st, r = kapi.post("/v1/sales", dict(BASKET, request_id="kiosk-0001"))
        check(st == 201, "a kiosk sells (self-checkout): %r %r" % (st, r))
        st, b = kapi.get("/v1/tickets")
        err_ok(st, b, 503, "tickets on a kiosk (module not in the profile)")
        hcfg = env.agent_config("hh-1", "cd-001", "cn-sw", profile="handheld-scanner")
        hport = int(json.load(open(hcfg))["local_api"]["listen"].rsplit(":", 1)[1])
        env.start_agent(hcfg)
        h.wait_until(lambda: h.port_open(hport), 20, "handheld API")
        hapi = StoreApi("127.0.0.1:%d" % hport)
        for path in ("/v1/quote", "/v1/sales", "/v1/returns"):
            st, b = hapi.post(path, BASKET)
            err_ok(st, b, 503, "POST %s on a handheld" % path)
        st, b = hapi.get("/v1/products/MT-001")
        err_ok(st, b, 503, "GET /v1/products on a handheld")
        st, b = hapi.get("/v1/tickets")
        check(st == 200, "the handheld serves its own modules without a token file")
        check(agent.alive(), "the daemon survived everything")
    check.done()


def _unix_ok(path):
    try:
        st, _ = StoreApi("unix:" + path).get("/v1/health")
        return st == 200
    except OSError:
        return False


if __name__ == "__main__":
    h.main(main)
