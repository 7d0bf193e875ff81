#!/usr/bin/env python3
"""Runs one conformance vector (pricing or forms, SPEC 5 and 6) against shoal-agent.

usage: run_vector.py PATH/TO/shoal-agent VECTOR.json
Pricing vectors call `shoal-agent price --policy P... --basket B`; form vectors call
`shoal-agent form validate --policy P... --region R --store S --form ID --data D`.
Every field the vector expects is compared; exits 0 on a match, 1 naming the difference."""
import json, os, subprocess, sys, tempfile


def run(agent, vec_path):
    v = json.load(open(vec_path, encoding="utf-8"))
    kind = os.path.basename(os.path.dirname(vec_path))
    with tempfile.TemporaryDirectory() as d:
        def put(obj, name):
            p = os.path.join(d, name)
            with open(p, "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False)
            return p
        args = [agent, "price" if kind == "pricing" else "form"]
        if kind == "forms":
            args.append("validate")
        for i, pol in enumerate(v["policies"]):
            args += ["--policy", put(pol, "policy%d.json" % i)]
        if kind == "pricing":
            args += ["--basket", put(v["basket"], "basket.json")]
        else:
            args += ["--region", v["region"], "--store", v["store"], "--form", v["form"],
                     "--data", put(v["data"], "data.json")]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    e = v["expect"]
    if kind == "pricing" and "exit" in e:
        if r.returncode != e["exit"]:
            return "exit %d, want %d (stderr: %s)" % (r.returncode, e["exit"], r.stderr.strip())
        if not r.stderr.strip():
            return "exit %d but no error message on stderr" % r.returncode
        return None
    try:
        got = json.loads(r.stdout)
    except ValueError:
        return "exit %d, stdout is not JSON: %r (stderr: %s)" % (r.returncode, r.stdout[:200], r.stderr.strip())
    if kind == "pricing":
        if r.returncode != 0:
            return "exit %d (stderr: %s)" % (r.returncode, r.stderr.strip())
        for k in ("currency", "subtotal", "discount", "rounding", "total", "coupons"):
            if k in e and got.get(k) != e[k]:
                return "%s = %r, want %r" % (k, got.get(k), e[k])
        f = ("sku", "qty", "base_price", "unit_price", "discount", "total")
        gl = [{k: l.get(k) for k in f} for l in got.get("lines", [])]
        el = [{k: l[k] for k in f} for l in e["lines"]]
        if gl != el:
            return "lines %r, want %r" % (gl, el)
        ga = [{k: a.get(k) for k in ("rule", "type", "scope", "discount")} for a in got.get("applied", [])]
        if ga != e["applied"]:
            return "applied %r, want %r" % (ga, e["applied"])
        return None
    want_exit = 0 if e["valid"] else 3
    if r.returncode != want_exit:
        return "exit %d, want %d (stderr: %s)" % (r.returncode, want_exit, r.stderr.strip())
    for k in ("valid", "errors", "data"):
        if got.get(k) != e[k]:
            return "%s = %r, want %r" % (k, got.get(k), e[k])
    return None


if __name__ == "__main__":
    why = run(sys.argv[1], sys.argv[2])
    if why:
        print("FAIL %s: %s" % (os.path.basename(sys.argv[2]), why))
        sys.exit(1)
    print("ok %s" % os.path.basename(sys.argv[2]))
