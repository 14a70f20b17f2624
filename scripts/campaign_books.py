"""Write ``scripts/campaign.py``'s books as JSON book files (default parameters), for
``scripts/objectives.py solve`` or ``ccp solve``.

    python scripts/campaign_books.py SEED BOOKS OUTDIR [--max-orders N]

Writes ``OUTDIR/s<SEED>_<NN>.json`` for book numbers 0 … BOOKS−1, the same recipes
``campaign.py --seed SEED --books BOOKS`` draws (the recipe of book ``i`` depends on the books
drawn before it, so BOOKS must cover it). Run from the checkout whose generator is wanted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from campaign import recipes

from solver_models.generator import generate_book
from venue.cli.generate import write_book


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("books", type=int)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--max-orders", type=int, default=10_000)
    a = ap.parse_args(argv)
    for i, recipe in enumerate(recipes(a.seed, a.books, a.max_orders)):
        write_book(a.outdir / f"s{a.seed}_{i:02d}.json", generate_book(recipe))
    return 0


if __name__ == "__main__":
    sys.exit(main())
