"""Fingerprint every model the engine passes to HiGHS, to show that a change to how models are
built changes no bit of them (a stronger check than equal results).

    python scripts/model_hashes.py record OUT.json BOOK...   (from the checkout to measure; the
                                                             repo root on sys.path)
    python scripts/model_hashes.py compare OLD.json NEW.json

``record`` solves each book on one thread, without the speculative local search (so the order
of the solves is fixed), and writes per book the sequence ``caller:sha1`` of every model (costs,
bounds, matrix in CSC, integrality). ``skip=NAME`` arguments before the books leave out the
models of a stage function (e.g. ``skip=allocation_bound`` when one side solves fewer of
them). ``compare`` prints per book whether the sequences are equal and exits 1 if one is not.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))


def _record(out: Path, args: list[str]) -> None:
    import numpy as np

    from solver_models import pipeline, solve, stages
    from venue.cli.solve import load

    skip = {a[5:] for a in args if a.startswith("skip=")}
    books = [a for a in args if not a.startswith("skip=")]
    real = stages.highs.solve
    seen: list[str] = []

    def fingerprint(model, *a, **k):
        caller = inspect.stack()[1].function
        if caller not in skip:
            h = hashlib.sha1()
            m = model.a.tocsc()
            for arr in (model.c, model.row_lo, model.row_hi, model.col_lo, model.col_hi,
                        m.indptr, m.indices, m.data,
                        np.zeros(0) if model.integer is None else model.integer):
                h.update(np.ascontiguousarray(arr).tobytes())
            h.update(b"max" if model.maximize else b"min")
            seen.append(f"{caller}:{h.hexdigest()[:16]}")
        return real(model, *a, **k)

    stages.highs.solve = fingerprint
    pipeline.WORKERS = 1
    rows = {}
    for path in books:
        s = load(Path(path))
        seen.clear()
        solve(s.book, dataclasses.replace(s.params, speculate=False))
        rows[path] = list(seen)
        print(f"{path}: {len(seen)} models", flush=True)
    out.write_text(json.dumps(rows, indent=1))


def _compare(old_path: Path, new_path: Path) -> int:
    old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
    bad = 0
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            print(f"{name}: identical ({len(a)} models)")
            continue
        bad += 1
        first = next((i for i, (x, y) in enumerate(zip(a or [], b or [], strict=False)) if x != y),
                     min(len(a or []), len(b or [])))
        print(f"{name}: DIFFERENT from model {first} ({len(a or [])} vs {len(b or [])} models)")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "record":
        _record(Path(sys.argv[2]), sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(_compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
