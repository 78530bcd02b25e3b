"""``spikeenergy report RESULTS``: analyse a results folder into report.md with plots."""

from __future__ import annotations

import argparse
from typing import Any

import spikeenergy.extras.bench  # noqa: F401  (first: one line naming the extra if missing)


def add_parser(sub: Any) -> None:
    """Register the ``report`` command."""
    p = sub.add_parser(
        "report",
        help="write report.md (tables, ANOVA, PNG/SVG plots) for a benchmark results folder",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("results", help="results folder written by `spikeenergy bench`")
    p.add_argument("--out", default=None, help="write the report here (default: RESULTS)")
    p.add_argument(
        "--n-boot",
        type=int,
        default=4000,
        help="bootstrap replicates per comparison (the equivalence margin and task "
        "metric come from the suite, fixed before the runs)",
    )
    p.add_argument(
        "--baseline",
        default=None,
        metavar="DIR",
        help="also compare this recipe with lambda = 0 of the results folder DIR (a "
        "baseline suite on the same data, folds and seeds): selection on validation, "
        "one test; writes vs_<baseline suite>.md",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and print the summary table and the report path."""
    from spikeenergy.bench import (  # not needed by --help
        ResultsStore,
        fold_means,
        ok_runs,
        summarize,
        summary_text,
        write_report,
    )

    store = ResultsStore(args.results)
    if args.out is None and store.root.is_dir() and not store.writable():
        raise ValueError(
            f"{args.results} is read-only: pass --out DIR to write the report elsewhere"
        )
    if args.n_boot < 100:
        raise ValueError(f"--n-boot {args.n_boot} is too few replicates for a CI; use >= 100")
    path = write_report(args.results, args.out, n_boot=args.n_boot)
    table = store.table()
    if (table["status"] == "ok").any():  # one value per seed (over its folds, if any)
        print(summary_text(summarize(fold_means(ok_runs(table)))))
    print(f"report: {path}")
    if args.baseline is not None:
        from spikeenergy.bench.baseline import compare_with_baseline

        vs = compare_with_baseline(args.results, args.baseline, args.out, n_boot=args.n_boot)
        print(f"against the baseline: {vs}")
    return 0
