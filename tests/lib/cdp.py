"""cdp - drive headless Chromium over the DevTools protocol with the Python
standard library only (a minimal RFC 6455 WebSocket client), for the
dashboard's browser tests.

    with cdp.Browser(workdir) as b:
        b.goto("http://127.0.0.1:%d/" % port)
        b.type("#login-token", "secret"); b.click("#login button[type=submit]")
        b.wait("document.body.dataset.state === 'ready'", 20, "page ready")
        b.screenshot(path)

Input goes through Input.dispatchMouseEvent / Input.insertText at the
element's on-screen position, as a user's would (a hidden or covered element
cannot be clicked). JavaScript dialogs (confirm) are accepted. Exceptions
thrown by the page are collected in .errors; the test decides. Every wait is
bounded in time. Chromium listens on 127.0.0.1 only (port picked by itself).
"""

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class _WebSocket:
    def __init__(self, url, timeout=30):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (m.group(3), m.group(1), m.group(2), key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError("websocket handshake refused: %r" % status)
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    def send(self, text):
        data = text.encode()
        hdr = bytearray([0x81])
        n = len(data)
        if n < 126:
            hdr.append(0x80 | n)
        elif n < 65536:
            hdr.append(0x80 | 126)
            hdr += struct.pack(">H", n)
        else:
            hdr.append(0x80 | 127)
            hdr += struct.pack(">Q", n)
        mask = os.urandom(4)
        hdr += mask
        self.sock.sendall(bytes(hdr) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """One whole text message (continuation frames joined)."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            op, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            if op == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if op == 0x9:  # ping: answer, keep reading
                continue
            if op in (0x1, 0x0, 0x2):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    def __init__(self, workdir, width=1280, height=900, chromium=None):
        self.chromium = chromium or find_chromium()
        if not self.chromium:
            raise AssertionError("chromium not installed (scripts/deps.sh installs it)")
        self.workdir = workdir
        self.width, self.height = width, height
        self.errors = []    # exceptions thrown in the page
        self.console = []   # console messages (type, text)
        self.dialogs = []   # messages of dialogs accepted
        self._id = 0
        self.proc = None
        self.ws = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()  # never leave a half-started browser behind
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        # A fresh profile each time: one kept from an earlier run still names
        # that run's DevTools port (and may hold its lock).
        shutil.rmtree(os.path.join(self.workdir, "profile"), ignore_errors=True)
        port_file = os.path.join(self.workdir, "profile", "DevToolsActivePort")
        self.log_path = os.path.join(self.workdir, "chromium.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
             "--disable-features=Translate,MediaRouter", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "--user-data-dir=" + os.path.join(self.workdir, "profile"),
             "--window-size=%d,%d" % (self.width, self.height), "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited: " + open(self.log_path).read()[-2000:])
            if os.path.exists(port_file):
                lines = open(port_file).read().split("\n")
                if len(lines) >= 2 and lines[0].strip():
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("chromium did not open its DevTools port in 30 s")
        port = int(lines[0])
        pages = []
        deadline = time.time() + 15
        while time.time() < deadline and not pages:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                            timeout=5) as r:
                    pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            except OSError:  # the port file can come a moment before the listener
                pages = []
            if not pages:
                time.sleep(0.1)
        if not pages:
            raise AssertionError("chromium has no page target")
        self.ws = _WebSocket(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")
        self.viewport(self.width, self.height)

    def stop(self):
        if self.ws:
            self.ws.close()
            self.ws = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    # --- protocol
    def _event(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Page.javascriptDialogOpening":
            self.dialogs.append(p.get("message"))
            self._id += 1
            self.ws.send(json.dumps({"id": self._id, "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": True}}))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append((d.get("exception") or {}).get("description") or d.get("text"))
        elif m == "Runtime.consoleAPICalled":
            self.console.append((p.get("type"), " ".join(str(a.get("value", a.get("description", "")))
                                                         for a in p.get("args", []))))
        elif m == "Log.entryAdded":
            e = p.get("entry", {})
            self.console.append((e.get("level"), e.get("text", "") + " " + e.get("url", "")))

    def send(self, method, timeout=60, **params):
        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        self.ws.sock.settimeout(timeout)
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise AssertionError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def eval(self, expr, timeout=60):
        """Value of a JS expression (awaited if a promise)."""
        r = self.send("Runtime.evaluate", timeout=timeout, expression=expr, awaitPromise=True,
                      returnByValue=True, userGesture=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise AssertionError("page JS failed: %s (%s)" % (
                (d.get("exception") or {}).get("description") or d.get("text"), expr[:200]))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=20, what=None, interval=0.1):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expr)
                if last:
                    return last
            except AssertionError as e:
                last = e
            time.sleep(interval)
        raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what or expr, last))

    # --- user actions
    def goto(self, url):
        self.send("Page.navigate", url=url)

    def viewport(self, width, height, mobile=False):
        self.width, self.height = width, height
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)

    def _center(self, selector):
        sel = json.dumps(selector)
        js = ("(() => { const e = document.querySelector(%s); if (!e) return null;"
              " e.scrollIntoView({block: 'center', inline: 'center'});"
              " const r = e.getBoundingClientRect(); if (!r.width || !r.height) return null;"
              " const x = r.left + r.width / 2, y = r.top + r.height / 2;"
              " const top = document.elementFromPoint(x, y);"
              " if (!top || (top !== e && !e.contains(top) && !top.contains(e) && top.closest('label') !== e.closest('label'))) return 'covered';"
              " return [x, y]; })()" % sel)
        return self.wait(js + " || null", 15, "clickable " + selector)

    def click(self, selector):
        pos = self._center(selector)
        if pos == "covered":
            raise AssertionError("%s is covered by another element" % selector)
        x, y = pos
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        self.send("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
        self.send("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left", clickCount=1)

    def key(self, key, code=None, vk=0, text=None):
        base = {"key": key, "code": code or key, "windowsVirtualKeyCode": vk}
        self.send("Input.dispatchKeyEvent", type="keyDown", text=text, **base) if text else \
            self.send("Input.dispatchKeyEvent", type="rawKeyDown", **base)
        self.send("Input.dispatchKeyEvent", type="keyUp", **base)

    def type(self, selector, text, clear=True, commit=True):
        """Clicks the field, replaces its text by typing, then leaves it
        (Tab), so its change event fires as for a user."""
        self.click(selector)
        if clear:
            self.eval("(() => { const e = document.activeElement; if (e && e.select) e.select(); })()")
            self.key("Backspace", vk=8)
        self.send("Input.insertText", text=text)
        if commit:
            self.key("Tab", vk=9)

    def select(self, selector, value):
        """Chooses an option of a <select> (as a user's pick: change fires)."""
        ok = self.eval("(() => { const e = document.querySelector(%s); if (!e) return false;"
                       " e.focus(); e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true}));"
                       " e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === %s; })()"
                       % (json.dumps(selector), json.dumps(value), json.dumps(value)))
        if not ok:
            raise AssertionError("no option %r in %s" % (value, selector))

    def text(self, selector):
        return self.eval("(() => { const e = document.querySelector(%s); return e ? e.innerText : null; })()"
                         % json.dumps(selector))

    def screenshot(self, path, full=True):
        params = {"format": "png"}
        if full:
            h = self.eval("Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))") or self.height
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": min(int(h), 6000), "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", **params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
