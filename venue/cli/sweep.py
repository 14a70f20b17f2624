"""``ccp sweep`` — every combination of a parameter grid, one solve per task, on Dask.

By default a local cluster on this machine (2 worker processes, one thread each); with
``--scheduler ADDRESS`` the tasks go to an existing cluster (its workers need this package
installed). Books travel as interchange dicts (scattered once), recipes as recipes (generated
on the worker). The result is a tidy table, one row per run (CSV and Parquet), a summary, and
plots: time and volume against each swept key, time against book size.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import socket
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from auction.interchange import book_to_dict
from coordinator.scenarios import Scenario
from solver_models.generator import Recipe, RecipeError
from solver_models.params import ParamsError, SolverParams
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError
from venue.cli.solve import add_output_arguments, load, parse_assignments

RECIPE_PREFIX = "recipe."


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sweep", help="solve scenarios over a parameter grid on a Dask cluster",
        description="Run every combination of the --grid values on every scenario (one solve "
                    "per task) through Dask distributed; write runs.csv and runs.parquet (one "
                    "row per run), print a summary and draw plots. Keys are solver parameters "
                    "(or highs.<option>), or recipe.<field> for generated scenarios. "
                    "Exit 0 ok, 1 a run failed or a check failed, 2 bad input.")
    p.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO",
                   help="scenario files (books, YAML books or recipes) to sweep")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a swept key and its values (repeatable; the grid is their product)")
    p.add_argument("--repeat", type=int, default=1, metavar="R",
                   help="solve every combination R times (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                        "(default: start a local cluster)")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes of the local cluster (default 2)")
    p.add_argument("--check", action="store_true",
                   help="also run the equilibrium check on every result (column check_ok)")
    p.add_argument("-o", "--out", type=Path, default=Path("out/sweep"), metavar="DIR",
                   help="output directory (default out/sweep)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_output_arguments(p)
    p.set_defaults(handler=run)


# ------------------------------------------------------------------ the grid


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for key, text in parse_assignments(items, "--grid").items():
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not values:
            raise UsageError(f"--grid {key}: no values")
        grid[key] = values
    return grid


def _recipe_with(recipe: Recipe, assignments: dict[str, str]) -> Recipe:
    known = {f.name: str(f.type) for f in fields(Recipe)}
    values = recipe.to_dict()
    for key, text in assignments.items():
        name = key.removeprefix(RECIPE_PREFIX)
        if name not in known:
            raise UsageError(f"--grid {key}: not a recipe field (known: {', '.join(known)})")
        typ = known[name]
        try:
            if typ == "int":
                values[name] = int(text)
            elif typ == "float":
                values[name] = float(text)
            elif typ == "bool":
                values[name] = text.lower() in ("true", "on", "yes", "1")
            else:
                values[name] = text
        except ValueError:
            raise UsageError(f"--grid {key}={text}: expected a {typ}") from None
    try:
        return Recipe.from_dict(values)
    except RecipeError as e:
        raise UsageError(f"--grid: {e}") from None


def plan(scenarios: list[Scenario], grid: dict[str, list[str]], repeat: int,
         check: bool) -> list[dict[str, Any]]:
    """Every task as a plain dict (validated here, so bad input fails before any work)."""
    keys = list(grid)
    tasks: list[dict[str, Any]] = []
    for s in scenarios:
        if any(k.startswith(RECIPE_PREFIX) for k in keys) and s.recipe is None:
            raise UsageError(f"{s.path}: recipe.* keys need a generated scenario (a recipe)")
        for values in itertools.product(*(grid[k] for k in keys)):
            combo = dict(zip(keys, values, strict=True))
            solver = {k: v for k, v in combo.items() if not k.startswith(RECIPE_PREFIX)}
            recipe = {k: v for k, v in combo.items() if k.startswith(RECIPE_PREFIX)}
            try:
                params = s.params.with_overrides(solver)
            except ParamsError as e:
                raise UsageError(f"--grid: {e}") from None
            r = _recipe_with(s.recipe, recipe) if s.recipe is not None else None
            for i in range(repeat):
                tasks.append({"run": len(tasks), "scenario": s.name, "combo": combo, "repeat": i,
                              "params": params.to_dict(), "check": check,
                              "recipe": r.to_dict() if r is not None else None})
    return tasks


# ------------------------------------------------------------------ one task (on a worker)


def run_one(task: dict[str, Any], book_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Solve one combination; never raises (an error becomes the row's ``error``)."""
    row: dict[str, Any] = {"run": task["run"], "scenario": task["scenario"], **task["combo"],
                           "repeat": task["repeat"], "worker": f"{socket.gethostname()}:"
                                                               f"{os.getpid()}"}
    try:
        from auction.interchange import book_from_dict
        from auction.result import surplus, volume
        from solver_models import solve
        from solver_models.generator import generate_book

        t0 = time.perf_counter()
        if task["recipe"] is not None:
            book = generate_book(Recipe.from_dict(task["recipe"]))
        else:
            book = book_from_dict(book_data)[0]
        row["prepare_seconds"] = time.perf_counter() - t0
        params = SolverParams.from_dict(task["params"])
        row.update(orders=len(book.orders), contracts=len(book.contracts))
        t0 = time.perf_counter()
        outcome = solve(book, params)
        row["wall_seconds"] = time.perf_counter() - t0
        timings = outcome.timings()
        row.update(status=str(outcome.status), volume=volume(book, outcome.result),
                   surplus=surplus(book, outcome.result), fills=len(outcome.result.fills),
                   uncleared=len(outcome.result.uncleared), components=outcome.components,
                   build_seconds=timings.get("build", 0.0),
                   solve_seconds=timings.get("solve", 0.0), error="")
        if task["check"]:
            from validator.equilibrium import check

            report = check(book, outcome.result, replication=params.replication,
                           bands=params.price_band == "clip")
            row["check_ok"] = report.ok
            row["violations"] = len(report.violations)
    except Exception as e:  # a failed run is a row, not a lost sweep
        row["error"] = f"{type(e).__name__}: {e}"
    return row


# ------------------------------------------------------------------ the command


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    grid = parse_grid(args.grid)
    scenarios = [load(p) for p in args.scenarios]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):  # rows are keyed by name: make them unique
        scenarios = [Scenario(s.path, f"{s.name}#{i}", s.description, s.params, s.recipe,
                              s.expect, s.bench, s._book) for i, s in enumerate(scenarios)]
    tasks = plan(scenarios, grid, args.repeat, args.check)
    rows = _execute(args, scenarios, tasks)

    import pandas as pd

    table = pd.DataFrame(rows)
    for column in ("status", "error", "check_ok", "orders", "wall_seconds", "volume"):
        if column not in table:
            table[column] = None
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = args.out / "runs.csv", args.out / "runs.parquet"
    table.to_csv(csv_path, index=False)
    _to_parquet(table, parquet_path)
    ok = table[table["error"].fillna("") == ""]
    plots: list[Path] = []
    if not args.no_plots and len(ok):
        from coordinator.plots import sweep_plots

        plots = sweep_plots(_numeric_keys(ok, list(grid)), list(grid), args.out)
    errors = table[table["error"].fillna("") != ""]
    failed_checks = table[table["check_ok"] == False]  # noqa: E712 (pandas)
    group = ["scenario", *grid]
    summary = (ok.groupby(group, sort=False, dropna=False)
               .agg(runs=("wall_seconds", "size"), orders=("orders", "first"),
                    median_s=("wall_seconds", "median"), volume=("volume", "median"),
                    status=("status", lambda s: ",".join(sorted(set(s)))))
               .reset_index()) if len(ok) else pd.DataFrame()
    if args.as_json:
        print(json.dumps({"runs": len(table), "errors": len(errors),
                          "failed_checks": len(failed_checks), "csv": str(csv_path),
                          "parquet": str(parquet_path), "plots": [str(p) for p in plots],
                          "summary": json.loads(summary.to_json(orient="records"))}))
    elif not args.quiet:
        print(f"{len(table)} run(s) of {len(scenarios)} scenario(s) × "
              f"{len(tasks) // max(1, len(scenarios) * args.repeat)} combination(s) × "
              f"{args.repeat} repeat(s)")
        if len(summary):
            print(summary_text(summary))
        for _, r in errors.iterrows():
            print(f"error: {r['scenario']} {dict((k, r[k]) for k in grid)}: {r['error']}")
        if len(failed_checks):
            print(f"check failed on {len(failed_checks)} run(s)")
        print(f"table      {csv_path}, {parquet_path}")
        for p in plots:
            print(f"plot       {p}")
    return EXIT_VIOLATION if len(errors) or len(failed_checks) else EXIT_OK


def summary_text(summary: Any) -> str:
    """The summary table: counts and lots (medians of integers) as integers when whole,
    seconds to four significant digits."""
    out = summary.copy()
    for column in out.columns:
        if column == "median_s" or out[column].dtype.kind != "f":
            continue
        if out[column].dropna().map(float.is_integer).all():
            out[column] = out[column].astype("Int64")
    return out.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _to_parquet(table: Any, path: Path) -> None:
    # swept values may mix types across keys' columns: keep each column one type
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: v if v is None else str(v))
    out.to_parquet(path, index=False)


def _numeric_keys(table: Any, keys: list[str]) -> Any:
    import pandas as pd

    out = table.copy()
    for k in keys:
        converted = pd.to_numeric(out[k], errors="coerce")
        if converted.notna().all():
            out[k] = converted
    return out


def _warm_up() -> None:
    import solver_models.pipeline  # noqa: F401
    import validator.equilibrium  # noqa: F401


def _execute(args: argparse.Namespace, scenarios: list[Scenario],
             tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    cluster = None
    try:
        if args.scheduler:
            try:
                client = Client(args.scheduler, timeout="5s")
            except (OSError, TimeoutError) as e:
                raise UsageError(f"--scheduler {args.scheduler}: cannot connect ({e})") from None
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        try:
            client.run(_warm_up)  # imports on every worker, so the first run is not slower
            books = {s.name: client.scatter(book_to_dict(s.book)) for s in scenarios
                     if s.recipe is None}
            futures = [client.submit(run_one, t, books.get(t["scenario"]), pure=False)
                       for t in tasks]
            rows = []
            quiet = args.quiet or args.as_json
            with tqdm(total=len(futures), desc="sweep", unit="run", disable=quiet,
                      file=sys.stderr) as bar:
                for future in as_completed(futures):
                    rows.append(future.result())
                    bar.update(1)
            return sorted(rows, key=lambda r: r["run"])
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
