#!/usr/bin/env python3
"""shoal-agent form list|show|validate|submit against the device's policy cache
(SPEC 2, 6), offline (no broker). Proves: list/show see the most specific scope's
form; an invalid submission exits 3 with the validation result and stores
nothing; a valid one is stored with its form version and definition, its outbox
event (type "form", body per contract) and its on_submit ticket requests, in one
transaction; a newer form version does not disturb the definition an unsent
submission used; a profile without "forms" is refused with exit 2."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

AGENT = os.environ.get("SHOAL_AGENT", "build/agent/shoal-agent")
SRC = os.environ.get("SHOAL_SOURCE_DIR", ".")

FORM_V3 = {
    "id": "after-sales", "version": 3, "title": "After-sales request",
    "fields": [
        {"id": "issue", "type": "choice", "required": True,
         "choices": ["product_after_sales", "consult"]},
        {"id": "qty", "type": "int", "min": 1, "max": 99, "default": 1},
        {"id": "temp", "type": "decimal", "visible_if": "issue == 'consult'"},
    ],
    "on_submit": [
        {"if": "issue == 'product_after_sales'",
         "ticket": {"category": "after_sales", "priority": "normal", "title": "After-sales visit"}},
    ],
}
FORM_V4 = dict(FORM_V3, version=4, title="After-sales request v4",
               fields=[dict(FORM_V3["fields"][0]), dict(FORM_V3["fields"][1], max=5)])
REGION_FORM = {"id": "inspection", "version": 2, "title": "Inspection (SW)",
               "fields": [{"id": "score", "type": "int", "required": True}]}
GLOBAL_INSPECTION = dict(REGION_FORM, version=1, title="Inspection")


def run(*args, stdin=None):
    r = subprocess.run([AGENT, *args], input=stdin, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def expect(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)


def main():
    with tempfile.TemporaryDirectory() as d:
        def config(name, profile):
            p = os.path.join(d, name + ".json")
            with open(p, "w") as f:
                json.dump({"device": "pos-01", "store": "cd-001", "region": "cn-sw",
                           "db": name + ".db",
                           "profile": os.path.join(SRC, "firmware-profiles", profile + ".json")}, f)
            return p
        cfg = config("pos", "pos-terminal")
        rc, out, err = run("status", "-c", cfg)
        expect(rc == 0, "status creates the database: %s" % err)
        db = sqlite3.connect(os.path.join(d, "pos.db"))

        def publish(scope, version, doc):
            db.execute("INSERT INTO policies (scope, version, issued_at, issued_ms, doc, source, "
                       "received_ms) VALUES (?, ?, '2026-11-01T00:00:00Z', 0, ?, 'import', 0)",
                       (scope, version, json.dumps(doc)))
            db.commit()
        publish("global", 1, {"scope": "global", "forms": [FORM_V3, GLOBAL_INSPECTION]})
        publish("region/cn-sw", 1, {"scope": "region/cn-sw", "forms": [REGION_FORM]})

        rc, out, err = run("form", "list", "-c", cfg)
        expect(rc == 0, "form list: %s" % err)
        listed = json.loads(out)
        expect(listed == [
            {"id": "after-sales", "version": 3, "title": "After-sales request", "scope": "global"},
            {"id": "inspection", "version": 2, "title": "Inspection (SW)", "scope": "region/cn-sw"}],
            "form list shows the winning variants: %r" % listed)
        rc, out, err = run("form", "show", "-c", cfg, "--form", "inspection")
        expect(rc == 0 and json.loads(out) == {"scope": "region/cn-sw", "form": REGION_FORM},
               "form show prints the region variant: %s %s" % (out, err))
        rc, out, err = run("form", "show", "-c", cfg, "--form", "nope")
        expect(rc == 3 and "nope" in err, "form show of an unknown form exits 3: %d %s" % (rc, err))

        # invalid: exit 3, result on stdout, nothing stored
        rc, out, err = run("form", "submit", "-c", cfg, "--form", "after-sales", "--data", "-",
                           stdin='{"issue": "refund", "qty": 3.0}')
        expect(rc == 3, "invalid submit exits 3, got %d (%s)" % (rc, err))
        res = json.loads(out)
        expect(res["valid"] is False and res["errors"] == [
            {"field": "issue", "code": "choice"}, {"field": "qty", "code": "type"}],
            "invalid submit prints the errors: %r" % res)
        expect(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0, "nothing queued")
        rc, out, err = run("form", "validate", "-c", cfg, "--form", "after-sales", "--data", "-",
                           stdin='{"issue": "consult", "temp": "-1.5"}')
        expect(rc == 0 and json.loads(out)["data"] == {"issue": "consult", "qty": 1, "temp": "-1.5"},
               "validate -c uses the cache: %s %s" % (out, err))

        # valid: stored with its outbox event and ticket request
        rc, out, err = run("form", "submit", "-c", cfg, "--form", "after-sales", "--data", "-",
                           stdin='{"issue": "product_after_sales", "qty": 2}')
        expect(rc == 0, "valid submit exits 0: %d %s" % (rc, err))
        res = json.loads(out)
        expect(res["id"] == "pos-01-F1" and isinstance(res["tickets"], list),
               "submit prints id and tickets: %r" % res)
        rows = db.execute("SELECT type, envelope FROM outbox ORDER BY seq").fetchall()
        forms = [json.loads(e) for t, e in rows if t == "form"]
        expect(len(forms) == 1, "one form event queued: %r" % rows)
        body = forms[0]["body"]
        expect(sorted(body) == ["at", "data", "form", "region", "store", "submission", "tickets",
                                "version"], "form event body keys: %r" % sorted(body))
        expect(body["submission"] == "pos-01-F1" and body["form"] == "after-sales"
               and body["version"] == 3 and body["region"] == "cn-sw" and body["store"] == "cd-001"
               and body["data"] == {"issue": "product_after_sales", "qty": 2}
               and body["tickets"] == res["tickets"] and body["at"].endswith("Z"),
               "form event body: %r" % body)
        req = db.execute("SELECT category, priority, title, ticket, error FROM "
                         "form_ticket_requests WHERE submission = 'pos-01-F1'").fetchall()
        expect(len(req) == 1 and req[0][:3] == ("after_sales", "normal", "After-sales visit"),
               "the on_submit ticket request is recorded: %r" % req)
        if res["tickets"]:
            expect(req[0][3] == res["tickets"][0], "opened ticket linked: %r" % req)
            tickets_note = "ticket %s opened" % res["tickets"][0]
        else:
            expect(req[0][3] is None and req[0][4], "unopened ticket kept with reason: %r" % req)
            tickets_note = "ticket request kept (%s)" % req[0][4]

        # a newer version arrives; the unsent submission keeps its definition
        publish("global", 2, {"scope": "global", "forms": [FORM_V4]})
        rc, out, err = run("form", "submit", "-c", cfg, "--form", "after-sales", "--data", "-",
                           stdin='{"issue": "consult"}')
        expect(rc == 0 and json.loads(out)["id"] == "pos-01-F2", "second submit: %s %s" % (out, err))
        defs = db.execute("SELECT s.id, d.version, d.def FROM form_submissions s JOIN form_defs d "
                          "ON d.id = s.form_def ORDER BY s.id").fetchall()
        expect([(s, v) for s, v, _ in defs] == [("pos-01-F1", 3), ("pos-01-F2", 4)]
               and json.loads(defs[0][2]) == FORM_V3,
               "each submission keeps the definition it used: %r" % [(s, v) for s, v, _ in defs])

        # a profile without forms refuses (exit 2)
        kcfg = config("noforms-dev", "handheld-scanner")
        with open(os.path.join(d, "noforms.json"), "w") as f:
            json.dump({"profile": "noforms", "modules": ["pricing"], "cache": {"max_mb": 8},
                       "outbox": {"max_events": 10},
                       "sync": {"keepalive_s": 30, "backoff_min_s": 1, "backoff_max_s": 5,
                                "batch": 10}}, f)
        with open(kcfg) as f:
            c = json.load(f)
        c["profile"] = os.path.join(d, "noforms.json")
        with open(kcfg, "w") as f:
            json.dump(c, f)
        rc, out, err = run("form", "submit", "-c", kcfg, "--form", "after-sales", "--data", "-",
                           stdin="{}")
        expect(rc == 2 and "forms" in err, "no forms module: exit 2, got %d %s" % (rc, err))
        for sub in ("validate", "submit", "list", "show"):
            rc, out, err = run("form", sub, "--help")
            expect(rc == 0 and out.startswith("usage:"), "form %s --help" % sub)
        db.close()
    print("ok: list/show pick the most specific variant; invalid submit exits 3 and stores "
          "nothing; valid submit stores submission + definition + outbox event (%s); unsent "
          "submissions keep their form version; no forms module exits 2" % tickets_note)


if __name__ == "__main__":
    main()
