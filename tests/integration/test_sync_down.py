"""test_sync_down - hub-to-device messages on P/down: a work order opened on
the Chengdu POS travels up as a ticket event, the hub merges it and sends it
down to the store, and the Chengdu handheld (tickets module) converges on
it through its daemon; the Shanghai POS, another store, never sees it.
Garbage on the down topic is logged and ignored."""

import shoal_harness as h
from sync_helpers import Fleet


def tickets(f, dev):
    out = h.run_json([h.binary("shoal-agent"), "ticket", "list", "-c", f.cfgs[dev]])
    items = out if isinstance(out, list) else out.get("tickets", [])
    return {t["id"]: t for t in items}


def run():
    with h.Env("sync_down") as env:
        f = Fleet(env)
        f.start_hub()
        mods = ("pricing", "sales", "forms", "tickets")
        f.add_agent("pos-cd-1", "chengdu-001", "cn-sw", modules=mods)
        f.add_agent("scan-cd-1", "chengdu-001", "cn-sw", modules=("forms", "tickets"))
        f.add_agent("pos-sh-1", "shanghai-001", "cn-east", modules=mods)
        f.publish_catalog(wait_for=list(f.cfgs))
        env.publish(h.topic("down_store", "chengdu-001"), b"{not an envelope")

        t = h.run_json([h.binary("shoal-agent"), "ticket", "open", "-c", f.cfgs["pos-cd-1"],
                        "--category", "equipment", "--priority", "high",
                        "--title", "Sealer jammed"])
        tid = t["id"]
        h.wait_until(lambda: tid in tickets(f, "scan-cd-1"), 30,
                     "the ticket to reach the Chengdu handheld through the hub")
        got = tickets(f, "scan-cd-1")[tid]
        h.check(got.get("title") == "Sealer jammed" and got.get("state") == "new",
                "handheld's copy: %r" % got)
        h.check(tid not in tickets(f, "pos-sh-1"), "Shanghai never sees a Chengdu ticket")
        h.check(all(p.alive() for p in f.agents.values()), "agents survived junk on down topics")
        print("ticket %s opened on pos-cd-1 reached scan-cd-1 via the hub's P/down/chengdu-001; "
              "not pos-sh-1" % tid)
        print("PASS test_sync_down")


if __name__ == "__main__":
    h.main(run)
