"""Benchmark plots (matplotlib, PNG + SVG): lambda sweeps, Pareto fronts, training curves.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI backend), so
plotting works in worker processes and headless machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spikeenergy.bench.stats import pareto_mask

FORMATS = ("png", "svg")


def _save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg; return the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in FORMATS:
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=120, bbox_inches="tight")
        out.append(path)
    return out


def _lam_axis(ax: object, lams: np.ndarray) -> None:
    """Symmetric-log x axis so that lambda = 0 sits left of the positive decades."""
    pos = lams[lams > 0]
    ax.set_xscale("symlog", linthresh=float(pos.min()) if pos.size else 1e-5)  # type: ignore[attr-defined]
    ax.set_xlabel("lambda (energy weight)")  # type: ignore[attr-defined]
    ax.grid(True, alpha=0.3)  # type: ignore[attr-defined]


def plot_lambda_sweep(summary: pd.DataFrame, dataset: str, stem: Path) -> list[Path]:
    """Accuracy and relative energy vs lambda for one dataset: a line per model, CI bands."""
    df = summary[summary["dataset"] == dataset]
    fig = Figure(figsize=(10, 4))
    ax_acc, ax_e = fig.subplots(1, 2)
    for model, g in df.groupby("model", sort=True):
        g = g.sort_values("lam")
        lam = g["lam"].to_numpy()
        for ax, col in ((ax_acc, "accuracy"), (ax_e, "rel_energy")):
            (line,) = ax.plot(lam, g[col], marker="o", label=str(model))
            lo, hi = g[f"{col}_lo"].to_numpy(), g[f"{col}_hi"].to_numpy()
            if np.isfinite(lo).any():
                ax.fill_between(lam, lo, hi, color=line.get_color(), alpha=0.2)
    lams = df["lam"].to_numpy()
    for ax in (ax_acc, ax_e):
        _lam_axis(ax, lams)
    ax_acc.set_ylabel("test accuracy (mean, 95% CI)")
    ax_e.set_ylabel("energy relative to lambda = 0")
    ax_e.set_yscale("log")
    ax_acc.legend(fontsize=8)
    fig.suptitle(f"{dataset}: lambda sweep")
    return _save(fig, stem)


def plot_pareto(
    summary: pd.DataFrame,
    dataset: str,
    stem: Path,
    energy: str = "energy",
    energy_label: str = "energy",
) -> list[Path]:
    """Accuracy vs energy of every (model, lambda) of one dataset, with the Pareto front."""
    df = summary[summary["dataset"] == dataset]
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for model, g in df.groupby("model", sort=True):
        ax.scatter(g[energy], g["accuracy"], label=str(model), s=25)
    mask = pareto_mask(df[energy].to_numpy(), df["accuracy"].to_numpy())
    front = df[mask].sort_values(energy)
    ax.step(front[energy], front["accuracy"], where="post", color="k", lw=1, label="Pareto front")
    if (df[energy] > 0).all():
        ax.set_xscale("log")
    ax.set_xlabel(f"energy term {energy_label!r} (test set, mean over seeds)")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{dataset}: accuracy vs energy")
    return _save(fig, stem)


def plot_training_curves(curves: pd.DataFrame, dataset: str, stem: Path) -> list[Path]:
    """Validation accuracy (or training loss) per epoch, mean over seeds, for each model at
    lambda = 0 (solid) and the largest lambda (dashed)."""
    df = curves[curves["dataset"] == dataset]
    col = (
        "val_accuracy"
        if "val_accuracy" in df and df["val_accuracy"].notna().any()
        else "train_loss"
    )
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    lams = sorted(df["lam"].unique())
    chosen = [lams[0]] + ([lams[-1]] if len(lams) > 1 else [])
    colors: dict[str, Any] = {}
    for (model, lam), g in df[df["lam"].isin(chosen)].groupby(["model", "lam"], sort=True):
        mean = g.groupby("epoch")[col].mean()
        style = "-" if lam == chosen[0] else "--"
        (line,) = ax.plot(
            mean.index + 1,
            mean.to_numpy(),
            style,
            color=colors.get(str(model)),
            label=f"{model} lam={lam:g}",
        )
        colors[str(model)] = line.get_color()
    ax.set_xlabel("epoch")
    ax.set_ylabel(col.replace("_", " "))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{dataset}: training curves")
    return _save(fig, stem)
