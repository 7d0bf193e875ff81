#!/usr/bin/env python3
"""test_restore_backup - a hub restored from an older backup heals (issue
16), with real Mosquitto, shoal-hub and shoal-agent processes: back up the
hub's database, sell, restore the backup (the hub forgets those sales, the
agent already deleted them from its outbox on the ack), sell again. The
agent sees the hub acknowledge less than it once did, re-sends the lost
seqs from its sale records under their original identity, and at the end
every sale is at the hub exactly once, the hub's watermark equals the
agent's last seq and the outbox is empty."""
import json
import os
import shutil
import sqlite3
import subprocess

import shoal_harness as h
from sync_helpers import Fleet, basket


def backup(src, dst):
    uri = h.hub_pg_uri(src)
    if uri:  # the pg variant: the hub's PostgreSQL database, by pg_dump
        subprocess.run(["pg_dump", "-Fc", "-f", dst, "-d", uri], check=True)
        return
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def restore(src, db):
    uri = h.hub_pg_uri(db)
    if uri:
        subprocess.run(["pg_restore", "--clean", "--if-exists", "--single-transaction", "-d", uri,
                        src], check=True)
        return
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    shutil.copy(src, db)


def run():
    with h.Env("restore_backup") as env:
        f = Fleet(env)
        hub = f.start_hub()
        dev = "pos-cd-1"
        f.add_agent(dev, "chengdu-001", "cn-sw", batch=4)
        f.wait_connected(dev)
        f.publish_catalog(wait_for=[dev])
        for _ in range(5):
            f.sale(dev, basket("cn-sw", "chengdu-001"))
        f.wait_drained([dev], 30)
        db = env.hub_db()
        hub.stop()
        backup(db, env.path("hub-backup.db"))
        hub = f.start_hub()
        print("ok   5 sales at the hub, database backed up")

        for _ in range(9):
            last = f.sale(dev, basket("cn-sw", "chengdu-001"))
        # A return after the backup: lost by the restore like the sales, and
        # rebuilt from the agent's return record.
        r = h.run_cmd([h.binary("shoal-agent"), "return", "-c", f.cfgs[dev], "--sale", last["id"],
                       "--lines", "-"], input=json.dumps([{"sku": last["lines"][0]["sku"], "qty": 1}]),
                      timeout=30)
        h.check(r.rc == 0, "a return of one unit of %s: %r" % (last["id"], r))
        refund = r.json()["refund"]
        f.wait_drained([dev], 30)
        h.check(env.hub_db_count("returns") == 1, "the return reached the hub")
        f.check_report([dev])
        acked_before = f.agent_query(dev, "SELECT acked_upto FROM sync_state")[0][0]
        hub.stop()
        restore(env.path("hub-backup.db"), db)
        lost = 14 - env.hub_db_count("sales")
        h.check(lost == 9, "the restored hub lacks the 9 later sales (lacks %d)" % lost)
        h.check(env.hub_db_count("returns") == 0, "the restored hub lacks the return")
        hub = f.start_hub()
        # The agent restarts too, so its hello (carrying what the hub had
        # acknowledged to it) tells the hub it is behind.
        f.agents[dev].stop()
        f.start_agent(dev)
        f.wait_connected(dev)
        print("ok   9 more sales acked (agent acked up to seq %d), then the hub restored "
              "from the backup" % acked_before)

        for _ in range(4):
            f.sale(dev, basket("cn-sw", "chengdu-001"))
        f.wait_drained([dev], 60)
        f.check_report([dev])
        last_seq = int(f.agent_query(dev, "SELECT value FROM meta WHERE key = 'last_seq'")[0][0])
        upto = env.hub_query("SELECT upto FROM streams WHERE device = ?", (dev,))[0][0]
        h.check(upto == last_seq, "hub watermark %d == agent's last seq %d" % (upto, last_seq))
        h.check(env.hub_db_count("sales", "device = ?", (dev,)) == 18, "18 sales at the hub")
        h.check(env.hub_db_count("returns") == 1, "the lost return is back at the hub, once")
        h.check(env.hub_query("SELECT refund FROM returns")[0][0] == refund,
                "the replayed return refunds %d as recorded" % refund)
        h.check(env.hub_db_count("dead_letters") == 0, "no dead letters from the replay")
        agent_log = f.agents[dev].log_text()
        h.check("re-sending seqs" in agent_log, "the agent logged its replay")
        h.check("restored from a backup?" in hub.log_text(),
                "the hub logged that the device's hello is above what it holds")
        h.check(f.pending(dev) == 0, "outbox empty")
        print("ok   after the restore: 18 sales at the hub exactly once, watermark %d, "
              "outbox empty" % upto)
        h.check(hub.alive(), "hub still running")
        print("PASS test_restore_backup")


if __name__ == "__main__":
    h.main(run)
