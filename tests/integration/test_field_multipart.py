"""test_field_multipart - photos through the store API (SPEC 15): POST
/v1/forms/{id}/submissions as multipart/form-data (part "data" = the JSON
fields, a file part per photo field) records the submission with the photo's
{"sha256", "bytes", "type"}, and the uploader brings the photo to the hub
byte for byte. A file part for a field that is not a photo, and a JSON
photo value naming a file the device does not hold, are refused with 422."""

import hashlib
import http.client
import json
import os

import shoal_harness as h
from sync_helpers import Fleet

FORM = {"scope": "global",
        "forms": [{"id": "inspect", "version": 1, "title": "Inspection",
                   "fields": [{"id": "note", "type": "text"},
                              {"id": "photo", "type": "photo", "required": True}]}]}


def multipart(parts, boundary="shoalBOUNDARY42"):
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
        out += ("Content-Disposition: %s\r\n" % disp).encode()
        if ctype:
            out += ("Content-Type: %s\r\n" % ctype).encode()
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n", "multipart/form-data; boundary=" + boundary


def post(port, path, body, ctype):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", path, body=body, headers={"Content-Type": ctype})
    r = c.getresponse()
    out = (r.status, r.read())
    c.close()
    return out


def run():
    with h.Env("field_multipart") as env:
        f = Fleet(env)
        hub_cfg = env.hub_config(http=True)
        f.hub_cfg = hub_cfg
        hport = int(json.load(open(hub_cfg))["http"]["listen"].split(":")[1])
        f.start_hub()
        prof = f.profile("hh1", ["forms", "tickets"])
        cfg = env.agent_config("hh1", "s1", "cn-sw", profile=prof,
                               hub_url="http://127.0.0.1:%d" % hport)
        f.cfgs["hh1"] = cfg
        aport = int(json.load(open(cfg))["local_api"]["listen"].split(":")[1])
        f.status("hh1")
        f.start_agent("hh1")
        f.wait_connected("hh1", 30)
        f.publish(env.write_file("forms.json", FORM))
        h.wait_until(lambda: f.status("hh1")["policies"].get("global") == 1, 30, "form policy")
        h.wait_until(lambda: h.port_open(aport), 20, "store API")

        def form_served():
            c = http.client.HTTPConnection("127.0.0.1", aport, timeout=10)
            c.request("GET", "/v1/forms/inspect")
            r = c.getresponse()
            r.read()
            return r.status == 200
        h.wait_until(form_served, 30, "the store API to serve the form")

        photo = os.urandom(1500 * 1024)
        sha = hashlib.sha256(photo).hexdigest()
        body, ctype = multipart([("data", None, "application/json", b'{"note": "door"}'),
                                 ("photo", "door.png", "image/png", photo)])
        st, out = post(aport, "/v1/forms/inspect/submissions", body, ctype)
        h.check(st == 201, "multipart submission: %d %r" % (st, out[:300]))
        rows = f.agent_query("hh1", "SELECT data FROM form_submissions")
        val = json.loads(rows[0][0])["photo"]
        h.check(val == {"sha256": sha, "bytes": len(photo), "type": "image/png"},
                "photo value recorded: %r" % val)

        body, ctype = multipart([("data", None, None, b"{}"), ("note", "x.txt", None, b"abc")])
        st, out = post(aport, "/v1/forms/inspect/submissions", body, ctype)
        h.check(st == 422 and b"no photo field note" in out, "file for a text field: %d %r" % (st, out))
        fake = {"note": "x", "photo": {"sha256": "ab" * 32, "bytes": 10, "type": "image/png"}}
        c = http.client.HTTPConnection("127.0.0.1", aport, timeout=30)
        c.request("POST", "/v1/forms/inspect/submissions", body=json.dumps(fake),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        out = r.read()
        h.check(r.status == 422 and b"not in this device's media store" in out,
                "a photo the device does not hold: %d %r" % (r.status, out))

        def got():
            c = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
            c.request("GET", "/api/v1/media/" + sha, headers={"Authorization": "Bearer test-token"})
            r = c.getresponse()
            data = r.read()
            return (r.status, r.getheader("Content-Type"), data)
        h.wait_until(lambda: got()[0] == 200, 60, "photo at the hub")
        st, ct, data = got()
        h.check(data == photo and ct == "image/png", "hub serves the photo byte for byte (%s)" % ct)
        print("ok   multipart submission through the store API: photo at the hub byte for byte; "
              "non-photo file and unheld photo refused (422)")


if __name__ == "__main__":
    h.main(run)
