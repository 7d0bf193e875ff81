#!/usr/bin/env python3
"""test_field_serves_acl - `shoal-hub provision --serves` against a real TLS
Mosquitto configured by `shoal-hub broker-config` (SPEC 15). A handheld of
store s1 provisioned with --serves s1,s2 reads the down topics of exactly s1
and s2 (not s3), its agent.json lists serves; a device provisioned without
--serves reads only its own store's; a bad store id in --serves is refused
(exit 3) before anything is issued; the hub records the serves list for the
ingest check."""
import json
import os
import time

import shoal_harness as h
from test_tls_acl import TlsSub, keygen, pub, tls_args

P = h.PREFIX


def test():
    with h.Env("field_serves_acl") as env:
        port = h.free_port()
        bdir = env.path("broker")
        hub_cfg = h.write_json(env.path("hub.json"), {
            "db": env.path("hub.db"), "signing_key": keygen(env),
            "mqtt": {"host": "127.0.0.1", "port": port,
                     "tls": {"ca": os.path.join(bdir, "ca.crt"), "cert": os.path.join(bdir, "hub.crt"),
                             "key": os.path.join(bdir, "hub.key")}}})
        env.hub_cfg = hub_cfg
        r = h.hub_cmd("provision", "-c", hub_cfg, "--store", "s1", "--device", "hh1", "--serves",
                      "s1,s/2", "--out", env.path("bad"))
        h.check(r.rc == 3 and not os.path.exists(env.path("bad", "device.crt")),
                "a bad --serves store is refused before issuing: %r" % r)
        res = h.run_json([h.binary("shoal-hub"), "provision", "-c", hub_cfg, "--store", "s1",
                          "--device", "hh1", "--region", "r1", "--serves", "s1,s2",
                          "--profile", "handheld-scanner", "--out", env.path("hh1")])
        h.check(res["serves"] == ["s1", "s2"], "provision result %r" % res)
        cfg = json.load(open(env.path("hh1", "agent.json")))
        h.check(cfg["serves"] == ["s1", "s2"], "agent.json serves: %r" % cfg)
        h.run_json([h.binary("shoal-hub"), "provision", "-c", hub_cfg, "--store", "s3",
                    "--device", "pos3", "--region", "r1", "--out", env.path("pos3")])
        rows = env.hub_query("SELECT device, store, source FROM device_serves ORDER BY 1, 2")
        h.check(rows == [("hh1", "s1", "provision"), ("hh1", "s2", "provision"),
                         ("pos3", "s3", "provision")], "device_serves rows %r" % rows)

        res = h.run_json([h.binary("shoal-hub"), "broker-config", "-c", hub_cfg, "--out", bdir])
        acl = open(res["acl"]).read()
        block = acl.split("user hh1\n", 1)[1].split("\n\n", 1)[0]
        h.check("topic read %s/down/s1\n" % P in block + "\n" and "topic read %s/down/s2" % P in block
                and "down/s3" not in block, "hh1's ACL grants down of s1 and s2 only:\n%s" % block)
        env.start_proc("mosquitto", [h.MOSQUITTO, "-c", res["config"]])
        h.wait_until(lambda: h.port_open(port), 10, "TLS broker on %d" % port)
        hub_args = tls_args(bdir, port, cert="hub.crt", key="hub.key")
        s_hh = TlsSub(tls_args(env.path("hh1"), port), ["%s/down/#" % P])
        s_p3 = TlsSub(tls_args(env.path("pos3"), port), ["%s/down/#" % P])
        try:
            for st in ("s1", "s2", "s3"):
                pub(hub_args, "%s/down/%s" % (P, st), "m-" + st)
            h.wait_until(lambda: len(s_hh.topics()) >= 2 and len(s_p3.topics()) >= 1, 10,
                         "down messages")
            time.sleep(0.5)
            h.check(set(s_hh.topics()) == {"%s/down/s1" % P, "%s/down/s2" % P},
                    "hh1 reads exactly s1 and s2: %r" % s_hh.topics())
            h.check(set(s_p3.topics()) == {"%s/down/s3" % P},
                    "pos3 reads only its own store: %r" % s_p3.topics())
        finally:
            s_hh.stop()
            s_p3.stop()
        print("ok   --serves s1,s2: the broker lets hh1 read the down topics of s1 and s2, not s3")


if __name__ == "__main__":
    h.main(test)
