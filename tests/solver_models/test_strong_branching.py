"""Strong branching in the local search by the component's size (``stages.BRANCHING_ORDERS``,
docs/performance.md "Stop 31 — sb31"): HiGHS's strong-branching budget is ~100,000 LP
iterations whatever the model, each as dear as the model is large — on campaign s39012's
8,654-order component most of a 16 s solve. Beyond the bound every search runs without it;
a small component keeps it (cheap there, and it finds exact equilibria the node limit alone
misses: test_bound.py's seed 33)."""

from __future__ import annotations

from pathlib import Path

from solver_models import solve, stages
from venue.cli.solve import load

AON_HEAVY = Path(__file__).parents[2] / "scenarios" / "bench" / "standard" / "aon_heavy.yaml"


def test_large_components_search_without_strong_branching(monkeypatch):
    searches = []  # (orders of the component, gated, HiGHS options of the search)
    real_local, real_solve = stages.local_mip, stages.highs.solve
    inside = []

    def local(market, comp, *args, **kwargs):
        inside.append((len(comp.orders), bool(kwargs.get("gate"))))
        try:
            return real_local(market, comp, *args, **kwargs)
        finally:
            inside.pop()

    def spy(model, params, time_limit, cancel=None, options=None, **kw):
        # the search itself (node-limited, exact gaps), not its gate's root nor the price part
        # alone (stages._prices_unreachable: node-limited too, no gap options)
        if inside and (options or {}).get("mip_max_nodes") == params.local_nodes \
                and "mip_rel_gap" in (options or {}):
            searches.append((*inside[-1], dict(options or {})))
        return real_solve(model, params, time_limit, cancel, options, **kw)

    monkeypatch.setattr("solver_models.pipeline.local_mip", local)
    monkeypatch.setattr(stages.highs, "solve", spy)
    scenario = load(AON_HEAVY)
    solve(scenario.book, scenario.params)
    large = [s for s in searches if s[0] > stages.BRANCHING_ORDERS]
    small = [s for s in searches if s[0] <= stages.BRANCHING_ORDERS and not s[1]]
    assert large and small  # the book exercises both
    assert all(s[2].get("mip_pscost_minreliable") == 0 for s in large)
    assert not any("mip_pscost_minreliable" in s[2] for s in small)
