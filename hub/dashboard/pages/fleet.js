// pages/fleet.js - devices, sync health, outbox (refreshed every few
// seconds, so the figure is live), applied policy versions against the
// latest, last seen in the store's local time.
"use strict";
import { api, el, card, table, pill, localTime, offsetFor, setStatus } from "../lib.js";

const REFRESH_MS = 3000;

function age(s) {
  if (s === null || s === undefined) return "never";
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h";
  return Math.floor(s / 86400) + " d";
}

function versions(d) {
  const out = [];
  for (const [scope, latest] of Object.entries(d.latest || {})) {
    const applied = (d.policies || {})[scope];
    const behind = (d.behind || []).includes(scope);
    const stale = (d.stale || []).includes(scope);
    out.push(el("span", { class: "small" + (behind ? " pill s-behind" : ""), "data-scope": scope,
      "data-applied": applied ?? "" }, scope + " v" + (applied ?? "–") + (applied === latest ? "" : " / v" + latest) +
      (stale ? " (expired)" : "")), " ");
  }
  for (const [scope, applied] of Object.entries(d.policies || {}))
    if (!(scope in (d.latest || {})))
      out.push(el("span", { class: "small", "data-scope": scope, "data-applied": applied }, scope + " v" + applied), " ");
  return out.length ? out : "–";
}

export async function render(main) {
  const summary = el("div", { class: "summary", id: "fleet-summary" });
  const holder = el("div");
  main.replaceChildren(el("h2", null, "Fleet"), card(null, summary, holder));
  const offsets = new Map();

  async function load() {
    const devices = await api("/api/v1/devices");
    for (const d of devices) {
      const k = d.region + "/" + d.store;
      if (!offsets.has(k)) offsets.set(k, await offsetFor(d.region, d.store));
    }
    const counts = { total: devices.length, online: 0, ok: 0, behind: 0, not_syncing: 0, offline: 0, outbox: 0 };
    for (const d of devices) {
      if (d.online) counts.online++;
      counts[d.sync] = (counts[d.sync] || 0) + 1;
      counts.outbox += d.outbox ?? d.outbox_depth ?? 0;
    }
    summary.replaceChildren(...[["total", "devices"], ["online", "online"], ["ok", "in sync"], ["behind", "behind"],
      ["not_syncing", "not syncing"], ["offline", "offline"], ["outbox", "events waiting"]].map(([k, label]) =>
      el("div", { "data-count": k }, el("b", null, counts[k] || 0), label)));
    holder.replaceChildren(table([
      { h: "Device", f: (d) => d.device },
      { h: "Store", f: (d) => d.store },
      { h: "Region", f: (d) => d.region || "" },
      { h: "Profile", f: (d) => d.profile || "" },
      { h: "Sync", key: "sync", f: (d) => el("span", { class: "pill s-" + d.sync, "data-sync": d.sync }, d.sync.replace(/_/g, " ")) },
      { h: "Online", key: "online", f: (d) => d.online ? "yes" : "no" },
      { h: "Last seen (store time)", key: "last_seen", f: (d) => el("span", { title: age(d.last_seen_age_s) + " ago" },
        localTime(d.last_seen, offsets.get(d.region + "/" + d.store) || 0)) },
      { h: "Outbox", num: true, key: "outbox_depth", f: (d) => d.outbox ?? d.outbox_depth ?? "–" },
      { h: "Policies (applied / latest)", key: "policies", f: versions },
    ], devices, { rowAttrs: (d) => ({ "data-device": d.device, "data-store": d.store }), empty: "no device has reported yet" }));
    setStatus("fleet updated " + new Date().toLocaleTimeString());
  }
  await load();
  const timer = setInterval(() => load().catch((e) => setStatus(String(e.message || e))), REFRESH_MS);
  return () => clearInterval(timer);
}
