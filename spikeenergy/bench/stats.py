"""Statistics of a results table: means with 95% CIs, relative energy, ANOVA, Pareto fronts.

Paired comparisons to lambda = 0 with equivalence tests live in :mod:`spikeenergy.bench.paired`,
time to a target accuracy (censored runs) in :mod:`spikeenergy.bench.efficiency`.

All functions take the flat table of :mod:`spikeenergy.bench.store` (one row per run) and use
only the rows with status "ok"; failed runs are reported separately, never counted as zeros.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.optimize import brentq

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


#: time-to-target columns and the budget each run was followed for (censoring time)
CENSORED_METRICS = {"steps_to_target": "steps", "time_to_target_s": "wall_time_s"}


def summarize(
    table: pd.DataFrame,
    metrics: Sequence[str] = SUMMARY_METRICS,
    by: Sequence[str] = GROUP,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per group: n and, for each metric, ``<m>`` (mean), ``<m>_lo`` and ``<m>_hi`` (CI).

    Times to the target accuracy (``steps_to_target``, ``time_to_target_s``) are censored for
    runs that never reached it: for them ``<m>`` is the Kaplan-Meier median with its CI (see
    :mod:`spikeenergy.bench.efficiency`) and ``<m>_reached`` counts the runs that got there,
    so that slow runs are not silently dropped from an average.
    """
    from spikeenergy.bench.efficiency import censored_times, time_to_target

    df = with_relative_energy(ok_runs(table))
    censored = {}
    for m, budget in CENSORED_METRICS.items():
        if m not in metrics or m not in df or df.empty:
            continue
        if budget in df and np.isfinite(df[budget].astype(float)).all():
            censored_times(df, m, budget)  # validates the records
            censored[m] = time_to_target(df, by, m, budget, confidence).set_index(list(by))
        else:
            log.warning(
                "summary: no %r for every run, so %s is a mean over the runs that reached the "
                "target (biased low)",
                budget,
                m,
            )
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key, strict=True))
        row["n"] = len(g)
        if "target" in g:
            row["target"] = ", ".join(sorted({str(t) for t in g["target"].dropna()}))
        for m in metrics:
            if m not in g:
                continue
            km_m = censored.get(m)
            if km_m is not None:
                r = km_m.loc[key if len(by) > 1 else key[0]]
                row.update(
                    {
                        m: r["median"],
                        f"{m}_lo": r["median_lo"],
                        f"{m}_hi": r["median_hi"],
                        f"{m}_reached": int(r["reached"]),
                    }
                )
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


ANOVA_COLUMNS = (
    "term",
    "sum_sq",
    "df",
    "F",
    "p",
    "partial_eta_sq",
    "partial_eta_sq_lo",
    "partial_eta_sq_hi",
)


def partial_eta_sq_ci(
    f_value: float, df_effect: float, df_resid: float, n_obs: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Confidence interval of a fixed effect's population partial eta^2 from its F statistic.

    Inverts the noncentral F distribution (Steiger 2004, "Beyond the F test", Psychological
    Methods 9:164): the bounds of the noncentrality lambda are the values at which the
    observed F is the upper and lower (1 - confidence) / 2 quantile, found with scipy's
    ``ncf`` and Brent's method; then partial eta^2 = lambda / (lambda + N), since for a fixed
    effect lambda = N * sigma_effect^2 / sigma_error^2 and the population partial eta^2 is
    sigma_effect^2 / (sigma_effect^2 + sigma_error^2). A bound is 0 where even lambda = 0
    puts F beyond that quantile.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    if not (np.isfinite(f_value) and f_value >= 0 and df_effect > 0 and df_resid > 0):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2

    def cdf(lam: float) -> float:  # P(F <= f_value | lambda), decreasing in lambda
        if lam == 0:
            return float(sps.f.cdf(f_value, df_effect, df_resid))
        return float(sps.ncf.cdf(f_value, df_effect, df_resid, lam))

    def solve(target: float) -> float:
        if cdf(0.0) <= target:
            return 0.0
        hi = max(10.0, 2.0 * f_value * df_effect)
        while cdf(hi) > target:
            hi *= 2.0
            if hi > 1e9:
                raise ValueError(f"no noncentrality bound found for F = {f_value}")
        return float(brentq(lambda lam: cdf(lam) - target, 0.0, hi, xtol=1e-10, rtol=1e-12))

    lam_lo, lam_hi = solve(1 - tail), solve(tail)
    return lam_lo / (lam_lo + n_obs), lam_hi / (lam_hi + n_obs)


def complete_crossing(df: pd.DataFrame, factors: Sequence[str]) -> pd.DataFrame:
    """Rows of ``df`` whose levels of ``factors[0]`` are seen with every combination of the
    other factors' levels (e.g. a model not run on one dataset is left out, logged)."""
    if len(factors) < 2:
        return df
    first, rest = factors[0], list(factors[1:])
    combos = df[rest].drop_duplicates()
    n_combos = len(combos)
    seen = df.drop_duplicates([first, *rest]).groupby(first).size()
    complete = seen[seen == n_combos].index
    if len(complete) < len(seen):
        log.warning(
            "ANOVA: %s %s not crossed with every combination of %s; left out",
            first,
            sorted(map(str, set(seen.index) - set(complete))),
            rest,
        )
    return df[df[first].isin(complete)]


def anova(
    table: pd.DataFrame,
    response: str = "accuracy",
    factors: Sequence[str] = ("model", "dataset"),
    blocks: Sequence[str] = (),
    typ: int = 2,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Factorial ANOVA of ``response`` on ``factors`` (with all their interactions) plus
    additive ``blocks``; columns :data:`ANOVA_COLUMNS` (term, sum_sq, df, F, p,
    partial_eta_sq and its ``confidence`` interval ``partial_eta_sq_lo`` / ``_hi``).

    Pass lambda as a factor, ``("model", "dataset", "lam")``, to test its interactions with
    the architecture and dataset (an additive lambda block assumes it has none). ``typ`` 2
    (default) or 3 sums of squares (statsmodels ``anova_lm``; sum-to-zero contrasts, so type
    III tests main effects averaged over the other factors); all types agree on a balanced
    design. partial eta^2 = SS_effect / (SS_effect + SS_residual), with the noncentral-F
    interval of :func:`partial_eta_sq_ci`. Factors with a single level are dropped (logged):
    they explain nothing. Levels of the first factor that are not crossed with every
    combination of the others are left out (logged). An empty table means there is nothing to
    test (no factor with two levels, an incomplete crossing, or no residual degrees of
    freedom).
    """
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    if typ not in (2, 3):
        raise ValueError(f"typ must be 2 or 3 (type II or III sums of squares); got {typ}")
    empty = pd.DataFrame(columns=list(ANOVA_COLUMNS))
    df = ok_runs(table) if "status" in table else table.copy()
    df = df[np.isfinite(df[response].astype(float))]
    keep = [f for f in factors if df[f].nunique() > 1]
    for f in set(factors) - set(keep):
        log.info("ANOVA: factor %r has one level; dropped", f)
    df = complete_crossing(df, keep)
    keep = [f for f in keep if df[f].nunique() > 1]
    if len(keep) > 1:
        cells = df[keep].drop_duplicates()
        n_full = int(np.prod([df[f].nunique() for f in keep]))
        if len(cells) < n_full:
            log.warning(
                "ANOVA: only %d of the %d cells of %s have runs; run the full grid",
                len(cells),
                n_full,
                keep,
            )
            return empty
    blk = [b for b in blocks if df[b].nunique() > 1]
    if not keep:
        return empty
    names = {f: f"f{i}" for i, f in enumerate([*keep, *blk])}  # safe formula names
    data = pd.DataFrame({names[c]: df[c].astype(str).to_numpy() for c in names})
    data["y"] = df[response].astype(float).to_numpy()
    rhs = " * ".join(f"C({names[f]}, Sum)" for f in keep)
    rhs += "".join(f" + C({names[b]}, Sum)" for b in blk)
    fit = ols(f"y ~ {rhs}", data=data).fit()
    if fit.df_resid < 1:
        log.warning(
            "ANOVA: no residual degrees of freedom (%d runs for %d parameters); run more seeds",
            len(data),
            int(fit.df_model) + 1,
        )
        return empty
    res = anova_lm(fit, typ=typ).drop(index="Intercept", errors="ignore")
    back = {f"C({v}, Sum)": k for k, v in names.items()}
    terms = [
        ":".join(back.get(p, p) for p in t.split(":")) if t != "Residual" else "Residual"
        for t in res.index
    ]
    ss_res = float(res.loc["Residual", "sum_sq"])
    df_res = float(res.loc["Residual", "df"])
    out = pd.DataFrame(
        {
            "term": terms,
            "sum_sq": res["sum_sq"].to_numpy(),
            "df": res["df"].to_numpy(),
            "F": res["F"].to_numpy(),
            "p": res["PR(>F)"].to_numpy(),
        }
    )
    effect = out["term"] != "Residual"
    out["partial_eta_sq"] = np.where(effect, out["sum_sq"] / (out["sum_sq"] + ss_res), np.nan)
    bounds = [
        partial_eta_sq_ci(f, d, df_res, len(data), confidence) if e else (np.nan, np.nan)
        for f, d, e in zip(out["F"], out["df"], effect, strict=True)
    ]
    out["partial_eta_sq_lo"] = [b[0] for b in bounds]
    out["partial_eta_sq_hi"] = [b[1] for b in bounds]
    return out


@dataclass(frozen=True)
class MixedAnova:
    """Fixed-effect Wald tests of a mixed model and its variance components.

    ``terms``: columns term, chi2, df, p (one row per fixed-effect term);
    ``group_variance``: variance of the random intercepts; ``residual_variance``: of the runs
    around them; ``n_groups``, ``n_obs``: the data the model saw.
    """

    terms: pd.DataFrame
    group_variance: float
    residual_variance: float
    n_groups: int
    n_obs: int


def mixed_anova(
    table: pd.DataFrame,
    response: str = "accuracy",
    factors: Sequence[str] = ("model", "dataset", "lam"),
    group: str = "seed",
) -> MixedAnova:
    """A linear mixed model with all interactions of ``factors`` as fixed effects and a random
    intercept per ``group`` (statsmodels ``MixedLM``, REML).

    A seed shares its data subset, validation split and initialisation across the grid, so its
    runs are not independent; the random intercept takes that out of the residual. Each term
    is tested by a Wald chi^2 test of all its coefficients (sum-to-zero contrasts). Rows of
    failed runs are left out; the crossing rules are those of :func:`anova`.
    """
    import warnings

    from statsmodels.formula.api import mixedlm

    df = ok_runs(table) if "status" in table else table.copy()
    df = df[np.isfinite(df[response].astype(float))]
    keep = [f for f in factors if df[f].nunique() > 1]
    df = complete_crossing(df, keep)
    keep = [f for f in keep if df[f].nunique() > 1]
    if not keep:
        raise ValueError(f"no factor among {list(factors)} has two levels; nothing to test")
    if df[group].nunique() < 2:
        raise ValueError(f"a random effect of {group!r} needs at least 2 values of {group!r}")
    names = {f: f"f{i}" for i, f in enumerate(keep)}
    data = pd.DataFrame({names[c]: df[c].astype(str).to_numpy() for c in names})
    data["y"] = df[response].astype(float).to_numpy()
    data["g"] = df[group].astype(str).to_numpy()
    rhs = " * ".join(f"C({names[f]}, Sum)" for f in keep)
    fit = mixedlm(f"y ~ {rhs}", data, groups=data["g"]).fit(reml=True)
    with warnings.catch_warnings():  # statsmodels' notice about a future default
        warnings.simplefilter("ignore", FutureWarning)
        wald = fit.wald_test_terms(scalar=True).summary_frame()
    wald = wald.drop(index="Intercept", errors="ignore")
    back = {f"C({v}, Sum)": k for k, v in names.items()}
    terms = pd.DataFrame(
        {
            "term": [":".join(back.get(p, p) for p in str(t).split(":")) for t in wald.index],
            "chi2": wald["chi2"].astype(float).to_numpy(),
            "df": wald["df constraint"].astype(float).to_numpy(),
            "p": wald["P>chi2"].astype(float).to_numpy(),
        }
    )
    return MixedAnova(
        terms=terms,
        group_variance=float(fit.cov_re.iloc[0, 0]),
        residual_variance=float(fit.scale),
        n_groups=int(data["g"].nunique()),
        n_obs=len(data),
    )


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
