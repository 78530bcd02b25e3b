"""Statistics: CIs, relative energy, ANOVA effect sizes (hand-computed and planted), Pareto."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from spikeenergy.bench import (
    anova,
    energy_at_no_loss,
    mean_ci,
    pareto_front,
    pareto_mask,
    summarize,
    with_relative_energy,
)
from spikeenergy.bench.stats import mixed_anova, partial_eta_sq_ci


def test_mean_ci_by_hand() -> None:
    # x = 1, 2, 3, 4: mean 2.5, sd = sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3) = 1.29099,
    # t(0.975, df=3) = 3.18245, half = 3.18245 * 1.29099 / 2 = 2.05426
    m, lo, hi, n = mean_ci([1, 2, 3, 4, float("nan")])
    assert (m, n) == (2.5, 4)
    assert lo == pytest.approx(2.5 - 2.05426, abs=1e-4)
    assert hi == pytest.approx(2.5 + 2.05426, abs=1e-4)
    m1, lo1, _, n1 = mean_ci([0.7])
    # no spread from one value
    assert m1 == 0.7
    assert n1 == 1
    assert math.isnan(lo1)


def table(rows: list[tuple[str, str, float, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["dataset", "model", "lam", "seed", "accuracy", "energy_j"]
    ).assign(status="ok")


def test_relative_energy_and_no_loss_table() -> None:
    t = table(
        [
            ("d", "snn", 0.0, 0, 0.90, 2.0),
            ("d", "snn", 0.0, 1, 0.92, 4.0),  # baseline mean 3
            ("d", "snn", 0.1, 0, 0.91, 0.6),
            ("d", "snn", 0.1, 1, 0.905, 0.3),
            ("d", "snn", 1.0, 0, 0.50, 0.03),
            ("d", "snn", 1.0, 1, 0.52, 0.03),
            ("d", "mlp", 0.0, 0, 0.95, 10.0),
            ("d", "mlp", 0.1, 0, 0.93, 5.0),
        ]
    )
    t.loc[len(t)] = ["d", "mlp", 1.0, 0, float("nan"), float("nan"), "failed"]  # ignored
    rel = with_relative_energy(t)
    assert rel.loc[2, "rel_energy"] == pytest.approx(0.6 / 3.0)
    s = summarize(t)
    snn = s[(s["model"] == "snn")].set_index("lam")
    assert snn.loc[0.1, "accuracy"] == pytest.approx(0.9075)
    assert snn.loc[0.1, "rel_energy"] == pytest.approx(0.15)  # mean(0.2, 0.1)
    # failed run left out
    assert snn.loc[0.0, "n"] == 2
    assert len(s[s["model"] == "mlp"]) == 2
    nl = energy_at_no_loss(s, tolerance=0.01).set_index("model")
    # snn: baseline 0.91; lam=0.1 keeps 0.9075 >= 0.90 at 15% energy; lam=1 loses 40 points
    assert nl.loc["snn", "lam"] == 0.1
    assert nl.loc["snn", "rel_energy"] == pytest.approx(0.15)
    # mlp: lam=0.1 loses 2 points (> 1), so only the baseline qualifies
    assert nl.loc["mlp", "lam"] == 0.0
    assert nl.loc["mlp", "rel_energy"] == 1.0


def test_anova_matches_hand_computation_on_a_tiny_balanced_design() -> None:
    # 2 x 2 design, 2 replicates per cell:
    #   A1B1: 1, 3 (mean 2)  A1B2: 5, 7 (mean 6)  A2B1: 4, 6 (mean 5)  A2B2: 4, 4 (mean 4)
    # grand mean 4.25; A means 4, 4.5; B means 3.5, 5
    # SS_A  = 4 * ((4 - 4.25)^2 + (4.5 - 4.25)^2) = 0.5
    # SS_B  = 4 * ((3.5 - 4.25)^2 + (5 - 4.25)^2) = 4.5
    # SS_AB = 2 * sum (cell - A - B + grand)^2 = 2 * 4 * 1.25^2 = 12.5
    # SS_E  = 2 + 2 + 2 + 0 = 6 (df 4, MS_E = 1.5); total 23.5 = 0.5 + 4.5 + 12.5 + 6
    # partial eta^2: A 0.5 / 6.5, B 4.5 / 10.5, AB 12.5 / 18.5; F_A = 0.5 / 1.5
    cells = {("A1", "B1"): [1, 3], ("A1", "B2"): [5, 7], ("A2", "B1"): [4, 6], ("A2", "B2"): [4, 4]}
    df = pd.DataFrame(
        [
            {"model": a, "dataset": b, "accuracy": float(y)}
            for (a, b), ys in cells.items()
            for y in ys
        ]
    )
    res = anova(df).set_index("term")
    assert list(res.index) == ["model", "dataset", "model:dataset", "Residual"]
    assert res["sum_sq"].tolist() == pytest.approx([0.5, 4.5, 12.5, 6.0])
    assert res["df"].tolist() == pytest.approx([1, 1, 1, 4])
    assert res.loc["model", "partial_eta_sq"] == pytest.approx(0.5 / 6.5)
    assert res.loc["dataset", "partial_eta_sq"] == pytest.approx(4.5 / 10.5)
    assert res.loc["model:dataset", "partial_eta_sq"] == pytest.approx(12.5 / 18.5)
    assert res.loc["model", "F"] == pytest.approx(0.5 / 1.5)
    assert res.loc["model", "p"] == pytest.approx(sps.f.sf(0.5 / 1.5, 1, 4))


def test_anova_recovers_planted_effect_sizes() -> None:
    # y = alpha_i + beta_j + gamma_ij + N(0, 1), effects summing to zero:
    # alpha = (-1, 0, 1): sigma_A^2 = 2/3 -> partial eta^2 = (2/3) / (2/3 + 1) = 0.4
    # beta = (-0.5, 0.5): sigma_B^2 = 1/4 -> 0.25 / 1.25 = 0.2
    # gamma = [[.5, -.5], [-.5, .5], [0, 0]]: sigma_AB^2 = 1/6 -> (1/6) / (7/6) = 1/7
    rng = np.random.default_rng(0)
    alpha, beta = [-1.0, 0.0, 1.0], [-0.5, 0.5]
    gamma = [[0.5, -0.5], [-0.5, 0.5], [0.0, 0.0]]
    n = 300
    rows = []
    for i, a in enumerate(alpha):
        for j, b in enumerate(beta):
            for y in a + b + gamma[i][j] + rng.normal(0, 1, n):
                rows.append(
                    {
                        "model": f"m{i}",
                        "dataset": f"d{j}",
                        "accuracy": y,
                        "lam": rng.choice([0.0, 0.1]),
                        "status": "ok",
                    }
                )
    res = anova(pd.DataFrame(rows), blocks=("lam",)).set_index("term")
    assert res.loc["model", "partial_eta_sq"] == pytest.approx(0.4, abs=0.03)
    assert res.loc["dataset", "partial_eta_sq"] == pytest.approx(0.2, abs=0.03)
    assert res.loc["model:dataset", "partial_eta_sq"] == pytest.approx(1 / 7, abs=0.03)
    assert res.loc["lam", "partial_eta_sq"] < 0.01  # the block has no effect
    assert res.loc["model:dataset", "p"] < 1e-6


def test_anova_drops_single_level_and_uncrossed_levels() -> None:
    df = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b", "c"],
            "dataset": ["x", "y", "x", "y", "x"],
            "accuracy": [1.0, 2.0, 3.0, 5.0, 9.0],
        }
    )
    res = anova(df)  # model c has no run on y: left out, leaving a 2x2 design with 1 run/cell
    assert res.empty  # no residual degrees of freedom left
    one = anova(df.assign(dataset="x"))  # one dataset: a one-way ANOVA on model
    assert list(one["term"]) == ["model", "Residual"]


def test_pareto_mask_by_hand() -> None:
    # (energy, accuracy): A(1, .5) B(2, .7) C(3, .6) D(2, .7) E(4, .9)
    # C is dominated by B (less energy, more accuracy); B and D tie (neither dominates)
    e = [1, 2, 3, 2, 4]
    a = [0.5, 0.7, 0.6, 0.7, 0.9]
    assert pareto_mask(e, a).tolist() == [True, True, False, True, True]
    s = pd.DataFrame(
        {"dataset": "d", "model": list("ABCDE"), "lam": 0.0, "accuracy": a, "energy_j": e}
    )
    assert list(pareto_front(s)["model"]) == ["A", "B", "D", "E"]


def test_partial_eta_sq_ci_inverts_the_noncentral_f_like_steiger() -> None:
    # reference: confint.ncp.f(13.18, 1, 314) = (2.713216, 31.44969) for the noncentrality
    # (Harms 2016, ConfidenceIntervals-Noncentral.R, after Steiger 2004); eta = lam / (lam + N)
    n = 1000
    lo, hi = partial_eta_sq_ci(13.18, 1, 314, n)
    assert lo * n / (1 - lo) == pytest.approx(2.713216, rel=1e-5)
    assert hi * n / (1 - hi) == pytest.approx(31.44969, rel=1e-5)
    assert partial_eta_sq_ci(0.2, 2, 50, 53)[0] == 0.0  # F below its null median: bound 0


def test_partial_eta_sq_ci_covers_the_planted_value_at_the_nominal_rate() -> None:
    # a 3 x 6 design with 4 runs per cell (N = 72): the effect with df 2 has residual df 54;
    # planted partial eta^2 = 0.3 <=> lambda = N * 0.3 / 0.7 (lambda / (lambda + N) = 0.3).
    # F drawn from the noncentral F; 250 intervals: coverage 0.95 +- 3 binomial sd (0.041)
    n, eta = 72, 0.3
    lam = n * eta / (1 - eta)
    draws = sps.ncf.rvs(2, 54, lam, size=250, random_state=np.random.default_rng(4))
    hits = 0
    for f in draws:
        lo, hi = partial_eta_sq_ci(float(f), 2, 54, n)
        hits += lo <= eta <= hi
    assert 0.909 <= hits / 250 <= 0.991


def test_anova_with_lambda_as_a_factor_recovers_planted_interactions() -> None:
    # y = model effect + lambda effect + model x lambda + N(0, 1), dataset without effect;
    # 2 models x 2 datasets x 3 lambdas x 60 seeds. Effects sum to zero:
    # model (-0.5, 0.5): sigma^2 = 0.25 -> partial eta^2 = 0.25 / 1.25 = 0.2
    # lambda (0.4, 0, -0.4): sigma^2 = 0.32/3 -> (0.32/3) / (1 + 0.32/3) = 0.0964
    # model x lambda: +-0.3 on lambdas 0 and 2 (0 on lambda 1): sigma^2 = 4 * 0.09 / 6 = 0.06
    #   -> 0.06 / 1.06 = 0.0566
    rng = np.random.default_rng(12)
    model, lam_eff = {"a": -0.5, "b": 0.5}, {0.0: 0.4, 1.0: 0.0, 5.0: -0.4}
    inter = {("a", 0.0): 0.3, ("a", 5.0): -0.3, ("b", 0.0): -0.3, ("b", 5.0): 0.3}
    rows = [
        {
            "model": m,
            "dataset": d,
            "lam": lam,
            "seed": s,
            "status": "ok",
            "accuracy": model[m] + lam_eff[lam] + inter.get((m, lam), 0.0) + rng.normal(),
        }
        for m in model
        for d in ("x", "y")
        for lam in lam_eff
        for s in range(60)
    ]
    res = anova(pd.DataFrame(rows), factors=("model", "dataset", "lam")).set_index("term")
    assert set(res.index) == {
        "model",
        "dataset",
        "lam",
        "model:dataset",
        "model:lam",
        "dataset:lam",
        "model:dataset:lam",
        "Residual",
    }
    truth = {"model": 0.2, "lam": 0.32 / 3 / (1 + 0.32 / 3), "model:lam": 0.06 / 1.06}
    for term, eta in truth.items():
        assert res.loc[term, "partial_eta_sq"] == pytest.approx(eta, abs=0.04)
        assert res.loc[term, "partial_eta_sq_lo"] <= eta <= res.loc[term, "partial_eta_sq_hi"]
        assert res.loc[term, "p"] < 1e-4
    for term in ("dataset", "model:dataset", "dataset:lam", "model:dataset:lam"):
        assert res.loc[term, "partial_eta_sq_lo"] == 0.0 or res.loc[term, "p"] > 1e-3
        assert res.loc[term, "partial_eta_sq"] < 0.03
    # a balanced design: type III (sum-to-zero contrasts) equals type II
    res3 = anova(pd.DataFrame(rows), factors=("model", "dataset", "lam"), typ=3)
    assert res3.set_index("term")["sum_sq"].to_dict() == pytest.approx(res["sum_sq"].to_dict())


def test_anova_type_ii_and_iii_on_an_unbalanced_design_by_least_squares() -> None:
    # 2 x 2 with unequal cells; sum coding a, b = +-1. Type III SS of A = RSS(1, b, ab) -
    # RSS(1, a, b, ab); type II SS of A = RSS(1, b) - RSS(1, a, b), each by numpy lstsq
    rng = np.random.default_rng(3)
    sizes = {("A1", "B1"): 3, ("A1", "B2"): 7, ("A2", "B1"): 5, ("A2", "B2"): 2}
    means = {("A1", "B1"): 1.0, ("A1", "B2"): 2.5, ("A2", "B1"): 2.0, ("A2", "B2"): 1.0}
    rows = [
        {"model": a, "dataset": b, "accuracy": means[a, b] + rng.normal()}
        for (a, b), k in sizes.items()
        for _ in range(k)
    ]
    df = pd.DataFrame(rows)
    a = np.where(df["model"] == "A1", 1.0, -1.0)
    b = np.where(df["dataset"] == "B1", 1.0, -1.0)
    y = df["accuracy"].to_numpy()
    one = np.ones_like(y)

    def rss(*cols):
        x = np.column_stack(cols)
        r = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        return float(r @ r)

    full = rss(one, a, b, a * b)
    ss3 = rss(one, b, a * b) - full
    ss2 = rss(one, b) - rss(one, a, b)
    res2 = anova(df, typ=2).set_index("term")
    res3 = anova(df, typ=3).set_index("term")
    assert res3.loc["model", "sum_sq"] == pytest.approx(ss3)
    assert res2.loc["model", "sum_sq"] == pytest.approx(ss2)
    assert ss2 != pytest.approx(ss3)  # the design is unbalanced enough to tell them apart
    assert res3.loc["Residual", "sum_sq"] == pytest.approx(full)
    with pytest.raises(ValueError, match="typ"):
        anova(df, typ=1)


def test_anova_refuses_an_incomplete_grid() -> None:
    # model b was never run at lambda 1 on dataset y: the crossing of the other factors is
    # complete for model a only, so b is left out (and one model is not a factor)
    rows = [
        {"model": m, "dataset": d, "lam": lam, "accuracy": float(i)}
        for i, (m, d, lam) in enumerate(
            (m, d, lam) for m in "ab" for d in "xy" for lam in (0.0, 1.0) for _ in range(2)
        )
        if not (m == "b" and d == "y" and lam == 1.0)
    ]
    res = anova(pd.DataFrame(rows), factors=("model", "dataset", "lam"))
    assert "model" not in set(res["term"])
    assert "dataset:lam" in set(res["term"])


def test_mixed_anova_recovers_the_seed_variance_and_a_planted_effect() -> None:
    # y = 0.2 * [model b] + u_seed + N(0, 0.2^2) with u_seed ~ N(0, 0.5^2), 30 seeds, every
    # seed in every (model, dataset) cell. The seed intercepts are taken out of the error, so
    # the mixed model sees the model effect against sd 0.2, the plain ANOVA against ~0.54.
    rng = np.random.default_rng(8)
    u = rng.normal(0, 0.5, 30)
    rows = [
        {
            "model": m,
            "dataset": d,
            "seed": s,
            "status": "ok",
            "accuracy": 0.2 * (m == "b") + u[s] + rng.normal(0, 0.2),
        }
        for m in "ab"
        for d in "xy"
        for s in range(30)
    ]
    df = pd.DataFrame(rows)
    mixed = mixed_anova(df, factors=("model", "dataset"))
    t = mixed.terms.set_index("term")
    assert mixed.n_groups == 30
    assert mixed.n_obs == 120
    assert mixed.group_variance == pytest.approx(np.var(u, ddof=1), rel=0.25)
    assert mixed.residual_variance == pytest.approx(0.04, rel=0.3)
    assert t.loc["model", "p"] < 1e-3
    assert t.loc["model", "df"] == 1
    assert t.loc["dataset", "p"] > 1e-3
    assert t.loc["model:dataset", "p"] > 1e-3
    plain = anova(df).set_index("term")
    assert plain.loc["model", "p"] > t.loc["model", "p"]
    with pytest.raises(ValueError, match="at least 2"):
        mixed_anova(df[df["seed"] == 0], factors=("model", "dataset"))


def test_summary_time_to_target_counts_runs_that_never_got_there() -> None:
    # 5 runs: target reached at 100, 200 and 300 steps, never in 2 (censored at their 1000
    # steps). Kaplan-Meier: S(100) = 4/5, S(200) = 3/5, S(300) = 2/5 -> median 300 (the first
    # time S < 1/2), not the mean 200 of the three that got there; 3 of 5 reached
    nan = float("nan")
    t = pd.DataFrame(
        {
            "dataset": "d",
            "model": "m",
            "lam": 0.0,
            "seed": range(5),
            "status": "ok",
            "accuracy": 0.9,
            "energy_j": 1.0,
            "steps_to_target": [100, 200, 300, nan, nan],
            "steps": 1000.0,
        }
    )
    s = summarize(t).iloc[0]
    assert s["steps_to_target"] == 300
    assert s["steps_to_target_reached"] == 3
    assert s["accuracy"] == pytest.approx(0.9)
    # all five reached: the Kaplan-Meier median is the ordinary median
    t["steps_to_target"] = [500, 100, 400, 200, 300]
    s = summarize(t).iloc[0]
    assert s["steps_to_target"] == 300
    assert s["steps_to_target_reached"] == 5
