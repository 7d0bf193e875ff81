// app.js - the dashboard's entry: login (token typed once, kept in
// sessionStorage, sent as a header), the user's role, the hash router
// (#/page/arg — a URL never holds a token) and the drafts box in the nav.
"use strict";
import { api, ApiError, session, token, setToken, clearToken, setUnauthorizedHandler, el,
         drafts, onDrafts, setStatus, errorBox, applyRoles } from "./lib.js";
import * as fleet from "./pages/fleet.js";
import * as sales from "./pages/sales.js";
import * as prices from "./pages/prices.js";
import * as promotions from "./pages/promotions.js";
import * as quote from "./pages/quote.js";
import * as publish from "./pages/publish.js";
import * as history from "./pages/history.js";
import * as rollouts from "./pages/rollouts.js";
import * as tickets from "./pages/tickets.js";
import * as forms from "./pages/forms.js";
import * as customers from "./pages/customers.js";
import * as audit from "./pages/audit.js";

const TITLES = { fleet: "The fleet view", sales: "Sales reports", prices: "The price map (policy routes)",
                 promotions: "Promotions (policy routes)", quote: "The preview basket", publish: "Publishing",
                 history: "Version history", rollouts: "Staged rollouts", tickets: "Tickets",
                 forms: "Form submissions", customers: "Customers", audit: "The audit log" };
const PAGES = { fleet, sales, prices, promotions, quote, publish, history, rollouts, tickets,
                forms, customers, audit };
const $ = (id) => document.getElementById(id);
let current = null; // {name, stop?}

/** Who the token belongs to: GET /api/v1/me when the hub has it; a hub
 *  without users answers 404 there and the role stays unknown (the server
 *  still enforces every route). */
async function whoami() {
  try {
    const me = await api("/api/v1/me");
    session.user = me.name || me.user || null;
    session.role = me.role || null;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    await api("/api/v1/devices"); // the token must still be good
    session.user = null;
    session.role = null;
  }
}

function showLogin(msg) {
  document.body.dataset.state = "login";
  $("shell").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
  $("login-token").value = "";
  $("login-token").focus();
}

function logout(msg) {
  if (current && current.stop) current.stop();
  current = null;
  clearToken();
  session.user = session.role = null;
  showLogin(msg);
}

async function signIn(t) {
  setToken(t);
  try {
    await whoami();
  } catch (e) {
    clearToken();
    showLogin(e instanceof ApiError && e.status === 401 ? "That token is not valid." : String(e.message || e));
    return;
  }
  $("login").hidden = true;
  $("shell").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = session.user || "";
  const role = $("who-role");
  role.textContent = session.role || "role unknown";
  role.className = "pill s-" + (session.role || "none");
  role.dataset.role = session.role || "";
  if (!location.hash || location.hash === "#") location.hash = "#/fleet";
  route();
}

function renderDrafts(d) {
  const scopes = Object.keys(d);
  $("drafts-box").hidden = scopes.length === 0;
  $("drafts-list").replaceChildren(...scopes.map((s) => el("li", { "data-draft": s }, s)));
}

async function route() {
  if (!token()) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const name = PAGES[parts[0]] ? parts[0] : "fleet";
  const arg = decodeURIComponent(parts.slice(1).join("/"));
  if (current && current.stop) current.stop();
  document.body.classList.remove("nav-open");
  for (const a of document.querySelectorAll("nav#nav a[data-page]"))
    a.classList.toggle("active", a.dataset.page === name);
  const main = $("page");
  main.replaceChildren(el("p", { class: "mute" }, "loading…"));
  document.body.dataset.state = "loading";
  document.body.dataset.page = name;
  current = { name };
  const mine = current;
  try {
    const stop = await PAGES[name].render(main, arg);
    if (current !== mine) { if (stop) stop(); return; }
    current.stop = stop;
    applyRoles(main);
    document.body.dataset.state = "ready";
    setStatus("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    if (current !== mine) return;
    main.replaceChildren(errorBox(e, TITLES[name]));
    document.body.dataset.state = "error";
  }
}

(function init() {
  setUnauthorizedHandler(() => logout("The hub refused the token (401). Sign in again."));
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("login-token").value.trim();
    if (t) signIn(t);
  });
  $("logout").addEventListener("click", () => logout());
  $("menu").addEventListener("click", () => {
    const open = document.body.classList.toggle("nav-open");
    $("menu").setAttribute("aria-expanded", String(open));
  });
  window.addEventListener("hashchange", route);
  onDrafts(renderDrafts);
  renderDrafts(drafts());
  if (token()) signIn(token()); else showLogin();
})();
