"""``spikeenergy tables DOC...``: rewrite the result tables of README/docs from summary files."""

from __future__ import annotations

import argparse
from typing import Any

from spikeenergy.bench.doctables import check_documents, update_documents


def add_parser(sub: Any) -> None:
    """Register the ``tables`` command."""
    p = sub.add_parser(
        "tables",
        help="regenerate the <!-- table: FILE --> blocks of README/docs from result summaries",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("docs", nargs="+", help="Markdown files with table blocks")
    p.add_argument("--root", default=".", help="folder the block paths are relative to")
    p.add_argument(
        "--check", action="store_true", help="only report out-of-date tables (exit 1 if any)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Rewrite (or check) the table blocks; print what changed."""
    if args.check:
        stale = check_documents(args.docs, args.root)
        for line in stale:
            print(line)
        return 1 if stale else 0
    for doc, n in update_documents(args.docs, args.root).items():
        print(f"{doc}: {n} table(s) rewritten")
    return 0
