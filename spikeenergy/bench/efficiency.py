"""Training efficiency as censored data: steps (or seconds) to a validation target.

A run that never reaches the target accuracy is not a missing value: it is known to need
*more* than the steps it ran. Dropping such runs (as an average of ``steps_to_target`` does)
makes a slow architecture look fast. Here every successful run counts: one that reached the
target is an event at ``steps_to_target``; one that did not is right-censored at ``steps``
(its whole budget, or where early stopping ended it). Per group the Kaplan-Meier curve
(statsmodels ``SurvfuncRight``) gives the median steps to target with its CI, and the
restricted mean (the area under the curve up to a horizon ``tau``) a mean that censored runs
cannot bias. Two architectures are compared by the ratio of their restricted means with a
bootstrap CI (runs resampled within each architecture) and a log-rank test (statsmodels
``survdiff``); the ratio CI is set against a claimed range of savings such as minAction's
"energy-first architectures need 5-33 % fewer steps".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

log = logging.getLogger(__name__)

#: (time column, budget column) pairs of the results table
STEPS = ("steps_to_target", "steps")
SECONDS = ("time_to_target_s", "wall_time_s")


def censored_times(
    table: pd.DataFrame, time: str = STEPS[0], budget: str = STEPS[1]
) -> pd.DataFrame:
    """The successful runs of ``table`` with ``duration``, ``reached`` (True: an event at
    ``time``; False: censored at ``budget``, the target never reached) and ``followed`` (the
    run's ``budget``: how long it was watched)."""
    for col in (time, budget):
        if col not in table.columns:
            raise ValueError(f"results table has no column {col!r}; columns: {list(table)}")
    df = table[table["status"] == "ok"].copy() if "status" in table else table.copy()
    t = df[time].astype(float).to_numpy()
    b = df[budget].astype(float).to_numpy()
    if not np.isfinite(b).all():
        raise ValueError(
            f"{int((~np.isfinite(b)).sum())} successful run(s) have no {budget!r}: cannot tell "
            "how long they were followed"
        )
    reached = np.isfinite(t)
    if (t[reached] > b[reached] * (1 + 1e-9)).any():
        raise ValueError(f"some runs report {time!r} beyond their {budget!r}; corrupt records?")
    if (b <= 0).any():
        raise ValueError(f"{budget!r} must be > 0 for every run")
    df["duration"] = np.where(reached, t, b)
    df["reached"] = reached
    df["followed"] = b
    return df


def km_rmst(duration: np.ndarray, reached: np.ndarray, tau: float) -> float:
    """Restricted mean time to target up to ``tau``: the area under the Kaplan-Meier curve."""
    sf = SurvfuncRight(np.asarray(duration, float), np.asarray(reached, int))
    t, s = np.asarray(sf.surv_times), np.asarray(sf.surv_prob)
    before = t < tau
    grid = np.concatenate([[0.0], t[before], [tau]])
    level = np.concatenate([[1.0], s[before]])  # S(t) = 1 before the first event
    return float(np.sum(np.diff(grid) * level))


def _horizon(parts: Sequence[pd.DataFrame], tau: float | None) -> float:
    """``tau``, or by default the longest horizon every part was followed to and over which
    its Kaplan-Meier curve is defined (up to its last censored run, or everywhere once every
    run at risk has reached the target). With one budget for all runs: that budget."""
    limits = []
    for p in parts:
        sf = SurvfuncRight(p["duration"].to_numpy(float), p["reached"].to_numpy(int))
        ends_at_zero = len(sf.surv_prob) > 0 and float(sf.surv_prob[-1]) == 0.0
        limits.append(float(p["followed"].max() if ends_at_zero else p["duration"].max()))
    longest = min(limits)
    if tau is None:
        return longest
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a positive number of steps/seconds; got {tau}")
    if tau > longest:
        raise ValueError(
            f"tau = {tau} is beyond the follow-up of a group ({longest}); the "
            "Kaplan-Meier curve is not known there"
        )
    return float(tau)


def time_to_target(
    table: pd.DataFrame,
    by: Sequence[str] = ("dataset", "model"),
    time: str = STEPS[0],
    budget: str = STEPS[1],
    confidence: float = 0.95,
    tau: float | None = None,
) -> pd.DataFrame:
    """Per group: ``n`` runs, ``reached`` and ``censored`` counts, the Kaplan-Meier ``median``
    with its CI (``median_lo`` / ``median_hi``; NaN / inf where the curve does not fall that
    low: most runs never reached the target) and ``rmst``, the restricted mean up to ``tau``
    (default: the budget when all runs share one; see ``_horizon``), with ``tau``.
    ``failed`` counts runs that crashed (not in n; they carry no time information)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    by = list(by)
    failed = table[table["status"] != "ok"].groupby(by).size() if "status" in table else pd.Series()
    df = censored_times(table, time, budget)
    rows = []
    for key, g in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        kd = dict(zip(by, key, strict=True))
        sf = SurvfuncRight(g["duration"].to_numpy(float), g["reached"].to_numpy(int))
        reached = int(g["reached"].sum())
        if reached:
            median = float(sf.quantile(0.5))
            with np.errstate(divide="ignore", invalid="ignore"):  # log(-log S) at S = 0 or 1
                lo, hi = sf.quantile_ci(0.5, alpha=1 - confidence)
        else:
            median, lo, hi = float("nan"), float("nan"), float("nan")
        h = _horizon([g], tau)
        rows.append(
            {
                **kd,
                "n": len(g),
                "reached": reached,
                "censored": len(g) - reached,
                "failed": int(failed.get(key if len(by) > 1 else key[0], 0)),
                "median": median,
                "median_lo": float(lo),
                "median_hi": float(hi),
                "rmst": km_rmst(g["duration"].to_numpy(), g["reached"].to_numpy(), h),
                "tau": h,
            }
        )
    out = pd.DataFrame(rows)
    only_failed = set(failed.index) - set(df.groupby(by).groups)
    if only_failed:
        log.warning("time to target: groups %s have only failed runs", sorted(only_failed))
    return out


def compare_time_to_target(
    table: pd.DataFrame,
    treated: str,
    reference: str,
    group: str = "model",
    by: Sequence[str] = ("dataset",),
    time: str = STEPS[0],
    budget: str = STEPS[1],
    claim: tuple[float, float] = (0.05, 0.33),
    confidence: float = 0.95,
    tau: float | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Does ``treated`` (e.g. an energy-first architecture) reach the target in fewer steps
    than ``reference``? One row per ``by`` group.

    ``ratio`` = RMST(treated) / RMST(reference) up to a common ``tau`` (default: the
    horizon both arms were followed to, the budget when all runs share one), with a
    percentile bootstrap CI (``ratio_lo`` / ``ratio_hi``; runs resampled within each arm,
    ``n_boot`` replicates, ``seed``); ``logrank_chi2`` and
    ``logrank_p`` test equal curves. ``claim`` = (least, most) fractional saving claimed
    (0.05, 0.33 for "5-33 % fewer steps"), i.e. a ratio in [1 - most, 1 - least]:
    ``verdict`` is "supported" when the ratio CI lies inside that range, "contradicted" when
    it lies wholly outside, else "inconclusive".
    """
    least, most = claim
    if not 0 <= least < most < 1:
        raise ValueError(
            f"claim must be (least, most) savings with 0 <= least < most < 1; got {claim}"
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    lo_claim, hi_claim = 1 - most, 1 - least
    by = list(by)
    df = censored_times(table, time, budget)
    df = df[df[group].isin([treated, reference])]
    rng = np.random.default_rng(seed)
    rows = []
    groups = df.groupby(by, sort=True) if by else [((), df)]
    for key, g in groups:
        kd = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        arms = {name: g[g[group] == name] for name in (treated, reference)}
        empty = [name for name, a in arms.items() if a.empty]
        if empty:
            log.warning("time to target %s: no successful runs of %s; not compared", kd, empty)
            continue
        h = _horizon(list(arms.values()), tau)
        data = {
            k: (a["duration"].to_numpy(float), a["reached"].to_numpy(bool)) for k, a in arms.items()
        }
        r_t = km_rmst(*data[treated], h)
        r_r = km_rmst(*data[reference], h)
        reps = np.empty(n_boot)
        for b in range(n_boot):
            vals = []
            for name in (treated, reference):
                d, e = data[name]
                i = rng.integers(0, len(d), len(d))
                vals.append(km_rmst(d[i], e[i], h))
            reps[b] = vals[0] / vals[1]
        tail = (1 - confidence) / 2
        lo, hi = (float(q) for q in np.quantile(reps, [tail, 1 - tail]))
        chi2, p = survdiff(
            g["duration"].to_numpy(float),
            g["reached"].to_numpy(int),
            (g[group] == treated).to_numpy(int),
        )
        if lo_claim <= lo and hi <= hi_claim:
            verdict = "supported"
        elif hi < lo_claim or lo > hi_claim:
            verdict = "contradicted"
        else:
            verdict = "inconclusive"
        rows.append(
            {
                **kd,
                "treated": treated,
                "reference": reference,
                "n_treated": len(data[treated][0]),
                "n_reference": len(data[reference][0]),
                "reached_treated": int(data[treated][1].sum()),
                "reached_reference": int(data[reference][1].sum()),
                "tau": h,
                "rmst_treated": r_t,
                "rmst_reference": r_r,
                "ratio": r_t / r_r,
                "ratio_lo": lo,
                "ratio_hi": hi,
                "saving": 1 - r_t / r_r,
                "logrank_chi2": float(chi2),
                "logrank_p": float(p),
                "claim_ratio_lo": lo_claim,
                "claim_ratio_hi": hi_claim,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)
