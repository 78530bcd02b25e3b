"""Figures fit for a paper: lambda labels that do not overlap, no negative joules on a linear
axis, and the same results giving the same SVG bytes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from spikeenergy.bench import plots
from spikeenergy.bench.plots import pareto_figure, plot_pareto


def _summary(energy: np.ndarray, acc: np.ndarray, lams: list[float], model: str) -> pd.DataFrame:
    """A summary as ``bench.stats.summarize`` writes it: means and 95% CI columns."""
    return pd.DataFrame(
        {
            "dataset": "d",
            "model": model,
            "lam": lams,
            "target": "loihi",
            "accuracy": acc,
            "accuracy_lo": acc - 0.01,
            "accuracy_hi": acc + 0.01,
            "energy_j": energy,
            "energy_j_lo": energy * 0.98,
            "energy_j_hi": energy * 1.02,
        }
    )


def _crowded_front() -> pd.DataFrame:
    """Two models of six lambdas each, all twelve on one Pareto front within 3% of energy: the
    labels start on top of each other."""
    lams = [0.0, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5]
    a = _summary(np.linspace(2.90e-6, 2.80e-6, 6), np.linspace(0.84, 0.74, 6), lams, "snn")
    b = _summary(np.linspace(2.89e-6, 2.81e-6, 6), np.linspace(0.83, 0.75, 6), lams, "mlp")
    return pd.concat([a, b], ignore_index=True)


def test_pareto_labels_do_not_overlap() -> None:
    fig = pareto_figure(_crowded_front(), "d")
    renderer = FigureCanvasAgg(fig).get_renderer()
    (ax,) = fig.axes
    # twelve points: every one is labelled by its lambda
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        2 * ["0", "1e-09", "1e-08", "1e-07", "1e-06", "1e-05"]
    )
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    overlapping = [
        (ax.texts[i].get_text(), ax.texts[j].get_text())
        for i, j in itertools.combinations(range(len(boxes)), 2)
        if boxes[i].overlaps(boxes[j])
    ]
    assert overlapping == []
    inside = ax.get_window_extent(renderer)
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 for b in boxes)


def test_linear_energy_axis_shows_no_negative_joules() -> None:
    s = _summary(np.array([1.0e-5, 2.0e-5]), np.array([0.8, 0.9]), [0.0, 1e-7], "snn")
    s.loc[0, "energy_j_lo"] = -2e-5  # a t-interval over three seeds can reach below 0 J
    (ax,) = pareto_figure(s, "d").axes
    assert ax.get_xscale() == "linear"
    assert ax.get_xlim()[0] == 0.0
    assert ax.get_xlim()[1] > 2.0e-5


def test_energy_axis_is_logarithmic_over_more_than_a_decade() -> None:
    s = _summary(np.array([1.0e-7, 5.0e-6]), np.array([0.8, 0.9]), [0.0, 1e-7], "snn")
    (ax,) = pareto_figure(s, "d").axes
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize("ext", ["svg", "png"])
def test_same_results_give_the_same_figure_bytes(tmp_path: Path, ext: str) -> None:
    first = plot_pareto(_crowded_front(), "d", tmp_path / "a")
    second = plot_pareto(_crowded_front(), "d", tmp_path / "b")
    (one,) = [p for p in first if p.suffix == f".{ext}"]
    (two,) = [p for p in second if p.suffix == f".{ext}"]
    assert one.read_bytes() == two.read_bytes()


def test_training_curves_draw_a_ci_band_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mean curve has its 95% band over the runs; the accuracy axis stays in [0, 1]."""
    figures: list[Figure] = []
    monkeypatch.setattr(plots, "_save", lambda fig, stem: figures.append(fig) or [])
    rng = np.random.default_rng(0)
    rows = [
        {"dataset": "d", "model": m, "lam": lam, "seed": seed, "epoch": e,
         "val_accuracy": float(np.clip(0.5 + 0.1 * e + rng.normal(0, 0.2), 0, 1))}
        for m in ("snn", "mlp") for lam in (0.0, 1e-7) for seed in range(3) for e in range(4)
    ]  # fmt: skip
    plots.plot_training_curves(pd.DataFrame(rows), "d", Path("unused"))
    (ax,) = figures[0].axes
    assert len(ax.lines) == 4  # two models x (lambda 0, the largest lambda)
    assert len(ax.collections) == 4  # one band each
    for line, band in zip(ax.lines, ax.collections, strict=True):
        assert band.get_facecolor()[0][:3] == pytest.approx(to_rgba(line.get_color())[:3])
    assert ax.get_ylim()[0] >= 0.0
    assert ax.get_ylim()[1] <= 1.0
