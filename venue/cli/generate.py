"""``ccp generate`` — write a generated book (JSON or YAML) from a recipe given as flags."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from auction.book import Book
from auction.interchange import book_to_dict
from solver_models.generator import Recipe, RecipeError, generate_book
from venue.cli import EXIT_OK, UsageError
from venue.cli.solve import parse_assignments

# flag → recipe field, for the fields a quant changes most
_FLAGS = {"orders": "orders", "seed": "seed", "pair": "pair", "spot": "spot",
          "expiries": "expiries", "strikes": "strikes_per_expiry", "combo_share": "combo_share",
          "aon_share": "aon_share", "noise": "price_noise", "vol": "volatility"}


def register(subparsers: Any) -> None:
    d = Recipe()
    p = subparsers.add_parser(
        "generate", help="generate a realistic book from a recipe",
        description="Generate a seeded book (Black-76 fair values plus noise; calls, puts, "
                    "binaries, forwards; verticals, calendars, straddles, butterflies, risk "
                    "reversals; all-or-none orders) and write it in the interchange format. "
                    "Every recipe field can be set with --set FIELD=VALUE; the same recipe "
                    "always gives the same book.")
    p.add_argument("--orders", type=int, default=d.orders, help=f"default {d.orders}")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    p.add_argument("--pair", default=d.pair, help=f"default {d.pair}")
    p.add_argument("--spot", default=d.spot, help=f"default {d.spot}")
    p.add_argument("--expiries", type=int, default=d.expiries, help=f"default {d.expiries}")
    p.add_argument("--strikes", type=int, default=d.strikes_per_expiry,
                   help=f"strikes per expiry (default {d.strikes_per_expiry})")
    p.add_argument("--combo-share", type=float, default=d.combo_share,
                   help=f"share of multi-leg orders (default {d.combo_share})")
    p.add_argument("--aon-share", type=float, default=d.aon_share,
                   help=f"share of all-or-none orders (default {d.aon_share})")
    p.add_argument("--noise", type=float, default=d.price_noise,
                   help=f"relative price noise (default {d.price_noise})")
    p.add_argument("--vol", type=float, default=d.volatility,
                   help=f"volatility for the fair values (default {d.volatility})")
    p.add_argument("--no-cross", action="store_true",
                   help="every limit strictly worse than fair value (nothing trades)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="sets",
                   help="any other recipe field, e.g. include_binaries=false (repeatable)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="BOOK.json",
                   help="output file (.json, or .yaml/.yml)")
    p.add_argument("--recipe", action="store_true",
                   help="write the recipe as a scenario file instead of the whole book")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(handler=run)


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    values: dict[str, Any] = {field: getattr(args, flag) for flag, field in _FLAGS.items()}
    if args.no_cross:
        values["cross"] = False
    known = {f.name: str(f.type) for f in fields(Recipe)}
    for key, text in parse_assignments(args.sets).items():
        if key not in known:
            raise UsageError(f"--set {key}: not a recipe field (known: {', '.join(known)})")
        values[key] = _parse(key, text, known[key])
    try:
        return Recipe.from_dict(values)
    except RecipeError as e:
        raise UsageError(str(e)) from None


def _parse(key: str, text: str, typ: str) -> Any:
    low = text.lower()
    try:
        if typ == "bool":
            if low not in ("true", "false", "on", "off", "yes", "no"):
                raise ValueError
            return low in ("true", "on", "yes")
        if typ == "int":
            return int(text)
        if typ == "float":
            return float(text)
        if typ.startswith("tuple"):
            return [t.strip() for t in text.split(",") if t.strip()]
        return text
    except ValueError:
        raise UsageError(f"--set {key}={text}: expected a {typ}") from None


def write_book(path: Path, book: Book, params: dict[str, Any] | None = None) -> None:
    """The interchange format; JSON with one contract/order per line (diffable), or YAML."""
    data = book_to_dict(book, params)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".yaml", ".yml"):
        path.write_text(yaml.safe_dump(data, sort_keys=False, width=120))
        return
    with path.open("w") as f:
        f.write("{\n")
        for i, key in enumerate(k for k in ("contracts", "orders") if k in data):
            f.write(f' "{key}": [\n')
            items = data[key]
            for j, item in enumerate(items):
                f.write("  " + json.dumps(item) + (",\n" if j < len(items) - 1 else "\n"))
            f.write(" ]" + (",\n" if i == 0 or "params" in data else "\n"))
        if "params" in data:
            f.write(f' "params": {json.dumps(data["params"])}\n')
        f.write("}\n")


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise UsageError(f"-o {args.out}: the file must end in .json, .yaml or .yml")
    recipe = recipe_from_args(args)
    t0 = time.perf_counter()
    if args.recipe:
        data = {"description": f"generated book: {recipe.orders} orders, seed {recipe.seed}",
                "recipe": {k: v for k, v in recipe.to_dict().items()
                           if v != Recipe().to_dict()[k] or k in ("seed", "orders")}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        text = (json.dumps(data, indent=1) + "\n" if args.out.suffix.lower() == ".json"
                else yaml.safe_dump(data, sort_keys=False))
        args.out.write_text(text)
        if not args.quiet:
            print(f"wrote the recipe ({recipe.orders} orders, seed {recipe.seed}) to {args.out}")
        return EXIT_OK
    book = generate_book(recipe)
    write_book(args.out, book)
    if not args.quiet:
        combos = sum(len(o.legs) > 1 for o in book.orders)
        aon = sum(o.all_or_none for o in book.orders)
        print(f"wrote {len(book.orders)} orders ({combos} multi-leg, {aon} all-or-none) on "
              f"{len(book.contracts)} contracts ({recipe.pair}, {recipe.expiries} expiries × "
              f"{recipe.strikes_per_expiry} strikes) to {args.out} "
              f"in {time.perf_counter() - t0:.2f} s")
    return EXIT_OK
