#!/usr/bin/env python3
"""Key rotation end to end (issue 8, docs/security.md) with a real Mosquitto,
`shoal-hub trust` and `shoal-agent run`:
  1. the agent trusts k0 (its config); HQ publishes trust v1 = [k0, k1] signed by k0
  2. HQ switches its signing key to k1 and publishes v2 = [k1] signed by k1
  3. the agent holds v2 (stored in its db); a policy signed by k0 is now
     refused and one signed by k1 accepted (when `shoal-hub publish` exists)
  4. a trust update signed by a key the agent never trusted changes nothing
  5. after a broker restart (retained messages lost) `shoal-hub run`
     republishes the chain, and an agent started only now walks it to v2
"""
import json
import os
import subprocess
import time

import shoal_harness as h


def keypair(env, name):
    d = env.path(name)
    r = h.hub_cmd("keygen", "--out", d)
    if r.rc != 0:  # keygen not merged in this tree: same PEM shapes via openssl
        os.makedirs(d, exist_ok=True)
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                        os.path.join(d, "policy-key.pem")], check=True)
        subprocess.run(["openssl", "ec", "-in", os.path.join(d, "policy-key.pem"), "-pubout",
                        "-out", os.path.join(d, "policy-pub.pem")], check=True,
                       stderr=subprocess.DEVNULL)
    return os.path.join(d, "policy-key.pem"), os.path.join(d, "policy-pub.pem")


def trust_version(env, db):
    rows = env.query(db, "SELECT value FROM meta WHERE key = 'trust_version'")
    return int(rows[0][0]) if rows else 0


def test():
    with h.Env("key_rotation") as env:
        env.start_broker()
        k0, k1, evil = keypair(env, "k0"), keypair(env, "k1"), keypair(env, "evil")
        env.keys = k0
        hub_cfg = {"db": env.path("hub.db"), "mqtt": env.broker.mqtt_config(), "signing_key": k0[0]}
        h.write_json(env.path("hub.json"), hub_cfg)
        env.hub_cfg = env.path("hub.json")
        a1 = env.agent_config("pos1", "s1", "r1", local_api=False)
        agent = env.start_agent(a1)
        h.wait_until(lambda: env.query(env.path("pos1.db"),
                                       "SELECT connected FROM sync_state")[0][0] == 1, 20,
                     "agent connected")

        res = h.run_json([h.binary("shoal-hub"), "trust", "-c", env.hub_cfg, "--key", k0[1],
                          "--key", k1[1]])
        h.check(res["version"] == 1 and res["published"], "trust v1 published: %r" % res)
        h.wait_until(lambda: trust_version(env, env.path("pos1.db")) == 1, 20, "agent at trust v1")
        print("ok   agent accepted trust v1 [k0, k1] signed by k0")

        hub_cfg["signing_key"] = k1[0]
        h.write_json(env.hub_cfg, hub_cfg)
        res = h.run_json([h.binary("shoal-hub"), "trust", "-c", env.hub_cfg, "--key", k1[1]])
        h.check(res["version"] == 2, "trust v2: %r" % res)
        h.wait_until(lambda: trust_version(env, env.path("pos1.db")) == 2, 20, "agent at trust v2")
        keys = json.loads(env.query(env.path("pos1.db"),
                                    "SELECT value FROM meta WHERE key='trust_keys'")[0][0])
        h.check(keys == [open(k1[1]).read()], "agent trusts exactly k1 now")
        print("ok   agent accepted trust v2 [k1] signed by k1: k0 is no longer trusted")

        # A forged update (signed by a key never trusted) is refused.
        evil_cfg = dict(hub_cfg, signing_key=evil[0], db=env.path("evil.db"))
        h.write_json(env.path("evil.json"), evil_cfg)
        for i in range(3):  # versions 1..3: v3 is above what the agent holds
            h.run_json([h.binary("shoal-hub"), "trust", "-c", env.path("evil.json"), "--key", evil[1]]
                       + (["--no-publish"] if i < 2 else []))
        h.wait_until(lambda: "trust update refused" in agent.log_text(), 20, "refusal logged")
        h.check(trust_version(env, env.path("pos1.db")) == 2, "forged update changed trust")
        print("ok   a trust update signed by an untrusted key is refused and logged")
        # The forger's retained message replaced HQ's: HQ republishes its chain.
        h.run_json([h.binary("shoal-hub"), "trust", "-c", env.hub_cfg, "--republish"])

        # Policies: k0-signed refused, k1-signed accepted (needs shoal-hub publish).
        pol = env.write_file("global.json", {"scope": "global", "items": [{"sku": "A", "price": 100}]})
        old_cfg = dict(hub_cfg, signing_key=k0[0], db=env.path("old.db"))
        h.write_json(env.path("old.json"), old_cfg)
        h.hub_cmd("publish", "-c", env.path("old.json"), "--policy", pol, expect=0)
        h.wait_until(lambda: "refused" in agent.log_text().split("trust update refused")[-1],
                     20, "k0-signed policy refused")
        h.check(env.query(env.path("pos1.db"),
                          "SELECT COUNT(*) FROM policies WHERE scope='global'")[0][0] == 0,
                "a k0-signed policy was applied after the rotation")
        h.hub_cmd("publish", "-c", env.hub_cfg, "--policy", pol, expect=0)
        h.wait_until(lambda: env.query(env.path("pos1.db"),
                                       "SELECT COUNT(*) FROM policies WHERE scope='global'")[0][0] >= 1,
                     20, "k1-signed policy accepted")
        print("ok   after rotation a k0-signed policy is refused, a k1-signed one accepted")

        # The broker restarts and loses every retained message; the hub
        # republishes the trust chain with the policies when it reconnects.
        hub = env.start_hub(env.hub_cfg)
        env.broker.restart()
        env.wait_log(hub, "republished", timeout=30)
        # A device that slept through both rotations walks the retained chain.
        a2 = env.agent_config("pos2", "s1", "r1", local_api=False)
        late = env.start_agent(a2)
        h.wait_until(lambda: trust_version(env, env.path("pos2.db")) == 2, 20, "late agent at v2")
        print("ok   after a broker restart the hub republishes the chain; an agent that only knew k0 "
              "walks it v1 -> v2")
        hub.stop()
        late.stop()
        agent.stop()


if __name__ == "__main__":
    h.main(test)
