#!/usr/bin/env python3
"""test_dashboard.py - the HQ dashboard in a real browser (headless Chromium).

Starts a broker and `shoal-hub run` with the HTTP API on a free loopback
port, publishes policies through POST /api/v1/policies, feeds a fleet over
MQTT (hello, presence, a day of sales, work orders against an SLA), then
loads GET / with the token in the URL fragment, lets the page make its API
calls, dumps the DOM and checks that the figures it shows (fleet sync
health and outbox depths, sales heatmap cells and per-region totals, open
tickets by SLA state, policy versions per region) match what the API
returns. Saves a screenshot as <build>/dashboard.png.
"""
import html.parser
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import shoal_harness as h

TOKEN = "test-token"  # what the harness writes into the token file
DAY = "2026-03-02"


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def api(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Dom(html.parser.HTMLParser):
    """Collects the text of elements carrying data-* attributes, keyed by
    the data attributes of the element and of its nearest tagged row."""

    def __init__(self):
        super().__init__()
        self.stack = []  # (tag, attrs)
        self.cells = []  # (row attrs, cell attrs, text)
        self.body = {}
        self._text = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        self.stack.append((tag, a, []))

    def handle_endtag(self, tag):
        while self.stack:
            t, a, text = self.stack.pop()
            content = "".join(text).strip()
            if self.stack:
                self.stack[-1][2].append(content)
            if any(k.startswith("data-") for k in a) and t != "tr":
                row = next((ra for (rt, ra, _) in reversed(self.stack) if rt == "tr"), {})
                self.cells.append((row, a, content))
            if t == "tr" or t == tag:
                if t == "tr":
                    self.cells.append((a, {"row": "1"}, content))
                if t == tag:
                    break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2].append(data)

    def find(self, row_key, row_val, cell_key, cell_val=None):
        for row, cell, text in self.cells:
            if row.get(row_key) == row_val and cell_key in cell and \
                    (cell_val is None or cell.get(cell_key) == cell_val):
                return cell, text
        return None, None


def money(fen):
    yuan, rest = divmod(abs(fen), 100)
    return ("-" if fen < 0 else "") + f"{yuan:,}.{rest:02d}"


def post_policy(port, doc):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/policies", method="POST",
                                 data=json.dumps(doc).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Device:
    """Events of one simulated device under one epoch, gapless seqs."""

    def __init__(self, env, store, device, region):
        self.env, self.store, self.device, self.region = env, store, device, region
        self.epoch, self.seq = h.new_epoch(), 0

    def send(self, etype, body, hlc=None):
        self.seq += 1
        self.env.publish(h.up_topic(self.store, self.device),
                         h.event(self.device, self.store, self.epoch, self.seq, etype, body, hlc=hlc))

    def hello(self, policies, outbox_depth, profile):
        self.send("hello", {"profile": profile, "region": self.region, "policies": policies,
                            "outbox_pending": outbox_depth, "agent_version": "0.1.0"})

    def presence(self, online):
        self.env.publish(h.topic("presence", self.store, self.device), json.dumps({"online": online}),
                         retain=True)

    def sale(self, hour, minute, total):
        at = "%sT%02d:%02d:00+00:00" % (DAY, hour, minute)
        self.send("sale", h.sale_body(self.store, self.region, total=total, at=at))

    def ticket(self, tid, kind, at_ms, **fields):
        body = dict(ticket=tid, kind=kind, **fields)
        if kind == "open":
            body.update(store=self.store, region=self.region)
        self.send("ticket", body, hlc=(at_ms << 16))


def main():
    hub = os.environ.get("SHOAL_HUB")
    if not hub:
        print("SHOAL_HUB not set", file=sys.stderr)
        return 1
    build = os.path.dirname(os.path.dirname(os.path.abspath(hub)))
    chromium = find_chromium()
    if not chromium:
        print("chromium not installed (scripts/deps.sh installs it)", file=sys.stderr)
        return 1
    with h.Env("dashboard") as env:
        env.start_broker()
        cfg = env.hub_config(http=True)
        with open(cfg) as f:
            port = int(json.load(f)["http"]["listen"].rsplit(":", 1)[1])
        env.start_hub(cfg)
        h.wait_until(lambda: h.port_open(port), 10, "HTTP API listening")
        now = int(time.time() * 1000)

        # Policies through the API: global v1..v3 (with an SLA for tickets),
        # region/east v1..v2, region/west v1.
        sla = {"normal": {"respond_min": 10, "resolve_min": 60}}
        for v in (1, 2, 3):
            h.check(post_policy(port, {"scope": "global", "sla": sla})["version"] == v, "global v%d" % v)
        for v in (1, 2):
            post_policy(port, {"scope": "region/east"})
        post_policy(port, {"scope": "region/west"})

        # The fleet, over MQTT: hello (versions applied, outbox) and presence.
        pos1 = Device(env, "S1", "pos-1", "east")
        pos2 = Device(env, "S1", "pos-2", "east")
        kiosk = Device(env, "S2", "kiosk-1", "west")
        hh = Device(env, "S2", "hh-1", "west")
        pos1.hello({"global": 3, "region/east": 2}, 0, "pos")
        pos2.hello({"global": 3, "region/east": 2}, 17, "pos")
        kiosk.hello({"global": 2}, 4, "kiosk")
        hh.hello({"global": 3, "region/west": 1}, 0, "handheld")
        # A day of sales; one on the next day must not show in the period.
        for dev, hour, minute, total in ((pos1, 9, 5, 1250), (pos1, 9, 40, 3000),
                                         (pos2, 14, 1, 99999), (hh, 9, 12, 500),
                                         (hh, 20, 59, 12345), (pos1, 20, 0, 1)):
            dev.sale(hour, minute, total)
        pos1.send("sale", h.sale_body("S1", "east", total=7, at="2026-03-03T01:00:00+00:00"))
        # Work orders against the SLA (resolve in 60 min): one breached, one
        # due soon, two in time, one cancelled (not open).
        m = 60000
        for tid, opened in (("t1", now - 90 * m), ("t2", now - 55 * m), ("t3", now - 10 * m),
                            ("t4", now - 1 * m), ("t5", now - 90 * m)):
            pos1.ticket(tid, "open", opened, category="repair", priority="normal",
                        title="Fridge " + tid)
        pos1.ticket("t5", "cancel", now - 80 * m)
        h.wait_until(lambda: env.hub_db_count("events") == pos1.seq + pos2.seq + kiosk.seq + hh.seq,
                     20, "every event stored")
        for dev, online in ((pos1, True), (pos2, True), (kiosk, False), (hh, True)):
            dev.presence(online)
        h.wait_until(lambda: env.hub_db_count("devices", "online = 1") == 3, 10, "presence recorded")
        # pos-2 has been connected with a backlog and no progress for 15 min.
        env.hub_sql("UPDATE devices SET last_hello_ms = ?, last_event_ms = ? WHERE device = 'pos-2'",
                    (now - 15 * m, now - 15 * m))

        devices = api(port, "/api/v1/devices")
        hours = api(port, f"/api/v1/reports/sales?by=hour&from={DAY}&to=2026-03-03")
        tickets = api(port, "/api/v1/tickets")

        url = f"http://127.0.0.1:{port}/?token={TOKEN}#token={TOKEN}&from={DAY}&to={DAY}"
        flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={env.path('chrome')}",
                 "--virtual-time-budget=10000", "--window-size=1400,1100"]
        out = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0 or "<body" not in out.stdout:
            print(out.stderr[-2000:], file=sys.stderr)
            print("chromium --dump-dom failed", file=sys.stderr)
            return 1
        dom = Dom()
        dom.feed(out.stdout)
        problems = []
        if dom.body.get("data-state") != "ready":
            problems.append(f"page state {dom.body.get('data-state')!r}, not ready")

        # Fleet: every device with the sync state and outbox depth of the API.
        for d in devices:
            cell, _ = dom.find("data-device", d["device"], "data-sync")
            if not cell or cell["data-sync"] != d["sync"]:
                problems.append(f"{d['device']}: sync shown {cell and cell['data-sync']}, "
                                f"API {d['sync']}")
            _, text = dom.find("data-device", d["device"], "data-field", "outbox_depth")
            if text != str(d["outbox_depth"]):
                problems.append(f"{d['device']}: outbox shown {text}, API {d['outbox_depth']}")
        want = {"pos-1": "ok", "pos-2": "not_syncing", "kiosk-1": "offline", "hh-1": "ok"}
        got = {d["device"]: d["sync"] for d in devices}
        if got != want:
            problems.append(f"API sync states {got}, expected {want}")

        # Heatmap: per region and hour of day, the API's totals in yuan.
        expect = {}
        for row in hours:
            hod = int(row["hour"][11:13])
            expect[(row["region"], hod)] = expect.get((row["region"], hod), 0) + row["total"]
        if expect != {("east", 9): 4250, ("east", 14): 99999, ("west", 9): 500,
                      ("west", 20): 12345, ("east", 20): 1}:
            problems.append(f"API hour report unexpected: {expect}")
        for (region, hod), total in expect.items():
            cell, text = dom.find("data-region", region, "data-hour", str(hod))
            if not cell or cell.get("data-fen") != str(total) or text != money(total):
                problems.append(f"heatmap {region} {hod}:00 shows {text!r}, API {money(total)}")
        for region in ("east", "west"):
            total = sum(v for (r, _), v in expect.items() if r == region)
            _, text = dom.find("data-region", region, "data-field", "total")
            if text != money(total):
                problems.append(f"heatmap {region} total shows {text!r}, API {money(total)}")

        # Policy versions per region.
        for region, g, r, current in (("east", "v3", "v2", "2 / 2"), ("west", "v3", "v1", "1 / 2")):
            for field, val in (("global", g), ("region", r), ("current", current)):
                _, text = dom.find("data-region", region, "data-field", field)
                if text != val:
                    problems.append(f"policies {region} {field} shows {text!r}, want {val!r}")

        # Open tickets: the count shown equals the API's open tickets.
        open_n = sum(1 for t in tickets if t.get("state") not in ("resolved", "closed", "cancelled"))
        _, text = dom.find("data-sla", "total", "data-field", "count")
        if text != str(open_n) or open_n != 4:
            problems.append(f"open tickets shows {text!r}, API {open_n}, want 4")
        by_sla = {}
        for t in tickets:
            if t.get("state") not in ("resolved", "closed", "cancelled"):
                by_sla[t["sla_state"]] = by_sla.get(t["sla_state"], 0) + 1
        if by_sla != {"breached": 1, "due_soon": 1, "ok": 2}:
            problems.append(f"API SLA states {by_sla}")
        for sla, n in by_sla.items():
            _, text = dom.find("data-sla", sla, "data-field", "count")
            if text != str(n):
                problems.append(f"tickets {sla} shows {text!r}, API {n}")

        shot = os.path.join(build, "dashboard.png")
        subprocess.run(flags + [f"--screenshot={shot}", url], capture_output=True, timeout=120)
        if not os.path.exists(shot) or os.path.getsize(shot) < 1000:
            problems.append("no screenshot written")

        if problems:
            for p in problems:
                print("FAIL:", p, file=sys.stderr)
            env.dump_logs()
            return 1
        print(f"dashboard in headless Chromium shows {len(devices)} devices with the API's sync "
              f"states and outbox depths, {len(expect)} heatmap cells and per-region totals equal "
              f"to /api/v1/reports/sales, policy versions per region, {open_n} open tickets; "
              f"screenshot {shot}")
        return 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        h._stop_all()
    sys.exit(rc)
