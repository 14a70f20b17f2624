"""The HiGHS backend: arrays in, a solution value out; solves cancelled from another thread."""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from solver_models import SolverParams
from solver_models.highs import ArrayModel, Cancel, solve


def _market_split(rows: int = 4, cols: int = 36, seed: int = 3) -> ArrayModel:
    """Cornuéjols–Dawande market split: Σ_j a_ij x_j = ⌊Σ_j a_ij / 2⌋, x binary — tiny and
    notoriously hard for branch and bound (minutes), so a solve of it is still running when
    cancelled."""
    a = np.random.default_rng(seed).integers(0, 100, size=(rows, cols)).astype(float)
    rhs = np.floor(a.sum(axis=1) / 2)
    return ArrayModel(np.zeros(cols), sp.csc_matrix(a), rhs, rhs, np.zeros(cols), np.ones(cols),
                      np.ones(cols, dtype=bool))


def test_a_small_mip_is_solved_exactly():
    # max x + y  s.t.  2x + 2y <= 5, x, y integer in [0, 3]  →  x + y = 2
    model = ArrayModel(np.ones(2), sp.csc_matrix([[2.0, 2.0]]), np.array([-np.inf]),
                       np.array([5.0]), np.zeros(2), np.full(2, 3.0), np.ones(2, dtype=bool),
                       maximize=True)
    sol = solve(model, SolverParams(), 10)
    assert sol.optimal and sol.objective == 2 and sol.x.sum() == 2


def test_cancel_stops_a_running_solve():
    cancel = Cancel()
    out = {}
    worker = threading.Thread(target=lambda: out.update(sol=solve(
        _market_split(), SolverParams(), 120, cancel)))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive()  # still branching
    cancel()
    worker.join(30)
    assert not worker.is_alive()
    assert out["sol"].status == "cancelled"


def test_a_solve_after_cancel_does_not_start():
    cancel = Cancel()
    cancel()
    sol = solve(_market_split(), SolverParams(), 120, cancel)
    assert sol.status == "cancelled" and not sol.has_solution and sol.solve_seconds == 0
