// pages/customers.js - find a customer by phone or id (SPEC 13) and show the
// profile, points and the timeline (sales, returns, orders, tickets, form
// submissions, newest first) in store-local time.
"use strict";
import { api, ApiError, el, card, notice, money, errorBox, localTime, offsetMinutes, policyDoc,
         fieldError, clearErrors } from "../lib.js";

function entryText(e) {
  const parts = [e.type || e.kind || "event"];
  if (e.channel) parts.push(e.channel);
  if (e.store) parts.push(e.store);
  if (e.total !== undefined) parts.push(money(e.total));
  if (e.refund !== undefined) parts.push("refund " + money(e.refund));
  if (e.title) parts.push(e.title);
  if (e.form) parts.push("form " + e.form);
  if (e.state) parts.push(e.state);
  if (e.id) parts.push("#" + e.id);
  return parts.join(" · ");
}

export async function render(main, arg) {
  const off = offsetMinutes((await policyDoc("global")).utc_offset);
  const q = el("input", { id: "cust-q", name: "q", placeholder: "phone (+86…) or customer id", size: 22, value: arg || "" });
  const msg = el("div");
  const out = el("div");
  const form = el("form", { id: "cust-find" }, el("div", { class: "row" }, el("label", null, "Phone or id", q),
    el("button", { type: "submit", class: "primary" }, "Find")), msg);

  async function find() {
    clearErrors(form);
    msg.replaceChildren();
    out.replaceChildren();
    const v = q.value.trim();
    if (!v) { fieldError(q, "a phone number or an id"); return; }
    try {
      let c;
      if (/^\+?[0-9]{5,20}$/.test(v)) {
        c = await api("/api/v1/customers?phone=" + encodeURIComponent(v));
        if (Array.isArray(c)) c = c[0];
        if (c && c.id && !c.timeline) c = await api("/api/v1/customers/" + encodeURIComponent(c.id));
      } else c = await api("/api/v1/customers/" + encodeURIComponent(v));
      if (!c) { fieldError(q, "no customer with this phone"); return; }
      const tl = c.timeline || [];
      out.replaceChildren(card((c.name || c.id) + " (" + c.id + ")",
        el("div", { class: "summary" }, el("div", null, el("b", { "data-field": "tier" }, c.tier || "–"), "tier"),
          el("div", null, el("b", { "data-field": "points" }, c.points ?? 0), "points"),
          el("div", null, el("b", null, c.reserved ?? 0), "reserved"),
          el("div", null, el("b", null, c.phone || "–"), "phone")),
        (c.tags || []).length ? el("p", { class: "small" }, "tags: " + c.tags.join(", ")) : null),
        card("Timeline", tl.length ? el("ul", { class: "timeline", id: "cust-timeline" }, tl.map((e) =>
          el("li", { "data-type": e.type || e.kind || "" }, el("div", { class: "small mute" }, localTime(e.at, off, true)), entryText(e)))) :
          el("p", { class: "mute" }, "nothing yet")));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && /customers\/|customers$/.test(e.path) && e.body && /customer/i.test(e.message))
        fieldError(q, e.message);
      else msg.replaceChildren(errorBox(e, "Customers"));
    }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); find(); });
  main.replaceChildren(el("h2", null, "Customers"), card(null, form), out);
  if (arg) await find();
}
