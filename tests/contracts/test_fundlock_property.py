"""Property: any sequence of deposit / withdraw / release / updateBalances keeps

    token.balanceOf(FundLock) = Σ client balances + Σ pending requests + collateral

and every balance equals a plain Python model of the rules (reverts where the model refuses)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.errors import ChainReverted

pytestmark = pytest.mark.chain

N_CLIENTS = 3
op = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, N_CLIENTS - 1), st.integers(1, 50)),
    st.tuples(st.just("withdraw"), st.integers(0, N_CLIENTS - 1), st.integers(1, 60)),
    st.tuples(st.just("release"), st.integers(0, N_CLIENTS - 1), st.integers(0, 4)),
    st.tuples(st.just("time"), st.just(0), st.sampled_from([600, 1300, 2500])),
    st.tuples(st.just("batch"), st.lists(st.tuples(st.integers(0, N_CLIENTS - 1),
                                                   st.integers(-40, 40)), min_size=1,
                                         max_size=4), st.just(0)),
)


class Model:
    def __init__(self) -> None:
        self.bal = [0] * N_CLIENTS
        self.req: list[list[list[int]]] = [[[0, 0] for _ in range(5)] for _ in range(N_CLIENTS)]
        self.collateral = 0

    def debit(self, c: int, amount: int, now: int) -> bool:
        if self.bal[c] >= amount:
            self.bal[c] -= amount
            return True
        short = amount - self.bal[c]
        self.bal[c] = 0
        for r in self.req[c]:
            if r[0] and now < r[1] + 1200 and short:
                take = min(r[0], short)
                r[0] -= take
                short -= take
        return short == 0


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(op, min_size=1, max_size=10))
def test_fundlock_conserves_tokens(_deployed, ops):
    env = _deployed
    tester = env.chain.w3.provider.ethereum_tester
    snap = tester.take_snapshot()
    try:
        _run(env, ops)
    finally:
        tester.revert_to_snapshot(snap)


def _run(env, ops):
    fl, tok = env.fl, env.token("USDC")
    usdc = tok.address
    clients = env.clients[:N_CLIENTS]
    env.tx(fl.functions.setLedger(env.admin.address, True), env.admin)
    for c in clients:
        env.tx(tok.functions.mint(c.address, 10**9), env.admin)
        env.tx(tok.functions.approve(fl.address, 2**256 - 1), c)
    m = Model()
    for kind, a, b in ops:
        now = env.chain.timestamp() + 1  # the next block's timestamp (eth-tester: +1 s)
        if kind == "deposit":
            env.tx(fl.functions.deposit(usdc, b), clients[a])
            m.bal[a] += b
        elif kind == "withdraw":
            free = [i for i, r in enumerate(m.req[a]) if r[0] == 0]
            ok = m.bal[a] >= b and free
            fn = fl.functions.withdraw(usdc, b)
            if ok:
                r = env.tx(fn, clients[a])
                ts = env.chain.timestamp(r.block_number)
                m.bal[a] -= b
                m.req[a][free[0]] = [b, ts]
            else:
                with pytest.raises(ChainReverted):
                    env.tx(fn, clients[a])
        elif kind == "release":
            r = m.req[a][b]
            fn = fl.functions.release(usdc, b)
            if r[0] and now >= r[1] + 2400:
                env.tx(fn, clients[a])
                m.req[a][b] = [0, 0]
            else:
                with pytest.raises(ChainReverted):
                    env.tx(fn, clients[a])
        elif kind == "time":
            env.chain.advance_time(b)
        else:
            entries = a
            trial = Model()
            trial.bal = list(m.bal)
            trial.req = [[list(r) for r in rs] for rs in m.req]
            trial.collateral = m.collateral
            ok = True
            for c, amt in entries:
                if amt > 0:
                    ok = ok and trial.debit(c, amt, now)
                    trial.collateral += amt
            for c, amt in entries:
                if amt < 0:
                    ok = ok and trial.collateral >= -amt
                    trial.collateral += amt
                    trial.bal[c] -= amt
            fn = fl.functions.updateBalances([clients[c].address for c, _ in entries],
                                             [usdc] * len(entries), [x for _, x in entries], 1)
            if ok:
                env.tx(fn, env.admin)
                m = trial
            else:
                with pytest.raises(ChainReverted):
                    env.tx(fn, env.admin)
        held = env.chain.call(tok.functions.balanceOf(fl.address))
        pending = sum(env.chain.call(fl.functions.pendingWithdrawals(c.address, usdc))
                      for c in clients)
        balances = [env.chain.call(fl.functions.balances(c.address, usdc)) for c in clients]
        coll = env.chain.call(fl.functions.collateral(usdc))
        assert held == sum(balances) + pending + coll
        assert balances == m.bal
        assert coll == m.collateral
        assert pending == sum(r[0] for rs in m.req for r in rs)
