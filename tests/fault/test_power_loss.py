#!/usr/bin/env python3
"""Power-loss-style crashes during outbox writes (issue 8). While sales are
being recorded, `kill -9` hits:
  - `shoal-agent sale` processes at random moments (mid-transaction),
  - the `shoal-agent run` daemon several times (mid-send, mid-ack-delete),
  - `shoal-hub run` once (mid-ingest).
Then everything restarts and drains. Proves: every sale the CLI confirmed
(printed its id) is in the agent's database AND at the hub exactly once; a
killed sale is all-or-nothing (sale, lines, outbox row); the agent database
passes integrity_check; the hub holds exactly the agent's sales, no more.
(kill -9 loses no page cache, so it tests crash atomicity; power loss itself
is covered by synchronous=FULL, see shared/db.c.)
"""
import json
import random
import sqlite3
import subprocess
import threading
import time

import shoal_harness as h

SALES = 240
WORKERS = 3


def test():
    rnd = random.Random(8)
    with h.Env("power_loss") as env:
        env.start_broker()
        hub_cfg = env.hub_config()
        hub = env.start_hub(hub_cfg)
        cfg = env.agent_config("pos1", "cd-001", "cn-sw", local_api=False)
        pol = env.write_file("global.json", {"scope": "global", "currency": "CNY",
                                             "items": [{"sku": "MT-001", "price": 2800},
                                                       {"sku": "CK-001", "price": 1800}]})
        h.agent_cmd("policy", "import", "-c", cfg, pol, expect=0)
        basket = env.write_file("basket.json", {
            "region": "cn-sw", "store": "cd-001",
            "lines": [{"sku": "MT-001", "qty": 1}, {"sku": "CK-001", "qty": 2}]})
        agent = env.start_agent(cfg)

        confirmed, killed, lock = [], [0], threading.Lock()
        todo = list(range(SALES))

        def worker(seed):
            wr = random.Random(seed)
            while True:
                with lock:
                    if not todo:
                        return
                    todo.pop()
                p = subprocess.Popen([h.binary("shoal-agent"), "sale", "-c", cfg, "--basket", basket],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                if wr.random() < 0.3:  # crash this one somewhere inside its transaction
                    time.sleep(wr.uniform(0, 0.02))
                    p.kill()
                out, _ = p.communicate(timeout=60)
                if p.returncode == 0:
                    with lock:
                        confirmed.append(json.loads(out)["id"])
                elif p.returncode == -9:
                    with lock:
                        killed[0] += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
        for t in threads:
            t.start()
        daemon_kills = 0
        hub_killed = False
        while any(t.is_alive() for t in threads):
            time.sleep(rnd.uniform(0.2, 0.6))
            agent.kill9()
            daemon_kills += 1
            if not hub_killed and daemon_kills == 3:
                hub.kill9()
                hub.restart()
                hub_killed = True
            agent.restart()
        for t in threads:
            t.join(timeout=120)
        h.check(len(confirmed) > SALES // 2, "too few sales confirmed: %d" % len(confirmed))
        print("ok   %d sales confirmed, %d sale processes and %d daemons killed with SIGKILL, hub killed once"
              % (len(confirmed), killed[0], daemon_kills))

        adb = env.path("pos1.db")

        def drained():
            st = h.agent_cmd("status", "-c", cfg)
            return st.rc == 0 and st.json()["outbox_pending"] == 0
        h.wait_until(drained, 120, "agent outbox drained to the hub")
        con = sqlite3.connect(adb, timeout=10)
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        agent_sales = {r[0] for r in con.execute("SELECT receipt FROM sales")}
        bad_lines = con.execute("SELECT COUNT(*) FROM sales s WHERE (SELECT COUNT(*) FROM sale_lines l "
                                "WHERE l.receipt = s.receipt) != 2").fetchone()[0]
        last_seq = int(con.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
        con.close()
        h.check(integrity == "ok", "agent integrity_check: %s" % integrity)
        missing = set(confirmed) - agent_sales
        h.check(not missing, "confirmed sales lost by the agent: %r" % sorted(missing)[:5])
        h.check(bad_lines == 0, "%d sales without exactly their 2 lines (torn transaction)" % bad_lines)
        print("ok   agent: integrity ok, all %d confirmed sales present (%d stored; killed ones all-or-nothing)"
              % (len(confirmed), len(agent_sales)))

        hub_rows = env.hub_query("SELECT receipt FROM sales WHERE device = 'pos1'")
        hub_sales = [r[0] for r in hub_rows]
        h.check(len(hub_sales) == len(set(hub_sales)), "duplicate sales at the hub")
        h.check(set(hub_sales) == agent_sales,
                "hub and agent disagree: hub-only %r, agent-only %r"
                % (sorted(set(hub_sales) - agent_sales)[:5], sorted(agent_sales - set(hub_sales))[:5]))
        # The restarted daemon's hello may still be on its way: the watermark
        # must reach the agent's last seq, whatever that is by then.
        def caught_up():
            c = sqlite3.connect(adb, timeout=10)
            last = int(c.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
            c.close()
            up = env.hub_query("SELECT MAX(upto) FROM streams WHERE device = 'pos1'")[0][0]
            return last if up == last else None
        last_seq = h.wait_until(caught_up, 60, "hub watermark = agent's last seq")
        dead = env.hub_db_count("dead_letters")
        h.check(dead == 0, "%d dead letters" % dead)
        print("ok   hub holds exactly the agent's %d sales once each; watermark = last seq %d, no dead letters"
              % (len(hub_sales), last_seq))
        agent.stop()
        hub.stop()


if __name__ == "__main__":
    h.main(test)
