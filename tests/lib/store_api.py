"""A small client of the agent's store API (SPEC 11) for tests: keep-alive
HTTP/1.1 over TCP or a unix socket, JSON in and out, and a Server-Sent
Events reader. Python stdlib only."""

import http.client
import json
import socket
import threading
import time


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class StoreApi:
    """listen is the agent's local_api.listen ("127.0.0.1:PORT" or
    "unix:/path"); token the bearer token (None: no header)."""

    def __init__(self, listen, token=None, timeout=30):
        self.listen, self.token, self.timeout = listen, token, timeout
        self.conn = None

    def _connect(self):
        if self.listen.startswith("unix:"):
            return _UnixConnection(self.listen[5:], timeout=self.timeout)
        host, port = self.listen.rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=self.timeout)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def raw(self, method, path, body=None, headers=None, token=True):
        """Sends one request; body bytes/str/obj (obj is JSON-encoded).
        Returns (status, headers dict, body bytes). Reconnects once when a
        kept-alive connection was closed by the server."""
        hdrs = dict(headers or {})
        if token and self.token:
            hdrs.setdefault("Authorization", "Bearer " + self.token)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine,
                    BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, method, path, body=None, **kw):
        """Returns (status, parsed JSON or None)."""
        st, _, data = self.raw(method, path, body, **kw)
        try:
            return st, json.loads(data) if data else None
        except ValueError:
            return st, data

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.call("POST", path, body, **kw)


class EventStream:
    """Reads GET /v1/events on its own connection in a thread; events are
    (name, data dict) in arrival order."""

    def __init__(self, listen, token=None):
        self.api = StoreApi(listen, token, timeout=120)
        self.events = []
        self.lock = threading.Lock()
        self.closed = False
        self.status = None
        conn = self.api._connect()
        hdrs = {"Authorization": "Bearer " + token} if token else {}
        conn.request("GET", "/v1/events", headers=hdrs)
        self.resp = conn.getresponse()
        self.status = self.resp.status
        self.conn = conn
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        name, data = None, []
        try:
            while True:
                line = self.resp.fp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "":
                    if name is not None:
                        try:
                            obj = json.loads("\n".join(data))
                        except ValueError:
                            obj = "\n".join(data)
                        with self.lock:
                            self.events.append((name, obj))
                    name, data = None, []
        except (OSError, ValueError, http.client.HTTPException):
            pass
        self.closed = True

    def of(self, name):
        with self.lock:
            return [d for n, d in self.events if n == name]

    def wait_for(self, pred, timeout=30, what="event"):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                for n, d in self.events:
                    if pred(n, d):
                        return d
            time.sleep(0.05)
        raise AssertionError("no %s within %ss; got %r" % (what, timeout, self.events))

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
