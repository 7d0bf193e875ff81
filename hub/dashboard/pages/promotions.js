// pages/promotions.js - every promotion rule of every scope (published or
// drafted), with search; edit or add one (common fields as inputs, the
// type's own fields as JSON), delete, and schedule through the publish page
// (publish at a time = effective_at). Edits go into the scope's draft.
"use strict";
import { el, card, table, notice, money, policyList, editableDoc, setDraft, policyDoc, clone,
         fieldError, clearErrors, offsetFor, localTime, isoAt, offsetMinutes, applyRoles } from "../lib.js";

const TYPES = ["price", "percent", "amount", "bogo", "bundle", "threshold", "basket_percent"];
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const COMMON = ["id", "type", "priority", "when", "target", "coupon", "exclusive"];

function summary(r) {
  const p = [];
  if (r.type === "percent" || r.type === "basket_percent") p.push((r.bp / 100) + "% off");
  if (r.type === "amount") p.push(money(r.off) + " off");
  if (r.type === "price") p.push("at " + money(r.price));
  if (r.type === "threshold") p.push("spend " + money(r.min) + " save " + money(r.off));
  if (r.type === "bogo") p.push("buy " + r.buy + " get " + r.get + " at " + ((r.bp ?? 10000) / 100) + "% off");
  if (r.type === "bundle") p.push("bundle for " + money(r.price));
  if (r.coupon) p.push("coupon " + r.coupon);
  return p.join(", ");
}

function whenText(w, off) {
  if (!w) return "always";
  const p = [];
  if (w.from) p.push("from " + localTime(w.from, off));
  if (w.until) p.push("until " + localTime(w.until, off));
  if (w.days) p.push("days " + w.days.join(","));
  if (w.hours) p.push(w.hours);
  if (w.channels) p.push(w.channels.join("/"));
  if (w.tiers) p.push("tiers " + w.tiers.join("/"));
  return p.join(" · ") || "always";
}

export async function render(main, arg) {
  const scopes = (await policyList()).map((p) => p.scope).filter((s) => s === "global" || s.startsWith("region/") || s.startsWith("store/")).sort();
  const docs = {}, offs = {};
  const rows = [];
  for (const s of scopes) {
    docs[s] = await editableDoc(s);
    offs[s] = await offsetFor(s.startsWith("region/") ? s.slice(7) : null, s.startsWith("store/") ? s.slice(6) : null);
    for (const r of docs[s].rules || []) rows.push({ scope: s, rule: r, disabled: (docs[s].disable || []).includes(r.id) });
  }
  const search = el("input", { type: "search", id: "promo-search", placeholder: "Search id, type, SKU" });
  const listBox = el("div");
  const editBox = el("div");
  function drawList() {
    const q = search.value.trim().toLowerCase();
    const shown = rows.filter((r) => !q || JSON.stringify(r.rule).toLowerCase().includes(q) || r.scope.includes(q));
    listBox.replaceChildren(table([
      { h: "Rule", key: "id", f: (r) => el("b", null, r.rule.id) },
      { h: "Scope", f: (r) => r.scope },
      { h: "Type", f: (r) => r.rule.type },
      { h: "What", f: (r) => summary(r.rule) },
      { h: "When (local)", f: (r) => whenText(r.rule.when, offs[r.scope]) },
      { h: "Priority", num: true, f: (r) => r.rule.priority ?? 0 },
      { h: "", f: (r) => r.disabled ? "disabled here" : "" },
    ], shown, { rowAttrs: (r) => ({ "data-rule": r.rule.id, "data-scope": r.scope }), onRow: (r) => edit(r.scope, r.rule), empty: "no promotion rules" }));
  }
  search.addEventListener("input", drawList);

  function edit(scope, rule) {
    const isNew = !rule;
    rule = rule ? clone(rule) : { id: "", type: "percent", bp: 1000 };
    const off = offs[scope] ?? 0;
    const f = {
      scope: el("select", { name: "scope", "data-key": "scope" }, scopes.map((s) => el("option", { value: s }, s))),
      id: el("input", { name: "id", value: rule.id, "data-key": rule.id || "id", required: true, size: 18 }),
      type: el("select", { name: "type", "data-key": "type" }, TYPES.map((t) => el("option", { value: t }, t))),
      priority: el("input", { name: "priority", type: "number", step: 1, value: rule.priority ?? 0, style: "width:5em", "data-key": "priority" }),
      from: el("input", { name: "from", type: "datetime-local", "data-key": "from", value: rule.when && rule.when.from ? localTime(rule.when.from, off).replace(" ", "T") : "" }),
      until: el("input", { name: "until", type: "datetime-local", "data-key": "until", value: rule.when && rule.when.until ? localTime(rule.when.until, off).replace(" ", "T") : "" }),
      skus: el("input", { name: "skus", "data-key": "skus", placeholder: "SKUs, comma separated (empty: all)", value: ((rule.target || {}).skus || []).join(", "), size: 30 }),
      params: el("textarea", { name: "params", rows: 6, "data-key": "params" }),
    };
    f.scope.value = scope;
    f.type.value = rule.type;
    const rest = {};
    for (const [k, v] of Object.entries(rule)) if (!COMMON.includes(k)) rest[k] = v;
    const whenRest = Object.fromEntries(Object.entries(rule.when || {}).filter(([k]) => k !== "from" && k !== "until"));
    if (Object.keys(whenRest).length) rest.when = whenRest;
    const targetRest = Object.fromEntries(Object.entries(rule.target || {}).filter(([k]) => k !== "skus"));
    if (Object.keys(targetRest).length) rest.target = targetRest;
    for (const k of ["coupon", "exclusive"]) if (rule[k] !== undefined) rest[k] = rule[k];
    f.params.value = JSON.stringify(rest, null, 1);
    const msg = el("div");
    const form = el("form", { id: "promo-form", class: "publish-card" },
      el("div", { class: "row" }, el("label", null, "Scope", f.scope), el("label", null, "Rule id", f.id), el("label", null, "Type", f.type),
        el("label", null, "Priority", f.priority)),
      el("div", { class: "row" }, el("label", null, "From (local)", f.from), el("label", null, "Until (local, exclusive)", f.until),
        el("label", null, "Target SKUs", f.skus)),
      el("label", { style: "display:flex" }, "The type's fields and other conditions (JSON; money in fen, percentages in bp)", f.params),
      msg,
      el("div", { class: "row" },
        el("button", { type: "submit", class: "primary", "data-min-role": "operator" }, isNew ? "Add to draft" : "Save to draft"),
        isNew ? null : el("button", { type: "button", class: "danger", "data-min-role": "operator", onclick: () => save(true) }, "Delete rule"),
        el("button", { type: "button", onclick: () => editBox.replaceChildren() }, "Close")));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); save(false); });

    async function save(del) {
      clearErrors(form);
      msg.replaceChildren();
      const target = f.scope.value;
      const id = f.id.value.trim();
      if (!ID_RE.test(id)) { fieldError(f.id, "letters, digits, _ . - (up to 64), starting with a letter or digit"); return; }
      let extra;
      try { extra = JSON.parse(f.params.value || "{}"); } catch (e) { fieldError(f.params, "not JSON: " + e.message); return; }
      if (!extra || typeof extra !== "object" || Array.isArray(extra)) { fieldError(f.params, "a JSON object"); return; }
      const pr = Number(f.priority.value);
      if (!Number.isInteger(pr)) { fieldError(f.priority, "a whole number"); return; }
      const toff = offs[target] ?? 0;
      const r = { id, type: f.type.value };
      if (pr) r.priority = pr;
      const when = Object.assign({}, extra.when || {});
      for (const k of ["from", "until"]) {
        if (!f[k].value) continue;
        const iso = isoAt(f[k].value, toff);
        if (!iso) { fieldError(f[k], "a date and time"); return; }
        when[k] = iso;
      }
      if (when.from && when.until && when.from >= when.until) { fieldError(f.until, "must be after From"); return; }
      if (Object.keys(when).length) r.when = when;
      const skus = f.skus.value.split(",").map((s) => s.trim()).filter(Boolean);
      const tgt = Object.assign({}, extra.target || {});
      if (skus.length) tgt.skus = skus;
      if (Object.keys(tgt).length) r.target = tgt;
      for (const [k, v] of Object.entries(extra)) if (k !== "when" && k !== "target") r[k] = v;
      const doc = await editableDoc(target);
      doc.rules = (doc.rules || []).filter((x) => x.id !== (isNew ? id : rule.id));
      if (target !== scope && !isNew) { // moved: drop it from the old scope too
        const old = await editableDoc(scope);
        old.rules = (old.rules || []).filter((x) => x.id !== rule.id);
        setDraft(scope, old);
      }
      if (!del) {
        if (isNew && (docs[target].rules || []).some((x) => x.id === id)) { fieldError(f.id, "a rule " + id + " already exists in " + target); return; }
        doc.rules.push(r);
      }
      const pub = await policyDoc(target);
      setDraft(target, JSON.stringify(doc) === JSON.stringify(pub) ? null : doc);
      await render(main);
      applyRoles(main);
      main.append(notice("ok", (del ? "Deleted " : "Saved ") + id + " in the draft of " + target + ". ",
        el("a", { href: "#/publish" }, "Publish it now or schedule it"), " · ", el("a", { href: "#/quote" }, "preview a basket")));
    }
    editBox.replaceChildren(card(isNew ? "New promotion rule" : "Edit " + rule.id + " (" + scope + ")", form));
    applyRoles(editBox);
    editBox.scrollIntoView({ block: "start" });
  }

  drawList();
  main.replaceChildren(el("h2", null, "Promotions"),
    card(null, el("div", { class: "row" }, search,
      el("button", { type: "button", class: "primary", id: "promo-new", "data-min-role": "operator", onclick: () => edit(scopes[0] || "global", null) }, "New rule"))),
    card(null, listBox), editBox);
  if (arg) { const r = rows.find((x) => x.rule.id === arg); if (r) edit(r.scope, r.rule); }
}
