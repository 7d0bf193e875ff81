#!/usr/bin/env python3
"""test_dashboard_rollout.py - SPEC 14's "Must show" in a real browser: a
pricing manager (role operator) does HQ's job from the dashboard against a
real broker, a real hub and real agents in three stores of two regions.

Headless Chromium is driven over the DevTools protocol (tests/lib/cdp.py,
stdlib only): mouse clicks and typed text at the elements' positions.
Steps, each checked through the API and on the agents themselves
(`shoal-agent price` against each device's cache):
  1. sign in with the manager's token; the page shows the role operator;
  2. price map: search, change the Chengdu (region/cn-sw) price of
     TEA-MILK-L from 16.00 to 15.00 -> a draft of region/cn-sw;
  3. preview basket for chengdu-001 with the draft: 15.00 against 16.00,
     equal to POST /api/v1/quote computed here;
  4. publish the draft as a staged rollout, stage 1 = store chengdu-001,
     stage 2 = 100%; the rollout page shows stage 1 applied 1/1 and the
     agents agree: chengdu-001 sells at 15.00, chengdu-002 still at 16.00,
     Shanghai untouched;
  5. advance to stage 2 (100%): the page shows 2/2 applied and both Chengdu
     stores sell at 15.00; finish: the rollout is done, prices hold;
  6. version history: diff of v1 against the newest shows the price, then
     roll back to v1 -> a new version carrying v1's document; every Chengdu
     device sells at 16.00 again;
  7. the audit log names the manager for each write;
  8. a viewer signing in gets the pages with rollback and price edits disabled.
Screenshots: <build>/dashboard-{login,pricemap,quote,rollout-stage1,
rollout-stage2,rollout-done,history}.png.
"""
import json
import os
import sys
import urllib.error
import urllib.request

import cdp
import shoal_harness as h
from sync_helpers import Fleet, example

ADMIN = "test-token"
MANAGER = "manager-secret-token"
VIEWER = "viewer-secret-token"
SKU = "TEA-MILK-L"
OLD, NEW = 1600, 1500
STORES = {"pos-cd1": ("chengdu-001", "cn-sw"), "pos-cd2": ("chengdu-002", "cn-sw"),
          "pos-sh1": ("shanghai-001", "cn-east")}


def call(port, path, token=ADMIN, body=None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


def basket(store, region):
    return {"region": region, "store": store, "at": "2026-11-22T11:30:00+08:00", "channel": "pos",
            "lines": [{"sku": SKU, "qty": 1}]}


def base_price(f, device):
    """What the device's own cache charges for SKU (shoal-agent price)."""
    store, region = STORES[device]
    out = h.run_json([h.binary("shoal-agent"), "price", "-c", f.cfgs[device], "--basket", "-"],
                     input=json.dumps(basket(store, region)))
    return out["lines"][0]["base_price"]


def prices(f):
    return {d: base_price(f, d) for d in STORES}


def ready(b, page, timeout=30):
    b.wait(f"document.body.dataset.page === '{page}' && document.body.dataset.state === 'ready'",
           timeout, f"the {page} page")


def run():
    build = os.path.dirname(os.path.dirname(os.path.abspath(os.environ["SHOAL_HUB"])))
    shot = lambda b, name: b.screenshot(os.path.join(build, f"dashboard-{name}.png"))  # noqa: E731
    with h.Env("dashboard_rollout") as env:
        f = Fleet(env)
        mtok = env.write_file("manager-token", MANAGER + "\n")
        vtok = env.write_file("viewer-token", VIEWER + "\n")
        f.hub_cfg = env.hub_config(http=True, users=[
            {"name": "manager", "token_file": mtok, "role": "operator"},
            {"name": "auditor", "token_file": vtok, "role": "viewer"}])
        with open(f.hub_cfg) as fh:
            port = int(json.load(fh)["http"]["listen"].rsplit(":", 1)[1])
        f.start_hub()
        h.wait_until(lambda: h.port_open(port), 20, "HTTP API listening")
        for name in ("global.json", "region-cn-sw.json", "region-cn-east.json"):
            with open(example(name)) as fh:
                r = call(port, "/api/v1/policies", body=json.load(fh))
            h.check(r["version"] == 1, f"{name} published as v1: {r}")
        for dev, (store, region) in STORES.items():
            f.add_agent(dev, store, region)
        want = {"pos-cd1": OLD, "pos-cd2": OLD, "pos-sh1": 2000}
        h.wait_until(lambda: prices(f) == want, 30, "every store on its region's price")
        h.wait_until(lambda: len(call(port, "/api/v1/devices")) == 3, 20, "three devices at the hub")

        with cdp.Browser(env.path("chrome"), width=1360, height=1000) as b:
            # 1. Sign in as the manager.
            b.goto(f"http://127.0.0.1:{port}/")
            b.wait("document.body.dataset.state === 'login'", 30, "the login form")
            shot(b, "login")
            b.type("#login-token", MANAGER, commit=False)
            b.click("#login button[type=submit]")
            ready(b, "fleet")
            h.check(MANAGER not in b.eval("location.href"), "no token in the URL")
            role = b.eval("document.getElementById('who-role').dataset.role")
            h.check(role == "operator", f"the page shows the manager's role: {role!r}")

            # 2. Price map: search, edit the Chengdu price.
            b.eval("location.hash = '#/prices'")
            ready(b, "prices")
            b.type("#price-search", "milk", commit=False)
            b.wait("[...document.querySelectorAll('#pricemap tbody tr')].filter((r) => !r.hidden)"
                   ".map((r) => r.dataset.sku).sort().join() === 'TEA-MALA-MILK,TEA-MILK-L'", 10,
                   "search narrows to the two milk teas")
            cell = f'#pricemap input[data-scope="region/cn-sw"][data-sku="{SKU}"]'
            h.check(b.eval(f"document.querySelector('{cell}').value") == "16.00", "cn-sw shows 16.00")
            b.type(cell, "15.00")
            b.wait(f"document.querySelector('{cell}').classList.contains('changed')", 10, "cell edited")
            d = b.eval("JSON.parse(sessionStorage.getItem('shoal.drafts') || '{}')")
            h.check(list(d) == ["region/cn-sw"], f"one draft, region/cn-sw: {list(d)}")
            item = [i for i in d["region/cn-sw"]["items"] if i["sku"] == SKU][0]
            h.check(item["price"] == NEW, f"the draft prices {SKU} at {NEW}: {item}")
            h.check(b.eval("!document.getElementById('drafts-box').hidden"), "drafts box shown")
            shot(b, "pricemap")

            # 3. Preview basket with the draft.
            b.click("#goto-quote")
            ready(b, "quote")
            b.select("#quote-store", "cn-sw|chengdu-001")
            b.type("#quote-lines .quote-sku", SKU)
            b.click("#quote-run")
            b.wait("document.querySelectorAll('#quote-result [data-quote]').length === 2", 30,
                   "two quotes: published and with drafts")
            shown = b.eval("""[...document.querySelectorAll('#quote-result [data-quote]')].map((q) =>
                q.querySelector('tr[data-sku] [data-field=base_price]').innerText)""")
            h.check(shown == ["16.00", "15.00"], f"preview shows 16.00 then 15.00: {shown}")
            hub_q = call(port, "/api/v1/quote", MANAGER, {"basket": basket("chengdu-001", "cn-sw"),
                                                        "drafts": [d["region/cn-sw"]]})
            h.check(hub_q["lines"][0]["base_price"] == NEW, f"the hub's quote with drafts: {hub_q}")
            shot(b, "quote")

            # 4. Publish as a staged rollout: chengdu-001 first, then 100%.
            b.click("#drafts-publish")
            ready(b, "publish")
            b.click('.publish-card[data-scope="region/cn-sw"] input.publish-mode[value=rollout]')
            b.wait("!document.querySelector('.rollout-box').hidden", 10, "the stages editor")
            stage1 = b.eval("document.querySelector('.stages .stage-value').value")
            h.check(stage1 == "chengdu-001", f"stage 1 proposes the first Chengdu store: {stage1!r}")
            b.click(".publish-go")
            b.wait("location.hash.startsWith('#/rollouts/') && document.body.dataset.page === 'rollouts'",
                   30, "the rollout page")
            rid = b.eval("decodeURIComponent(location.hash.slice('#/rollouts/'.length))")
            b.wait("(() => { const s = document.querySelector('tr[data-stage=\"0\"]');"
                   " return s && s.dataset.targeted === '1' && s.dataset.applied === '1'; })()", 60,
                   "stage 1: the one targeted device applied it")
            ro = call(port, f"/api/v1/rollouts/{rid}")
            h.check(ro["state"] == "running" and ro["stage"] == 1, f"rollout at stage 1: {ro}")
            h.wait_until(lambda: prices(f) == {"pos-cd1": NEW, "pos-cd2": OLD, "pos-sh1": 2000}, 30,
                         "only chengdu-001 sells at the new price")
            shot(b, "rollout-stage1")

            # 5. Advance to all stores (stage 2: 100%), watch them apply, then
            #    finish: the new document becomes the scope's stable version.
            b.click("#rollout-advance")
            b.wait("(() => { const s = document.querySelector('tr[data-stage=\"1\"]');"
                   " return s && s.dataset.targeted === '2' && s.dataset.applied === '2'; })()", 60,
                   "stage 2: both Chengdu devices applied it")
            h.wait_until(lambda: prices(f) == {"pos-cd1": NEW, "pos-cd2": NEW, "pos-sh1": 2000}, 30,
                         "both Chengdu stores sell at the new price, Shanghai untouched")
            shot(b, "rollout-stage2")
            b.click("#rollout-advance")
            b.wait("document.body.dataset.rolloutState === 'done'", 30, "the rollout done")
            ro = call(port, f"/api/v1/rollouts/{rid}")
            h.check(ro["state"] == "done", f"rollout done: {ro}")
            h.wait_until(lambda: prices(f) == {"pos-cd1": NEW, "pos-cd2": NEW, "pos-sh1": 2000}, 30,
                         "the stable version keeps the new price everywhere in Chengdu")
            shot(b, "rollout-done")

            # 6. History: diff, then roll back to v1.
            b.eval("location.hash = '#/history/region/cn-sw'")
            ready(b, "history")
            versions = call(port, "/api/v1/policies/region/cn-sw/versions")
            newest = max(v["version"] for v in versions)
            b.click('tr[data-version="1"] input.pick')
            b.click(f'tr[data-version="{newest}"] input.pick')
            b.wait(f"!!document.querySelector('#history-diff tr[data-key=\"{SKU}\"]')", 20, "the diff")
            diff = b.eval(f"[...document.querySelector('#history-diff tr[data-key=\"{SKU}\"]').cells].map((c) => c.innerText)")
            h.check(diff[1:] == ["16.00", "15.00"], f"diff v1 -> v{newest} shows the price: {diff}")
            b.click('tr[data-version="1"] button.rollback')
            b.wait("document.body.innerText.includes('Rolled back')", 30, "rollback confirmed")
            latest = call(port, "/api/v1/policies/region/cn-sw")
            doc = latest["doc"] if isinstance(latest["doc"], dict) else json.loads(latest["doc"])
            h.check(latest["version"] > newest and
                    [i for i in doc["items"] if i["sku"] == SKU][0]["price"] == OLD,
                    f"rollback published v1's document as a new version: {latest['version']}")
            h.check(latest.get("published_by") == "manager", f"published_by the manager: {latest}")
            h.wait_until(lambda: prices(f) == want, 30, "every store back on the old price")
            shot(b, "history")

            # 7. Audit names the manager.
            audit = call(port, "/api/v1/audit")
            mine = {a["action"] for a in audit if a.get("user") == "manager"}
            h.check(len(mine) >= 3, f"audit has the manager's writes: {mine}")

            # 8. A viewer sees the same pages with the writes disabled.
            b.click("#logout")
            b.wait("document.body.dataset.state === 'login' && !sessionStorage.getItem('shoal.token')", 10,
                   "logged out")
            b.type("#login-token", VIEWER, commit=False)
            b.click("#login button[type=submit]")
            b.wait("document.getElementById('who-role').dataset.role === 'viewer'", 30, "viewer signed in")
            b.eval("location.hash = '#/history/region/cn-sw'")
            ready(b, "history")
            h.check(b.eval("[...document.querySelectorAll('button.rollback')].every((x) => x.disabled)"),
                    "rollback buttons disabled for a viewer")
            b.eval("location.hash = '#/prices'")
            ready(b, "prices")
            h.check(b.eval("[...document.querySelectorAll('#pricemap input')].every((x) => x.readOnly)"),
                    "price cells read-only for a viewer")
            h.check(not b.errors, f"no exception in the page: {b.errors[:3]}")
        print(f"manager signed in (operator), edited the Chengdu price in the grid, previewed "
              f"15.00 vs 16.00, rolled out to chengdu-001 then all stores (agents agreed at "
              f"each step), diffed and rolled back to v1; audit {sorted(mine)}")


if __name__ == "__main__":
    h.main(run)
