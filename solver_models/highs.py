"""The HiGHS backend: a model given as arrays in, a solution value out (never an exception)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from solver_models.params import SolverParams

INF = highspy.kHighsInf


@dataclass(frozen=True)
class Columns:
    """A column-wise sparse matrix as its three arrays (``scipy.sparse.csc_matrix``'s), for
    the many small models cut out of a larger one without a scipy object each."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def tocsc(self) -> Columns:
        return self


@dataclass(frozen=True)
class ArrayModel:
    """``max/min c·x  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi``."""

    c: np.ndarray
    a: sp.csc_matrix | Columns
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray | None = None  # bool per column
    maximize: bool = False

    @property
    def size(self) -> str:
        kind = "mip" if self.integer is not None and self.integer.any() else "lp"
        return f"{kind} rows={self.a.shape[0]} cols={self.a.shape[1]} nnz={self.a.nnz}"


@dataclass(frozen=True)
class Solution:
    status: str  # "optimal", "infeasible", "time_limit", "node_limit", "cancelled", "error: …"
    x: np.ndarray | None
    row_dual: np.ndarray | None
    objective: float | None
    bound: float | None
    gap: float | None
    solve_seconds: float
    has_solution: bool
    # an LP's ``x`` is the basic solution of a valid basis (HiGHS's basis_validity): columns
    # off their bounds are basic, those at a bound nonbasic (stages.welfare_lp_parts)
    basic: bool = False

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


class Cancel:
    """Stops solves running in other threads (HiGHS's user interrupt); once called, later
    solves given it return at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[highspy.Highs] = []
        self.called = False

    def attach(self, h: highspy.Highs) -> bool:
        with self._lock:
            if not self.called:
                h.HandleUserInterrupt = True
                self._running.append(h)
            return not self.called

    def __call__(self) -> None:
        with self._lock:
            self.called = True
            for h in self._running:
                h.cancelSolve()


_thread = threading.local()


@contextmanager
def cancelled_by(cancel: Cancel):
    """Within it, every solve of this thread that is not given its own ``cancel`` and starts
    after ``cancel`` was called returns at once, "cancelled" (work started speculatively and
    no longer needed). A running solve is not interrupted: HiGHS's interrupt is a Python
    callback at every iteration (the GIL, each time), too dear for work that is usually kept."""
    before = getattr(_thread, "cancel", None)
    _thread.cancel = cancel
    try:
        yield
    finally:
        _thread.cancel = before


def version() -> str:
    h = highspy.Highs()
    return f"HiGHS {h.version()}" if hasattr(h, "version") else "HiGHS"


def solve(model: ArrayModel, params: SolverParams, time_limit: float,
          cancel: Cancel | None = None, options: dict | None = None,
          start: np.ndarray | None = None) -> Solution:
    """Solve ``model`` with HiGHS under ``params`` and at most ``time_limit`` seconds (status
    "cancelled" when ``cancel`` is called first). ``options``: HiGHS options of this solve
    (``params.highs_options`` still override them). ``start``: a value per column for a MIP,
    offered to HiGHS as its first incumbent (ignored by HiGHS when infeasible)."""
    stopped = getattr(_thread, "cancel", None)
    if cancel is None and stopped is not None and stopped.called:
        return Solution("cancelled", None, None, None, None, None, 0.0, False)
    h = highspy.Highs()
    if cancel is not None and not cancel.attach(h):
        return Solution("cancelled", None, None, None, None, None, 0.0, False)
    refused = _configure(h, params, time_limit, options)
    return refused if refused is not None else _run(h, model, start)


class Reused:
    """One HiGHS instance solving models in turn (``clearModel`` between them: model,
    solution and basis go, the options stay), for many small LPs in a row: a fresh instance
    and its options cost about as much as solving such an LP (no_cross's 44 parts of one
    batch: 0.24 → 0.15 ms a call, stop 28). The options are those :func:`solve` sets, so the
    answers are :func:`solve`'s (tests/solver_models/test_welfare_parts.py). One thread."""

    def __init__(self, params: SolverParams) -> None:
        self.params = params
        self.h: highspy.Highs | None = None
        self.refused: Solution | None = None

    def solve(self, model: ArrayModel, time_limit: float) -> Solution:
        stopped = getattr(_thread, "cancel", None)
        if stopped is not None and stopped.called:
            return Solution("cancelled", None, None, None, None, None, 0.0, False)
        if self.h is None:
            self.h = highspy.Highs()
            self.refused = _configure(self.h, self.params, time_limit, None)
        else:
            self.h.clearModel()
            if "time_limit" not in self.params.highs_options:  # as _configure: theirs wins
                self.h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
        return self.refused if self.refused is not None else _run(self.h, model, None)


def _configure(h: highspy.Highs, params: SolverParams, time_limit: float,
               options: dict | None) -> Solution | None:
    """Set :func:`solve`'s options on ``h``; the failed solution if HiGHS refuses one."""
    h.setOptionValue("output_flag", False)
    given = {"time_limit": max(float(time_limit), 1e-3), "threads": int(params.threads),
             "random_seed": int(params.random_seed), "presolve": params.presolve,
             "mip_rel_gap": float(params.mip_gap), **(options or {}), **params.highs_options}
    for key, value in given.items():
        # SolverParams checked every option against HiGHS already: a refusal here is a bug,
        # reported as the solve's outcome rather than a silently different model
        if h.setOptionValue(key, value) != highspy.HighsStatus.kOk:
            return Solution(f"error: HiGHS refused option {key}={value!r}", None, None, None,
                            None, None, 0.0, False)
    return None


def _size_scheduler(h: highspy.Highs) -> None:
    """HiGHS keeps one task scheduler per OS thread, sized by the ``threads`` of that thread's
    first solve; a later solve there asking another size fails at once (model status "Not
    Set", an error — stop 31: threads=2 after threads=1 in one process, e.g. a quant's
    notebook or a test, failed every solve). The scheduler is reset first when the size
    changes (other threads' schedulers are not touched)."""
    _, threads = h.getOptionValue("threads")  # (status, value)
    if getattr(_thread, "threads", threads) != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _thread.threads = threads


def _run(h: highspy.Highs, model: ArrayModel, start: np.ndarray | None) -> Solution:
    """Pass ``model`` to ``h`` (options set), solve it, read the answer."""
    mip = model.integer is not None and bool(model.integer.any())
    a = model.a.tocsc()
    n_row, n_col = a.shape
    if mip:  # the arrays as they are (no element-wise conversion into a HighsLp)
        h.passModel(n_col, n_row, a.nnz, int(highspy.MatrixFormat.kColwise),
                    int(highspy.ObjSense.kMaximize if model.maximize
                        else highspy.ObjSense.kMinimize), 0.0,
                    *(np.ascontiguousarray(v, dtype=float) for v in (
                        model.c, model.col_lo, model.col_hi, model.row_lo, model.row_hi)),
                    a.indptr.astype(np.int32), a.indices.astype(np.int32),
                    a.data.astype(float), model.integer.astype(np.int32))
    else:
        _pass_lp(h, model, a)
    _size_scheduler(h)
    if start is not None and mip:
        given_start = highspy.HighsSolution()
        given_start.col_value = np.asarray(start, dtype=float)
        given_start.value_valid = True
        h.setSolution(given_start)
    t0 = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - t0

    status = h.getModelStatus()
    S = highspy.HighsModelStatus
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # feasible
    if status == S.kOptimal:
        label = "optimal"
    elif status in (S.kInfeasible, S.kUnboundedOrInfeasible):
        label = "infeasible"
    elif status == S.kTimeLimit:
        label = "time_limit"
    elif status == S.kInterrupt:
        label = "cancelled"
    elif status == S.kSolutionLimit:  # mip_max_nodes and the like: deterministic limits
        label = "node_limit"
    else:
        label = f"error: {h.modelStatusToString(status)}"
    x = row_dual = None
    if has_solution:
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=float)
        if not mip and sol.dual_valid:
            row_dual = np.asarray(sol.row_dual, dtype=float)
    objective = info.objective_function_value if has_solution else None
    bound = info.mip_dual_bound if mip else None
    gap = info.mip_gap if mip else None
    basic = not mip and has_solution and info.basis_validity == 1
    return Solution(label, x, row_dual, objective, bound, gap, elapsed, has_solution, basic)


def _pass_lp(h: highspy.Highs, model: ArrayModel, a: sp.csc_matrix) -> None:
    """Pass a model without integer columns as a HighsLp."""
    lp = highspy.HighsLp()
    n_row, n_col = a.shape
    lp.num_col_, lp.num_row_ = n_col, n_row
    lp.col_cost_ = np.asarray(model.c, dtype=float)
    lp.col_lower_ = np.asarray(model.col_lo, dtype=float)
    lp.col_upper_ = np.asarray(model.col_hi, dtype=float)
    lp.row_lower_ = np.asarray(model.row_lo, dtype=float)
    lp.row_upper_ = np.asarray(model.row_hi, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_col, n_row
    if model.maximize:
        lp.sense_ = highspy.ObjSense.kMaximize
    h.passModel(lp)
