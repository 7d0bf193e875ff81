// pages/tickets.js - work orders (GET /api/v1/tickets) with filters, and
// dispatch (SPEC 15): open a work order at the hub (POST /api/v1/tickets)
// and add events to one (POST /api/v1/tickets/{id}/events: assign, priority,
// note, cancel, close). A hub without the field-service routes answers 404:
// the page says so and keeps the list.
"use strict";
import { api, el, card, table, notice, pill, errorBox, clearErrors, fieldError, placeServerError,
         offsetFor, localTime, fleetPlaces, applyRoles } from "../lib.js";

const OPEN = (t) => !["resolved", "closed", "cancelled"].includes(t.state);
const PRIORITIES = ["low", "normal", "high", "urgent"];

export async function render(main) {
  const [tickets, places] = await Promise.all([api("/api/v1/tickets"), fleetPlaces().catch(() => ({ regions: new Map() }))]);
  const offs = new Map();
  for (const t of tickets) if (!offs.has(t.store)) offs.set(t.store, await offsetFor(t.region, t.store));
  const state = el("select", { id: "ticket-state" }, ["open", "all", "new", "assigned", "on_site", "resolved", "closed", "cancelled"].map((s) => el("option", { value: s }, s)));
  const sla = el("select", { id: "ticket-sla" }, ["any", "breached", "due_soon", "ok", "met", "none"].map((s) => el("option", { value: s }, s)));
  const q = el("input", { type: "search", id: "ticket-search", placeholder: "id, store, title, group" });
  const listBox = el("div");
  const side = el("div");
  const counts = {};
  for (const t of tickets.filter(OPEN)) counts[t.sla_state || "none"] = (counts[t.sla_state || "none"] || 0) + 1;

  function draw() {
    const text = q.value.trim().toLowerCase();
    const shown = tickets.filter((t) => (state.value === "all" || (state.value === "open" ? OPEN(t) : t.state === state.value)) &&
      (sla.value === "any" || (t.sla_state || "none") === sla.value) &&
      (!text || [t.id, t.store, t.title, t.group, t.category].join(" ").toLowerCase().includes(text)));
    listBox.replaceChildren(table([
      { h: "Ticket", key: "id", f: (t) => el("b", null, t.id) },
      { h: "Store", f: (t) => t.store },
      { h: "Title", f: (t) => t.title || t.category || "" },
      { h: "State", key: "state", f: (t) => pill(t.state) },
      { h: "Priority", f: (t) => t.priority || "" },
      { h: "Group / tech", f: (t) => [t.group, t.tech].filter(Boolean).join(" / ") || "–" },
      { h: "SLA", key: "sla_state", f: (t) => pill(t.sla_state || "none") },
      { h: "Due (store time)", f: (t) => localTime(t.resolve_due, offs.get(t.store) || 0) },
    ], shown, { rowAttrs: (t) => ({ "data-ticket": t.id }), onRow: (t) => dispatch(t), empty: "no work orders match" }));
  }
  [state, sla].forEach((s) => s.addEventListener("change", draw));
  q.addEventListener("input", draw);

  async function send(path, body, form, msg, what) {
    clearErrors(form);
    msg.replaceChildren();
    try {
      const r = await api(path, { method: "POST", body });
      msg.replaceChildren(notice("ok", what + " done" + (r && r.id ? " (" + r.id + ")" : "") + ". The store's devices get it on their next sync."));
      return r;
    } catch (e) {
      if (!placeServerError(form, e)) msg.replaceChildren(errorBox(e, "Dispatch (field-service routes)"));
      return null;
    }
  }

  function dispatch(t) {
    const kind = el("select", { name: "kind", "data-key": "kind" }, ["assign", "priority", "note", "cancel", "close"].map((k) => el("option", { value: k }, k)));
    const group = el("input", { name: "group", "data-key": "group", value: t.group || "", size: 12 });
    const tech = el("input", { name: "tech", "data-key": "tech", size: 12 });
    const prio = el("select", { name: "priority", "data-key": "priority" }, PRIORITIES.map((p) => el("option", { value: p }, p)));
    prio.value = t.priority || "normal";
    const text = el("input", { name: "text", "data-key": "text", size: 30 });
    const msg = el("div");
    const form = el("form", { id: "dispatch-form" }, el("div", { class: "row" }, el("label", null, "Event", kind),
      el("label", null, "Group", group), el("label", null, "Technician", tech), el("label", null, "Priority", prio), el("label", null, "Note", text)),
      msg, el("div", { class: "row" }, el("button", { type: "submit", class: "primary", "data-min-role": "operator" }, "Send"),
        el("button", { type: "button", onclick: () => side.replaceChildren() }, "Close")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { kind: kind.value };
      if (kind.value === "assign") {
        if (!group.value.trim() && !tech.value.trim()) { fieldError(group, "a group or a technician"); return; }
        if (group.value.trim()) body.group = group.value.trim();
        if (tech.value.trim()) body.tech = tech.value.trim();
      } else if (kind.value === "priority") body.priority = prio.value;
      else if (kind.value === "note") { if (!text.value.trim()) { fieldError(text, "some text"); return; } body.text = text.value.trim(); }
      await send("/api/v1/tickets/" + encodeURIComponent(t.id) + "/events", body, form, msg, kind.value);
    });
    side.replaceChildren(card("Dispatch " + t.id + " · " + (t.title || "") + " · " + t.store, form));
    applyRoles(side);
  }

  const stores = [];
  for (const [r, ss] of places.regions) for (const s of ss) stores.push([r, s]);
  const nStore = el("select", { name: "store", "data-key": "store" }, stores.sort().map(([r, s]) => el("option", { value: r + "|" + s }, s + " (" + r + ")")));
  const nCat = el("input", { name: "category", "data-key": "category", value: "repair", size: 10 });
  const nPrio = el("select", { name: "priority", "data-key": "priority" }, PRIORITIES.map((p) => el("option", { value: p }, p)));
  nPrio.value = "normal";
  const nTitle = el("input", { name: "title", "data-key": "title", size: 28, required: true });
  const nMsg = el("div");
  const nForm = el("form", { id: "ticket-new" }, el("div", { class: "row" }, el("label", null, "Store", nStore), el("label", null, "Category", nCat),
    el("label", null, "Priority", nPrio), el("label", null, "Title", nTitle),
    el("button", { type: "submit", class: "primary", "data-min-role": "operator" }, "Open work order")), nMsg);
  nForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!nTitle.value.trim()) { fieldError(nTitle, "a title"); return; }
    const [region, store] = nStore.value.split("|");
    await send("/api/v1/tickets", { store, region, category: nCat.value.trim(), priority: nPrio.value, title: nTitle.value.trim() }, nForm, nMsg, "Work order opened");
  });

  main.replaceChildren(el("h2", null, "Tickets"),
    el("div", { class: "summary" }, ["breached", "due_soon", "ok", "none"].map((s) => el("div", { "data-sla": s }, el("b", { "data-field": "count" }, counts[s] || 0), s.replace("_", " ")))),
    card(null, el("div", { class: "row" }, el("label", null, "State", state), el("label", null, "SLA", sla), q)),
    card(null, listBox), side, card("New work order", nForm));
  draw();
}
