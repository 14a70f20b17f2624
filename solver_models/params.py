"""Solver parameters: strict (unknown keys rejected), defaults in one place, recorded with results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

FORMULATIONS = ("equilibrium", "bigm")
BAND_POLICIES = ("clip", "ignore")
PRESOLVE = ("choose", "on", "off")


class ParamsError(ValueError):
    """A solver parameter that does not exist or has a bad value."""


@dataclass(frozen=True)
class SolverParams:
    """How the matcher solves a book.

    * ``time_limit`` — seconds for the whole solve (each stage gets what is left).
    * ``mip_gap`` — relative gap at which an integer stage may stop.
    * ``threads`` / ``random_seed`` / ``presolve`` — passed to HiGHS.
    * ``formulation`` — ``equilibrium`` (the LP pipeline, auction.md §4) or ``bigm`` (the
      original engine's model, auction.md §5, in Pyomo; for small books and comparisons).
    * ``replication`` — match puts and binary puts through calls, forwards and binary calls.
    * ``price_band`` — ``clip``: prices stay in each contract's band and a limit beyond the band
      counts as at the band; ``ignore``: bands are not applied.
    * ``split_components`` — solve independent parts of the book separately.
    * ``speculate`` — on a large component, start the local search (needed when whole packages
      or the grid put the LP's equilibrium out of reach) on a second core while the direct
      route runs; it is cancelled when the direct route succeeds. Same results, less waiting.
    * ``local_nodes`` — branch-and-bound nodes one local search may explore (a deterministic
      limit, unlike the time limit: the same book gives the same result on any machine); its
      best equilibrium is then used and the outcome notes the gap.
    * ``highs_options`` — any further HiGHS options, passed through unchanged.
    """

    time_limit: float = 60.0
    mip_gap: float = 1e-6
    threads: int = 1
    random_seed: int = 0
    presolve: str = "choose"
    formulation: str = "equilibrium"
    replication: bool = True
    price_band: str = "clip"
    split_components: bool = True
    speculate: bool = True
    local_nodes: int = 500
    highs_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.time_limit > 0:
            raise ParamsError(f"time_limit must be positive, got {self.time_limit}")
        if not 0 <= self.mip_gap < 1:
            raise ParamsError(f"mip_gap must be in [0, 1), got {self.mip_gap}")
        if self.local_nodes < 1:
            raise ParamsError(f"local_nodes must be at least 1, got {self.local_nodes}")
        if self.threads < 1:
            raise ParamsError(f"threads must be at least 1, got {self.threads}")
        for name, allowed in (("formulation", FORMULATIONS), ("price_band", BAND_POLICIES),
                              ("presolve", PRESOLVE)):
            if getattr(self, name) not in allowed:
                raise ParamsError(f"{name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SolverParams:
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ParamsError(f"unknown solver parameter(s): {', '.join(unknown)} "
                              f"(known: {', '.join(known)})")
        return cls(**{k: _coerce(k, v, known[k].type) for k, v in data.items()})

    def with_overrides(self, assignments: Mapping[str, str]) -> SolverParams:
        """Apply ``key=value`` overrides given as strings (the command line's ``--set``)."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        highs = dict(self.highs_options)
        for key, text in assignments.items():
            if key.startswith("highs."):
                highs[key.removeprefix("highs.")] = _parse_scalar(text)
                continue
            if key not in known:
                raise ParamsError(f"unknown solver parameter {key!r} "
                                  f"(known: {', '.join(known)}, or highs.<option>)")
            changes[key] = _coerce(key, _parse_scalar(text), known[key].type)
        return replace(self, **changes, highs_options=highs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["highs_options"] = dict(self.highs_options)
        return d


def _parse_scalar(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "on", "yes"):
        return True
    if low in ("false", "off", "no"):
        return False
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _coerce(name: str, value: Any, typ: Any) -> Any:
    t = str(typ)
    try:
        if t == "bool":
            if isinstance(value, bool):
                return value
            if value in ("on", "off", "true", "false"):
                return value in ("on", "true")
            raise TypeError
        if t == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if t == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if t == "str":
            if name == "presolve" and isinstance(value, bool):
                return "on" if value else "off"
            if not isinstance(value, str):
                raise TypeError
            return value
        if not isinstance(value, Mapping):
            raise TypeError
        return dict(value)
    except (TypeError, ValueError):
        raise ParamsError(f"{name}: bad value {value!r} (expected {t})") from None
