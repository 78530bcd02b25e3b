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


def test_mean_ci_by_hand() -> None:
    # x = 1, 2, 3, 4: mean 2.5, sd = sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3) = 1.29099,
    # t(0.975, df=3) = 3.18245, half = 3.18245 * 1.29099 / 2 = 2.05426
    m, lo, hi, n = mean_ci([1, 2, 3, 4, float("nan")])
    assert (m, n) == (2.5, 4)
    assert lo == pytest.approx(2.5 - 2.05426, abs=1e-4)
    assert hi == pytest.approx(2.5 + 2.05426, abs=1e-4)
    m1, lo1, _, n1 = mean_ci([0.7])
    assert m1 == 0.7 and n1 == 1 and math.isnan(lo1)  # no spread from one value


def table(rows: list[tuple[str, str, float, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["dataset", "model", "lam", "seed", "accuracy",
                                       "energy_j"]).assign(status="ok")


def test_relative_energy_and_no_loss_table() -> None:
    t = table([
        ("d", "snn", 0.0, 0, 0.90, 2.0), ("d", "snn", 0.0, 1, 0.92, 4.0),  # baseline mean 3
        ("d", "snn", 0.1, 0, 0.91, 0.6), ("d", "snn", 0.1, 1, 0.905, 0.3),
        ("d", "snn", 1.0, 0, 0.50, 0.03), ("d", "snn", 1.0, 1, 0.52, 0.03),
        ("d", "mlp", 0.0, 0, 0.95, 10.0), ("d", "mlp", 0.1, 0, 0.93, 5.0),
    ])
    t.loc[len(t)] = ["d", "mlp", 1.0, 0, float("nan"), float("nan"), "failed"]  # ignored
    rel = with_relative_energy(t)
    assert rel.loc[2, "rel_energy"] == pytest.approx(0.6 / 3.0)
    s = summarize(t)
    snn = s[(s["model"] == "snn")].set_index("lam")
    assert snn.loc[0.1, "accuracy"] == pytest.approx(0.9075)
    assert snn.loc[0.1, "rel_energy"] == pytest.approx(0.15)  # mean(0.2, 0.1)
    assert snn.loc[0.0, "n"] == 2 and len(s[s["model"] == "mlp"]) == 2  # failed run left out
    nl = energy_at_no_loss(s, tolerance=0.01).set_index("model")
    # snn: baseline 0.91; lam=0.1 keeps 0.9075 >= 0.90 at 15% energy; lam=1 loses 40 points
    assert nl.loc["snn", "lam"] == 0.1 and nl.loc["snn", "rel_energy"] == pytest.approx(0.15)
    # mlp: lam=0.1 loses 2 points (> 1), so only the baseline qualifies
    assert nl.loc["mlp", "lam"] == 0.0 and nl.loc["mlp", "rel_energy"] == 1.0


def test_anova_matches_hand_computation_on_a_tiny_balanced_design() -> None:
    # 2 x 2 design, 2 replicates per cell:
    #   A1B1: 1, 3 (mean 2)  A1B2: 5, 7 (mean 6)  A2B1: 4, 6 (mean 5)  A2B2: 4, 4 (mean 4)
    # grand mean 4.25; A means 4, 4.5; B means 3.5, 5
    # SS_A  = 4 * ((4 - 4.25)^2 + (4.5 - 4.25)^2) = 0.5
    # SS_B  = 4 * ((3.5 - 4.25)^2 + (5 - 4.25)^2) = 4.5
    # SS_AB = 2 * sum (cell - A - B + grand)^2 = 2 * 4 * 1.25^2 = 12.5
    # SS_E  = 2 + 2 + 2 + 0 = 6 (df 4, MS_E = 1.5); total 23.5 = 0.5 + 4.5 + 12.5 + 6
    # partial eta^2: A 0.5 / 6.5, B 4.5 / 10.5, AB 12.5 / 18.5; F_A = 0.5 / 1.5
    cells = {("A1", "B1"): [1, 3], ("A1", "B2"): [5, 7], ("A2", "B1"): [4, 6],
             ("A2", "B2"): [4, 4]}
    df = pd.DataFrame([{"model": a, "dataset": b, "accuracy": float(y)}
                       for (a, b), ys in cells.items() for y in ys])
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
                rows.append({"model": f"m{i}", "dataset": f"d{j}", "accuracy": y,
                             "lam": rng.choice([0.0, 0.1]), "status": "ok"})
    res = anova(pd.DataFrame(rows), blocks=("lam",)).set_index("term")
    assert res.loc["model", "partial_eta_sq"] == pytest.approx(0.4, abs=0.03)
    assert res.loc["dataset", "partial_eta_sq"] == pytest.approx(0.2, abs=0.03)
    assert res.loc["model:dataset", "partial_eta_sq"] == pytest.approx(1 / 7, abs=0.03)
    assert res.loc["lam", "partial_eta_sq"] < 0.01  # the block has no effect
    assert res.loc["model:dataset", "p"] < 1e-6


def test_anova_drops_single_level_and_uncrossed_levels() -> None:
    df = pd.DataFrame({"model": ["a", "a", "b", "b", "c"], "dataset": ["x", "y", "x", "y", "x"],
                       "accuracy": [1.0, 2.0, 3.0, 5.0, 9.0]})
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
    s = pd.DataFrame({"dataset": "d", "model": list("ABCDE"), "lam": 0.0, "accuracy": a,
                      "energy_j": e})
    assert list(pareto_front(s)["model"]) == ["A", "B", "D", "E"]
