"""Reduced-data benchmark pieces: draws, confidence intervals, a tiny end-to-end run."""

import numpy as np
import pytest
import torch
from scipy import stats

from spikeenergy.models import ModelSpec
from spikeenergy.onepass.benchmark import (
    Pool,
    backprop_method,
    dam_counts,
    draw_indices,
    markdown_table,
    mean_ci95,
    plot_accuracy,
    run_reduced_data,
    sklearn_method,
    spiking_hebbian,
    summarize,
)


def test_draw_indices_k_per_class_and_seeded():
    y = torch.tensor([0] * 5 + [1] * 7 + [2] * 2)
    idx = draw_indices(y, 3, np.random.default_rng(0))
    counts = np.bincount(y[idx].numpy())
    assert counts.tolist() == [3, 3, 2]  # class 2 only has 2 examples
    assert np.array_equal(idx, draw_indices(y, 3, np.random.default_rng(0)))


def test_mean_ci95_matches_scipy():
    vals = [0.5, 0.6, 0.55, 0.7, 0.65]
    m, h = mean_ci95(vals)
    lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=np.mean(vals), scale=stats.sem(vals))
    assert m == pytest.approx(np.mean(vals))
    assert h == pytest.approx((hi - lo) / 2)


def test_tiny_benchmark_end_to_end(tmp_path):
    g = torch.Generator().manual_seed(0)

    def make(n):
        y = torch.tensor([i % 2 for i in range(n)])
        x = (torch.rand(4, n, 2, 3, 3, generator=g) < 0.1).float()  # (T, N, P, H, W)
        for i, c in enumerate(y.tolist()):
            x[:, i, c] += (torch.rand(4, 3, 3, generator=g) < 0.5).float()
        return x, y

    xtr, ytr = make(30)
    xte, yte = make(20)
    pool = Pool("toy", xtr, ytr, xte, yte, 2)
    methods = {
        "dam-counts": dam_counts(beta=5.0),
        "hebbian-snn": spiking_hebbian(hidden=32),
        "1nn": sklearn_method("1nn"),
        "svm": sklearn_method("svm"),
        "mlp": backprop_method(ModelSpec(family="mlp", hidden=(8,), time_mode="sum"), steps=5),
    }
    df = run_reduced_data(pool, methods, sizes=(1, 3), draws=2)
    assert len(df) == 2 * 2 * len(methods)
    assert df["accuracy"].between(0, 1).all()
    # the classes are obvious (class c lights up polarity c): one-pass models get them right
    assert df[df.method == "dam-counts"]["accuracy"].min() >= 0.9
    # same draw -> same training set for every method
    assert df.groupby(["per_class", "draw"])["n_train"].nunique().max() == 1
    assert (df[df.method == "mlp"]["train_energy_uj"] > 0).all()
    summary = summarize(df)
    assert set(summary["draws"]) == {2}
    table = markdown_table(summary)
    assert "| dam-counts |" in table and "3/class" in table
    plot_accuracy(summary, str(tmp_path / "a.png"))
    assert (tmp_path / "a.png").stat().st_size > 0
