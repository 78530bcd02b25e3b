"""Reduced-data benchmark: one-pass energy classifiers vs backprop and scikit-learn baselines.

For k examples per class (1, 2, 5, 10, 20) and many random draws, every method is trained on the
same draw and tested on one fixed test subset; results are rows of accuracy, training time,
operation counts and energy (pJ via a :class:`~spikeenergy.energy.cost_models.CostModel`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import Tensor

from spikeenergy.data import FrameConfig, FrameDataset, load_dataset
from spikeenergy.data.splits import limit_per_class
from spikeenergy.energy.cost_models import CostModel, get_cost_model
from spikeenergy.models import ModelSpec, NeuronSpec
from spikeenergy.onepass.encoders import CountEncoder, OpCounts, RandomSpikingEncoder
from spikeenergy.onepass.memory import DenseMemoryClassifier
from spikeenergy.onepass.spiking import SpikingPrototypeClassifier

log = logging.getLogger(__name__)

DEFAULT_SIZES = (1, 2, 5, 10, 20)


@dataclass
class Pool:
    """Frames of one dataset held in memory: time-major (T, N, ...) train pool and test subset."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int


def _stack(ds: Any) -> tuple[Tensor, Tensor]:
    xs, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)
    steps = max(x.shape[0] for x in xs)
    out = torch.zeros((steps, len(xs), *xs[0].shape[1:]))
    for i, x in enumerate(xs):
        out[: x.shape[0], i] = x
    return out, torch.tensor(ys, dtype=torch.long)  # (T, N, ...), (N,)


def load_pool(
    name: str,
    root: str | None,
    frames: FrameConfig,
    test_per_class: int | None = None,
    train_per_class: int | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> Pool:
    """Load a dataset's train pool and a fixed (seeded) test subset as in-memory frame tensors."""
    opts = options or {}
    frames = replace(frames, cache=None)
    train = FrameDataset(load_dataset(name, "train", root=root, **opts), frames)
    test = FrameDataset(load_dataset(name, "test", root=root, **opts), frames)
    xtr, ytr = _stack(limit_per_class(train, train_per_class, seed))
    xte, yte = _stack(limit_per_class(test, test_per_class, seed))
    return Pool(name, xtr, ytr, xte, yte, len(train.classes))


def draw_indices(labels: Tensor, k: int, rng: np.random.Generator) -> np.ndarray:
    """k random indices per class present in ``labels`` (all of a class if it has fewer)."""
    y = labels.numpy()
    picks = [rng.permutation(np.flatnonzero(y == c))[:k] for c in np.unique(y)]
    return np.sort(np.concatenate(picks))


@dataclass(frozen=True)
class MethodResult:
    """What one method achieved on one draw."""

    accuracy: float
    train_time_s: float
    train_ops: OpCounts
    infer_ops: OpCounts  # per test sample
    backprop: bool
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Draw:
    """One training draw and the fixed test set (time-major frames)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    seed: int
    device: torch.device


Method = Callable[[Draw], MethodResult]


def _acc(pred: Tensor, y: Tensor) -> float:
    return float((pred.cpu() == y.cpu()).float().mean())


def _dam_method(make_encoder: Callable[[Draw], Any], beta: float) -> Method:
    """Dense associative memory on the features of a fixed encoder built per draw."""

    def run(d: Draw) -> MethodResult:
        t0 = time.perf_counter()
        enc = make_encoder(d)
        f_tr, ops_tr = enc.encode(d.x_train)
        clf = DenseMemoryClassifier(beta=beta)
        ops_tr = ops_tr + clf.fit(f_tr, d.y_train, d.num_classes)
        train_time = time.perf_counter() - t0
        f_te, ops_te = enc.encode(d.x_test)
        pred = clf.predict(f_te)
        per = ops_te.scaled(1.0 / d.x_test.shape[1]) + clf.inference_ops()
        return MethodResult(_acc(pred, d.y_test), train_time, ops_tr, per, False)

    return run


def dam_counts(beta: float = 10.0) -> Method:
    """Dense associative memory on event-count features (no encoder learning)."""
    return _dam_method(lambda d: CountEncoder(), beta)


def _encoder(d: Draw, hidden: int, backend: str) -> RandomSpikingEncoder:
    n_in = math.prod(d.x_train.shape[2:])
    enc = RandomSpikingEncoder(n_in, hidden, NeuronSpec(beta=0.9), backend, seed=d.seed)
    return enc.calibrate(d.x_train)


def dam_spiking(beta: float = 10.0, hidden: int = 512, backend: str = "snntorch") -> Method:
    """Dense associative memory on spike counts of a fixed random LIF layer."""
    return _dam_method(lambda d: _encoder(d, hidden, backend), beta)


def spiking_hebbian(hidden: int = 512, backend: str = "snntorch") -> Method:
    """Event-driven spiking classifier with class detectors set by one Hebbian pass."""

    def run(d: Draw) -> MethodResult:
        t0 = time.perf_counter()
        clf = SpikingPrototypeClassifier(_encoder(d, hidden, backend), backend=backend)
        ops_tr = clf.fit(d.x_train, d.y_train, d.num_classes)
        train_time = time.perf_counter() - t0
        pred = clf.predict(d.x_test)
        return MethodResult(
            _acc(pred, d.y_test), train_time, ops_tr, clf.inference_ops(d.x_test), False
        )

    return run


def sklearn_method(kind: str) -> Method:
    """scikit-learn SVM (RBF, default C) or 1-nearest-neighbour on event-count features."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    def run(d: Draw) -> MethodResult:
        f_tr = d.x_train.sum(0).flatten(1).numpy()
        f_te = d.x_test.sum(0).flatten(1).numpy()
        t0 = time.perf_counter()
        if kind == "svm":
            scale = float(np.abs(f_tr).max()) or 1.0  # one scale for all features, from train
            clf: Any = SVC(kernel="rbf", gamma="scale").fit(f_tr / scale, d.y_train.numpy())
            pred = clf.predict(f_te / scale)
            n_ref = int(clf.support_.shape[0])
        elif kind == "1nn":
            clf = KNeighborsClassifier(n_neighbors=1).fit(f_tr, d.y_train.numpy())
            pred = clf.predict(f_te)
            n_ref = f_tr.shape[0]
        else:
            raise ValueError(f"unknown sklearn method {kind!r}; use 'svm' or '1nn'")
        train_time = time.perf_counter() - t0
        f = f_tr.shape[1]
        return MethodResult(
            float((pred == d.y_test.numpy()).mean()),
            train_time,
            OpCounts(macs=float(f_tr.size)),
            OpCounts(macs=float(n_ref * f)),
            False,
        )

    return run


def backprop_method(spec: ModelSpec, steps: int = 60, lr: float = 3e-3, batch: int = 32) -> Method:
    """A package model trained with backprop (spikeenergy.train.fit) for ~``steps`` updates."""
    from spikeenergy.train import TrainConfig, build_seeded_model, evaluate, fit

    def run(d: Draw) -> MethodResult:
        n = d.x_train.shape[1]
        per_epoch = math.ceil(n / batch)
        cfg = TrainConfig(
            epochs=max(1, math.ceil(steps / per_epoch)),
            batch_size=batch,
            lr=lr,
            schedule="none",
            seed=d.seed,
            device=str(d.device),
        )
        model = build_seeded_model(spec, tuple(d.x_train.shape[2:]), d.num_classes, d.seed)
        train = _TensorFrames(d.x_train, d.y_train)
        t0 = time.perf_counter()
        res = fit(model, train, None, cfg, progress=False)
        train_time = time.perf_counter() - t0
        ev = evaluate(model, _TensorFrames(d.x_test, d.y_test), _zero_energy(), cfg)
        fwd = OpCounts.from_ledger(ev["ledger"].total())  # the energy ledger, per test sample
        # backprop training: forward + backward (about 2 x forward) per sample and epoch
        train_ops = fwd.scaled(3.0 * n * res.efficiency["epochs"])
        return MethodResult(ev["accuracy"], train_time, train_ops, fwd, True)

    return run


class _TensorFrames(torch.utils.data.Dataset):
    """Time-major tensors (T, N, ...) seen as a dataset of (T, ...) samples with targets."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y
        self.targets = [int(v) for v in y]

    def __len__(self) -> int:
        return self.x.shape[1]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[:, i], int(self.y[i])


def _zero_energy() -> Any:
    from spikeenergy.energy import ActivityEnergy

    return ActivityEnergy()


def default_methods(
    quick: bool = False, frame_shape: Sequence[int] = (2, 1, 1)
) -> dict[str, Method]:
    """The benchmark's methods: three one-pass models, two sklearn and three backprop baselines.

    The CNN needs image frames (C, H, W); for 1-D sensors (EMG channels) it is left out.
    """
    steps = 20 if quick else 40
    methods = {
        "dam-counts": dam_counts(beta=10.0),
        "dam-spiking": dam_spiking(beta=10.0),
        "hebbian-snn": spiking_hebbian(),
        "svm": sklearn_method("svm"),
        "1nn": sklearn_method("1nn"),
        "mlp": backprop_method(ModelSpec(family="mlp", hidden=(128,), time_mode="sum"), steps),
        "snn": backprop_method(ModelSpec(family="snn-mlp", hidden=(128,)), steps),
    }
    if len(frame_shape) == 3:
        methods["cnn"] = backprop_method(
            ModelSpec(family="cnn", conv_channels=(8, 16), hidden=(64,), time_mode="sum"), steps
        )
    return methods


def run_reduced_data(
    pool: Pool,
    methods: dict[str, Method],
    sizes: Sequence[int] = DEFAULT_SIZES,
    draws: int = 10,
    seed: int = 0,
    target: CostModel | str = "cmos45",
    device: str | torch.device = "cpu",
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Every method on ``draws`` seeded draws of each size; one row per (size, draw, method)."""
    cost = get_cost_model(target) if isinstance(target, str) else target
    if cost.event_driven and cost.graded_mode != "mac":
        raise ValueError(
            f"target {cost.name!r} executes graded inputs as {cost.graded_mode!r}, but the "
            "one-pass methods count multiply-accumulates of graded features; price them on a "
            "target with a MAC figure (e.g. cmos45) or a dense target"
        )
    dev = torch.device(device)
    rows = []
    for k in sizes:
        for r in range(draws):
            draw_seed = seed * 100_003 + k * 1_009 + r
            idx = torch.as_tensor(draw_indices(pool.y_train, k, np.random.default_rng(draw_seed)))
            d = Draw(
                pool.x_train[:, idx],
                pool.y_train[idx],
                pool.x_test,
                pool.y_test,
                pool.num_classes,
                draw_seed,
                dev,
            )
            for name, method in methods.items():
                res = method(d)
                row = {
                    "dataset": pool.name,
                    "method": name,
                    "backprop": res.backprop,
                    "per_class": k,
                    "draw": r,
                    "seed": draw_seed,
                    "n_train": int(idx.numel()),
                    "n_test": int(pool.y_test.numel()),
                    "accuracy": res.accuracy,
                    "train_time_s": res.train_time_s,
                    "train_acs": res.train_ops.acs,
                    "train_macs": res.train_ops.macs,
                    "infer_acs": res.infer_ops.acs,
                    "infer_macs": res.infer_ops.macs,
                    "infer_neuron_updates": res.infer_ops.neuron_updates,
                    "train_energy_uj": cost.price(res.train_ops.as_counts())["energy_pj"] * 1e-6,
                    "infer_energy_nj": cost.price(res.infer_ops.as_counts())["energy_pj"] * 1e-3,
                    "cost_target": cost.name,
                }
                rows.append(row)
                if on_row is not None:
                    on_row(row)
                log.info("%s k=%d draw=%d %s acc=%.3f", pool.name, k, r, name, res.accuracy)
    return pd.DataFrame(rows)


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t confidence interval (nan width for n < 2)."""
    a = np.asarray(values, dtype=float)
    if a.size < 2:
        return float(a.mean()) if a.size else math.nan, math.nan
    half = stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)
    return float(a.mean()), float(half)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method, per_class): mean accuracy and 95% CI, times and energies."""
    rows = []
    for (ds, method, k), g in df.groupby(["dataset", "method", "per_class"], sort=True):
        m, h = mean_ci95(g["accuracy"].tolist())
        rows.append(
            {
                "dataset": ds,
                "method": method,
                "backprop": bool(g["backprop"].iloc[0]),
                "per_class": int(k),
                "draws": len(g),
                "accuracy": m,
                "ci95": h,
                "train_time_s": float(g["train_time_s"].mean()),
                "train_energy_uj": float(g["train_energy_uj"].mean()),
                "infer_energy_nj": float(g["infer_energy_nj"].mean()),
            }
        )
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> str:
    """Accuracy (mean +- 95% CI, %) per method and examples per class, one table per dataset."""
    out = []
    for ds, g in summary.groupby("dataset", sort=True):
        sizes = sorted(g["per_class"].unique())
        out.append(f"### {ds}\n")
        head = "| method | " + " | ".join(f"{k}/class" for k in sizes)
        head += " | train time s (max k) | train energy uJ (max k) | inference nJ/sample |"
        out.append(head)
        out.append("|" + "---|" * (len(sizes) + 4))
        for method, gm in g.groupby("method", sort=False):
            cells = []
            for k in sizes:
                r = gm[gm["per_class"] == k]
                if r.empty:
                    cells.append("")
                    continue
                acc, ci = float(r["accuracy"].iloc[0]), float(r["ci95"].iloc[0])
                cells.append(f"{100 * acc:.1f} ± {100 * ci:.1f}")
            last = gm[gm["per_class"] == max(sizes)].iloc[0]
            out.append(
                f"| {method} | "
                + " | ".join(cells)
                + f" | {last['train_time_s']:.3g} | {last['train_energy_uj']:.3g} | "
                + f"{last['infer_energy_nj']:.3g} |"
            )
        out.append("")
    return "\n".join(out)


def plot_accuracy(summary: pd.DataFrame, path: str) -> None:
    """Accuracy vs examples per class (log x), one panel per dataset, 95% CI bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted(summary["dataset"].unique())
    # one colour per method across panels (a method absent from a panel must not shift them)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = sorted(summary["method"].unique())
    colors = {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        g = summary[summary["dataset"] == ds]
        for method, gm in g.groupby("method", sort=False):
            gm = gm.sort_values("per_class")
            style = "--" if bool(gm["backprop"].iloc[0]) else "-"
            ax.errorbar(
                gm["per_class"],
                gm["accuracy"],
                yerr=gm["ci95"].fillna(0),
                fmt=style + "o",
                capsize=3,
                label=method,
                color=colors[str(method)],
                markersize=4,
            )
        ax.set_xscale("log")
        ax.set_xlabel("training examples per class")
        ax.set_ylabel("test accuracy")
        ax.set_title(ds)
        ax.grid(alpha=0.3)
    handles: dict[str, Any] = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    axes[0][-1].legend(
        [handles[m] for m in methods if m in handles],
        [m for m in methods if m in handles],
        fontsize=8,
        loc="lower right",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = [
    "DEFAULT_SIZES",
    "Draw",
    "MethodResult",
    "Pool",
    "backprop_method",
    "dam_counts",
    "dam_spiking",
    "default_methods",
    "draw_indices",
    "load_pool",
    "markdown_table",
    "mean_ci95",
    "plot_accuracy",
    "run_reduced_data",
    "sklearn_method",
    "spiking_hebbian",
    "summarize",
]
