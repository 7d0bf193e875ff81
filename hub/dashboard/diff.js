// diff.js - a structural diff of two policy documents, the way HQ reads
// them: items by SKU, rules by id, forms by id, every other key as a whole;
// rendered as a table of added / removed / changed entries.
"use strict";
import { el, money } from "./lib.js";

const KEYED = { items: "sku", rules: "id", forms: "id", routing: "id" };

function stable(v) {
  if (Array.isArray(v)) return "[" + v.map(stable).join(",") + "]";
  if (v && typeof v === "object") return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + stable(v[k])).join(",") + "}";
  return JSON.stringify(v);
}

/** [{path, kind: "add"|"del"|"chg", before, after}] from doc a to doc b. */
export function diffDocs(a, b) {
  a = a || {};
  b = b || {};
  const out = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const av = a[k], bv = b[k];
    if (KEYED[k] && (Array.isArray(av) || Array.isArray(bv))) {
      const id = KEYED[k];
      const am = new Map((av || []).map((x) => [x[id], x])), bm = new Map((bv || []).map((x) => [x[id], x]));
      for (const key of new Set([...am.keys(), ...bm.keys()])) {
        const x = am.get(key), y = bm.get(key);
        if (x === undefined) out.push({ path: k + " " + key, key, kind: "add", after: y });
        else if (y === undefined) out.push({ path: k + " " + key, key, kind: "del", before: x });
        else if (stable(x) !== stable(y)) {
          for (const f of new Set([...Object.keys(x), ...Object.keys(y)]))
            if (stable(x[f]) !== stable(y[f]))
              out.push({ path: k + " " + key + " ." + f, key, field: f, kind: x[f] === undefined ? "add" : y[f] === undefined ? "del" : "chg", before: x[f], after: y[f] });
        }
      }
    } else if (stable(av) !== stable(bv)) {
      out.push({ path: k, key: k, kind: av === undefined ? "add" : bv === undefined ? "del" : "chg", before: av, after: bv });
    }
  }
  return out;
}

function show(v, field) {
  if (v === undefined) return "";
  if ((field === "price" || field === "cost" || field === "off" || field === "min") && Number.isInteger(v)) return money(v);
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A table of the diff; each row carries data-key (SKU, rule id or key). */
export function diffTable(changes) {
  if (!changes.length) return el("p", { class: "mute" }, "no difference");
  const t = el("table", { class: "diff" }, el("tr", null, el("th", null, "What"), el("th", null, "Before"), el("th", null, "After")));
  for (const c of changes)
    t.append(el("tr", { class: "diff-" + c.kind, "data-key": c.key, "data-kind": c.kind },
      el("td", null, c.path), el("td", { "data-field": "before" }, show(c.before, c.field)),
      el("td", { "data-field": "after" }, show(c.after, c.field))));
  return el("div", { class: "scroll" }, t);
}
