"""The hub's HTTP API survives slow clients (issue 16): a real `shoal-hub
run` with http.listen on 127.0.0.1.

Proves, each failing on the hub before the fix:
1. Per-address limit: 80 connections from one address (127.0.0.2) that
   trickle a header byte every second do not keep /healthz (asked from
   127.0.0.1) from answering within a few seconds; the server refuses that
   address's connections past HUB_HTTP_PER_IP_MAX.
2. Reserved probe slots: 96 trickling connections from 8 addresses fill the
   general limit, yet /healthz and /metrics answer within a few seconds.
3. Total request deadline: a connection that trickles its headers (one byte
   a second: the idle timeout never fires) and one that trickles its body
   are both closed by the server at the receive deadline, not kept open.
4. The server still works afterwards (an authenticated API call answers).
Linux routes all of 127.0.0.0/8 to loopback, so the attack binds its
sources there; nothing leaves the machine."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import shoal_harness as h

TOKEN = "test-token"
PER_IP_MAX = 32        # HUB_HTTP_PER_IP_MAX
RECV_MAX_S = 10        # HUB_HTTP_RECV_MAX_S


def get(port, path, timeout, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def answers_within(port, path, seconds, tries_for=20.0):
    """True when one GET path answers 200 in under `seconds`, trying for up
    to tries_for seconds (a refused or timed-out try is retried)."""
    end = time.time() + tries_for
    last = None
    while time.time() < end:
        t0 = time.time()
        try:
            st, _ = get(port, path, timeout=seconds)
            if st == 200 and time.time() - t0 < seconds:
                return True, time.time() - t0
            last = "status %d" % st
        except OSError as e:
            last = repr(e)
        time.sleep(0.2)
    return False, last


class Trickler:
    """One connection from source address src that sends a request line,
    then one more byte every `interval` seconds; records whether and when
    the server closed it (or refused it)."""

    def __init__(self, port, src, body=False, interval=1.0):
        self.port, self.src, self.body, self.interval = port, src, body, interval
        self.opened_at = None
        self.closed_at = None   # seconds after open when the server cut it
        self.refused = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        if self.body:
            head = (b"POST /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    + TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n")
            first, rest = head, b" " * 100000
        else:
            first = b"GET /healthz HTTP/1.1\r\n"
            rest = b"X-Slow: " + b"a" * 100000
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                         source_address=(self.src, 0))
        except OSError:
            self.refused = True
            return
        self.opened_at = time.time()
        s.settimeout(0.2)
        try:
            s.sendall(first)
            i = 0
            while not self.stop.is_set() and i < len(rest):
                s.sendall(rest[i:i + 1])
                i += 1
                # A closed connection shows up as EOF / reset on read.
                t_end = time.time() + self.interval
                while time.time() < t_end and not self.stop.is_set():
                    try:
                        if s.recv(4096) == b"":
                            raise ConnectionResetError("eof")
                    except socket.timeout:
                        pass
        except OSError:
            self.closed_at = time.time() - self.opened_at
        finally:
            s.close()

    def start(self):
        self.thread.start()
        return self

    def halt(self):
        self.stop.set()
        self.thread.join(10)


def attack(port, sources, per_source, body=False):
    ts = []
    for src in sources:
        for _ in range(per_source):
            ts.append(Trickler(port, src, body=body).start())
            time.sleep(0.005)
    return ts


def main():
    with h.Env("hub_http_slow") as env:
        env.start_broker()
        cfg = env.hub_config(http=True)
        port = int(json.load(open(cfg))["http"]["listen"].rsplit(":", 1)[1])
        env.start_hub(cfg)
        h.check(answers_within(port, "/healthz", 3)[0], "healthz answers before any attack")

        # --- 1. one address, 80 trickling connections
        ts = attack(port, ["127.0.0.2"], 80)
        time.sleep(3)  # all of them connected and trickling
        ok, info = answers_within(port, "/healthz", 3)
        h.check(ok, "healthz answers in < 3 s while one address trickles 80 connections (%s)" % (info,))
        held = sum(1 for t in ts if t.opened_at and t.closed_at is None and not t.refused)
        h.log("one address: %d of 80 connections held open" % held)
        h.check(held <= PER_IP_MAX, "at most %d connections held for one address, saw %d"
                % (PER_IP_MAX, held))
        for t in ts:
            t.halt()

        # --- 2. 8 addresses x 12 trickling connections fill the general limit
        ts = attack(port, ["127.0.0.%d" % i for i in range(10, 18)], 12)
        time.sleep(3)
        for path in ("/healthz", "/metrics"):
            ok, info = answers_within(port, path, 3)
            h.check(ok, "%s answers in < 3 s while 96 connections from 8 addresses trickle (%s)"
                    % (path, info))
        for t in ts:
            t.halt()

        # --- 3. the total receive deadline: a trickled header and a trickled body
        slow = [Trickler(port, "127.0.0.30").start(), Trickler(port, "127.0.0.31", body=True).start()]
        h.wait_until(lambda: all(t.closed_at is not None or t.refused for t in slow),
                     RECV_MAX_S + 25, "trickling header and body connections cut by the server")
        for t, what in zip(slow, ("header", "body")):
            h.check(not t.refused, "the %s trickler was let in" % what)
            h.log("%s trickler cut after %.1f s" % (what, t.closed_at))
            h.check(t.closed_at >= RECV_MAX_S - 1, "the %s trickler was not cut before the deadline "
                    "(%.1f s)" % (what, t.closed_at))
        for t in slow:
            t.halt()

        # --- 4. still serving
        st, body = get(port, "/api/v1/devices", 10, token=TOKEN)
        h.check(st == 200, "an API call answers after the attacks: %d %r" % (st, body[:200]))


h.main(main)
