"""shoal_harness - shared test harness for Shoal's integration and fault tests.

Starts real processes on 127.0.0.1 only: a Mosquitto broker on a free port,
`shoal-hub run` and `shoal-agent run`, each with its log captured to a file in
a scratch folder. Every process started here is stopped at exit (atexit, and
SIGTERM is turned into a normal exit), every wait is bounded in time.

Environment (set by CTest): SHOAL_HUB, SHOAL_AGENT (binaries), SHOAL_SOURCE_DIR
(repository root). SHOAL_KEEP_TMP=1 keeps the scratch folder for a post-mortem.

Typical use:

    import shoal_harness as h
    with h.Env("hub_dedupe") as env:
        broker = env.start_broker()
        hub_cfg = env.hub_config()
        hub = env.start_hub(hub_cfg)
        env.wait_hub_subscribed()               # hub is ready to ingest
        sub = env.subscribe("shoal/v1/ack/#")   # collect acks
        env.publish(h.up_topic("s1", "d1"), h.event("d1", "s1", "42", 1, "sale",
                                                    h.sale_body("s1", "cn-sw")))
        h.wait_until(lambda: env.hub_db_count("sales") == 1, 10, "sale stored")
"""

import atexit
import binascii
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

PREFIX = "shoal/v1"
MOSQUITTO = os.environ.get("SHOAL_MOSQUITTO", "/usr/sbin/mosquitto")
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"

_live = []  # every Proc started and not yet reaped
_live_lock = threading.Lock()


def log(msg):
    """Progress line on stderr (CTest shows it on failure)."""
    sys.stderr.write("[harness %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def source_dir():
    d = os.environ.get("SHOAL_SOURCE_DIR")
    if d:
        return d
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def binary(name):
    """Path of shoal-hub / shoal-agent: $SHOAL_HUB / $SHOAL_AGENT, else build/."""
    var = {"shoal-hub": "SHOAL_HUB", "shoal-agent": "SHOAL_AGENT"}[name]
    p = os.environ.get(var)
    if p:
        return p
    sub = "hub" if name == "shoal-hub" else "agent"
    return os.path.join(source_dir(), "build", sub, name)


def profile_path(name):
    """Firmware profile file: 'pos-terminal', 'handheld-scanner', 'kiosk'."""
    return os.path.join(source_dir(), "firmware-profiles", name + ".json")


# ---------------------------------------------------------------- utilities

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(pred, timeout=20.0, what="condition", interval=0.05):
    """Polls pred() until it returns a truthy value (returned), at most timeout
    seconds; raises AssertionError naming `what` otherwise. Exceptions raised
    by pred count as 'not yet' until the deadline (the last one is reported)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    delay = min(interval, 0.01)
    while True:
        try:
            v = pred()
            if v:
                return v
            last_exc = None
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (timeout, what, extra))
        time.sleep(delay)
        delay = min(delay * 2, interval if interval > 0.05 else 0.2)


def check(cond, msg):
    """assert that survives python -O."""
    if not cond:
        raise AssertionError(msg)


class Checks:
    """Soft checks for a test that reports every broken behaviour at once:
    check(cond, what) prints "ok   what" or "FAIL what" and remembers the
    failure; check.done() raises AssertionError naming every failed check."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def __call__(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)
        return bool(cond)

    def done(self):
        print("checks: %d passed, %d failed" % (self.passed, len(self.failed)), flush=True)
        if self.failed:
            raise AssertionError("%d check(s) failed: %s" % (len(self.failed),
                                                             "; ".join(self.failed)))


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
    return path


# ---------------------------------------------------------------- processes

class Proc:
    """A subprocess with stdout+stderr captured to a log file."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.p = None
        self._logf = None

    def start(self):
        self._logf = open(self.log_path, "ab")
        self._logf.write(("--- start %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(self.argv))).encode())
        self._logf.flush()
        env = dict(os.environ)
        if self.env:
            env.update({k: str(v) for k, v in self.env.items()})
        self.p = subprocess.Popen(self.argv, stdout=self._logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, cwd=self.cwd)
        with _live_lock:
            _live.append(self)
        return self

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    @property
    def returncode(self):
        return self.p.poll() if self.p else None

    def _reaped(self):
        with _live_lock:
            if self in _live:
                _live.remove(self)
        if self._logf:
            self._logf.close()
            self._logf = None

    def stop(self, timeout=10.0, sig=signal.SIGTERM):
        """Signals the process (SIGTERM) and waits; SIGKILL after timeout.
        Returns the exit code (negative = killed by that signal)."""
        if self.p is None:
            return None
        if self.p.poll() is None:
            try:
                self.p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log("%s did not stop within %.0fs of signal %d; killing" % (self.name, timeout, sig))
                self.p.kill()
                self.p.wait(timeout=10)
        self._reaped()
        return self.p.returncode

    def kill9(self):
        """SIGKILL: a crash, no cleanup in the process."""
        if self.p is None:
            return None
        if self.p.poll() is None:
            try:
                self.p.kill()
            except ProcessLookupError:
                pass
            self.p.wait(timeout=10)
        self._reaped()
        return self.p.returncode

    def restart(self):
        """Starts the same command again (after stop/kill9)."""
        if self.alive():
            raise RuntimeError("%s is still running" % self.name)
        return self.start()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


def _stop_all():
    with _live_lock:
        procs = list(reversed(_live))
    for pr in procs:
        try:
            pr.stop(timeout=5)
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            log("cleanup of %s failed: %r" % (pr.name, e))


atexit.register(_stop_all)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


try:
    signal.signal(signal.SIGTERM, _on_sigterm)
except ValueError:  # not the main thread
    pass


# ---------------------------------------------------------------- broker

class Broker:
    """A real Mosquitto on 127.0.0.1:port (free port by default), persistence
    off, anonymous access, TCP_NODELAY. stop()/start() keep the same port, so
    clients see an outage and reconnect. extra_conf: more mosquitto.conf lines."""

    def __init__(self, workdir, port=None, extra_conf=(), name="mosquitto"):
        self.workdir = workdir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.name = name
        self.conf_path = os.path.join(workdir, "%s.conf" % name)
        self.log_path = os.path.join(workdir, "%s.log" % name)
        lines = [
            "listener %d 127.0.0.1" % self.port,
            "allow_anonymous true",
            "set_tcp_nodelay true",
            "persistence false",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        lines.extend(extra_conf)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self, timeout=10.0):
        self.proc = Proc(self.name, [MOSQUITTO, "-c", self.conf_path], self.log_path).start()
        try:
            wait_until(lambda: (not self.proc.alive() and _raise("mosquitto exited: " + self.proc.log_tail()))
                       or port_open(self.port), timeout, "mosquitto on port %d" % self.port)
        except AssertionError:
            # The port may have been taken between free_port() and bind: the
            # log says so. Let the caller see it.
            self.proc.stop()
            raise
        return self

    def stop(self):
        """Stops the broker (SIGTERM); in-memory messages are gone (persistence off)."""
        if self.proc:
            self.proc.stop()
        wait_until(lambda: not port_open(self.port), 10, "port %d to close" % self.port)

    def kill9(self):
        if self.proc:
            self.proc.kill9()

    def restart(self, down_s=0.0):
        """Outage: stop, stay down down_s seconds, start on the same port."""
        self.stop()
        if down_s > 0:
            time.sleep(down_s)
        # The old socket may linger briefly in TIME_WAIT; mosquitto sets
        # SO_REUSEADDR, but retry a few times to be safe.
        for attempt in range(20):
            try:
                return self.start(timeout=5)
            except AssertionError:
                if attempt == 19:
                    raise
                time.sleep(0.25)

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def log_text(self):
        return self.proc.log_text() if self.proc else ""

    def mqtt_config(self):
        return {"host": self.host, "port": self.port}


def _raise(msg):
    raise RuntimeError(msg)


# ---------------------------------------------------------------- MQTT via CLI

def publish(port, topic, payload, qos=1, retain=False, host="127.0.0.1", timeout=10):
    """Publishes one message with mosquitto_pub (payload str or bytes, sent
    through stdin so it may be large or contain newlines)."""
    if isinstance(payload, str):
        payload = payload.encode()
    argv = [MOSQUITTO_PUB, "-h", host, "-p", str(port), "-t", topic, "-q", str(qos), "-s"]
    if retain:
        argv.append("-r")
    r = subprocess.run(argv, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("mosquitto_pub to %s failed: %s" % (topic, r.stderr.decode(errors="replace")))


def publish_lines(port, topic, payloads, qos=1, host="127.0.0.1", timeout=60):
    """Publishes many messages to one topic in one mosquitto_pub (-l: one
    message per line; payloads must not contain newlines)."""
    data = b"".join((p.encode() if isinstance(p, str) else p) + b"\n" for p in payloads)
    argv = [MOSQUITTO_PUB, "-h", host, "-p", str(port), "-t", topic, "-q", str(qos), "-l"]
    r = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("mosquitto_pub -l to %s failed: %s" % (topic, r.stderr.decode(errors="replace")))


def clear_retained(port, topic, host="127.0.0.1"):
    publish(port, topic, b"", qos=1, retain=True, host=host)


class Subscriber:
    """mosquitto_sub in the background, collecting (topic, payload bytes).
    Use messages(), payloads(topic), json_payloads(topic) and wait_for()."""

    def __init__(self, port, topics, qos=1, host="127.0.0.1", log_dir=None, client_id=None):
        if isinstance(topics, str):
            topics = [topics]
        argv = [MOSQUITTO_SUB, "-h", host, "-p", str(port), "-q", str(qos), "-F", "%t %x\\n"]
        if client_id:
            argv += ["-i", client_id, "-c"]
        for t in topics:
            argv += ["-t", t]
        self.argv = argv
        self._msgs = []
        self._lock = threading.Lock()
        self._p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL)
        self._t = threading.Thread(target=self._reader, daemon=True)
        self._t.start()
        self._proxy = _SubProc(self)
        with _live_lock:
            _live.append(self._proxy)
        # mosquitto_sub has no "subscribed" signal on stdout: give it a moment
        # to connect and subscribe before anything is published.
        time.sleep(0.3)

    def _reader(self):
        for line in self._p.stdout:
            line = line.rstrip(b"\n")
            if not line:
                continue
            topic, _, hexpayload = line.decode("utf-8", "replace").rpartition(" ")
            try:
                payload = binascii.unhexlify(hexpayload)
            except (binascii.Error, ValueError):
                continue
            with self._lock:
                self._msgs.append((topic, payload))

    def messages(self):
        with self._lock:
            return list(self._msgs)

    def payloads(self, topic=None):
        return [p for t, p in self.messages() if topic is None or t == topic]

    def json_payloads(self, topic=None):
        out = []
        for p in self.payloads(topic):
            try:
                out.append(json.loads(p))
            except ValueError:
                pass
        return out

    def wait_for(self, pred, timeout=20, what="message"):
        """Waits until pred(list of (topic, payload)) is truthy; returns it."""
        return wait_until(lambda: pred(self.messages()), timeout, what)

    def clear(self):
        with self._lock:
            self._msgs.clear()

    def stop(self):
        if self._p.poll() is None:
            self._p.terminate()
            try:
                self._p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._p.kill()
                self._p.wait(timeout=5)
        self._t.join(timeout=5)
        with _live_lock:
            if self._proxy in _live:
                _live.remove(self._proxy)


class _SubProc:
    def __init__(self, sub):
        self.sub = sub
        self.name = "mosquitto_sub"

    def stop(self, timeout=5):
        self.sub.stop()


# ---------------------------------------------------------------- wire helpers

def topic(kind, a=None, b=None, prefix=PREFIX):
    """Topic strings for tests (mirrors shared/wire.c; tests check the wire)."""
    parts = {"up": ["up", a, b], "ack": ["ack", a, b], "presence": ["presence", a, b],
             "down_store": ["down", a], "down_device": ["down", a, b],
             "policy_global": ["policy", "global"], "policy_region": ["policy", "region", a],
             "policy_store": ["policy", "store", a]}[kind]
    return "/".join([prefix] + parts)


def up_topic(store, device, prefix=PREFIX):
    return topic("up", store, device, prefix)


def ack_topic(store, device, prefix=PREFIX):
    return topic("ack", store, device, prefix)


def new_epoch():
    return str(random.getrandbits(64))


def hlc_now(counter=0):
    return (int(time.time() * 1000) << 16) | (counter & 0xFFFF)


def event(device, store, epoch, seq, etype, body, hlc=None):
    """An event envelope (SPEC 4.2) as compact JSON text."""
    if hlc is None:
        hlc = hlc_now(seq)
    return json.dumps({"v": 1, "device": device, "store": store, "epoch": str(epoch), "seq": seq,
                       "hlc": hlc, "type": etype, "body": body}, separators=(",", ":"))


def sale_body(store, region, receipt=None, total=2800, at=None, lines=None):
    """A sale body shaped like the agent's (the pricing quote plus receipt,
    region, store, at, policy_versions)."""
    if lines is None:
        lines = [{"sku": "SKU-1", "qty": 1, "base_price": total, "unit_price": total,
                  "discount": 0, "total": total}]
    return {"receipt": receipt or ("r-%016x" % random.getrandbits(64)), "region": region,
            "store": store, "at": at or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "currency": "CNY", "subtotal": total, "discount": 0, "rounding": 0, "total": total,
            "lines": lines, "applied": [], "coupons": {"accepted": [], "rejected": []},
            "policy_versions": {}}


# ---------------------------------------------------------------- CLI

class CmdResult:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("%s: stdout is not JSON (%s): %r\nstderr: %s"
                                 % (" ".join(self.argv), e, self.out[:500], self.err[:500]))

    def __repr__(self):
        return "CmdResult(rc=%r, out=%r, err=%r)" % (self.rc, self.out[:300], self.err[:300])


def run_cmd(argv, input=None, timeout=60, env=None, expect=None):
    """Runs a command; returns CmdResult. expect: exit code to require (None: any)."""
    e = dict(os.environ)
    if env:
        e.update({k: str(v) for k, v in env.items()})
    if isinstance(input, (dict, list)):
        input = json.dumps(input)
    r = subprocess.run([str(a) for a in argv], input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=e, universal_newlines=True)
    res = CmdResult(argv, r.returncode, r.stdout, r.stderr)
    if expect is not None and r.returncode != expect:
        raise AssertionError("%s: exit %d, wanted %d\nstdout: %s\nstderr: %s"
                             % (" ".join(str(a) for a in argv), r.returncode, expect,
                                r.stdout[-2000:], r.stderr[-2000:]))
    return res


def run_json(argv, input=None, timeout=60, env=None, expect=0):
    """Runs a command that must exit `expect` and returns its stdout parsed as JSON."""
    return run_cmd(argv, input=input, timeout=timeout, env=env, expect=expect).json()


def hub_cmd(*args, **kw):
    return run_cmd([binary("shoal-hub")] + list(args), **kw)


def agent_cmd(*args, **kw):
    return run_cmd([binary("shoal-agent")] + list(args), **kw)


# ---------------------------------------------------------------- environment

class Env:
    """A scratch folder plus everything a test starts in it. Use as a context
    manager: on exit every process is stopped and (unless SHOAL_KEEP_TMP is
    set, or the test failed and SHOAL_KEEP_FAILED is set) the folder removed.
    On failure the tails of all logs are printed."""

    def __init__(self, name="shoal", keep=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="shoal-%s-" % name)
        self.keep = keep if keep is not None else bool(os.environ.get("SHOAL_KEEP_TMP"))
        self.broker = None
        self.procs = []
        self.subs = []
        self.keys = None  # (priv, pub)
        self._sanitizer_reports = []
        self.hub_cfg = None
        log("scratch folder %s" % self.dir)

    # --- context management
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not SystemExit:
            self.dump_logs()
        self.close()
        if exc_type is None:
            self.check_sanitizers()
        return False

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def sanitizer_reports(self):
        """(process name, line) for every sanitizer report in the daemons' logs."""
        out = []
        for p in self.procs:
            for line in p.log_text().splitlines():
                if any(m in line for m in self.SANITIZER_MARKS):
                    out.append((p.name, line))
        return out

    def check_sanitizers(self):
        """Fails the test if a daemon's log holds an ASan/UBSan report (the
        logs are read before the scratch folder goes, see close())."""
        if self._sanitizer_reports:
            raise AssertionError("sanitizer reports in daemon logs: %r" % self._sanitizer_reports[:5])

    def close(self):
        self._sanitizer_reports = []
        for s in self.subs:
            s.stop()
        for p in reversed(self.procs):
            try:
                p.stop(timeout=10)
            except Exception as e:  # noqa: BLE001
                log("stop %s: %r" % (p.name, e))
        if self.broker:
            self.broker.proc and self.broker.proc.stop()
        self._sanitizer_reports = self.sanitizer_reports()
        if self.keep or os.environ.get("SHOAL_KEEP_FAILED") and sys.exc_info()[0]:
            log("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump_logs(self, n=60):
        for p in self.procs + ([self.broker.proc] if self.broker and self.broker.proc else []):
            sys.stderr.write("----- %s (%s), last %d lines -----\n%s\n"
                             % (p.name, p.log_path, n, p.log_tail(n)))
        sys.stderr.flush()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # --- broker
    def start_broker(self, extra_conf=(), port=None):
        self.broker = Broker(self.dir, port=port, extra_conf=extra_conf).start()
        log("mosquitto on 127.0.0.1:%d" % self.broker.port)
        return self.broker

    @property
    def port(self):
        return self.broker.port

    def publish(self, topic_, payload, qos=1, retain=False):
        publish(self.broker.port, topic_, payload, qos=qos, retain=retain)

    def publish_lines(self, topic_, payloads, qos=1):
        publish_lines(self.broker.port, topic_, payloads, qos=qos)

    def subscribe(self, topics, qos=1, client_id=None):
        s = Subscriber(self.broker.port, topics, qos=qos, client_id=client_id)
        self.subs.append(s)
        return s

    # --- keys and configs
    def keygen(self, out_dir=None):
        """shoal-hub keygen into out_dir (default <tmp>/keys); returns (priv, pub)."""
        out_dir = out_dir or self.path("keys")
        hub_cmd("keygen", "--out", out_dir, expect=0)
        self.keys = (os.path.join(out_dir, "policy-key.pem"), os.path.join(out_dir, "policy-pub.pem"))
        return self.keys

    def hub_config(self, name="hub", signing_key=True, http=False, **extra):
        """Writes <tmp>/<name>.json for the hub (db <tmp>/<name>.db, the
        broker's port, the policy key from keygen() when signing_key);
        extra keys are merged in. http=True adds http.listen on a free port
        and a token file (token "test-token"). Returns the path."""
        cfg = {"db": self.path(name + ".db"),
               "mqtt": self.broker.mqtt_config() if self.broker else {"host": "127.0.0.1", "port": free_port()}}
        if signing_key:
            if self.keys is None:
                self.keygen()
            cfg["signing_key"] = self.keys[0]
        if http:
            tok = self.path(name + "-token")
            with open(tok, "w") as f:
                f.write("test-token\n")
            cfg["http"] = {"listen": "127.0.0.1:%d" % free_port(), "token_file": tok}
        cfg.update(extra)
        p = write_json(self.path(name + ".json"), cfg)
        self.hub_cfg = p
        return p

    def agent_config(self, device, store, region, profile="pos-terminal", trust=True,
                     local_api=True, **extra):
        """Writes <tmp>/<device>.json for an agent (db <tmp>/<device>.db, the
        broker's port, trust = the keygen() public key, local API on a free
        port). extra keys are merged in. Returns the path."""
        cfg = {"device": device, "store": store, "region": region,
               "profile": profile_path(profile) if not os.path.isabs(profile) else profile,
               "db": self.path(device + ".db"),
               "mqtt": self.broker.mqtt_config() if self.broker else {"host": "127.0.0.1", "port": free_port()}}
        if trust:
            if self.keys is None:
                self.keygen()
            cfg["trust"] = {"policy_pub": self.keys[1]}
        # Every agent gets its own free port: the profiles' fixed default
        # (127.0.0.1:7420) would make agents in one test collide. Tests that
        # pass local_api=False set their own listen address or none at all
        # (an empty listen disables the store API).
        cfg["local_api"] = {"listen": "127.0.0.1:%d" % free_port() if local_api else ""}
        cfg.update(extra)
        return write_json(self.path(device + ".json"), cfg)

    def write_file(self, name, content):
        p = self.path(name)
        if not isinstance(content, str):
            content = json.dumps(content)
        with open(p, "w") as f:
            f.write(content)
        return p

    # --- daemons
    def start_proc(self, name, argv, env=None):
        pr = Proc(name, argv, self.path(name + ".log"), env=env).start()
        self.procs.append(pr)
        return pr

    def start_hub(self, cfg=None, name="hub", env=None, wait_ready=True):
        """Starts `shoal-hub run -c cfg`; with wait_ready, waits until the hub
        logged that it subscribed (its ingest is live)."""
        cfg = cfg or self.hub_cfg
        pr = self.start_proc(name, [binary("shoal-hub"), "run", "-c", cfg], env=env)
        if wait_ready:
            self.wait_log(pr, "subscribed", timeout=20)
        return pr

    def start_agent(self, cfg, name=None, env=None):
        name = name or ("agent-" + os.path.splitext(os.path.basename(cfg))[0])
        return self.start_proc(name, [binary("shoal-agent"), "run", "-c", cfg], env=env)

    def wait_log(self, proc, text, timeout=20, after=0):
        """Waits until proc's log (from byte offset `after`) contains text;
        fails early if the process died."""
        def pred():
            if not proc.alive():
                raise AssertionError("%s exited (%r) before logging %r:\n%s"
                                     % (proc.name, proc.returncode, text, proc.log_tail()))
            return text in proc.log_text()[after:]
        try:
            return wait_until(pred, timeout, "%s to log %r" % (proc.name, text))
        except AssertionError as e:
            if "exited" in str(e):
                raise AssertionError(str(e).split(" (last error: ")[-1])
            raise

    # --- commands
    def hub(self, *args, **kw):
        return hub_cmd(*args, **kw)

    def agent(self, *args, **kw):
        return agent_cmd(*args, **kw)

    # --- databases (read-only peeks; SQLite WAL allows them while daemons run)
    def query(self, db_path, sql, args=()):
        con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def hub_sql(self, sql, args=(), db_path=None):
        """Runs sql (reads or writes, `?` placeholders) on the hub database,
        on whichever backend the hub uses: SQLite, or PostgreSQL in the pg
        test variants (SHOAL_TEST_HUB_PG). Returns the rows."""
        return hub_sql(db_path or self.hub_db(), sql, args)

    def hub_db(self):
        with open(self.hub_cfg) as f:
            return json.load(f)["db"]

    def hub_query(self, sql, args=()):
        return self.hub_sql(sql, args)

    def hub_db_count(self, table, where="1 = 1", args=()):
        return self.hub_query("SELECT COUNT(*) FROM %s WHERE %s" % (table, where), args)[0][0]


# ------------------------------------------------------- hub database access

def hub_pg_uri(db_path):
    """The PostgreSQL database a hub uses for db_path under SHOAL_TEST_HUB_PG
    (hub/store_pg.c names it after the absolute path), or None on SQLite."""
    base = os.environ.get("SHOAL_TEST_HUB_PG")
    if not base:
        return None
    if base.startswith("/"):
        with open(base) as f:
            base = f.read().strip()
    import pg_server
    return "%s/%s" % (base, pg_server.test_db_name(db_path))


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def hub_sql(db_path, sql, args=()):
    """Runs sql on the hub database at db_path (SQLite) or, in the pg test
    variants, on its PostgreSQL database through psql. Integers come back as
    int, NULL as None, the rest as str (as sqlite3 returns them)."""
    if db_path.startswith(("postgresql://", "postgres://")):
        uri = db_path
    else:
        uri = hub_pg_uri(db_path)
    if uri is None:
        con = sqlite3.connect(db_path, timeout=10)
        try:
            rows = con.execute(sql, args).fetchall()
            con.commit()
            return rows
        finally:
            con.close()
    parts = sql.split("?")
    if len(parts) - 1 != len(args):
        raise ValueError("hub_sql: %d placeholders, %d args" % (len(parts) - 1, len(args)))
    text = parts[0] + "".join(_sql_literal(a) + p for a, p in zip(args, parts[1:]))
    null = "\x01NULL\x01"
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-P", "null=" + null,
                          "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", text],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError("psql %s: %s" % (text, out.stderr.strip()))

    def conv(v):
        if v == null:
            return None
        if v.lstrip("-").isdigit():
            return int(v)
        return v
    return [tuple(conv(v) for v in line.split("\x1f")) for line in out.stdout.splitlines()
            if line != ""]


def main(fn):
    """Runs fn() as a test: exit 0 on success, 1 with the error otherwise."""
    try:
        fn()
    except AssertionError as e:
        sys.stderr.write("FAIL: %s\n" % e)
        sys.exit(1)
    finally:
        _stop_all()
    print("PASS")
    sys.exit(0)


# ---------------------------------------------------------------- simulated devices

class SimDevice:
    """A device speaking the up/ack protocol from Python (no agent needed):
    builds sale events with gapless seqs under one epoch, publishes them
    with mosquitto_pub, and reads the hub's acks from a Subscriber on
    P/ack/#. Use resend_unacked() the way an agent resends after silence."""

    def __init__(self, env, store, device, region="cn-sw", epoch=None, acks=None):
        self.env, self.store, self.device, self.region = env, store, device, region
        self.epoch = epoch or new_epoch()
        self.events = {}  # seq -> payload text
        self.acks = acks  # a Subscriber on the ack topics, shared by devices

    def make(self, n, total=1000, etype="sale"):
        """Creates the next n events (not sent); returns their seqs."""
        start = len(self.events) + 1
        for seq in range(start, start + n):
            body = sale_body(self.store, self.region, receipt="%s-%d" % (self.device, seq),
                             total=total) if etype == "sale" else {}
            self.events[seq] = event(self.device, self.store, self.epoch, seq, etype, body)
        return list(range(start, start + n))

    def send(self, seqs):
        self.env.publish_lines(up_topic(self.store, self.device), [self.events[s] for s in seqs])

    def upto(self):
        """Highest upto acked for this epoch (0 if none)."""
        best = 0
        for a in self.acks.json_payloads(ack_topic(self.store, self.device)):
            if str(a.get("epoch")) == self.epoch and isinstance(a.get("upto"), int):
                best = max(best, a["upto"])
        return best

    def resend_unacked(self):
        seqs = [s for s in sorted(self.events) if s > self.upto()]
        if seqs:
            self.send(seqs)
        return len(seqs)

    def total(self):
        return sum(json.loads(p)["body"]["total"] for p in self.events.values()
                   if json.loads(p)["type"] == "sale")
