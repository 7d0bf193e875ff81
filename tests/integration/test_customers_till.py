"""Members at the till (SPEC 13) with a real broker, hub and two agents:
- a member earns points online: the basket's member_code names the
  customer, the gold-tier rule applies, the receipt's member block shows the
  points earned and the hub's balance follows;
- the member redeems offline at till 1 (its daemon stopped): points pay as
  method `points` worth redeem_points x redeem_value; the same code again at
  till 1 is refused (exit 4), as are forged, malformed, expired (a code
  issued under code_ttl_s 1, at the end) and another chain's codes (the
  same text signed with another hub's key), and redeem_points over the
  code's points (exit 3);
- a second till spends the same code (no device can know of an offline
  till's redemption): accepted per SPEC 13's one-redemption-per-device rule,
  and the hub books it as an overdraft (per customer and in /metrics);
- after till 1 reconnects the ledger converges to the exact sum;
- a work order naming the member, opened at a till, reaches the store's
  handheld with customer_history (the member's purchases, newest first);
- a second till that CAN know refuses: once till 1's sale with a new code
  reaches the hub, the hub announces the code on the store's down topic,
  till 2 records it and refuses the code (exit 4, "already used at another
  device of this store"); no second overdraft, the ledger stays exact;
- the agents' database files (and WAL) hold no customer name or phone."""

import base64
import glob
import json
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

import shoal_harness as h

TOKEN = "test-token"
NAME, PHONE = "Zhang Min", "+8613911112222"


def call(port, method, path, obj=None):
    body = json.dumps(obj).encode() if obj is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=body)
    req.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def sell(cfg, basket, expect=None):
    return h.run_cmd([h.binary("shoal-agent"), "sale", "-c", cfg, "--basket", "-"],
                     input=json.dumps(basket), expect=expect)


def test():
    with h.Env("customers-till") as env:
        env.start_broker()
        env.hub_config(http=True)
        env.start_hub()
        port = int(json.load(open(env.hub_cfg))["http"]["listen"].split(":")[1])
        policy = {"scope": "global", "currency": "CNY",
                  "items": [{"sku": "TEA-1", "name": "Tea", "price": 5000}],
                  "rules": [{"id": "gold10", "type": "percent", "bp": 1000,
                             "when": {"tiers": ["gold"]}}],
                  "loyalty": {"earn_per": 100, "redeem_value": 10, "code_ttl_s": 600,
                              "grace_s": 3600}}
        st, _ = call(port, "POST", "/api/v1/policies", policy)
        h.check(st == 200, "policy published")
        till1 = env.agent_config("till-1", "s1", "cn-sw")
        till2 = env.agent_config("till-2", "s1", "cn-sw")
        hh = env.agent_config("hh-1", "s1", "cn-sw", profile="handheld-scanner")
        env.start_agent(hh)
        a1 = env.start_agent(till1)
        a2 = env.start_agent(till2)
        for cfg in (till1, till2):
            h.wait_until(lambda: h.run_json([h.binary("shoal-agent"), "status", "-c", cfg])
                         ["policies"].get("global") == 1, what="policy at " + cfg)
        st, _ = call(port, "POST", "/api/v1/customers",
                     {"id": "M1", "name": NAME, "phone": PHONE, "tier": "gold", "tags": ["tea"]})
        h.check(st == 201, "member registered")

        # --- earn online: a 0-point code only names the member
        st, c0 = call(port, "POST", "/api/v1/customers/M1/code", {})
        h.check(st == 201 and c0["points"] == 0, "code issued: %s" % c0)
        basket = {"region": "cn-sw", "store": "s1", "member_code": c0["code"],
                  "lines": [{"sku": "TEA-1", "qty": 2}]}
        r = sell(till1, basket, expect=0).json()
        h.check(r["total"] == 9000 and r["member"] == {"id": "M1", "tier": "gold",
                                                      "points_earned": 90, "points_redeemed": 0},
                "gold price and points earned: %s" % r)
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/M1")[1]["points"] == 90,
                     what="hub balance 90")

        # --- redeem offline at till 1
        st, code = call(port, "POST", "/api/v1/customers/M1/code", {"points": 50})
        h.check(st == 201, "50-point code issued")
        a1.stop()
        redeem = dict(basket, member_code=code["code"], redeem_points=40,
                      lines=[{"sku": "TEA-1", "qty": 1}])
        r = sell(till1, dict(redeem, redeem_points=51), expect=3)
        h.check("redeem_points" in r.err, "over the code's points refused: %s" % r.err)
        r = sell(till1, redeem, expect=0).json()
        pays = {p["method"]: p["amount"] for p in r["payments"]}
        h.check(r["total"] == 4500 and pays == {"points": 400, "cash": 4100}
                and r["member"]["points_redeemed"] == 40 and r["member"]["points_earned"] == 41,
                "offline redemption: %s" % r)
        r = sell(till1, redeem, expect=4)
        h.check("already used" in r.err, "same code again on till 1 refused: %s" % r.err)
        forged = code["code"].replace(".50.", ".500.")
        r = sell(till1, dict(redeem, member_code=forged), expect=4)
        h.check("signature" in r.err, "forged code refused: %s" % r.err)
        r = sell(till1, dict(redeem, member_code="SHOALM1.M1.gold"), expect=4)
        h.check("malformed" in r.err, "malformed code refused: %s" % r.err)
        # Another chain's code: the same text signed with another hub's key.
        other = h.hub_cmd("keygen", "--out", env.path("other-chain"), expect=0)
        text = code["code"].rsplit(".", 1)[0]
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign",
                              os.path.join(env.path("other-chain"), "policy-key.pem")],
                             input=text.encode(), stdout=subprocess.PIPE, check=True).stdout
        foreign = text + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")
        r = sell(till1, dict(redeem, member_code=foreign), expect=4)
        h.check("another chain" in r.err, "other chain's code refused: %s (%s)" % (r.err, other.rc))

        # --- a second till spends the same code while till 1 is offline
        r = sell(till2, redeem, expect=0).json()
        sale2 = r["id"]
        h.check(r["member"]["points_redeemed"] == 40, "till 2 accepts (one use per device)")
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/M1")[1]["points"] == 90 - 40 + 41,
                     what="till 2's redemption reached the hub")
        c = call(port, "GET", "/api/v1/customers/M1")[1]
        h.check(c["reserved"] == 0 and c["overdrafts"] == 0,
                "first redemption to arrive ends the reservation: %s" % c)

        # --- till 1 reconnects: its redemption is the overdraft; converged
        a1 = env.start_agent(till1)
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/M1")[1]["overdrafts"] == 1,
                     what="till 1's redemption booked as an overdraft")
        c = call(port, "GET", "/api/v1/customers/M1")[1]
        h.check(c["points"] == 90 - 40 + 41 - 40 + 41, "ledger converged: %s" % c["points"])
        kinds = [e["kind"] for e in c["timeline"]]
        h.check(kinds.count("sale") == 3, "three sales on the timeline: %s" % kinds)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as m:
            h.check("shoal_loyalty_overdraft_total 1" in m.read().decode(), "overdraft metric")

        # --- returns: earned points reversed in proportion, redeemed refunded
        bal = c["points"]
        ret = h.run_cmd([h.binary("shoal-agent"), "return", "-c", till2, "--sale", sale2,
                         "--lines", "-"], input=json.dumps([{"sku": "TEA-1", "qty": 1}]),
                        expect=0).json()
        h.check(ret["refund"] == 4500 and ret["member"] == {"id": "M1", "points_reversed": 41,
                                                            "points_refunded": 40},
                "full return gives back every point: %s" % ret)
        h.wait_until(lambda: call(port, "GET", "/api/v1/customers/M1")[1]["points"] == bal - 41 + 40,
                     what="return booked at the hub")
        c = call(port, "GET", "/api/v1/customers/M1")[1]
        h.check([e["kind"] for e in c["timeline"]].count("return") == 1, "return on the timeline")

        # --- a work order for the member carries the history to the handheld
        opened = h.run_cmd([h.binary("shoal-agent"), "ticket", "open", "-c", till2,
                            "--category", "repair", "--priority", "normal", "--title", "kettle",
                            "--customer", json.dumps({"id": "M1", "tier": "gold", "tags": ["tea"]})],
                           expect=0).json()
        tid = opened["id"]

        def hh_ticket():
            r = h.run_cmd([h.binary("shoal-agent"), "ticket", "show", "-c", hh, "--ticket", tid])
            return r.json() if r.rc == 0 and "customer_history" in r.out else None
        t = h.wait_until(hh_ticket, timeout=30, what="ticket with history on the handheld")
        hist = t["customer_history"]
        h.check(len(hist) == 3 and all(x["sku"] == "TEA-1" and x["channel"] == "pos" for x in hist)
                and [x["at"] for x in hist] == sorted([x["at"] for x in hist], reverse=True),
                "three purchases, newest first: %s" % hist)
        h.check(NAME not in json.dumps(t) and PHONE not in json.dumps(t), "no PII in the ticket")

        # --- a second till that can know refuses: till 1 (online) spends a
        #     new code; the hub announces it to store s1; till 2 refuses it.
        st, code3 = call(port, "POST", "/api/v1/customers/M1/code", {"points": 20})
        h.check(st == 201, "20-point code issued")
        before = call(port, "GET", "/api/v1/customers/M1")[1]
        use = dict(basket, member_code=code3["code"], redeem_points=20,
                   lines=[{"sku": "TEA-1", "qty": 1}])
        r = sell(till1, use, expect=0).json()
        earned = r["member"]["points_earned"]
        h.check(r["member"]["points_redeemed"] == 20, "till 1 redeems code 3: %s" % r["member"])

        def till2_knows():
            con = sqlite3.connect("file:%s?mode=ro" % env.path("till-2.db"), uri=True, timeout=10)
            try:
                return con.execute("SELECT sale FROM member_redemptions WHERE nonce = ?",
                                   (code3["nonce"],)).fetchall() == [("",)]
            finally:
                con.close()
        h.wait_until(till2_knows, timeout=30, what="till 2 told that code 3 is spent")
        r = sell(till2, use, expect=4)
        h.check("already used at another device of this store" in r.err,
                "till 2 refuses the spent code: %s" % r.err)
        r = sell(till1, use, expect=4)
        h.check("already used on this device" in r.err, "till 1's own use stays its own: %s" % r.err)
        c = call(port, "GET", "/api/v1/customers/M1")[1]
        h.check(c["overdrafts"] == 1 and c["reserved"] == 0
                and c["points"] == before["points"] - 20 + earned,
                "no second overdraft, ledger exact: %s" % {k: c[k] for k in ("points", "reserved",
                                                                            "overdrafts")})
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as m:
            h.check("shoal_loyalty_overdraft_total 1" in m.read().decode(), "overdraft metric still 1")

        # --- an expired code: code_ttl_s 1 at the hub, the till refuses it (exit 4)
        st, _ = call(port, "POST", "/api/v1/policies",
                     dict(policy, loyalty=dict(policy["loyalty"], code_ttl_s=1)))
        h.check(st == 200, "policy v2 with code_ttl_s 1")
        st, short = call(port, "POST", "/api/v1/customers/M1/code", {})
        h.check(st == 201, "short-lived code issued")
        time.sleep(2.5)
        r = sell(till2, dict(basket, member_code=short["code"]), expect=4)
        h.check("expired" in r.err, "expired code refused: %s" % r.err)

        # --- no PII on any device
        a1.stop()
        a2.stop()
        files = [f for d in ("till-1", "till-2", "hh-1") for f in glob.glob(env.path(d + ".db*"))]
        h.check(any(f.endswith("-wal") for f in files) or files, "agent db files: %s" % files)
        for f in files:
            data = open(f, "rb").read()
            for secret in (NAME, PHONE, PHONE[1:], "Zhang"):
                h.check(secret.encode() not in data, "%s holds %r" % (f, secret))
        h.check(b"M1" in open(env.path("till-1.db"), "rb").read() or
                any(b"M1" in open(f, "rb").read() for f in files),
                "the scan reads real data (the member id is there)")


if __name__ == "__main__":
    h.main(test)
