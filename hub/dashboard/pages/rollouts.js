// pages/rollouts.js - staged rollouts: the list, and one rollout's stages
// with targeted / applied device counts (refreshed every 2 s, so HQ watches
// stores apply it) and the advance / pause / abort buttons.
"use strict";
import { api, ApiError, el, card, table, notice, pill, errorBox, applyRoles, setStatus,
         invalidatePolicies } from "../lib.js";

const REFRESH_MS = 2000;

function remembered() { return JSON.parse(sessionStorage.getItem("shoal.rollouts") || "[]"); }

function stageText(s) {
  if (s.stores) return "stores " + s.stores.join(", ");
  if (s.percent !== undefined) return s.percent + "% of stores";
  return JSON.stringify(s);
}

function stageVersion(r, cur) {
  const s = (r.stages || [])[cur];
  const v = (s && s.version) ?? r.version;
  return v !== undefined && v !== null ? "v" + v : "–";
}

function bar(applied, targeted) {
  const pct = targeted ? Math.round((100 * applied) / targeted) : 0;
  return el("div", { class: "row" }, el("div", { class: "bar", style: "width:120px" }, el("span", { style: "width:" + pct + "%" })),
    el("span", { class: "small" }, applied + " / " + targeted + " devices"));
}

async function list(main) {
  let rows = null, err = null;
  try { rows = await api("/api/v1/rollouts"); } catch (e) { err = e; }
  if (!rows) {
    if (err && !(err instanceof ApiError && err.status === 404)) throw err;
    rows = [];
    for (const id of remembered()) {
      try { rows.push(await api("/api/v1/rollouts/" + encodeURIComponent(id))); } catch (e) {
        if (e instanceof ApiError && e.status === 404 && e.path.endsWith("/" + id)) continue;
        main.replaceChildren(el("h2", null, "Rollouts"), errorBox(e, "Staged rollouts"));
        return;
      }
    }
  }
  const open = el("input", { id: "rollout-id", placeholder: "rollout id", size: 10 });
  main.replaceChildren(el("h2", null, "Rollouts"),
    card(null, el("p", { class: "small mute" }, "Start a rollout from ", el("a", { href: "#/publish" }, "Review & publish"),
      " (choose “Staged rollout”)."), el("div", { class: "row" }, open,
      el("button", { type: "button", onclick: () => { if (open.value.trim()) location.hash = "#/rollouts/" + encodeURIComponent(open.value.trim()); } }, "Open"))),
    card("Rollouts", table([
      { h: "Id", key: "id", f: (r) => String(r.id) },
      { h: "Scope", f: (r) => r.scope || "" },
      { h: "Version", num: true, f: (r) => stageVersion(r, (r.stage || 1) - 1) },
      { h: "State", key: "state", f: (r) => pill(r.state || "unknown") },
      { h: "Stage", num: true, f: (r) => (r.stage ?? "") + (r.stages ? " / " + r.stages.length : "") },
      { h: "Applied", f: (r) => bar(r.applied ?? 0, r.targeted ?? 0) },
    ], rows,
    { rowAttrs: (r) => ({ "data-rollout": r.id }), onRow: (r) => { location.hash = "#/rollouts/" + encodeURIComponent(r.id); },
      empty: "no rollouts yet" })));
}

async function detail(main, id) {
  const head = el("div");
  const stagesBox = el("div");
  const buttons = el("div", { class: "row" });
  const msg = el("div");
  main.replaceChildren(el("h2", null, el("a", { href: "#/rollouts" }, "Rollouts"), " › " + id), card(null, head, buttons, msg), card("Stages", stagesBox));
  let r = null;

  async function act(what) {
    if (what === "abort" && !confirm("Abort this rollout? Every device returns to the stable version.")) return;
    msg.replaceChildren();
    try {
      r = await api("/api/v1/rollouts/" + encodeURIComponent(id) + "/" + what, { method: "POST", body: {} });
      invalidatePolicies();
      await load();
    } catch (e) { msg.replaceChildren(errorBox(e, "Rollout " + what)); }
  }
  const btn = (what, label, cls) => el("button", { type: "button", class: cls || "", id: "rollout-" + what, "data-action": what,
    "data-min-role": "operator", onclick: () => act(what) }, label);
  buttons.append(btn("advance", "Advance to next stage", "primary"), btn("pause", "Pause"), btn("abort", "Abort", "danger"));

  async function load() {
    r = await api("/api/v1/rollouts/" + encodeURIComponent(id));
    const stages = r.stages || [];
    const cur = typeof r.stage === "number" ? r.stage - 1 : null; // the hub counts stages from 1
    const finished = ["done", "completed", "aborted", "finished"].includes(r.state);
    head.replaceChildren(...[el("div", { class: "summary" },
      el("div", null, el("b", { "data-field": "state" }, pill(r.state || "unknown")), "state"),
      el("div", null, el("b", null, r.scope || ""), "scope"),
      el("div", null, el("b", { "data-field": "version" }, stageVersion(r, cur)), "version of this stage"),
      el("div", null, el("b", null, r.stable_version !== undefined ? "v" + r.stable_version : "–"), "stable version"),
      r.final_version ? el("div", null, el("b", null, "v" + r.final_version), "ended with") : null,
      el("div", null, el("b", { "data-field": "stage" }, cur === null ? "–" : (cur + 1) + " / " + stages.length), "stage")),
      r.gate ? el("p", { class: "small mute" }, "Advances by itself when ≥ " + Math.round((r.gate.min_applied ?? 0) * 100) +
        "% of targeted devices report the version and " + (r.gate.wait_s ?? 0) + " s have passed.") :
        el("p", { class: "small mute" }, "No gate: advance by hand.")].filter(Boolean));
    document.body.dataset.rolloutState = r.state || "";
    stagesBox.replaceChildren(table([
      { h: "#", num: true, f: (s) => String(s.n + 1) },
      { h: "Stage", f: (s) => stageText(s) },
      { h: "Progress", key: "progress", f: (s) => bar(s.applied ?? 0, s.targeted ?? 0) },
      { h: "", f: (s) => s.n === cur && !finished ? pill("running", "current") : "" },
    ], stages.map((s, i) => ({ ...s, n: i })),
    { rowAttrs: (s) => ({ "data-stage": s.n, "data-targeted": s.targeted ?? 0, "data-applied": s.applied ?? 0 }) }));
    const adv = buttons.querySelector("#rollout-advance");
    adv.textContent = cur !== null && cur >= stages.length - 1 ? "Finish: make it the stable version" : "Advance to stage " + (cur + 2);
    for (const b of buttons.querySelectorAll("button")) {
      b.disabled = finished || (b.dataset.action === "pause" && r.state === "paused");
      delete b.dataset.roleLocked;
    }
    applyRoles(main);
    setStatus("rollout " + id + " " + (r.state || "") + " · " + new Date().toLocaleTimeString());
  }
  await load();
  const timer = setInterval(() => load().catch((e) => setStatus(String(e.message || e))), REFRESH_MS);
  return () => clearInterval(timer);
}

export async function render(main, arg) {
  try {
    if (arg) return await detail(main, arg);
    return await list(main);
  } catch (e) {
    main.replaceChildren(el("h2", null, "Rollouts"), errorBox(e, "Staged rollouts"));
    if (!(e instanceof ApiError)) throw e;
  }
}
