"""Selection on validation only, test looked at once: the operating point of each model.

The protocol of a suite (docs/benchmarks.md, "Protocol"): per (dataset, model), the selected
lambda is the LARGEST lambda whose VALIDATION task metric is equivalent to lambda = 0 within
the suite's margin (a TOST on paired per-sample validation predictions, Holm-corrected across
the lambdas; :func:`spikeenergy.bench.paired.paired_effects`). Only then is the test split of
that one lambda looked at: its test metric and its joules per inference, each against lambda = 0
with a paired bootstrap CI, and the TOST on test. No test number enters the selection.

The per-sample tables are built from the runs' records (``predictions`` and ``labels`` of the
``val`` and ``test`` evaluation records, in split order; ``sample_ids`` when the run stored
them). A sample is identified by (fold, sample id): for a cross-validated dataset the id is the
recording's position in the pool of all recordings, shared by every seed; otherwise its
position in the split. When the runs of different seeds were evaluated on different samples
(validation is drawn with the training seed; ``test_per_class`` draws the test subset with it)
the samples are not crossed with the seeds: runs are then paired within a seed only, and the
ids are replaced by a seeded random rank (cut to the smallest seed's count) so that the
seeds x samples matrix of :func:`~spikeenergy.bench.paired.crossed_bootstrap` is complete; its
sample-variance component then estimates about zero and the seed and residual components carry
the error, as they should for samples nested in seeds.

The per-sample value is ``correct`` (0/1) for accuracy. For any other task metric (balanced
accuracy, macro-F1, a user metric), which is not a mean over samples, it is the metric's
jackknife pseudo-value ``n * m(all) - (n - 1) * m(all but i)``: exactly ``correct`` for
accuracy, and for any smooth metric values whose mean is the (bias-corrected) metric and whose
spread gives its standard error (Efron & Stein 1981), so the same paired machinery applies.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from spikeenergy.bench.paired import FAMILY, paired_differences, paired_effects
from spikeenergy.bench.store import COUNT_COLUMNS, ENERGY_COLUMNS, RunRecord
from spikeenergy.train import task_metric

log = logging.getLogger(__name__)

#: a comparison: its family and level
FAMILY_LEVEL = (*FAMILY, "lam")
#: columns of the long per-sample table
SAMPLE_COLUMNS = ("dataset", "model", "lam", "seed", "fold", "sample", "label", "value")

#: test-split columns averaged over a seed's folds with the fold sizes as weights
TEST_WEIGHTED = (
    "accuracy",
    "score",
    "loss",
    "energy",
    "energy_j",
    *ENERGY_COLUMNS,
    "spike_rate",
    "activation_sparsity",
    *COUNT_COLUMNS,
)
#: validation-split columns averaged over a seed's folds with the validation sizes as weights
VAL_WEIGHTED = ("val_accuracy", "val_score", "val_energy_j", "best_val_accuracy")
#: times to the target: a seed reaches it when every fold does (then the mean over folds)
TO_TARGET = ("time_to_target_s", "steps_to_target", "epochs_to_target")


def per_sample_values(
    preds: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    metric: str,
    num_classes: int,
) -> np.ndarray:
    """Per-sample values whose mean is the task ``metric`` of the predictions: 0/1
    correctness for accuracy, jackknife pseudo-values for any other metric (module
    docstring)."""
    p = np.asarray(preds, dtype=np.int64)
    t = np.asarray(labels, dtype=np.int64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"{p.shape} predictions for {t.shape} labels; need equal 1-D lists")
    correct = (p == t).astype(float)
    if metric == "accuracy":
        return correct
    tm = task_metric(metric)
    n = len(p)
    if n < 2:
        raise ValueError(f"jackknife values of {metric!r} need at least 2 samples; got {n}")
    whole = tm(p, t, num_classes)
    keep = np.ones(n, dtype=bool)
    loo = np.empty(n)
    for i in range(n):
        keep[i] = False
        loo[i] = float(tm.fn(p[keep], t[keep], num_classes))
        keep[i] = True
    return n * whole - (n - 1) * loo


def _num_classes(metrics: Mapping[str, Any], split: Mapping[str, Any]) -> int:
    k = (metrics.get("dataset") or {}).get("num_classes")
    if k:
        return int(k)
    if split.get("confusion"):
        return len(split["confusion"])
    return int(max(max(split["predictions"]), max(split["labels"]))) + 1


def per_sample_table(
    records: Iterable[RunRecord], split: str, metric: str = "accuracy"
) -> tuple[pd.DataFrame, list[str]]:
    """The long table of :mod:`spikeenergy.bench.paired` for the ``split`` ("val" or "test")
    of the "ok" ``records``: one row per (run, sample) with :data:`SAMPLE_COLUMNS` (fold 0
    for a fixed test split). Also returns the ids of ok runs that lack per-sample
    predictions for that split (older records, or no validation split)."""
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test'; got {split!r}")
    parts = []
    lacking = []
    for rec in records:
        if rec.status != "ok" or rec.metrics is None:
            continue
        ev = rec.metrics.get(split)
        if not ev or "predictions" not in ev or "labels" not in ev:
            lacking.append(rec.run_id)
            continue
        preds, labels = ev["predictions"], ev["labels"]
        ids = ev.get("sample_ids")
        if ids is None:
            ids = range(len(labels))
        if not len(preds) == len(labels) == len(ids):
            raise ValueError(
                f"run {rec.run_id} ({split}): {len(preds)} predictions, {len(labels)} labels, "
                f"{len(ids)} sample ids; a damaged record (rerun it)"
            )
        values = per_sample_values(preds, labels, metric, _num_classes(rec.metrics, ev))
        parts.append(
            pd.DataFrame(
                {
                    "dataset": rec.dataset,
                    "model": rec.model,
                    "lam": float(rec.lam),
                    "seed": int(rec.seed),
                    "fold": 0 if rec.fold is None else int(rec.fold),
                    "sample": np.asarray(ids, dtype=np.int64),
                    "label": np.asarray(labels, dtype=np.int64),
                    "value": values,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=list(SAMPLE_COLUMNS)), lacking
    return align_samples(pd.concat(parts, ignore_index=True)), lacking


def align_samples(long: pd.DataFrame) -> pd.DataFrame:
    """``long`` with sample ids that pair runs: kept where every seed and lambda of a
    (dataset, model, fold) saw the same samples (crossed), replaced by a seeded random rank
    within each seed, cut to the smallest seed's count, where the seeds saw different samples
    (nested; see the module docstring). Runs of one seed must share their samples across
    lambdas, and a sample its label; otherwise they cannot be paired (ValueError)."""
    out = []
    for (ds, model, fold), g in long.groupby(["dataset", "model", "fold"], sort=True):
        sets = g.groupby(["seed", "lam"])["sample"].apply(lambda s: tuple(sorted(s)))
        if sets.groupby(level="seed").nunique().max() > 1:
            raise ValueError(
                f"{ds} / {model} fold {fold}: runs of one seed were evaluated on different "
                "samples at different lambdas, so they cannot be paired; were they made by "
                "different suites? (rerun them under one suite)"
            )
        labels = g.groupby(["seed", "sample"])["label"].nunique()
        if labels.max() > 1:
            raise ValueError(
                f"{ds} / {model} fold {fold}: a sample has different labels in runs of one "
                "seed; the runs did not see the same data"
            )
        if sets.nunique() == 1:
            out.append(g)
            continue
        n_min = int(g.groupby(["seed", "lam"]).size().min())
        parts = []
        for seed, gs in g.groupby("seed", sort=True):
            ids = np.unique(gs["sample"].to_numpy())
            rank = np.random.default_rng([int(seed), int(fold)]).permutation(len(ids))
            new = pd.Series(rank, index=ids)
            gs = gs.assign(sample=new.loc[gs["sample"].to_numpy()].to_numpy())
            parts.append(gs[gs["sample"] < n_min])
        dropped = len(g) - sum(len(p) for p in parts)
        log.info(
            "%s / %s fold %d: seeds were evaluated on different samples (nested in seeds); "
            "paired within seeds on %d samples each%s",
            ds,
            model,
            fold,
            n_min,
            f" ({dropped} sample rows beyond the smallest seed left out)" if dropped else "",
        )
        out.append(pd.concat(parts))
    if not out:
        return long
    return pd.concat(out, ignore_index=True)


def fold_means(ok: pd.DataFrame, folds: Mapping[str, int] | None = None) -> pd.DataFrame:
    """One row per (dataset, model, lam, seed): runs of a cross-validated dataset are merged
    over their folds (test columns weighted by the fold sizes, so accuracy is that of all
    recordings; validation columns by the validation sizes; times to target reached only
    when every fold reached it; other numbers averaged). Seeds missing one of the dataset's
    ``folds[dataset]`` folds (a failed run) are left out, logged. Rows without folds are
    returned as they are."""
    if "fold" not in ok or ok["fold"].isna().all():
        return ok.copy()
    plain = ok[ok["fold"].isna()]
    kf = ok[ok["fold"].notna()]
    rows = []
    numeric = [c for c in kf.columns if pd.api.types.is_numeric_dtype(kf[c]) and c != "fold"]
    for key, g in kf.groupby(["dataset", "model", "lam", "seed"], sort=True):
        k = (folds or {}).get(str(key[0])) or int(kf[kf["dataset"] == key[0]]["fold"].nunique())
        if g["fold"].nunique() < k:
            log.warning(
                "%s / %s lam=%g seed %d: %d of %d folds ok; seed left out of the summary",
                *key,
                g["fold"].nunique(),
                k,
            )
            continue
        row = g.iloc[0].to_dict()
        w_test = g["n_test"].astype(float).to_numpy()
        w_val = g["n_val"].astype(float).to_numpy() if "n_val" in g else np.ones(len(g))
        for c in numeric:
            x = g[c].astype(float).to_numpy()
            if c in TEST_WEIGHTED and np.isfinite(w_test).all():
                row[c] = float(np.average(x, weights=w_test))
            elif c in VAL_WEIGHTED and np.isfinite(w_val).all() and w_val.sum() > 0:
                row[c] = float(np.average(x, weights=w_val))
            elif c in ("n_test", "n_val"):
                row[c] = float(x.sum())
            elif c in TO_TARGET:
                row[c] = float(x.mean()) if np.isfinite(x).all() else float("nan")
            else:
                row[c] = float(x.mean())
        # the group keys stay exactly as stored (a mean of three 1e-8 is 1.0000000000000002e-08,
        # which no longer equals the lambda it came from)
        row.update(dataset=key[0], model=key[1], lam=key[2], seed=key[3])
        row["fold"] = float("nan")
        row["run_id"] = ",".join(g["run_id"])
        rows.append(row)
    merged = pd.DataFrame(rows, columns=list(ok.columns))
    return pd.concat([plain, merged], ignore_index=True)


def exact_when_identical(
    effects: pd.DataFrame,
    long: pd.DataFrame,
    margin: float,
    metric: str = "accuracy",
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """``effects`` (of :func:`paired_effects`, one family) with the comparisons in which no
    paired sample differs replaced by an exact test, and Holm redone.

    When every paired difference is 0 the bootstrap has zero variance and its TOST passes
    whatever the number of pairs: 30 identical validation predictions would "prove" a
    difference below 0.01. For accuracy a difference of ±margin needs at least a fraction
    ``margin`` of the N pairs to differ, so the chance of seeing none is at most
    ``(1 - margin) ** N``: that is the TOST p-value (pairs taken as independent), and the
    difference's interval is ``±(1 - ((1 - confidence) / 2) ** (1 / N))`` (the exact upper
    bound of the share of differing pairs when none was seen). For other metrics one changed
    prediction can move the metric by more than 1/N, so no such bound holds: p = 1 (not
    testable; quote accuracy). Columns ``n_differing`` (pairs that differ) and ``method``
    are added."""
    out = effects.copy()
    diffs = paired_differences(long, value="value")
    differing = (diffs["diff"] != 0).groupby([diffs[c] for c in FAMILY_LEVEL]).sum()
    out["n_differing"] = [
        int(differing.get(tuple(r[c] for c in FAMILY_LEVEL), 0)) for _, r in out.iterrows()
    ]
    out["method"] = "bootstrap"
    none = out["n_differing"] == 0
    for i in out.index[none]:
        n = int(out.at[i, "n_seeds"] * out.at[i, "n_samples"])
        if metric == "accuracy":
            p = (1.0 - margin) ** n
            bound = 1.0 - ((1.0 - confidence) / 2.0) ** (1.0 / n)
            out.loc[i, ["diff_lo", "diff_hi"]] = -bound, bound
            out.at[i, "method"] = f"exact: no pair of {n} differs"
        else:
            p = 1.0
            out.loc[i, ["diff_lo", "diff_hi"]] = math.nan, math.nan
            out.at[i, "method"] = f"not testable: no pair of {n} differs ({metric})"
        out.loc[i, ["p_lower", "p_upper", "p_tost"]] = p, p, p
    if none.any():
        _, adj, _, _ = multipletests(out["p_tost"].to_numpy(), alpha, method="holm")
        out["p_tost_holm"] = adj
        out["equivalent"] = out["p_tost_holm"] < alpha
    return out


def _family_effects(
    long: pd.DataFrame, margin: float, n_boot: int, seed: int, metric: str = "accuracy"
) -> tuple[pd.DataFrame | None, str]:
    """paired_effects of one (dataset, model) (with :func:`exact_when_identical`), or
    (None, the reason it cannot be tested)."""
    if not (long["lam"] == 0).any():
        return None, "no lambda = 0 runs to compare with"
    if long["lam"].nunique() < 2:
        return None, "only lambda = 0"
    try:
        eff = paired_effects(long, margin, value="value", n_boot=n_boot, seed=seed)
    except ValueError as exc:
        return None, str(exc)
    return exact_when_identical(eff, long, margin, metric), ""


def select_on_validation(
    val_long: pd.DataFrame,
    margin: float,
    n_boot: int = 4000,
    seed: int = 0,
    metric: str = "accuracy",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(choices, effects): per (dataset, model), the largest lambda equivalent to lambda = 0
    on validation (TOST with ``margin``, Holm across the lambdas), from the per-sample
    validation table alone.

    ``choices`` columns: dataset, model, ``lam`` (the selected lambda; 0 when none passes),
    ``n_equivalent`` (lambdas that pass), ``val_diff``/``_lo``/``_hi``, ``val_p_holm`` (of
    the selected lambda; NaN at 0), ``note`` (why a family could not be tested: then ``lam``
    is NaN). ``effects``: every lambda's validation comparison (paired_effects columns).
    """
    choices = []
    effects = []
    for (ds, model), g in val_long.groupby(["dataset", "model"], sort=True):
        eff, why = _family_effects(g, margin, n_boot, seed, metric)
        row: dict[str, Any] = {"dataset": ds, "model": model}
        if eff is None:
            choices.append(
                {**row, "lam": float("nan"), "n_equivalent": 0, "note": why}
                | dict.fromkeys(("val_diff", "val_diff_lo", "val_diff_hi", "val_p_holm"), math.nan)
            )
            continue
        effects.append(eff)
        passing = eff[eff["equivalent"]]
        if passing.empty:
            choices.append(
                {**row, "lam": 0.0, "n_equivalent": 0, "note": "no lambda > 0 passes"}
                | dict.fromkeys(("val_diff", "val_diff_lo", "val_diff_hi", "val_p_holm"), math.nan)
            )
            continue
        best = passing.loc[passing["lam"].idxmax()]
        choices.append(
            {
                **row,
                "lam": float(best["lam"]),
                "n_equivalent": len(passing),
                "val_diff": float(best["diff"]),
                "val_diff_lo": float(best["diff_lo"]),
                "val_diff_hi": float(best["diff_hi"]),
                "val_p_holm": float(best["p_tost_holm"]),
                "note": "",
            }
        )
    eff_all = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame()
    return pd.DataFrame(choices), eff_all


def energy_ratio_ci(
    selected: np.ndarray, baseline: np.ndarray, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(ratio of means, CI low, CI high) of paired per-seed energies: a percentile bootstrap
    over seeds (scipy ``stats.bootstrap``, ``paired=True``); NaN bounds with one seed."""
    a, b = np.asarray(selected, float), np.asarray(baseline, float)
    ratio = float(a.mean() / b.mean())
    if len(a) < 2:
        return ratio, math.nan, math.nan
    if np.allclose(a, a[0]) and np.allclose(b, b[0]):
        return ratio, ratio, ratio  # no spread over seeds: every resample gives the ratio

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(x.mean(axis=axis) / y.mean(axis=axis))

    res = sps.bootstrap(
        (a, b),
        stat,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=4000,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)


def results_at_selected(
    choices: pd.DataFrame,
    test_long: pd.DataFrame,
    seeds: pd.DataFrame,
    margin: float,
    n_boot: int = 4000,
    seed: int = 0,
    metric: str = "accuracy",
) -> pd.DataFrame:
    """The test results of each selected lambda against lambda = 0 (the one look at test).

    ``seeds``: the per-seed table (:func:`fold_means`) with ``score`` (the suite's task
    metric) and ``energy_j``. Columns: those of ``choices`` and ``n_seeds``, ``n_samples``,
    ``test_ref`` / ``test_score`` (the metric at lambda = 0 and at the selected lambda, means
    of the per-seed scores), ``test_diff``/``_lo``/``_hi`` (paired over seeds, folds and test
    samples; crossed bootstrap), ``test_p_tost`` and ``test_equivalent`` (TOST with
    ``margin``; one comparison, so no correction), ``energy_ref_j`` / ``energy_j`` (joules
    per inference on the runs' target), ``energy_ratio``/``_lo``/``_hi`` (per-seed bootstrap;
    energy is recorded per run, not per sample, so its CI is over seeds).
    """
    rows = []
    for _, c in choices.iterrows():
        row = c.to_dict()
        lam = float(c["lam"])
        ds, model = c["dataset"], c["model"]
        cell = seeds[(seeds["dataset"] == ds) & (seeds["model"] == model)]
        base = cell[cell["lam"] == 0].set_index("seed")
        row["test_ref"] = float(base["score"].mean()) if len(base) else math.nan
        row["energy_ref_j"] = float(base["energy_j"].mean()) if len(base) else math.nan
        for k in ("test_score", "test_diff", "test_diff_lo", "test_diff_hi", "test_p_tost"):
            row[k] = math.nan
        row.update(energy_j=math.nan, energy_ratio=math.nan)
        row.update(energy_ratio_lo=math.nan, energy_ratio_hi=math.nan)
        row.update(test_equivalent=None, n_seeds=len(base), n_samples=0)
        if math.isnan(lam):
            rows.append(row)
            continue
        sel = cell[cell["lam"] == lam].set_index("seed")
        row["test_score"] = float(sel["score"].mean()) if len(sel) else math.nan
        row["energy_j"] = float(sel["energy_j"].mean()) if len(sel) else math.nan
        if lam == 0:
            row.update(energy_ratio=1.0, energy_ratio_lo=1.0, energy_ratio_hi=1.0)
            rows.append(row)
            continue
        both = base.index.intersection(sel.index)
        e = sel.loc[both, "energy_j"].to_numpy(float), base.loc[both, "energy_j"].to_numpy(float)
        if len(both):
            r, lo, hi = energy_ratio_ci(*e, seed=seed)
            row.update(energy_ratio=r, energy_ratio_lo=lo, energy_ratio_hi=hi)
        part = test_long[
            (test_long["dataset"] == ds)
            & (test_long["model"] == model)
            & test_long["lam"].isin([0.0, lam])
        ]
        eff, why = _family_effects(part, margin, n_boot, seed, metric)
        if eff is None:
            row["note"] = "; ".join(x for x in (row.get("note"), f"test: {why}") if x)
            rows.append(row)
            continue
        t = eff.iloc[0]
        row.update(
            n_seeds=int(t["n_seeds"]),
            n_samples=int(t["n_samples"]),
            test_diff=float(t["diff"]),
            test_diff_lo=float(t["diff_lo"]),
            test_diff_hi=float(t["diff_hi"]),
            test_p_tost=float(t["p_tost"]),
            test_equivalent=bool(t["equivalent"]),
        )
        rows.append(row)
    return pd.DataFrame(rows)
