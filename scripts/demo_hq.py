#!/usr/bin/env python3
"""demo_hq.py - the demo's HQ pricing manager, working through the hub's
dashboard in headless Chromium (scripts/demo.sh calls it): signs in with
the manager's token, finds a SKU in the price map, types the new Chengdu
price into the grid, previews a Chengdu basket with the draft, and publishes
the draft now. Prints what it did; saves a screenshot of each step into the
work folder. Every wait is bounded; exits non-zero if a step fails.

usage: demo_hq.py HUB_URL TOKEN SKU SCOPE NEW_PRICE_TEXT REGION|STORE WORK_DIR
  e.g. demo_hq.py http://127.0.0.1:8080 tok TEA-MILK-L region/cn-sw 15.00 cn-sw\|chengdu-001 /tmp/w
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import cdp  # noqa: E402  (the tests' DevTools-protocol driver, stdlib only)


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    url, token, sku, scope, price, place, work = sys.argv[1:]
    shots = []

    def shot(b, name):
        p = os.path.join(work, "dashboard-%s.png" % name)
        b.screenshot(p)
        shots.append(p)

    def ready(b, page):
        b.wait("document.body.dataset.state === 'ready' && document.body.dataset.page === %r" % page,
               30, "the %s page" % page)

    with cdp.Browser(os.path.join(work, "chromium"), width=1360, height=1000) as b:
        b.goto(url + "/")
        b.wait("document.body.dataset.state === 'login'", 30, "the login form")
        b.type("#login-token", token, commit=False)
        b.click("#login button[type=submit]")
        ready(b, "fleet")
        print("   signed in to %s/ as %s" % (url, b.eval("document.getElementById('who-role').dataset.role")))
        shot(b, "fleet")

        b.eval("location.hash = '#/prices'")
        ready(b, "prices")
        b.type("#price-search", sku, commit=False)
        cell = '#pricemap input[data-scope="%s"][data-sku="%s"]' % (scope, sku)
        b.wait("!!document.querySelector('%s')" % cell, 10, "the %s cell of %s" % (scope, sku))
        old = b.eval("document.querySelector('%s').value" % cell)
        b.type(cell, price)
        b.wait("document.querySelector('%s').classList.contains('changed')" % cell, 10, "the edit")
        print("   price map: %s in %s %s -> %s (a draft)" % (sku, scope, old, price))
        shot(b, "pricemap")

        b.click("#goto-quote")
        ready(b, "quote")
        b.select("#quote-store", place)
        b.type("#quote-lines .quote-sku", sku)
        b.click("#quote-run")
        b.wait("document.querySelectorAll('#quote-result [data-quote]').length === 2", 30,
               "the preview (published and with the draft)")
        print("   preview basket: %s" % " -> ".join(b.eval(
            "[...document.querySelectorAll('#quote-result [data-quote]')].map((q) =>"
            " q.querySelector('tr[data-sku] [data-field=base_price]').innerText)")))
        shot(b, "quote")

        b.click("#drafts-publish")
        ready(b, "publish")
        b.click('.publish-card[data-scope="%s"] .publish-go' % scope)
        b.wait("(document.querySelector('.publish-msg') || {}).innerText &&"
               " document.querySelector('.publish-msg').innerText.startsWith('Published')", 30,
               "the publish result")
        print("   %s" % b.eval("document.querySelector('.publish-msg').innerText").splitlines()[0])
        shot(b, "published")
        if b.errors:
            sys.exit("demo_hq: the page threw: %r" % b.errors)
    print("   screenshots: %s" % ", ".join(os.path.basename(p) for p in shots))


if __name__ == "__main__":
    main()
