"""Where the engine's CPU goes on a book, by route: the work of routes that failed.

    python scripts/route_profile.py BOOK...      solve each book (its scenario's parameters)

Per book: the process CPU of the solve, and thread CPU summed over the pipeline's threads of
* routes that answered (allocation MIP + price selection, ``pipeline._allocate_and_price``),
* routes that failed, by the stage that failed, and inside them the allocation MIPs and the
  price selection — work whose answer is thrown away (the local search answers instead),
* the local search (``stages.local_mip``, every neighbourhood, with and without the
  whole-package allowance).

Read-only: it wraps the pipeline's functions for the run, the results are the engine's own.
Run from the checkout (the repo root goes on sys.path), under ``nice -n 19`` on a shared
machine. Written for issue 17 (which stages cost what on the small books).
"""
from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))


def main(books: list[str]) -> None:
    from solver_models import pipeline, solve, stages
    from solver_models.outcome import StageReport
    from venue.cli.solve import load

    acc: Counter[str] = Counter()
    local = threading.local()

    def timed(name: str, f):
        def wrapped(*a, **k):
            t = time.thread_time()
            try:
                return f(*a, **k)
            finally:
                setattr(local, name, getattr(local, name, 0.0) + time.thread_time() - t)
                if name == "local_mip":
                    acc["local search"] += time.thread_time() - t
        return wrapped

    route = pipeline._allocate_and_price

    def routed(*a, **k):
        before = getattr(local, "alloc", 0.0), getattr(local, "prices", 0.0)
        t = time.thread_time()
        answer = route(*a, **k)
        spent = time.thread_time() - t
        if isinstance(answer, StageReport):
            acc[f"failed at {answer.name}"] += spent
            acc["  of it allocation MIPs"] += getattr(local, "alloc", 0.0) - before[0]
            acc["  of it price selection"] += getattr(local, "prices", 0.0) - before[1]
            acc["failed routes (n)"] += 1
        else:
            acc["answered"] += spent
            acc["answered routes (n)"] += 1
        return answer

    saved = (pipeline._allocate_and_price, pipeline.allocation_mip, pipeline.price_selection,
             pipeline.local_mip)
    pipeline._allocate_and_price = routed
    pipeline.allocation_mip = timed("alloc", stages.allocation_mip)
    pipeline.price_selection = timed("prices", stages.price_selection)
    pipeline.local_mip = timed("local_mip", stages.local_mip)
    try:
        for book in books:
            acc.clear()
            s = load(Path(book))
            c0 = time.process_time()
            outcome = solve(s.book, s.params)
            cpu = time.process_time() - c0
            print(f"{book}: {outcome.status}, process CPU {cpu:.3f} s")
            for key in sorted(acc):
                value = acc[key]
                print(f"  {key:28s} {int(value) if '(n)' in key else f'{value:.3f} s'}")
    finally:
        (pipeline._allocate_and_price, pipeline.allocation_mip, pipeline.price_selection,
         pipeline.local_mip) = saved


if __name__ == "__main__":
    if len(sys.argv) < 2 or {"-h", "--help"} & set(sys.argv[1:]):
        sys.exit(__doc__)
    main(sys.argv[1:])
