"""``spikeenergy report RESULTS``: analyse a results folder into report.md with plots."""

from __future__ import annotations

import argparse
from typing import Any

from spikeenergy.bench import ResultsStore, summarize, summary_text, write_report


def add_parser(sub: Any) -> None:
    """Register the ``report`` command."""
    p = sub.add_parser("report", help="write report.md (tables, ANOVA, PNG/SVG plots) for a "
                       "benchmark results folder",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("results", help="results folder written by `spikeenergy bench`")
    p.add_argument("--out", default=None, help="write the report here (default: RESULTS)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="accuracy loss allowed when looking for the lowest relative energy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and print the summary table and the report path."""
    store = ResultsStore(args.results)
    if args.out is None and store.root.is_dir() and not store.writable():
        raise ValueError(f"{args.results} is read-only: pass --out DIR to write the report "
                         "elsewhere")
    path = write_report(args.results, args.out, tolerance=args.tolerance)
    table = store.table()
    if (table["status"] == "ok").any():
        print(summary_text(summarize(table)))
    print(f"report: {path}")
    return 0
