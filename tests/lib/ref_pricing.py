"""ref_pricing.py - an independent reference of SPEC section 5 (pricing), in
plain Python, written from the SPEC text for differential testing of the C
engine. It favours obviousness over speed: units are expanded one by one,
every rule is scanned for every line. Integers only.

quote(docs, basket) -> dict in the SPEC 5.3 shape, or raises RefError for
invalid input (unknown SKU, bad qty, missing fields). docs: policy documents
(any scopes; those outside the basket's chain are ignored)."""
import datetime
import functools

STAGE = {"price": 1, "percent": 1, "amount": 1, "bogo": 2, "bundle": 2,
         "threshold": 3, "basket_percent": 3}


class RefError(Exception):
    pass


def half_up_div(num, den):
    """num / den rounded half up (num >= 0, den > 0)."""
    q, r = divmod(num, den)
    return q + 1 if 2 * r >= den else q


def parse_at(s):
    if not isinstance(s, str):
        raise RefError("bad at")
    t = s.replace("Z", "+00:00")
    try:
        d = datetime.datetime.fromisoformat(t)
    except ValueError:
        raise RefError("bad at")
    if d.tzinfo is None:
        raise RefError("at without offset")
    return d


def chain(docs, basket):
    names = ["global", "region/" + basket["region"], "store/" + basket["store"]]
    out = []
    for name in names:
        found = [d for d in docs if d.get("scope") == name]
        out.append((name, found[0] if found else None))
    return out


def merged_items(ch):
    items = {}
    for _, doc in ch:
        if not doc:
            continue
        for it in doc.get("items", []):
            cur = items.setdefault(it["sku"], {})
            for k in ("price", "cost", "name", "categories"):
                if k in it:
                    cur[k] = it[k]
    return {k: v for k, v in items.items() if "price" in v}


def effective_rules(ch):
    rules = {}
    for name, doc in ch:
        if not doc:
            continue
        for rid in doc.get("disable", []):
            rules.pop(rid, None)
        for r in doc.get("rules", []):
            rules[r["id"]] = (r, name)
    return rules


def setting(ch, key, default):
    v = default
    for _, doc in ch:
        if doc and key in doc:
            v = doc[key]
    return v


def targets(rule, item):
    t = rule.get("target")
    if t is None:
        return True
    if item["sku"] in t.get("skus", []):
        return True
    return any(c in t.get("categories", []) for c in item.get("categories", []))


def hhmm(s):
    return int(s[:2]) * 60 + int(s[3:5])


def basket_ok(rule, b, at, coupons):
    if "coupon" in rule and rule["coupon"] not in coupons:
        return False
    w = rule.get("when", {})
    cust = b.get("customer") or {}
    if "tiers" in w and cust.get("tier") not in w["tiers"]:
        return False
    if "channels" in w and b.get("channel", "pos") not in w["channels"]:
        return False
    if "tags_any" in w and not set(cust.get("tags", [])) & set(w["tags_any"]):
        return False
    for key in ("from", "until"):
        if key not in w:
            continue
        # without an offset (or a bare date) the time is the basket's local wall clock
        when = datetime.datetime.fromisoformat(w[key].replace("Z", "+00:00"))
        now = at if when.tzinfo else at.replace(tzinfo=None)
        if (key == "from" and now < when) or (key == "until" and now >= when):
            return False
    if "days" in w and at.isoweekday() not in w["days"]:
        return False
    if "hours" in w:
        a, e = w["hours"].split("-")
        a, e = hhmm(a), hhmm(e)
        m = at.hour * 60 + at.minute
        inside = (a <= m < e) if a < e else (m >= a or m < e)
        if not inside:
            return False
    return True


def share(d, parts):
    """parts: [(line_index, amount)] in line order -> {line_index: share}."""
    total = sum(a for _, a in parts)
    out = {i: 0 for i, _ in parts}
    if d <= 0 or total <= 0:
        return out
    for i, a in parts:
        out[i] = d * a // total
    rem = d - sum(out.values())
    order = sorted(parts, key=lambda p: (-p[1], p[0]))
    for i, _ in order[:rem]:
        out[i] += 1
    return out


def quote(docs, b):
    for k in ("region", "store", "at", "lines"):
        if k not in b:
            raise RefError("missing " + k)
    at = parse_at(b["at"])
    ch = chain(docs, b)
    items = merged_items(ch)
    for sku, it in items.items():
        it["sku"] = sku
    rules = effective_rules(ch)
    coupons = []
    for c in b.get("coupons", []):
        if c not in coupons:
            coupons.append(c)
    lines = []
    for ln in b["lines"]:
        q = ln.get("qty")
        if not isinstance(q, int) or isinstance(q, bool) or q < 1:
            raise RefError("bad qty")
        for l in lines:
            if l["sku"] == ln["sku"]:
                l["qty"] += q
                break
        else:
            lines.append({"sku": ln["sku"], "qty": q})
    for l in lines:
        if l["sku"] not in items:
            raise RefError("unknown SKU " + l["sku"])
        l["base"] = items[l["sku"]]["price"]
        l["disc"] = 0

    ok = {rid: basket_ok(r, b, at, coupons) for rid, (r, _) in rules.items()}
    applied = []
    accepted = set()

    # Stage 1
    for l in lines:
        item = items[l["sku"]]
        cands = []
        for rid, (r, _) in rules.items():
            if STAGE[r["type"]] != 1 or not ok[rid] or not targets(r, item):
                continue
            if l["qty"] < r.get("when", {}).get("min_qty", 0):
                continue
            p = l["base"]
            if r["type"] == "price":
                u = r["price"]
            elif r["type"] == "percent":
                u = half_up_div(p * (10000 - r["bp"]), 10000)
            else:
                u = max(0, p - r["off"])
            cands.append((r.get("priority", 0), u, rid))
        if cands:
            top = max(c[0] for c in cands)
            best = min((u, rid) for pr, u, rid in cands if pr == top)
            l["unit"], l["rule"] = best
        else:
            l["unit"], l["rule"] = l["base"], None
    seen = []
    for l in lines:
        if l["rule"] is not None and l["rule"] not in seen:
            seen.append(l["rule"])
    for rid in seen:
        mine = [l for l in lines if l["rule"] == rid]
        if any(l["unit"] != l["base"] for l in mine):
            r, scope = rules[rid]
            applied.append({"rule": rid, "type": r["type"], "scope": scope,
                            "discount": sum(l["qty"] * (l["base"] - l["unit"]) for l in mine)})
            if "coupon" in r:
                accepted.add(r["coupon"])

    def ordered(stage):
        rs = [(rid, r, s) for rid, (r, s) in rules.items() if STAGE[r["type"]] == stage]
        return sorted(rs, key=lambda x: (-x[1].get("priority", 0), x[0].encode()))

    # Stage 2: units per line
    used = [0] * len(lines)
    for rid, r, scope in ordered(2):
        if not ok[rid]:
            continue
        saving = 0
        if r["type"] == "bogo":
            buy, get, bp = r["buy"], r["get"], r.get("bp", 10000)
            units = []
            for i, l in enumerate(lines):
                if targets(r, items[l["sku"]]):
                    units += [(l["unit"], i)] * (l["qty"] - used[i])
            units.sort(key=lambda u: (-u[0], u[1]))
            g = buy + get
            ngroups = len(units) // g
            per_line = {}
            for k in range(ngroups):
                grp = units[k * g:(k + 1) * g]
                for u, i in grp[buy:]:
                    per_line[i] = per_line.get(i, 0) + half_up_div(u * bp, 10000)
            saving = sum(per_line.values())
            if saving > 0:
                for u, i in units[:ngroups * g]:
                    used[i] += 1
                for i, s in per_line.items():
                    lines[i]["disc"] += s
        else:
            need = {}
            for e in r["items"]:
                need[e["sku"]] = need.get(e["sku"], 0) + e["qty"]
            idx = {l["sku"]: i for i, l in enumerate(lines)}
            if all(s in idx for s in need):
                k = min((lines[idx[s]]["qty"] - used[idx[s]]) // q for s, q in need.items())
                value = sum(q * lines[idx[s]]["unit"] for s, q in need.items())
                if k > 0 and value > r["price"]:
                    saving = k * (value - r["price"])
                    parts = sorted((idx[s], q * lines[idx[s]]["unit"]) for s, q in need.items())
                    for i, s in share(saving, parts).items():
                        lines[i]["disc"] += s
                    for s, q in need.items():
                        used[idx[s]] += k * q
        if saving > 0:
            applied.append({"rule": rid, "type": r["type"], "scope": scope, "discount": saving})
            if "coupon" in r:
                accepted.add(r["coupon"])
            if r.get("exclusive"):
                break

    # Stage 3
    for rid, r, scope in ordered(3):
        if not ok[rid]:
            continue
        tl = [i for i, l in enumerate(lines) if targets(r, items[l["sku"]])]
        cur = {i: lines[i]["qty"] * lines[i]["unit"] - lines[i]["disc"] for i in tl}
        elig = sum(cur.values())
        d = 0
        if elig >= r.get("min", 0) and elig > 0:
            if r["type"] == "threshold":
                d = r["off"] * (elig // r["min"] if r.get("repeat") else 1)
                if "max_off" in r:
                    d = min(d, r["max_off"])
                d = min(d, elig)
            else:
                d = half_up_div(elig * r["bp"], 10000)
        if d > 0:
            for i, s in share(d, [(i, cur[i]) for i in tl]).items():
                lines[i]["disc"] += s
            applied.append({"rule": rid, "type": r["type"], "scope": scope, "discount": d})
            if "coupon" in r:
                accepted.add(r["coupon"])
            if r.get("exclusive"):
                break

    out_lines = [{"sku": l["sku"], "qty": l["qty"], "base_price": l["base"], "unit_price": l["unit"],
                  "discount": l["disc"], "total": l["qty"] * l["unit"] - l["disc"]} for l in lines]
    s = sum(l["total"] for l in out_lines)
    subtotal = sum(l["qty"] * l["base"] for l in lines)
    t = s
    rnd = setting(ch, "round", None)
    if rnd and rnd["step"] > 1:
        step, r = rnd["step"], s % rnd["step"]
        if r:
            if rnd["mode"] == "down" or (rnd["mode"] == "half_up" and 2 * r < step):
                t = s - r
            else:
                t = s - r + step
    known = set(r["coupon"] for r, _ in rules.values() if "coupon" in r)
    return {
        "currency": setting(ch, "currency", "CNY"),
        "subtotal": subtotal, "discount": subtotal - s, "rounding": t - s, "total": t,
        "lines": out_lines, "applied": applied,
        "coupons": {"accepted": [c for c in coupons if c in accepted],
                    "rejected": [{"code": c, "reason": "not_applicable" if c in known else "unknown"}
                                 for c in coupons if c not in accepted]},
    }
