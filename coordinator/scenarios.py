"""Scenario files: a book (or a generator recipe) + solver parameters + optional expectations.

A scenario file is JSON or YAML (by extension) in one of two shapes:

* **a bare book** in the interchange format (``contracts``, ``orders``, optional ``params``) —
  e.g. ``scenarios/demo.json``;
* **a scenario**::

      description: one line saying what it shows
      book: {contracts: [...], orders: [...]}   # inline, or a path relative to this file
      recipe: {seed: 1, orders: 1000, ...}      # instead of book: a generator recipe
      params: {time_limit: 10, ...}             # solver parameters (SolverParams)
      expect:                                   # optional: makes it a golden test
        status: OPTIMAL
        volume: 20                              # lots, as in the result file
        surplus: 0
        prices: {"1": "100"}                   # contractId → price
        fills: {"2": "10"}                      # orderId → filled quantity of its first leg
        check: true                             # the equilibrium check must pass (default)
      bench: {repeat: 3, reference: auto}       # benchmark options (ccp bench)

Loading is strict: an unknown key, a missing field or a bad value raises
:class:`ScenarioError` naming the file, the path inside it and the reason. In YAML, numbers
with a fraction (``105.5``) are read as exact decimals in books and expectations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from auction.book import Book, BookError
from auction.interchange import book_from_dict, loads
from auction.result import ClearingResult, surplus, volume
from auction.units import parse_decimal
from solver_models.generator import Recipe, RecipeError, generate_book
from solver_models.params import ParamsError, SolverParams

SCENARIO_KEYS = {"description", "book", "recipe", "params", "expect", "bench"}
BOOK_KEYS = {"contracts", "orders", "params"}
EXPECT_KEYS = {"status", "volume", "surplus", "prices", "fills", "check"}
BENCH_KEYS = {"repeat", "reference"}
STATUSES = ("OPTIMAL", "TIME_LIMIT", "NOT_CLEARED")
SUFFIXES = (".json", ".yaml", ".yml")


class ScenarioError(ValueError):
    """A scenario file that cannot be used: ``file``, ``problems`` as ``path: reason``."""

    def __init__(self, file: str | Path, problems: list[str]):
        self.file = str(file)
        self.problems = problems
        super().__init__(f"{self.file}: " + f"\n{self.file}: ".join(problems))


class _YamlDecimal(str):
    """A YAML number with a fraction, kept as its exact text."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("tag:yaml.org,2002:float",
                        lambda loader, node: _YamlDecimal(loader.construct_scalar(node)))


_YAML_SPECIAL = {".nan": float("nan"), ".inf": float("inf"), "+.inf": float("inf"),
                 "-.inf": float("-inf")}


def _floats(obj: Any) -> Any:
    """YAML decimals back to floats (for parameters and recipes, which take floats)."""
    if isinstance(obj, _YamlDecimal):
        try:
            return float(obj)
        except ValueError:  # .nan, .inf, 1:30.5 (YAML 1.1 forms Python does not read)
            return _YAML_SPECIAL.get(obj.lower(), str(obj))
    if isinstance(obj, Mapping):
        return {k: _floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_floats(v) for v in obj]
    return obj


def _plain(obj: Any) -> Any:
    """YAML decimals to plain strings (for books, where decimals travel as strings)."""
    if isinstance(obj, _YamlDecimal):
        return str(obj)
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def read_text(path: str | Path) -> str:
    """A file's text (UTF-8); unreadable or not UTF-8 becomes a ScenarioError naming it."""
    path = Path(path)
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ScenarioError(path, [f"cannot read: {e.strerror or e}"]) from None
    except UnicodeDecodeError as e:
        raise ScenarioError(path, [f"not a text file (not UTF-8: byte {e.start})"]) from None


def parse_json(path: str | Path, text: str, compact: bool = False) -> Any:
    """JSON text of ``path``; any syntax problem becomes a ScenarioError with the position.

    ``compact``: orders and legs come out in the compact form the book reader takes
    (``auction.interchange.loads``; a large book without a dict per order)."""
    try:
        return loads(text) if compact else json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError(path, [f"line {e.lineno} column {e.colno}: invalid JSON: "
                                   f"{e.msg}"]) from None
    except (ValueError, RecursionError) as e:  # a number of > 4300 digits, nesting too deep
        raise ScenarioError(path, [f"invalid JSON: {str(e) or type(e).__name__}"]) from None


def read_json(path: str | Path) -> Any:
    """Read a JSON file (whatever its name): the one reader of the commands' JSON inputs."""
    return parse_json(path, read_text(path))


def read_data(path: Path, compact: bool = False) -> Any:
    """Parse a JSON or YAML file; syntax errors become a ScenarioError with the position.

    ``compact``: a JSON file's orders and legs come out in the compact form the book reader
    takes (``auction.interchange.loads``; a large book without a dict per order)."""
    if path.suffix.lower() not in SUFFIXES:
        raise ScenarioError(path, [f"unknown file type {path.suffix!r} "
                                   f"(expected one of {', '.join(SUFFIXES)})"])
    text = read_text(path)
    if path.suffix.lower() == ".json":
        return parse_json(path, text, compact)
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise ScenarioError(path, [f"{where}invalid YAML: "
                                   f"{getattr(e, 'problem', None) or e}"]) from None
    except (ValueError, RecursionError) as e:  # e.g. a huge integer, nesting too deep
        raise ScenarioError(path, [f"invalid YAML: {str(e) or type(e).__name__}"]) from None


@dataclass(frozen=True)
class Expectations:
    status: str | None = None
    volume: Decimal | None = None
    surplus: Decimal | None = None
    prices: Mapping[int, Decimal] = field(default_factory=dict)
    fills: Mapping[int, Decimal] = field(default_factory=dict)
    check: bool = True

    def compare(self, book: Book, status: str, result: ClearingResult) -> list[str]:
        """Every expectation the result misses, as ``what: expected X, got Y``."""
        out: list[str] = []
        if self.status is not None and status != self.status:
            out.append(f"status: expected {self.status}, got {status}")
        if self.volume is not None and volume(book, result) != self.volume:
            out.append(f"volume: expected {self.volume}, got {volume(book, result)}")
        if self.surplus is not None and surplus(book, result) != self.surplus:
            out.append(f"surplus: expected {self.surplus}, got {surplus(book, result)}")
        for cid, price in sorted(self.prices.items()):
            got = book.contracts[cid].price(result.prices[cid]) if cid in result.prices else None
            if got != price:
                out.append(f"price of contract {cid}: expected {price}, got {got}")
        filled = result.filled()
        for oid, qty in sorted(self.fills.items()):
            order = book.order(oid)
            first = order.legs[0]
            got = book.contracts[first.contract_id].quantity(
                filled.get(oid, 0) * abs(order.ratios[0]))
            if got != qty:
                out.append(f"fill of order {oid}: expected {qty}, got {got}")
        return out


@dataclass(frozen=True)
class BenchOptions:
    repeat: int | None = None  # None: the command line's --repeat
    reference: bool | None = None  # None (auto): the reference model on small books only


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario. The book of a recipe scenario is generated on first use."""

    path: Path
    name: str
    description: str
    params: SolverParams
    recipe: Recipe | None = None
    expect: Expectations | None = None
    bench: BenchOptions = BenchOptions()
    _book: list[Book] = field(default_factory=list, repr=False, compare=False)

    @property
    def book(self) -> Book:
        if not self._book:
            assert self.recipe is not None
            self._book.append(generate_book(self.recipe))
        return self._book[0]

    @property
    def size(self) -> int:
        """Number of orders (without generating a recipe's book)."""
        return self.recipe.orders if self.recipe is not None else len(self.book.orders)


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate one scenario file (see the module docstring)."""
    path = Path(path)
    data = read_data(path, compact=True)
    if not isinstance(data, Mapping):
        raise ScenarioError(path, [f"expected an object at the top, got {type(data).__name__}"])
    if "contracts" in data or "orders" in data:  # a bare book
        book, raw_params = _load_book(path, data, prefix="")
        return Scenario(path, path.stem, "", _params(path, raw_params, "params"), _book=[book])

    problems = [f"unknown key {k!r} (known: {', '.join(sorted(SCENARIO_KEYS))})"
                for k in sorted(set(data) - SCENARIO_KEYS)]
    if ("book" in data) == ("recipe" in data):
        problems.append("a scenario needs exactly one of 'book' and 'recipe'")
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append("description: expected a string")
    if problems:
        raise ScenarioError(path, problems)

    book: Book | None = None
    recipe: Recipe | None = None
    book_params: dict[str, Any] = {}
    if "book" in data:
        book, book_params = _book_section(path, data["book"])
    else:
        try:
            recipe = Recipe.from_dict(_floats(data["recipe"]))
        except RecipeError as e:
            raise ScenarioError(path, [f"recipe: {e}"]) from None
    raw_params = data.get("params") or {}
    if not isinstance(raw_params, Mapping):
        raise ScenarioError(path, ["params: expected an object"])
    params = _params(path, {**book_params, **_floats(raw_params)}, "params")
    expect = None
    if data.get("expect") is not None:
        if book is None:
            raise ScenarioError(path, ["expect: expectations need a fixed book, not a recipe"])
        expect = _expectations(path, data["expect"], book)
    bench = _bench(path, data.get("bench"))
    return Scenario(path, path.stem, description.strip(), params, recipe, expect, bench,
                    _book=[book] if book is not None else [])


def _book_section(path: Path, section: Any) -> tuple[Book, dict[str, Any]]:
    if isinstance(section, str):
        book_path = (path.parent / section).resolve()
        if not book_path.exists():
            raise ScenarioError(path, [f"book: file {section!r} not found (looked at "
                                       f"{book_path})"])
        data = read_data(book_path, compact=True)
        return _load_book(book_path, data, prefix="")
    return _load_book(path, section, prefix="book.")


def _load_book(path: Path, data: Any, prefix: str) -> tuple[Book, dict[str, Any]]:
    try:  # YAML decimals to strings (a JSON file has none: no second walk over its orders)
        book, params = book_from_dict(data if path.suffix.lower() == ".json" else _plain(data))
    except BookError as e:
        raise ScenarioError(path, [_prefixed(prefix, p) for p in e.problems]) from None
    return book, params


def _prefixed(prefix: str, problem: str) -> str:
    if problem.startswith(("book:", "book ")):
        return problem if not prefix else f"{prefix.rstrip('.')}{problem[4:]}"
    return prefix + problem


def _params(path: Path, raw: Mapping[str, Any], where: str) -> SolverParams:
    try:
        return SolverParams.from_dict(_floats(raw))
    except ParamsError as e:
        raise ScenarioError(path, [f"{where}: {e}"]) from None


def _decimal(value: Any, what: str) -> Decimal:
    return parse_decimal(str(value) if isinstance(value, _YamlDecimal) else value, what)


def _expectations(path: Path, raw: Any, book: Book) -> Expectations:
    if not isinstance(raw, Mapping):
        raise ScenarioError(path, ["expect: expected an object"])
    problems: list[str] = [f"expect: unknown key {k!r} (known: {', '.join(sorted(EXPECT_KEYS))})"
                           for k in sorted(set(raw) - EXPECT_KEYS)]
    values: dict[str, Any] = {}
    status = raw.get("status")
    if status is not None and status not in STATUSES:
        problems.append(f"expect.status: {status!r} is not one of {', '.join(STATUSES)}")
    values["status"] = status
    for key in ("volume", "surplus"):
        if raw.get(key) is not None:
            try:
                values[key] = _decimal(raw[key], f"expect.{key}")
            except ValueError as e:
                problems.append(str(e))
    check = raw.get("check", True)
    if not isinstance(check, bool):
        problems.append(f"expect.check: expected true or false, got {check!r}")
    values["check"] = check
    for key, known, kind in (("prices", book.contracts, "contract"),
                             ("fills", {o.order_id for o in book.orders}, "order")):
        section = raw.get(key) or {}
        if not isinstance(section, Mapping):
            problems.append(f"expect.{key}: expected an object of {kind} id → decimal")
            continue
        parsed: dict[int, Decimal] = {}
        for k, v in section.items():
            where = f"expect.{key}.{k}"
            try:
                ident = int(k) if not isinstance(k, bool) else None
            except (TypeError, ValueError):
                ident = None
            if ident is None or ident not in known:
                problems.append(f"{where}: no {kind} {k!r} in the book")
                continue
            try:
                parsed[ident] = _decimal(v, where)
            except ValueError as e:
                problems.append(str(e))
        values[key] = parsed
    if problems:
        raise ScenarioError(path, problems)
    return Expectations(**values)


def _bench(path: Path, raw: Any) -> BenchOptions:
    if raw is None:
        return BenchOptions()
    if not isinstance(raw, Mapping):
        raise ScenarioError(path, ["bench: expected an object"])
    problems = [f"bench: unknown key {k!r} (known: {', '.join(sorted(BENCH_KEYS))})"
                for k in sorted(set(raw) - BENCH_KEYS)]
    repeat = raw.get("repeat")
    if repeat is not None and (isinstance(repeat, bool) or not isinstance(repeat, int)
                               or repeat < 1):
        problems.append(f"bench.repeat: expected a positive integer, got {repeat!r}")
    reference = raw.get("reference", "auto")
    if reference not in (True, False, "auto"):
        problems.append(f"bench.reference: expected true, false or auto, got {reference!r}")
    if problems:
        raise ScenarioError(path, problems)
    return BenchOptions(repeat, None if reference == "auto" else reference)


def scenario_files(root: str | Path) -> list[Path]:
    """Every scenario file under ``root`` (sorted), skipping the benchmark baselines."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES
                  and p.is_file() and not p.name.startswith("baseline"))
