"""Opt-in benchmark: the whole matcher (``solve``) on generated books of 1,000 and 10,000 orders.

Skipped by default (``--benchmark-skip`` in pyproject's addopts); run with
``pytest --benchmark-only -m bench`` (``--benchmark-only`` overrides the skip,
``--benchmark-enable`` alone does not: it needs ``-o addopts=""`` as well).

Default recipe (3 expiries × 9 strikes of calls, puts and binaries plus forwards, 20 % multi-leg,
5 % all-or-none), seed 4: both sizes clear completely (status OPTIMAL), which many seeds do not
(README, Figures). Every timed result must pass the independent check; nothing is asserted on
time. Measured 2026-11-21 (2-core AMD EPYC, the other core busy): ~0.47 s for 1,000 orders
(0.3 s of it the local search, which this book needs), ~0.46 s for 10,000.
"""

from __future__ import annotations

import pytest

from solver_models import SolverParams, SolveStatus, solve
from validator.equilibrium import check


@pytest.mark.bench
@pytest.mark.parametrize("orders", [1_000, 10_000])
def test_solve_generated_book(benchmark, orders):
    from solver_models.generator import Recipe, generate_book  # a test may use the generator

    book = generate_book(Recipe(orders=orders, seed=4))
    params = SolverParams()
    out = benchmark(solve, book, params)
    assert out.status is SolveStatus.OPTIMAL, out.notes
    report = check(book, out.result, replication=params.replication,
                   bands=params.price_band == "clip")
    assert report.ok, [str(v) for v in report.violations[:10]]
    assert report.volume > 0
