"""Paired comparisons to a reference level (lambda = 0) that count test-set sampling error.

The input is a long table with one row per (run, test sample): run keys (dataset, model,
``lam``, ``seed``, ``fold``), a sample id and a per-sample value (``correct`` in {0, 1}, or any
per-sample metric). Every level is paired with the reference level on (seed, fold, sample): the
same seed, the same fold and the same test recording, so that the seed's data subset and the
test set's composition cancel out of the difference.

Seeds and test samples are *crossed* (every seed is tested on every sample), so the mean
difference has three sources of error (a two-way random-effects model
``d[s, i] = mu + a[s] + b[i] + e[s, i]``)::

    Var(mean) = sigma_a^2 / R + sigma_b^2 / C + sigma_e^2 / (R C)

with R seeds and C samples. A CI over seeds alone (the old report) drops ``sigma_b^2 / C``: it
treats the one fixed test set as if it were the whole population. :func:`crossed_bootstrap`
resamples seeds AND samples at once (Owen's pigeonhole bootstrap, "The pigeonhole bootstrap",
Ann. Appl. Stat. 2007): replicate ``b`` draws multinomial counts ``w`` over seeds and ``v``
over samples and takes ``sum w_s v_i d[s, i] / (R C)``. Its variance is known exactly::

    Var*(T*) = SS_rows / (C R^2) + SS_cols / (R C^2) + SS_resid / (R C)^2

whose expectation is about ``(1 - 1/R) sigma_a^2 / R + sigma_b^2 / C + 3 sigma_e^2 / (R C)``:
too wide when per-sample noise dominates (the usual case for 0/1 correctness) and too narrow
with few seeds. So the replicates are calibrated (``calibrate=True``, the default): standardised
by that exact variance, their normal scores mapped to Student-t scores with the Satterthwaite
degrees of freedom of the unbiased moment estimate of Var(mean) (a few seeds give a wide
interval), and scaled by that estimate. Percentile CIs and one-sided p-values are read off the
same calibrated replicates, so the CI and the equivalence test always agree. The simulation in
tests/bench/test_bench_paired.py checks coverage near the nominal rate.

"No accuracy loss" is an equivalence claim: :func:`paired_effects` runs a TOST (two one-sided
tests) per level against a margin that the caller (the suite) states in advance, with p-values
Holm-corrected across the levels of each (dataset, model) (``statsmodels``'
``multipletests(method="holm")``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

log = logging.getLogger(__name__)

#: columns that identify a pair (same seed, same fold, same test sample)
PAIR_KEYS = ("seed", "fold", "sample")
#: columns that identify a comparison family (Holm runs within one family)
FAMILY = ("dataset", "model")


@dataclass(frozen=True)
class CrossedBootstrap:
    """A (calibrated) pigeonhole bootstrap of the mean of a complete seeds x samples matrix.

    ``replicates`` are the (calibrated) bootstrap means; ``se`` and ``df`` are the moment
    estimate of the mean's standard error and its Satterthwaite degrees of freedom;
    ``var_seed``, ``var_sample``, ``var_resid`` the variance components (floored at 0).
    """

    estimate: float
    replicates: np.ndarray
    se: float
    df: float
    n_rows: int
    n_cols: int
    var_seed: float
    var_sample: float
    var_resid: float
    calibrated: bool

    def ci(self, confidence: float = 0.95) -> tuple[float, float]:
        """Percentile interval of the replicates."""
        _check_fraction("confidence", confidence)
        tail = (1 - confidence) / 2
        lo, hi = np.quantile(self.replicates, [tail, 1 - tail])
        return float(lo), float(hi)

    def p_at_most(self, bound: float) -> float:
        """One-sided bootstrap p-value of H0: mean <= ``bound`` (against mean > bound).

        The share of replicates at or below ``bound``, with the +1 of a Monte Carlo p-value
        (never exactly 0): it is below alpha exactly when the lower (1 - alpha) percentile
        bound lies above ``bound``.
        """
        n = self.replicates.size
        return float((1 + np.count_nonzero(self.replicates <= bound)) / (n + 1))

    def p_at_least(self, bound: float) -> float:
        """One-sided bootstrap p-value of H0: mean >= ``bound`` (against mean < bound)."""
        n = self.replicates.size
        return float((1 + np.count_nonzero(self.replicates >= bound)) / (n + 1))


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1); got {value}")


def _resample_counts(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """(b, n) counts of each of n items in b resamples of size n with replacement."""
    draws = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
    return np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(float)


def crossed_bootstrap(
    matrix: np.ndarray,
    n_boot: int = 4000,
    seed: int = 0,
    calibrate: bool = True,
    chunk: int = 500,
) -> CrossedBootstrap:
    """Bootstrap the mean of ``matrix`` (seeds x samples, complete) resampling rows and columns.

    ``calibrate=False`` returns Owen's raw pigeonhole replicates; ``True`` (default) rescales
    them to the unbiased variance estimate with Student-t tails (see the module docstring).
    The same ``seed`` and matrix shape give the same resampling weights (common random numbers
    across the levels of a sweep).
    """
    d = np.asarray(matrix, dtype=float)
    if d.ndim != 2:
        raise ValueError(f"matrix must be 2-D (seeds x samples); got shape {d.shape}")
    n_rows, n_cols = d.shape
    if n_rows < 2 or n_cols < 2:
        raise ValueError(
            f"need at least 2 seeds and 2 test samples to resample both; got {n_rows} x {n_cols}"
            " (run more seeds)"
        )
    if not np.isfinite(d).all():
        raise ValueError("matrix has missing or non-finite cells; pass complete rows only")
    if n_boot < 100:
        raise ValueError(f"n_boot={n_boot} is too few replicates for a percentile CI; use >= 100")
    rng = np.random.default_rng(seed)
    raw = np.empty(n_boot)
    for lo in range(0, n_boot, chunk):
        b = min(chunk, n_boot - lo)
        w = _resample_counts(rng, b, n_rows)  # (b, R) times each seed is drawn
        v = _resample_counts(rng, b, n_cols)  # (b, C) times each sample is drawn
        raw[lo : lo + b] = ((w @ d) * v).sum(axis=1) / (n_rows * n_cols)
    # two-way ANOVA without replication: mean squares of rows (seeds), columns, residual
    mean = float(d.mean())
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    ss_r = n_cols * float(((rows - mean) ** 2).sum())
    ss_c = n_rows * float(((cols - mean) ** 2).sum())
    ss_e = float(((d - rows[:, None] - cols[None, :] + mean) ** 2).sum())
    df_r, df_c, df_e = n_rows - 1, n_cols - 1, (n_rows - 1) * (n_cols - 1)
    ms_r, ms_c, ms_e = ss_r / df_r, ss_c / df_c, ss_e / df_e
    # E[MS_R] = C s_a^2 + s_e^2, E[MS_C] = R s_b^2 + s_e^2, E[MS_E] = s_e^2
    var_a, var_b = max(0.0, (ms_r - ms_e) / n_cols), max(0.0, (ms_c - ms_e) / n_rows)
    # Var(mean) = s_a^2/R + s_b^2/C + s_e^2/(RC) = (c_r MS_R + c_c MS_C + c_e MS_E) / (RC)
    c_r, c_c, c_e = float(var_a > 0), float(var_b > 0), 1.0 - (var_a > 0) - (var_b > 0)
    parts = [(c_r * ms_r, df_r), (c_c * ms_c, df_c), (c_e * ms_e, df_e)]
    total = sum(p for p, _ in parts)
    var_u = max(0.0, total / (n_rows * n_cols))
    denom = sum(p * p / k for p, k in parts)
    df = max(1.0, total * total / denom) if denom > 0 else float(df_r)
    rc = n_rows * n_cols
    var_pb = ss_r / (n_cols * n_rows**2) + ss_c / (n_rows * n_cols**2) + ss_e / rc**2
    if not calibrate or var_pb <= 0:
        reps = raw
    else:
        z = (raw - mean) / math.sqrt(var_pb)
        reps = mean + math.sqrt(var_u) * sps.t.ppf(sps.norm.cdf(z), df)
    return CrossedBootstrap(
        estimate=mean,
        replicates=reps,
        se=math.sqrt(var_u),
        df=float(df),
        n_rows=n_rows,
        n_cols=n_cols,
        var_seed=var_a,
        var_sample=var_b,
        var_resid=ms_e,
        calibrated=calibrate and var_pb > 0,
    )


def _margin_bounds(margin: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(margin, tuple):
        low, high = (float(m) for m in margin)
    else:
        low, high = -float(margin), float(margin)
    if not (math.isfinite(low) and math.isfinite(high)) or not low < 0 < high:
        raise ValueError(
            f"equivalence margin must be a positive number m (bounds -m, +m) or a pair "
            f"(low < 0 < high); got {margin!r}"
        )
    return low, high


def _check_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"per-sample table lacks {what} column(s) {missing}; it has {list(table.columns)}"
        )


def paired_differences(
    per_sample: pd.DataFrame,
    value: str = "correct",
    level: str = "lam",
    reference: float = 0.0,
    by: Sequence[str] = FAMILY,
    pair: Sequence[str] = PAIR_KEYS,
) -> pd.DataFrame:
    """Per (``by``, level, ``pair``): ``ref`` (value at the reference level), ``value`` and
    ``diff`` = value - ref, for every level other than the reference.

    Rows without a partner at the reference level (or the reverse) are left out and counted in
    a logged warning; a duplicated key (two rows for one run and sample) raises.
    """
    by, pair = list(by), list(pair)
    _check_columns(per_sample, [*by, level, *pair, value], "key or value")
    keys = [*by, level, *pair]
    dup = per_sample.duplicated(keys)
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} rows repeat a (group, level, seed, fold, sample) key, e.g. "
            f"{per_sample.loc[dup, keys].iloc[0].to_dict()}: one row per run and test sample"
        )
    vals = per_sample[value].astype(float)
    if not np.isfinite(vals).all():
        raise ValueError(f"column {value!r} has missing or non-finite values; drop failed runs")
    df = per_sample[keys].assign(value=vals.to_numpy())
    is_ref = df[level] == reference
    if not is_ref.any():
        raise ValueError(f"no rows at the reference level {level} = {reference!r}")
    ref = df[is_ref].drop(columns=level).rename(columns={"value": "ref"})
    other = df[~is_ref]
    out = other.merge(ref, on=[*by, *pair], how="inner", validate="many_to_one")
    n_lost = len(other) - len(out)
    if n_lost:
        log.warning(
            "paired differences: %d of %d rows have no partner at %s = %r (left out)",
            n_lost,
            len(other),
            level,
            reference,
        )
    out["diff"] = out["value"] - out["ref"]
    return out.reset_index(drop=True)


def _matrix(
    part: pd.DataFrame, column: str, row: str, cols: Sequence[str]
) -> tuple[np.ndarray, list[object]]:
    """(seeds x samples) matrix of ``column`` with complete rows only; dropped seeds returned."""
    wide = part.pivot_table(index=row, columns=list(cols), values=column, aggfunc="first")
    wide = wide.dropna(axis=1, how="all")
    complete = wide.notna().all(axis=1)
    dropped = [k for k, ok in complete.items() if not ok]
    return wide[complete].to_numpy(dtype=float), dropped


def paired_effects(
    per_sample: pd.DataFrame,
    margin: float | tuple[float, float],
    value: str = "correct",
    level: str = "lam",
    reference: float = 0.0,
    by: Sequence[str] = FAMILY,
    seed_col: str = "seed",
    sample_cols: Sequence[str] = ("fold", "sample"),
    confidence: float = 0.95,
    alpha: float = 0.05,
    n_boot: int = 4000,
    seed: int = 0,
    calibrate: bool = True,
) -> pd.DataFrame:
    """Per (``by``, level): the paired difference to the reference level with a bootstrap CI
    over seeds and test samples, and a TOST equivalence test, Holm-corrected across levels.

    ``margin`` is the equivalence margin in units of ``value`` (0.01 = one accuracy point for
    0/1 correctness): a number ``m`` for bounds (-m, +m), or a pair (low, high). The level is
    declared equivalent ("no accuracy loss") when its Holm-adjusted TOST p-value is below
    ``alpha``. Columns: ``by``, level, ``n_seeds``, ``n_samples``, ``dropped_seeds`` (seeds
    without a complete set of pairs), ``ref_mean``, ``mean``, ``diff``, ``diff_lo``,
    ``diff_hi``, ``se``, ``df``, ``p_lower`` (H0: diff <= low), ``p_upper`` (H0: diff >=
    high), ``p_tost`` = max of the two, ``p_tost_holm``, ``equivalent``, ``margin_low``,
    ``margin_high``. ``sample_cols`` name a test sample (a table without a ``fold`` column
    has one fixed test set).
    """
    low, high = _margin_bounds(margin)
    _check_fraction("confidence", confidence)
    _check_fraction("alpha", alpha)
    by = list(by)
    # a table without folds (one fixed test set) pairs on (seed, sample)
    sample_cols = [c for c in sample_cols if not (c == "fold" and c not in per_sample.columns)]
    pairs = paired_differences(per_sample, value, level, reference, by, [seed_col, *sample_cols])
    rows = []
    group_keys = [*by, level]
    for key, part in pairs.groupby(group_keys, sort=True):
        kd = dict(zip(group_keys, key if isinstance(key, tuple) else (key,), strict=True))
        diff, dropped = _matrix(part, "diff", seed_col, sample_cols)
        if dropped:
            log.warning(
                "paired effects %s: seeds %s lack some test samples (a failed fold?); left out",
                kd,
                dropped,
            )
        ref_m, _ = _matrix(part, "ref", seed_col, sample_cols)
        val_m, _ = _matrix(part, "value", seed_col, sample_cols)
        boot = crossed_bootstrap(diff, n_boot=n_boot, seed=seed, calibrate=calibrate)
        lo, hi = boot.ci(confidence)
        p_lo, p_hi = boot.p_at_most(low), boot.p_at_least(high)
        rows.append(
            {
                **kd,
                "n_seeds": boot.n_rows,
                "n_samples": boot.n_cols,
                "dropped_seeds": len(dropped),
                "ref_mean": float(ref_m.mean()),
                "mean": float(val_m.mean()),
                "diff": boot.estimate,
                "diff_lo": lo,
                "diff_hi": hi,
                "se": boot.se,
                "df": boot.df,
                "p_lower": p_lo,
                "p_upper": p_hi,
                "p_tost": max(p_lo, p_hi),
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        raise ValueError(f"no level other than the reference {level} = {reference!r} to compare")
    out["p_tost_holm"] = np.nan
    families = out.groupby(by, sort=False).groups.values() if by else [out.index]
    for idx in families:
        _, adj, _, _ = multipletests(out.loc[idx, "p_tost"].to_numpy(), alpha, method="holm")
        out.loc[idx, "p_tost_holm"] = adj
    out["equivalent"] = out["p_tost_holm"] < alpha
    out["margin_low"], out["margin_high"] = low, high
    return out
