"""Hub HTTP API and webhooks against a real broker and `shoal-hub run`
(SPEC 8, 10): every route answers per the contract (401 without the token,
404 for an unknown route, 413 for an oversized body, JSON errors), POST
/api/v1/policies versions and signs like `shoal-hub publish` and the hub
puts the envelope on the retained policy topic, settlement from the API
equals `shoal-hub settle` (JSON and CSV, hand-computed marginal tiers), and a
webhook receiver that is down while sales are ingested gets every sale
exactly once after its outage ends, each with a valid X-Shoal-Signature,
while ingest is never held up by it."""

import datetime
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import shoal_harness as h

TOKEN = "test-token"
SECRET = b"webhook-secret-42"


class Receiver:
    """A webhook endpoint on 127.0.0.1: absent (connection refused) until
    start(), then answers 503 to its first `fail_first` requests."""

    def __init__(self, port, fail_first=2):
        self.port, self.fail_first = port, fail_first
        self.lock = threading.Lock()
        self.deliveries = []  # (headers dict, body bytes)
        self.refused = 0
        self.server = None

    def start(self):
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rcv.lock:
                    if rcv.refused < rcv.fail_first:
                        rcv.refused += 1
                        status = 503
                    else:
                        rcv.deliveries.append((dict(self.headers), body))
                        status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def call(port, method, path, token=TOKEN, body=None, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=body,
                                 headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def expect_error(port, method, path, status, **kw):
    code, ctype, body = call(port, method, path, **kw)
    h.check(code == status, "%s %s: %d, want %d (%r)" % (method, path, code, status, body[:200]))
    h.check(ctype.startswith("application/json") and "error" in json.loads(body),
            "%s %s: JSON error body, got %r" % (method, path, body[:200]))


def oversized_post(port):
    """Announces a body over the limit and waits for 100 Continue (as curl
    does): the hub answers 413 at once, before any of the body is sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(("POST /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                   % (TOKEN, 9 * 1024 * 1024)).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0]


def test():
    with h.Env("http_api") as env:
        env.start_broker()
        rport = h.free_port()
        secret = env.write_file("hook.secret", SECRET.decode() + "\n")
        cfg = env.hub_config(http=True, webhooks=[
            {"url": "http://127.0.0.1:%d/hook" % rport, "events": ["sale"], "secret_file": secret}])
        port = int(json.load(open(cfg))["http"]["listen"].rsplit(":", 1)[1])
        env.start_hub(cfg)
        h.wait_until(lambda: h.port_open(port), 10, "HTTP API listening")
        acks = env.subscribe(h.PREFIX + "/ack/#")
        receiver = Receiver(rport)

        # 1. Sales arrive while the webhook receiver is down: ingest and acks
        #    go on, the deliveries wait in the durable queue.
        dev = h.SimDevice(env, "s1", "pos-1", region="cn-sw", acks=acks)
        dev.send(dev.make(8, total=1000))
        h.wait_until(lambda: dev.upto() == 8, 15, "all 8 sales acked with the receiver down")
        h.wait_until(lambda: env.hub_db_count("webhook_queue") == 8, 10, "8 deliveries queued")
        time.sleep(2.0)  # some failed attempts against the absent receiver
        h.check(env.hub_db_count("webhook_queue") == 8, "nothing lost while down")
        print("receiver down: 8 sales ingested and acked, 8 deliveries queued")

        # 2. The outage ends: every sale arrives exactly once, signed.
        receiver.start()
        try:
            h.wait_until(lambda: len(receiver.deliveries) >= 8, 60, "8 webhook deliveries")
            time.sleep(1.0)
            with receiver.lock:
                got = list(receiver.deliveries)
        finally:
            receiver.stop()
        seqs = []
        for hdrs, body in got:
            want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            h.check(hmac.compare_digest(hdrs.get("X-Shoal-Signature", ""), want),
                    "signature verifies: %r" % hdrs.get("X-Shoal-Signature"))
            h.check(hdrs.get("Content-Type") == "application/json", "JSON content type")
            ev = json.loads(body)
            h.check(ev["device"] == "pos-1" and ev["type"] == "sale", "a sale envelope: %r" % ev)
            seqs.append(ev["seq"])
        h.check(sorted(seqs) == list(range(1, 9)), "every sale exactly once: %r" % sorted(seqs))
        h.check(receiver.refused == 2, "the 503 phase was retried")
        h.check(env.hub_db_count("webhook_queue") == 0, "queue drained")
        h.check(env.hub_db_count("webhook_dead") == 0, "nothing given up")
        print("outage over: all 8 sales delivered once each, HMAC-SHA256 signatures verified")

        # 3. Routes, auth and errors.
        code, ctype, body = call(port, "GET", "/healthz", token=None)
        h.check(code == 200, "healthz without a token")
        code, ctype, body = call(port, "GET", "/metrics", token=None)
        text = body.decode()
        h.check(code == 200 and ctype.startswith("text/plain"), "metrics without a token")
        for line in ('shoal_ingest_events_total{type="sale"} 8', "shoal_webhook_queue_depth 0",
                     "shoal_devices_online", "shoal_dead_letters_total 0",
                     "shoal_ingest_events_per_second", "shoal_webhook_failures_total"):
            h.check(line in text, "metrics has %r" % line)
        h.check("shoal_webhook_failures_total 0" not in text, "failed attempts counted")
        for path in ("/api/v1/devices", "/api/v1/tickets", "/api/v1/reports/sales?by=store",
                     "/api/v1/settlement?from=2026-01-01&to=2026-01-02"):
            expect_error(port, "GET", path, 401, token=None)
            expect_error(port, "GET", path, 401, token="nope")
        expect_error(port, "POST", "/api/v1/policies", 401, token=None, body=b"{}")
        expect_error(port, "GET", "/api/v1/nope", 404)
        expect_error(port, "GET", "/nope", 404, token=None)
        expect_error(port, "GET", "/api/v1/reports/sales?by=galaxy", 400)
        status = oversized_post(port)
        h.check(b" 413 " in status, "oversized body, answered before it is sent: %r" % status)
        # A client that sends its whole body before reading (urllib) still
        # gets the status, not a broken pipe.
        big = b" " * (9 * 1024 * 1024)
        expect_error(port, "POST", "/api/v1/policies", 413, body=big)
        expect_error(port, "POST", "/api/v1/policies", 401, token=None, body=big)
        expect_error(port, "POST", "/api/v1/nope", 404, body=b"{}" * 1000)
        # The app shell is public and holds no data (SPEC 14); the API needs the token.
        code, ctype, body = call(port, "GET", "/", token=None)
        h.check(code == 200 and ctype.startswith("text/html") and b"Shoal HQ" in body, "dashboard page")
        devices = json.loads(call(port, "GET", "/api/v1/devices")[2])
        h.check([d["device"] for d in devices] == ["pos-1"], "fleet lists pos-1: %r" % devices)
        h.check(json.loads(call(port, "GET", "/api/v1/tickets")[2]) == [], "no tickets yet")
        print("routes: healthz/metrics/app shell public, 401 without token, 404 unknown, 413 oversized, 400 bad query")

        # 4. POST a policy: validated, versioned, signed, retained on the topic.
        policies = env.subscribe(h.PREFIX + "/policy/#")
        doc = {"scope": "global", "settlement": {
            "schemes": {"franchise": {"mode": "marginal",
                                      "tiers": [{"upto": 5000, "bp": 1000}, {"bp": 500}]},
                        "direct": {"mode": "flat", "tiers": [{"upto": 5000, "bp": 1000}, {"bp": 500}]}},
            "stores": {"s1": "franchise", "s2": "direct"}}}
        for v in (1, 2):
            code, _, body = call(port, "POST", "/api/v1/policies", body=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"})
            h.check(code == 200 and json.loads(body) == {"scope": "global", "version": v},
                    "POST policy -> version %d: %d %r" % (v, code, body))
        bad = {"scope": "global", "settlement": {"schemes": {"x": {"mode": "teleport", "tiers": [{"bp": 1}]}}}}
        code, _, body = call(port, "POST", "/api/v1/policies", body=json.dumps(bad).encode())
        h.check(code == 400 and "error" in json.loads(body), "invalid policy is 400: %d %r" % (code, body))
        code, _, body = call(port, "POST", "/api/v1/policies", body=b"{not json")
        h.check(code == 400, "bad JSON is 400")
        h.check(env.hub_db_count("policies") == 2, "nothing recorded for refused documents")
        h.wait_until(lambda: any(json.loads(p).get("version") == 2
                                 for p in policies.payloads(h.PREFIX + "/policy/global")),
                     15, "version 2 on the retained global topic")
        print("POST /api/v1/policies: versions 1, 2 signed and on the broker; invalid docs 400")

        # 5. Settlement and sales reports; API equals the CLI.
        today = datetime.datetime.now(datetime.timezone.utc).date()
        frm, to = (today - datetime.timedelta(days=1)).isoformat(), (today + datetime.timedelta(days=1)).isoformat()
        other = h.SimDevice(env, "s2", "kiosk-1", region="cn-sw", acks=acks)
        other.send(other.make(2, total=3000))  # s2 = 6000, flat: 6000 x 5% = 300
        h.wait_until(lambda: other.upto() == 2, 15, "s2 sales acked")
        code, _, body = call(port, "GET", "/api/v1/settlement?from=%s&to=%s" % (frm, to))
        rows = {r["store"]: r for r in json.loads(body)}
        h.check(code == 200, "settlement 200")
        # s1 = 8000 marginal: 5000 x 10% + 3000 x 5% = 500 + 150
        h.check(rows["s1"]["scheme"] == "franchise" and rows["s1"]["sales_total"] == 8000
                and rows["s1"]["commission"] == 650, "s1 settlement: %r" % rows["s1"])
        h.check(rows["s2"]["scheme"] == "direct" and rows["s2"]["commission"] == 300,
                "s2 settlement: %r" % rows["s2"])
        cli = env.hub("settle", "-c", cfg, "--from", frm, "--to", to, expect=0).json()
        h.check(cli == json.loads(body), "API and shoal-hub settle agree")
        code, ctype, csv = call(port, "GET", "/api/v1/settlement?from=%s&to=%s" % (frm, to),
                                headers={"Accept": "text/csv"})
        h.check(ctype.startswith("text/csv") and b"s1,cn-sw,franchise,8000,650\n" in csv, "CSV: %r" % csv)
        expect_error(port, "GET", "/api/v1/settlement", 400)
        by_store = json.loads(call(port, "GET", "/api/v1/reports/sales?by=store&from=%s&to=%s" % (frm, to))[2])
        h.check({r["store"]: (r["count"], r["total"]) for r in by_store} == {"s1": (8, 8000), "s2": (2, 6000)},
                "sales by store: %r" % by_store)
        by_region = json.loads(call(port, "GET", "/api/v1/reports/sales?by=region")[2])
        h.check(by_region == [{"region": "cn-sw", "count": 10, "total": 14000, "returns": 0, "net": 14000}],
                "by region: %r" % by_region)
        print("settlement: s1 franchise 650, s2 direct 300 fen (API == CLI, CSV too); sales reports match")


h.main(test)
