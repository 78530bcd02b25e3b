"""Statistics of a results table: means with 95% CIs, relative energy, ANOVA, Pareto fronts.

All functions take the flat table of :mod:`spikeenergy.bench.store` (one row per run) and use
only the rows with status "ok"; failed runs are reported separately, never counted as zeros.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

log = logging.getLogger(__name__)

GROUP = ("dataset", "model", "lam")
#: metrics summarised per (dataset, model, lambda)
SUMMARY_METRICS = (
    "accuracy",
    "energy_j",
    "rel_energy",
    "val_accuracy",
    "val_energy_j",
    "spike_rate",
    "activation_sparsity",
    "acs",
    "macs",
    "dense_ops",
    "wall_time_s",
    "steps",
    "time_to_target_s",
    "steps_to_target",
)


def ok_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The successful runs of ``table``."""
    return table[table["status"] == "ok"].copy()


def mean_ci(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the Student-t confidence interval of the mean; NaNs dropped.

    One value gives a NaN interval (no spread to estimate), not a zero-width one.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(x.mean())
    if n < 2:
        return m, float("nan"), float("nan"), n
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, m - half, m + half, n


def with_relative_energy(table: pd.DataFrame, column: str = "energy_j") -> pd.DataFrame:
    """Add ``rel_energy``: each run's ``column`` (joules per inference on the run's target) over
    the mean of its (dataset, model) at lam = 0. Groups without a lam = 0 baseline get NaN.
    """
    df = table.copy()
    base = (
        df[(df["lam"] == 0) & (df["status"] == "ok")]
        .groupby(["dataset", "model"])[column]
        .mean()
        .rename("_base")
    )
    df = df.join(base, on=["dataset", "model"])
    df["rel_energy"] = df[column] / df["_base"]
    return df.drop(columns="_base")


def summarize(
    table: pd.DataFrame,
    metrics: Sequence[str] = SUMMARY_METRICS,
    by: Sequence[str] = GROUP,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per group: n and, for each metric, ``<m>`` (mean), ``<m>_lo`` and ``<m>_hi`` (CI)."""
    df = with_relative_energy(ok_runs(table))
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        row["n"] = len(g)
        if "target" in g:
            row["target"] = ", ".join(sorted({str(t) for t in g["target"].dropna()}))
        for m in metrics:
            if m not in g:
                continue
            mean, lo, hi, _ = mean_ci(g[m].to_numpy(), confidence)
            row.update({m: mean, f"{m}_lo": lo, f"{m}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def energy_at_no_loss(summary: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    """Per (dataset, model): the lowest mean relative energy whose mean accuracy is within
    ``tolerance`` (accuracy fraction; 0.01 = 1 point) of the lam = 0 accuracy."""
    rows = []
    for (ds, model), g in summary.groupby(["dataset", "model"], sort=True):
        base = g[g["lam"] == 0]
        if base.empty:
            continue
        acc0 = float(base["accuracy"].iloc[0])
        ok = g[g["accuracy"] >= acc0 - tolerance].sort_values("rel_energy")
        best = ok.iloc[0]
        rows.append(
            {
                "dataset": ds,
                "model": model,
                "baseline_accuracy": acc0,
                "lam": float(best["lam"]),
                "accuracy": float(best["accuracy"]),
                "rel_energy": float(best["rel_energy"]),
            }
        )
    return pd.DataFrame(rows)


def anova(
    table: pd.DataFrame,
    response: str = "accuracy",
    factors: Sequence[str] = ("model", "dataset"),
    blocks: Sequence[str] = (),
) -> pd.DataFrame:
    """Factorial ANOVA of ``response`` on ``factors`` (with all their interactions) plus
    additive ``blocks``; columns term, sum_sq, df, F, p, partial_eta_sq.

    Type II sums of squares (statsmodels ``anova_lm(typ=2)``; equal to types I and III on a
    balanced design). partial eta^2 = SS_effect / (SS_effect + SS_residual). Factors with a
    single level are dropped (logged): they explain nothing. With two factors, levels of the
    first that are not crossed with every level of the second are left out (logged). An empty
    table means there is nothing to test (no factor with two levels, or no residual degrees of
    freedom).
    """
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    df = ok_runs(table) if "status" in table else table.copy()
    df = df[np.isfinite(df[response].astype(float))]
    keep = [f for f in factors if df[f].nunique() > 1]
    for f in set(factors) - set(keep):
        log.info("ANOVA: factor %r has one level; dropped", f)
    if len(keep) == 2:  # keep a complete crossing: levels of the first factor seen with
        a, b = keep  # every level of the second (e.g. a model not run on one dataset)
        n_b = df[b].nunique()
        full = df.groupby(a)[b].nunique()
        complete = full[full == n_b].index
        if len(complete) < len(full):
            log.warning(
                "ANOVA: %s %s not crossed with every %s; left out",
                a,
                sorted(map(str, set(full.index) - set(complete))),
                b,
            )
            df = df[df[a].isin(complete)]
        keep = [f for f in keep if df[f].nunique() > 1]
    blk = [b for b in blocks if df[b].nunique() > 1]
    if not keep:
        return pd.DataFrame(columns=["term", "sum_sq", "df", "F", "p", "partial_eta_sq"])
    names = {f: f"f{i}" for i, f in enumerate([*keep, *blk])}  # safe formula names
    data = pd.DataFrame({names[c]: df[c].astype(str).to_numpy() for c in names})
    data["y"] = df[response].astype(float).to_numpy()
    rhs = " * ".join(f"C({names[f]})" for f in keep)
    rhs += "".join(f" + C({names[b]})" for b in blk)
    fit = ols(f"y ~ {rhs}", data=data).fit()
    if fit.df_resid < 1:
        log.warning(
            "ANOVA: no residual degrees of freedom (%d runs for %d parameters); run more seeds",
            len(data),
            int(fit.df_model) + 1,
        )
        return pd.DataFrame(columns=["term", "sum_sq", "df", "F", "p", "partial_eta_sq"])
    res = anova_lm(fit, typ=2)
    back = {f"C({v})": k for k, v in names.items()}
    terms = [
        ":".join(back.get(p, p) for p in t.split(":")) if t != "Residual" else "Residual"
        for t in res.index
    ]
    ss_res = float(res.loc["Residual", "sum_sq"])
    out = pd.DataFrame(
        {
            "term": terms,
            "sum_sq": res["sum_sq"].to_numpy(),
            "df": res["df"].to_numpy(),
            "F": res["F"].to_numpy(),
            "p": res["PR(>F)"].to_numpy(),
        }
    )
    out["partial_eta_sq"] = np.where(
        out["term"] == "Residual", np.nan, out["sum_sq"] / (out["sum_sq"] + ss_res)
    )
    return out


def pareto_mask(
    energy: Sequence[float] | np.ndarray, accuracy: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Boolean mask of the non-dominated points (lower energy and higher accuracy are better).

    A point is dominated when another has energy <= and accuracy >= with one strictly better.
    """
    e = np.asarray(energy, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    le = e[None, :] <= e[:, None]  # [i, j]: j uses no more energy than i
    ge = a[None, :] >= a[:, None]
    strict = (e[None, :] < e[:, None]) | (a[None, :] > a[:, None])
    dominated = (le & ge & strict).any(axis=1)
    return ~dominated & np.isfinite(e) & np.isfinite(a)


def pareto_front(summary: pd.DataFrame, energy: str = "energy_j") -> pd.DataFrame:
    """Per dataset, the (model, lambda) points on the accuracy-vs-``energy`` front, by energy."""
    parts = []
    for _, g in summary.groupby("dataset", sort=True):
        mask = pareto_mask(g[energy].to_numpy(), g["accuracy"].to_numpy())
        parts.append(g[mask].sort_values(energy))
    cols = ["dataset", "model", "lam", "accuracy", energy]
    return pd.concat(parts)[cols] if parts else pd.DataFrame(columns=cols)
