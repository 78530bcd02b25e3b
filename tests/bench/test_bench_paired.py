"""Paired differences to lambda = 0: crossed bootstrap, TOST equivalence, Holm correction."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import ttost_paired

from spikeenergy.bench.paired import crossed_bootstrap, paired_differences, paired_effects


def crossed(rng, n_seeds, n_samples, mu=0.0, sd_seed=0.0, sd_sample=0.0, sd_resid=1.0):
    """d[s, i] = mu + a[s] + b[i] + e[s, i] (seeds crossed with test samples)."""
    return (
        mu
        + rng.normal(0, sd_seed, (n_seeds, 1))
        + rng.normal(0, sd_sample, (1, n_samples))
        + rng.normal(0, sd_resid, (n_seeds, n_samples))
    )


def test_raw_pigeonhole_variance_matches_its_closed_form() -> None:
    # the module's calibration rests on Var*(T*) = SS_r/(C R^2) + SS_c/(R C^2) + SS_e/(RC)^2;
    # check it against the empirical variance of 40,000 raw replicates
    rng = np.random.default_rng(1)
    d = crossed(rng, 6, 40, sd_seed=0.5, sd_sample=0.7, sd_resid=1.0)
    r, c = d.shape
    m, rows, cols = d.mean(), d.mean(1), d.mean(0)
    ss_r = c * ((rows - m) ** 2).sum()
    ss_c = r * ((cols - m) ** 2).sum()
    ss_e = ((d - rows[:, None] - cols[None, :] + m) ** 2).sum()
    closed = ss_r / (c * r**2) + ss_c / (r * c**2) + ss_e / (r * c) ** 2
    boot = crossed_bootstrap(d, n_boot=40_000, seed=2, calibrate=False)
    assert boot.replicates.mean() == pytest.approx(m, abs=3 * np.sqrt(closed / 40_000))
    # the sample variance of 40k draws is within ~2% (sd of a variance estimate ~ sqrt(2/n))
    assert boot.replicates.var() == pytest.approx(closed, rel=0.04)


def test_calibrated_interval_covers_the_truth_near_the_nominal_rate() -> None:
    # 300 simulated studies (10 seeds x 100 samples, every error source present); a 95% CI
    # should cover the true mean ~95% of the time (binomial sd 1.3 points: 0.91-0.99 is +-3 sd)
    rng = np.random.default_rng(7)
    hits_cal = hits_raw = 0
    n = 300
    for k in range(n):
        d = crossed(rng, 10, 100, mu=0.3, sd_seed=0.03, sd_sample=0.1, sd_resid=0.3)
        lo, hi = crossed_bootstrap(d, n_boot=400, seed=k).ci(0.95)
        hits_cal += lo <= 0.3 <= hi
        lo, hi = crossed_bootstrap(d, n_boot=400, seed=k, calibrate=False).ci(0.95)
        hits_raw += lo <= 0.3 <= hi
    assert 0.91 <= hits_cal / n <= 0.99
    # the raw pigeonhole interval counts the residual 3 times: here it over-covers
    assert hits_raw / n >= hits_cal / n


def test_calibrated_interval_is_wide_with_few_seeds() -> None:
    # with 3 seeds and a strong seed effect, the seed term dominates: the interval uses
    # Student-t tails with ~2 degrees of freedom, so it is wider than +-1.96 se
    rng = np.random.default_rng(3)
    d = crossed(rng, 3, 200, sd_seed=1.0, sd_resid=0.1)
    boot = crossed_bootstrap(d, n_boot=4000, seed=0)
    lo, hi = boot.ci(0.95)
    assert boot.df < 3
    assert (hi - lo) / 2 > 2.5 * boot.se


def test_crossed_bootstrap_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 seeds"):
        crossed_bootstrap(np.ones((1, 10)))
    with pytest.raises(ValueError, match="non-finite"):
        crossed_bootstrap(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="n_boot"):
        crossed_bootstrap(np.ones((3, 3)), n_boot=10)


def test_tost_p_value_agrees_with_statsmodels_ttost_paired_without_sample_effects() -> None:
    # with no sample effect, Var(mean) = (s_a^2 + s_e^2/C) / R: exactly what a paired t-test
    # over per-seed means estimates; so the bootstrap TOST and statsmodels' ttost_paired on
    # per-seed accuracies must give about the same p-value
    rng = np.random.default_rng(11)
    d = crossed(rng, 40, 30, mu=0.02, sd_seed=0.05, sd_resid=0.1)
    boot = crossed_bootstrap(d, n_boot=20_000, seed=0)
    base = rng.normal(0.9, 0.01, 40)  # per-seed accuracy at lambda 0 (cancels in the pairs)
    # margin 0.03 puts the estimate ~1.3 se inside the upper bound: p in the informative range
    p_sm, _, _ = ttost_paired(base + d.mean(1), base, -0.03, 0.03)
    p_ours = max(boot.p_at_most(-0.03), boot.p_at_least(0.03))
    assert 0.02 < p_sm < 0.5
    assert p_ours == pytest.approx(p_sm, abs=0.01)


def per_sample_table(rng, effects: dict[float, float], n_seeds=10, n_samples=800) -> pd.DataFrame:
    """0/1 correctness of ``n_seeds`` runs per lambda on one test set (one fold).

    Sample i is solved with probability q_i (difficulty, shared by all runs); a level with a
    planted accuracy change delta solves it with probability q_i + delta (clipped)."""
    q = rng.uniform(0.75, 1.0, n_samples)
    rows = []
    for lam, delta in effects.items():
        for s in range(n_seeds):
            ok = rng.random(n_samples) < np.clip(q + delta, 0, 1)
            rows.append(
                pd.DataFrame(
                    {
                        "dataset": "d",
                        "model": "m",
                        "lam": lam,
                        "seed": s,
                        "fold": 0,
                        "sample": np.arange(n_samples),
                        "correct": ok.astype(float),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_tost_accepts_inside_the_margin_and_rejects_outside() -> None:
    # planted accuracy changes: 0 (equivalent), -0.005 (inside a 2-point margin), -0.06 (far
    # outside), +0.06 (outside on the other side); margin 0.02
    rng = np.random.default_rng(5)
    effects = {0.0: 0.0, 0.1: 0.0, 1.0: -0.005, 5.0: -0.06, 10.0: 0.06}
    res = paired_effects(per_sample_table(rng, effects), margin=0.02, n_boot=2000)
    res = res.set_index("lam")
    assert res.loc[0.1, "equivalent"]
    assert res.loc[1.0, "equivalent"]
    assert not res.loc[5.0, "equivalent"]
    assert not res.loc[10.0, "equivalent"]
    for lam in (0.1, 1.0, 5.0, 10.0):  # each CI covers its planted change (clipping aside)
        assert res.loc[lam, "diff_lo"] - 0.01 <= effects[lam] <= res.loc[lam, "diff_hi"] + 0.01
    assert res.loc[5.0, "p_lower"] > 0.5  # the loss is beyond the lower bound
    assert res.loc[10.0, "p_upper"] > 0.5  # the gain is beyond the upper bound
    assert (res["n_seeds"] == 10).all()
    assert (res["n_samples"] == 800).all()
    # with a margin far wider than every change, all levels are equivalent
    wide = paired_effects(per_sample_table(rng, effects), margin=0.2, n_boot=2000)
    assert wide["equivalent"].all()


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm's step-down: sort ascending, multiply the k-th smallest by (m - k), running max."""
    m = len(p)
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adj[i] = running
    return adj.tolist()


def test_holm_by_hand() -> None:
    # p = (0.01, 0.04, 0.03, 0.005): sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06,
    # 0.04*1 = 0.04 -> running max 0.06; back in input order: 0.03, 0.06, 0.06, 0.02
    assert holm_by_hand([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_paired_effects_holm_corrects_within_each_model_only() -> None:
    rng = np.random.default_rng(9)
    effects = {0.0: 0.0, 0.5: 0.0, 1.0: -0.01, 2.0: -0.015, 4.0: -0.03}
    a = per_sample_table(rng, effects, n_seeds=5, n_samples=300)
    b = per_sample_table(rng, effects, n_seeds=5, n_samples=300).assign(model="other")
    res = paired_effects(pd.concat([a, b]), margin=0.03, n_boot=1000)
    for _, g in res.groupby("model"):
        assert len(g) == 4
        expect = holm_by_hand(g["p_tost"].tolist())
        assert g["p_tost_holm"].tolist() == pytest.approx(expect)
        assert (g["equivalent"] == (g["p_tost_holm"] < 0.05)).all()
    # one family of 4: the smallest p is multiplied by 4, not 8
    g = res[res["model"] == "m"]
    assert g["p_tost_holm"].min() == pytest.approx(min(1.0, 4 * g["p_tost"].min()))


def test_paired_differences_pair_on_seed_fold_and_sample(caplog) -> None:
    t = pd.DataFrame(
        {
            "dataset": "d",
            "model": "m",
            "lam": [0, 0, 0, 1, 1, 1],
            "seed": [0, 0, 1, 0, 0, 1],
            "fold": 0,
            "sample": [7, 8, 7, 8, 7, 9],  # (seed 1, sample 9) has no lambda-0 partner
            "correct": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0],
        }
    )
    with caplog.at_level(logging.WARNING):
        out = paired_differences(t)
    assert "1 of 3 rows have no partner" in caplog.text
    got = out.set_index(["seed", "sample"])["diff"].to_dict()
    # seed 0 sample 8: 1 - 0 = +1; seed 0 sample 7: 0 - 1 = -1
    assert got == {(0, 8): 1.0, (0, 7): -1.0}
    with pytest.raises(ValueError, match="repeat"):
        paired_differences(pd.concat([t, t.iloc[:1]]))
    with pytest.raises(ValueError, match="reference level"):
        paired_differences(t, reference=3.0)
    with pytest.raises(ValueError, match="lacks"):
        paired_differences(t.drop(columns="fold"))


def test_paired_effects_leaves_out_seeds_with_a_missing_fold(caplog) -> None:
    rng = np.random.default_rng(2)
    t = per_sample_table(rng, {0.0: 0.0, 1.0: 0.0}, n_seeds=4, n_samples=50)
    t["fold"] = t["sample"] % 2
    lost = (t["seed"] == 3) & (t["fold"] == 1) & (t["lam"] == 1.0)  # a failed run
    with caplog.at_level(logging.WARNING):
        res = paired_effects(t[~lost], margin=0.1, n_boot=200)
    assert res.loc[0, "n_seeds"] == 3
    assert res.loc[0, "dropped_seeds"] == 1
    assert res.loc[0, "n_samples"] == 50
    assert "lack some test samples" in caplog.text
    with pytest.raises(ValueError, match="margin"):
        paired_effects(t, margin=0.0)
    with pytest.raises(ValueError, match="margin"):
        paired_effects(t, margin=(0.01, 0.02))
