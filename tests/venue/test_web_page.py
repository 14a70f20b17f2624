"""The web page in a real browser: Debian's Chromium driven by Playwright for Python, against
``ccp run`` on a free port with its demo traders.

* Market: the chain shows the same reference prices and bands as ``referencePrices``; after an
  auction the timeline and the depth chart change without a reload.
* Trader's desk: login through an injected EIP-1193 provider that signs with a test key (the
  venue registers and funds the new address), a two-leg order that fills in the next auction,
  another order cancelled from its row.
* Operator's console: with the admin credential it lists the batches with their verdicts.
Screenshots of each view go to ``test-artifacts/web/`` (the README shows copies in docs/img/).
A missing Chromium is a failure, never a skip (``scripts/install`` installs it).
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.venue.procs import ROOT, CcpProcess, api_up, free_port, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "web"
ADMIN = "browser-test-admin"
CADENCE = 6
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# An EIP-1193 provider as a wallet injects it; the key stays in Python (exposed functions).
PROVIDER = """
window.ethereum = {
  request: async ({method, params}) => {
    if (method === 'eth_requestAccounts' || method === 'eth_accounts')
      return [await window.ccpTestAddress()];
    if (method === 'eth_signTypedData_v4') return await window.ccpTestSign(params[0], params[1]);
    throw Object.assign(new Error('unsupported method ' + method), {code: 4200});
  },
};
"""


def literal(text: str):
    """JSON with every number kept as its literal text (the page shows exactly that)."""
    return json.loads(text, parse_float=str, parse_int=str)


def api(base: str, name: str, body=None):
    r = httpx.post(f"{base}/api/v1/clientapi/{name}", json=body, timeout=10)
    doc = literal(r.text)
    assert doc["result"] == "OK", doc
    return doc["payload"]


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    data = tmp_path_factory.mktemp("web-data")
    logs = tmp_path_factory.mktemp("web-logs")
    port = free_port()
    proc = CcpProcess("ccp-run-web", ["run", "--data", str(data), "--port", str(port),
                                      "--cadence", str(CADENCE)], logs,
                      env={"CCP_API_ADMIN_TOKEN": ADMIN}).start()
    try:
        proc.wait_output("Ctrl-C stops.", timeout=180)
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: api_up(base), 30)
        yield base
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: scripts/install installs Debian's "
                    "chromium package")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser, base: str, key=None):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if key is not None:
        page.expose_function("ccpTestAddress", lambda: key.address)

        def sign(address: str, typed: str) -> str:
            assert address.lower() == key.address.lower()
            signed = Account.sign_message(encode_typed_data(full_message=json.loads(typed)),
                                          key.key)
            return "0x" + signed.signature.hex().removeprefix("0x")

        page.expose_function("ccpTestSign", sign)
        page.add_init_script(PROVIDER)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(base + "/")
    try:
        page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
    except Exception as e:
        raise AssertionError(f"the page did not start: {errors} {console[-10:]}") from e
    assert not errors, errors
    return page, errors


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_market_matches_the_api_and_updates_live(venue, browser):
    page, errors = open_page(browser, venue)
    pair = page.input_value("#pair")
    expiry = page.input_value("#expiry")
    assert pair and expiry
    refs = {r["contractId"]: r for r in api(venue, "referencePrices",
                                           {"currencyPair": pair, "expiry": 0})}
    contracts = [c for c in api(venue, "contractList")
                 if c["economics"]["currencyPair"] == pair
                 and str(c["economics"]["expiry"]) == expiry
                 and c["payoff"] in ("Call", "Put")]
    assert contracts
    rows = page.eval_on_selector_all(
        "#chain tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")
    assert rows, "the chain shows no strikes"
    shown = {}
    for cells in rows:  # hidden, bid, ask, last, ref | strike | bid, ask, last, ref
        strike = cells[5]
        shown[("Call", strike)] = cells[4]
        shown[("Put", strike)] = cells[9]
    for c in contracts:
        r = refs[c["contractId"]]
        cell = shown[(c["payoff"], str(c["economics"]["strike"]))]
        assert cell == f"{r['referencePrice']} [{r['lowRange']}, {r['highRange']}]", (c, cell)

    # a contract the demo makers quote: its depth changes with every auction (they re-quote)
    quoted = wait_for("a quoted contract", lambda: [
        b["contractId"] for b in api(venue, "bestBidAskPrecise")
        if b.get("bestBid") is not None and b.get("bestAsk") is not None], timeout=120, every=2)
    c = next(c for c in api(venue, "contractList") if c["contractId"] == quoted[0])
    page.select_option("#pair", c["economics"]["currencyPair"])
    page.select_option("#expiry", str(c["economics"]["expiry"]))
    page.click(f"[data-cid='{c['contractId']}']")
    page.wait_for_function("document.querySelector('#depth svg')?.dataset.points > 0",
                           timeout=30_000)
    page.evaluate("window.ccpNoReload = 42")
    first = page.evaluate("(document.querySelector('#timeline tbody tr') || {dataset: {}})"
                          ".dataset.batch || null")
    depth = page.inner_html("#depth")
    shot(page, "market")
    page.wait_for_function(
        "prev => (document.querySelector('#timeline tbody tr') || {dataset: {}}).dataset.batch "
        "!== prev", arg=first, timeout=(CADENCE * 6 + 60) * 1000)
    wait_for("the depth chart to change", lambda: page.inner_html("#depth") != depth,
             timeout=CADENCE * 8, every=1)
    assert page.evaluate("window.ccpNoReload") == 42  # no reload happened
    assert not errors, errors


def test_traders_desk_login_two_leg_fill_and_cancel(venue, browser):
    key = Account.create()
    page, errors = open_page(browser, venue, key)
    page.click("button[data-view='desk']")
    page.click("#login")
    page.wait_for_function("document.querySelector('#login-state').innerText"
                           ".startsWith('Logged in')", timeout=60_000)

    # The demo venue funds a new address by a real deposit; the chain monitor credits it.
    wait_for("the demo deposit credited", lambda: page.evaluate(
        "async () => (await market('clientFundLockState')).some("
        "f => f.currency === 'USDC' && Number(f.fundLockValue) > 0)"), timeout=120, every=1)

    # A call spread against the makers' quotes: buy one contract they offer, sell another they
    # bid; the limit reaches the top of the bought band and the bottom of the sold one.
    pair, expiry = page.input_value("#pair"), page.input_value("#expiry")
    contracts = {int(c["contractId"]): c for c in api(venue, "contractList")}
    refs = {int(r["contractId"]): r for r in api(venue, "referencePrices",
                                                {"currencyPair": pair, "expiry": 0})}

    def spread():
        quoted = [b for b in api(venue, "bestBidAskPrecise")
                  if (contracts[int(b["contractId"])]["economics"]["currencyPair"],
                      str(contracts[int(b["contractId"])]["economics"]["expiry"]))
                  == (pair, expiry)]
        offered = [int(b["contractId"]) for b in quoted if b.get("bestAsk") is not None]
        bid = [int(b["contractId"]) for b in quoted if b.get("bestBid") is not None]
        for a in offered:
            for b in bid:
                if a != b and contracts[a]["lotSize"] == contracts[b]["lotSize"]:
                    return contracts[a], contracts[b]
        return None

    buy, sell = wait_for("a contract offered and another bid", spread, timeout=120, every=2)
    lot = Decimal(buy["lotSize"])
    price = lot * (Decimal(refs[int(buy["contractId"])]["highRange"])
                   - Decimal(refs[int(sell["contractId"])]["lowRange"]))

    def fill_leg(i: int, cid: int, side: str, qty: Decimal) -> None:
        leg = page.locator("#legs .leg").nth(i)
        leg.locator(".leg-contract").select_option(str(cid))
        leg.locator(".leg-side").select_option(side)
        leg.locator(".leg-qty").fill(str(qty))

    if page.locator("#legs .leg").count() < 2:
        page.click("#add-leg")
    fill_leg(0, buy["contractId"], "BUY", lot)
    fill_leg(1, sell["contractId"], "SELL", lot)
    page.fill("#net-price", str(price))
    page.click("#preview")
    page.wait_for_function("document.querySelector('#lock-out').innerText.length > 0",
                           timeout=20_000)
    page.click("#place")
    page.wait_for_function("/accepted|rejected/.test(document.querySelector('#order-msg')"
                           ".innerText)", timeout=20_000)
    assert "accepted" in page.inner_text("#order-msg"), (page.inner_text("#order-msg"),
                                                        buy, sell, str(price))
    filled = page.inner_text("#order-msg").split()[1]
    shot(page, "desk-order")
    page.wait_for_function(
        "id => [...document.querySelectorAll('#fills tbody tr')].some(r => "
        "r.cells[0].innerText === id && /FILLED/.test(r.cells[1].innerText))",
        arg=filled, timeout=(CADENCE * 6 + 60) * 1000)

    # A bid far below the market rests; cancel it from its row.
    page.evaluate("document.querySelectorAll('#legs .leg')[1].remove()")
    low = Decimal(refs[int(buy["contractId"])]["lowRange"])
    fill_leg(0, buy["contractId"], "BUY", lot)
    page.fill("#net-price", str(lot * low))
    page.evaluate("document.querySelector('#order-msg').textContent = ''")
    page.click("#place")
    page.wait_for_function("/accepted|rejected/.test(document.querySelector('#order-msg')"
                           ".innerText)", timeout=20_000)
    assert "accepted" in page.inner_text("#order-msg"), page.inner_text("#order-msg")
    resting = page.inner_text("#order-msg").split()[1]
    assert resting != filled
    page.wait_for_selector(f"button.cancel[data-id='{resting}']", timeout=20_000)
    shot(page, "desk")
    page.click(f"button.cancel[data-id='{resting}']")
    page.wait_for_selector(f"button.cancel[data-id='{resting}']", state="detached",
                           timeout=20_000)
    assert "cancelled" in page.inner_text("#order-msg")
    assert not errors, errors


def test_operator_console_lists_batches_with_verdicts(venue, browser):
    page, errors = open_page(browser, venue)
    page.click("button[data-view='ops']")
    page.fill("#admin-token", "wrong")
    page.click("#admin-go")
    page.wait_for_function("document.querySelector('#admin-msg').innerText"
                           ".includes('UNAUTHORIZED')", timeout=20_000)
    assert page.is_hidden("#ops")
    page.fill("#admin-token", ADMIN)
    page.click("#admin-go")
    page.wait_for_selector("#ops-batches tbody tr", timeout=60_000)
    rows = page.eval_on_selector_all(
        "#ops-batches tbody tr", "rows => rows.map(r => [r.cells[0].innerText, r.cells[3].innerText])")
    batches = {str(b["batchId"]): b for b in httpx.get(
        f"{venue}/api/v1/admin/batches", headers={"Authorization": f"Bearer {ADMIN}"},
        params={"limit": 1000}).json()["payload"]}
    assert rows and all(batch in batches for batch, _ in rows)
    for batch, verdict in rows:  # the verdict the check gave, failures with their rule
        b = batches[batch]
        if b["checkOk"] is False:
            assert verdict.startswith("FAILED: [") and b["violations"], (batch, verdict)
        else:
            assert verdict == ("ok" if b["checkOk"] else "–"), (batch, verdict, b["checkOk"])
    assert any(v == "ok" for _, v in rows)
    page.wait_for_function("document.querySelector('#ops-settlement').innerText"
                           ".includes('caughtUp')", timeout=20_000)
    shot(page, "operator")
    assert not errors, errors
