#!/usr/bin/env python3
"""The reference till page (served by `shoal-agent run` at GET /till) in
headless Chromium, driven by real clicks and key presses: sign in with the
token (kept in sessionStorage, never in the URL), scan a SKU and a barcode,
see the live quote, take cash with change, then return one unit. The sale
and the return are then checked through the API: the sale exists with the
right total and payments, the refund is the line's unit price. Saves
<build>/till.png. env: SHOAL_AGENT, SHOAL_SOURCE_DIR."""

import json
import os

import shoal_harness as h
from cdp import Browser, find_chromium
from store_api import StoreApi

TOKEN = "till-token-7"
GLOBAL = {"scope": "global", "currency": "CNY", "utc_offset": "+08:00",
          "items": [{"sku": "MT-001", "name": "Milk tea", "barcode": "6901234567892",
                     "categories": ["tea"], "price": 2800, "tax_bp": 1300},
                    {"sku": "CK-001", "name": "Cake", "barcode": "6900000000017",
                     "categories": ["dessert"], "price": 1800, "tax_bp": 600}],
          "rules": [{"id": "tea2", "type": "percent", "bp": 1000, "when": {"min_qty": 2},
                     "target": {"categories": ["tea"]}}]}


def main():
    chromium = find_chromium()
    h.check(chromium is not None, "chromium is installed (scripts/deps.sh)")
    build = os.path.dirname(os.path.dirname(os.path.abspath(h.binary("shoal-agent"))))
    with h.Env("till-page") as env:
        tok = env.write_file("token", TOKEN + "\n")
        port = h.free_port()
        listen = "127.0.0.1:%d" % port
        cfg = env.agent_config("pos-1", "cd-001", "cn-sw", local_api=False)
        c = json.load(open(cfg))
        c["local_api"] = {"listen": listen, "token_file": tok}
        h.write_json(cfg, c)
        env.agent("policy", "import", "-c", cfg, env.write_file("g.json", GLOBAL), expect=0)
        env.start_agent(cfg)
        h.wait_until(lambda: h.port_open(port), 20, "store API")
        api = StoreApi(listen, TOKEN)

        b = Browser(env.path("chromium"), width=1100, height=900, chromium=chromium)
        b.start()
        try:
            b.goto("http://%s/till" % listen)
            b.wait("document.getElementById('token') && !document.getElementById('login').hidden",
                   what="the sign-in form")
            b.type("#token", TOKEN, commit=False)
            b.click("#token-save")
            b.wait("document.body.dataset.ready === '1'", what="the till after sign-in")
            h.check(TOKEN not in b.eval("location.href"), "the token is not in the URL")
            h.check(b.eval("sessionStorage.getItem('shoal-till-token')") == TOKEN,
                    "the token is kept in sessionStorage")

            # Two milk teas by SKU (quantity typed), one cake by its barcode (Enter).
            b.type("#scan", "MT-001", commit=False)
            b.type("#qty", "2", commit=False)
            b.click("#scan-add")
            b.wait("!!document.querySelector('#lines tr[data-sku=\"MT-001\"]')", what="tea line")
            b.type("#scan", "6900000000017", commit=False)
            b.key("Enter", vk=13, text="\r")
            b.wait("!!document.querySelector('#lines tr[data-sku=\"CK-001\"]')", what="cake line")
            # 2 x 2800 -10% = 5040, + 1800 = 6840
            b.wait("document.getElementById('total').textContent === '68.40'", what="quote 68.40")
            quote = api.post("/v1/quote", {"region": "cn-sw", "store": "cd-001", "lines": [{"sku": "MT-001", "qty": 2},
                                                     {"sku": "CK-001", "qty": 1}]})[1]
            h.check(quote["total"] == 6840, "the page shows the API's quote: %r" % quote["total"])

            b.type("#tendered", "100.00", commit=False)
            b.click("#pay")
            b.wait("document.getElementById('receipt-id').textContent !== ''", what="the receipt")
            h.check(b.eval("document.getElementById('change').textContent") == "31.60",
                    "change 100.00 - 68.40 = 31.60 is shown")
            sid = b.eval("document.getElementById('receipt-id').textContent")
            receipt_text = b.eval("document.getElementById('receipt').textContent")
            h.check("Milk tea" in receipt_text and "68.40" in receipt_text,
                    "the printed receipt names the items and the total: %r" % receipt_text)
            st, sale = api.get("/v1/sales/" + sid)
            h.check(st == 200 and sale["total"] == 6840 and sale["change"] == 3160
                    and sale["payments"] == [{"method": "cash", "amount": 10000}],
                    "the sale made on the page exists with total 6840, cash 10000, change 3160: %r"
                    % sale)
            h.check(env.query(env.path("pos-1.db"), "SELECT COUNT(*) FROM sales")[0][0] == 1,
                    "exactly one sale recorded")

            # Return one milk tea of that sale (the page pre-fills the sale id).
            h.check(b.eval("document.getElementById('ret-sale').value") == sid,
                    "the return box holds the last sale")
            b.type("#ret-sku", "MT-001", commit=False)
            b.type("#ret-qty", "1", commit=False)
            b.click("#ret-do")
            b.wait("document.getElementById('refund').dataset.fen", what="the refund")
            refund = int(b.eval("document.getElementById('refund').dataset.fen"))
            h.check(refund == 2520, "one discounted tea refunds 2520: %d" % refund)
            st, sale = api.get("/v1/sales/" + sid)
            h.check(len(sale["returns"]) == 1 and sale["returns"][0]["refund"] == 2520,
                    "the API lists the return with refund 2520: %r" % sale["returns"])
            b.screenshot(os.path.join(build, "till.png"))
            h.log("screenshot saved to %s" % os.path.join(build, "till.png"))
        finally:
            b.stop()


if __name__ == "__main__":
    h.main(main)
