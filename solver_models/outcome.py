"""A solve outcome is a value: status, stage reports, timings, the effective parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from auction.result import ClearingResult
from solver_models.params import SolverParams


class SolveStatus(StrEnum):
    OPTIMAL = "OPTIMAL"  # every component cleared by the rule
    TIME_LIMIT = "TIME_LIMIT"  # some component ran out of time: best valid result returned
    NOT_CLEARED = "NOT_CLEARED"  # some component has no equilibrium the engine could find


@dataclass(frozen=True)
class StageReport:
    """One stage of one component: model building and solving timed separately."""

    name: str
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    status: str = "ok"
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    size: str = ""  # e.g. "rows=12 cols=3400 nnz=9000"
    parallel: bool = False  # ran beside the main route (speculative): not part of wall time
    reason: str = ""  # why the status, where the pipeline acts on it (e.g. PRICES_UNREACHABLE)


#: the suffix of a speculative stage's name in :meth:`SolveOutcome.timings`
SPECULATIVE = " (speculative)"


@dataclass(frozen=True)
class SolveOutcome:
    status: SolveStatus
    result: ClearingResult
    params: SolverParams
    stages: tuple[StageReport, ...] = ()
    wall_seconds: float = 0.0
    solver: str = ""
    components: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # auction.md §4a: every use of a relaxation, (orderId, "rounding" | "short"): a divisible
    # order in the money left partly filled or unfilled within its rounding allowance, or one
    # package short (the whole-package allowance)
    relaxations: tuple[tuple[int, str], ...] = ()
    orders_uncleared: int = 0  # orders touching uncleared or halted contracts (not cleared)
    lp_volume: int = 0  # lots the welfare LP relaxation trades (fractional packages), summed

    def timings(self) -> dict[str, float]:
        """Wall-clock seconds that add up: ``total = build + solve + other``.

        Per stage name (summed over components) the seconds of the stages that ran one after
        the other; ``build`` and ``solve`` are their sums and ``other`` the rest of the wall
        time (Python work between stages, waiting for a speculative search). Work that ran
        beside them on another core (the speculative local search) is reported apart:
        ``<stage> (speculative)`` per stage and ``speculative`` in all — not part of ``total``.
        Batches of components cleared side by side (one per core) are summed too: then
        ``build + solve`` may exceed ``total`` (``other`` is 0), like CPU time.
        """
        out: dict[str, float] = {}
        main = [s for s in self.stages if not s.parallel]
        side = [s for s in self.stages if s.parallel]
        for s in main:
            out[s.name] = out.get(s.name, 0.0) + s.build_seconds + s.solve_seconds
        for s in side:
            name = s.name + SPECULATIVE
            out[name] = out.get(name, 0.0) + s.build_seconds + s.solve_seconds
        build = sum(s.build_seconds for s in main)
        solve = sum(s.solve_seconds for s in main)
        out["build"], out["solve"] = build, solve
        out["other"] = max(0.0, self.wall_seconds - build - solve)
        if side:
            out["speculative"] = sum(s.build_seconds + s.solve_seconds for s in side)
        out["total"] = self.wall_seconds
        return {k: round(v, 6) for k, v in out.items()}

    def summary(self) -> dict[str, Any]:
        return {"status": str(self.status), "components": self.components,
                "solver": self.solver, "timings": self.timings(), "notes": list(self.notes),
                "relaxations": [{"orderId": oid, "kind": kind}
                                for oid, kind in self.relaxations],
                "orders_uncleared": self.orders_uncleared, "lp_volume": self.lp_volume}
