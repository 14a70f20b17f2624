"""Solver parameters: strict (unknown keys rejected), defaults in one place, recorded with results."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

FORMULATIONS = ("equilibrium", "bigm")
BAND_POLICIES = ("clip", "ignore")
PRESOLVE = ("choose", "on", "off")
HIGHS_INT_MAX = 2**31 - 1


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
      route runs, when a core is free of batches of components (``pipeline.WORKERS``); it is
      cancelled when the direct route succeeds. Same results, less waiting.
    * ``local_nodes`` — branch-and-bound nodes one local search may explore (a deterministic
      limit, unlike the time limit: the same book gives the same result on any machine); its
      best equilibrium is then used and the outcome notes the gap.
    * ``highs_options`` — any further HiGHS options (``--set highs.<option>=value``), checked
      against HiGHS's own option list and types when the parameters are built
      (:func:`check_highs_options`): an unknown option, a value of the wrong type or one HiGHS
      refuses is a :class:`ParamsError`; the recorded value is the one HiGHS applies.
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
        if not 0 < self.time_limit < math.inf:
            raise ParamsError(f"time_limit must be positive and finite (seconds), "
                              f"got {self.time_limit}")
        if not 0 <= self.mip_gap < 1:
            raise ParamsError(f"mip_gap must be in [0, 1), got {self.mip_gap}")
        for name, low in (("threads", 1), ("random_seed", 0), ("local_nodes", 1)):
            if not low <= getattr(self, name) <= HIGHS_INT_MAX:  # HiGHS takes them as C ints
                raise ParamsError(f"{name} must be in [{low}, {HIGHS_INT_MAX}], "
                                  f"got {getattr(self, name)}")
        for name, allowed in (("formulation", FORMULATIONS), ("price_band", BAND_POLICIES),
                              ("presolve", PRESOLVE)):
            if getattr(self, name) not in allowed:
                raise ParamsError(f"{name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        if not isinstance(self.highs_options, Mapping):
            raise ParamsError(f"highs_options: expected a table of HiGHS options, "
                              f"got {self.highs_options!r}")
        object.__setattr__(self, "highs_options", check_highs_options(self.highs_options))

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
                highs[key.removeprefix("highs.")] = text  # typed by check_highs_options
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


def check_highs_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """HiGHS options checked against HiGHS's own option list and types (the one place).

    A value given as text (the command line's ``--set highs.<option>=text``) is converted to
    the option's type (bool: true/false/on/off/yes/no/1/0; int; double; string as written);
    a value of another type must already be of the option's type (an int is accepted for a
    double). HiGHS itself then checks the value (ranges, allowed strings): a value it refuses
    is an error, never ignored.
    """
    if not options:
        return {}
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)  # HiGHS would print its own complaints
    ok = highspy.HighsStatus.kOk
    kinds = highspy.HighsOptionType
    out: dict[str, Any] = {}
    for name, value in options.items():
        if not isinstance(name, str):
            raise ParamsError(f"highs option {name!r}: option names are strings")
        status, kind = h.getOptionType(name)
        if status != ok:
            raise ParamsError(f"highs.{name}: HiGHS has no option {name!r}")
        typed = _highs_value(value, kind, kinds)
        if typed is None:
            expected = {kinds.kBool: "true or false", kinds.kInt: "an integer",
                        kinds.kDouble: "a finite number", kinds.kString: "a string"}[kind]
            raise ParamsError(f"highs.{name}: bad value {value!r} (expected {expected})")
        if h.setOptionValue(name, typed) != ok:
            raise ParamsError(f"highs.{name}: HiGHS refuses the value {value!r}")
        out[name] = typed
    return out


def _highs_value(value: Any, kind: Any, kinds: Any) -> Any:
    """``value`` as HiGHS option type ``kind``; None when it is not of that type."""
    text = value.strip() if isinstance(value, str) else None
    if kind == kinds.kString:
        return value if isinstance(value, str) else None
    if kind == kinds.kBool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _BOOL_TEXT:
            return _BOOL_TEXT[text.lower()]
        return None
    if isinstance(value, bool):
        return None
    if kind == kinds.kInt:
        if isinstance(value, int):
            number = value
        elif text is not None and re.fullmatch(r"[+-]?\d{1,19}", text):
            number = int(text)
        else:
            return None
        return number if -HIGHS_INT_MAX - 1 <= number <= HIGHS_INT_MAX else None
    number = value if isinstance(value, int | float) else None
    if text is not None:
        try:
            number = float(text)
        except ValueError:
            return None
    if number is None or not math.isfinite(number):
        return None
    return float(number)


_BOOL_TEXT = {"true": True, "on": True, "yes": True, "1": True,
              "false": False, "off": False, "no": False, "0": False}


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
    except (TypeError, ValueError, OverflowError):
        raise ParamsError(f"{name}: bad value {value!r} (expected {t})") from None
