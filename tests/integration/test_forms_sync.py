#!/usr/bin/env python3
"""test_forms_sync - form submissions end to end (SPEC 4.2, 6) with a real
Mosquitto, hub and agent: a submission recorded while the agent is offline
with form version 3 is re-validated at the hub against version 3 although HQ
has published version 4 meanwhile (whose rules it would break), and stored
once; a submission naming a form version the hub never published is
dead-lettered with the reason, acknowledged all the same, and the outbox
drains."""

import json

import shoal_harness as h
from sync_helpers import Fleet

STORE, REGION, DEV = "chengdu-001", "cn-sw", "kiosk-cd-1"


def form(version, max_qty):
    return {"id": "after-sales", "version": version, "title": "After-sales v%d" % version,
            "fields": [
                {"id": "issue", "type": "choice", "required": True,
                 "choices": ["repair", "consult"]},
                {"id": "qty", "type": "int", "min": 1, "max": max_qty, "default": 1},
                {"id": "temp", "type": "decimal", "visible_if": "issue == 'repair'"}]}


def submit(f, data):
    return h.run_json([h.binary("shoal-agent"), "form", "submit", "-c", f.cfgs[DEV],
                       "--form", "after-sales", "--data", "-"], input=json.dumps(data))


def run():
    with h.Env("forms_sync") as env:
        f = Fleet(env)
        f.start_hub()
        f.add_agent(DEV, STORE, REGION, modules=("forms",), start=False)
        f.status(DEV)  # creates the database before the daemon starts
        f.start_agent(DEV)
        f.wait_connected(DEV)
        v1 = env.write_file("global-v1.json", {"scope": "global", "forms": [form(3, 10)]})
        f.publish(v1)
        h.wait_until(lambda: f.status(DEV)["policies"].get("global") == 1, 20,
                     "agent applied global v1")

        # Offline: a submission with form v3 (qty 8 is fine under v3, not under v4).
        f.agents[DEV].stop()
        first = submit(f, {"issue": "repair", "qty": 8, "temp": "-18.50"})
        v2 = env.write_file("global-v2.json", {"scope": "global", "forms": [form(4, 5)]})
        f.publish(v2)
        # A store variant the hub never published (a local development import).
        store_doc = env.write_file("store-local.json",
                                   {"scope": "store/" + STORE, "forms": [form(99, 99)]})
        h.run_cmd([h.binary("shoal-agent"), "policy", "import", "-c", f.cfgs[DEV], store_doc],
                  expect=0)
        second = submit(f, {"issue": "consult", "qty": 50})

        f.start_agent(DEV)
        f.wait_connected(DEV)
        f.wait_drained([DEV], 30)
        h.wait_until(lambda: env.hub_db_count("form_submissions") == 1, 20, "submission stored")
        rows = env.hub_query("SELECT submission, form_id, version, scope, data, store, region "
                             "FROM form_submissions")
        h.check(rows == [(first["id"], "after-sales", 3, "global",
                          '{"issue":"repair","qty":8,"temp":"-18.50"}', STORE, REGION)],
                "hub stored the v3 submission as validated against v3: %r" % rows)
        dead = env.hub_query("SELECT reason FROM dead_letters")
        h.check(len(dead) == 1 and "version 99 was never published" in dead[0][0],
                "the unpublished version is dead-lettered with the reason: %r" % dead)
        h.check(f.status(DEV)["policies"].get("global") == 2, "agent applied global v2 after")
        print("v3 submission made offline accepted against v3 after v4 was published: %s"
              % first["id"])
        print("submission %s naming unpublished v99 dead-lettered: %s" % (second["id"], dead[0][0]))
        print("PASS test_forms_sync")


if __name__ == "__main__":
    h.main(run)
