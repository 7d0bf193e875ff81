"""Drives headless Chromium over the DevTools protocol with the Python
stdlib only (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4):
open a page, click elements with real mouse events, type with real key
input, evaluate JavaScript, take screenshots."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


class Browser:
    def __init__(self, chromium=None, width=1280, height=900):
        self.profile = tempfile.mkdtemp(prefix="shoal-chromium-")
        r_cmd, w_cmd = os.pipe()   # we write commands -> chromium fd 3
        r_res, w_res = os.pipe()   # chromium fd 4 -> we read results
        self.proc = subprocess.Popen(
            [chromium or find_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--no-first-run", "--user-data-dir=" + self.profile,
             "--window-size=%d,%d" % (width, height), "about:blank"],
            pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(r_cmd, 3), os.dup2(w_res, 4)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_cmd)
        os.close(w_res)
        self.w = os.fdopen(w_cmd, "wb", buffering=0)
        self.r = os.fdopen(r_res, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.session = None

    def _read_msg(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise AssertionError("chromium did not answer in time")
            chunk = os.read(self.r.fileno(), 1 << 16)
            if not chunk:
                raise AssertionError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            m["sessionId"] = self.session
        self.w.write(json.dumps(m).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            r = self._read_msg(deadline)
            if r.get("id") == self.next_id:
                if "error" in r:
                    raise AssertionError("%s: %s" % (method, r["error"]))
                return r.get("result", {})

    def open(self, url):
        t = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        s = self.send("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True},
                      session=False)
        self.session = s["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Page.navigate", {"url": url})

    def eval(self, expr, timeout=30):
        r = self.send("Runtime.evaluate", {"expression": expr, "awaitPromise": True,
                                           "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise AssertionError("JS error in %r: %s" % (expr, r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=20, what=None):
        end = time.time() + timeout
        while time.time() < end:
            try:
                v = self.eval("!!(%s)" % expr)
            except AssertionError:
                v = None
            if v:
                return v
            time.sleep(0.1)
        raise AssertionError("page: %s not true within %ss" % (what or expr, timeout))

    def click(self, selector):
        """A real mouse click at the element's centre."""
        box = self.eval("(() => { const e = document.querySelector(%s); e.scrollIntoView({block: "
                        "'center'}); const r = e.getBoundingClientRect(); return [r.x + r.width/2, "
                        "r.y + r.height/2]; })()" % json.dumps(selector))
        for t in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": t, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def type(self, selector, text, clear=True):
        """Clicks into the field and types text key by key."""
        self.click(selector)
        if clear:
            self.eval("document.querySelector(%s).select()" % json.dumps(selector))
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Backspace",
                                                 "code": "Backspace", "windowsVirtualKeyCode": 8})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace",
                                                 "code": "Backspace", "windowsVirtualKeyCode": 8})
        for ch in text:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, "key": ch})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch})

    def press_enter(self):
        for t in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": t, "key": "Enter", "code": "Enter",
                                                 "windowsVirtualKeyCode": 13,
                                                 **({"text": "\r"} if t == "keyDown" else {})})

    def screenshot(self, path):
        r = self.send("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
