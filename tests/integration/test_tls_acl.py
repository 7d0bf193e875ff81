#!/usr/bin/env python3
"""TLS + per-device ACL against a real Mosquitto configured by
`shoal-hub broker-config` (issue 8). Proves, with certificates from
`shoal-hub provision`:
  - identifiers that could reach a topic ('/', '+', '#', empty) are refused (exit 3)
  - a client without a certificate, or with one from another CA, cannot connect
  - a device cannot publish as another device of its store or of another store
    (the hub's subscription never sees it), but its own up/presence arrive
  - a device cannot read another store's topics nor another device's ack/down
  - a revoked device loses its grants after broker-config + SIGHUP
  - shoal-agent run connects over TLS with the provisioned agent.json
  - shoal-hub run (over TLS, as hub@shoal) stores an honest event and
    dead-letters an event whose envelope device does not match its topic
"""
import json
import os
import signal
import subprocess
import time

import shoal_harness as h

P = h.PREFIX


def tls_args(d, port, cert="device.crt", key="device.key", ca="ca.crt"):
    a = ["-h", "127.0.0.1", "-p", str(port), "--cafile", os.path.join(d, ca)]
    if cert:
        a += ["--cert", os.path.join(d, cert), "--key", os.path.join(d, key)]
    return a


def pub(args, topic, payload, qos=1):
    r = subprocess.run([h.MOSQUITTO_PUB] + args + ["-t", topic, "-q", str(qos), "-m", payload],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    return r.returncode, r.stderr.decode(errors="replace")


class TlsSub:
    """mosquitto_sub over TLS collecting 'topic payload' lines."""

    def __init__(self, args, topics):
        argv = [h.MOSQUITTO_SUB] + args + ["-q", "1", "-v"]
        for t in topics:
            argv += ["-t", t]
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, text=True)
        self.lines = []
        import threading
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        time.sleep(0.5)

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def topics(self):
        return [l.split(" ", 1)[0] for l in list(self.lines)]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(timeout=5)


def keygen(env):
    out = env.path("keys")
    r = h.hub_cmd("keygen", "--out", out)
    if r.rc != 0:  # keygen not merged yet: the same P-256 PEM from openssl
        os.makedirs(out, exist_ok=True)
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                        os.path.join(out, "policy-key.pem")], check=True)
    return os.path.join(out, "policy-key.pem")


def test():
    subs = []
    with h.Env("tls_acl") as env:
        port = h.free_port()
        bdir = env.path("broker")
        hub_cfg = h.write_json(env.path("hub.json"), {
            "db": env.path("hub.db"), "signing_key": keygen(env),
            "mqtt": {"host": "127.0.0.1", "port": port,
                     "tls": {"ca": os.path.join(bdir, "ca.crt"), "cert": os.path.join(bdir, "hub.crt"),
                             "key": os.path.join(bdir, "hub.key")}}})
        env.hub_cfg = hub_cfg

        # --- identifiers that could reach a topic are refused before anything is issued
        for bad in ("a/b", "s1/+", "#", "", "-lead", "x" * 65):
            r = h.hub_cmd("provision", "-c", hub_cfg, "--store", "s1", "--device", bad, "--out",
                          env.path("bad"))
            h.check(r.rc == 3, "device id %r refused with exit 3 (got %d: %s)" % (bad, r.rc, r.err))
            r = h.hub_cmd("provision", "-c", hub_cfg, "--store", bad, "--device", "ok1", "--out",
                          env.path("bad"))
            h.check(r.rc == 3, "store id %r refused with exit 3" % bad)
        h.check(not os.path.exists(env.path("bad", "device.crt")), "nothing issued for bad ids")
        print("ok   invalid device/store identifiers refused with exit 3, nothing issued")

        devs = {"pos1": ("s1", "r1"), "pos2": ("s1", "r1"), "pos9": ("s2", "r2")}
        for d, (s, reg) in devs.items():
            res = h.run_json([h.binary("shoal-hub"), "provision", "-c", hub_cfg, "--store", s,
                              "--device", d, "--region", reg, "--out", env.path(d)])
            h.check(res["device"] == d and res["store"] == s, "provision result %r" % res)
            subj = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in",
                                   env.path(d, "device.crt")], capture_output=True, text=True).stdout
            h.check("CN = %s," % d in subj or "CN=%s," % d in subj, "CN of %s: %s" % (d, subj))
            cfg = json.load(open(env.path(d, "agent.json")))
            h.check(cfg["device"] == d and cfg["store"] == s and cfg["region"] == reg
                    and cfg["mqtt"]["tls"]["cert"] == "device.crt" and cfg["trust"]["policy_pub"],
                    "agent.json for %s: %r" % (d, cfg))
        r = h.hub_cmd("provision", "-c", hub_cfg, "--store", "s2", "--device", "pos1", "--out",
                      env.path("moved"))
        h.check(r.rc == 3 and "s1" in r.err, "moving a device to another store needs --force: %r" % r)
        print("ok   provisioned pos1, pos2 (s1) and pos9 (s2): CN = device id, agent.json complete")

        res = h.run_json([h.binary("shoal-hub"), "broker-config", "-c", hub_cfg, "--out", bdir])
        h.check(res["devices"] == 3, "ACL covers 3 devices: %r" % res)
        acl = open(res["acl"]).read()
        h.check("user hub@shoal" in acl and "topic write %s/up/s1/pos1" % P in acl
                and "%u" not in acl and "pattern" not in acl, "ACL shape")
        broker = env.start_proc("mosquitto", [h.MOSQUITTO, "-c", res["config"]])
        h.wait_until(lambda: h.port_open(port), 10, "TLS broker on %d" % port)

        hub_args = tls_args(bdir, port, cert="hub.crt", key="hub.key")
        a1, a2, a9 = (tls_args(env.path(d), port) for d in ("pos1", "pos2", "pos9"))

        # --- no certificate / foreign CA: no connection at all
        rc, err = pub(tls_args(env.path("pos1"), port, cert=None), "%s/up/s1/pos1" % P, "x")
        h.check(rc != 0, "a client without a certificate is refused (rc %d)" % rc)
        rc, _ = pub(["-h", "127.0.0.1", "-p", str(port)], "%s/up/s1/pos1" % P, "x")
        h.check(rc != 0, "a plaintext client is refused")
        os.makedirs(env.path("other"))  # its own folder: its own device CA
        other = h.write_json(env.path("other", "hub.json"), {"db": env.path("other", "hub.db")})
        h.run_json([h.binary("shoal-hub"), "provision", "-c", other, "--store", "s1", "--device",
                    "pos1", "--out", env.path("rogue")])
        rogue = ["-h", "127.0.0.1", "-p", str(port), "--cafile", env.path("pos1", "ca.crt"),
                 "--cert", env.path("rogue", "device.crt"), "--key", env.path("rogue", "device.key")]
        rc, _ = pub(rogue, "%s/up/s1/pos1" % P, "rogue")
        h.check(rc != 0, "a certificate named pos1 from another CA is refused (rc %d)" % rc)
        print("ok   no certificate, plaintext, and a foreign-CA certificate cannot connect")

        # --- writes: own topics arrive at the hub, impersonation never does
        hubsub = TlsSub(hub_args, ["%s/up/+/+" % P, "%s/presence/+/+" % P])
        subs.append(hubsub)
        for topic, payload in (("%s/up/s1/pos2" % P, "forged-same-store"),
                               ("%s/up/s2/pos9" % P, "forged-other-store"),
                               ("%s/presence/s1/pos2" % P, "forged-presence"),
                               ("%s/up/s1/pos1/x" % P, "forged-deeper")):
            pub(a1, topic, payload)
        pub(a1, "%s/presence/s1/pos1" % P, '{"online":true}')
        pub(a1, "%s/up/s1/pos1" % P, "sentinel")
        h.wait_until(lambda: any(l.endswith(" sentinel") for l in hubsub.lines), 10,
                     "pos1's own event at the hub")
        seen = list(hubsub.lines)
        h.check(not any("forged" in l for l in seen), "impersonation reached the hub: %r" % seen)
        h.check("%s/presence/s1/pos1 {\"online\":true}" % P in seen, "own presence arrives: %r" % seen)
        print("ok   pos1 cannot publish as pos2 (same store) or pos9 (other store); own up/presence arrive")

        # --- reads: only own store's down, own ack/down, own policy scopes
        s9 = TlsSub(a9, ["%s/#" % P])
        s2 = TlsSub(a2, ["%s/ack/s1/pos1" % P, "%s/down/s1/pos1" % P, "%s/down/s1" % P,
                         "%s/policy/#" % P])
        subs += [s9, s2]
        for t in ("down/s1", "down/s1/pos1", "ack/s1/pos1", "policy/store/s1", "policy/region/r1",
                  "down/s2/pos9", "policy/global", "down/s2"):
            pub(hub_args, "%s/%s" % (P, t), "m-" + t.replace("/", "_"))
        h.wait_until(lambda: "%s/down/s2" % P in s9.topics(), 10, "pos9 gets its store's down")
        h.wait_until(lambda: "%s/down/s1" % P in s2.topics(), 10, "pos2 gets its store's down")
        time.sleep(0.5)
        t9, t2 = set(s9.topics()), set(s2.topics())
        h.check(t9 == {"%s/%s" % (P, t) for t in ("down/s2/pos9", "policy/global", "down/s2")},
                "pos9 (store s2) read exactly its own topics, got %r" % sorted(t9))
        h.check(t2 == {"%s/%s" % (P, t) for t in ("down/s1", "policy/store/s1", "policy/region/r1",
                                                   "policy/global")},
                "pos2 read exactly its store's/region's topics, not pos1's ack/down: %r" % sorted(t2))
        print("ok   pos9 cannot read store s1's topics; pos2 cannot read pos1's ack or device downlink")

        # --- revocation: after broker-config + SIGHUP pos2 has no grants left
        h.run_json([h.binary("shoal-hub"), "provision", "-c", hub_cfg, "--device", "pos2", "--revoke"])
        h.run_json([h.binary("shoal-hub"), "broker-config", "-c", hub_cfg, "--out", bdir])
        os.kill(broker.pid, signal.SIGHUP)
        time.sleep(0.5)
        pub(a2, "%s/up/s1/pos2" % P, "revoked-device")
        pub(a1, "%s/up/s1/pos1" % P, "sentinel2")
        h.wait_until(lambda: any(l.endswith(" sentinel2") for l in hubsub.lines), 10, "sentinel2")
        h.check(not any("revoked-device" in l for l in hubsub.lines), "a revoked device still publishes")
        print("ok   revoked pos2 can no longer publish after broker-config + SIGHUP")

        # --- the agent daemon connects over TLS with the provisioned config
        agent = env.start_agent(env.path("pos9", "agent.json"), name="agent-pos9")
        h.wait_until(lambda: any(l.startswith("%s/presence/s2/pos9 " % P) and '"online":true' in l
                                 for l in hubsub.lines), 20, "pos9 agent presence over TLS")
        print("ok   shoal-agent run connects over TLS with agent.json and announces presence")

        # --- the hub over TLS: honest event stored, mismatched envelope dead-lettered
        # (the test's own subscribers hold the hub's and pos9's identities:
        # client ids are CNs now, so they leave before the daemons share them)
        for s in subs:
            s.stop()
        hub = env.start_hub(hub_cfg)
        time.sleep(1.0)

        # --- client-id takeover: pos1 connects with the hub's client id, then
        # with pos9's agent's; neither session is closed (the broker binds
        # each client id to the certificate's CN), and the hub keeps ingesting.
        mark_b, mark_h, mark_a = (len(broker.log_text()), len(hub.log_text()),
                                  len(agent.log_text()))
        for victim in ("shoal-hub", "hub@shoal", "shoal-agent-s2-pos9", "pos9"):
            thief = TlsSub(a1 + ["-i", victim], ["%s/down/s1" % P])
            time.sleep(1.0)
            thief.stop()
        blog = broker.log_text()[mark_b:]
        h.check("already connected, closing old connection" not in blog,
                "a device took over another client's session:\n%s" % blog[-1500:])
        h.check("disconnected" not in hub.log_text()[mark_h:].lower(),
                "the hub lost its session to a device: %s" % hub.log_text()[mark_h:][-800:])
        h.check("disconnected" not in agent.log_text()[mark_a:].lower(),
                "pos9's agent lost its session: %s" % agent.log_text()[mark_a:][-800:])
        print("ok   pos1 using the hub's or pos9's client id kicks nobody off")

        # The hub's command-line tools have their own identity: publishing
        # while `shoal-hub run` is connected does not take its session.
        mark_h = len(hub.log_text())
        pol = env.write_file("g.json", {"scope": "global", "items": [{"sku": "A", "price": 100}]})
        h.run_json([h.binary("shoal-hub"), "publish", "-c", hub_cfg, "--policy", pol])
        time.sleep(0.5)
        h.check("disconnected" not in hub.log_text()[mark_h:].lower(),
                "shoal-hub publish kicked shoal-hub run off: %s" % hub.log_text()[mark_h:][-800:])
        print("ok   shoal-hub publish (identity hub-tools@shoal) leaves shoal-hub run connected")
        epoch = h.new_epoch()
        ok_ev = h.event("pos1", "s1", epoch, 1, "sale", h.sale_body("s1", "r1"))
        bad_ev = h.event("pos2", "s1", h.new_epoch(), 1, "sale", h.sale_body("s1", "r1"))
        pub(a1, "%s/up/s1/pos1" % P, ok_ev)
        pub(a1, "%s/up/s1/pos1" % P, bad_ev)
        h.wait_until(lambda: env.hub_db_count("dead_letters") >= 1, 20, "dead letter")
        h.wait_until(lambda: env.hub_db_count("events", "device = 'pos1'") == 1, 20, "honest event")
        h.check(env.hub_db_count("events", "device = 'pos2'") == 0,
                "the hub stored an event whose envelope device does not match its topic")
        reason = env.hub_query("SELECT reason FROM dead_letters")[0][0]
        print("ok   hub stores pos1's event and dead-letters the envelope claiming pos2 (%s)" % reason)
        hub.stop()
        agent.stop()
        for s in subs:
            s.stop()


if __name__ == "__main__":
    h.main(test)
