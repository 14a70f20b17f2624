"""The ``ccp`` command line.

Every module in this package that defines ``register(subparsers)`` adds its subcommands; a
subcommand's handler returns the exit code. Exit codes: 0 ok, 1 a rule violation or a
regression, 2 bad input (the message names the file, the path inside it and the reason).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_VIOLATION, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccp", description="Batch-auction clearing venue.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


#: how many problems of a malformed input a message lists before it only counts the rest
SHOWN_PROBLEMS = 8


def problems_text(problems: Sequence[str], prefix: str = "") -> str:
    """The first :data:`SHOWN_PROBLEMS` problems, one per line, and how many more there are."""
    lines = [prefix + p for p in problems[:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"{prefix}… and {len(problems) - SHOWN_PROBLEMS} more problem(s) "
                     f"({len(problems)} in all)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except UsageError as e:
        print(f"ccp {args.command}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader of our output went away (``ccp … --json | head``): say so in one line;
        # stdout is pointed at /dev/null so the interpreter's final flush stays quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print(f"ccp {args.command}: output closed before it was all written (broken pipe)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
