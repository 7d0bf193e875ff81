#!/usr/bin/env python3
"""Differential test of the form engine (SPEC 6): `shoal-agent form validate
--policy ...` against an independent Python reference written here from the
SPEC text (its own expression parser over decimal.Decimal, its own validation
walk). The reference must first reproduce every conformance vector (so it is
a fair judge); then both validate a few hundred seeded random submissions of
the vectors' forms (absent/null/empty values, wrong types, bounds, patterns,
choices, unknown keys, shuffled key order) and must agree exactly on valid,
errors (in order) and cleaned data (in field order).
env: SHOAL_AGENT, SHOAL_SOURCE_DIR; optional REF_CASES (default 400), REF_SEED."""
import datetime
import glob
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from decimal import ROUND_HALF_UP, Decimal, getcontext

AGENT = os.environ.get("SHOAL_AGENT", "build/agent/shoal-agent")
SRC = os.environ.get("SHOAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = int(os.environ.get("REF_CASES", "400"))
SEED = int(os.environ.get("REF_SEED", "20261122"))
getcontext().prec = 60

# ------------------------------------------------------------ expressions

TOKEN = re.compile(r"""\s*(?:(?P<num>[0-9]+(?:\.[0-9]+)?)|(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
                   |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
                   |(?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,))""", re.X)
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


def tokenize(text):
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise SyntaxError("at %d" % pos)
        pos = m.end()
        if m.group("num"):
            out.append(("num", Decimal(m.group("num"))))
        elif m.group("str"):
            s = m.group("str")[1:-1]
            out.append(("str", re.sub(r"\\(.)", lambda x: {"n": "\n", "t": "\t"}.get(x.group(1), x.group(1)), s)))
        elif m.group("name"):
            n = m.group("name")
            out.append(("kw", n) if n in KEYWORDS else ("name", n))
        else:
            out.append(("op", m.group("op")))
    out.append(("end", None))
    return out


class Parser:
    """Precedence low to high: or, and, not, comparison/in, + -, * /, unary minus."""

    def __init__(self, text):
        self.t, self.i = tokenize(text), 0

    def peek(self):
        return self.t[self.i]

    def take(self):
        self.i += 1
        return self.t[self.i - 1]

    def parse(self):
        e = self.or_()
        if self.peek()[0] != "end":
            raise SyntaxError("trailing")
        return e

    def or_(self):
        e = self.and_()
        while self.peek() == ("kw", "or"):
            self.take()
            e = ("or", e, self.and_())
        return e

    def and_(self):
        e = self.not_()
        while self.peek() == ("kw", "and"):
            self.take()
            e = ("and", e, self.not_())
        return e

    def not_(self):
        if self.peek() == ("kw", "not"):
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self):
        e = self.add()
        k, v = self.peek()
        if k == "op" and v in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return (v, e, self.add())
        if (k, v) == ("kw", "in"):
            self.take()
            return ("in", e, self.add())
        return e

    def add(self):
        e = self.mul()
        while self.peek() in (("op", "+"), ("op", "-")):
            e = (self.take()[1], e, self.mul())
        return e

    def mul(self):
        e = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            e = (self.take()[1], e, self.unary())
        return e

    def unary(self):
        if self.peek() == ("op", "-"):
            self.take()
            return ("neg", self.unary())
        return self.primary()

    def primary(self):
        k, v = self.take()
        if k in ("num", "str"):
            return ("lit", v)
        if k == "kw" and v in ("true", "false", "null"):
            return ("lit", {"true": True, "false": False, "null": None}[v])
        if (k, v) == ("op", "("):
            e = self.or_()
            assert self.take() == ("op", ")")
            return e
        if (k, v) == ("op", "["):
            items = []
            if self.peek() != ("op", "]"):
                items.append(self.or_())
                while self.peek() == ("op", ","):
                    self.take()
                    items.append(self.or_())
            assert self.take() == ("op", "]")
            return ("list", items)
        if k == "name":
            if self.peek() == ("op", "("):
                self.take()
                args = [self.or_()]
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.or_())
                assert self.take() == ("op", ")")
                return ("call", v, args)
            return ("name", v)
        raise SyntaxError("unexpected %r" % (v,))


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Decimal):
        return "num"
    if isinstance(v, str):
        return "str"
    return "list"


def equal(a, b):
    if kind(a) != kind(b):
        return False
    if kind(a) == "list":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return a == b


def truthy(v):
    return not (v is None or v is False or (kind(v) == "num" and v == 0) or v == "" or v == [])


def member(x, c):
    if kind(c) == "list":
        return any(equal(x, e) for e in c)
    if kind(c) == "str" and kind(x) == "str":
        return x in c
    return False


def ev(e, env):
    op = e[0]
    if op == "lit":
        return e[1]
    if op == "name":
        return env.get(e[1])
    if op == "list":
        return [ev(x, env) for x in e[1]]
    if op == "or":
        return truthy(ev(e[1], env)) or truthy(ev(e[2], env))
    if op == "and":
        return truthy(ev(e[1], env)) and truthy(ev(e[2], env))
    if op == "not":
        return not truthy(ev(e[1], env))
    if op == "neg":
        v = ev(e[1], env)
        return -v if kind(v) == "num" else None
    if op == "call":
        args = [ev(a, env) for a in e[2]]
        if e[1] == "len":
            v = args[0]
            return Decimal(0) if v is None else Decimal(len(v)) if kind(v) in ("str", "list") else None
        if e[1] == "empty":
            return args[0] is None or args[0] == "" or args[0] == []
        if e[1] == "contains":
            if kind(args[0]) == "str" and kind(args[1]) == "str":
                return args[1] in args[0]
            return kind(args[0]) == "list" and member(args[1], args[0])
    a, b = ev(e[1], env), ev(e[2], env)
    if op == "==":
        return equal(a, b)
    if op == "!=":
        return not equal(a, b)
    if op in ("<", "<=", ">", ">="):
        if not ((kind(a) == kind(b) == "num") or (kind(a) == kind(b) == "str")):
            return False
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op == "in":
        return member(a, b)
    if op == "+" and kind(a) == kind(b) == "str":
        return a + b
    if kind(a) != "num" or kind(b) != "num":
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return None
    return (a / b).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def test(expr, env):
    return truthy(ev(Parser(expr).parse(), env))

# ------------------------------------------------------------ forms


def empty(v):
    return v is None or v == "" or v == []


def choice_values(f):
    return [c if isinstance(c, str) else c["value"] for c in f["choices"]]


def is_date(v):
    if not isinstance(v, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        return False
    try:
        datetime.date(int(v[:4]), int(v[5:7]), int(v[8:]))
        return True
    except ValueError:
        return False


def check(f, v):
    t = f["type"]
    ok = {
        "text": isinstance(v, str), "scan": isinstance(v, str), "photo": isinstance(v, str),
        "choice": isinstance(v, str),
        "phone": isinstance(v, str) and re.fullmatch(r"\+?[0-9]{5,20}", v) is not None,
        "int": isinstance(v, int) and not isinstance(v, bool),
        "decimal": isinstance(v, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", v) is not None,
        "bool": isinstance(v, bool),
        "multi": isinstance(v, list) and all(isinstance(x, str) for x in v),
        "date": is_date(v),
    }[t]
    if not ok:
        return "type"
    if "choices" in f:
        vals = choice_values(f)
        if any(x not in vals for x in (v if t == "multi" else [v])):
            return "choice"
    if "pattern" in f and t in ("text", "phone", "scan") and not re.search(f["pattern"], v):
        return "pattern"
    if t in ("int", "decimal", "date"):
        conv = (lambda x: x) if t == "date" else (lambda x: Decimal(str(x)))
        if "min" in f and conv(v) < conv(f["min"]):
            return "min"
        if "max" in f and conv(v) > conv(f["max"]):
            return "max"
    if "min_len" in f and len(v) < f["min_len"]:
        return "min"
    if "max_len" in f and len(v) > f["max_len"]:
        return "max"
    return None


def validate(form, data):
    env, errors, clean = {}, [], {}
    ids = [f["id"] for f in form["fields"]]
    for f in form["fields"]:
        fid = f["id"]
        if "visible_if" in f and not test(f["visible_if"], env):
            continue
        v = data[fid] if fid in data else f.get("default")
        if empty(v):
            req = f.get("required", False)
            if req is True or (isinstance(req, str) and test(req, env)):
                errors.append({"field": fid, "code": "required"})
            continue
        code = check(f, v)
        if code:
            errors.append({"field": fid, "code": code})
            continue
        clean[fid] = v
        env[fid] = Decimal(v) if f["type"] == "decimal" else Decimal(v) if f["type"] == "int" else v
    errors += [{"field": k, "code": "unknown"} for k in data if k not in ids]
    return {"valid": not errors, "errors": errors, "data": clean}


def chain_form(policies, region, store, form_id):
    order = {"global": 0, "region/" + region: 1, "store/" + store: 2}
    best = None
    for p in policies:
        rank = order.get(p["scope"])
        for f in p.get("forms", []):
            if rank is not None and f["id"] == form_id and (best is None or rank >= best[0]):
                best = (rank, f)
    return best[1]

# ------------------------------------------------------------ random cases

ABSENT = object()
POOLS = {
    "customer_type": [ABSENT, "retail", "wholesale", "wholesale", "other", "", None, 5],
    "settlement": [ABSENT, "monthly", "cod", "Monthly", "", None],
    "phone": [ABSENT, "13800138000", "+8613800138000", "1234", "138-0013", 13800138000, "",
              "123456789012345678901"],
    "order_no": [ABSENT, "SO20261122", "SO2026112", "xSO20261122", "X123", "", None, ["SO1"]],
    "issue": [ABSENT, "product_after_sales", "product_after_sales", "consult", "complaint",
              "refund", None],
    "description": [ABSENT, "Kettle leaks", "bad", "", "\u00e9\u00e8\u00ea\u00eb\u00e0",
                    "\u6c34\u58f6\u6f0f", "x" * 201, "x" * 200, 12],
    "qty": [ABSENT, 1, 99, 0, 100, "3", 3.0, 3.5, True, None, 50, -1],
    "visit_date": [ABSENT, "2026-11-25", "2025-12-31", "2026-01-01", "2026-02-30",
                   "2024-02-29", "2026/11/25", None],
    "area": [ABSENT, [], ["kitchen"], ["kitchen", "storage"], ["storage", "toilet", "counter"],
             ["bogus"], "kitchen", [1], ["hotpot_bar"], ["kitchen", "hotpot_bar"]],
    "temp_c": [ABSENT, "-18.5", "-30", "-30.01", "10", "10.5", "10.00", "abc", -5, "", None,
               "1.", "007"],
    "score": [ABSENT, 0, 59, 60, 100, 101, -1, "80", None, 42],
    "reason": [ABSENT, "dirty", "", None, 3],
    "photo": [ABSENT, "blob:1", "", None],
    "ok": [ABSENT, True, False, "true", None, 0],
    "spice_level": [ABSENT, 0, 5, 6, None, "3"],
}
GOOD = {
    "customer_type": ["retail", "wholesale"], "settlement": [ABSENT, "monthly", "cod"],
    "phone": ["13800138000", "+8613800138000"], "order_no": [ABSENT, "SO20261122"],
    "issue": ["product_after_sales", "consult", "complaint"],
    "description": [ABSENT, "Kettle leaks", "\u6c34\u58f6\u6f0f\u6c34\u4e86"],
    "qty": [ABSENT, 1, 50, 99], "visit_date": [ABSENT, "2026-11-25", "2026-01-01"],
    "area": [["kitchen"], ["kitchen", "storage"], ["hotpot_bar"], ["kitchen", "counter"]],
    "temp_c": [ABSENT, "-18.5", "-30", "10", "10.00", "007"], "score": [0, 59, 60, 100, 42],
    "reason": [ABSENT, "dirty"], "photo": [ABSENT, "blob:1"], "ok": [ABSENT, True, False],
    "spice_level": [ABSENT, 0, 5],
}
UNKNOWN = [("extra", 1), ("zzz", "x"), ("a", None), ("Issue", "consult")]


def random_data(rng, form):
    items = []
    for f in form["fields"]:
        pool = GOOD if rng.random() < 0.8 else POOLS
        v = rng.choice(pool.get(f["id"], [ABSENT]))
        if v is not ABSENT:
            items.append((f["id"], v))
    for k, v in UNKNOWN:
        if rng.random() < 0.05:
            items.append((k, v))
    rng.shuffle(items)
    return dict(items)


def agent_validate(d, policies, region, store, form_id, data):
    args = [AGENT, "form", "validate"]
    for i, p in enumerate(policies):
        path = os.path.join(d, "p%d.json" % i)
        with open(path, "w") as f:
            json.dump(p, f, ensure_ascii=False)
        args += ["--policy", path]
    dpath = os.path.join(d, "data.json")
    with open(dpath, "w") as f:
        json.dump(data, f, ensure_ascii=False)
    r = subprocess.run(args + ["--region", region, "--store", store, "--form", form_id,
                               "--data", dpath], capture_output=True, text=True, timeout=30)
    return r


ATOMS = ["0", "1", "2", "3", "10", "0.1", "0.2", "0.3", "2.50", "1.005", "'a'", "'ab'", "''",
         "'kitchen'", "true", "false", "null", "n", "d", "t", "m", "h", "[]", "[1, 'a']",
         "['kitchen', 'storage']", "[0.5, n]"]
BINARY = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/"]


def gen_expr(rng, depth):
    r = rng.random()
    if depth == 0 or r < 0.25:
        return rng.choice(ATOMS)
    if r < 0.35:
        return "not " + gen_expr(rng, depth - 1)
    if r < 0.42:
        return "-" + gen_expr(rng, depth - 1)
    if r < 0.52:
        fn = rng.choice(["len", "empty", "contains"])
        if fn == "contains":
            return "contains(%s, %s)" % (gen_expr(rng, depth - 1), gen_expr(rng, depth - 1))
        return "%s(%s)" % (fn, gen_expr(rng, depth - 1))
    e = "%s %s %s" % (gen_expr(rng, depth - 1), rng.choice(BINARY), gen_expr(rng, depth - 1))
    return "(%s)" % e if rng.random() < 0.3 else e


def expression_cases(rng, d, n_cases):
    """Random expressions as a probe field's visible_if (the probe is
    required, so a true expression shows as a `required` error): the agent
    and the reference must agree on truth, and on refusing what does not
    parse. Returns (true, false, refused) counts or None after a FAIL."""
    counts = [0, 0, 0]
    for case in range(n_cases):
        expr = gen_expr(rng, rng.randint(1, 4))
        fields = [{"id": "n", "type": "int"}, {"id": "d", "type": "decimal"},
                  {"id": "t", "type": "text"},
                  {"id": "m", "type": "multi", "choices": ["kitchen", "storage", "toilet"]},
                  {"id": "h", "type": "text", "visible_if": "false"},
                  {"id": "probe", "type": "text", "visible_if": expr, "required": True}]
        form = {"id": "probe", "version": 1, "title": "probe", "fields": fields}
        data = {"n": rng.choice([0, 1, 2, 3, -2, 10]), "d": rng.choice(["0", "0.30", "-1.5", "2.5"]),
                "t": rng.choice(["a", "ab", "kitchen", "x"]),
                "m": rng.choice([["kitchen"], ["storage", "kitchen"], ["toilet"]]), "h": "hidden"}
        for k in list(data):
            if rng.random() < 0.15:
                del data[k]
        try:
            Parser(expr).parse()
            want = "required" if test(expr, {k: (Decimal(v) if k in ("n", "d") else v)
                                             for k, v in data.items() if k != "h"}) else "ok"
        except (SyntaxError, AssertionError):
            want = "refused"
        r = agent_validate(d, [{"scope": "global", "forms": [form]}], "r", "s", "probe", data)
        if want == "refused":
            got = "refused" if r.returncode == 3 and "at column" in r.stderr else "accepted"
        elif r.returncode in (0, 3) and r.stdout:
            errs = json.loads(r.stdout)["errors"]
            got = "required" if {"field": "probe", "code": "required"} in errs else "ok"
        else:
            got = "exit %d: %s" % (r.returncode, r.stderr.strip())
        if got != want:
            print("FAIL expression case %d: %s with %s: agent %s, reference %s"
                  % (case, expr, json.dumps(data), got, want))
            return None
        counts[{"required": 0, "ok": 1, "refused": 2}[want]] += 1
    return counts


def main():
    vectors = sorted(glob.glob(os.path.join(SRC, "tests", "conformance", "forms", "*.json")))
    if not vectors:
        print("FAIL: no form vectors under %s" % SRC)
        return 1
    loaded = [json.load(open(p, encoding="utf-8")) for p in vectors]
    for path, v in zip(vectors, loaded):
        form = chain_form(v["policies"], v["region"], v["store"], v["form"])
        got = validate(form, v["data"])
        if got != v["expect"]:
            print("FAIL: the reference disagrees with %s: %r" % (os.path.basename(path), got))
            return 1
    rng = random.Random(SEED)
    stats = {"valid": 0, "invalid": 0, "errors": 0}
    with tempfile.TemporaryDirectory() as d:
        for case in range(CASES):
            v = rng.choice(loaded)
            region = v["region"] if rng.random() < 0.8 else "cn-e"
            form = chain_form(v["policies"], region, v["store"], v["form"])
            data = random_data(rng, form)
            want = validate(form, data)
            r = agent_validate(d, v["policies"], region, v["store"], v["form"], data)
            if r.returncode != (0 if want["valid"] else 3):
                print("FAIL case %d (%s, region %s): exit %d, want %d; data %s; stderr %s"
                      % (case, v["name"], region, r.returncode, 0 if want["valid"] else 3,
                         json.dumps(data), r.stderr.strip()))
                return 1
            got = json.loads(r.stdout)
            if got != want or list(got["data"]) != list(want["data"]):
                print("FAIL case %d (%s, region %s): data %s\n got  %s\n want %s"
                      % (case, v["name"], region, json.dumps(data, ensure_ascii=False),
                         json.dumps(got, ensure_ascii=False), json.dumps(want, ensure_ascii=False)))
                return 1
            stats["valid" if want["valid"] else "invalid"] += 1
            stats["errors"] += len(want["errors"])
        ecounts = expression_cases(rng, d, CASES)
        if ecounts is None:
            return 1
    print("ok: the reference reproduces %d vectors; agent and reference agree on %d random "
          "submissions (%d valid, %d invalid, %d errors in all), seed %d"
          % (len(loaded), CASES, stats["valid"], stats["invalid"], stats["errors"], SEED))
    print("ok: agent and reference agree on %d random expressions (%d true, %d false, %d "
          "refused as unparsable)" % (CASES, ecounts[0], ecounts[1], ecounts[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
