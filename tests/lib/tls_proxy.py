"""tls_proxy - a small TLS-terminating reverse proxy for the tests, standing
in for the nginx/haproxy that terminates TLS in front of the hub's plain
HTTP listener in production (docs/field-service.md, "HTTPS uploads").

Listens on a free 127.0.0.1 port with a server certificate, requires a
client certificate that chains to `ca` (ssl.CERT_REQUIRED), and forwards
the decrypted bytes both ways to 127.0.0.1:upstream_port. Only a connection
whose handshake succeeded is ever forwarded: a refused one never reaches the
upstream. Every connection is recorded (peer CN or the handshake error,
bytes each way). Bounded: at most max_conns connections in its lifetime
(later ones are closed unread), every socket has a timeout, stop() closes
everything and joins its threads.

    proxy = TlsProxy(hub_port, "server.crt", "server.key", "ca.crt").start()
    ... proxy.port, proxy.conns(), proxy.set_cert(crt, key) ...
    proxy.stop()
"""

import select
import socket
import ssl
import threading


class TlsProxy:
    def __init__(self, upstream_port, cert, key, ca, max_conns=200, io_timeout=30.0):
        self.upstream_port = upstream_port
        self.ca = ca
        self.max_conns = max_conns
        self.io_timeout = io_timeout
        self._lock = threading.Lock()
        self._ctx = self._context(cert, key)
        self._conns = []    # one dict per accepted connection, in order
        self._socks = []    # every open socket, closed by stop()
        self._threads = []
        self._stop = threading.Event()
        self._ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._ls.bind(("127.0.0.1", 0))
        self._ls.listen(16)
        self._ls.settimeout(0.2)
        self.port = self._ls.getsockname()[1]

    def _context(self, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=self.ca)
        ctx.load_cert_chain(cert, key)
        return ctx

    def set_cert(self, cert, key):
        """Serves cert/key to every connection accepted from now on."""
        ctx = self._context(cert, key)
        with self._lock:
            self._ctx = ctx

    def start(self):
        self._spawn(self._accept)
        return self

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _track(self, s):
        with self._lock:
            self._socks.append(s)
        return s

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                over = len(self._conns) >= self.max_conns
                rec = {"cn": None, "error": None, "up_bytes": 0, "down_bytes": 0,
                       "forwarded": False, "closed": False}
                if not over:
                    self._conns.append(rec)
            if over:
                c.close()
                continue
            self._track(c)
            self._spawn(self._serve, c, rec)

    def _serve(self, raw, rec):
        tls = None
        try:
            raw.settimeout(self.io_timeout)
            with self._lock:
                ctx = self._ctx
            try:
                tls = self._track(ctx.wrap_socket(raw, server_side=True))
            except (ssl.SSLError, OSError) as e:
                rec["error"] = "%s: %s" % (type(e).__name__, e)
                return
            subject = dict(x[0] for x in tls.getpeercert().get("subject", ()))
            rec["cn"] = subject.get("commonName")
            self._pipe(tls, rec)
        except (ssl.SSLError, OSError) as e:
            if rec["error"] is None and not self._stop.is_set():
                rec["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            for s in (tls, raw):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            rec["closed"] = True

    def _pipe(self, tls, rec):
        """One thread per connection (an SSL object is not shared between
        threads): select on both sides, the TLS side's buffered plaintext
        first; either side's EOF ends the connection. The upstream is
        dialled at the client's first byte, so a client that completes the
        handshake and then gives up (curl checks the host name after it)
        never reaches it."""
        up = None
        try:
            while not self._stop.is_set():
                if tls.pending() > 0:
                    ready = [tls]
                else:
                    ready, _, _ = select.select([tls] + ([up] if up else []), [], [], 0.5)
                for s in ready:
                    if s is tls:
                        try:
                            data = tls.recv(65536)
                        except ssl.SSLWantReadError:
                            continue
                        if not data:
                            return
                        if up is None:
                            up = self._track(socket.create_connection(
                                ("127.0.0.1", self.upstream_port), timeout=self.io_timeout))
                            rec["forwarded"] = True
                        up.sendall(data)
                        rec["up_bytes"] += len(data)
                    else:
                        data = up.recv(65536)
                        if not data:
                            return
                        tls.sendall(data)
                        rec["down_bytes"] += len(data)
        finally:
            if up is not None:
                up.close()

    def conns(self):
        """A copy of the connection records so far."""
        with self._lock:
            return [dict(r) for r in self._conns]

    def stop(self):
        self._stop.set()
        try:
            self._ls.close()
        except OSError:
            pass
        with self._lock:
            socks, threads = list(self._socks), list(self._threads)
        for s in socks:
            try:  # wakes a blocked recv/handshake; the serving thread closes it
                socket.socket.shutdown(s, socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(timeout=5)
