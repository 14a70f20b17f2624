"""Solve books and record what the spec orders, to compare two versions of the engine.

    python scripts/objectives.py solve [--seed N] OUT.json BOOK...   (from the checkout to
                                       measure; the repo root on sys.path; --seed: HiGHS's
                                       random_seed instead of the scenario's)
    python scripts/objectives.py compare OLD.json NEW.json [NOISE.json]

``solve`` records per book: status, the objective tuple of auction.md §4 rules 4–6 as the
property tests define it (``tests/solver_models/test_pipeline_properties._objectives``:
volume, rounding / priority loss, unfilled lots not out of the money, reference distance), the
prices and fills, the independent check (parity and probe on, its defaults), process CPU time,
wall time and the stage timings. ``compare`` prints per book whether the results are equal, or
else whether they tie on every objective (and the check passes on both), and exits 1 when a
changed result changes an objective value or fails the check. A changed objective is ranked as
auction.md §4a orders them: the priority loss (the rounding above) first, then volume, surplus,
reference distance — "BETTER/WORSE at <level>" names the first level that differs. A last
line tallies the books (identical / tied / better / worse, per level) and the CPU seconds.

Which of several optimal answers HiGHS returns depends on its path, and the answer moves the
later stages: with the engine unchanged, another HiGHS ``random_seed`` makes 13–15 of 60
campaign books worse (4–5 at the priority loss) and as many better (stop 31, knap17). So a
change that moves HiGHS's path is judged against that noise: ``NOISE.json`` — OLD's engine
solved with ``solve --seed N`` — adds the same tally for OLD → NOISE beside NEW's.
"""
from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))


#: auction.md §4a, then rules 4–6: (level, index in a row's "objectives", +1 when more is better)
LEVELS = (("priority loss", 1, -1), ("volume", 0, +1), ("surplus", 2, -1), ("distance", 3, -1))


def rank(old: list, new: list) -> str:
    """``TIE`` when every level is equal, else ``BETTER``/``WORSE at <level>`` (the first level
    whose value differs, in the spec's order)."""
    for name, i, sign in LEVELS:
        a, b = Fraction(old[i]), Fraction(new[i])
        if a != b:
            return f"{'BETTER' if (b - a) * sign > 0 else 'WORSE'} at {name}"
    return "TIE"


def _solve(out: Path, books: list[str], repeat: int = 1, seed: int | None = None) -> None:
    from dataclasses import replace

    from solver_models import solve
    from tests.solver_models.test_pipeline_properties import _objectives
    from validator.equilibrium import check
    from venue.cli.solve import load

    rows = {}
    for path in books:
        s = load(Path(path))
        book = s.book
        params = s.params if seed is None else replace(s.params, random_seed=seed)
        cpus, walls = [], []
        for _ in range(repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            outcome = solve(book, params)
            cpus.append(time.process_time() - c0)
            walls.append(time.perf_counter() - w0)
        res = outcome.result
        report = check(book, res, replication=params.replication,
                       bands=params.price_band == "clip")
        vol, rounding, unfilled, distance = _objectives(book, res)
        stages: dict[str, float] = {}
        for r in outcome.stages:
            stages[r.name] = stages.get(r.name, 0.0) + r.build_seconds + r.solve_seconds
        rows[path] = {
            "status": str(outcome.status),
            "objectives": [vol, str(Fraction(rounding)), unfilled, str(Fraction(distance))],
            "prices": {str(k): str(v) for k, v in sorted(res.prices.items())},
            "fills": {str(k): v for k, v in sorted(res.filled().items()) if v},
            "uncleared": sorted(int(k) for k in res.uncleared),
            "check_ok": report.ok,
            "violations": [str(v) for v in report.violations[:5]],
            "cpu": cpus, "wall": walls,
            "stages": {k: round(v, 4) for k, v in stages.items()},
        }
        print(f"{path}: {rows[path]['status']} objectives {rows[path]['objectives']} "
              f"check {'ok' if report.ok else 'FAILED'} cpu {min(cpus):.2f} s "
              f"wall {min(walls):.2f} s", flush=True)
    out.write_text(json.dumps(rows, indent=1))


def tally(old: dict, new: dict) -> str:
    """One line over the books in both: identical, tied, better and worse (by the first level
    that differs: loss, volume, surplus, distance), status changes, and the CPU seconds."""
    names = sorted(set(old) & set(new))
    counts = {"identical": 0, "tied": 0}
    status = 0
    for name in names:
        a, b = old[name], new[name]
        status += a["status"] != b["status"] or a["uncleared"] != b["uncleared"]
        if all(a[k] == b[k] for k in ("status", "prices", "fills", "uncleared")):
            counts["identical"] += 1
            continue
        verdict = rank(a["objectives"], b["objectives"])
        key = "tied" if verdict == "TIE" else verdict
        counts[key] = counts.get(key, 0) + 1
    better = sum(v for k, v in counts.items() if k.startswith("BETTER"))
    worse = sum(v for k, v in counts.items() if k.startswith("WORSE"))
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())
                       if k.startswith(("BETTER", "WORSE")))
    cpu = [sum(min(r[name]["cpu"]) for name in names) for r in (old, new)]
    return (f"{len(names)} books: {counts['identical']} identical, {counts['tied']} tied, "
            f"{better} better, {worse} worse ({detail or 'none'}); status or halts changed on "
            f"{status}; CPU {cpu[0]:.1f} -> {cpu[1]:.1f} s")


def _compare(old_path: Path, new_path: Path, noise_path: Path | None = None) -> int:
    old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
    bad = 0
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            print(f"{name}: only in {'new' if a is None else 'old'}")
            continue
        same = all(a[k] == b[k] for k in ("status", "prices", "fills", "uncleared"))
        tie = a["status"] == b["status"] and a["objectives"] == b["objectives"] \
            and a["uncleared"] == b["uncleared"]
        ok = a["check_ok"] and b["check_ok"]
        if same:
            verdict = "identical"
        elif tie and ok:
            moved = [k for k in a["prices"] if a["prices"][k] != b["prices"].get(k)]
            filled = [k for k in set(a["fills"]) | set(b["fills"])
                      if a["fills"].get(k) != b["fills"].get(k)]
            verdict = (f"CHANGED, tied on every objective {a['objectives']}; check ok both; "
                       f"{len(moved)} price(s), {len(filled)} fill(s) differ")
        else:
            bad += 1
            verdict = (f"CHANGED, NOT TIED ({rank(a['objectives'], b['objectives'])}): status "
                       f"{a['status']} -> {b['status']}, objectives {a['objectives']} -> "
                       f"{b['objectives']}, uncleared {len(a['uncleared'])} -> "
                       f"{len(b['uncleared'])}, check {a['check_ok']} -> {b['check_ok']}")
        print(f"{name}: {verdict}")
    print(f"tally {new_path.name}: {tally(old, new)}")
    if noise_path is not None:
        print(f"noise {noise_path.name}: {tally(old, json.loads(noise_path.read_text()))}")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1:3] == ["solve", "--seed"]:
        _solve(Path(sys.argv[4]), sys.argv[5:], seed=int(sys.argv[3]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "solve":
        _solve(Path(sys.argv[2]), sys.argv[3:])
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "compare":
        sys.exit(_compare(*(Path(a) for a in sys.argv[2:])))
    else:
        sys.exit(__doc__)
