"""The benchmark report: Markdown with the summary, ANOVA and Pareto tables and embedded plots."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from spikeenergy.bench import plots
from spikeenergy.bench.stats import anova, energy_at_no_loss, ok_runs, pareto_front, summarize
from spikeenergy.bench.store import ResultsStore

log = logging.getLogger(__name__)


def _fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}g}"
    return str(v)


def markdown_table(
    df: pd.DataFrame, columns: Sequence[str] | None = None, headers: Sequence[str] | None = None
) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (floats to 4 significant digits)."""
    cols = list(columns) if columns is not None else list(df.columns)
    heads = list(headers) if headers is not None else cols
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def _ci(row: pd.Series, col: str) -> str:
    m, lo, hi = row[col], row[f"{col}_lo"], row[f"{col}_hi"]
    if math.isnan(lo):
        return _fmt(m)
    return f"{_fmt(m)} ± {_fmt((hi - lo) / 2, 2)}"


def summary_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The headline columns of a summary with "mean ± CI half-width" strings."""
    out = pd.DataFrame(
        {
            "dataset": summary["dataset"],
            "model": summary["model"],
            "lambda": summary["lam"].map(lambda v: f"{v:g}"),
            "n": summary["n"],
            "accuracy": [_ci(r, "accuracy") for _, r in summary.iterrows()],
            "energy J/inference": [_ci(r, "energy_j") for _, r in summary.iterrows()],
            "rel. energy": [_ci(r, "rel_energy") for _, r in summary.iterrows()],
            "spike rate (proxy)": summary["spike_rate"],
            "ACs/inference": summary["acs"],
            "MACs/inference": summary["macs"],
            "train time s": summary["wall_time_s"],
            "steps to target": summary["steps_to_target"],
        }
    )
    return out


def summary_text(summary: pd.DataFrame) -> str:
    """A plain-text table for the terminal: accuracy and relative energy per cell."""
    cols = ["dataset", "model", "lambda", "n", "accuracy", "energy J/inference", "rel. energy"]
    df = summary_frame(summary)[cols].copy()
    return df.to_string(index=False)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def write_report(
    results_dir: str | Path, out_dir: str | Path | None = None, tolerance: float = 0.01
) -> Path:
    """Analyse a results folder and write ``report.md`` with PNG/SVG plots; returns its path."""
    store = ResultsStore(Path(results_dir))
    if not store.runs_dir.is_dir():
        raise FileNotFoundError(
            f"{results_dir} has no runs/ folder: not a benchmark results "
            f"folder (run `spikeenergy bench SUITE --out {results_dir}`)"
        )
    out = Path(out_dir) if out_dir is not None else store.root
    fig_dir = out / "figures"
    table = store.consolidate()
    suite_path = store.root / "suite.json"
    suite = json.loads(suite_path.read_text()) if suite_path.is_file() else {}
    stale = 0
    if suite.get("run_ids"):  # only the grid of the last sweep (the store may hold older runs)
        in_grid = table["run_id"].isin(set(suite["run_ids"]))
        stale, table = int((~in_grid).sum()), table[in_grid]
    ok = ok_runs(table)
    failed = table[table["status"] != "ok"]
    lines = [f"# Benchmark report: {suite.get('name', store.root.name)}", ""]
    if suite.get("description"):
        lines += [suite["description"], ""]
    energy_term = ", ".join(sorted(set(ok["energy_term"]))) or "-"
    targets = ", ".join(sorted(set(ok["target"]))) or "-"
    lines += [
        f"- results: `{store.root}` ({len(table)} runs: {len(ok)} ok, {len(failed)} failed)",
        f"- energy: joules per inference on the target `{targets}` (test split, energy "
        f"ledger); trained energy term: `{energy_term}`; relative energy = energy / mean energy "
        "of the same dataset and model at lambda = 0; the spike rate is a proxy, not energy",
        "- intervals: 95% Student-t confidence intervals of the mean over seeds",
    ]
    if stale:
        lines.append(
            f"- {stale} stored record(s) of configurations outside this suite's grid "
            "are not analysed (they stay in results.csv)"
        )
    n_grid = len(suite.get("run_ids", []))
    if n_grid > len(table):
        lines.append(f"- {n_grid - len(table)} of the grid's {n_grid} runs have no record yet")
    for label, reason in suite.get("skipped_datasets", {}).items():
        lines.append(f"- skipped dataset `{label}`: {reason}")
    lines.append("")
    if ok.empty:
        lines += ["No successful runs yet.", ""]
    else:
        summary = summarize(table)
        lines += [
            "## Summary per dataset, model and lambda",
            "",
            markdown_table(summary_frame(summary)),
            "",
        ]
        nl = energy_at_no_loss(summary, tolerance)
        lines += [
            f"## Lowest relative energy within {tolerance * 100:g} accuracy point(s) of lambda = 0",
            "",
            markdown_table(
                nl,
                headers=[
                    "dataset",
                    "model",
                    "accuracy at lambda=0",
                    "lambda",
                    "accuracy",
                    "relative energy",
                ],
            ),
            "",
        ]
        lines += _anova_section(ok)
        front = pareto_front(summary)
        lines += [
            "## Pareto fronts (accuracy vs energy, means over seeds)",
            "",
            markdown_table(front),
            "",
        ]
        curves = store.curves()
        lines += ["## Plots", ""]
        for ds in sorted(summary["dataset"].unique()):
            slug = _slug(ds)
            made = [
                ("lambda sweep", plots.plot_lambda_sweep(summary, ds, fig_dir / f"sweep_{slug}")),
                (
                    "Pareto front",
                    plots.plot_pareto(
                        summary, ds, fig_dir / f"pareto_{slug}", energy_label=targets
                    ),
                ),
            ]
            if not curves.empty and (curves["dataset"] == ds).any():
                made.append(
                    (
                        "training curves",
                        plots.plot_training_curves(curves, ds, fig_dir / f"curves_{slug}"),
                    )
                )
            lines += [f"### {ds}", ""]
            for title, paths in made:
                png = paths[0].relative_to(out)
                svg = paths[1].relative_to(out)
                lines += [f"![{ds}: {title}]({png.as_posix()}) ([SVG]({svg.as_posix()}))", ""]
    if not failed.empty:
        lines += [
            "## Failed runs (rerun the same command to retry them)",
            "",
            markdown_table(
                failed, ["run_id", "dataset", "model", "lam", "seed", "attempts", "error"]
            ),
            "",
        ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.md"
    path.write_text("\n".join(lines))
    log.info("wrote %s", path)
    return path


def _anova_section(ok: pd.DataFrame) -> list[str]:
    """Two ANOVA tables: all runs (lambda as a factor) and the lambda = 0 baselines."""
    heads = ["term", "sum of squares", "df", "F", "p", "partial eta²", "95% CI low", "95% CI high"]
    lines = [
        "## ANOVA of test accuracy: architecture x dataset x lambda",
        "",
        "Type II sums of squares (statsmodels); partial eta² = SS_effect / (SS_effect + "
        "SS_residual) with a 95% noncentral-F interval (Steiger 2004). Factors with one level, "
        "and models not run on every dataset and lambda, are left out.",
        "",
    ]
    for title, df, factors in (
        ("All runs, lambda as a factor (with its interactions)", ok, ("model", "dataset", "lam")),
        ("Baselines only (lambda = 0)", ok[ok["lam"] == 0], ("model", "dataset")),
    ):
        res = anova(df, "accuracy", factors)
        lines += [f"### {title}", ""]
        if res.empty:
            lines += ["(not enough levels or runs for an ANOVA)", ""]
        else:
            lines += [markdown_table(res, headers=heads), ""]
    return lines
