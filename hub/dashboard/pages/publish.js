// pages/publish.js - review the drafts (diff against the published
// version) and publish each: now, at a time (effective_at, in the scope's
// local time), or as a staged rollout (stores / percent stages, optional
// gate). Warnings and "unreachable" versions from the result are shown.
"use strict";
import { api, el, card, notice, drafts, setDraft, policyDoc, invalidatePolicies, fleetPlaces,
         offsetFor, isoAt, nowLocalValue, clearErrors, fieldError, placeServerError, errorBox,
         applyRoles } from "../lib.js";
import { diffDocs, diffTable } from "../diff.js";

export function rememberRollout(id) {
  const ids = JSON.parse(sessionStorage.getItem("shoal.rollouts") || "[]");
  if (!ids.includes(id)) ids.unshift(id);
  sessionStorage.setItem("shoal.rollouts", JSON.stringify(ids.slice(0, 50)));
}

function stageRow(kind = "stores", value = "") {
  const type = el("select", { class: "stage-kind" }, el("option", { value: "stores" }, "stores"), el("option", { value: "percent" }, "percent"));
  type.value = kind;
  const val = el("input", { class: "stage-value", value, placeholder: "store ids, comma separated / 1..100", size: 26 });
  const tr = el("tr", null, el("td", { class: "stage-n" }), el("td", null, type), el("td", null, val),
    el("td", null, el("button", { type: "button", onclick: () => tr.remove() }, "✕")));
  return tr;
}

/** Reads the stages editor; marks the first bad value and returns null. */
function readStages(tbody) {
  const stages = [];
  for (const tr of tbody.rows) {
    const kind = tr.querySelector(".stage-kind").value, input = tr.querySelector(".stage-value");
    if (kind === "percent") {
      const n = Number(input.value);
      if (!Number.isInteger(n) || n < 1 || n > 100) { fieldError(input, "a whole percent 1..100"); return null; }
      stages.push({ percent: n });
    } else {
      const ids = input.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (!ids.length) { fieldError(input, "at least one store id"); return null; }
      stages.push({ stores: ids });
    }
  }
  return stages;
}

async function scopeCard(scope, doc, places, refresh) {
  const before = await policyDoc(scope);
  const region = scope.startsWith("region/") ? scope.slice(7) : null;
  const store = scope.startsWith("store/") ? scope.slice(6) : null;
  const off = await offsetFor(region, store);
  const stores = region ? [...(places.regions.get(region) || [])].sort() :
    store ? [store] : [...new Set([].concat(...[...places.regions.values()].map((s) => [...s])))].sort();
  const name = scope.replace(/\W/g, "-");
  const mode = (v, label, checked) => el("label", { class: "inline" },
    el("input", { type: "radio", name: "mode-" + name, value: v, checked, class: "publish-mode" }), label);
  const when = el("input", { type: "datetime-local", class: "publish-at", name: "effective_at", "data-key": "effective_at", value: nowLocalValue(off, 60) });
  const stagesBody = el("tbody", { class: "stages" }, stageRow("stores", stores.slice(0, 1).join(",")), stageRow("percent", "100"));
  const gateOn = el("input", { type: "checkbox", class: "gate-on" });
  const minApplied = el("input", { type: "number", min: 0, max: 1, step: 0.05, value: 0.9, class: "gate-min", style: "width:5em" });
  const waitS = el("input", { type: "number", min: 0, step: 1, value: 600, class: "gate-wait", style: "width:6em" });
  const rolloutBox = el("div", { class: "rollout-box", hidden: true },
    el("p", { class: "small mute" }, "Stores in the current stage apply the new version; the others keep the current one. " +
      "Stores here: " + (stores.join(", ") || "none reported yet")),
    el("table", { class: "small" }, el("tr", null, el("th", null, "#"), el("th", null, "Stage by"), el("th", null, "Stores or percent"), el("th")), stagesBody),
    el("div", { class: "row" }, el("button", { type: "button", onclick: () => stagesBody.append(stageRow("percent", "100")) }, "+ stage"),
      el("label", { class: "inline" }, gateOn, "advance by itself when"),
      el("label", null, "share applied ≥", minApplied), el("label", null, "and after (s)", waitS)));
  const atBox = el("div", { hidden: true }, el("label", null, "Takes effect at (" + (region || store || "HQ") + " local time)", when));
  const msg = el("div", { class: "publish-msg" });
  const body = el("div", { class: "publish-card", "data-scope": scope },
    diffTable(diffDocs(before, doc)),
    el("div", { class: "row" }, mode("now", "Publish now", true), mode("at", "Publish at a time"), mode("rollout", "Staged rollout")),
    atBox, rolloutBox, msg);
  body.addEventListener("change", (ev) => {
    if (!ev.target.classList.contains("publish-mode")) return;
    atBox.hidden = ev.target.value !== "at";
    rolloutBox.hidden = ev.target.value !== "rollout";
  });
  const go = el("button", { type: "button", class: "primary publish-go", "data-min-role": "operator" }, "Publish " + scope);
  const discard = el("button", { type: "button", "data-min-role": "operator", onclick: () => { setDraft(scope, null); refresh(); } }, "Discard");
  go.addEventListener("click", async () => {
    clearErrors(body);
    msg.replaceChildren();
    const m = body.querySelector(".publish-mode:checked").value;
    go.disabled = true;
    try {
      if (m === "rollout") {
        const stages = readStages(stagesBody);
        if (!stages) return;
        const req = { scope, doc, stages };
        if (gateOn.checked) req.gate = { min_applied: Number(minApplied.value), wait_s: Number(waitS.value) };
        const r = await api("/api/v1/rollouts", { method: "POST", body: req });
        rememberRollout(String(r.id));
        setDraft(scope, null);
        invalidatePolicies();
        location.hash = "#/rollouts/" + encodeURIComponent(r.id);
        return;
      }
      let q = "";
      if (m === "at") {
        const iso = isoAt(when.value, off);
        if (!iso) { fieldError(when, "pick a date and time"); return; }
        q = "?effective_at=" + encodeURIComponent(iso);
      }
      const r = await api("/api/v1/policies" + q, { method: "POST", body: doc });
      setDraft(scope, null);
      invalidatePolicies();
      const warn = [].concat(r.warnings || []);
      msg.replaceChildren(notice("ok", "Published " + r.scope + " version " + r.version +
        (m === "at" ? " effective " + when.value.replace("T", " ") : "") + ". ",
        el("a", { href: "#/history/" + r.scope }, "version history")));
      if (warn.length) msg.append(notice("warn", el("b", null, "Warnings: "), el("ul", null, warn.map((w) => el("li", null, typeof w === "string" ? w : JSON.stringify(w))))));
      if ((r.unreachable || []).length)
        msg.append(notice("warn", "Scheduled version(s) " + r.unreachable.join(", ") + " will now never take effect (a later version takes effect first)."));
      go.remove();
      discard.remove();
    } catch (e) {
      if (!placeServerError(body, e)) msg.replaceChildren(errorBox(e, m === "rollout" ? "Staged rollouts" : "Publishing"));
    } finally {
      go.disabled = false;
      applyRoles(body);
    }
  });
  body.append(el("div", { class: "row" }, go, discard));
  return card("Draft of " + scope, body);
}

export async function render(main) {
  const ds = drafts();
  const scopes = Object.keys(ds).sort();
  const places = await fleetPlaces().catch(() => ({ regions: new Map() }));
  const refresh = () => render(main).then(() => applyRoles(main));
  const cards = [];
  for (const s of scopes) cards.push(await scopeCard(s, ds[s], places, refresh).catch((e) => card(s, errorBox(e))));
  main.replaceChildren(el("h2", null, "Review & publish"),
    scopes.length ? el("p", { class: "mute" }, "Each draft replaces its scope's whole document. ",
      el("a", { href: "#/quote" }, "Preview a basket first.")) :
      notice(null, "No drafts. Edit the ", el("a", { href: "#/prices" }, "price map"), " or ",
        el("a", { href: "#/promotions" }, "promotions"), " first."),
    ...cards);
}
