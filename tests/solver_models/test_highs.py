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


def _in_a_thread(fn):
    """``fn()`` on a fresh OS thread (HiGHS's scheduler is per thread), its value."""
    out = {}
    worker = threading.Thread(target=lambda: out.update(value=fn()))
    worker.start()
    worker.join()
    return out["value"]


def test_solves_on_one_thread_may_change_their_thread_count():
    """HiGHS sizes a thread's task scheduler by that thread's first solve; before stop 31 a
    later solve there with another ``threads`` failed at once (model status "Not Set")."""
    model = ArrayModel(np.ones(2), sp.csc_matrix([[2.0, 2.0]]), np.array([-np.inf]),
                       np.array([5.0]), np.zeros(2), np.full(2, 3.0), np.ones(2, dtype=bool),
                       maximize=True)
    statuses = _in_a_thread(lambda: [solve(model, SolverParams(threads=n), 10).status
                                     for n in (1, 2, 2, 1, 2)])
    assert statuses == ["optimal"] * 5


def test_the_engine_gives_the_same_answer_after_another_thread_count(monkeypatch):
    """A book cleared with HiGHS on one thread, then two, then one again, in one OS thread (a
    quant's notebook, a sweep's worker): the same answer each time (rule 9), no solve failed.
    One worker: every solve on the calling thread (two workers start fresh threads)."""
    from solver_models import pipeline
    from solver_models import solve as clear
    from solver_models.generator import Recipe, generate_book

    monkeypatch.setattr(pipeline, "WORKERS", 1)
    book = generate_book(Recipe(seed=31, orders=400, aon_share=0.3, combo_share=0.3))
    outs = _in_a_thread(lambda: [clear(book, SolverParams(threads=n)) for n in (1, 2, 1)])
    assert not any("error" in n for out in outs for n in out.notes), outs[1].notes
    assert outs[0].result.filled() and outs[0].status.name == "OPTIMAL"
    for out in outs[1:]:
        assert (out.status, out.result.prices, out.result.filled()) == \
            (outs[0].status, outs[0].result.prices, outs[0].result.filled())
