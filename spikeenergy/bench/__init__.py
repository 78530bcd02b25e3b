"""Benchmark suites: grids of runs, executors (local, Ray), a results store, statistics, plots.

``load_suite("quick")`` -> :class:`Suite` (a protocol: grid, budget, task metric, equivalence
margin, folds; its ``suite_hash`` is stored with every result); ``run_sweep(suite,
ResultsStore(dir))`` runs the grid (resuming; a changed suite under an old name is refused);
``write_report(dir)`` selects each model's lambda on validation, tests it once, and writes
report.md with tables, PNG/SVG plots and the summary files that `spikeenergy tables` quotes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import spikeenergy.extras.bench  # noqa: F401  (one line naming [bench] if it is missing)

if TYPE_CHECKING:
    from spikeenergy.bench.efficiency import compare_time_to_target, time_to_target
    from spikeenergy.bench.executors import (
        LocalExecutor,
        RayExecutor,
        SerialExecutor,
        make_executor,
        threads_per_worker,
    )
    from spikeenergy.bench.paired import crossed_bootstrap, paired_differences, paired_effects
    from spikeenergy.bench.report import markdown_table, summary_text, write_report
    from spikeenergy.bench.runner import (
        RunOutcome,
        RunTask,
        SuiteChangedError,
        SweepResult,
        available_datasets,
        check_protocol,
        execute,
        prepare_shared,
        run_sweep,
        sample_ids,
        train_run,
    )
    from spikeenergy.bench.selection import (
        fold_means,
        per_sample_table,
        results_at_selected,
        select_on_validation,
    )
    from spikeenergy.bench.stats import (
        anova,
        energy_at_no_loss,
        mean_ci,
        mixed_anova,
        ok_runs,
        pareto_front,
        pareto_mask,
        partial_eta_sq_ci,
        summarize,
        with_relative_energy,
    )
    from spikeenergy.bench.store import ResultsStore, RunRecord, flat_row, ok_record
    from spikeenergy.bench.suite import (
        DEFAULT_LAMBDAS,
        RunSpec,
        Suite,
        SuiteDataset,
        SuiteError,
        SuiteModel,
        expand_grid,
        load_suite,
        suite_from_dict,
        with_overrides,
    )

#: public name -> defining module; imported on first use so that worker processes
#: (which need only the runner) do not pay for matplotlib, scipy and statsmodels
_LAZY = {
    "DEFAULT_LAMBDAS": "spikeenergy.bench.suite",
    "LocalExecutor": "spikeenergy.bench.executors",
    "RayExecutor": "spikeenergy.bench.executors",
    "ResultsStore": "spikeenergy.bench.store",
    "RunOutcome": "spikeenergy.bench.runner",
    "RunRecord": "spikeenergy.bench.store",
    "RunSpec": "spikeenergy.bench.suite",
    "RunTask": "spikeenergy.bench.runner",
    "SerialExecutor": "spikeenergy.bench.executors",
    "Suite": "spikeenergy.bench.suite",
    "SuiteDataset": "spikeenergy.bench.suite",
    "SuiteChangedError": "spikeenergy.bench.runner",
    "SuiteError": "spikeenergy.bench.suite",
    "SuiteModel": "spikeenergy.bench.suite",
    "SweepResult": "spikeenergy.bench.runner",
    "anova": "spikeenergy.bench.stats",
    "available_datasets": "spikeenergy.bench.runner",
    "check_protocol": "spikeenergy.bench.runner",
    "compare_time_to_target": "spikeenergy.bench.efficiency",
    "crossed_bootstrap": "spikeenergy.bench.paired",
    "energy_at_no_loss": "spikeenergy.bench.stats",
    "execute": "spikeenergy.bench.runner",
    "expand_grid": "spikeenergy.bench.suite",
    "flat_row": "spikeenergy.bench.store",
    "fold_means": "spikeenergy.bench.selection",
    "load_suite": "spikeenergy.bench.suite",
    "make_executor": "spikeenergy.bench.executors",
    "markdown_table": "spikeenergy.bench.report",
    "mean_ci": "spikeenergy.bench.stats",
    "mixed_anova": "spikeenergy.bench.stats",
    "ok_record": "spikeenergy.bench.store",
    "ok_runs": "spikeenergy.bench.stats",
    "paired_differences": "spikeenergy.bench.paired",
    "paired_effects": "spikeenergy.bench.paired",
    "pareto_front": "spikeenergy.bench.stats",
    "pareto_mask": "spikeenergy.bench.stats",
    "partial_eta_sq_ci": "spikeenergy.bench.stats",
    "per_sample_table": "spikeenergy.bench.selection",
    "prepare_shared": "spikeenergy.bench.runner",
    "results_at_selected": "spikeenergy.bench.selection",
    "run_sweep": "spikeenergy.bench.runner",
    "sample_ids": "spikeenergy.bench.runner",
    "select_on_validation": "spikeenergy.bench.selection",
    "suite_from_dict": "spikeenergy.bench.suite",
    "summarize": "spikeenergy.bench.stats",
    "summary_text": "spikeenergy.bench.report",
    "threads_per_worker": "spikeenergy.bench.executors",
    "time_to_target": "spikeenergy.bench.efficiency",
    "train_run": "spikeenergy.bench.runner",
    "with_overrides": "spikeenergy.bench.suite",
    "with_relative_energy": "spikeenergy.bench.stats",
    "write_report": "spikeenergy.bench.report",
}

__all__ = [
    "DEFAULT_LAMBDAS",
    "LocalExecutor",
    "RayExecutor",
    "ResultsStore",
    "RunOutcome",
    "RunRecord",
    "RunSpec",
    "RunTask",
    "SerialExecutor",
    "Suite",
    "SuiteDataset",
    "SuiteChangedError",
    "SuiteError",
    "SuiteModel",
    "SweepResult",
    "anova",
    "available_datasets",
    "check_protocol",
    "compare_time_to_target",
    "crossed_bootstrap",
    "energy_at_no_loss",
    "execute",
    "expand_grid",
    "flat_row",
    "fold_means",
    "load_suite",
    "make_executor",
    "markdown_table",
    "mean_ci",
    "mixed_anova",
    "ok_record",
    "ok_runs",
    "paired_differences",
    "paired_effects",
    "pareto_front",
    "pareto_mask",
    "partial_eta_sq_ci",
    "per_sample_table",
    "prepare_shared",
    "results_at_selected",
    "run_sweep",
    "sample_ids",
    "select_on_validation",
    "suite_from_dict",
    "summarize",
    "summary_text",
    "threads_per_worker",
    "time_to_target",
    "train_run",
    "with_overrides",
    "with_relative_energy",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """Import public names lazily (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
