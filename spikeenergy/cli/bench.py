"""``spikeenergy bench SUITE``: run a benchmark suite (resuming), print the summary and report."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import spikeenergy.extras.bench  # noqa: F401  (first: one line naming the extra if missing)
from spikeenergy.bench.executors import EXECUTORS
from spikeenergy.cli.options import add_module_arg, module_specs
from spikeenergy.plugins import user_code

#: shown when the command is stopped (Ctrl-C / SIGTERM)
RESUME_HINT = "finished runs are stored; rerun the same command to resume"


def add_parser(sub: Any) -> None:
    """Register the ``bench`` command."""
    p = sub.add_parser(
        "bench",
        help="run a benchmark suite (datasets x models x lambdas x seeds)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Run every configuration of SUITE that has no successful record in the "
        "results folder (completed runs are skipped, failed ones retried), then write the "
        "report. SUITE is a TOML file or the name of a suite shipped with spikeenergy.",
    )
    p.add_argument("suite", help="suite name (quick, full) or path to a suite TOML file")
    p.add_argument("--out", default=None, help="results folder (default: results/<suite name>)")
    p.add_argument(
        "--executor",
        default="local",
        choices=EXECUTORS,
        help="local worker processes, a Ray cluster, or serial in this process",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (e.g. ray://head:10001 or auto); default: start "
        "a local Ray instance",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="parallel runs (local processes / local Ray CPUs); 0: one per CPU",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="data root for datasets without one (else $SPIKEENERGY_DATA)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA if present)")
    p.add_argument("--seeds", type=int, default=None, help="override the suite: seeds 0..N-1")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-report", action="store_true", help="skip writing report.md")
    add_module_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the suite, run the sweep, print the summary table and the report path."""
    if args.workers < 0:
        raise ValueError(f"--workers {args.workers} must be >= 0 (0: one per CPU)")
    modules = module_specs(args)
    with user_code(modules):
        return _run(args, modules)


def _run(args: argparse.Namespace, modules: list[str]) -> int:
    # imported here, not at the top: `spikeenergy bench --help` needs none of it
    from spikeenergy.bench import (
        ResultsStore,
        fold_means,
        load_suite,
        make_executor,
        ok_runs,
        run_sweep,
        summarize,
        summary_text,
        with_overrides,
        write_report,
    )
    from spikeenergy.cli.common import check_device

    suite = with_overrides(
        load_suite(args.suite),
        data_root=args.data_root,
        device=check_device(args.device),
        seeds=args.seeds,
    )
    if modules:  # the workers import them too
        suite = replace(suite, modules=tuple(dict.fromkeys((*modules, *suite.modules))))
    out = Path(args.out) if args.out else Path("results") / suite.name
    executor = make_executor(args.executor, args.workers, args.address)
    start = time.perf_counter()
    res = run_sweep(suite, ResultsStore(out), executor, progress=not args.no_progress)
    elapsed = time.perf_counter() - start
    for label, reason in res.skipped_datasets.items():
        print(f"skipped dataset {label}: {reason}")
    print(
        f"suite {suite.name}: {res.total} runs ({res.already_done} already done, "
        f"{res.ok} ok, {res.failed} failed this time) in {elapsed:.0f} s"
    )
    if (res.table["status"] == "ok").any():  # one value per seed (over its folds, if any)
        print(summary_text(summarize(fold_means(ok_runs(res.table))), suite.metric))
    if not args.no_report:
        print(f"report: {write_report(out)}")
    print(f"results: {out / 'results.csv'}, {out / 'results.h5'}")
    if res.failed:
        print(
            f"{res.failed} run(s) failed (errors in the report); rerun the same command "
            "to retry them"
        )
        return 1
    return 0
