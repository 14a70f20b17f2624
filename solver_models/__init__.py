"""The matcher: clears a cut book by the rule of auction.md §4.

``solve(book, params)`` returns a :class:`SolveOutcome` (a value, never an exception for a hard
book): ``formulation="equilibrium"`` runs the LP pipeline, ``"bigm"`` the original engine's
big-M model (reference, for small books and comparisons).
"""

from __future__ import annotations

from auction.book import Book
from solver_models.outcome import SolveOutcome, SolveStatus, StageReport
from solver_models.params import ParamsError, SolverParams

__all__ = ["ParamsError", "SolveOutcome", "SolveStatus", "SolverParams", "StageReport", "solve"]


def solve(book: Book, params: SolverParams | None = None) -> SolveOutcome:
    params = params or SolverParams()
    if params.formulation == "bigm":
        from solver_models.reference import solve_reference

        return solve_reference(book, params)
    from solver_models.pipeline import solve_equilibrium

    return solve_equilibrium(book, params)
