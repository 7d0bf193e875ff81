// pages/prices.js - the price map: an editable SKU x region grid with search.
// A cell holds the price the scope sets itself; an empty cell inherits
// (shown greyed as its placeholder). Editing a cell edits that scope's
// draft document (the whole doc, as a new version replaces it, SPEC 4.3);
// drafts are previewed and published from the publish page.
"use strict";
import { el, card, money, moneyInput, parseMoney, policyList, policyDoc, editableDoc, setDraft,
         fleetPlaces, clearErrors, fieldError, clone, can } from "../lib.js";

function priceIn(doc, sku) {
  const it = (doc.items || []).find((i) => i.sku === sku);
  return it && Number.isInteger(it.price) ? it.price : null;
}

function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

export async function render(main) {
  const [list, places] = await Promise.all([policyList(), fleetPlaces().catch(() => ({ regions: new Map() }))]);
  const regionScopes = new Set(list.map((p) => p.scope).filter((s) => s.startsWith("region/")));
  for (const r of places.regions.keys()) regionScopes.add("region/" + r);
  const scopes = ["global", ...[...regionScopes].sort()];
  const published = {}, docs = {};
  for (const s of scopes) {
    published[s] = await policyDoc(s);
    docs[s] = await editableDoc(s);
  }
  const skus = new Map(); // sku -> name
  for (const s of scopes)
    for (const it of [...(published[s].items || []), ...(docs[s].items || [])])
      if (!skus.has(it.sku) || (!skus.get(it.sku) && it.name)) skus.set(it.sku, it.name || "");

  const search = el("input", { type: "search", id: "price-search", placeholder: "Search SKU or name", "aria-label": "Search SKU or name" });
  const count = el("span", { class: "mute small" });
  const t = el("table", { class: "pricemap", id: "pricemap" });
  const head = el("tr", null, el("th", { class: "sticky" }, "SKU"));
  for (const s of scopes) head.append(el("th", { class: "num", "data-scope": s }, s === "global" ? "global" : s.slice(7)));
  t.append(el("thead", null, head));
  const tb = el("tbody");
  t.append(tb);
  const editable = can("operator");

  function onEdit(input, scope, sku) {
    clearErrors(input.parentElement);
    const text = input.value.trim();
    const doc = docs[scope];
    doc.items = doc.items || [];
    let it = doc.items.find((i) => i.sku === sku);
    if (text === "") {
      if (it) { delete it.price; if (Object.keys(it).length === 1) doc.items = doc.items.filter((i) => i !== it); }
    } else {
      const fen = parseMoney(text);
      if (fen === null) { fieldError(input, "a price like 15.00 (yuan, at most 2 decimals)"); return; }
      if (!it) { it = { sku }; if (scope !== "global" && skus.get(sku)) it.name = skus.get(sku); doc.items.push(it); }
      it.price = fen;
      input.value = moneyInput(fen);
    }
    if (doc.items.length === 0 && !published[scope].items) delete doc.items;
    setDraft(scope, same(doc, published[scope]) ? null : clone(doc));
    paint(input, scope, sku);
  }

  function paint(input, scope, sku) {
    const own = priceIn(docs[scope], sku);
    const inherited = priceIn(docs.global, sku);
    input.classList.toggle("inherited", own === null);
    input.classList.toggle("changed", own !== priceIn(published[scope], sku));
    input.placeholder = own === null && scope !== "global" && inherited !== null ? moneyInput(inherited) : "";
  }

  for (const [sku, name] of [...skus].sort((a, b) => a[0].localeCompare(b[0]))) {
    const tr = el("tr", { "data-sku": sku, "data-search": (sku + " " + name).toLowerCase() },
      el("td", { class: "sticky" }, el("b", null, sku), el("div", { class: "small mute" }, name)));
    for (const s of scopes) {
      const input = el("input", { inputmode: "decimal", "data-scope": s, "data-sku": sku, "data-key": sku,
        name: s + ":" + sku, "aria-label": sku + " price in " + s, value: moneyInput(priceIn(docs[s], sku)) });
      if (!editable) input.readOnly = true;
      input.addEventListener("change", () => onEdit(input, s, sku));
      paint(input, s, sku);
      tr.append(el("td", { class: "num" }, input));
    }
    tb.append(tr);
  }
  function filter() {
    const q = search.value.trim().toLowerCase();
    let n = 0;
    for (const tr of tb.rows) { const show = !q || tr.dataset.search.includes(q); tr.hidden = !show; n += show; }
    count.textContent = n + " of " + tb.rows.length + " SKUs";
  }
  search.addEventListener("input", filter);
  filter();
  const discard = el("button", { type: "button", "data-min-role": "operator", onclick: () => {
    for (const s of scopes) setDraft(s, null);
    render(main);
  } }, "Discard drafts");
  main.replaceChildren(el("h2", null, "Price map"),
    card(null, el("div", { class: "row" }, search, count,
      el("span", { class: "small mute" }, "Prices in CNY. Empty cell = inherits the global price (grey). Edited cells are yellow."))),
    card(null, el("div", { class: "scroll" }, t)),
    card(null, el("div", { class: "row" },
      el("a", { class: "button", href: "#/quote", id: "goto-quote" }, "Preview a basket with the drafts"),
      el("a", { class: "button primary", href: "#/publish", id: "goto-publish" }, "Review & publish"),
      discard)));
}
