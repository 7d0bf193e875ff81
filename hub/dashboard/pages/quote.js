// pages/quote.js - the preview basket: POST /api/v1/quote {basket, drafts}
// prices a basket at the hub with the shared engine (what the till will
// charge), with the unpublished drafts replacing their scopes, side by side
// with today's price.
"use strict";
import { api, el, card, money, drafts, fleetPlaces, offsetFor, isoAt, nowLocalValue, policyDoc,
         clearErrors, fieldError, placeServerError, errorBox, notice } from "../lib.js";

function result(q, title) {
  return el("div", { "data-quote": title },
    el("h3", null, title),
    el("div", { class: "summary" },
      el("div", null, el("b", { "data-field": "total" }, money(q.total)), "total"),
      el("div", null, el("b", { "data-field": "subtotal" }, money(q.subtotal)), "subtotal"),
      el("div", null, el("b", { "data-field": "discount" }, money(q.discount)), "discount"),
      el("div", null, el("b", { "data-field": "rounding" }, money(q.rounding)), "rounding")),
    el("div", { class: "scroll" }, el("table", null,
      el("tr", null, ["SKU", "Qty", "Base", "Unit", "Discount", "Total"].map((h, i) => el("th", { class: i ? "num" : null }, h))),
      (q.lines || []).map((l) => el("tr", { "data-sku": l.sku }, el("td", null, l.sku), el("td", { class: "num" }, l.qty),
        el("td", { class: "num", "data-field": "base_price" }, money(l.base_price)),
        el("td", { class: "num", "data-field": "unit_price" }, money(l.unit_price)),
        el("td", { class: "num" }, money(l.discount)), el("td", { class: "num", "data-field": "total" }, money(l.total)))))),
    (q.applied || []).length ? el("p", { class: "small" }, "Rules: ", q.applied.map((a) => a.rule + " (" + a.scope + ", −" + money(a.discount) + ")").join("; ")) : null,
    q.coupons && (q.coupons.rejected || []).length ? el("p", { class: "small" }, "Coupons rejected: " +
      q.coupons.rejected.map((c) => c.code + " " + c.reason).join(", ")) : null);
}

export async function render(main) {
  const { regions } = await fleetPlaces().catch(() => ({ regions: new Map() }));
  const stores = [];
  for (const [r, ss] of [...regions].sort()) for (const s of [...ss].sort()) stores.push({ region: r, store: s });
  const global = await policyDoc("global");
  const skuList = el("datalist", { id: "quote-skus" }, (global.items || []).map((i) => el("option", { value: i.sku }, i.name || "")));
  const store = el("select", { id: "quote-store", name: "store", "data-key": "store" },
    stores.map((s) => el("option", { value: s.region + "|" + s.store }, s.store + " (" + s.region + ")")));
  const manual = el("input", { id: "quote-region-store", placeholder: "region|store", hidden: stores.length > 0 });
  const at = el("input", { type: "datetime-local", id: "quote-at", name: "at", "data-key": "at" });
  const channel = el("select", { id: "quote-channel", name: "channel", "data-key": "channel" },
    ["pos", "kiosk", "app", "web"].map((c) => el("option", { value: c }, c)));
  const tier = el("input", { id: "quote-tier", name: "tier", placeholder: "e.g. gold", size: 8, "data-key": "tier" });
  const coupons = el("input", { id: "quote-coupons", name: "coupons", placeholder: "CODE1, CODE2", "data-key": "coupons" });
  const lines = el("tbody", { id: "quote-lines" });
  const useDrafts = el("input", { type: "checkbox", id: "quote-drafts", checked: Object.keys(drafts()).length > 0 });
  const out = el("div", { class: "grid2", id: "quote-result" });
  const msg = el("div");
  let offMin = 0;

  async function setOffset() {
    const [region, st] = (store.value || manual.value || "|").split("|");
    offMin = await offsetFor(region, st);
    at.value = nowLocalValue(offMin);
    at.title = "store local time (UTC" + (offMin >= 0 ? "+" : "") + offMin / 60 + ")";
  }
  function addLine(sku = "", qty = 1) {
    const s = el("input", { list: "quote-skus", value: sku, name: "sku", placeholder: "SKU", class: "quote-sku", size: 14 });
    const q = el("input", { type: "number", min: 1, step: 1, value: qty, name: "qty", class: "quote-qty", style: "width:5em" });
    const keyOf = () => { s.dataset.key = s.value.trim(); };
    s.addEventListener("input", keyOf);
    keyOf();
    const tr = el("tr", null, el("td", null, s), el("td", null, q),
      el("td", null, el("button", { type: "button", onclick: () => tr.remove() }, "✕")));
    lines.append(tr);
  }
  store.addEventListener("change", setOffset);
  const first = (global.items || [])[0];
  addLine(first ? first.sku : "", 1);

  async function run() {
    clearErrors(main);
    msg.replaceChildren();
    const [region, st] = (store.value || manual.value || "|").split("|");
    const basket = { region, store: st, at: isoAt(at.value, offMin), channel: channel.value, lines: [] };
    if (!basket.at) { fieldError(at, "pick a date and time"); return; }
    for (const tr of lines.rows) {
      const [s, q] = tr.querySelectorAll("input");
      const qty = Number(q.value);
      if (!s.value.trim()) { fieldError(s, "a SKU"); return; }
      if (!Number.isInteger(qty) || qty < 1) { fieldError(q, "a whole number ≥ 1"); return; }
      basket.lines.push({ sku: s.value.trim(), qty });
    }
    if (tier.value.trim()) basket.customer = { id: "preview", tier: tier.value.trim(), tags: [] };
    const codes = coupons.value.split(",").map((c) => c.trim()).filter(Boolean);
    if (codes.length) basket.coupons = codes;
    const ds = Object.values(drafts());
    try {
      const now = await api("/api/v1/quote", { method: "POST", body: { basket } });
      const parts = [result(now, "Published policy")];
      if (useDrafts.checked && ds.length) {
        const next = await api("/api/v1/quote", { method: "POST", body: { basket, drafts: ds } });
        parts.push(result(next, "With drafts (" + Object.keys(drafts()).join(", ") + ")"));
        const delta = next.total - now.total;
        msg.replaceChildren(notice(delta ? "warn" : "ok", "With the drafts this basket costs " + money(next.total) +
          " instead of " + money(now.total) + (delta ? " (" + (delta > 0 ? "+" : "") + money(delta) + ")" : " (no change)") + "."));
      }
      out.replaceChildren(...parts);
      document.body.dataset.quoted = String(Date.now());
    } catch (e) {
      if (!placeServerError(main, e)) msg.replaceChildren(errorBox(e, "The preview basket (POST /api/v1/quote)"));
    }
  }
  const go = el("button", { type: "button", class: "primary", id: "quote-run", "data-min-role": "operator", onclick: run }, "Price this basket");
  main.replaceChildren(el("h2", null, "Preview basket"), skuList,
    card(null, el("div", { class: "row" }, el("label", null, "Store", store, manual), el("label", null, "At (store time)", at),
      el("label", null, "Channel", channel), el("label", null, "Customer tier", tier), el("label", null, "Coupons", coupons)),
      el("table", { class: "small" }, el("tr", null, el("th", null, "SKU"), el("th", null, "Qty"), el("th")), lines),
      el("div", { class: "row" }, el("button", { type: "button", onclick: () => addLine() }, "+ line"),
        el("label", { class: "inline" }, useDrafts, "apply my unpublished drafts"), go)),
    msg, out);
  await setOffset();
}
