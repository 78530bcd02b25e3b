"""The benchmark report: Markdown with the summary, the operating points selected on
validation with their test results, ANOVA, training efficiency, Pareto tables and plots.

Beside report.md it writes the small summary files that README/docs quote through
`spikeenergy tables` (:mod:`spikeenergy.bench.doctables`): summary.csv (every summary column),
summary.md, selected.md, anova.md and efficiency.md (Markdown). Every table in joules names
its target in a header.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spikeenergy.bench import plots
from spikeenergy.bench.efficiency import time_to_target
from spikeenergy.bench.selection import (
    fold_means,
    per_sample_table,
    results_at_selected,
    select_on_validation,
)
from spikeenergy.bench.stats import (
    SUMMARY_METRICS,
    anova,
    mixed_anova,
    ok_runs,
    pareto_front,
    summarize,
)
from spikeenergy.bench.store import ResultsStore
from spikeenergy.bench.suite import DEFAULT_MARGIN
from spikeenergy.io import atomic_write

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


def _targets(df: pd.DataFrame) -> str:
    """The cost-model target(s) of a table's runs, for headers ("cmos45")."""
    if "target" not in df:
        return "?"
    names = sorted({t for v in df["target"].dropna() for t in str(v).split(", ") if t})
    return ", ".join(names) if names else "?"


def summary_frame(summary: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """The headline columns of a summary with "mean ± CI half-width" strings: the test task
    metric, joules per inference on the runs' target (named in the header), energy relative
    to lambda = 0, and the spike rate beside them as what it is, a proxy."""
    target = _targets(summary)
    cols: dict[str, Any] = {
        "dataset": summary["dataset"],
        "model": summary["model"],
        "lambda": summary["lam"].map(lambda v: f"{v:g}"),
        "n": summary["n"],
        "accuracy": [_ci(r, "accuracy") for _, r in summary.iterrows()],
    }
    if metric != "accuracy" and "score" in summary:
        cols[metric] = [_ci(r, "score") for _, r in summary.iterrows()]
    cols.update(
        {
            f"energy J/inference ({target})": [_ci(r, "energy_j") for _, r in summary.iterrows()],
            "rel. energy": [_ci(r, "rel_energy") for _, r in summary.iterrows()],
            "spike rate (proxy)": summary["spike_rate"],
            "ACs/inference": summary["acs"],
            "MACs/inference": summary["macs"],
            "train time s": summary["wall_time_s"],
            "steps to target": summary["steps_to_target"],
        }
    )
    return pd.DataFrame(cols)


def summary_text(summary: pd.DataFrame, metric: str = "accuracy") -> str:
    """A plain-text table for the terminal: test metric and energy per cell."""
    df = summary_frame(summary, metric)
    keep = [
        c
        for c in df.columns
        if c
        not in (
            "spike rate (proxy)",
            "ACs/inference",
            "MACs/inference",
            "train time s",
            "steps to target",
        )
    ]
    return df[keep].to_string(index=False)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _write(path: Path, text: str) -> None:
    """Write a small text file atomically (a reader never sees half of it)."""
    atomic_write(path, text)


@dataclass(frozen=True)
class Protocol:
    """What the suite fixed before its runs, as stored in suite.json (defaults and a note
    when a store has no suite.json, e.g. one written by a search)."""

    name: str
    metric: str = "accuracy"
    margin: float = DEFAULT_MARGIN
    suite_hash: str = ""
    folds: dict[str, int] = field(default_factory=dict)
    target_accuracy: float | None = None
    note: str = ""

    @classmethod
    def from_suite_json(cls, suite: dict[str, Any], fallback_name: str) -> Protocol:
        """The protocol of a store's suite.json (``suite``; empty when the file is absent)."""
        if not suite:
            return cls(
                fallback_name,
                note=f"no suite.json: metric accuracy and margin {DEFAULT_MARGIN:g} assumed",
            )
        folds = {
            str(d.get("label")): int(d["folds"])
            for d in suite.get("datasets", [])
            if d.get("folds")
        }
        note = (
            ""
            if "margin" in suite
            else (f"suite.json of an older spikeenergy: margin {DEFAULT_MARGIN:g} assumed")
        )
        return cls(
            name=str(suite.get("name", fallback_name)),
            metric=str(suite.get("metric", "accuracy")),
            margin=float(suite.get("margin", DEFAULT_MARGIN)),
            suite_hash=str(suite.get("suite_hash", "")),
            folds=folds,
            target_accuracy=(suite.get("train") or {}).get("target_accuracy"),
            note=note,
        )


def _pm(v: float, lo: float, hi: float, digits: int = 4) -> str:
    """The cell text "v [lo, hi]" (or just v without an interval)."""
    if math.isnan(lo) or math.isnan(hi):
        return _fmt(v, digits)
    return f"{_fmt(v, digits)} [{_fmt(lo, digits)}, {_fmt(hi, digits)}]"


def _p(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.2g}"


def selected_frame(res: pd.DataFrame, metric: str, target: str) -> pd.DataFrame:
    """The operating points as a Markdown-ready frame (joules on ``target``)."""
    rows = []
    for _, r in res.iterrows():
        lam = r["lam"]
        eq = r["test_equivalent"]
        rows.append(
            {
                "dataset": r["dataset"],
                "model": r["model"],
                "selected lambda (val)": "-" if math.isnan(lam) else f"{lam:g}",
                "lambdas passing (val)": int(r["n_equivalent"]),
                f"val Δ{metric} [95% CI]": _pm(r["val_diff"], r["val_diff_lo"], r["val_diff_hi"]),
                "val Holm p": _p(r["val_p_holm"]),
                f"test {metric} λ=0": _fmt(r["test_ref"]),
                f"test {metric} selected": _fmt(r["test_score"]),
                f"test Δ{metric} [95% CI]": _pm(
                    r["test_diff"], r["test_diff_lo"], r["test_diff_hi"]
                ),
                "test TOST p": _p(r["test_p_tost"]),
                "equivalent on test": "-" if eq is None or eq != eq else ("yes" if eq else "no"),
                f"J/inference λ=0 ({target})": _fmt(r["energy_ref_j"]),
                f"J/inference selected ({target})": _fmt(r["energy_j"]),
                "energy ratio [95% CI]": _pm(
                    r["energy_ratio"], r["energy_ratio_lo"], r["energy_ratio_hi"]
                ),
                "seeds x test samples": (
                    f"{int(r['n_seeds'])} x {int(r['n_samples'])}" if r["n_samples"] else "-"
                ),
                "note": r.get("note") or "",
            }
        )
    return pd.DataFrame(rows)


def validation_frame(effects: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every lambda's validation comparison to lambda = 0 (the evidence behind the choice)."""
    return pd.DataFrame(
        {
            "dataset": effects["dataset"],
            "model": effects["model"],
            "lambda": effects["lam"].map(lambda v: f"{v:g}"),
            "seeds x samples": [
                f"{a} x {b}" for a, b in zip(effects["n_seeds"], effects["n_samples"], strict=True)
            ],
            f"val {metric} λ=0": effects["ref_mean"],
            f"val {metric}": effects["mean"],
            "Δ [95% CI]": [
                _pm(d, lo, hi)
                for d, lo, hi in zip(
                    effects["diff"], effects["diff_lo"], effects["diff_hi"], strict=True
                )
            ],
            "differing pairs": effects["n_differing"],
            "TOST p": effects["p_tost"].map(_p),
            "Holm p": effects["p_tost_holm"].map(_p),
            "equivalent": effects["equivalent"].map(lambda v: "yes" if v else "no"),
            "test": effects["method"],
        }
    )


GRID_FACTORS = ("model", "dataset", "lam")
ANOVA_HEADS = [
    "term",
    "sum of squares",
    "df",
    "F",
    "p",
    "partial eta²",
    "95% CI low",
    "95% CI high",
]


def anova_sections(seeds: pd.DataFrame, metric: str) -> list[str]:
    """The factorial ANOVA of the test metric (lambda as a factor with its interactions; and
    the lambda = 0 baselines), and the mixed model with a random intercept per seed."""
    resp = "score" if metric != "accuracy" and "score" in seeds else "accuracy"
    lines = [
        f"Response: test {metric} per run (a cross-validated seed: over all its folds). Type II "
        "sums of squares (statsmodels); partial eta² = SS_effect / (SS_effect + SS_residual) "
        "with a 95% noncentral-F interval (Steiger 2004). Factors with one level, and models "
        "not run on every dataset and lambda, are left out. Effect sizes depend on the grid "
        "(which datasets, which lambdas): quote them with it.",
        "",
    ]
    for title, df, factors in (
        (
            "All runs, lambda as a factor (with its interactions)",
            seeds,
            ("model", "dataset", "lam"),
        ),
        ("Baselines only (lambda = 0)", seeds[seeds["lam"] == 0], ("model", "dataset")),
    ):
        lines += [f"**{title}**", ""]
        try:
            res = anova(df, resp, factors)
        except ValueError as exc:  # e.g. no residual variance: the F statistic is unbounded
            lines += [f"(no ANOVA: {exc})", ""]
            continue
        if res.empty:
            lines += ["(not enough levels or runs for an ANOVA)", ""]
        else:
            lines += [markdown_table(res, headers=ANOVA_HEADS), ""]
    lines += ["**Mixed model: the same fixed effects, a random intercept per seed**", ""]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mixed = mixed_anova(seeds, resp, ("model", "dataset", "lam"), group="seed")
    except (ValueError, np.linalg.LinAlgError) as exc:
        return [*lines, f"(no mixed model: {exc})", ""]
    lines += [
        markdown_table(mixed.terms, headers=["term", "Wald chi²", "df", "p"]),
        "",
        f"Seed variance {_fmt(mixed.group_variance)}, residual variance "
        f"{_fmt(mixed.residual_variance)} ({mixed.n_obs} runs, {mixed.n_groups} seeds; "
        "statsmodels MixedLM, REML).",
        "",
    ]
    fit_warnings = sorted({str(w.message).splitlines()[0] for w in caught})
    if fit_warnings:
        lines += [f"statsmodels warned: {'; '.join(fit_warnings)}", ""]
    return lines


def efficiency_frame(ok: pd.DataFrame) -> pd.DataFrame:
    """Steps and seconds to the validation target per (dataset, model, lambda), every run
    counted: runs that never reach it are censored at their budget (Kaplan-Meier)."""
    by = ("dataset", "model", "lam")
    steps = time_to_target(ok, by)
    secs = time_to_target(ok, by, "time_to_target_s", "wall_time_s")
    out = pd.DataFrame(
        {
            "dataset": steps["dataset"],
            "model": steps["model"],
            "lambda": steps["lam"].map(lambda v: f"{v:g}"),
            "runs": steps["n"],
            "reached": steps["reached"],
            "censored": steps["censored"],
            "median steps [95% CI]": [
                _pm(m, lo, hi)
                for m, lo, hi in zip(
                    steps["median"], steps["median_lo"], steps["median_hi"], strict=True
                )
            ],
            "mean steps (RMST)": steps["rmst"],
            "horizon steps": steps["tau"],
            "median s [95% CI]": [
                _pm(m, lo, hi)
                for m, lo, hi in zip(
                    secs["median"], secs["median_lo"], secs["median_hi"], strict=True
                )
            ],
        }
    )
    return out


def write_report(
    results_dir: str | Path,
    out_dir: str | Path | None = None,
    n_boot: int = 4000,
    figures: bool = True,
) -> Path:
    """Analyse a results folder: write ``report.md`` with PNG/SVG plots, and beside it the
    summary files that `spikeenergy tables` quotes (summary.csv, summary.md, selected.md,
    anova.md, efficiency.md); returns the report's path.

    Lambdas are selected on validation only (:func:`select_on_validation`), with the suite's
    metric and margin; the test split is read once, for the selected lambdas. ``n_boot``
    bootstrap replicates per comparison; ``figures=False`` leaves out the plots.
    """
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
    proto = Protocol.from_suite_json(suite, store.root.name)
    stale = 0
    grid = set(suite.get("run_ids") or [])
    if grid:  # only the grid of the last sweep (the store may hold older runs)
        in_grid = table["run_id"].isin(grid)
        stale, table = int((~in_grid).sum()), table[in_grid]
    ok = ok_runs(table)
    failed = table[table["status"] != "ok"]
    metric = proto.metric
    lines = [f"# Benchmark report: {proto.name}", ""]
    if suite.get("description"):
        lines += [suite["description"], ""]
    energy_term = ", ".join(sorted(set(ok["energy_term"]))) or "-"
    targets = ", ".join(sorted(set(ok["target"]))) or "-"
    lines += [
        f"- results: `{store.root}` ({len(table)} runs: {len(ok)} ok, {len(failed)} failed)",
        f"- protocol: suite `{proto.name}`"
        + (f", hash `{proto.suite_hash[:12]}`" if proto.suite_hash else "")
        + f"; task metric `{metric}`; equivalence margin ±{proto.margin:g}"
        + (f" ({proto.note})" if proto.note else ""),
        f"- energy: joules per inference on the target `{targets}` (test split, energy "
        f"ledger); trained energy term: `{energy_term}`; relative energy = energy / mean energy "
        "of the same dataset and model at lambda = 0; the spike rate is a proxy, not energy",
        "- summary intervals: 95% Student-t confidence intervals of the mean over seeds; "
        "cross-validated datasets ("
        + (", ".join(f"{k}: {v} folds" for k, v in sorted(proto.folds.items())) or "none")
        + ") count one value per seed, over all folds",
    ]
    if stale:
        lines.append(
            f"- {stale} stored record(s) of configurations outside this suite's grid "
            "are not analysed (they stay in results.csv)"
        )
    n_grid = len(grid)
    if n_grid > len(table):
        lines.append(f"- {n_grid - len(table)} of the grid's {n_grid} runs have no record yet")
    for label, reason in suite.get("skipped_datasets", {}).items():
        lines.append(f"- skipped dataset `{label}`: {reason}")
    lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    if ok.empty:
        lines += ["No successful runs yet.", ""]
    else:
        seeds = fold_means(ok, proto.folds)
        extra = ("score", "val_score") if metric != "accuracy" else ()
        summary = summarize(seeds, metrics=(*extra, *SUMMARY_METRICS))
        _write(out / "summary.csv", summary.to_csv(index=False))
        sum_md = markdown_table(summary_frame(summary, metric))
        _write(out / "summary.md", sum_md + "\n")
        lines += [
            "## Summary per dataset, model and lambda",
            "",
            f"Test split. Energy in joules per inference on `{_targets(summary)}`; the spike "
            "rate is a proxy of activity, not energy.",
            "",
            sum_md,
            "",
        ]
        lines += _selection_section(store, ok, seeds, proto, out, n_boot)
        anova_lines = anova_sections(seeds, metric)
        _write(out / "anova.md", "\n".join(anova_lines) + "\n")
        lines += [f"## ANOVA of test {metric}: architecture x dataset x lambda", "", *anova_lines]
        lines += _efficiency_section(ok, proto, out)
        front = pareto_front(summary)
        lines += [
            f"## Pareto fronts (accuracy vs J/inference on {_targets(summary)}, means over seeds)",
            "",
            markdown_table(front),
            "",
        ]
        curves = store.curves() if figures else pd.DataFrame()
        lines += ["## Plots", ""] if figures else []
        for ds in sorted(summary["dataset"].unique()) if figures else []:
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
    path = out / "report.md"
    _write(path, "\n".join(lines))
    log.info("wrote %s", path)
    return path


def _selection_section(
    store: ResultsStore,
    ok: pd.DataFrame,
    seeds: pd.DataFrame,
    proto: Protocol,
    out: Path,
    n_boot: int,
) -> list[str]:
    """(b): lambdas selected on validation, then their test results; writes selected.md."""
    metric, margin = proto.metric, proto.margin
    ids = set(ok["run_id"])
    records = [r for r in store.records() if r.run_id in ids]
    val_long, no_val = per_sample_table(records, "val", metric)
    test_long, no_test = per_sample_table(records, "test", metric)
    lines = [
        "## Operating points: lambda selected on validation, then tested once",
        "",
        f"Per dataset and model, the selected lambda is the largest whose validation {metric} "
        f"is equivalent to lambda = 0 within ±{margin:g} (TOST on paired per-sample validation "
        "predictions, Holm-corrected across the lambdas, alpha 0.05). Test numbers were not "
        "used to select. Test Δ: the selected lambda minus lambda = 0, paired by seed, fold and "
        "test sample, with a bootstrap CI over seeds and test samples; TOST on test with the "
        "same margin. Where no paired sample differs, the bootstrap has no variance: the test "
        "is then exact (for accuracy, a difference of ±margin needs a share margin of the "
        "pairs to differ: p = (1 - margin)^pairs). Energy ratio: joules per inference at the "
        "selected lambda over lambda = 0, with a bootstrap CI over seeds (energy is recorded "
        "per run, not per sample).",
        "",
    ]
    if no_val or no_test:
        lines += [
            f"{len(no_val)} run(s) have no per-sample validation predictions and "
            f"{len(no_test)} no per-sample test predictions (no validation split, or records "
            "of an older spikeenergy); they are not in the comparisons.",
            "",
        ]
    if val_long.empty:
        lines += ["(no per-sample validation predictions: nothing can be selected)", ""]
        _write(out / "selected.md", "(no per-sample validation predictions)\n")
        return lines
    choices, effects = select_on_validation(val_long, margin, n_boot, metric=metric)
    res = results_at_selected(choices, test_long, seeds, margin, n_boot, metric=metric)
    target = _targets(ok)
    sel_md = markdown_table(selected_frame(res, metric, target))
    _write(out / "selected.md", sel_md + "\n")
    lines += [sel_md, ""]
    if not effects.empty:
        lines += [
            f"### Validation: every lambda against lambda = 0 (margin ±{margin:g})",
            "",
            markdown_table(validation_frame(effects, metric)),
            "",
        ]
    return lines


def _efficiency_section(ok: pd.DataFrame, proto: Protocol, out: Path) -> list[str]:
    """(d): time to the validation target, censored runs counted; writes efficiency.md."""
    head = [
        "## Training efficiency: steps and time to the validation target",
        "",
    ]
    target = proto.target_accuracy
    if target is None and ok["steps_to_target"].isna().all():
        text = "(the suite sets no target_accuracy: no time to target was measured)"
        _write(out / "efficiency.md", text + "\n")
        return [*head, text, ""]
    try:
        eff = efficiency_frame(ok)
    except ValueError as exc:
        text = f"(no efficiency table: {exc})"
        _write(out / "efficiency.md", text + "\n")
        return [*head, text, ""]
    md = markdown_table(eff)
    _write(out / "efficiency.md", md + "\n")
    return [
        *head,
        f"Target: validation accuracy {_fmt(target) if target is not None else '?'}. Every run "
        "counts: a run that never reached the target is censored at its budget (Kaplan-Meier "
        "median with its 95% CI; RMST = mean steps to target restricted to the horizon); one "
        "run per seed and fold.",
        "",
        md,
        "",
    ]
