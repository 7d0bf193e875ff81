"""HQ API of SPEC 14 against a real broker and `shoal-hub run`: every route
x every role (viewer / operator / admin, and the v1 http.token_file as an
admin) is allowed or 403 exactly as the role table says and 401 without a
token; every write is in the audit log with its user and result, refused
ones too; policy history (latest per scope, a scope with its doc, every
version, one version), published_by = the user, ?effective_at= scheduling,
the "unreachable" warning, rollback as a new version, publish warnings
(unpriced SKU, a scope no device reported), the quote preview with drafts,
local-hour sales buckets; invalid UTF-8 and oversized documents refused."""

import json
import urllib.error
import urllib.request

import shoal_harness as h

TOKENS = {"admin": "test-token", "vera": "viewer-token", "otto": "operator-token",
          "ada": "admin2-token"}
ROLE = {"admin": 2, "vera": 0, "otto": 1, "ada": 2}


def call(port, method, path, token=None, body=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def jcall(port, method, path, user="admin", body=None, want=200):
    code, data = call(port, method, path, TOKENS[user], body)
    h.check(code == want, "%s %s as %s: %d, want %d (%r)" % (method, path, user, code, want, data[:300]))
    return json.loads(data) if data else None


REGION = {"scope": "region/cn-sw", "currency": "CNY",
          "items": [{"sku": "TEA-1", "price": 1200}, {"sku": "CAKE", "price": 800}]}
GLOBAL = {"scope": "global", "items": [{"sku": "TEA-1", "price": 1500}]}
BASKET = {"region": "cn-sw", "store": "s1", "at": "2026-06-01T10:00:00+08:00",
          "lines": [{"sku": "TEA-1", "qty": 2}]}

ORDER = {"channel": "tmall", "order_id": "T-1", "status": "paid", "paid_at": "2026-06-01T10:00:00Z",
         "customer": "R1", "lines": [{"sku": "TEA-1", "qty": 1, "total": 1200}], "total": 1200}


def routes():
    """(method, path, body, least role) for every route of the table."""
    return [
        ("GET", "/api/v1/devices", None, 0),
        ("GET", "/api/v1/tickets", None, 0),
        ("GET", "/api/v1/reports/sales?by=region", None, 0),
        ("GET", "/api/v1/settlement?from=2026-01-01&to=2026-01-02", None, 0),
        ("GET", "/api/v1/policies", None, 0),
        ("GET", "/api/v1/policies/region/cn-sw", None, 0),
        ("GET", "/api/v1/policies/region/cn-sw/versions", None, 0),
        ("GET", "/api/v1/policies/region/cn-sw/versions/1", None, 0),
        ("GET", "/api/v1/rollouts", None, 0),
        ("GET", "/api/v1/audit", None, 0),
        ("POST", "/api/v1/policies", GLOBAL, 1),
        ("POST", "/api/v1/policies/region/cn-sw/rollback", {"to": 1}, 1),
        ("POST", "/api/v1/quote", {"basket": BASKET}, 1),
        # a rollout on a store scope, then its actions (abort last)
        ("POST", "/api/v1/rollouts", {"scope": "store/s9", "doc": {"scope": "store/s9"},
                                      "stages": [{"stores": ["s9"]}, {"percent": 100}]}, 1),
        ("POST", "/api/v1/rollouts/{id}/pause", None, 1),
        ("POST", "/api/v1/rollouts/{id}/advance", None, 1),
        ("GET", "/api/v1/rollouts/{id}", None, 0),
        ("POST", "/api/v1/rollouts/{id}/abort", None, 1),
        # SPEC 13: customers, member codes, orders (bearer of an operator;
        # the HMAC signature alternative is test_customers_hub's), repeat report
        ("POST", "/api/v1/customers", {"id": "R1", "phone": "+8613900000001", "tier": "gold"}, 1),
        ("GET", "/api/v1/customers?phone=%2B8613900000001", None, 0),
        ("GET", "/api/v1/customers/R1", None, 0),
        ("POST", "/api/v1/customers/R1/code", {"points": 0}, 1),
        ("POST", "/api/v1/orders", ORDER, 1),
        ("GET", "/api/v1/reports/repeat?by=channel", None, 0),
        ("GET", "/api/v1/reports/repeat?by=hour", None, 0),
    ]


def test():
    with h.Env("hq_api") as env:
        env.start_broker()
        users = []
        for name in ("vera", "otto", "ada"):
            users.append({"name": name, "token_file": env.write_file(name + ".tok", TOKENS[name] + "\n"),
                          "role": {0: "viewer", 1: "operator", 2: "admin"}[ROLE[name]]})
        cfg = env.hub_config(http=True, users=users)
        port = int(json.load(open(cfg))["http"]["listen"].rsplit(":", 1)[1])
        env.start_hub(cfg)
        h.wait_until(lambda: h.port_open(port), 10, "HTTP API listening")
        # A device in region cn-sw, store s1 (a hello), so cn-sw is "reported".
        dev = h.SimDevice(env, "s1", "pos-1", region="cn-sw")
        dev.events[1] = h.event("pos-1", "s1", dev.epoch, 1, "hello",
                                {"profile": "pos-terminal", "region": "cn-sw", "policies": {},
                                 "outbox_pending": 0})
        dev.send([1])
        h.wait_until(lambda: env.hub_db_count("devices", "device = 'pos-1' AND region = 'cn-sw'") == 1,
                     15, "hello stored")

        # --- lifecycle
        r1 = jcall(port, "POST", "/api/v1/policies", "otto", REGION)
        h.check(r1["scope"] == "region/cn-sw" and r1["version"] == 1 and "warnings" not in r1,
                "publish v1, no warnings: %r" % r1)
        sched = jcall(port, "POST", "/api/v1/policies?effective_at=2030-01-01T00:00:00%2B08:00", "otto",
                      dict(REGION, items=[{"sku": "TEA-1", "price": 1100}]))
        h.check(sched["version"] == 2 and "unreachable" not in sched, "v2 scheduled: %r" % sched)
        now = jcall(port, "POST", "/api/v1/policies", "ada",
                    dict(REGION, rules=[{"id": "r-ghost", "type": "percent", "bp": 1000,
                                         "target": {"skus": ["GHOST"]}}]))
        h.check(now["version"] == 3 and now.get("unreachable") == [2],
                "a publish effective now makes scheduled v2 unreachable: %r" % now)
        h.check([w["code"] for w in now.get("warnings", [])] == ["unpriced_sku"],
                "warning: rule on a SKU nobody prices: %r" % now)
        far = jcall(port, "POST", "/api/v1/policies", "otto", {"scope": "region/mars"})
        h.check([w["code"] for w in far.get("warnings", [])] == ["unknown_scope"],
                "warning: a region no device reported: %r" % far)
        lst = jcall(port, "GET", "/api/v1/policies", "vera")
        by = {p["scope"]: p for p in lst}
        h.check(by["region/cn-sw"]["version"] == 3 and by["region/cn-sw"]["published_by"] == "ada"
                and by["region/cn-sw"]["published_at"], "latest per scope with published_by: %r" % lst)
        one = jcall(port, "GET", "/api/v1/policies/region/cn-sw", "vera")
        h.check(one["version"] == 3 and one["doc"]["rules"][0]["id"] == "r-ghost", "scope + doc")
        vs = jcall(port, "GET", "/api/v1/policies/region/cn-sw/versions", "vera")
        h.check([v["version"] for v in vs] == [3, 2, 1] and vs[1]["effective_at"].startswith("2030")
                and [v["published_by"] for v in vs] == ["ada", "otto", "otto"], "versions: %r" % vs)
        v1 = jcall(port, "GET", "/api/v1/policies/region/cn-sw/versions/1", "vera")
        h.check(v1["doc"] == REGION, "version 1's doc: %r" % v1)
        jcall(port, "GET", "/api/v1/policies/region/cn-sw/versions/99", "vera", want=404)
        jcall(port, "GET", "/api/v1/policies/region/nowhere", "vera", want=404)
        rb = jcall(port, "POST", "/api/v1/policies/region/cn-sw/rollback", "otto", {"to": 1})
        h.check(rb["version"] == 4 and rb["rolled_back_to"] == 1, "rollback = new version: %r" % rb)
        h.check(jcall(port, "GET", "/api/v1/policies/region/cn-sw", "vera")["doc"] == REGION,
                "v4 holds v1's document")
        jcall(port, "POST", "/api/v1/policies/region/cn-sw/rollback", "otto", {"to": 77}, want=404)
        jcall(port, "POST", "/api/v1/policies/region/cn-sw/rollback", "otto", {"to": 1, "x": 1}, want=400)
        print("history: publish, schedule, unreachable [2], warnings, versions, rollback as v4")

        # --- quote: the current documents, then a draft replacing region/cn-sw
        q = jcall(port, "POST", "/api/v1/quote", "otto", {"basket": BASKET})
        h.check(q["total"] == 2400 and q["lines"][0]["base_price"] == 1200, "quote now: %r" % q)
        draft = dict(REGION, items=[{"sku": "TEA-1", "price": 990}])
        q = jcall(port, "POST", "/api/v1/quote", "otto", {"basket": BASKET, "drafts": [draft]})
        h.check(q["total"] == 1980, "quote with a draft: %r" % q)
        jcall(port, "POST", "/api/v1/quote", "otto",
              {"basket": dict(BASKET, lines=[{"sku": "NOPE", "qty": 1}])}, want=400)
        jcall(port, "POST", "/api/v1/quote", "otto", {"basket": BASKET, "extra": 1}, want=400)
        print("quote: 2400 with the published documents, 1980 with a draft")

        # --- bad input
        code, _ = call(port, "POST", "/api/v1/policies", TOKENS["otto"], b'{"scope":"global","x":"\xff"}')
        h.check(code == 400, "invalid UTF-8 refused: %d" % code)
        code, _ = call(port, "POST", "/api/v1/policies", TOKENS["otto"],
                       json.dumps({"scope": "global", "items": [{"sku": "S%07d" % i, "price": 1}
                                                                for i in range(400000)]}).encode())
        h.check(code == 413, "an oversized document refused: %d" % code)

        # --- every route x every role
        rid = None
        n = 0
        for method, path, body, least in routes():
            for user in ("vera", "otto", "ada", "admin"):
                p = path.replace("{id}", rid or "none")
                code, data = call(port, method, p, TOKENS[user], json.dumps(body).encode() if body else None)
                if ROLE[user] < least:
                    h.check(code == 403, "%s %s as %s: %d, want 403" % (method, p, user, code))
                else:
                    h.check(code not in (401, 403), "%s %s as %s: %d (%r)" % (method, p, user, code, data[:200]))
                    if method == "POST" and path == "/api/v1/rollouts" and code == 201 and rid is None:
                        rid = json.loads(data)["id"]
                n += 1
            code, _ = call(port, method, path.replace("{id}", rid or "none"), None,
                           json.dumps(body).encode() if body else None)
            h.check(code == 401, "%s %s without a token: %d" % (method, path, code))
            code, _ = call(port, method, path.replace("{id}", rid or "none"), "wrong-token")
            h.check(code == 401, "%s %s with a wrong token: %d" % (method, path, code))
        h.check(rid is not None, "the rollout was created")
        for path in ("/healthz", "/metrics", "/"):
            h.check(call(port, "GET", path)[0] == 200, "%s is public" % path)
        print("role table: %d route x role calls, 403 below the role, 401 without a token" % n)

        # --- audit: every write, refused ones too
        audit = jcall(port, "GET", "/api/v1/audit?limit=1000", "vera")
        h.check(all(set(a) >= {"at", "user", "action", "target", "result"} for a in audit), "audit keys")
        refused = [a for a in audit if a["user"] == "vera" and a["action"] == "policy.publish"]
        h.check(refused and refused[0]["result"].startswith("403"), "a refused publish is audited: %r" % refused)
        anon = [a for a in audit if a["user"] is None and a["result"].startswith("401")]
        h.check(anon, "a write without a token is audited")
        ok = [a for a in audit if a["user"] == "ada" and a["action"] == "policy.publish" and a["result"] == "ok"]
        h.check(ok and ok[-1]["target"] == "region/cn-sw v3", "ada's publish of v3: %r" % ok[-1:])
        bad = [a for a in audit if a["action"] == "policy.publish" and a["result"].startswith("400")]
        h.check(bad, "an invalid publish is audited with its error")
        acts = {a["action"] for a in audit}
        h.check({"rollout.create", "rollout.pause", "rollout.advance", "rollout.abort",
                 "policy.rollback", "quote"} <= acts, "actions: %r" % acts)
        h.check(not any(a["action"].startswith("GET") for a in audit), "reads are not audited")
        print("audit: %d entries, refused writes included" % len(audit))

        # --- sales by local hour
        dev.send(dev.make(1, total=500))
        # (The role table's e-commerce order T-1 is in the sales ledger too,
        # on 2026-06-01: counted apart from pos-1's sales.)
        h.wait_until(lambda: env.hub_db_count("sales", "device = 'pos-1'") == 1, 15, "sale stored")
        rows = [r for r in jcall(port, "GET", "/api/v1/reports/sales?by=hour&tz=%2B08:00", "vera")
                if not r["hour_local"].startswith("2026-06-01")]
        h.check(len(rows) == 1 and rows[0]["hour_local"].endswith("+08:00") and rows[0]["total"] == 500,
                "local-hour bucket: %r" % rows)
        jcall(port, "GET", "/api/v1/reports/sales?by=hour&tz=8", "vera", want=400)

        # --- region/store reports read whole days from the daily rollup and
        #     the partial days at the edges from the sales: the same sums.
        ats = ["2026-03-01T23:30:00+00:00", "2026-03-02T00:00:00+00:00", "2026-03-02T12:00:00+00:00",
               "2026-03-03T05:00:00+00:00", "2026-03-04T00:00:00+00:00", "2026-03-04T08:00:00+08:00"]
        base = len(dev.events)
        for i, at in enumerate(ats):
            dev.events[base + 1 + i] = h.event("pos-1", "s1", dev.epoch, base + 1 + i, "sale",
                                               h.sale_body("s1", "cn-sw", total=100 * (i + 1), at=at))
        dev.send(list(range(base + 1, base + 1 + len(ats))))
        h.wait_until(lambda: env.hub_db_count("sales", "device = 'pos-1'") == 1 + len(ats), 15,
                     "dated sales stored")
        for frm, to, want in (("2026-03-01T23:00:00Z", "2026-03-04T00:00:00Z", 100 + 200 + 300 + 400),
                              ("2026-03-02T00:00:00Z", "2026-03-04T00:00:01Z", 200 + 300 + 400 + 500 + 600),
                              ("2026-03-02T06:00:00Z", "2026-03-02T18:00:00Z", 300),
                              ("2026-03-01", "2026-03-05", 2100)):
            for by in ("region", "store"):
                rows = jcall(port, "GET", "/api/v1/reports/sales?by=%s&from=%s&to=%s" % (by, frm, to), "vera")
                got = sum(r["total"] for r in rows)
                h.check(got == want, "by=%s [%s, %s): %d, want %d (%r)" % (by, frm, to, got, want, rows))
        print("region/store reports: daily rollup + partial edge days = the raw sums")
        env.check_sanitizers()


if __name__ == "__main__":
    h.main(test)
