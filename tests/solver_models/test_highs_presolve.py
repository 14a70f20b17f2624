"""A known wrong answer of the pinned HiGHS (1.15.1): its presolve returns a non-optimal
"optimal" on one of price selection's models, so the engine's lexicographic objectives are not
always minimal and any change to a model (rows added, removed or reordered, another seed) can
move them — the reason a reformulation that looks exact still changed objective values on the
bench books (README, issue 17, fifth round).

The model (``data/no_cross_rounding_mip.npz``) is the least-rounding stage of price selection on
the standard ``no_cross`` book, first lazy round (1,140 rows, 1,096 columns), as the engine
passed it to HiGHS: ``min Σ (unfilled packages)·s`` over integer ticks. Its optimum is 47
(money units): HiGHS finds it with presolve off, and ``ccp solve`` reaches it on that book
(the check's rounding of the result, 0.47). HiGHS 1.15.1 with presolve returns 51 with seed 0
and 55 with seed 3, each reported optimal with a dual bound equal to it; HiGHS 1.16.0 returns
47 for seeds 0–3 (checked by hand, 2026-12-04; under 1.16.0 the second test below XPASSes).
The engine meets it on that book itself: recorded with ``scripts/highs_calls.py``, 1.15.1
reports this model optimal at 51 and the second lazy round's (1,656 rows) at 48, both 47 with
presolve off; the book's final prices happen to be the same (README, stop 23). The pin stays
for now: stop 23 says why.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from solver_models import SolverParams
from solver_models.highs import ArrayModel, solve

DATA = Path(__file__).parent / "data" / "no_cross_rounding_mip.npz"


def _model() -> ArrayModel:
    z = np.load(DATA)
    a = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    return ArrayModel(z["c"], a, z["row_lo"], z["row_hi"], z["col_lo"], z["col_hi"],
                      z["integer"].astype(bool))


def test_the_least_rounding_of_this_model_is_47():
    sol = solve(_model(), replace(SolverParams(), presolve="off"), 60)
    assert sol.optimal and round(sol.objective) == 47
    # and 47 is reached at integer ticks: the solution's ticks are whole
    t = sol.x[_model().integer]
    assert np.allclose(t, np.rint(t))


@pytest.mark.xfail(strict=True, reason="HiGHS 1.15.1's presolve: 'optimal' 51 (seed 0) and 55 "
                   "(seed 3) on this model whose optimum is 47; 1.16.0 returns 47")
def test_highs_with_presolve_finds_the_optimum():
    for seed in (0, 3):
        sol = solve(_model(), replace(SolverParams(), random_seed=seed), 60)
        assert sol.optimal and round(sol.objective) == 47, (seed, sol.objective)
