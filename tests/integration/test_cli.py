#!/usr/bin/env python3
"""CLI contract (SPEC 2, 3): --help on every subcommand exits 0, an unknown
subcommand exits 2, a config with an unknown key exits non-zero naming the key
on one stderr line, --version prints the version, and status works with no
daemon running."""
import json, os, subprocess, sys, tempfile

import shoal_harness as h

AGENT = os.environ["SHOAL_AGENT"]
HUB = os.environ["SHOAL_HUB"]
SRC = os.environ["SHOAL_SOURCE_DIR"]
check = h.Checks()


def run(*args, stdin=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, input=stdin)




for prog, subs in ((AGENT, ["run", "price", "sale", "status", "form", "ticket", "policy"]),
                   (HUB, ["run", "keygen", "publish", "report", "ticket", "settle", "provision",
                          "broker-config"])):
    name = os.path.basename(prog)
    r = run(prog, "--help")
    check(r.returncode == 0 and "usage" in r.stdout, "%s --help exits 0 with usage" % name)
    r = run(prog, "--version")
    check(r.returncode == 0 and r.stdout.startswith(name), "%s --version" % name)
    r = run(prog, "frobnicate")
    check(r.returncode == 2 and "frobnicate" in r.stderr, "%s unknown subcommand exits 2" % name)
    r = run(prog)
    check(r.returncode == 2, "%s with no arguments exits 2" % name)
    # SPEC 2: "Errors go to stderr as one line `shoal-agent: error: <what>`".
    one_line = lambda r: (len(r.stderr.splitlines()) == 1 and r.stdout == ""
                          and r.stderr.startswith(name + ": error: "))
    check(one_line(r), "%s with no arguments: one stderr error line" % name)
    for sub in (["form", "ticket"] if prog == AGENT else ["ticket", "report"]):
        r = run(prog, sub)
        check(r.returncode == 2 and one_line(r),
              "%s %s with no subcommand exits 2 with one stderr error line (%r)" % (name, sub, r.stderr))
    for sub in subs:
        r = run(prog, sub, "--help")
        check(r.returncode == 0 and r.stdout.strip() != "", "%s %s --help exits 0" % (name, sub))

with tempfile.TemporaryDirectory() as d:
    profile = os.path.join(SRC, "firmware-profiles", "pos-terminal.json")
    good = {"device": "pos-1", "store": "cd-001", "region": "cn-sw", "profile": profile, "db": "agent.db"}
    with open(os.path.join(d, "good.json"), "w") as f:
        json.dump(good, f)
    bad = dict(good, colour="blue")
    with open(os.path.join(d, "bad.json"), "w") as f:
        json.dump(bad, f)
    r = run(AGENT, "status", "-c", os.path.join(d, "bad.json"))
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(r.returncode != 0 and len(lines) == 1 and "colour" in lines[0]
          and lines[0].startswith("shoal-agent: error: "),
          "status with an unknown config key fails naming it on one line (%d: %s)" % (r.returncode, r.stderr.strip()))
    r = run(AGENT, "status", "-c", os.path.join(d, "good.json"))
    ok = r.returncode == 0
    st = json.loads(r.stdout) if ok else {}
    check(ok and st.get("device") == "pos-1" and st.get("store") == "cd-001" and st.get("region") == "cn-sw"
          and st.get("profile") == "pos-terminal" and st.get("policies") == {} and st.get("outbox_pending") == 0
          and st.get("connected") is False,
          "status prints the SPEC fields with no daemon running")
    check(os.path.exists(os.path.join(d, "agent.db")), "relative db path resolves beside the config")
    r = run(AGENT, "status")
    check(r.returncode == 2, "status without -c is a usage error (2)")
    r = run(AGENT, "status", "-c", os.path.join(d, "missing.json"))
    check(r.returncode != 0 and "missing.json" in r.stderr, "a missing config file is named")

check.done()
