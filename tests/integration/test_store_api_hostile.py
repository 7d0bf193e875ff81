#!/usr/bin/env python3
"""Store API against hostile clients (SPEC 11, issue 11 "bad input"), real
`shoal-agent run`, no broker: a table of malformed, mistyped, NUL-laden and
oversized bodies on every POST route gets JSON 4xx errors and writes
nothing; garbage request lines are refused; a body announced past the cap
is 413 before it is read, one streamed past the cap is 413 while reading;
/v1/health keeps answering while 80 connections trickle bytes (slowloris);
a connection that trickles a byte every 500 ms is cut at the total request
deadline (the trickle does not extend it); more connections than the
per-address limit are refused without harming the daemon; with every
general slot held (512 connections from three addresses) /v1/health is
still answered on a reserved probe slot, any other route there is 503, and
a slow client on a reserved slot is cut within 2 s.
env: SHOAL_AGENT, SHOAL_SOURCE_DIR."""

import json
import socket
import threading
import time

import shoal_harness as h
from store_api import StoreApi

DEADLINE_S = 10  # SHOAL_HTTPD_REQUEST_MAX_S
PER_IP_MAX = 256  # SHOAL_HTTPD_PER_IP_MAX
CONN_MAX = 512  # SHOAL_HTTPD_CONN_MAX
PROBE_MAX_S = 2  # SHOAL_HTTPD_PROBE_MAX_MS
check = h.Checks()




GLOBAL = {"scope": "global", "currency": "CNY",
          "items": [{"sku": "MT-001", "categories": ["tea"], "price": 2800}],
          "forms": [{"id": "f", "version": 1, "title": "F",
                     "fields": [{"id": "n", "type": "int", "required": True}]}]}

HOSTILE = [
    b"{", b"}", b"[", b"null", b"true", b"0", b"\"str\"", b"[]", b"{}",
    b"{\"lines\": [}", b"{\"lines\": \"MT-001\"}", b"{\"lines\": [{\"sku\": 1, \"qty\": 1}]}",
    b"{\"lines\": [{\"sku\": \"MT-001\", \"qty\": -1}]}",
    b"{\"lines\": [{\"sku\": \"MT-001\", \"qty\": 1e308}]}",
    b"{\"lines\": [{\"sku\": \"MT-001\", \"qty\": 99999999999999999999}]}",
    b"{\"lines\": [{\"sku\": \"MT-\\u0000001\", \"qty\": 1}]}",
    b"{\"lines\": [{\"sku\": \"MT-\x00001\", \"qty\": 1}]}",
    b"{\"request_id\": \"\\u0000\", \"lines\": [{\"sku\": \"MT-001\", \"qty\": 1}]}",
    b"{\"request_id\": 7, \"lines\": [{\"sku\": \"MT-001\", \"qty\": 1}]}",
    b"{\"sale\": [], \"lines\": {}}", b"{\"kind\": null}", b"{\"code\": 12}",
    b"\xff\xfe\xfd", b"{\"a\":" * 5000 + b"1" + b"}" * 5000,
    b"[" * 100000, b"{\"lines\": [" + b"{\"sku\":\"MT-001\",\"qty\":1}," * 2000 + b"]}",
    b"\"" + b"A" * 500000 + b"\"", b"{\"n\": 1, \"n\": 2}", b" " * 1000,
]
POSTS = ["/v1/quote", "/v1/sales", "/v1/returns", "/v1/forms/f/validate",
         "/v1/forms/f/submissions", "/v1/tickets/scan", "/v1/tickets/x-1/events"]


def counts(env):
    db = env.path("pos-1.db")
    return tuple(env.query(db, "SELECT COUNT(*) FROM %s" % t)[0][0]
                 for t in ("sales", "outbox", "form_submissions", "ticket_events"))


def slow_conn(port, stop, closed_at, idx, start, interval=0.5):
    """Sends a request line, then the rest one byte at a time; records when the
    server closed the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    req = (b"POST /v1/quote HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
           b"Content-Type: application/json\r\n\r\n" + b"{\"lines\": [" + b" " * 999990)
    i = len(b"POST /v1/quote HTTP/1.1\r\n")  # the request line at once, then a trickle
    s.sendall(req[:i])
    try:
        while not stop.is_set() and i < len(req):
            s.sendall(req[i:i + 1])
            i += 1
            time.sleep(interval)
        if stop.is_set():
            return
    except OSError:
        closed_at[idx] = time.time() - start
        return
    finally:
        s.close()


def main():
    with h.Env("store-api-hostile") as env:
        cfg = env.agent_config("pos-1", "cd-001", "cn-sw")
        listen = json.load(open(cfg))["local_api"]["listen"]
        port = int(listen.rsplit(":", 1)[1])
        env.agent("policy", "import", "-c", cfg, env.write_file("g.json", GLOBAL), expect=0)
        agent = env.start_agent(cfg)
        h.wait_until(lambda: h.port_open(port), 20, "store API")
        api = StoreApi(listen)

        # --- the table: every POST route, every hostile body
        before = counts(env)
        bad = []
        for path in POSTS:
            for body in HOSTILE:
                st, hdr, data = api.raw("POST", path, body)
                try:
                    j = json.loads(data)
                except ValueError:
                    j = None
                # validate answers 422 with the `form validate` body itself
                ok = isinstance(j, dict) and ("error" in j or (path.endswith("/validate")
                                                               and j.get("valid") is False))
                if not (400 <= st < 500 and ok and st not in (401, 405)):
                    bad.append((path, body[:40], st, data[:120]))
        check(not bad, "%d hostile bodies x %d routes answered JSON 4xx: %r"
              % (len(HOSTILE), len(POSTS), bad[:5]))
        check(counts(env) == before, "hostile bodies wrote nothing: %r vs %r"
              % (counts(env), before))

        # --- garbage on the wire
        for junk in (b"GARBAGE\r\n\r\n", b"GET /v1/health HTTP/9.9\r\n\r\n",
                     b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                     b"GET /v1/health HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n"):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(junk)
                resp = s.recv(200)
            except OSError:
                resp = b""
            s.close()
            check(resp == b"" or resp[:10] in (b"HTTP/1.1 4", b"HTTP/1.0 4")
                  or resp.startswith(b"HTTP/1.1 505"),
                  "garbage %r refused: %r" % (junk[:24], resp[:40]))

        # --- 413: announced, and while reading (chunked)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /v1/sales HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        resp = s.recv(1000)
        s.close()
        check(resp.startswith(b"HTTP/1.1 413") and b"too_large" in resp,
              "a 10 GB Content-Length is 413 before any body byte: %r" % resp[:60])
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"POST /v1/quote HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 65536
        sent = 0
        try:
            while sent < 3 * 1024 * 1024:
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        resp = s.recv(300)
        s.close()
        check(resp.startswith(b"HTTP/1.1 413"), "a chunked body past the cap is 413: %r" % resp[:60])

        # --- slowloris: 80 trickling connections; health still answers
        stop = threading.Event()
        closed_at = {}
        start = time.time()
        threads = [threading.Thread(target=slow_conn, args=(port, stop, closed_at, i, start),
                                    daemon=True) for i in range(80)]
        for t in threads:
            t.start()
        time.sleep(2)
        lat = []
        for _ in range(20):
            t0 = time.time()
            st, body = StoreApi(listen).get("/v1/health")
            lat.append(time.time() - t0)
            if st != 200:
                check(False, "health answers during the slowloris: %r %r" % (st, body))
        check(all(x < 5 for x in lat), "20 health checks answered while 80 connections trickle "
              "(max %.3f s)" % max(lat))
        # The trickle keeps each connection busy, yet each is cut at the deadline.
        h.wait_until(lambda: len(closed_at) == 80, DEADLINE_S + 20, "trickling connections cut")
        first, last = min(closed_at.values()), max(closed_at.values())
        check(DEADLINE_S - 1 <= first and last <= DEADLINE_S + 8,
              "trickling connections were cut between %.1f and %.1f s (deadline %d s)"
              % (first, last, DEADLINE_S))
        stop.set()

        # --- more connections than one address may hold
        socks, refused = [], 0
        for i in range(PER_IP_MAX + 40):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                refused += 1
        time.sleep(1)
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    refused += 1
            except BlockingIOError:
                pass
            except OSError:
                refused += 1
        check(refused >= 40, "connections past the per-address limit were refused: %d" % refused)
        for s in socks:
            s.close()
        h.wait_until(lambda: StoreApi(listen).get("/v1/health")[0] == 200, 20, "health after the flood")

        # --- every general slot taken: probes are still answered on a reserved slot
        # The kept-alive connection of `api` would hold a general slot until
        # the server's idle timeout (15 s) and then free it mid-check: the
        # flood must be the only thing holding general slots.
        api.close()
        time.sleep(1)
        flood = []
        for i in range(CONN_MAX):
            src = "127.0.0.%d" % (2 + i // 200)  # under the per-address limit each
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
            s.sendall(b"GET /v1/stat")  # a request line that never ends
            flood.append(s)
        time.sleep(1.5)
        t0 = time.time()
        st, body = StoreApi(listen, timeout=10).get("/v1/health")
        check(st == 200, "health answered while %d connections hold every general slot: %r (%.2f s)"
              % (CONN_MAX, st, time.time() - t0))
        st, body = StoreApi(listen, timeout=10).get("/v1/status")
        check(st == 503 and body.get("code") == "unavailable",
              "a non-probe route on a reserved slot is 503 unavailable: %r %r" % (st, body))
        # A slow client that lands on a reserved slot is cut within its short life.
        s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.9", 0))
        t0 = time.time()
        s.sendall(b"GET /v1/hea")
        try:
            got = s.recv(100)
        except OSError:
            got = b""
        cut_after = time.time() - t0
        s.close()
        check(got == b"" and cut_after < PROBE_MAX_S + 2,
              "a slow client on a reserved slot is cut after %.1f s (limit %d s)"
              % (cut_after, PROBE_MAX_S))
        for s in flood:
            s.close()
        h.wait_until(lambda: StoreApi(listen).get("/v1/status")[0] == 200, 20,
                     "general slots free again (/v1/status 200, not 503)")
        check(agent.alive(), "the daemon survived")
    check.done()


if __name__ == "__main__":
    h.main(main)
