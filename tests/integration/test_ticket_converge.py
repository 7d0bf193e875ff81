"""test_ticket_converge - two handhelds of one store change the same work
order while offline and converge through the hub. A real Mosquitto, hub and
three agents (two handhelds in chengdu-001, one in another store): a ticket
is opened on handheld A (routed offline from the cached policy: a VIP
customer raises its priority), reaches handheld B through the hub's
P/down/{store}; the broker is stopped; A assigns, scans a work-order code
signed by the hub (verified offline) and books labour, B books labour and a
part, both resolve concurrently; the broker comes back. Afterwards both
handhelds print byte-identical tickets, the same as the hub's merged ticket,
with labour summed across devices, parts per SKU, the concurrent second
resolve ignored, and the settlement to the fen. The other store never sees
the ticket, and scanning its code there is refused (exit 4)."""

import json

import shoal_harness as h
from sync_helpers import Fleet

STORE, REGION = "chengdu-001", "cn-sw"

POLICY = {
    "scope": "region/cn-sw",
    "items": [{"sku": "FAN-BELT", "price": 4500, "cost": 2100}],
    "routing": [
        {"id": "vip", "if": "customer.tier == 'vip'", "set": {"priority": "high", "group": "vip-desk"}},
        {"id": "fridges", "if": "category == 'fridge' and priority != 'high'", "set": {"group": "cold-chain"}},
    ],
    "sla": {"normal": {"respond_min": 60, "resolve_min": 480},
            "high": {"respond_min": 30, "resolve_min": 240}},
    "escalation": [{"after_min": 2880, "group": "supervisors", "priority": "urgent"}],
    "rates": {"labor_per_hour": 9000, "labor_cost_per_hour": 6000,
              "travel": {"cn-sw": 2500}, "late_comp_per_hour": 1500},
}


def agent(f, device, *args, expect=0):
    return h.run_cmd([h.binary("shoal-agent"), "ticket"] + list(args) + ["-c", f.cfgs[device]],
                     expect=expect)


def show(f, device, tid):
    return agent(f, device, "show", "--ticket", tid).out.strip()


def run():
    with h.Env("ticket_converge") as env:
        f = Fleet(env)
        f.start_hub()
        f.add_agent("hh-a", STORE, REGION, modules=("forms", "tickets"), batch=5, start=False)
        f.add_agent("hh-b", STORE, REGION, modules=("forms", "tickets"), batch=5, start=False)
        f.add_agent("hh-x", "shanghai-001", "cn-east", modules=("tickets",), start=False)
        for d in f.cfgs:
            # Each database exists (with its epoch) before its daemon starts.
            f.status(d)
            f.start_agent(d)
        for d in f.cfgs:
            f.wait_connected(d, 30)
        f.publish(env.write_file("tickets-cn-sw.json", POLICY))
        for d in ("hh-a", "hh-b"):
            h.wait_until(lambda d=d: f.status(d)["policies"].get("region/cn-sw") == 1, 20,
                         d + " ticket policy")

        # Opened online on A; routing ran on the device from its cache.
        t = json.loads(agent(f, "hh-a", "open", "--category", "fridge", "--title", "Fridge 3 warm",
                             "--priority", "normal",
                             "--customer", '{"id": "c-88", "tier": "vip", "tags": []}').out)
        tid = t["id"]
        h.check(t["priority"] == "high" and t["group"] == "vip-desk" and t["state"] == "new",
                "routed on the handheld: %r" % t)
        # B learns of it through the hub's merged ticket on P/down/{store}.
        h.wait_until(lambda: agent(f, "hh-b", "show", "--ticket", tid, expect=None).rc == 0, 30,
                     "hh-b to receive the ticket")
        h.wait_until(lambda: env.hub_query("SELECT COUNT(*) FROM tickets WHERE id = ?", (tid,))[0][0] == 1,
                     20, "hub to hold the ticket")
        code = h.run_cmd([h.binary("shoal-hub"), "ticket", "code", "-c", f.hub_cfg, "--ticket", tid],
                         expect=0).out.strip()
        print("opened %s on hh-a, routed to vip-desk/high, seen by hh-b; code %s..." % (tid, code[:40]))

        # Both handhelds offline.
        f.broker.stop()
        for d in f.cfgs:
            h.wait_until(lambda d=d: not f.status(d)["connected"], 20, d + " to notice the outage")
        agent(f, "hh-a", "event", "--ticket", tid, "--kind", "assign", "--tech", "wang",
              "--group", "field-cd")
        agent(f, "hh-a", "scan", "--code", code, "--tech", "wang")
        agent(f, "hh-a", "event", "--ticket", tid, "--kind", "labor", "--minutes", "50", "--tech", "wang")
        # B, offline too, still sees the ticket as new; its work is recorded all the same.
        agent(f, "hh-b", "event", "--ticket", tid, "--kind", "labor", "--minutes", "25", "--tech", "li")
        agent(f, "hh-b", "event", "--ticket", tid, "--kind", "part", "--sku", "FAN-BELT", "--qty", "1")
        agent(f, "hh-b", "event", "--ticket", tid, "--kind", "part", "--sku", "FAN-BELT", "--qty", "1")
        agent(f, "hh-b", "event", "--ticket", tid, "--kind", "note", "--text", "belt worn")
        agent(f, "hh-a", "event", "--ticket", tid, "--kind", "resolve")
        a_off, b_off = json.loads(show(f, "hh-a", tid)), json.loads(show(f, "hh-b", tid))
        h.check(a_off != b_off, "offline, the handhelds hold different views")
        h.check(a_off["state"] == "resolved" and a_off["labor_minutes"] == 50, "hh-a offline: %r" % a_off)
        h.check(b_off["state"] == "new" and b_off["labor_minutes"] == 25, "hh-b offline: %r" % b_off)
        print("offline: hh-a %s/%d min, hh-b %s/%d min" % (a_off["state"], a_off["labor_minutes"],
                                                            b_off["state"], b_off["labor_minutes"]))

        f.broker.start()
        for d in f.cfgs:
            f.wait_connected(d, 30)
        f.wait_drained(["hh-a", "hh-b"], 60)

        def converged():
            a, b = show(f, "hh-a", tid), show(f, "hh-b", tid)
            return a == b and json.loads(a)["events"] == 9
        h.wait_until(converged, 30, "both handhelds to hold the merged ticket")
        a = show(f, "hh-a", tid)
        hub = h.run_cmd([h.binary("shoal-hub"), "ticket", "show", "-c", f.hub_cfg, "--ticket", tid],
                        expect=0).out.strip()
        h.check(json.loads(hub) == json.loads(a), "hub and handhelds agree:\nhub %s\nhh  %s" % (hub, a))
        t = json.loads(a)
        h.check(t["state"] == "resolved", "state %r" % t["state"])
        h.check(t["labor_minutes"] == 75, "labour summed over both devices: %r" % t["labor_minutes"])
        h.check(t["parts"] == [{"sku": "FAN-BELT", "qty": 2}], "parts per SKU: %r" % t["parts"])
        h.check(t["tech"] == "wang" and t["group"] == "field-cd", "assignment: %r" % t)
        # resolved within 240 min of opening: on time. Revenue = ceil(75 * 9000 / 60) + 2 * 4500 + 2500.
        s = t["settlement"]
        h.check(s["late_hours"] == 0, "on time: %r" % s)
        h.check(s["revenue"] == 11250 + 9000 + 2500, "revenue %r" % s)
        h.check(s["cost"] == 7500 + 4200 and s["profit"] == s["revenue"] - s["cost"], "cost %r" % s)

        # Each identity stored once at the hub, whatever the redeliveries.
        rows = env.hub_query("SELECT COUNT(*) FROM ticket_events WHERE ticket = ?", (tid,))
        h.check(rows[0][0] == 9, "hub stored each event once: %r" % rows)

        # The hub's statement for the period carries the ticket per store and technician.
        span = ["--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"]
        st = h.run_json([h.binary("shoal-hub"), "ticket", "statement", "-c", f.hub_cfg] + span)
        row = [r for r in st["stores"] if r["store"] == STORE]
        h.check(row and row[0]["tickets"] == 1 and row[0]["revenue"] == s["revenue"]
                and row[0]["profit"] == s["profit"], "statement per store: %r" % st)
        techs = {r["tech"]: r for r in st["techs"]}
        h.check(techs.get("wang", {}).get("labor_minutes") == 50
                and techs.get("li", {}).get("labor_minutes") == 25
                and techs["wang"]["labor_revenue"] == 7500, "statement per technician: %r" % st)
        csv = h.run_cmd([h.binary("shoal-hub"), "ticket", "statement", "-c", f.hub_cfg, "--format",
                         "csv"] + span, expect=0).out.splitlines()
        h.check(csv[0].startswith("kind,store,tech,") and
                "store,%s,,1,75,%d," % (STORE, s["revenue"]) in csv[1], "CSV statement: %r" % csv)

        # The other store never saw it, and cannot check in with its code.
        h.check(agent(f, "hh-x", "show", "--ticket", tid, expect=None).rc == 3,
                "another store does not receive the ticket")
        r = agent(f, "hh-x", "scan", "--code", code, expect=4)
        h.check("another store" in r.err, "foreign-store scan refused: %r" % r.err)
        # A handheld that was away when the hub published catches up when it returns.
        f.agents["hh-b"].stop()
        agent(f, "hh-a", "event", "--ticket", tid, "--kind", "close")
        f.wait_drained(["hh-a"], 30)
        h.wait_until(lambda: env.hub_query("SELECT state FROM tickets WHERE id = ?", (tid,))[0][0]
                     == "closed", 20, "hub to merge the close")
        f.start_agent("hh-b")
        f.wait_connected("hh-b", 30)
        h.wait_until(lambda: show(f, "hh-b", tid) == show(f, "hh-a", tid), 30,
                     "hh-b to catch up after reconnecting")
        h.check(json.loads(show(f, "hh-b", tid))["state"] == "closed", "hh-b sees the close")
        print("converged: hh-a == hh-b == hub (%d events, %d min labour, revenue %d, profit %d); "
              "foreign store refused" % (t["events"], t["labor_minutes"], s["revenue"], s["profit"]))


if __name__ == "__main__":
    h.main(run)
