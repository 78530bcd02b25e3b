"""Time to a validation target as censored data: Kaplan-Meier, restricted means, the claim test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spikeenergy.bench.efficiency import (
    censored_times,
    compare_time_to_target,
    km_rmst,
    time_to_target,
)

NAN = float("nan")


def runs(model: str, to_target: list[float], budget: float, dataset: str = "d") -> pd.DataFrame:
    """Result rows: NaN in ``to_target`` = the run never reached the target."""
    return pd.DataFrame(
        {
            "dataset": dataset,
            "model": model,
            "status": "ok",
            "steps_to_target": to_target,
            "steps": budget,
        }
    )


def test_km_median_and_restricted_mean_by_hand() -> None:
    # durations 3, 5, 5+, 8, 10+, 10+ (+ = censored). Kaplan-Meier:
    #   t=3: 6 at risk, 1 event -> S = 5/6
    #   t=5: 5 at risk (the run censored at 5 still counts), 1 event -> 5/6 * 4/5 = 4/6
    #   t=8: 3 at risk, 1 event -> 4/6 * 2/3 = 4/9
    # RMST(10) = 3*1 + 2*5/6 + 3*4/6 + 2*4/9 = 3 + 1.6667 + 2 + 0.8889 = 7.5556
    # median: the first time S <= 0.5 -> 8
    t = runs("m", [3, 5, NAN, 8, NAN, NAN], budget=10)
    t.loc[2, "steps"] = 5  # censored at 5 (early stop), not at the budget
    d = censored_times(t)
    assert d["duration"].tolist() == [3, 5, 5, 8, 10, 10]
    assert d["reached"].tolist() == [True, True, False, True, False, False]
    assert km_rmst(d["duration"].to_numpy(), d["reached"].to_numpy(), 10) == pytest.approx(
        3 + 2 * 5 / 6 + 3 * 4 / 6 + 2 * 4 / 9
    )
    row = time_to_target(t).iloc[0]
    assert (row["n"], row["reached"], row["censored"]) == (6, 3, 3)  # censored runs counted
    assert row["median"] == 8
    assert row["tau"] == 10
    assert row["rmst"] == pytest.approx(7.5556, abs=1e-4)


def test_censored_runs_count_against_an_architecture() -> None:
    # "fast" reaches the target at 500 steps in 3 of 10 runs and never in the other 7
    # (censored at the 2000-step budget); "steady" reaches it at 800 in all 10.
    # Dropping the censored runs would call "fast" faster (500 < 800). Restricted means:
    # fast 0.3*500 + 0.7*2000 = 1550, steady 800: fast needs 1550/800 = 1.94x the steps.
    t = pd.concat([runs("fast", [500] * 3 + [NAN] * 7, 2000), runs("steady", [800] * 10, 2000)])
    per = time_to_target(t).set_index("model")
    assert per.loc["fast", "censored"] == 7
    assert per.loc["steady", "censored"] == 0
    assert math.isnan(per.loc["fast", "median"])  # 70% never get there: no median
    assert per.loc["fast", "rmst"] == pytest.approx(1550)
    assert per.loc["steady", "rmst"] == pytest.approx(800)
    cmp = compare_time_to_target(t, treated="fast", reference="steady", n_boot=300).iloc[0]
    assert cmp["ratio"] == pytest.approx(1550 / 800)
    assert cmp["verdict"] == "contradicted"
    assert cmp["ratio_lo"] > 1
    assert cmp["logrank_p"] < 0.05


def test_claimed_saving_supported_inconclusive_or_contradicted_on_planted_data() -> None:
    # steps to target ~ scale * 1000 * lognormal(0, sd), budget 4000 (none censored, so the
    # restricted means are plain means and the RMST ratio estimates the planted scale)
    rng = np.random.default_rng(0)

    def arm(name: str, scale: float, n: int, sd: float) -> pd.DataFrame:
        steps = scale * 1000 * rng.lognormal(0, sd, n)
        return runs(name, np.where(steps <= 4000, steps, NAN).tolist(), 4000)

    ref = arm("dense", 1.0, 40, 0.05)
    cases = {  # name: (scale, runs, spread, expected verdict on "5-33 % fewer steps")
        "saves": (0.8, 40, 0.05, "supported"),  # 20% fewer, CI ~ +-2%: inside [0.67, 0.95]
        "same": (1.0, 40, 0.05, "contradicted"),  # CI ~ 1 +- 0.02: excludes any 5% saving
        "slower": (1.4, 40, 0.05, "contradicted"),
        "noisy": (0.9, 6, 0.4, "inconclusive"),  # 6 runs, 40% spread: CI spans 0.95
    }
    for name, (scale, n, sd, verdict) in cases.items():
        res = compare_time_to_target(
            pd.concat([ref, arm(name, scale, n, sd)]),
            treated=name,
            reference="dense",
            n_boot=400,
        ).iloc[0]
        assert res["ratio_lo"] <= scale <= res["ratio_hi"], name
        assert res["verdict"] == verdict, name
        assert (res["logrank_p"] < 1e-4) == (name in ("saves", "slower")), name


def test_failed_runs_are_counted_apart_and_bad_records_refused() -> None:
    t = runs("m", [10, NAN, 30], 40)
    t.loc[len(t)] = {
        "dataset": "d",
        "model": "m",
        "status": "failed",
        "steps_to_target": NAN,
        "steps": NAN,
    }
    row = time_to_target(t).iloc[0]
    assert (row["n"], row["failed"], row["censored"]) == (3, 1, 1)
    assert time_to_target(t, by=("model",)).iloc[0]["failed"] == 1  # one grouping column
    with pytest.raises(ValueError, match="beyond their 'steps'"):
        censored_times(runs("m", [50], 40))
    with pytest.raises(ValueError, match="no 'steps'"):
        censored_times(runs("m", [5], NAN))
    with pytest.raises(ValueError, match="no column"):
        censored_times(runs("m", [5], 10).drop(columns="steps"))
    with pytest.raises(ValueError, match="tau"):
        time_to_target(t, tau=100)
    with pytest.raises(ValueError, match="claim"):
        compare_time_to_target(t, "m", "m", claim=(0.3, 0.1))
