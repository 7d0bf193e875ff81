#!/usr/bin/env python3
"""Store API under the attacks of the review pass (SPEC 11-12), real
`shoal-agent run`, no broker, no token file (the profiles' default):
- a web page the store's browser opens must not sell through the agent:
  a cross-site "simple" POST (text/plain, no preflight) carrying a foreign
  Origin is 403 and records nothing; a Host header naming another site
  (DNS rebinding) is 403; the agent's own till page origin, IP literals,
  localhost and clients that send no Origin still work.
- a till that retries a sale or return with the same basket serialised in
  another key order (or other whitespace) gets the first result (200, same
  id, nothing recorded again), not a 409; another body is still 409.
- a JSON route announcing a body past its 1 MiB cap is 413 before any body
  byte is read (it was admitted up to the 16 MiB photo-upload cap and
  buffered whole: 512 connections x 16 MiB of memory); a photo submission
  may still announce more than 1 MiB.
- one client address cannot take every event-stream slot: its 9th
  GET /v1/events is 503 while another address still subscribes.
- the till page cannot be framed by another site (clickjacking the Pay
  button): X-Frame-Options DENY and CSP frame-ancestors 'none'.
- a bearer token file every local user can read is named in a warning at
  start (the token itself never reaches the log); a 0600 one is not.
env: SHOAL_AGENT, SHOAL_SOURCE_DIR."""

import json
import socket

import shoal_harness as h
from store_api import StoreApi

check = h.Checks()




GLOBAL = {"scope": "global", "currency": "CNY",
          "items": [{"sku": "MT-001", "name": "Milk tea", "categories": ["tea"], "price": 2800,
                     "tax_bp": 600}]}
BASKET = {"region": "cn-sw", "store": "cd-001", "lines": [{"sku": "MT-001", "qty": 1}]}


def raw(port, req):
    """One raw request; returns (status, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(req)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                     if l.lower().startswith(b"content-length:")]
                if n and len(body) >= n[0]:
                    break
    except OSError:
        pass
    s.close()
    if not data.startswith(b"HTTP/1."):
        return 0, data
    return int(data[9:12]), data.partition(b"\r\n\r\n")[2]


def post(port, path, body, headers):
    b = json.dumps(body).encode()
    hdr = "".join("%s: %s\r\n" % kv for kv in headers.items())
    return raw(port, ("POST %s HTTP/1.1\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % (path, hdr, len(b))).encode() + b)


def sales(env):
    return env.query(env.path("pos-1.db"), "SELECT COUNT(*) FROM sales")[0][0]


def browser_guard(env, port):
    host = "127.0.0.1:%d" % port
    before = sales(env)
    st, body = post(port, "/v1/sales", dict(BASKET, request_id="csrf-1"),
                    {"Host": host, "Origin": "http://evil.example", "Content-Type": "text/plain"})
    check(st == 403 and b"cross-origin" in body,
          "a cross-site text/plain POST /v1/sales is 403: %r %r" % (st, body[:120]))
    st, body = post(port, "/v1/forms/f/submissions", {},
                    {"Host": host, "Origin": "null", "Content-Type": "multipart/form-data; boundary=x"})
    check(st == 403, "an Origin \"null\" (sandboxed page) POST is 403: %r" % st)
    st, body = post(port, "/v1/sales", dict(BASKET, request_id="rebind-1"),
                    {"Host": "evil.example:%d" % port, "Origin": "http://evil.example:%d" % port,
                     "Content-Type": "application/json"})
    check(st == 403 and b"does not name this device" in body,
          "a rebound Host (evil.example) POST /v1/sales is 403: %r %r" % (st, body[:120]))
    st, body = raw(port, ("GET /v1/status HTTP/1.1\r\nHost: evil.example:%d\r\n"
                          "Connection: close\r\n\r\n" % port).encode())
    check(st == 403, "a rebound Host cannot read /v1/status: %r" % st)
    check(sales(env) == before, "the refused browser requests recorded no sale")
    # What must keep working.
    st, body = post(port, "/v1/sales", dict(BASKET, request_id="same-origin-1"),
                    {"Host": host, "Origin": "http://" + host, "Content-Type": "application/json"})
    check(st == 201, "the till page's own origin sells: %r %r" % (st, body[:120]))
    for hv in ("localhost:%d" % port, "127.0.0.1", "[::1]:%d" % port, socket.gethostname()):
        st, _ = raw(port, ("GET /v1/status HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                           % hv).encode())
        check(st == 200, "Host %s is accepted: %r" % (hv, st))
    st, _ = raw(port, b"GET /v1/status HTTP/1.0\r\n\r\n")
    check(st == 200, "a client without Host/Origin (HTTP/1.0) is accepted: %r" % st)
    check(sales(env) == before + 1, "exactly the same-origin sale was recorded")


def reordered(obj):
    """The same JSON with every object's keys in reverse order."""
    if isinstance(obj, dict):
        return {k: reordered(obj[k]) for k in reversed(list(obj))}
    if isinstance(obj, list):
        return [reordered(x) for x in obj]
    return obj


def idempotent_key_order(env, api):
    sale = dict(BASKET, request_id="order-1", cashier="ann",
                payments=[{"method": "cash", "amount": 5000}])
    st, first = api.post("/v1/sales", sale)
    check(st == 201, "sale order-1 recorded: %r %r" % (st, first))
    before = (sales(env), env.query(env.path("pos-1.db"), "SELECT COUNT(*) FROM outbox")[0][0])
    text = json.dumps(reordered(sale), indent=2)
    check(text != json.dumps(sale), "the retry's text differs from the first body")
    st, again = api.post("/v1/sales", text)
    check(st == 200 and isinstance(again, dict) and again.get("id") == first.get("id"),
          "the same sale with its keys in another order replays (200, same id): %r %r"
          % (st, again))
    after = (sales(env), env.query(env.path("pos-1.db"), "SELECT COUNT(*) FROM outbox")[0][0])
    check(after == before, "the replay recorded nothing: %r vs %r" % (after, before))
    st, _ = api.post("/v1/sales", dict(sale, cashier="bob"))
    check(st == 409, "the same key with another body is still 409: %r" % st)
    ret = {"request_id": "order-r1", "sale": first["id"], "reason": "spilt",
           "lines": [{"sku": "MT-001", "qty": 1}]}
    st, r1 = api.post("/v1/returns", ret)
    check(st == 201, "return order-r1 recorded: %r %r" % (st, r1))
    st, r2 = api.post("/v1/returns", json.dumps(reordered(ret)))
    check(st == 200 and isinstance(r2, dict) and r2.get("id") == r1.get("id"),
          "the same return with its keys in another order replays (200): %r %r" % (st, r2))


def json_body_cap(port):
    for path in ("/v1/quote", "/v1/sales", "/v1/returns", "/v1/tickets/scan",
                 "/v1/forms/f/validate"):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                   % (path, 2 * 1024 * 1024)).encode())
        resp = b""
        try:
            while not resp.endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                resp += chunk
        except OSError:
            pass
        s.close()
        check(resp.startswith(b"HTTP/1.1 413") and b"too_large" in resp,
              "%s: a 2 MiB JSON body is 413 before it is read: %r" % (path, resp[:40]))
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"POST /v1/forms/f/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: multipart/form-data; boundary=b\r\n"
              b"Content-Length: 2097152\r\nExpect: 100-continue\r\n\r\n")
    try:
        resp = s.recv(300)
    except OSError:
        resp = b""
    s.close()
    check(resp.startswith(b"HTTP/1.1 100"),
          "a 2 MiB photo submission is admitted (100 Continue): %r" % resp[:40])


def open_stream(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        head = s.recv(64)
    except OSError:
        head = b""
    return s, int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else 0


def sse_per_address(port):
    socks, codes = [], []
    for _ in range(9):
        s, st = open_stream(port, "127.0.0.2")
        socks.append(s)
        codes.append(st)
    check(codes[:8] == [200] * 8, "8 event streams from one address are served: %r" % codes)
    check(codes[8] == 503, "the 9th stream from that address is 503: %r" % codes[8])
    s, st = open_stream(port, "127.0.0.3")
    socks.append(s)
    check(st == 200, "another address still subscribes: %r" % st)
    for s in socks:
        s.close()


def no_framing(api):
    for path in ("/", "/till", "/v1/health"):
        st, hdr, _ = api.raw("GET", path)
        check(st == 200 and hdr.get("x-frame-options") == "DENY" and
              "frame-ancestors 'none'" in hdr.get("content-security-policy", ""),
              "GET %s forbids framing: %r %r" % (path, hdr.get("x-frame-options"),
                                                hdr.get("content-security-policy")))


def token_file_mode(env):
    import os
    for device, mode, warned in (("pos-7", 0o644, True), ("pos-8", 0o600, False)):
        tok = env.write_file(device + ".token", "tok-%s-secret\n" % device)
        os.chmod(tok, mode)
        cfg = env.agent_config(device, "cd-001", "cn-sw")
        c = json.load(open(cfg))
        c["local_api"]["token_file"] = tok
        h.write_json(cfg, c)
        listen = c["local_api"]["listen"]
        env.agent("policy", "import", "-c", cfg, env.path("g.json"), expect=0)
        pr = env.start_agent(cfg)
        port = int(listen.rsplit(":", 1)[1])
        h.wait_until(lambda: h.port_open(port), 20, "store API " + device)
        st, _ = StoreApi(listen, "tok-%s-secret" % device).get("/v1/status")
        check(st == 200, "%s: the token works: %r" % (device, st))
        pr.stop()
        text = pr.log_text()
        has = "token_file" in text and "every user" in text and "%o" % mode in text
        check(has == warned, "%s: token file mode %o %s" % (
            device, mode, "warned" if warned else "not warned") + ("" if has == warned else
                                                                   ": " + text[-300:]))
        check("secret" not in text, "%s: the token is not in the log" % device)


def main():
    with h.Env("store-api-attacks") as env:
        cfg = env.agent_config("pos-1", "cd-001", "cn-sw")
        listen = json.load(open(cfg))["local_api"]["listen"]
        port = int(listen.rsplit(":", 1)[1])
        env.agent("policy", "import", "-c", cfg, env.write_file("g.json", GLOBAL), expect=0)
        agent = env.start_agent(cfg)
        h.wait_until(lambda: h.port_open(port), 20, "store API")
        api = StoreApi(listen)
        browser_guard(env, port)
        idempotent_key_order(env, api)
        json_body_cap(port)
        sse_per_address(port)
        no_framing(api)
        token_file_mode(env)
        check(agent.alive(), "the daemon survived")
        api.close()
    check.done()


if __name__ == "__main__":
    h.main(main)
