// pages/forms.js - form submissions (GET /api/v1/forms/submissions) by
// form, store and period, with their photos (GET /api/v1/media/{sha256},
// fetched with the bearer header and shown from a blob: URL) and a CSV
// export built in the page (a download link cannot carry the token).
"use strict";
import { api, ApiError, el, card, table, notice, errorBox, localTime, offsetFor, nowLocalValue,
         policyDoc, offsetMinutes, downloadText, token } from "../lib.js";

const isPhoto = (v) => v && typeof v === "object" && typeof v.sha256 === "string" && /^[0-9a-f]{64}$/.test(v.sha256);

function csvCell(v) {
  if (v === null || v === undefined) return "";
  if (isPhoto(v)) v = v.sha256;
  else if (typeof v === "object") v = JSON.stringify(v);
  v = String(v);
  if (/^[=+\-@\t\r]/.test(v)) v = "'" + v; // no formula injection in a spreadsheet
  return /[",\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
}

/** CSV of the submissions: fixed columns, then every data field seen. */
export function toCsv(rows) {
  const fields = [];
  for (const r of rows) for (const k of Object.keys(r.data || {})) if (!fields.includes(k)) fields.push(k);
  const head = ["id", "form", "version", "store", "region", "device", "at", ...fields];
  const lines = [head.join(",")];
  for (const r of rows) lines.push([r.id, r.form, r.version, r.store, r.region, r.device, r.at, ...fields.map((f) => (r.data || {})[f])].map(csvCell).join(","));
  return lines.join("\r\n") + "\r\n";
}

async function photo(sha, type) {
  const box = el("span", { class: "photo", "data-sha": sha }, "…");
  try {
    const r = await fetch("/api/v1/media/" + sha, { headers: { Authorization: "Bearer " + token() }, cache: "no-store" });
    if (!r.ok) { box.textContent = r.status === 404 ? "photo not uploaded yet" : "photo: HTTP " + r.status; return box; }
    const blob = await r.blob();
    const img = el("img", { alt: "photo " + sha.slice(0, 8), src: URL.createObjectURL(new Blob([blob], { type: type || blob.type || "image/jpeg" })) });
    box.replaceChildren(img);
  } catch (e) { box.textContent = String(e.message || e); }
  return box;
}

export async function render(main) {
  const off = offsetMinutes((await policyDoc("global")).utc_offset);
  const form = el("input", { id: "sub-form", placeholder: "form id (empty: all)", size: 16 });
  const store = el("input", { id: "sub-store", placeholder: "store (empty: all)", size: 12 });
  const from = el("input", { type: "date", id: "sub-from", value: nowLocalValue(off, -29 * 1440).slice(0, 10) });
  const to = el("input", { type: "date", id: "sub-to", value: nowLocalValue(off).slice(0, 10) });
  const box = el("div");
  const detail = el("div");
  let rows = [];
  const csv = el("button", { type: "button", id: "sub-csv", disabled: true, onclick: () => downloadText("submissions.csv", toCsv(rows), "text/csv") }, "Export CSV");

  async function load() {
    const q = new URLSearchParams();
    if (form.value.trim()) q.set("form", form.value.trim());
    if (store.value.trim()) q.set("store", store.value.trim());
    if (from.value) q.set("from", from.value);
    if (to.value) { const t = new Date(to.value + "T00:00:00Z"); t.setUTCDate(t.getUTCDate() + 1); q.set("to", t.toISOString().slice(0, 10)); }
    detail.replaceChildren();
    try { rows = await api("/api/v1/forms/submissions?" + q.toString()); } catch (e) {
      rows = [];
      csv.disabled = true;
      box.replaceChildren(errorBox(e, "Form submissions"));
      if (!(e instanceof ApiError)) throw e;
      return;
    }
    csv.disabled = rows.length === 0;
    const offs = new Map();
    for (const r of rows) if (!offs.has(r.store)) offs.set(r.store, await offsetFor(r.region, r.store));
    box.replaceChildren(table([
      { h: "Submitted (store time)", f: (r) => localTime(r.at, offs.get(r.store) || 0) },
      { h: "Form", f: (r) => r.form + " v" + r.version },
      { h: "Store", f: (r) => r.store },
      { h: "Device", f: (r) => r.device },
      { h: "Photos", num: true, f: (r) => Object.values(r.data || {}).filter(isPhoto).length || "" },
      { h: "Tickets", f: (r) => (r.tickets || []).join(", ") },
    ], rows, { rowAttrs: (r) => ({ "data-submission": r.id }), onRow: (r) => show(r, offs.get(r.store) || 0), empty: "no submissions in this period" }));
  }

  async function show(r, o) {
    const photos = el("div", { class: "photos" });
    const t = el("table", null, Object.entries(r.data || {}).map(([k, v]) => el("tr", null, el("th", null, k),
      el("td", null, isPhoto(v) ? "photo " + v.sha256.slice(0, 12) + "… (" + v.bytes + " bytes)" : typeof v === "object" ? JSON.stringify(v) : String(v)))));
    detail.replaceChildren(card("Submission " + r.id + " · " + r.form + " · " + localTime(r.at, o, true), t, photos));
    for (const v of Object.values(r.data || {})) if (isPhoto(v)) photos.append(await photo(v.sha256, v.type));
  }

  main.replaceChildren(el("h2", null, "Form submissions"),
    card(null, el("div", { class: "row" }, el("label", null, "Form", form), el("label", null, "Store", store), el("label", null, "From", from),
      el("label", null, "To (inclusive)", to), el("button", { type: "button", class: "primary", onclick: load }, "Show"), csv)),
    card(null, box), detail);
  await load();
}
