"""``ccp bench`` — solve a benchmark suite, compare with a baseline.

A suite is a directory of scenario files (``scenarios/bench/<name>/``; ``standard`` by
default, ``smoke`` for a quick run, ``mixed`` for books mixed as real ones are — two pairs,
binaries both sides, every combo kind, limits at currency precision; issue 17). A suite may
add books generated at run time and never committed (:data:`RUNTIME_BOOKS`: ``mixed`` adds
100,000 orders unless the folder has that book, and 1,000,000). Per book: generation time, wall time of ``solve`` (median
of R runs), build vs solve time, volume, the equilibrium check, and — where enabled — the
reference model (``formulation=bigm``; by default only on books of at most 2,000 orders).

``--baseline FILE`` compares with an earlier report (``--json`` or ``--write-baseline``
output): a book that got slower by more than the tolerance (relative, and at least
``--min-slowdown`` seconds) or lost volume is a regression — exit 1, naming the book and by how
much. A failed check also exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coordinator.scenarios import Scenario, ScenarioError, read_json, scenario_files
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError, problems_text
from venue.cli.solve import load, run_check

DEFAULT_REPEAT = 3
REPO_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

#: Books a suite generates at run time (too large to commit): suite → (book name, orders).
#: Each is the suite's largest recipe scenario with only its number of orders changed (same
#: seed and mix, parameters and bench options), or — in a folder without a recipe — the
#: generator's default recipe with seed :data:`RUNTIME_SEED`. A scenario file of the same name
#: in the folder wins.
RUNTIME_BOOKS: dict[str, tuple[tuple[str, int], ...]] = {
    "mixed": (("mixed_100k", 100_000), ("mixed_1m", 1_000_000)),
}
RUNTIME_SEED = 17


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench", help="solve the benchmark suite; compare with a baseline",
        description="Solve every book of a benchmark suite R times and report wall time "
                    "(median), build vs solve time, volume, the check and the reference model "
                    "side by side. Exit 0 ok, 1 a regression against --baseline or a failed "
                    "check, 2 bad input.")
    p.add_argument("--suite", default="standard", metavar="NAME",
                   help="scenarios/bench/NAME, or a directory (default standard)")
    p.add_argument("--only", action="append", default=[], metavar="BOOK",
                   help="run only this book of the suite (repeatable)")
    p.add_argument("--max-orders", type=int, metavar="N",
                   help="skip the suite's books with more than N orders")
    p.add_argument("--repeat", type=int, metavar="R",
                   help=f"runs per book (default: the scenario's bench.repeat, else "
                        f"{DEFAULT_REPEAT})")
    p.add_argument("--reference", choices=("auto", "on", "off"), default="auto",
                   help="run the reference model (formulation=bigm): auto = on books of at most "
                        "--reference-max-orders orders, unless the scenario says otherwise")
    p.add_argument("--reference-max-orders", type=int, default=2000, metavar="N",
                   help="with --reference auto: run the reference model only on books of at "
                        "most N orders (default 2000)")
    p.add_argument("--reference-time-limit", type=float, default=60.0, metavar="SECONDS",
                   help="time limit of one reference solve (default 60)")
    p.add_argument("--baseline", type=Path, metavar="FILE",
                   help="compare with this report; exit 1 on regressions")
    p.add_argument("--tolerance", type=float, default=0.25,
                   help="allowed relative slowdown against the baseline (default 0.25 = 25 %%)")
    p.add_argument("--min-slowdown", type=float, default=0.05, metavar="SECONDS",
                   help="ignore slowdowns smaller than this many seconds (default 0.05)")
    p.add_argument("--timings", choices=("auto", "on", "off"), default="auto",
                   help="compare timings with the baseline: auto = only when it was recorded "
                        "on this machine (host, platform, processor, CPUs: timings are "
                        "machine-bound); "
                        "volumes and statuses are always compared")
    p.add_argument("--json", type=Path, metavar="OUT", dest="json_out",
                   help="write the report as JSON")
    p.add_argument("--write-baseline", type=Path, metavar="FILE",
                   help="write the report as a baseline (with machine, date and command)")
    p.add_argument("--quiet", action="store_true", help="print only regressions and errors")
    p.set_defaults(handler=run)


def suite_dir(name: str) -> Path:
    candidates = [Path(name), Path("scenarios/bench") / name, REPO_SCENARIOS / "bench" / name]
    for c in candidates:
        if c.is_dir():
            return c
    known = sorted(p.name for p in (REPO_SCENARIOS / "bench").iterdir() if p.is_dir()) \
        if (REPO_SCENARIOS / "bench").is_dir() else []
    raise UsageError(f"--suite {name}: no such suite (known: {', '.join(known)}, "
                     "or a directory)")


def suite_scenarios(directory: Path) -> list[Scenario]:
    """The suite's scenario files plus its run-time books (:data:`RUNTIME_BOOKS`)."""
    from dataclasses import replace

    from coordinator.scenarios import BenchOptions
    from solver_models.generator import Recipe
    from solver_models.params import SolverParams

    scenarios = [load(p) for p in scenario_files(directory)]
    runtime = RUNTIME_BOOKS.get(directory.resolve().name, ())
    names = {s.name for s in scenarios}
    recipes = [s for s in scenarios if s.recipe is not None]
    template = max(recipes, key=lambda s: (s.size, s.name)) if recipes else None
    for name, orders in runtime:
        if name in names:
            continue
        if template is not None:
            assert template.recipe is not None
            recipe = replace(template.recipe, orders=orders)
            params, bench, what = template.params, template.bench, template.name
        else:
            recipe = Recipe(seed=RUNTIME_SEED, orders=orders)
            params, bench, what = SolverParams(), BenchOptions(repeat=1), "the default recipe"
        scenarios.append(Scenario(directory / f"{name}.generated", name,
                                  f"{orders:,} orders generated at run time ({what} with "
                                  f"orders={orders})", params, recipe, bench=bench))
    return scenarios


def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    try:
        highs = version("highspy")
    except PackageNotFoundError:
        highs = "?"
    return {"host": platform.node(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "highspy": highs}


def bench_one(s: Scenario, repeat: int, reference: bool,
              reference_time_limit: float = 60.0) -> dict[str, Any]:
    from solver_models import solve

    t0 = time.perf_counter()
    book = s.book
    generate_seconds = time.perf_counter() - t0
    walls, builds, solves, volumes = [], [], [], set()
    outcome = None
    from auction.result import surplus, volume

    for _ in range(repeat):
        t0 = time.perf_counter()
        outcome = solve(book, s.params)
        walls.append(time.perf_counter() - t0)
        timings = outcome.timings()
        builds.append(timings.get("build", 0.0))
        solves.append(timings.get("solve", 0.0))
        volumes.add(volume(book, outcome.result))
    assert outcome is not None
    report = run_check(book, outcome.result, s.params)
    row: dict[str, Any] = {
        "book": s.name, "description": s.description, "orders": len(book.orders),
        "contracts": len(book.contracts), "repeat": repeat,
        "generate_seconds": round(generate_seconds, 4),
        "wall_median": round(statistics.median(walls), 4),
        "wall_runs": [round(w, 4) for w in walls],
        "build_median": round(statistics.median(builds), 4),
        "solve_median": round(statistics.median(solves), 4),
        "status": str(outcome.status), "volume": volume(book, outcome.result),
        "surplus": surplus(book, outcome.result), "fills": len(outcome.result.fills),
        "uncleared": len(outcome.result.uncleared), "deterministic": len(volumes) == 1,
        "check_ok": report.ok, "violations": [str(v) for v in report.violations[:10]],
    }
    if reference:
        ref: dict[str, Any] = {}
        try:
            t0 = time.perf_counter()
            limit = min(s.params.time_limit, reference_time_limit)
            r = solve(book, s.params.with_overrides({"formulation": "bigm",
                                                     "time_limit": str(limit)}))
            ref = {"wall": round(time.perf_counter() - t0, 4), "status": str(r.status),
                   "volume": volume(book, r.result), "error": ""}
        except Exception as e:  # the reference model is a comparison, not a gate
            ref = {"wall": None, "status": None, "volume": None,
                   "error": f"{type(e).__name__}: {e}"}
        row["reference"] = ref
    return row


def same_machine(recorded: Any, here: dict[str, Any]) -> bool:
    """Whether a baseline's timings were recorded on this machine (host, platform, processor,
    CPUs)."""
    return isinstance(recorded, dict) and all(
        recorded.get(k) == here.get(k) for k in ("host", "platform", "processor", "cpus"))


def compare(rows: list[dict[str, Any]], baseline: dict[str, Any], tolerance: float,
            min_slowdown: float, timings: bool = True) -> tuple[list[str], list[str]]:
    """(regressions, notes) against a baseline report: a lower volume or another status is a
    regression on any machine; a slowdown only when ``timings`` (the baseline's timings were
    recorded on this machine: they are machine-bound)."""
    base = {b["book"]: b for b in baseline.get("books", []) if isinstance(b, dict)}
    regressions, notes = [], []
    for row in rows:
        b = base.get(row["book"])
        if b is None:
            notes.append(f"{row['book']}: not in the baseline")
            continue
        if b.get("orders") != row["orders"]:
            notes.append(f"{row['book']}: the baseline's book had {b.get('orders')} orders, "
                         f"this one {row['orders']} (recipe changed?)")
        if "status" in b and b["status"] != row["status"]:
            regressions.append(f"{row['book']}: status {row['status']}, {b['status']} in the "
                               f"baseline")
        if int(row["volume"]) > int(b["volume"]):
            notes.append(f"{row['book']}: more volume than the baseline ({row['volume']} lots "
                         f"against {b['volume']}): remake the baseline if this is meant")
        old, new = float(b["wall_median"]), float(row["wall_median"])
        if timings and new > old * (1 + tolerance) and new - old > min_slowdown:
            regressions.append(
                f"{row['book']}: slower, {new:.3f} s against {old:.3f} s in the baseline "
                f"(+{(new / old - 1) * 100 if old else float('inf'):.0f} %, "
                f"tolerance {tolerance * 100:.0f} %)")
        if int(row["volume"]) < int(b["volume"]):
            lost = int(b["volume"]) - int(row["volume"])
            regressions.append(f"{row['book']}: lost volume, {row['volume']} lots against "
                               f"{b['volume']} in the baseline (−{lost} lots, "
                               f"−{lost / int(b['volume']) * 100:.1f} %)")
    return regressions, notes


def baseline_problem(baseline: Any) -> str | None:
    """Why ``baseline`` is not a bench report (None when it is one)."""
    if not isinstance(baseline, dict) or not isinstance(baseline.get("books"), list):
        return "no 'books' list"
    for i, b in enumerate(baseline["books"]):
        if not isinstance(b, dict) or not isinstance(b.get("book"), str):
            return f"books[{i}]: no book name"
        try:
            float(b["wall_median"])
            int(b["volume"])
        except (KeyError, TypeError, ValueError, OverflowError):
            return f"books[{i}]: needs wall_median (seconds) and volume (lots)"
    return None


def run(args: argparse.Namespace) -> int:
    if args.repeat is not None and args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if args.tolerance < 0:
        raise UsageError("--tolerance must not be negative")
    baseline = None
    if args.baseline is not None:
        try:
            baseline = read_json(args.baseline)
        except ScenarioError as e:
            raise UsageError("--baseline " + problems_text(e.problems, f"{e.file}: ")) from None
        problem = baseline_problem(baseline)
        if problem:
            raise UsageError(f"--baseline {args.baseline}: not a bench report ({problem})")
    directory = suite_dir(args.suite)
    scenarios = suite_scenarios(directory)
    if args.max_orders is not None:
        scenarios = [s for s in scenarios if s.size <= args.max_orders]
    if args.only:
        missing = sorted(set(args.only) - {s.name for s in scenarios})
        if missing:
            raise UsageError(f"--only {', '.join(missing)}: not in the suite {directory}")
        scenarios = [s for s in scenarios if s.name in args.only]
    if not scenarios:
        raise UsageError(f"--suite {args.suite}: no scenario files in {directory}")
    scenarios.sort(key=lambda s: (s.size, s.name))

    from tqdm import tqdm

    rows = []
    bar = tqdm(scenarios, desc="bench", unit="book", disable=args.quiet, file=sys.stderr)
    for s in bar:
        bar.set_postfix_str(s.name)
        repeat = args.repeat or s.bench.repeat or DEFAULT_REPEAT
        reference = {"on": True, "off": False}.get(args.reference)
        if reference is None:
            reference = (s.bench.reference if s.bench.reference is not None
                         else s.size <= args.reference_max_orders)
        rows.append(bench_one(s, repeat, reference, args.reference_time_limit))
    bar.close()

    here = machine()
    report = {"suite": str(directory), "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": here, "command": "ccp " + " ".join(sys.argv[1:])
              if sys.argv and Path(sys.argv[0]).name == "ccp" else "ccp bench", "books": rows}
    timings = args.timings == "on" or (args.timings == "auto" and baseline is not None
                                       and same_machine(baseline.get("machine"), here))
    regressions, notes = ([], []) if baseline is None else compare(
        rows, baseline, args.tolerance, args.min_slowdown, timings)
    if baseline is not None and not timings:
        notes.append("timings not compared: the baseline was recorded on another machine "
                     "(--timings on to compare anyway)")
    failed_checks = [r["book"] for r in rows if not r["check_ok"]]
    if baseline is not None:
        report["baseline"] = {"file": str(args.baseline), "date": baseline.get("date"),
                              "machine": baseline.get("machine"), "regressions": regressions,
                              "notes": notes}
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=1) + "\n")
    if args.write_baseline:
        args.write_baseline.parent.mkdir(parents=True, exist_ok=True)
        base = {**report, "how": "written by `ccp bench --write-baseline` on the machine above; "
                "remake it on the machine that compares (timings are per machine): "
                f".venv/bin/ccp bench --suite {args.suite} --write-baseline {args.write_baseline}"}
        base.pop("baseline", None)
        args.write_baseline.write_text(json.dumps(base, indent=1) + "\n")

    if not args.quiet:
        print_table(rows)
        for n in notes:
            print(f"note: {n}")
        if baseline is not None and not regressions:
            print(f"baseline   no regressions against {args.baseline} "
                  f"(tolerance {args.tolerance * 100:.0f} %)")
        if args.json_out:
            print(f"report     {args.json_out}")
        if args.write_baseline:
            print(f"baseline   written to {args.write_baseline}")
    for r in regressions:
        print(f"REGRESSION {r}", file=sys.stderr)
    for b in failed_checks:
        print(f"CHECK FAILED {b}: " + "; ".join(next(r for r in rows if r["book"] == b)
                                                ["violations"][:3]), file=sys.stderr)
    return EXIT_VIOLATION if regressions or failed_checks else EXIT_OK


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'book':<20} {'orders':>7} {'runs':>4} {'wall med':>9} {'build':>8} {'solve':>8} "
            f"{'volume':>9} {'status':<11} {'check':<5} | {'bigm wall':>9} {'bigm vol':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ref = r.get("reference")
        if ref is None:
            rw, rv = "-", "-"
        elif ref["error"]:
            rw, rv = "error", ""
        else:
            rw, rv = f"{ref['wall']:.3f}s", str(ref["volume"])
        print(f"{r['book']:<20} {r['orders']:>7} {r['repeat']:>4} {r['wall_median']:>8.3f}s "
              f"{r['build_median']:>7.3f}s {r['solve_median']:>7.3f}s {r['volume']:>9} "
              f"{r['status']:<11} {'ok' if r['check_ok'] else 'FAIL':<5} | {rw:>9} {rv:>9}")
    for r in rows:
        ref = r.get("reference")
        if ref and ref["error"]:
            print(f"reference model on {r['book']}: {ref['error']}")
