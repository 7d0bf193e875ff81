// pages/sales.js - sales charts (Chart.js, vendored): by hour of day in each
// region's local time (utc_offset), by region, by channel, by promotion rule.
// Routes a hub lacks (404) show a message in their card, not a broken page.
"use strict";
import { api, ApiError, el, card, money, offsetFor, offsetMinutes, policyDoc, missingRoute,
         errorBox, nowLocalValue } from "../lib.js";

const COLORS = ["#1a73e8", "#e37400", "#1e8e3e", "#d93025", "#8e24aa", "#00897b", "#5f6368", "#f9ab00"];

/** Integer fen -> yuan for a chart axis only (display, never money math). */
const yuan = (fen) => fen / 100;

function chart(canvas, config) {
  if (!window.Chart) {
    canvas.replaceWith(el("p", { class: "mute" }, "chart library not loaded"));
    return null;
  }
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { tooltip: { callbacks: { label: (c) => (c.dataset.label ? c.dataset.label + ": " : "") +
      money(Math.round(c.raw * 100)) } } } }, config.options || {});
  return new window.Chart(canvas, config);
}

export async function render(main) {
  const off = offsetMinutes((await policyDoc("global")).utc_offset);
  const from = el("input", { type: "date", id: "sales-from", value: nowLocalValue(off, -6 * 1440).slice(0, 10) });
  const to = el("input", { type: "date", id: "sales-to", value: nowLocalValue(off).slice(0, 10) });
  const go = el("button", { class: "primary", type: "button" }, "Show");
  const body = el("div", { class: "grid2" });
  main.replaceChildren(el("h2", null, "Sales"),
    card(null, el("div", { class: "row" }, el("label", null, "From", from), el("label", null, "To (inclusive)", to), go)), body);
  let charts = [];

  async function load() {
    charts.forEach((c) => c && c.destroy());
    charts = [];
    const q = new URLSearchParams();
    const tz = (d) => d + "T00:00:00" + (off < 0 ? "-" : "+") + String(Math.floor(Math.abs(off) / 60)).padStart(2, "0") + ":" + String(Math.abs(off) % 60).padStart(2, "0");
    if (from.value) q.set("from", tz(from.value));
    if (to.value) {
      const t = new Date(to.value + "T00:00:00Z");
      t.setUTCDate(t.getUTCDate() + 1);
      q.set("to", tz(t.toISOString().slice(0, 10)));
    }
    const cards = {
      hour: card("By hour of day (store local time)"),
      region: card("By region"),
      channel: card("By channel"),
      rule: card("Discount by promotion rule"),
    };
    body.replaceChildren(...Object.values(cards));
    const get = async (by) => {
      try { return await api("/api/v1/reports/sales?by=" + by + "&" + q.toString()); } catch (e) {
        // a hub without this grouping answers 404, or 400 naming the by= value it does not know
        const unsupported = e instanceof ApiError && (e.status === 404 || (e.status === 400 && /\bby\b/.test(e.message)));
        cards[by].append(unsupported ? missingRoute("Sales by " + by, e) : errorBox(e));
        return null;
      }
    };
    const [hours, regions, channels, rules] = await Promise.all(["hour", "region", "channel", "rule"].map(get));

    if (hours) {
      const byRegion = new Map();
      for (const r of hours) {
        const region = r.region || "(none)";
        if (!byRegion.has(region)) byRegion.set(region, { off: await offsetFor(r.region, null), cells: new Array(24).fill(0) });
        const e = byRegion.get(region);
        const ms = Date.parse(r.hour) + e.off * 60000;
        e.cells[new Date(ms).getUTCHours()] += r.total;
      }
      const names = [...byRegion.keys()].sort();
      const canvas = el("canvas", { "aria-label": "sales by local hour" });
      cards.hour.append(el("div", { class: "chart-box" }, canvas));
      charts.push(chart(canvas, { type: "bar", data: { labels: [...Array(24).keys()].map((h) => String(h).padStart(2, "0")),
        datasets: names.map((n, i) => ({ label: n, data: byRegion.get(n).cells.map(yuan), backgroundColor: COLORS[i % COLORS.length] })) },
        options: { scales: { x: { stacked: true }, y: { stacked: true } } } }));
      const t = el("table", { class: "small", id: "sales-hours" }, el("tr", null, el("th", null, "Region (offset)"), el("th", { class: "num" }, "Busiest hour"), el("th", { class: "num" }, "Total")));
      for (const n of names) {
        const e = byRegion.get(n);
        const best = e.cells.indexOf(Math.max(...e.cells));
        const tr = el("tr", { "data-region": n }, el("td", null, n + " (" + (e.off >= 0 ? "+" : "") + e.off / 60 + "h)"),
          el("td", { class: "num", "data-field": "peak" }, String(best).padStart(2, "0") + ":00"),
          el("td", { class: "num", "data-field": "total" }, money(e.cells.reduce((a, b) => a + b, 0))));
        e.cells.forEach((v, h) => { if (v) tr.append(el("td", { hidden: true, "data-hour": h, "data-fen": v })); });
        t.append(tr);
      }
      cards.hour.append(el("div", { class: "scroll" }, t));
      if (!hours.length) cards.hour.append(el("p", { class: "mute" }, "no sales in this period"));
    }
    const simple = (rows, key, into, label, valueKey = "total") => {
      if (!rows) return;
      if (!rows.length) { into.append(el("p", { class: "mute" }, "nothing in this period")); return; }
      const canvas = el("canvas");
      into.append(el("div", { class: "chart-box" }, canvas));
      charts.push(chart(canvas, { type: "bar", data: { labels: rows.map((r) => r[key] ?? "(none)"),
        datasets: [{ label, data: rows.map((r) => yuan(r[valueKey] ?? 0)), backgroundColor: COLORS }] },
        options: { indexAxis: rows.length > 6 ? "y" : "x", plugins: { legend: { display: false } } } }));
      into.append(el("div", { class: "scroll" }, el("table", { class: "small" }, rows.map((r) =>
        el("tr", { ["data-" + key]: r[key] ?? "" }, el("td", null, r[key] ?? "(none)"),
          el("td", { class: "num" }, r.count ?? ""), el("td", { class: "num", "data-field": valueKey }, money(r[valueKey] ?? 0)))))));
    };
    simple(regions, "region", cards.region, "sales");
    simple(channels, "channel", cards.channel, "sales");
    simple(rules && rules.map((r) => ({ ...r, discount: r.discount ?? r.total })), "rule", cards.rule, "discount", "discount");
  }
  go.addEventListener("click", () => load());
  await load();
  return () => charts.forEach((c) => c && c.destroy());
}
