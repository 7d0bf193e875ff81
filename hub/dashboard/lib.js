// lib.js - what every dashboard page shares: the API client (bearer token
// from sessionStorage, never a URL), DOM building, money as integer fen,
// store-local time from a policy's utc_offset, the policy cache, drafts
// (unpublished policy documents), roles and field-level error display.
"use strict";

const TOKEN_KEY = "shoal.token";
const DRAFTS_KEY = "shoal.drafts";
const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };

export const session = { user: null, role: null };

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(t) { sessionStorage.setItem(TOKEN_KEY, t); }
export function clearToken() { sessionStorage.removeItem(TOKEN_KEY); }

/** An API answer that was not 2xx: status, the parsed JSON body, the message. */
export class ApiError extends Error {
  constructor(status, body, path) {
    super((body && body.error) || ("HTTP " + status + " on " + path));
    this.status = status;
    this.body = body;
    this.path = path;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/** Calls the hub API; resolves to the parsed JSON (or text), throws ApiError. */
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { "Authorization": "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined :
    JSON.stringify(body), cache: "no-store", credentials: "omit" });
  if (raw && r.ok) return r;
  const text = await r.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = r.ok ? text : { error: text }; }
  if (!r.ok) {
    if (r.status === 401) onUnauthorized();
    throw new ApiError(r.status, parsed, path.split("?")[0]);
  }
  return parsed;
}

/* ---- DOM ---- */

/** el("td", {class: "num", "data-x": 1}, child, "text", ...) */
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "value") e.value = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat()) {
    if (k === undefined || k === null || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

export function card(title, ...kids) {
  return el("section", { class: "card" }, title ? el("h2", null, title) : null, ...kids);
}

export function notice(kind, ...kids) { return el("div", { class: "notice " + (kind || ""), role: "status" }, ...kids); }

export function pill(state, text) { return el("span", { class: "pill s-" + state, "data-state": state }, text || String(state).replace(/_/g, " ")); }

/** A table from rows: cols = [{h, f(row) -> node|text, num?, key?}] */
export function table(cols, rows, { rowAttrs, onRow, empty } = {}) {
  const t = el("table");
  t.append(el("thead", null, el("tr", null, cols.map((c) => el("th", { class: c.num ? "num" : null }, c.h)))));
  const tb = el("tbody");
  if (!rows.length && empty) tb.append(el("tr", null, el("td", { colspan: cols.length, class: "mute" }, empty)));
  for (const r of rows) {
    const tr = el("tr", rowAttrs ? rowAttrs(r) : null);
    if (onRow) { tr.classList.add("clickable"); tr.addEventListener("click", () => onRow(r, tr)); }
    for (const c of cols) tr.append(el("td", { class: c.num ? "num" : null, "data-field": c.key }, c.f(r)));
    tb.append(tr);
  }
  t.append(tb);
  return el("div", { class: "scroll" }, t);
}

/** What a page shows when the hub does not have the route it needs (404). */
export function missingRoute(what, err) {
  return notice("warn", el("b", null, what + " is not available on this hub. "),
    "The hub answered " + err.status + " for " + err.path +
    " — this hub version does not serve it yet. Everything else keeps working.");
}

/** Shows an error on a page: a missing route degrades to a message. */
export function errorBox(err, what) {
  if (err instanceof ApiError && err.status === 404 && what) return missingRoute(what, err);
  if (err instanceof ApiError && err.status === 403)
    return notice("bad", "Your role (" + (session.role || "?") + ") may not do this: " + err.message);
  return notice("bad", String(err.message || err));
}

export function setStatus(text) { const s = document.getElementById("status"); if (s) s.textContent = text; }

/* ---- money: integer fen, never floating point ---- */

export function money(fen) {
  if (fen === null || fen === undefined || fen === "") return "–";
  const n = BigInt(fen), neg = n < 0n, a = neg ? -n : n;
  const yuan = (a / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (neg ? "-" : "") + yuan + "." + (a % 100n).toString().padStart(2, "0");
}

/** "15", "15.5", "15.50" -> 1550; anything else -> null. */
export function parseMoney(text) {
  const m = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(String(text));
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
}

export function moneyInput(fen) { return fen === null || fen === undefined ? "" : money(fen).replace(/,/g, ""); }

/* ---- store-local time (SPEC 12 utc_offset) ---- */

/** "+08:00" -> 480 (minutes east of UTC); bad or absent -> 0. */
export function offsetMinutes(off) {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(off || "");
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

export function offsetText(min) {
  const a = Math.abs(min);
  return (min < 0 ? "-" : "+") + String(Math.floor(a / 60)).padStart(2, "0") + ":" + String(a % 60).padStart(2, "0");
}

/** An instant (ISO string or ms) as "YYYY-MM-DD HH:MM" in the given offset. */
export function localTime(at, offMin, withOffset = false) {
  if (at === null || at === undefined || at === "") return "–";
  const ms = typeof at === "number" ? at : Date.parse(at);
  if (Number.isNaN(ms)) return String(at);
  const s = new Date(ms + offMin * 60000).toISOString();
  return s.slice(0, 10) + " " + s.slice(11, 16) + (withOffset ? " (" + offsetText(offMin) + ")" : "");
}

/** A datetime-local value ("YYYY-MM-DDTHH:MM") in a store's offset -> ISO with that offset. */
export function isoAt(localValue, offMin) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(localValue || "")) return null;
  return (localValue.length === 16 ? localValue + ":00" : localValue) + offsetText(offMin);
}

/** Now as a datetime-local value in the offset. */
export function nowLocalValue(offMin, plusMin = 0) {
  return new Date(Date.now() + (offMin + plusMin) * 60000).toISOString().slice(0, 16);
}

/* ---- policies ---- */

const docCache = new Map();
let listCache = null;

export function invalidatePolicies() { docCache.clear(); listCache = null; }

/** GET /api/v1/policies (latest per scope), cached until a publish. */
export async function policyList() {
  if (!listCache) listCache = await api("/api/v1/policies");
  return listCache;
}

/** The latest document of a scope ({} with just the scope when none). */
export async function policyDoc(scope) {
  if (!docCache.has(scope)) {
    let doc = { scope };
    try {
      const p = await api("/api/v1/policies/" + scope);
      doc = typeof p.doc === "string" ? JSON.parse(p.doc) : (p.doc || doc);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    docCache.set(scope, doc);
  }
  return docCache.get(scope);
}

/** utc_offset for a store: store doc, then region doc, then global (SPEC 12). */
export async function offsetFor(region, store) {
  const scopes = [store && "store/" + store, region && "region/" + region, "global"].filter(Boolean);
  const known = new Set((await policyList().catch(() => [])).map((p) => p.scope));
  for (const s of scopes) {
    if (!known.has(s)) continue;
    const d = draft(s) || await policyDoc(s);
    if (d.utc_offset) return offsetMinutes(d.utc_offset);
  }
  return 0;
}

export function clone(x) { return JSON.parse(JSON.stringify(x)); }

/* ---- drafts: edited documents not yet published, per scope ---- */

const draftListeners = [];
export function drafts() { try { return JSON.parse(sessionStorage.getItem(DRAFTS_KEY) || "{}"); } catch (e) { return {}; } }
export function draft(scope) { return drafts()[scope] || null; }
export function setDraft(scope, doc) {
  const d = drafts();
  if (doc) d[scope] = doc; else delete d[scope];
  sessionStorage.setItem(DRAFTS_KEY, JSON.stringify(d));
  draftListeners.forEach((f) => f(d));
}
export function clearDrafts() { sessionStorage.removeItem(DRAFTS_KEY); draftListeners.forEach((f) => f({})); }
export function onDrafts(fn) { draftListeners.push(fn); }

/** The draft of a scope, or a copy of its published doc to start one. */
export async function editableDoc(scope) {
  return draft(scope) || clone(await policyDoc(scope));
}

/* ---- roles: the server enforces them; the page only hides what would 403 ---- */

export function can(minRole) {
  if (!session.role) return true; // role unknown: let the server decide
  return (ROLE_RANK[session.role] ?? -1) >= (ROLE_RANK[minRole] ?? 99);
}

/** Disables every [data-min-role] control above the user's role. */
export function applyRoles(root) {
  for (const b of root.querySelectorAll("[data-min-role]")) {
    if (!can(b.dataset.minRole)) {
      b.disabled = true;
      b.title = "needs the " + b.dataset.minRole + " role";
      b.classList.add("role-locked");
    }
  }
}

/* ---- field-level errors ---- */

/** Clears every error shown in a container. */
export function clearErrors(root) {
  root.querySelectorAll(".has-error").forEach((e) => e.classList.remove("has-error"));
  root.querySelectorAll(".field-error[data-for]").forEach((e) => e.remove());
}

/** Shows msg next to the input; returns the input. */
export function fieldError(input, msg) {
  input.classList.add("has-error");
  const p = el("p", { class: "field-error", role: "alert", "data-for": input.name || input.id || "" }, msg);
  (input.closest("label") || input).after(p);
  return input;
}

/**
 * Places a server validation error next to the field it concerns: by the
 * error's `field`/`path` key when the hub gives one, else by the first
 * field key (data-key: a SKU, a rule id, a JSON key) the message names.
 * Returns true when it found a field, false when the caller must show it
 * at the top of the form.
 */
export function placeServerError(root, err) {
  const body = (err && err.body) || {};
  const candidates = [body.field, body.path, body.key].filter(Boolean).map(String);
  const msg = String(err.message || err);
  const inputs = [...root.querySelectorAll("[data-key]")];
  let target = null;
  for (const c of candidates) {
    target = inputs.find((i) => i.dataset.key === c || c.endsWith("." + i.dataset.key) || c.includes(i.dataset.key));
    if (target) break;
  }
  if (!target) {
    // the longest key named in the message wins ("rule x-1" over "x")
    let best = 0;
    for (const i of inputs) {
      const k = i.dataset.key;
      if (k && k.length > best && new RegExp("(^|[^A-Za-z0-9_.-])" + k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") +
        "($|[^A-Za-z0-9_.-])").test(msg)) { target = i; best = k.length; }
    }
  }
  if (!target) return false;
  fieldError(target, msg);
  target.scrollIntoView({ block: "center" });
  return true;
}

/* ---- misc ---- */

export function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

/** Every region and store the fleet has reported (for pickers). */
export async function fleetPlaces() {
  const devices = await api("/api/v1/devices");
  const regions = new Map();
  for (const d of devices) {
    if (!d.region) continue;
    if (!regions.has(d.region)) regions.set(d.region, new Set());
    regions.get(d.region).add(d.store);
  }
  return { devices, regions };
}

export function downloadText(name, text, type) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
