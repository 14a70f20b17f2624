"""Ledger: roles, all-or-nothing batches, idempotent backendId, decimal scaling and the five
fund-movement vectors of collateral.md §4 (balances and positions after each step)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.chain

CALL = 1  # contract id of "a call, strike 15"
DEPOSIT = {"u": 100, "n": 10_000}  # whole units each client starts with

# collateral.md §4 — (positions deltas, fund movements (underlying, numeraire), positions after)
SETUP = ({"U1": 20, "U2": -20}, {"U1": (0, 200), "U2": (20, -200)}, {"U1": 20, "U2": -20})
STEPS = {
    "short partial exit": ({"U2": 10, "U3": -10}, {"U2": (-10, 100), "U3": (10, -100)},
                           {"U1": 20, "U2": -10, "U3": -10}),
    "long partial exit": ({"U3": 10, "U1": -10}, {"U3": (0, 100), "U1": (0, -100)},
                          {"U1": 10, "U2": -20, "U3": 10}),
    "short to long": ({"U2": 30, "U3": -30}, {"U2": (-20, 300), "U3": (30, -300)},
                      {"U1": 20, "U2": 10, "U3": -30}),
    "long to short": ({"U3": 30, "U1": -30}, {"U3": (0, 300), "U1": (10, -300)},
                      {"U1": -10, "U2": -20, "U3": 30}),
}


def _units(env, pair):
    u, n = pair.split("/")
    cur = env.dep.currencies
    return u, n, 10 ** cur[u].precision, 10 ** cur[n].precision


def _apply(env, pair, step, backend_id, who):
    _, _, pu, pn = _units(env, pair)
    deltas, moves, _ = step
    positions = [(CALL, who[k].address, v * pu) for k, v in deltas.items()]
    funds = [(who[k].address, a * pu, b * pn) for k, (a, b) in moves.items()]
    return env.tx(env.ledger(pair).functions.updatePositions(positions, funds, backend_id),
                  env.operator)


@pytest.mark.parametrize("pair", ["WETH/USDC", "WBTC/USDC"])
@pytest.mark.parametrize("step", list(STEPS))
def test_collateral_vectors(env, pair, step):
    u, n, _, _ = _units(env, pair)
    who = dict(zip(("U1", "U2", "U3"), env.clients, strict=False))
    du, dn = 10 ** env.dep.currencies[u].decimals, 10 ** env.dep.currencies[n].decimals
    for c in who.values():
        env.fund(c, u, DEPOSIT["u"] * du)
        env.fund(c, n, DEPOSIT["n"] * dn)
    ledger = env.ledger(pair)
    paid = {k: [0, 0] for k in who}

    for sid, s in ((1, SETUP), (2, STEPS[step])):
        _apply(env, pair, s, sid, who)
        for k, (a, b) in s[1].items():
            paid[k][0] += a
            paid[k][1] += b
        for k, c in who.items():
            pos = env.chain.call(ledger.functions.positions(CALL, c.address))
            assert pos == s[2].get(k, 0) * 10 ** env.dep.currencies[u].precision, (sid, k)
            # on chain in native units: whole units × 10^decimals, whatever the precision
            assert env.balance(c, u) == (DEPOSIT["u"] - paid[k][0]) * du, (sid, k)
            assert env.balance(c, n) == (DEPOSIT["n"] - paid[k][1]) * dn, (sid, k)

    # the clearing house holds exactly the net of all movements
    fl = env.fl
    assert env.chain.call(fl.functions.collateral(env.dep.tokens[u])) == \
        sum(p[0] for p in paid.values()) * du
    assert env.chain.call(fl.functions.collateral(env.dep.tokens[n])) == \
        sum(p[1] for p in paid.values()) * dn


def test_setup_vector_literal_balances(env):
    """The setup row on WETH/USDC, spelled out in native units (18 and 6 decimals)."""
    who = dict(zip(("U1", "U2"), env.clients, strict=False))
    for c in who.values():
        env.fund(c, "WETH", 100 * 10**18)
        env.fund(c, "USDC", 10_000 * 10**6)
    _apply(env, "WETH/USDC", SETUP, 1, who)
    assert env.balance(who["U1"], "USDC") == 9_800_000_000
    assert env.balance(who["U2"], "USDC") == 10_200_000_000
    assert env.balance(who["U1"], "WETH") == 100 * 10**18
    assert env.balance(who["U2"], "WETH") == 80 * 10**18


@pytest.mark.parametrize(("pair", "uscale", "nscale"),
                         [("WETH/USDC", 10**11, 10**2), ("WBTC/USDC", 1, 10**2)])
def test_decimal_scaling(env, pair, uscale, nscale):
    ledger = env.ledger(pair)
    assert env.chain.call(ledger.functions.underlyingScale()) == uscale
    assert env.chain.call(ledger.functions.strikeScale()) == nscale
    c = env.clients[0]
    u, n = pair.split("/")
    env.fund(c, u, 10 * uscale)
    env.fund(c, n, 7 * nscale)
    env.tx(ledger.functions.updatePositions([], [(c.address, 3, 2)], 9), env.operator)
    assert env.balance(c, u) == 7 * uscale
    assert env.balance(c, n) == 5 * nscale


def test_invalid_precision_is_refused_at_deployment(env):
    from settlement.errors import ChainReverted

    with pytest.raises(ChainReverted) as info:
        env.chain.deploy("Ledger", env.dep.fund_lock, "WETH/USDC", env.dep.tokens["WETH"], 19,
                         env.dep.tokens["USDC"], 4, sender=env.admin)
    reason = info.value.reason
    assert reason == (f"InvalidPrecision(token={env.dep.tokens['WETH']}, decimals=18, "
                      "precision=19)")


def test_update_positions_happy_path_and_events(env):
    ledger, (a, b) = env.ledger("WETH/USDC"), env.clients[:2]
    r = env.tx(ledger.functions.updatePositions([(7, a.address, 5), (7, b.address, -5),
                                                 (7, a.address, 2)], [], 42), env.operator)
    assert env.events(r, ledger, "PositionUpdated") == [
        {"contractId": 7, "client": a.address, "delta": 5, "position": 5, "backendId": 42},
        {"contractId": 7, "client": b.address, "delta": -5, "position": -5, "backendId": 42},
        {"contractId": 7, "client": a.address, "delta": 2, "position": 7, "backendId": 42}]
    assert env.events(r, ledger, "PositionsUpdated") == [
        {"backendId": 42, "positionCount": 3, "fundMovementCount": 0}]
    assert env.chain.call(ledger.functions.applied(42))
    assert not env.chain.call(ledger.functions.applied(43))


def test_only_the_operator_submits_and_only_the_admin_sets_roles(env):
    ledger, stranger = env.ledger("WETH/USDC"), env.clients[0]
    fn = ledger.functions.updatePositions([(1, stranger.address, 1)], [], 1)
    assert env.reverts(fn, stranger) == f"Unauthorized(caller={stranger.address})"
    assert env.reverts(fn, env.admin) == f"Unauthorized(caller={env.admin.address})"
    assert env.reverts(ledger.functions.setOperator(stranger.address, True), stranger) == (
        f"Unauthorized(caller={stranger.address})")
    assert env.reverts(ledger.functions.setAdmin(stranger.address), env.operator) == (
        f"Unauthorized(caller={env.operator.address})")
    env.tx(ledger.functions.setOperator(stranger.address, True), env.admin)
    env.tx(fn, stranger)
    env.tx(ledger.functions.setOperator(env.operator.address, False), env.admin)
    fn2 = ledger.functions.updatePositions([(1, stranger.address, 1)], [], 2)
    assert env.reverts(fn2, env.operator) == f"Unauthorized(caller={env.operator.address})"
    env.tx(ledger.functions.setAdmin(stranger.address), env.admin)
    assert env.chain.call(ledger.functions.admin()) == stranger.address


def test_empty_batch_reverts(env):
    ledger = env.ledger("WETH/USDC")
    assert env.reverts(ledger.functions.updatePositions([], [], 1), env.operator) == (
        "EmptyBatch()")


def test_duplicate_backend_id_reverts_and_applies_nothing(env):
    ledger, c = env.ledger("WETH/USDC"), env.clients[0]
    fn = ledger.functions.updatePositions([(1, c.address, 3)], [], 5)
    env.tx(fn, env.operator)
    assert env.reverts(fn, env.operator) == "DuplicateBackendId(backendId=5)"
    assert env.chain.call(ledger.functions.positions(1, c.address)) == 3


def test_batch_is_all_or_nothing(env):
    ledger, (a, b) = env.ledger("WETH/USDC"), env.clients[:2]
    env.fund(a, "USDC", 10 * 10**6)
    fn = ledger.functions.updatePositions(
        [(1, a.address, 4), (1, b.address, -4)],
        [(a.address, 0, 5 * 10**4), (b.address, 0, 1 * 10**4)], 11)
    reason = env.reverts(fn, env.operator)
    assert reason.startswith(f"InsufficientBalance(client={b.address}")
    assert env.chain.call(ledger.functions.positions(1, a.address)) == 0
    assert env.balance(a, "USDC") == 10 * 10**6
    assert not env.chain.call(ledger.functions.applied(11))
    env.fund(b, "USDC", 10**6)
    env.tx(fn, env.operator)  # the same backendId lands once the cause is fixed
    assert env.chain.call(ledger.functions.positions(1, b.address)) == -4
    assert (env.balance(a, "USDC"), env.balance(b, "USDC")) == (5 * 10**6, 0)
