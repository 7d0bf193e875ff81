"""test_field_service - SPEC 15 end to end with a real Mosquitto, hub and
agent. HQ opens a ticket for store B over HTTP and assigns it; a handheld of
store A that serves A and B receives it on P/down/B; the broker goes away;
offline, the handheld scans the ticket's work-order code, books labour and a
part and resolves it; it refuses an event on an unknown ticket and a
transition its local state does not allow (exit 3, both states named), and a
work-order code for store C (exit 4). A 2 MB photo is submitted offline with
--attach. When the broker returns the hub merges the handheld's events into
the store-B ticket (a device of store A, serving B) and the photo reaches
the hub byte for byte. A second photo's upload is cut by stopping the agent
mid-transfer (a proxy lets 700 KB through and holds); after the restart it is uploaded
again from the start and the hub holds exactly its bytes."""

import hashlib
import http.client
import json
import os
import socket
import threading
import time

import shoal_harness as h
from sync_helpers import Fleet

A, B, C, REGION = "store-a", "store-b", "store-c", "cn-sw"

POLICY = {
    "scope": "global",
    "items": [{"sku": "FAN-BELT", "price": 4500, "cost": 2100}],
    "forms": [{"id": "inspect", "version": 1, "title": "Site inspection",
               "fields": [{"id": "note", "type": "text"},
                          {"id": "photo", "type": "photo", "required": True}]}],
    "sla": {"normal": {"respond_min": 60, "resolve_min": 480}},
    "rates": {"labor_per_hour": 9000, "labor_cost_per_hour": 6000, "late_comp_per_hour": 1500},
}


class HoldProxy:
    """A TCP forwarder to 127.0.0.1:port that passes `limit` bytes upstream,
    then holds the connection (reads nothing more) until cut is set, and
    closes it: the hub has seen exactly part of an upload, whatever the
    kernel buffers on the agent's side."""

    def __init__(self, port, limit):
        self.port, self.limit = port, limit
        self.held = threading.Event()
        self.cut = threading.Event()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.listen_port = self.ls.getsockname()[1]
        self.up_bytes = 0
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=self._pipe, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, False), daemon=True).start()

    def _pipe(self, src, dst, slow):
        try:
            while True:
                want = min(16384, self.limit - self.up_bytes) if slow else 65536
                if want <= 0:
                    self.held.set()
                    self.cut.wait(60)
                    break
                data = src.recv(want)
                if not data:
                    break
                dst.sendall(data)
                if slow:
                    self.up_bytes += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.ls.close()


def http_req(port, method, path, body=None, token="test-token"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = {"Authorization": "Bearer " + token} if token else {}
    if body is not None:
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def run():
    with h.Env("field_service") as env:
        f = Fleet(env)
        hub_cfg = env.hub_config(http=True)
        f.hub_cfg = hub_cfg
        hport = int(json.load(open(hub_cfg))["http"]["listen"].split(":")[1])
        f.start_hub()
        prof = f.profile("hh-ab", ["forms", "tickets"], batch=20)
        proxy = HoldProxy(hport, limit=700 * 1024)
        cfg_direct = env.agent_config("hh-ab", A, REGION, profile=prof, local_api=False,
                                      serves=[A, B], hub_url="http://127.0.0.1:%d" % hport)
        f.cfgs["hh-ab"] = cfg_direct
        cfg = json.load(open(cfg_direct))
        slow_cfg = h.write_json(env.path("hh-ab-slow.json"),
                                dict(cfg, hub_url="http://127.0.0.1:%d/" % proxy.listen_port))
        f.status("hh-ab")
        f.start_agent("hh-ab")
        f.wait_connected("hh-ab", 30)
        f.publish(env.write_file("global.json", POLICY))
        h.wait_until(lambda: f.status("hh-ab")["policies"].get("global") == 1, 30, "policy")

        def agent(*args, expect=0, c=None):
            return h.run_cmd([h.binary("shoal-agent")] + list(args) + ["-c", c or f.cfgs["hh-ab"]],
                             expect=expect)

        # HQ opens a ticket for store B and assigns it in one call (HTTP), and a
        # second one with the CLI (open, then assign).
        st, body = http_req(hport, "POST", "/api/v1/tickets",
                            {"store": B, "region": REGION, "category": "fridge",
                             "title": "Fridge 2 warm", "tech": "wang", "group": "field"})
        h.check(st == 201, "POST /api/v1/tickets: %d %r" % (st, body))
        t1 = json.loads(body)
        h.check(t1["store"] == B and t1["state"] == "assigned" and t1["tech"] == "wang",
                "opened and assigned by HQ: %r" % t1)
        tid = t1["id"]
        t2 = h.run_json([h.binary("shoal-hub"), "ticket", "open", "-c", hub_cfg, "--store", B,
                         "--region", REGION, "--category", "pos", "--title", "Till 1"])
        h.check(t2["state"] == "new", "CLI open: %r" % t2)
        st, body = http_req(hport, "POST", "/api/v1/tickets/%s/events" % t2["id"],
                            {"kind": "resolve"})
        h.check(st == 400 and b"new" in body and b"resolved" in body,
                "hub refuses resolve of a new ticket naming both states: %d %r" % (st, body))
        st, body = http_req(hport, "POST", "/api/v1/tickets/nope-1/events", {"kind": "note",
                                                                              "text": "x"})
        h.check(st == 404, "unknown ticket at the hub: %d %r" % (st, body))
        st, _ = http_req(hport, "POST", "/api/v1/tickets", {"store": B}, token="wrong")
        h.check(st == 401, "dispatch needs the token: %d" % st)
        print("ok   HQ opened %s for store B (assigned to wang) and %s (CLI)" % (tid, t2["id"]))

        # The handheld of store A serving B receives both through P/down/store-b.
        h.wait_until(lambda: agent("ticket", "show", "--ticket", tid, expect=None).rc == 0, 30,
                     "handheld to receive the store-B ticket")
        h.wait_until(lambda: agent("ticket", "show", "--ticket", t2["id"], expect=None).rc == 0, 30,
                     "handheld to receive the second ticket")
        local = json.loads(agent("ticket", "show", "--ticket", tid).out)
        h.check(local["state"] == "assigned" and local["store"] == B, "handheld view %r" % local)
        code = h.run_cmd([h.binary("shoal-hub"), "ticket", "code", "-c", hub_cfg, "--ticket", tid],
                         expect=0).out.strip()
        code_c = h.run_cmd([h.binary("shoal-hub"), "ticket", "code", "-c", hub_cfg, "--ticket",
                            "c-ticket-1", "--store", C], expect=0).out.strip()
        print("ok   handheld (store A, serves A and B) received the store-B tickets")

        # Offline: scan, labour, part, resolve; refusals.
        f.broker.stop()
        h.wait_until(lambda: not f.status("hh-ab")["connected"], 20, "agent offline")
        agent("ticket", "scan", "--code", code, "--tech", "wang")
        agent("ticket", "event", "--ticket", tid, "--kind", "labor", "--minutes", "45",
              "--tech", "wang")
        agent("ticket", "event", "--ticket", tid, "--kind", "part", "--sku", "FAN-BELT", "--qty", "2")
        agent("ticket", "event", "--ticket", tid, "--kind", "resolve")
        r = agent("ticket", "event", "--ticket", "no-such-1", "--kind", "note", "--text", "x",
                  expect=3)
        h.check("no such ticket" in r.err, "unknown ticket refused: %r" % r.err)
        h.check(agent("ticket", "show", "--ticket", "no-such-1", expect=None).rc == 3,
                "no phantom ticket was created")
        r = agent("ticket", "event", "--ticket", t2["id"], "--kind", "resolve", expect=3)
        h.check("new" in r.err and "resolved" in r.err, "resolve of a new ticket names both "
                "states: %r" % r.err)
        r = agent("ticket", "scan", "--code", code_c, expect=4)
        h.check("another store" in r.err, "store C code refused: %r" % r.err)
        print("ok   offline: scanned, 45 min + 2 parts, resolved; unknown ticket, new->resolved "
              "(exit 3) and a store-C code (exit 4) refused")

        # A photo submitted offline.
        photo = os.urandom(2 * 1024 * 1024)
        pth = env.path("photo1.jpg")
        open(pth, "wb").write(photo)
        sha1 = hashlib.sha256(photo).hexdigest()
        data = env.write_file("form.json", {"note": "compressor noisy"})
        sub = json.loads(agent("form", "submit", "--form", "inspect", "--data", data,
                               "--attach", "photo=" + pth).out)
        h.check(sub["id"], "submission recorded offline: %r" % sub)
        big = env.path("big.jpg")
        with open(big, "wb") as fh:
            fh.truncate(600 * 1024 * 1024)
        r = agent("form", "submit", "--form", "inspect", "--data", data, "--attach", "photo=" + big,
                  expect=3)
        h.check("over the limit" in r.err, "a photo over media.max_mb is refused: %r" % r.err)
        os.unlink(big)

        f.broker.start()
        f.wait_connected("hh-ab", 30)
        f.wait_drained(["hh-ab"], 60)

        def hub_ticket():
            return h.run_json([h.binary("shoal-hub"), "ticket", "show", "-c", hub_cfg,
                               "--ticket", tid])
        h.wait_until(lambda: hub_ticket()["state"] == "resolved", 30, "hub to merge the resolve")
        ht = hub_ticket()
        h.check(ht["labor_minutes"] == 45 and ht["parts"] == [{"sku": "FAN-BELT", "qty": 2}]
                and ht["store"] == B, "hub merged the handheld's work: %r" % ht)
        h.check(env.hub_db_count("dead_letters") == 0, "nothing dead-lettered")
        print("ok   hub merged the handheld's store-B events (device of store A serving B)")

        def got(sha):
            st, body = http_req(hport, "GET", "/api/v1/media/" + sha)
            return body if st == 200 else None
        h.wait_until(lambda: got(sha1) is not None, 60, "photo to reach the hub")
        h.check(got(sha1) == photo, "the hub holds the photo byte for byte")
        st, _ = http_req(hport, "GET", "/api/v1/media/" + sha1, token=None)
        h.check(st == 401, "GET media needs the bearer token: %d" % st)
        h.check(not os.path.exists(cfg["db"] + ".media/" + sha1), "uploaded photo left the device")
        print("ok   photo 1 (2 MB, submitted offline) reached the hub byte for byte")

        # Restart mid-upload: through the proxy, which lets 700 KB of the body
        # through and holds; the agent stops there; restarted, it points
        # straight at the hub.
        f.agents["hh-ab"].stop()
        f.cfgs["hh-ab"] = slow_cfg
        photo2 = os.urandom(2 * 1024 * 1024)
        p2 = env.path("photo2.jpg")
        open(p2, "wb").write(photo2)
        sha2 = hashlib.sha256(photo2).hexdigest()
        agent("form", "submit", "--form", "inspect", "--data", data, "--attach", "photo=" + p2)
        proc = env.start_agent(slow_cfg, name="agent-hh-ab-slow")
        h.wait_until(proxy.held.is_set, 60, "the upload to pass 700 KB")
        tmp = os.path.join(os.path.dirname(hub_cfg), "media", "tmp")
        h.check(len(os.listdir(tmp)) == 1, "the hub is streaming the upload to a temp file: %r"
                % os.listdir(tmp))
        proc.stop()
        proxy.cut.set()
        h.wait_until(lambda: not os.listdir(tmp), 20, "hub to drop the truncated upload")
        h.check(got(sha2) is None, "the cut upload is not stored at the hub")
        h.check(env.hub_query("SELECT stored_ms FROM media WHERE sha256 = ?", (sha2,)) == [(None,)],
                "the hub still waits for photo 2")
        print("ok   upload cut after %d KB: nothing stored, hub temp file dropped"
              % (proxy.up_bytes // 1024))
        # Hostile PUTs while photo 2 is named but not held: none stores a byte.
        def put(sha, body, length=None):
            c = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
            c.putrequest("PUT", "/api/v1/media/" + sha)
            c.putheader("Content-Length", str(len(body) if length is None else length))
            c.endheaders()
            try:
                c.send(body)
            except OSError:
                pass
            r = c.getresponse()
            out = (r.status, r.read())
            c.close()
            return out
        wrong = bytearray(photo2)
        wrong[12345] ^= 0xFF
        for what, args, want in (
                ("wrong hash, right size", (sha2, bytes(wrong)), 400),
                ("wrong size", (sha2, photo2[:1000]), 400),
                ("unknown hash", (hashlib.sha256(b"x").hexdigest(), b"x"), 404),
                ("malformed hash", ("ABC", b"x"), 400),
                ("second copy of a held photo", (sha1, photo), 409)):
            st, body = put(*args)
            h.check(st == want, "%s: want %d, got %d %r" % (what, want, st, body))
        h.check(got(sha2) is None and not os.listdir(tmp), "no hostile PUT stored bytes")
        h.check(len([n for n in os.listdir(os.path.dirname(tmp)) if n != "tmp"]) == 1,
                "the hub's media folder holds photo 1 only")
        print("ok   hostile PUTs refused (wrong hash 400, wrong size 400, unknown 404, "
              "malformed 400, duplicate 409), nothing stored")
        f.cfgs["hh-ab"] = cfg_direct
        f.start_agent("hh-ab")
        h.wait_until(lambda: got(sha2) is not None, 60, "photo 2 after the restart")
        h.check(got(sha2) == photo2, "photo 2 byte for byte after the restart")
        print("ok   after the restart photo 2 uploaded again and is byte for byte")
        proxy.close()


if __name__ == "__main__":
    h.main(run)
