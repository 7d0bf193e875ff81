#!/usr/bin/env python3
"""test_dashboard.py - the HQ dashboard in a real browser (headless Chromium).

Starts the hub's HTTP server on a free loopback port over a hub database
holding a small fleet and a day of sales, loads GET / with the token in the
URL fragment, waits for the page's API calls, dumps the DOM and checks that
the figures it shows (fleet sync health, sales heatmap cells, policy
versions per region, open tickets) match what the API returns. Saves a
screenshot under the build directory. The server is `shoal-hub run` when a
broker-less run is not possible, so the test drives the hub's HTTP core
through the test_hub_http program's --serve mode (same code as the hub).
"""
import html.parser
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "dash-token-123"
DAY = "2026-03-02"
DAY_MS = 1772409600000  # 2026-03-02T00:00:00Z


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def main():
    hub = os.environ.get("SHOAL_HUB")
    if not hub:
        print("SHOAL_HUB not set", file=sys.stderr)
        return 1
    build = os.path.dirname(os.path.dirname(os.path.abspath(hub)))
    serve_bin = os.path.join(build, "tests", "test_hub_http")
    chromium = find_chromium()
    if not chromium:
        print("chromium not installed (scripts/deps.sh installs it)", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="shoal-dash-")
    proc = None
    try:
        port = free_port()
        with open(os.path.join(tmp, "token"), "w") as f:
            f.write(TOKEN + "\n")
        with open(os.path.join(tmp, "hub.json"), "w") as f:
            json.dump({"db": "hub.db", "http": {"listen": f"127.0.0.1:{port}",
                                                 "token_file": "token"}}, f)
        proc = subprocess.Popen([serve_bin, "--serve", os.path.join(tmp, "hub.json")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if not line.startswith("ready"):
            print(f"server did not start: {line!r}", file=sys.stderr)
            return 1

        now = int(time.time() * 1000)
        db = sqlite3.connect(os.path.join(tmp, "hub.db"), timeout=10)
        db.executemany(
            "INSERT INTO devices (device, store, region, profile, online, last_hello_ms, "
            "last_seen_ms, last_event_ms, outbox_depth, policy_versions) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            [("pos-1", "S1", "east", "pos", 1, now - 5000, now - 5000, now - 5000, 0,
              '{"global": 3, "region/east": 2}'),
             ("pos-2", "S1", "east", "pos", 1, now - 900000, now - 2000, now - 900000, 17,
              '{"global": 3, "region/east": 2}'),
             ("kiosk-1", "S2", "west", "kiosk", 0, now - 86400000, now - 86400000, None, 4,
              '{"global": 2}'),
             ("hh-1", "S2", "west", "handheld", 1, now - 1000, now - 1000, now - 1000, 0,
              '{"global": 3, "region/west": 1}')])
        for scope, versions in (("global", 3), ("region/east", 2), ("region/west", 1)):
            for v in range(1, versions + 1):
                db.execute("INSERT INTO policies (scope, version, issued_at, doc, envelope, "
                           "published_ms) VALUES (?, ?, 'x', ?, '{}', ?)",
                           (scope, v, json.dumps({"scope": scope}), now))
        sales = [("pos-1", "S1", "east", 9, 1250), ("pos-1", "S1", "east", 9, 3000),
                 ("pos-2", "S1", "east", 14, 99999), ("hh-1", "S2", "west", 9, 500),
                 ("hh-1", "S2", "west", 20, 12345), ("pos-1", "S1", "east", 20, 1)]
        for i, (dev, store, region, hour, total) in enumerate(sales, 1):
            at = DAY_MS + hour * 3600000 + i * 60000
            db.execute("INSERT INTO sales (device, epoch, seq, store, region, at_ms, subtotal, "
                       "discount, rounding, total, body) VALUES (?, '1', ?, ?, ?, ?, ?, 0, 0, ?, "
                       "'{}')", (dev, i, store, region, at, total, total))
        # A sale the day after must not show in the chosen period.
        db.execute("INSERT INTO sales (device, epoch, seq, store, region, at_ms, subtotal, "
                   "discount, rounding, total, body) VALUES ('pos-1', '1', 99, 'S1', 'east', ?, "
                   "7, 0, 0, 7, '{}')", (DAY_MS + 86400000 + 3600000,))
        # Tickets: one breached, one due soon, two ok, one resolved (not open).
        m = 60000
        for tid, state, opened, due, resolved in (
                ("t1", "assigned", now - 90 * m, now - 30 * m, None),
                ("t2", "new", now - 55 * m, now + 5 * m, None),
                ("t3", "on_site", now - 10 * m, now + 50 * m, None),
                ("t4", "new", now - 1 * m, now + 239 * m, None),
                ("t5", "resolved", now - 90 * m, now - 30 * m, now - 40 * m)):
            db.execute("INSERT INTO tickets (id, store, region, state, priority, opened_ms, "
                       "resolve_due_ms, resolved_ms, doc, updated_ms) VALUES (?, 'S1', 'east', ?, "
                       "'normal', ?, ?, ?, '{}', 0)", (tid, state, opened, due, resolved))
        db.commit()
        db.close()

        devices = api(port, "/api/v1/devices")
        hours = api(port, f"/api/v1/reports/sales?by=hour&from={DAY}&to=2026-03-03")
        tickets = api(port, "/api/v1/tickets")

        url = f"http://127.0.0.1:{port}/#token={TOKEN}&from={DAY}&to={DAY}"
        flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={os.path.join(tmp, 'chrome')}",
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
        for h in hours:
            hod = int(h["hour"][11:13])
            expect[(h["region"], hod)] = expect.get((h["region"], hod), 0) + h["total"]
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
            return 1
        print(f"dashboard in headless Chromium shows {len(devices)} devices with the API's sync "
              f"states and outbox depths, {len(expect)} heatmap cells and per-region totals equal "
              f"to /api/v1/reports/sales, policy versions per region, {open_n} open tickets; "
              f"screenshot {shot}")
        return 0
    finally:
        if proc:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
