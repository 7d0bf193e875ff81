#!/usr/bin/env python3
"""Disk full on the agent (issue 8). The agent's database lives on a small
tmpfs that a filler file fills up (when this process may mount; otherwise
the documented SHOAL_DB_MAX_PAGES knob caps the database instead). Proves:
  - selling until the disk is full ends in a clear error: exit 1, one stderr
    line naming the full storage, no JSON on stdout
  - nothing is corrupted: integrity_check ok; every sale the CLI confirmed is
    there with its lines and its outbox row; failed attempts left no trace
    (sales = outbox rows = receipt counter = confirmed sales)
  - `status` still answers while the disk is full
  - once space returns, selling resumes and the new sale is durable too
"""
import json
import os
import shutil
import sqlite3
import subprocess

import shoal_harness as h

MAX_ATTEMPTS = 4000


def sale(env, cfg, basket, extra_env=None):
    return h.agent_cmd("sale", "-c", cfg, "--basket", basket, env=extra_env, timeout=30)


def db_facts(db, snapshot_dir=None):
    """Facts about the database as it is on disk. With snapshot_dir, the
    database and its WAL are copied there first (SQLite rebuilds the shared
    memory index from them), since a full disk refuses even readers' -shm."""
    if snapshot_dir:
        os.makedirs(snapshot_dir, exist_ok=True)
        for suffix in ("", "-wal"):
            if os.path.exists(db + suffix):
                shutil.copyfile(db + suffix, os.path.join(snapshot_dir, "agent.db" + suffix))
        db = os.path.join(snapshot_dir, "agent.db")
    con = sqlite3.connect(db, timeout=10)
    try:
        return {
            "integrity": con.execute("PRAGMA integrity_check").fetchone()[0],
            "sales": con.execute("SELECT COUNT(*) FROM sales").fetchone()[0],
            "lines": con.execute("SELECT COUNT(*) FROM sale_lines").fetchone()[0],
            "outbox": con.execute("SELECT COUNT(*) FROM outbox WHERE type = 'sale'").fetchone()[0],
            "counter": con.execute("SELECT last FROM sale_counter").fetchone()[0],
            "receipts": {r[0] for r in con.execute("SELECT receipt FROM sales")},
            "orphans": con.execute("SELECT COUNT(*) FROM sales s LEFT JOIN outbox o ON "
                                   "o.seq = s.outbox_seq WHERE o.seq IS NULL").fetchone()[0],
        }
    finally:
        con.close()


def try_mount(path):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode == 0


def fill(path):
    """Writes a filler file until the filesystem is full; returns its path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test():
    with h.Env("disk_full") as env:
        disk = env.path("disk")
        mounted = try_mount(disk)
        try:
            cfg, basket, confirmed = setup(env, disk)
            if mounted:  # a real filesystem with no space left
                phase(env, disk, cfg, basket, confirmed, "tmpfs")
            else:
                print("note mounting a tmpfs is not permitted here: filesystem phase not run")
            # SQLITE_FULL inside the sale transaction itself
            phase(env, disk, cfg, basket, confirmed, "max_pages")
        finally:
            if mounted:
                subprocess.run(["umount", "-l", disk])


def setup(env, disk):
    os.makedirs(disk, exist_ok=True)
    db = os.path.join(disk, "agent.db")
    cfg = env.agent_config("pos1", "cd-001", "cn-sw", trust=False, local_api=False, db=db)
    pol = env.write_file("global.json", {"scope": "global", "currency": "CNY", "items": [
        {"sku": "MT-001", "name": "Milk tea " + "x" * 200, "price": 2800}]})
    h.agent_cmd("policy", "import", "-c", cfg, pol, expect=0)
    basket = env.write_file("basket.json", {
        "region": "cn-sw", "store": "cd-001",
        "lines": [{"sku": "MT-001", "qty": 2}]})
    confirmed = []
    for _ in range(5):
        r = sale(env, cfg, basket)
        h.check(r.rc == 0, "sale before the disk is full: %r" % r)
        confirmed.append(r.json()["id"])
    return cfg, basket, confirmed


def phase(env, disk, cfg, basket, confirmed, mode):
    db = os.path.join(disk, "agent.db")
    knob, filler = None, None
    if mode == "tmpfs":
        filler = fill(disk)
        how = "a 1.5 MB tmpfs filled by a filler file"
    else:
        con = sqlite3.connect(db)
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.close()
        knob = {"SHOAL_DB_MAX_PAGES": str(pages + 4)}
        how = "SHOAL_DB_MAX_PAGES=%d (SQLITE_FULL inside the sale transaction)" % (pages + 4)
    before = len(confirmed)
    failure = None
    for _ in range(MAX_ATTEMPTS):
        r = sale(env, cfg, basket, knob)
        if r.rc == 0:
            confirmed.append(r.json()["id"])
            continue
        failure = r
        break
    h.check(failure is not None, "[%s] no failure after %d sales on a full disk" % (mode, MAX_ATTEMPTS))
    lines = [l for l in failure.err.splitlines() if l.strip()]
    h.check(failure.rc == 1, "[%s] disk full exits 1, got %d: %s" % (mode, failure.rc, failure.err))
    h.check(len(lines) == 1 and lines[0].startswith("shoal-agent: error: ")
            and "storage full" in lines[0].replace(disk, "DISK"),
            "[%s] one clear stderr line naming full storage: %r" % (mode, failure.err))
    h.check(failure.out.strip() == "", "[%s] no sale id printed for a failed sale" % mode)
    print("ok   [%s] disk full via %s after %d more sales: %s"
          % (mode, how, len(confirmed) - before, lines[0].replace(disk, "DISK")))

    # status may need to recreate SQLite's shared-memory file, which a full
    # filesystem refuses: then it fails with the same clear error.
    st = h.agent_cmd("status", "-c", cfg, env=knob)
    if st.rc == 0:
        h.check(st.json()["outbox_pending"] == len(confirmed),
                "[%s] status while full reports every confirmed sale pending: %r" % (mode, st))
        print("ok   [%s] status answers while full (outbox_pending %d)" % (mode, len(confirmed)))
    else:
        h.check(st.rc == 1 and "storage full" in st.err.replace(disk, "DISK"),
                "[%s] status on a full disk fails clearly: %r" % (mode, st))
        print("ok   [%s] status fails with the same clear error (exit 1, storage full)" % mode)

    f = db_facts(db, env.path("snapshot-" + mode))
    h.check(f["integrity"] == "ok", "[%s] integrity_check: %s" % (mode, f["integrity"]))
    h.check(f["sales"] == f["outbox"] == f["counter"] == len(confirmed) and f["orphans"] == 0,
            "[%s] sales/outbox/counter vs confirmed: %r vs %d"
            % (mode, {k: f[k] for k in ("sales", "outbox", "counter")}, len(confirmed)))
    h.check(f["receipts"] == set(confirmed), "[%s] every confirmed receipt is stored, and only those" % mode)
    print("ok   [%s] no corruption: integrity ok, %d sales = %d outbox rows = receipt counter"
          % (mode, f["sales"], f["outbox"]))

    if filler:
        os.unlink(filler)
    for _ in range(5):
        r = sale(env, cfg, basket)
        h.check(r.rc == 0, "[%s] sale after space returned: %r" % (mode, r))
        confirmed.append(r.json()["id"])
    f = db_facts(db)
    h.check(f["integrity"] == "ok" and f["sales"] == f["outbox"] == len(confirmed)
            and f["receipts"] == set(confirmed), "[%s] after recovery: %r" % (mode, f["sales"]))
    print("ok   [%s] space returned: selling resumed, %d sales all durable with their outbox rows"
          % (mode, len(confirmed)))


if __name__ == "__main__":
    h.main(test)
