"""FundLock: every function's happy path and every revert, on the in-process EVM."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.chain

USDC = 10**6  # one USDC in native units


def test_deposit_registers_once_and_moves_tokens(env):
    c = env.clients[0]
    env.fund(c, "USDC", 100 * USDC, deposit=False)
    tok, fl = env.token("USDC"), env.fl
    r = env.tx(fl.functions.deposit(tok.address, 60 * USDC), c)
    assert env.events(r, fl, "ClientRegistered") == [{"client": c.address}]
    assert env.events(r, fl, "Deposit") == [
        {"client": c.address, "token": tok.address, "amount": 60 * USDC, "balance": 60 * USDC}]
    r = env.tx(fl.functions.deposit(tok.address, 40 * USDC), c)
    assert env.events(r, fl, "ClientRegistered") == []
    assert env.balance(c, "USDC") == 100 * USDC
    assert env.chain.call(fl.functions.isClient(c.address))
    assert env.chain.call(tok.functions.balanceOf(fl.address)) == 100 * USDC


def test_deposit_reverts(env):
    c = env.clients[0]
    tok = env.token("USDC")
    assert env.reverts(env.fl.functions.deposit(tok.address, 0), c) == "ZeroAmount()"
    # no tokens (and no allowance): the token's revert becomes TransferFailed
    assert env.reverts(env.fl.functions.deposit(tok.address, 5), c).startswith("TransferFailed(")
    assert not env.chain.call(env.fl.functions.isClient(c.address))


def test_withdraw_fills_five_slots_and_refuses_a_sixth(env):
    c = env.clients[0]
    env.fund(c, "USDC", 100 * USDC)
    tok = env.token("USDC")
    for slot in range(5):
        r = env.tx(env.fl.functions.withdraw(tok.address, 10 * USDC), c)
        (ev,) = env.events(r, env.fl, "Withdraw")
        assert (ev["slot"], ev["amount"], ev["balance"]) == (slot, 10 * USDC,
                                                            (90 - 10 * slot) * USDC)
    assert env.requests(c, "USDC") == [10 * USDC] * 5
    reason = env.reverts(env.fl.functions.withdraw(tok.address, USDC), c)
    assert reason.startswith("TooManyWithdrawals(")
    assert env.balance(c, "USDC") == 50 * USDC


def test_withdraw_reverts_on_insufficient_balance_and_zero(env):
    c = env.clients[0]
    env.fund(c, "USDC", 10 * USDC)
    tok = env.token("USDC")
    reason = env.reverts(env.fl.functions.withdraw(tok.address, 11 * USDC), c)
    assert reason == (f"InsufficientBalance(client={c.address}, token={tok.address}, "
                      f"needed={11 * USDC}, available={10 * USDC})")
    assert env.reverts(env.fl.functions.withdraw(tok.address, 0), c) == "ZeroAmount()"


def test_release_only_after_release_lock_and_slot_reuse(env):
    c = env.clients[0]
    env.fund(c, "USDC", 100 * USDC)
    tok, fl = env.token("USDC"), env.fl
    env.tx(fl.functions.withdraw(tok.address, 30 * USDC), c)
    assert env.reverts(fl.functions.release(tok.address, 0), c).startswith("ReleaseLocked(slot=0")
    env.chain.advance_time(2400)
    r = env.tx(fl.functions.release(tok.address, 0), c)
    assert env.events(r, fl, "Release") == [
        {"client": c.address, "token": tok.address, "amount": 30 * USDC, "slot": 0}]
    assert env.chain.call(tok.functions.balanceOf(c.address)) == 30 * USDC
    assert env.requests(c, "USDC") == [0] * 5
    assert env.reverts(fl.functions.release(tok.address, 0), c) == "NoWithdrawal(slot=0)"
    assert env.reverts(fl.functions.release(tok.address, 5), c) == "NoWithdrawal(slot=5)"
    r = env.tx(fl.functions.withdraw(tok.address, USDC), c)  # the slot is free again
    assert env.events(r, fl, "Withdraw")[0]["slot"] == 0


def test_release_one_second_early_reverts(env):
    c = env.clients[0]
    env.fund(c, "USDC", 10 * USDC)
    tok, fl = env.token("USDC"), env.fl
    env.tx(fl.functions.withdraw(tok.address, USDC), c)
    requested = env.chain.call(fl.functions.withdrawals(c.address, tok.address))[1][0]
    env.chain.w3.provider.ethereum_tester.time_travel(requested + 2400 - 2)
    assert env.reverts(fl.functions.release(tok.address, 0), c) == (
        f"ReleaseLocked(slot=0, availableAt={requested + 2400})")


def test_admin_functions_and_roles(env):
    fl, stranger = env.fl, env.clients[0]
    for fn in (fl.functions.setLocks(10, 20, 30), fl.functions.setLedger(stranger.address, True),
               fl.functions.setAdmin(stranger.address)):
        assert env.reverts(fn, stranger) == f"Unauthorized(caller={stranger.address})"
    assert env.reverts(fl.functions.setLocks(20, 20, 1), env.admin).startswith("InvalidLocks(")
    assert env.reverts(fl.functions.setLocks(1, 7 * 86400 + 1, 1), env.admin).startswith(
        "InvalidLocks(")
    assert env.reverts(fl.functions.setLocks(1, 2, 0), env.admin).startswith("InvalidLocks(")
    r = env.tx(fl.functions.setLocks(100, 7 * 86400, 50), env.admin)
    assert env.events(r, fl, "LocksSet") == [
        {"tradeLock": 100, "releaseLock": 7 * 86400, "escapeDelay": 50}]
    assert env.chain.call(fl.functions.releaseLock()) == 7 * 86400
    env.tx(fl.functions.setLedger(stranger.address, True), env.admin)
    assert env.chain.call(fl.functions.isLedger(stranger.address))
    env.tx(fl.functions.setAdmin(stranger.address), env.admin)
    assert env.chain.call(fl.functions.admin()) == stranger.address
    assert env.reverts(fl.functions.setLedger(stranger.address, False), env.admin) == (
        f"Unauthorized(caller={env.admin.address})")


def test_update_balances_only_from_a_registered_ledger(env):
    fl, c = env.fl, env.clients[0]
    usdc = env.dep.tokens["USDC"]
    fn = fl.functions.updateBalances([c.address], [usdc], [0], 1)
    assert env.reverts(fn, env.operator) == f"Unauthorized(caller={env.operator.address})"
    env.tx(fl.functions.setLedger(env.admin.address, True), env.admin)  # an EOA "ledger"
    env.tx(fn, env.admin)
    assert env.reverts(fl.functions.updateBalances([c.address], [], [0], 1), env.admin) == (
        "LengthMismatch()")


def test_update_balances_insufficient_balance_and_collateral(env):
    fl, (a, b) = env.fl, env.clients[:2]
    usdc = env.dep.tokens["USDC"]
    env.fund(a, "USDC", 10 * USDC)
    env.tx(fl.functions.setLedger(env.admin.address, True), env.admin)
    reason = env.reverts(fl.functions.updateBalances([a.address], [usdc], [11 * USDC], 7),
                         env.admin)
    assert reason == (f"InsufficientBalance(client={a.address}, token={usdc}, "
                      f"needed={11 * USDC}, available={10 * USDC})")
    reason = env.reverts(fl.functions.updateBalances([b.address], [usdc], [-USDC], 7), env.admin)
    assert reason == f"InsufficientCollateral(token={usdc}, needed={USDC}, available=0)"
    # a payout is covered by a payment of the same batch, whatever the order
    r = env.tx(fl.functions.updateBalances([b.address, a.address], [usdc, usdc],
                                           [-4 * USDC, 4 * USDC], 7), env.admin)
    assert [e["amount"] for e in env.events(r, fl, "BalanceUpdated")] == [4 * USDC, -4 * USDC]
    assert (env.balance(a, "USDC"), env.balance(b, "USDC")) == (6 * USDC, 4 * USDC)
    assert env.chain.call(fl.functions.collateral(usdc)) == 0


def test_escape_hatch(env):
    fl, c = env.fl, env.clients[0]
    tok = env.token("USDC")
    env.fund(c, "USDC", 50 * USDC)
    env.tx(fl.functions.withdraw(tok.address, 20 * USDC), c)
    assert env.reverts(fl.functions.escapeWithdraw(tok.address), c).startswith("EscapeNotOpen(")
    assert not env.chain.call(fl.functions.escapeOpen())
    env.chain.advance_time(7 * 24 * 3600)
    assert env.chain.call(fl.functions.escapeOpen())
    r = env.tx(fl.functions.escapeWithdraw(tok.address), c)
    assert env.events(r, fl, "EscapeWithdrawal") == [
        {"client": c.address, "token": tok.address, "amount": 30 * USDC}]
    assert env.reverts(fl.functions.escapeWithdraw(tok.address), c) == "ZeroAmount()"
    env.tx(fl.functions.release(tok.address, 0), c)  # no release lock while the hatch is open
    assert env.chain.call(tok.functions.balanceOf(c.address)) == 50 * USDC


def test_a_landed_batch_closes_the_escape_hatch(env):
    fl, c = env.fl, env.clients[0]
    env.fund(c, "USDC", USDC)
    env.chain.advance_time(7 * 24 * 3600)
    ledger = env.ledger("WETH/USDC")
    env.tx(ledger.functions.updatePositions([(1, c.address, 5)], [], 1), env.operator)
    assert not env.chain.call(fl.functions.escapeOpen())
    assert env.reverts(fl.functions.escapeWithdraw(env.dep.tokens["USDC"]), c).startswith(
        "EscapeNotOpen(")


def test_spec_withdrawal_worked_example(env):
    """settlement.md §1: balance 100 → withdraw 50 → a trade needs 70 → 50 from the balance +
    20 from the request → balance 0, request 30 → release pays 30."""
    fl, c = env.fl, env.clients[0]
    tok = env.token("USDC")
    env.fund(c, "USDC", 100 * USDC)
    env.tx(fl.functions.withdraw(tok.address, 50 * USDC), c)
    ledger = env.ledger("WETH/USDC")
    r = env.tx(ledger.functions.updatePositions([], [(c.address, 0, 70 * 10**4)], 1),
               env.operator)
    assert env.balance(c, "USDC") == 0
    assert env.requests(c, "USDC") == [30 * USDC, 0, 0, 0, 0]
    assert env.events(r, fl, "WithdrawalDrawn") == [
        {"client": c.address, "token": tok.address, "slot": 0, "amount": 20 * USDC,
         "remaining": 30 * USDC, "backendId": 1}]
    env.chain.advance_time(2400)
    env.tx(fl.functions.release(tok.address, 0), c)
    assert env.chain.call(tok.functions.balanceOf(c.address)) == 30 * USDC


def test_requests_older_than_trade_lock_cannot_be_drawn(env):
    fl, c = env.fl, env.clients[0]
    tok = env.token("USDC")
    env.fund(c, "USDC", 100 * USDC)
    env.tx(fl.functions.withdraw(tok.address, 50 * USDC), c)
    env.chain.advance_time(1200)
    ledger = env.ledger("WETH/USDC")
    reason = env.reverts(ledger.functions.updatePositions([], [(c.address, 0, 70 * 10**4)], 1),
                         env.operator)
    assert reason == (f"InsufficientBalance(client={c.address}, token={tok.address}, "
                      f"needed={70 * USDC}, available={50 * USDC})")
    assert env.balance(c, "USDC") == 50 * USDC
