// pages/audit.js - the audit log (GET /api/v1/audit): every write, who,
// what, on what, with what result — refused ones too.
"use strict";
import { api, el, card, table, pill, localTime, offsetMinutes, policyDoc, errorBox } from "../lib.js";

export async function render(main) {
  const off = offsetMinutes((await policyDoc("global")).utc_offset);
  let rows;
  try { rows = await api("/api/v1/audit"); } catch (e) { main.replaceChildren(el("h2", null, "Audit log"), errorBox(e, "The audit log")); return; }
  const q = el("input", { type: "search", placeholder: "user, action, target" });
  const box = el("div");
  const draw = () => {
    const t = q.value.trim().toLowerCase();
    box.replaceChildren(table([
      { h: "At (HQ time)", f: (r) => localTime(r.at, off) },
      { h: "User", f: (r) => r.user || "–" },
      { h: "Action", f: (r) => r.action },
      { h: "Target", f: (r) => r.target || "" },
      { h: "Result", f: (r) => pill(/^(ok|2\d\d)/.test(String(r.result)) ? "ok" : "error", String(r.result)) },
    ], rows.filter((r) => !t || JSON.stringify(r).toLowerCase().includes(t)), { empty: "nothing yet" }));
  };
  q.addEventListener("input", draw);
  draw();
  main.replaceChildren(el("h2", null, "Audit log"), card(null, q), card(null, box));
}
