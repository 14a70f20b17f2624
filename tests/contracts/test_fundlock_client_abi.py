"""FundLock through the original venue's client ABI (api.md §6), as the SDKs call it.

The ABI below is the one the published Python SDK (``ithaca-py`` 0.4.0, ``fundlock.py``) has
built in, copied verbatim: calls made through it reach our contract unchanged (same selectors,
return values that decode with the original types).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.chain

USDC = 10**6


def _fn(name, inputs, outputs, mutability):
    return {"inputs": [{"internalType": t, "name": n, "type": t} for n, t in inputs],
            "name": name, "outputs": [{"internalType": t, "name": n, "type": t}
                                      for n, t in outputs],
            "stateMutability": mutability, "type": "function"}


ORIGINAL_ABI = [
    _fn("balanceSheet", [("client", "address"), ("token", "address")], [("", "uint256")],
        "view"),
    _fn("deposit", [("client", "address"), ("token", "address"), ("amount", "uint256")], [],
        "nonpayable"),
    _fn("fundsToWithdraw", [("client", "address"), ("token", "address"), ("index", "uint8")],
        [("value", "uint256"), ("timestamp", "uint32")], "view"),
    _fn("fundsToWithdrawTotal", [("client", "address"), ("token", "address")],
        [("", "uint256")], "view"),
    _fn("release", [("token", "address"), ("index", "uint8")], [], "nonpayable"),
    _fn("releaseLock", [], [("", "uint32")], "view"),
    _fn("tradeLock", [], [("", "uint32")], "view"),
    _fn("withdraw", [("token", "address"), ("amount", "uint256")], [], "nonpayable"),
]


def original(env):
    return env.chain.w3.eth.contract(address=env.dep.fund_lock, abi=ORIGINAL_ABI)


def test_deposit_for_another_client_pulls_the_senders_tokens(env):
    payer, client = env.clients[0], env.clients[1]
    env.fund(payer, "USDC", 100 * USDC, deposit=False)
    tok, fl, ofl = env.token("USDC"), env.fl, original(env)
    r = env.tx(ofl.functions.deposit(client.address, tok.address, 60 * USDC), payer)
    assert env.events(r, fl, "ClientRegistered") == [{"client": client.address}]
    assert env.events(r, fl, "Deposit") == [
        {"client": client.address, "token": tok.address, "amount": 60 * USDC,
         "balance": 60 * USDC}]
    assert env.balance(client, "USDC") == 60 * USDC
    assert env.balance(payer, "USDC") == 0
    assert not env.chain.call(fl.functions.isClient(payer.address))
    assert env.chain.call(tok.functions.balanceOf(payer.address)) == 40 * USDC
    assert env.chain.call(tok.functions.balanceOf(fl.address)) == 60 * USDC
    assert env.chain.call(ofl.functions.balanceSheet(client.address, tok.address)) == 60 * USDC
    # the SDK's own call: deposit for itself through the three-argument form
    r = env.tx(ofl.functions.deposit(payer.address, tok.address, 40 * USDC), payer)
    assert env.events(r, fl, "ClientRegistered") == [{"client": payer.address}]
    assert env.chain.call(ofl.functions.balanceSheet(payer.address, tok.address)) == 40 * USDC


def test_deposit_for_reverts_and_changes_nothing(env):
    payer, client = env.clients[0], env.clients[1]
    tok, ofl = env.token("USDC"), original(env)
    assert env.reverts(ofl.functions.deposit(client.address, tok.address, 0), payer) \
        == "ZeroAmount()"
    zero = "0x" + "00" * 20
    env.fund(payer, "USDC", 10 * USDC, deposit=False)
    assert env.reverts(ofl.functions.deposit(zero, tok.address, USDC), payer) == "ZeroAddress()"
    # the payer has 10: 11 fails in the token, nothing is credited or registered
    reason = env.reverts(ofl.functions.deposit(client.address, tok.address, 11 * USDC), payer)
    assert reason.startswith("TransferFailed(")
    assert env.balance(client, "USDC") == 0
    assert not env.chain.call(env.fl.functions.isClient(client.address))
    # the client's own tokens are never taken for a deposit the payer makes
    env.fund(client, "USDC", 50 * USDC, deposit=False)
    env.tx(ofl.functions.deposit(client.address, tok.address, 5 * USDC), payer)
    assert env.chain.call(tok.functions.balanceOf(client.address)) == 50 * USDC
    assert env.chain.call(tok.functions.balanceOf(payer.address)) == 5 * USDC


def test_withdrawal_views_and_locks_through_the_original_abi(env):
    c = env.clients[0]
    env.fund(c, "USDC", 100 * USDC)
    tok, ofl = env.token("USDC"), original(env)
    assert env.chain.call(ofl.functions.tradeLock()) == 1200
    assert env.chain.call(ofl.functions.releaseLock()) == 2400
    assert env.chain.call(ofl.functions.fundsToWithdraw(c.address, tok.address, 0)) == [0, 0]
    env.tx(ofl.functions.withdraw(tok.address, 30 * USDC), c)
    t1 = env.chain.timestamp()
    env.tx(ofl.functions.withdraw(tok.address, 20 * USDC), c)
    t2 = env.chain.timestamp()
    assert env.chain.call(ofl.functions.fundsToWithdraw(c.address, tok.address, 0)) \
        == [30 * USDC, t1]
    assert env.chain.call(ofl.functions.fundsToWithdraw(c.address, tok.address, 1)) \
        == [20 * USDC, t2]
    assert env.chain.call(ofl.functions.fundsToWithdrawTotal(c.address, tok.address)) \
        == 50 * USDC
    assert env.chain.call(ofl.functions.balanceSheet(c.address, tok.address)) == 50 * USDC
    env.chain.advance_time(2400)
    env.tx(ofl.functions.release(tok.address, 0), c)
    assert env.chain.call(ofl.functions.fundsToWithdraw(c.address, tok.address, 0)) == [0, 0]
    assert env.chain.call(ofl.functions.fundsToWithdrawTotal(c.address, tok.address)) \
        == 20 * USDC
    assert env.chain.call(tok.functions.balanceOf(c.address)) == 30 * USDC


def test_funds_to_withdraw_refuses_a_slot_past_the_five(env):
    c = env.clients[0]
    with pytest.raises(Exception, match="NoWithdrawal"):
        env.chain.call(original(env).functions.fundsToWithdraw(
            c.address, env.dep.tokens["USDC"], 5))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["deposit_for", "deposit", "withdraw"]),
                              st.integers(0, 2), st.integers(1, 40)), max_size=8))
def test_custody_invariant_with_deposits_for_others(env, ops):
    """Token balance of FundLock = Σ balanceSheet + Σ fundsToWithdrawTotal (+ collateral 0)."""
    tester = env.chain.w3.provider.ethereum_tester
    snap = tester.take_snapshot()
    try:
        tok, ofl = env.token("USDC"), original(env)
        who = env.clients[:3]
        for c in who:
            env.fund(c, "USDC", 1000 * USDC, deposit=False)
        for op, i, amount in ops:
            c, other = who[i], who[(i + 1) % 3]
            bal = env.chain.call(ofl.functions.balanceSheet(c.address, tok.address))
            total = env.chain.call(ofl.functions.fundsToWithdrawTotal(c.address, tok.address))
            if op == "deposit_for":
                env.tx(ofl.functions.deposit(other.address, tok.address, amount * USDC), c)
            elif op == "deposit":
                env.tx(env.fl.functions.deposit(tok.address, amount * USDC), c)
            elif bal >= amount * USDC and total == 0:
                env.tx(ofl.functions.withdraw(tok.address, amount * USDC), c)
        held = env.chain.call(tok.functions.balanceOf(env.dep.fund_lock))
        owed = sum(env.chain.call(ofl.functions.balanceSheet(c.address, tok.address))
                   + env.chain.call(ofl.functions.fundsToWithdrawTotal(c.address, tok.address))
                   for c in who)
        assert held == owed + env.chain.call(env.fl.functions.collateral(tok.address))
        paid_in = sum(1000 * USDC - env.chain.call(tok.functions.balanceOf(c.address))
                      for c in who)
        assert paid_in == held
    finally:
        tester.revert_to_snapshot(snap)
