"""Benchmark plots (matplotlib, PNG + SVG): lambda sweeps, Pareto fronts, training curves.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI backend), so
plotting works in worker processes and headless machines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from adjustText import adjust_text
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from spikeenergy.bench.stats import mean_ci, pareto_mask
from spikeenergy.io import atomic_write

FORMATS = ("png", "svg")
#: a Pareto plot with more points labels only those on the front (labels would overlap)
MAX_LABELLED = 12


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (png, svg, pdf)."""
    p = Path(path)
    fmt = p.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"{p}: no suffix, so no image format; name it .png, .svg or .pdf")
    # no creation date in SVG / PDF and fixed SVG ids: the same results give the same bytes
    meta = {"Date": None} if fmt in ("svg", "pdf") else None
    with rc_context({"svg.hashsalt": "spikeenergy"}):
        atomic_write(
            p, lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
        )
    return p


def _save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg; return the paths."""
    return [save_figure(fig, stem.with_suffix(f".{ext}")) for ext in FORMATS]


def _lam_axis(ax: Any, lams: np.ndarray) -> None:
    """Symmetric-log x axis so that lambda = 0 sits left of the positive decades, with a tick
    labelled at every lambda of the grid (and no others)."""
    pos = lams[lams > 0]
    ax.set_xscale("symlog", linthresh=float(pos.min()) if pos.size else 1e-5)
    grid = sorted({float(v) for v in lams})
    ax.xaxis.set_major_locator(FixedLocator(grid))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(grid, [f"{v:g}" for v in grid], rotation=30 if len(grid) > 5 else 0)
    ax.set_xlabel("lambda (energy weight, 1/pJ for the joules term)")
    ax.grid(True, alpha=0.3)


def _energy_scale(ax: Any, values: np.ndarray, axis: str) -> None:
    """Log scale when the energies span more than a decade; otherwise linear with plain
    scientific tick labels (a log axis over less than a decade shows one or two labels).

    A linear axis of positive energies starts at 0 J at the lowest (:func:`_within`)."""
    v = values[np.isfinite(values)]
    if v.size and (v > 0).all() and v.max() / v.min() > 10:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        return
    ax.ticklabel_format(axis=axis, style="sci", scilimits=(0, 0))
    if v.size and (v > 0).all():
        _within(ax, axis, 0.0, None)


def _within(ax: Any, axis: str, lo: float | None, hi: float | None) -> None:
    """Keep an axis inside the values its quantity can take (joules >= 0, accuracy in [0, 1]):
    a t-interval over a few seeds can reach past them; its band or bar is drawn cut at the
    axis edge, but the axis shows no impossible values."""
    get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
    a, b = get()
    set_(a if lo is None else max(a, lo), b if hi is None else min(b, hi))


def plot_lambda_sweep(summary: pd.DataFrame, dataset: str, stem: Path) -> list[Path]:
    """Accuracy and joules per inference vs lambda for one dataset: a line per model, CI bands."""
    df = summary[summary["dataset"] == dataset]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_acc, ax_e = fig.subplots(1, 2)
    for model, g in df.groupby("model", sort=True):
        g = g.sort_values("lam")
        lam = g["lam"].to_numpy()
        for ax, col in ((ax_acc, "accuracy"), (ax_e, "energy_j")):
            (line,) = ax.plot(lam, g[col], marker="o", label=str(model))
            lo, hi = g[f"{col}_lo"].to_numpy(), g[f"{col}_hi"].to_numpy()
            if np.isfinite(lo).any():
                ax.fill_between(lam, lo, hi, color=line.get_color(), alpha=0.2)
    lams = df["lam"].to_numpy()
    for ax in (ax_acc, ax_e):
        _lam_axis(ax, lams)
    ax_acc.set_ylabel("test accuracy (mean, 95% CI)")
    _within(ax_acc, "y", 0.0, 1.0)
    ax_e.set_ylabel(f"J per inference on {_target(df)} (mean, 95% CI)")
    _energy_scale(ax_e, df["energy_j"].to_numpy(float), "y")
    ax_acc.legend(fontsize=8)
    fig.suptitle(f"{dataset}: lambda sweep")
    return _save(fig, stem)


def _target(df: pd.DataFrame) -> str:
    """The cost-model target(s) of a summary (stored by the runs), for axis labels."""
    if "target" not in df:
        return "the suite's target"
    names = sorted({str(t) for t in df["target"].dropna()})
    return ", ".join(names) if names else "the suite's target"


def plot_pareto(
    summary: pd.DataFrame,
    dataset: str,
    stem: Path,
    energy: str = "energy_j",
    energy_label: str = "",
) -> list[Path]:
    """Write :func:`pareto_figure` as ``stem``.png and ``stem``.svg; return the paths."""
    return _save(pareto_figure(summary, dataset, energy, energy_label), stem)


def pareto_figure(
    summary: pd.DataFrame, dataset: str, energy: str = "energy_j", energy_label: str = ""
) -> Figure:
    """Accuracy vs joules per inference of every (model, lambda) with 95% CI error bars on both
    axes, points labelled by lambda, and the Pareto front of the means.

    The labels are placed by adjustText so that none overlaps another label or a point (a thin
    line leads from a moved label to its point)."""
    df = summary[summary["dataset"] == dataset]
    df = df.assign(_front=pareto_mask(df[energy].to_numpy(), df["accuracy"].to_numpy()))
    # every point is labelled while they are few; in a crowded plot only the front's points
    # (their lambdas are in the sweep plot and the tables)
    label_all = len(df) <= MAX_LABELLED
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    texts = []
    for model, g in df.groupby("model", sort=True):
        x, y = g[energy].to_numpy(), g["accuracy"].to_numpy()
        bars = ax.errorbar(
            x,
            y,
            xerr=_err(g, energy),
            yerr=_err(g, "accuracy"),
            fmt="o",
            ms=4,
            capsize=2,
            lw=0.8,
            label=str(model),
        )
        color = bars.lines[0].get_color()
        for xi, yi, lam, on_front in zip(x, y, g["lam"], g["_front"], strict=True):
            if label_all or on_front:
                texts.append(ax.text(xi, yi, f"{lam:g}", fontsize=6, color=color))
    front = df[df["_front"]].sort_values(energy)
    ax.step(front[energy], front["accuracy"], where="post", color="k", lw=1, label="Pareto front")
    _energy_scale(ax, df[energy].to_numpy(float), "x")
    target = energy_label or _target(df)
    ax.set_xlabel(f"J per inference on {target} (test set, mean and 95% CI over seeds)")
    ax.set_ylabel("test accuracy (mean and 95% CI over seeds)")
    _within(ax, "y", 0.0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    which = "lambda" if label_all else "lambda, on the Pareto front"
    ax.set_title(f"{dataset}: accuracy vs energy (labels: {which})")
    if texts:  # last: the labels move in the final axes (scales, limits, legend)
        adjust_text(
            texts,
            x=df[energy].to_numpy(float),
            y=df["accuracy"].to_numpy(float),
            ax=ax,
            arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.4},
            # stronger than adjustText's defaults, unbounded moves: the front of a sweep often
            # holds a dozen points within a few pixels (looked at: the defaults left overlaps)
            expand=(1.5, 2.0),
            force_text=(0.5, 1.0),
            force_static=(0.3, 0.6),
            force_explode=(0.5, 1.5),
            max_move=None,
        )
    return fig


def _err(g: pd.DataFrame, col: str) -> np.ndarray | None:
    """Asymmetric error bars (2, n) from ``<col>_lo`` / ``<col>_hi``; None without a CI."""
    if f"{col}_lo" not in g:
        return None
    lo = (g[col] - g[f"{col}_lo"]).to_numpy()
    hi = (g[f"{col}_hi"] - g[col]).to_numpy()
    if not np.isfinite(lo).any():
        return None
    return np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])


def plot_training_curves(curves: pd.DataFrame, dataset: str, stem: Path) -> list[Path]:
    """Validation accuracy (or training loss) per epoch, mean and 95% CI band over the runs
    (seeds and folds), for each model at lambda = 0 (solid) and the largest lambda (dashed)."""
    df = curves[curves["dataset"] == dataset]
    col = (
        "val_accuracy"
        if "val_accuracy" in df and df["val_accuracy"].notna().any()
        else "train_loss"
    )
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    lams = sorted(df["lam"].unique())
    chosen = [lams[0]] + ([lams[-1]] if len(lams) > 1 else [])
    colors: dict[str, Any] = {}
    for (model, lam), g in df[df["lam"].isin(chosen)].groupby(["model", "lam"], sort=True):
        epochs = sorted(g["epoch"].unique())
        ci = np.array([mean_ci(g.loc[g["epoch"] == e, col])[:3] for e in epochs])
        style = "-" if lam == chosen[0] else "--"
        x = np.asarray(epochs) + 1
        (line,) = ax.plot(
            x, ci[:, 0], style, color=colors.get(str(model)), label=f"{model} lam={lam:g}"
        )
        colors[str(model)] = line.get_color()
        if np.isfinite(ci[:, 1]).any():
            ax.fill_between(x, ci[:, 1], ci[:, 2], color=line.get_color(), alpha=0.12, lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(col.replace("_", " ") + " (mean and 95% CI over seeds and folds)")
    if col == "val_accuracy":
        _within(ax, "y", 0.0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside: no data hidden
    ax.set_title(f"{dataset}: training curves")
    return _save(fig, stem)
