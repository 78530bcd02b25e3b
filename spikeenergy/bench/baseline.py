"""A recipe against a baseline from another suite: the same protocol across two stores.

A suite's report compares every lambda with lambda = 0 of the SAME recipe. When a recipe
changes more than lambda (e.g. the joules term together with pruning, whose lambda = 0 is
already pruned), the question "how far does energy fall from plain training, at an accuracy
loss shown to be under the margin?" needs the plain model as the reference. A second suite
(the baseline) trains it on the same data, folds and seeds; :func:`compare_with_baseline`
then applies the report's protocol to the pair:

1. every recipe setting (its lambdas, lambda = 0 included) is compared on VALIDATION with the
   baseline's lambda = 0 (TOST with the recipe suite's margin, paired per seed, fold and
   sample, Holm-corrected across the settings); the selected setting is the largest lambda
   that passes (:func:`spikeenergy.bench.selection.select_on_validation`);
2. only then the test split of that one setting is read: its metric against the baseline's,
   paired, with the crossed bootstrap CI and the TOST, and its joules per inference over the
   baseline's with a CI over seeds (:func:`~spikeenergy.bench.selection.results_at_selected`).

The two stores must share the dataset, model labels, seeds, folds, metric and target, and the
baseline must hold lambda = 0 only; otherwise the comparison is refused with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from spikeenergy.bench.report import (
    Protocol,
    _targets,
    _write,
    markdown_table,
    selected_frame,
    validation_frame,
)
from spikeenergy.bench.selection import (
    fold_means,
    per_sample_table,
    results_at_selected,
    select_on_validation,
)
from spikeenergy.bench.stats import ok_runs
from spikeenergy.bench.store import ResultsStore, RunRecord


class BaselineError(ValueError):
    """The two stores cannot be compared (what differs is in the message)."""


def _load(path: str | Path) -> tuple[ResultsStore, Protocol, pd.DataFrame, list[RunRecord]]:
    store = ResultsStore(Path(path))
    if not store.runs_dir.is_dir():
        raise BaselineError(
            f"{path} has no runs/ folder: not a benchmark results folder (run "
            f"`spikeenergy bench SUITE --out {path}` first)"
        )
    suite_path = store.root / "suite.json"
    suite = json.loads(suite_path.read_text()) if suite_path.is_file() else {}
    proto = Protocol.from_suite_json(suite, store.root.name)
    table = store.consolidate()
    grid = set(suite.get("run_ids") or [])
    if grid:
        table = table[table["run_id"].isin(grid)]
    ok = ok_runs(table)
    ids = set(ok["run_id"])
    return store, proto, ok, [r for r in store.records() if r.run_id in ids]


def _same(what: str, a: Any, b: Any, recipe: str, baseline: str) -> None:
    if a != b:
        raise BaselineError(
            f"{recipe} and {baseline} differ in {what} ({a!r} vs {b!r}); a baseline must be "
            "trained on the same data, folds, seeds and target as the recipe"
        )


def compare_with_baseline(
    results_dir: str | Path,
    baseline_dir: str | Path,
    out_dir: str | Path | None = None,
    n_boot: int = 4000,
) -> Path:
    """Compare the recipe in ``results_dir`` with lambda = 0 of ``baseline_dir`` (see the module
    docstring); writes ``vs_<baseline suite>.md`` (operating point and validation evidence)
    into ``out_dir`` (default: ``results_dir``) and returns its path."""
    _, proto, ok, records = _load(results_dir)
    _, bproto, bok, brecords = _load(baseline_dir)
    rname, bname = proto.name, bproto.name
    if ok.empty or bok.empty:
        raise BaselineError(f"{rname if ok.empty else bname}: no successful runs to compare")
    _same("task metric", proto.metric, bproto.metric, rname, bname)
    _same("folds", proto.folds, bproto.folds, rname, bname)
    _same("datasets", sorted(set(ok["dataset"])), sorted(set(bok["dataset"])), rname, bname)
    _same("models", sorted(set(ok["model"])), sorted(set(bok["model"])), rname, bname)
    _same("seeds", sorted(set(ok["seed"])), sorted(set(bok["seed"])), rname, bname)
    _same("targets", sorted(set(ok["target"])), sorted(set(bok["target"])), rname, bname)
    if set(bok["lam"]) != {0.0}:
        raise BaselineError(
            f"{bname} holds lambdas {sorted(set(bok['lam']))}: a baseline has lambda = 0 only"
        )
    # The recipe's settings become levels 1..n (in lambda order) against the baseline at 0, so
    # the report's selection (largest passing level) and test functions apply unchanged.
    lams = sorted(set(ok["lam"]))
    level = {lam: float(i + 1) for i, lam in enumerate(lams)}
    recipe_lam = {v: k for k, v in level.items()}
    recs = [dataclasses.replace(r, lam=level[float(r.lam)]) for r in records] + brecords
    both = pd.concat([ok.assign(lam=ok["lam"].map(level)), bok], ignore_index=True)
    seeds = fold_means(both, proto.folds)
    metric, margin = proto.metric, proto.margin
    val_long, _ = per_sample_table(recs, "val", metric)
    test_long, _ = per_sample_table(recs, "test", metric)
    if val_long.empty:
        raise BaselineError("no per-sample validation predictions: nothing can be selected")
    choices, effects = select_on_validation(val_long, margin, n_boot, metric=metric)
    res = results_at_selected(choices, test_long, seeds, margin, n_boot, metric=metric)
    target = _targets(ok)

    def recipe(v: float) -> str:
        return "-" if math.isnan(v) else ("baseline" if v == 0 else f"{recipe_lam[v]:g}")

    sel = selected_frame(res, metric, target)
    sel["selected lambda (val)"] = [recipe(v) for v in res["lam"]]
    sel = sel.rename(
        columns={
            "selected lambda (val)": f"selected {rname} lambda (val)",
            f"test {metric} λ=0": f"test {metric} {bname}",
            f"J/inference λ=0 ({target})": f"J/inference {bname} ({target})",
        }
    )
    val = validation_frame(effects, metric) if not effects.empty else pd.DataFrame()
    if not val.empty:
        val["lambda"] = [recipe(v) for v in effects["lam"]]
        val = val.rename(
            columns={"lambda": f"{rname} lambda", f"val {metric} λ=0": f"val {metric} {bname}"}
        )
    out = Path(out_dir) if out_dir is not None else Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = [
        markdown_table(sel),
        "",
        f"Reference: `{bname}` (lambda = 0). Every `{rname}` setting was compared with it on "
        f"validation (TOST, margin ±{margin:g}, Holm across {len(lams)} settings); the largest "
        "lambda that passed was selected, then tested once.",
    ]
    if not val.empty:
        text += ["", markdown_table(val)]
    path = out / f"vs_{bname}.md"
    _write(path, "\n".join(text) + "\n")
    return path
