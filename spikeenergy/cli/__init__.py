"""Command-line entry point: ``spikeenergy <command> ...``; thin layer over the library.

Each command lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

#: command name -> module (imported lazily so ``spikeenergy --help`` stays fast)
COMMANDS = {
    "train": "spikeenergy.cli.train",
    "bench": "spikeenergy.cli.bench",
    "report": "spikeenergy.cli.report",
    "datasets": "spikeenergy.cli.datasets",
    "export": "spikeenergy.cli.export",
    "search": "spikeenergy.cli.search",
    "tables": "spikeenergy.cli.tables",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="spikeenergy", description="Energy-aware neuromorphic learning."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; errors print one clear line and exit 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError, FloatingPointError) as exc:
        print(f"spikeenergy {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
