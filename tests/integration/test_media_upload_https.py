"""test_media_upload_https - photo uploads over https with the device
certificate (SPEC 15, issue 14), with a real TLS Mosquitto set up by
`shoal-hub broker-config`, a real hub and a real agent provisioned by
`shoal-hub provision`. The hub's HTTP listener is plain; TLS is terminated
in front of it by a reverse proxy (tests/lib/tls_proxy.py) that requires a
client certificate from the fleet CA. Proves:
  - a proxy server certificate from another CA is refused by the agent:
    nothing reaches the hub, the agent logs the TLS failure and retries,
    and the sale and the submission still sync over MQTT;
  - so is a fleet-signed server certificate for another host name;
  - the proxy refuses a client with no certificate and one whose
    certificate (CN = the device id) comes from another CA;
  - the agent trusts only the fleet CA for uploads, exactly as for MQTT:
    not even a CA its system store (/etc/ssl/certs, libcurl's built-in
    CApath) trusts; run in a private mount namespace (unshare) whose
    /etc/ssl/certs holds the other CA (needs `unshare --mount`: root with
    CAP_SYS_ADMIN, or unprivileged user namespaces; the test fails, naming
    this, where neither is available);
  - with the fleet-signed server certificate the photo (3 MB) reaches the
    hub byte for byte, over a connection on which the proxy saw a client
    certificate with CN = the device id; every forwarded connection had it.
"""

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import shoal_harness as h
from tls_proxy import TlsProxy

DEVICE, STORE, REGION = "hh1", "s1", "cn-sw"

POLICY = {
    "scope": "global",
    "items": [{"sku": "FAN-BELT", "price": 4500, "cost": 2100}],
    "forms": [{"id": "inspect", "version": 1, "title": "Site inspection",
               "fields": [{"id": "note", "type": "text"},
                          {"id": "photo", "type": "photo", "required": True}]}],
}


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args[:2]), r.stderr.strip()))
    return r.stdout


def make_ca(prefix, cn):
    """A throwaway self-signed P-256 CA: prefix.crt, prefix.key."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", prefix + ".key", "-out", prefix + ".crt", "-subj", "/CN=" + cn,
            "-days", "2")
    return prefix + ".crt", prefix + ".key"


def issue(ca_crt, ca_key, prefix, cn, san=None, usage="serverAuth"):
    """A P-256 certificate for cn signed by ca_crt/ca_key: prefix.crt, prefix.key."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", prefix + ".key", "-out", prefix + ".csr", "-subj", "/CN=" + cn)
    ext = prefix + ".ext"
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=%s\n" % usage)
        if san:
            f.write("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", prefix + ".csr", "-CA", ca_crt, "-CAkey", ca_key,
            "-set_serial", "0x%s" % os.urandom(8).hex(), "-days", "2", "-out", prefix + ".crt",
            "-extfile", ext)
    return prefix + ".crt", prefix + ".key"


def private_certs_argv(capath):
    """argv prefix that runs a command in a private mount namespace whose
    /etc/ssl/certs is capath (root: --mount; else a user namespace too)."""
    ns = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    return ns + ["sh", "-c", 'mount --bind "$0" /etc/ssl/certs && exec "$@"', capath]


def tls_client(port, ca, cert=None, key=None):
    """Connects to the proxy as an HTTPS client (verifying the proxy against
    ca), sends a GET and returns (handshake_ok, reply bytes or the error)."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /api/v1/media/x HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        return True, data
                    data += chunk
    except (ssl.SSLError, OSError) as e:
        return False, repr(e)


def run():
    with h.Env("media_upload_https") as env, contextlib.ExitStack() as cleanup:
        scenario(env, cleanup)


def scenario(env, cleanup):
    t0 = time.monotonic()
    port = h.free_port()
    bdir = env.path("broker")
    env.keygen()
    hub_cfg = env.hub_config(http=True, mqtt={
        "host": "127.0.0.1", "port": port,
        "tls": {"ca": os.path.join(bdir, "ca.crt"), "cert": os.path.join(bdir, "hub.crt"),
                "key": os.path.join(bdir, "hub.key")}})
    hport = int(json.load(open(hub_cfg))["http"]["listen"].split(":")[1])
    ddir = env.path(DEVICE)
    h.run_json([h.binary("shoal-hub"), "provision", "-c", hub_cfg, "--store", STORE, "--device",
                DEVICE, "--region", REGION, "--out", ddir])
    res = h.run_json([h.binary("shoal-hub"), "broker-config", "-c", hub_cfg, "--out", bdir])
    env.start_proc("mosquitto", [h.MOSQUITTO, "-c", res["config"]])
    h.wait_until(lambda: h.port_open(port), 10, "TLS broker on %d" % port)
    env.start_hub(hub_cfg)
    h.run_json([h.binary("shoal-hub"), "publish", "-c", hub_cfg, "--policy",
                env.write_file("global.json", POLICY)])

    # Certificates: the fleet CA's (broker-config's server certificate is
    # issued by it for 127.0.0.1), a fleet-signed one for another host, and
    # a throwaway CA with a server certificate for 127.0.0.1 and a client
    # certificate that claims to be the device.
    fleet_ca = os.path.join(ddir, "ca.crt")
    good = (os.path.join(bdir, "server.crt"), os.path.join(bdir, "server.key"))
    wrong_host = issue(fleet_ca, env.path("device-ca.key"), env.path("wrong-host"),
                       "wrong.example", san="DNS:wrong.example")
    rogue_ca, rogue_ca_key = make_ca(env.path("rogue-ca"), "Rogue CA")
    rogue = issue(rogue_ca, rogue_ca_key, env.path("rogue-server"), "127.0.0.1",
                  san="IP:127.0.0.1,DNS:localhost")
    rogue_client = issue(rogue_ca, rogue_ca_key, env.path("rogue-client"), DEVICE,
                         usage="clientAuth")

    proxy = TlsProxy(hport, rogue[0], rogue[1], fleet_ca).start()
    cleanup.callback(proxy.stop)
    url = "https://127.0.0.1:%d" % proxy.port
    prof = h.write_json(env.path("profile.json"), {
        "profile": "hh", "modules": ["pricing", "sales", "forms"], "media": {"max_mb": 64},
        "cache": {"max_mb": 64}, "outbox": {"max_events": 100000},
        "sync": {"keepalive_s": 5, "backoff_min_s": 0, "backoff_max_s": 1, "batch": 50}})
    cfg = json.load(open(os.path.join(ddir, "agent.json")))
    cfg.update(profile=prof, hub_url=url, local_api={"listen": ""})
    cfg_path = h.write_json(os.path.join(ddir, "agent-https.json"), cfg)
    agent_db = os.path.join(ddir, cfg["db"])

    def agent_cmd(*args, **kw):
        return h.run_cmd([h.binary("shoal-agent")] + list(args) + ["-c", cfg_path], **kw)

    def status():
        return json.loads(agent_cmd("status", expect=0).out)

    def media_row():
        rows = env.query(agent_db, "SELECT attempts, last_error, uploaded_ms FROM media "
                         "WHERE sha256 = ?", (sha,))
        return rows[0] if rows else (0, None, None)

    def hub_media(path):
        c = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
        c.request("GET", path, headers={"Authorization": "Bearer test-token"})
        r = c.getresponse()
        out = (r.status, r.read())
        c.close()
        return out

    hub_media_dir = os.path.join(os.path.dirname(hub_cfg), "media")

    def nothing_at_hub(what):
        h.check(hub_media("/api/v1/media/" + sha)[0] == 404, "%s: the hub serves the photo" % what)
        held = []
        for root, _, files in os.walk(hub_media_dir):
            held += [os.path.join(root, n) for n in files]
        h.check(not held, "%s: bytes in the hub's media folder: %r" % (what, held))
        h.check(env.hub_sql("SELECT stored_ms FROM media WHERE sha256 = ?", (sha,)) == [(None,)],
                "%s: the hub recorded the photo as stored" % what)

    def refused_phase(what, mark, attempts_from, want_err):
        """Waits for two more failed attempts; checks that the agent sent
        no byte through any of the proxy's connections since `mark` (none
        was forwarded to the hub) and the error the agent recorded."""
        h.wait_until(lambda: media_row()[0] >= attempts_from + 2 or media_row()[2] is not None,
                     30, "%s: two more upload attempts" % what)
        new = proxy.conns()[mark:]
        h.check(new and all(not c["forwarded"] and c["up_bytes"] == 0 for c in new),
                "%s: the proxy forwarded a connection: %r" % (what, new))
        attempts, err, uploaded = media_row()
        h.check(uploaded is None, "%s: the agent marked the photo uploaded" % what)
        h.check(err and want_err in err and url in err,
                "%s: the agent's recorded error %r lacks %r" % (what, err, want_err))
        return attempts, new

    agent = env.start_agent(cfg_path, name="agent-" + DEVICE)
    h.wait_until(lambda: status()["connected"], 30, "agent connected over TLS")
    h.wait_until(lambda: status()["policies"].get("global") == 1, 30, "policy at the agent")

    # --- a proxy certificate from another CA: refused, retried, sales unaffected
    photo = os.urandom(3 * 1024 * 1024 + 12345)
    sha = hashlib.sha256(photo).hexdigest()
    pth = env.path("photo.jpg")
    with open(pth, "wb") as f:
        f.write(photo)
    data = env.write_file("form.json", {"note": "compressor noisy"})
    sub = json.loads(agent_cmd("form", "submit", "--form", "inspect", "--data", data,
                               "--attach", "photo=" + pth, expect=0).out)
    basket = {"region": REGION, "store": STORE, "channel": "pos",
              "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
              "lines": [{"sku": "FAN-BELT", "qty": 1}]}
    sale = json.loads(agent_cmd("sale", "--basket", "-", input=json.dumps(basket), expect=0).out)
    h.wait_until(lambda: env.hub_sql("SELECT COUNT(*) FROM sales WHERE receipt = ?", (sale["id"],))
                 == [(1,)], 30, "the sale at the hub")
    h.wait_until(lambda: status()["outbox_pending"] == 0, 30, "the outbox drained")
    h.check(env.hub_sql("SELECT COUNT(*) FROM media WHERE sha256 = ?", (sha,)) == [(1,)],
            "the hub knows the submission's photo %s (submission %s)" % (sha[:12], sub["id"]))
    attempts, new = refused_phase("foreign CA", 0, 0, "unable to get local issuer certificate")
    h.check(any("UNKNOWN_CA" in c["error"].upper() for c in new),
            "the agent aborted the handshake with 'unknown ca': %r" % new)
    h.wait_until(lambda: "photo %s not uploaded (upload to %s" % (sha[:12], url) in agent.log_text(),
                 10, "the agent to log the failed upload")
    line = [l for l in agent.log_text().splitlines() if "not uploaded" in l][0]
    h.check("unable to get local issuer certificate" in line and "retrying" in line,
            "the log names the TLS failure and the retry: %s" % line)
    nothing_at_hub("foreign CA")
    h.check(status()["outbox_pending"] == 0 and os.path.exists(agent_db + ".media/" + sha),
            "the outbox is drained and the photo is still on the device")
    print("ok   foreign-CA proxy certificate refused (%d attempts, nothing at the hub); the sale "
          "and the submission synced over MQTT" % attempts)

    # --- a fleet-signed certificate for another host name: refused
    mark = len(proxy.conns())
    proxy.set_cert(*wrong_host)
    # (TLS 1.3: the agent's certificate is part of the handshake, and curl
    # checks the host name once it is complete; it then sends nothing.)
    attempts, _ = refused_phase("wrong host", mark, attempts, "subject name")
    nothing_at_hub("wrong host")
    print("ok   fleet-signed proxy certificate for another host name refused")

    # --- the proxy refuses clients without a fleet certificate (the agent
    # is stopped so that every connection counted here is the test's own)
    agent.stop()
    proxy.set_cert(*good)
    mark = len(proxy.conns())
    ok, out = tls_client(proxy.port, fleet_ca)
    h.check(not (ok and out), "a client with no certificate got an answer: %r" % (out,))
    ok, out = tls_client(proxy.port, fleet_ca, *rogue_client)
    h.check(not (ok and out), "a client with a foreign-CA certificate got an answer: %r" % (out,))
    h.wait_until(lambda: all(c["closed"] for c in proxy.conns()[mark:]), 10, "proxy connections")
    new = proxy.conns()[mark:]
    h.check(len(new) == 2 and not any(c["forwarded"] for c in new),
            "refused clients were forwarded: %r" % new)
    h.check("CERTIFICATE" in new[0]["error"].upper() and "verify failed" in new[1]["error"],
            "the proxy names why: %r" % new)
    ok, out = tls_client(proxy.port, fleet_ca, os.path.join(ddir, "device.crt"),
                         os.path.join(ddir, "device.key"))
    # ... while the device's certificate gets through to the hub (which
    # wants its bearer token for a GET: 401 is the hub's own answer).
    h.check(ok and out.startswith(b"HTTP/1.") and b" 401 " in out.split(b"\r\n")[0],
            "the device's own certificate is let through: %r" % (out[:200],))
    last = proxy.conns()[-1]
    h.check(last["forwarded"] and last["cn"] == DEVICE, "proxy record %r" % last)
    print("ok   proxy refuses a client with no certificate and one from another CA; the "
          "device's certificate gets through to the hub")

    # --- only the fleet CA: not even a CA in the system store. The agent
    # runs again with /etc/ssl/certs replaced (in its own mount namespace)
    # by a folder trusting the other CA, as CAfile and hashed CApath entry.
    capath = env.path("capath")
    os.makedirs(capath)
    shutil.copy(rogue_ca, os.path.join(capath, "ca-certificates.crt"))
    shutil.copy(rogue_ca, os.path.join(capath, openssl("x509", "-hash", "-noout", "-in",
                                                       rogue_ca).strip() + ".0"))
    probe = subprocess.run(private_certs_argv(capath) + ["ls", "/etc/ssl/certs"],
                           capture_output=True, text=True, timeout=20)
    h.check(probe.returncode == 0 and sorted(probe.stdout.split()) == sorted(os.listdir(capath)),
            "this check needs a private mount namespace (unshare --mount%s) to give the agent "
            "its own /etc/ssl/certs: %r" % ("" if os.geteuid() == 0 else " --map-root-user",
                                            probe))
    proxy.set_cert(*rogue)
    mark = len(proxy.conns())
    agent = env.start_proc("agent-%s-ns" % DEVICE, private_certs_argv(capath) + [
        h.binary("shoal-agent"), "run", "-c", cfg_path])
    attempts, _ = refused_phase("system-trusted CA", mark, attempts,
                                "unable to get local issuer certificate")
    nothing_at_hub("system-trusted CA")
    print("ok   a proxy certificate from a CA the system store trusts is refused: uploads "
          "trust the fleet CA only")

    # --- the fleet-signed certificate: the photo arrives byte for byte
    mark = len(proxy.conns())
    proxy.set_cert(*good)
    try:
        h.wait_until(lambda: media_row()[2] is not None, 30, "the photo uploaded")
    except AssertionError as e:
        raise AssertionError("%s; agent's last error %r; proxy saw %r"
                             % (e, media_row()[1], proxy.conns()[mark:][-3:]))
    st, body = hub_media("/api/v1/media/" + sha)
    h.check(st == 200 and body == photo, "the hub holds the photo byte for byte (%d, %d bytes)"
            % (st, len(body)))
    h.check(not os.path.exists(agent_db + ".media/" + sha), "the uploaded photo left the device")
    fwd = [c for c in proxy.conns() if c["forwarded"]]
    h.check(all(c["cn"] == DEVICE for c in fwd), "a forwarded connection without the device's "
            "certificate: %r" % fwd)
    carried = [c for c in proxy.conns()[mark:] if c["cn"] == DEVICE and c["up_bytes"] > len(photo)]
    h.check(carried, "the upload's connection (client CN %s, > %d bytes up): %r"
            % (DEVICE, len(photo), proxy.conns()[mark:]))
    print("ok   fleet-signed proxy: photo (%d bytes) at the hub byte for byte, over a connection "
          "whose client certificate CN is %s" % (len(photo), DEVICE))
    agent.stop()
    print("ok   %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    h.main(run)
