// pages/history.js - a scope's versions (who published what, when it takes
// effect, which one is in effect now), a diff between any two versions and
// rollback (which publishes the old document as a new version).
"use strict";
import { api, el, card, table, notice, pill, policyList, offsetFor, localTime, errorBox,
         invalidatePolicies, applyRoles, session } from "../lib.js";
import { diffDocs, diffTable } from "../diff.js";

function docOf(v) { return typeof v.doc === "string" ? JSON.parse(v.doc) : v.doc; }

export async function render(main, arg) {
  const list = await policyList();
  const scopes = list.map((p) => p.scope).sort();
  const scope = arg && scopes.includes(arg) ? arg : scopes[0];
  const pick = el("select", { id: "history-scope" }, scopes.map((s) => el("option", { value: s }, s)));
  pick.value = scope || "";
  pick.addEventListener("change", () => { location.hash = "#/history/" + pick.value; });
  main.replaceChildren(el("h2", null, "Version history"), card(null, el("label", null, "Scope", pick)));
  if (!scope) { main.append(notice(null, "Nothing published yet.")); return; }

  const off = await offsetFor(scope.startsWith("region/") ? scope.slice(7) : null, scope.startsWith("store/") ? scope.slice(6) : null);
  let versions;
  try { versions = await api("/api/v1/policies/" + scope + "/versions"); } catch (e) { main.append(errorBox(e, "Version history")); return; }
  versions.sort((a, b) => b.version - a.version);
  const now = Date.now();
  const inEffect = versions.find((v) => !v.effective_at || Date.parse(v.effective_at) <= now);
  const picked = [];
  const diffBox = el("div", { id: "history-diff" }, el("p", { class: "mute" }, "Tick two versions to compare them (or one to compare it with the version before)."));
  const msg = el("div");

  async function showDiff() {
    const ns = [...picked].sort((a, b) => a - b);
    if (ns.length === 1) { const prev = versions.find((v) => v.version < ns[0]); if (!prev) return; ns.unshift(prev.version); }
    if (ns.length < 2) return;
    try {
      const [a, b] = await Promise.all(ns.map((n) => api("/api/v1/policies/" + scope + "/versions/" + n)));
      diffBox.replaceChildren(el("h3", null, "v" + ns[0] + " → v" + ns[1]), diffTable(diffDocs(docOf(a), docOf(b))));
    } catch (e) { diffBox.replaceChildren(errorBox(e, "Version documents")); }
  }

  async function rollback(v) {
    if (!confirm("Publish version " + v.version + "'s document again as a new version of " + scope + "?")) return;
    try {
      const r = await api("/api/v1/policies/" + scope + "/rollback", { method: "POST", body: { to: v.version } });
      invalidatePolicies();
      await render(main, scope);
      applyRoles(main);
      main.append(notice("ok", "Rolled back: " + scope + " version " + r.version + " now carries version " + v.version + "'s document."));
    } catch (e) { msg.replaceChildren(errorBox(e, "Rollback")); }
  }

  main.append(card("Versions of " + scope, table([
    { h: "", f: (v) => el("input", { type: "checkbox", class: "pick", "aria-label": "compare v" + v.version, onclick: (ev) => ev.stopPropagation(),
      onchange: (ev) => { if (ev.target.checked) { picked.push(v.version); if (picked.length > 2) { const drop = picked.shift(); const cb = main.querySelector('tr[data-version="' + drop + '"] input.pick'); if (cb) cb.checked = false; } } else picked.splice(picked.indexOf(v.version), 1); showDiff(); } }) },
    { h: "Version", num: true, key: "version", f: (v) => "v" + v.version },
    { h: "State", key: "state", f: (v) => v === inEffect ? pill("current", "in effect") :
      v.effective_at && Date.parse(v.effective_at) > now ? pill("scheduled") : pill("none", "superseded") },
    { h: "Takes effect (local)", f: (v) => v.effective_at ? localTime(v.effective_at, off) : "on publish" },
    { h: "Published (local)", f: (v) => localTime(v.published_at, off) },
    { h: "By", f: (v) => (v.published_by || "–") + (v.rollout ? " (rollout " + v.rollout + ")" : "") },
    { h: "", f: (v) => v === inEffect ? "" : el("button", { type: "button", class: "rollback", "data-min-role": "operator",
      onclick: (ev) => { ev.stopPropagation(); rollback(v); } }, "Roll back to v" + v.version) },
  ], versions, { rowAttrs: (v) => ({ "data-version": v.version }) })), msg, card("Diff", diffBox));
  if (session.role === "viewer") main.append(notice(null, "Viewers can read history; rolling back needs the operator role."));
}
