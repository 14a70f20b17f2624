"""Every model the engine hands HiGHS on a book: record them, compare two runs, verify optima.

    python scripts/highs_calls.py record DIR BOOK     solve BOOK (its scenario's parameters),
                                                      saving each HiGHS call's model, options,
                                                      status, objective and solution in DIR
    python scripts/highs_calls.py diff OLD_DIR NEW_DIR   pair the calls of two runs by model
                                                      (identical arrays) and print where they
                                                      part: same model with another solution
                                                      or objective, models only in one run
    python scripts/highs_calls.py verify DIR...       re-solve every MIP a run reported optimal
                                                      with presolve off, no node limit and
                                                      mip_rel_gap 0 (the running HiGHS); print
                                                      each whose objective differs
    python scripts/highs_calls.py times BOOK [N]      solve BOOK N times (3): process CPU of each
                                                      solve, and the minimum over the runs of the
                                                      HiGHS thread CPU per stage (the engine
                                                      function that asked), the load average
    python scripts/highs_calls.py replay DIR I [KEY=VALUE...]   solve call I of a recorded run
                                                      again with its options (and these HiGHS
                                                      options over them), HiGHS's log on: where
                                                      a slow call's time goes (stop 29)
    python scripts/highs_calls.py seeds K BOOK...     solve each BOOK once per HiGHS random_seed
                                                      0 … K−1: HiGHS thread CPU of each solve
                                                      and the mean — a change's effect against
                                                      the spread of HiGHS's path (stop 31)
    python scripts/highs_calls.py sweep SEEDS DIR... [-- NAME:KEY=VALUE,... ...]
                                                      re-solve every recorded allocation MIP
                                                      (stage ``_allocation_mip``, 5 ms or more)
                                                      of the runs DIR on HiGHS random_seed
                                                      0 … SEEDS−1, with its options and each
                                                      set's over them (``base``: none): thread
                                                      CPU per call, mean and range over the
                                                      seeds, and "=" where seed 0 returns the
                                                      recorded x ("x" another solution, "!"
                                                      another objective) — an option's effect
                                                      against the seed's own spread (stop 31)

BOOK is a scenario file, or ``campaign:SEED:N`` — book N of ``scripts/campaign.py --seed SEED``
(its recipe drawn as the campaign draws it, solved with ``SolverParams()`` as there).

Run from the checkout to measure (the repo root goes on sys.path), with the HiGHS to measure
on the path: e.g. ``PYTHONPATH=/tmp/h16`` after ``pip install --target /tmp/h16 --no-deps
highspy==X`` runs another version beside the pinned one. Used to decide the HiGHS version
(README, stop 23): which results differ because HiGHS returned another of several optima (a
tie), which because a limit stopped it elsewhere, and whether any "optimal" was not.
"""
from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path.cwd()))

ARRAYS = ("c", "data", "indices", "indptr", "shape", "row_lo", "row_hi", "col_lo", "col_hi",
          "integer", "maximize")


def _load(book: str):
    """The book and parameters of a scenario file or of ``campaign:SEED:N``."""
    if book.startswith("campaign:"):
        from types import SimpleNamespace

        from solver_models import SolverParams
        from solver_models.generator import generate_book

        sys.path.insert(0, str(Path(__file__).parent))
        import campaign

        seed, n = (int(v) for v in book.split(":")[1:])
        return SimpleNamespace(book=generate_book(campaign.recipes(seed, n + 1)[n]),
                               params=SolverParams())
    from venue.cli.solve import load

    return load(Path(book))


def _record(out: Path, book: str) -> None:
    from solver_models import highs, solve

    out.mkdir(parents=True, exist_ok=True)
    original = highs.solve
    lock = threading.Lock()
    index: list[dict] = []

    def recording(model, params, time_limit, cancel=None, options=None, start=None):
        t = time.thread_time()  # the HiGHS call's own thread: CPU, whatever else runs
        sol = original(model, params, time_limit, cancel, options, start)
        seconds = time.thread_time() - t
        a = model.a.tocsc()
        integer = model.integer if model.integer is not None else np.zeros(0, bool)
        with lock:
            i = len(index)
            index.append({"i": i, "stage": traceback.extract_stack()[-2].name,
                          "caller": _caller(),
                          "options": dict(options or {}), "status": sol.status,
                          "objective": sol.objective, "bound": sol.bound, "size": model.size,
                          "thread_seconds": seconds, "start": start is not None})
        np.savez(out / f"{i:04d}.npz", c=model.c, data=a.data, indices=a.indices,
                 indptr=a.indptr, shape=np.array(a.shape), row_lo=model.row_lo,
                 row_hi=model.row_hi, col_lo=model.col_lo, col_hi=model.col_hi,
                 integer=integer, maximize=np.array(model.maximize),
                 x=sol.x if sol.x is not None else np.zeros(0),
                 start=np.asarray(start, dtype=float) if start is not None else np.zeros(0))
        return sol

    highs.solve = recording
    try:
        s = _load(book)
        outcome = solve(s.book, s.params)
    finally:
        highs.solve = original
    (out / "index.json").write_text(json.dumps(index, indent=0))
    print(f"{book}: {outcome.status}, {len(index)} HiGHS calls recorded in {out}")


# the engine's functions that ask HiGHS, the most specific first: a call is counted under
# the first of them on its stack (least loss's allocation MIPs under least_loss, the direct
# route's under _allocate_and_price, the probe's under _probe)
CALLERS = ("local_mip", "least_loss", "grid_reachable", "grid_classification",
           "price_selection", "_unbalanced", "_probe", "_allocate_and_price", "welfare_lp")


def _caller() -> str:
    names = {f.name for f in traceback.extract_stack()}
    return next((n for n in CALLERS if n in names), traceback.extract_stack()[-3].name)


@contextmanager
def _timed():
    """Within it every HiGHS solve of the engine is timed: yields the list that gets
    (the engine function that asked, HiGHS thread CPU seconds) per solve."""
    from solver_models import highs

    original = highs.solve
    lock = threading.Lock()
    spent: list[tuple[str, float]] = []

    def timing(model, params, time_limit, cancel=None, options=None, start=None):
        t = time.thread_time()
        sol = original(model, params, time_limit, cancel, options, start)
        seconds = time.thread_time() - t
        with lock:
            spent.append((_caller(), seconds))
        return sol

    highs.solve = timing
    try:
        yield spent
    finally:
        highs.solve = original


def _times(book: str, runs: int) -> None:
    import os

    from solver_models import solve

    s = _load(book)
    cpu, per_run = [], []
    with _timed() as spent:
        for _ in range(runs):
            spent.clear()
            c0 = time.process_time()
            outcome = solve(s.book, s.params)
            cpu.append(time.process_time() - c0)
            by: dict[str, list[float]] = {}
            for name, seconds in spent:
                by.setdefault(name, []).append(seconds)
            per_run.append(by)
    load1 = os.getloadavg()[0]
    print(f"{book}: {outcome.status}, process CPU {' / '.join(f'{c:.3f}' for c in cpu)} s "
          f"(min {min(cpu):.3f}), HiGHS thread CPU min "
          f"{min(sum(map(sum, by.values())) for by in per_run):.3f} s, load {load1:.2f}")
    for name in sorted(set().union(*per_run), key=lambda n: -min(
            sum(by.get(n, [0.0])) for by in per_run)):
        calls = per_run[0].get(name, [])
        print(f"  {name:22s} {len(calls):4d} calls  min {min(sum(by.get(name, [0.0])) for by in per_run):.3f} s"
              f"  largest {max(calls, default=0.0):.3f} s")


def _seeds(k: int, books: list[str]) -> None:
    import os

    from solver_models import solve

    with _timed() as spent:
        for book in books:
            s = _load(book)
            per = []
            for seed in range(k):
                spent.clear()
                solve(s.book, replace(s.params, random_seed=seed))
                per.append(sum(seconds for _, seconds in spent))
            print(f"{book}: HiGHS thread CPU mean {np.mean(per):.3f} s over seeds 0-{k - 1}: "
                  f"{' / '.join(f'{p:.3f}' for p in per)}; load {os.getloadavg()[0]:.2f}",
                  flush=True)


def _calls(run: Path) -> list[dict]:
    calls = json.loads((run / "index.json").read_text())
    for e in calls:
        z = np.load(run / f"{e['i']:04d}.npz")
        h = hashlib.sha1()
        for k in ARRAYS:
            h.update(np.ascontiguousarray(z[k]).tobytes())
        e["hash"], e["x"] = h.hexdigest(), z["x"]
    return calls


def _diff(old_run: Path, new_run: Path) -> None:
    old, new = _calls(old_run), _calls(new_run)
    unpaired = {}
    for e in new:
        unpaired.setdefault(e["hash"], []).append(e)
    for e in old:
        head = f"{e['stage']:24s} {e['size']:44s}"
        twins = unpaired.get(e["hash"])
        if not twins:
            print(f"old#{e['i']:<4d}          {head} {e['status']} {e['objective']}: "
                  f"model only in old")
            continue
        f = twins.pop(0)
        notes = []
        if e["status"] != f["status"]:
            notes.append(f"status {e['status']} -> {f['status']}")
        a, b = e["objective"], f["objective"]
        if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-6 * max(1, abs(a))):
            notes.append(f"objective {a} -> {b}")
        if e["x"].shape != f["x"].shape or not np.allclose(e["x"], f["x"], atol=1e-7):
            notes.append("another solution")
        print(f"old#{e['i']:<4d} new#{f['i']:<4d} {head} {e['status']}"
              + (": " + "; ".join(notes) if notes else ""))
    for twins in unpaired.values():
        for f in twins:
            print(f"         new#{f['i']:<4d} {f['stage']:24s} {f['size']:44s} {f['status']} "
                  f"{f['objective']}: model only in new")


def _model(z):
    from solver_models.highs import ArrayModel

    a = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    return ArrayModel(z["c"], a, z["row_lo"], z["row_hi"], z["col_lo"], z["col_hi"],
                      z["integer"].astype(bool), bool(z["maximize"]))


def _replay(run: Path, i: int, sets: list[str]) -> None:
    import os

    from solver_models import SolverParams, highs

    e = json.loads((run / "index.json").read_text())[i]
    z = np.load(run / f"{i:04d}.npz")
    options = dict(e["options"])
    for item in sets:
        key, value = item.split("=", 1)
        options[key] = json.loads(value) if value not in ("true", "false") else value == "true"
    configure = highs._configure

    def logging(h, params, time_limit, given):
        refused = configure(h, params, time_limit, given)
        h.setOptionValue("output_flag", True)
        return refused

    highs._configure = logging
    try:
        c0 = time.process_time()
        sol = highs.solve(_model(z), SolverParams(), 1e6, options=options,
                          start=z["start"] if e["start"] else None)
        cpu = time.process_time() - c0
    finally:
        highs._configure = configure
    print(f"#{i} {e['caller']} {e['size']} {options}: {sol.status} {sol.objective} "
          f"(recorded: {e['status']} {e['objective']}, {e['thread_seconds']:.2f} s); "
          f"CPU {cpu:.2f} s, load {os.getloadavg()[0]:.2f}")


def _option(text: str) -> dict:
    """``NAME:KEY=VALUE,...`` as (NAME, {KEY: VALUE}); values JSON (true/false as bools)."""
    name, _, rest = text.partition(":")
    pairs = (item.split("=", 1) for item in rest.split(",") if item)
    return name, {k: json.loads(v) for k, v in pairs}


def _sweep(seeds: int, runs: list[Path], sets: dict[str, dict]) -> None:
    import os

    from solver_models import SolverParams, highs

    totals = dict.fromkeys(sets, 0.0)
    for run in runs:
        for e in json.loads((run / "index.json").read_text()):
            if e["stage"] != "_allocation_mip" or e["thread_seconds"] < 0.005:
                continue
            z = np.load(run / f"{e['i']:04d}.npz")
            model, start = _model(z), z["start"] if e["start"] else None
            line = f"{run.name} #{e['i']} {e['caller']} {e['size']}:"
            for name, extra in sets.items():
                spent, mark = [], ""
                for seed in range(seeds):
                    t = time.thread_time()
                    sol = highs.solve(model, SolverParams(), 1e6, start=start,
                                      options={**e["options"], **extra, "random_seed": seed})
                    spent.append(time.thread_time() - t)
                    if seed == 0:
                        mark = ("!" if sol.objective is None or abs(sol.objective - e["objective"])
                                > 1e-6 * max(1.0, abs(e["objective"])) else
                                "=" if np.allclose(sol.x, z["x"], atol=1e-6) else "x")
                totals[name] += float(np.mean(spent))
                line += (f" {name} {np.mean(spent):.3f} [{min(spent):.3f}, {max(spent):.3f}]"
                         f" {mark}")
            print(line, flush=True)
    print("sum of means: " + ", ".join(f"{k} {v:.3f} s" for k, v in totals.items())
          + f"; load {os.getloadavg()[0]:.2f}")


def _verify(runs: list[Path]) -> int:
    import highspy

    from solver_models import SolverParams
    from solver_models.highs import solve

    version = highspy.Highs().version()
    wrong = 0
    for run in runs:
        calls = json.loads((run / "index.json").read_text())
        checked = differ = 0
        for e in calls:
            z = np.load(run / f"{e['i']:04d}.npz")
            if e["status"] != "optimal" or not z["integer"].any():
                continue
            model = _model(z)
            options = {k: v for k, v in e["options"].items() if k != "mip_max_nodes"}
            options["mip_rel_gap"] = 0.0
            ref = solve(model, replace(SolverParams(), presolve="off"), 120, options=options)
            checked += 1
            if ref.status != "optimal":
                note = f"reference {ref.status}"
            elif abs(e["objective"] - ref.objective) > 1e-6 * max(1.0, abs(ref.objective)):
                note = "DIFFERS"
            else:
                continue
            differ += 1
            relative = e["options"].get("mip_rel_gap")
            print(f"{run.name} #{e['i']} {e['stage']} {e['size']}: recorded optimal "
                  f"{e['objective']} (bound {e['bound']}"
                  + (f", run with mip_rel_gap {relative}" if relative else "")
                  + f") | presolve off, mip_rel_gap 0: {ref.status} {ref.objective} {note}")
        wrong += differ
        print(f"{run.name}: HiGHS {version}: {checked} MIPs re-solved, {differ} differ")
    return 1 if wrong else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "record":
        _record(Path(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        _diff(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "times":
        _times(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 3)
    elif len(sys.argv) >= 4 and sys.argv[1] == "replay":
        _replay(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "seeds":
        _seeds(int(sys.argv[2]), sys.argv[3:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "sweep":
        args = sys.argv[3:]
        cut = args.index("--") if "--" in args else len(args)
        _sweep(int(sys.argv[2]), [Path(p) for p in args[:cut]],
               dict([("base", {})] + [_option(t) for t in args[cut + 1:]]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "verify":
        sys.exit(_verify([Path(p) for p in sys.argv[2:]]))
    else:
        sys.exit(__doc__)
