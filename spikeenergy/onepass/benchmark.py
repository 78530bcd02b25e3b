"""Reduced-data benchmark: one-pass energy classifiers vs backprop and scikit-learn baselines.

For k examples per class (1, 2, 5, 10, 20) and many random draws, every method is tuned and
trained on the same draw and tested once on one fixed test subset; results are rows of accuracy,
the chosen setting, training and selection time, operation counts (ledger count names) and energy
(pJ via :meth:`spikeenergy.energy.CostModel.price`).

Selection protocol (the same budget for every method, one-pass and baseline alike):

- every method has the same number of candidate settings (its ``grid``, 3 in
  :func:`default_methods`), fixed before any run;
- when every class of the draw has k >= 2 examples, each candidate is scored by stratified
  ``min(k, max_folds)``-fold cross-validation inside the draw (validation accuracy pooled over
  the folds; the test set is never used); the best candidate wins (ties: the earlier one in the
  grid). Backprop methods also record the validation accuracy after every epoch of each fold run
  (up to ``max_steps`` optimizer steps) and choose the number of epochs the same way (pooled over
  folds; ties: the later epoch, as :func:`spikeenergy.train.fit` does);
- with k = 1 no validation split exists: every method uses its pre-registered default setting
  (backprop: the full ``max_steps`` budget, last epoch);
- the chosen setting is refitted on all k examples per class (backprop: for the chosen number of
  epochs) and evaluated on the test set once.

Windows cut from one recording (EMG) carry ``groups`` and ``spans``: a fold's training part drops
every window that shares samples with one of its validation windows.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from spikeenergy.bench.report import markdown_table as markdown_table_of
from spikeenergy.bench.stats import mean_ci
from spikeenergy.data import FrameConfig, FrameDataset, load_dataset
from spikeenergy.data.splits import kfold_indices, limit_per_class, sample_metadata
from spikeenergy.energy.cost_models import CostModel, get_cost_model
from spikeenergy.models import ModelSpec, NeuronSpec
from spikeenergy.onepass.encoders import CountEncoder, OpCounts, RandomSpikingEncoder
from spikeenergy.onepass.memory import DenseMemoryClassifier
from spikeenergy.onepass.spiking import SpikingPrototypeClassifier

log = logging.getLogger(__name__)

DEFAULT_SIZES = (1, 2, 5, 10, 20)
#: optimizer steps a backprop candidate may run (the issue: 40 under-trains, 400 does not)
DEFAULT_MAX_STEPS = 400
#: at most this many cross-validation folds inside a draw
DEFAULT_MAX_FOLDS = 3


@dataclass
class Pool:
    """Frames of one dataset held in memory: time-major (T, N, ...) train pool and test subset.

    ``groups`` / ``spans`` (optional, per training sample): the recording a window was cut from
    and its (start, stop) samples there, so validation folds can keep overlapping windows apart.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    groups: np.ndarray | None = None
    spans: np.ndarray | None = None


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
    train_sub = limit_per_class(train, train_per_class, seed)
    xtr, ytr = _stack(train_sub)
    xte, yte = _stack(limit_per_class(test, test_per_class, seed))
    groups = sample_metadata(train_sub, "groups")
    spans = sample_metadata(train_sub, "spans")
    return Pool(name, xtr, ytr, xte, yte, len(train.classes), groups, spans)


def draw_indices(labels: Tensor, k: int, rng: np.random.Generator) -> np.ndarray:
    """k random indices per class present in ``labels`` (all of a class if it has fewer)."""
    y = labels.numpy()
    picks = [rng.permutation(np.flatnonzero(y == c))[:k] for c in np.unique(y)]
    return np.sort(np.concatenate(picks))


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
    groups: np.ndarray | None = None  # per training sample (see Pool)
    spans: np.ndarray | None = None


@dataclass(frozen=True)
class Context:
    """What a trial knows besides its data: the draw's seed and classes, and for backprop the
    number of epochs to run (``None``: the full step budget)."""

    num_classes: int
    seed: int
    device: torch.device
    epochs: int | None = None
    validate: bool = False  # True: the evaluation set is validation data (score checkpoints)
    ref_size: int | None = None  # training-set size that sets the epoch budget (None: actual)


@dataclass(frozen=True)
class Trial:
    """One fit of one setting and its evaluation.

    ``curve``: accuracy on the evaluation set (one entry; backprop with ``validate``: at every
    checkpoint, after the epochs in ``curve_epochs``). ``train_ops`` total over the training
    set, ``infer_ops`` per evaluated sample, ``evaluations``: how many times the evaluation set
    was run.
    """

    curve: tuple[float, ...]
    n_eval: int
    train_time_s: float
    train_ops: OpCounts
    infer_ops: OpCounts
    evaluations: int = 1
    curve_epochs: tuple[int, ...] = ()

    @property
    def accuracy(self) -> float:
        """Accuracy of the kept model (the last curve entry)."""
        return self.curve[-1]


TrialFn = Callable[[Tensor, Tensor, Tensor, Tensor, dict[str, Any], Context], Trial]


@dataclass(frozen=True)
class Method:
    """A method, its candidate settings and the default used when nothing can be validated."""

    name: str
    trial: TrialFn
    grid: tuple[dict[str, Any], ...]
    default: int = 0
    backprop: bool = False

    def __post_init__(self) -> None:
        if not self.grid:
            raise ValueError(f"method {self.name!r} has no candidate settings")
        if not 0 <= self.default < len(self.grid):
            raise ValueError(f"method {self.name!r}: default={self.default} not in its grid")


@dataclass(frozen=True)
class MethodResult:
    """What one method achieved on one draw (after selection and refit)."""

    accuracy: float
    train_time_s: float
    train_ops: OpCounts
    infer_ops: OpCounts  # per test sample
    backprop: bool
    setting: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    val_accuracy: float = math.nan
    folds: int = 0
    select_time_s: float = 0.0
    select_ops: OpCounts = field(default_factory=OpCounts)


def _acc(pred: Tensor, y: Tensor) -> float:
    return float((pred.cpu() == y.cpu()).float().mean())


# ----------------------------------------------------------------------------- one-pass methods


def _dam_trial(make_encoder: Callable[[Tensor, dict[str, Any], Context], Any]) -> TrialFn:
    def trial(
        xtr: Tensor, ytr: Tensor, xev: Tensor, yev: Tensor, p: dict[str, Any], ctx: Context
    ) -> Trial:
        t0 = time.perf_counter()
        enc = make_encoder(xtr, p, ctx)
        f_tr, ops_tr = enc.encode(xtr)
        clf = DenseMemoryClassifier(beta=float(p["beta"]))
        ops_tr = ops_tr + clf.fit(f_tr, ytr, ctx.num_classes)
        train_time = time.perf_counter() - t0
        f_ev, ops_ev = enc.encode(xev)
        pred = clf.predict(f_ev)
        per = ops_ev.scaled(1.0 / xev.shape[1]) + clf.inference_ops()
        return Trial((_acc(pred, yev),), int(yev.numel()), train_time, ops_tr, per)

    return trial


def _encoder(
    x: Tensor, seed: int, hidden: int, backend: str, target_std: float = 1.0
) -> RandomSpikingEncoder:
    n_in = math.prod(x.shape[2:])
    enc = RandomSpikingEncoder(n_in, hidden, NeuronSpec(beta=0.9), backend, seed, target_std)
    return enc.calibrate(x)


def dam_counts(betas: Sequence[float] = (10.0, 1.0, 100.0)) -> Method:
    """Dense associative memory on event-count features (no encoder learning); knob beta."""
    trial = _dam_trial(lambda x, p, ctx: CountEncoder())
    return Method("dam-counts", trial, tuple({"beta": float(b)} for b in betas))


def dam_spiking(
    betas: Sequence[float] = (10.0, 1.0, 100.0), hidden: int = 512, backend: str = "snntorch"
) -> Method:
    """Dense associative memory on spike counts of a fixed random LIF layer; knob beta."""
    trial = _dam_trial(lambda x, p, ctx: _encoder(x, ctx.seed, hidden, backend))
    return Method("dam-spiking", trial, tuple({"beta": float(b)} for b in betas))


def spiking_hebbian(
    target_stds: Sequence[float] = (1.0, 0.5, 2.0), hidden: int = 512, backend: str = "snntorch"
) -> Method:
    """Event-driven spiking classifier, class detectors set by one Hebbian pass; knob: the
    encoder's input scale (``target_std``: std of the input current in thresholds)."""

    def trial(
        xtr: Tensor, ytr: Tensor, xev: Tensor, yev: Tensor, p: dict[str, Any], ctx: Context
    ) -> Trial:
        t0 = time.perf_counter()
        enc = _encoder(xtr, ctx.seed, hidden, backend, float(p["target_std"]))
        clf = SpikingPrototypeClassifier(enc, backend=backend)
        ops_tr = clf.fit(xtr, ytr, ctx.num_classes)
        train_time = time.perf_counter() - t0
        pred, per = clf.predict_with_ops(xev)
        return Trial((_acc(pred, yev),), int(yev.numel()), train_time, ops_tr, per)

    return Method("hebbian-snn", trial, tuple({"target_std": float(s)} for s in target_stds))


# ----------------------------------------------------------------------------- sklearn baselines


def sklearn_method(kind: str, grid: Sequence[float] | None = None) -> Method:
    """scikit-learn on event-count features: ``"svm"`` (RBF, gamma "scale", knob C) or
    ``"knn"`` (Euclidean k-nearest neighbours, knob k; k is capped at the training size)."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    if kind == "svm":
        values = tuple(grid) if grid is not None else (1.0, 0.1, 10.0)
        key = "C"
    elif kind == "knn":
        values = tuple(grid) if grid is not None else (1, 3, 5)
        key = "n_neighbors"
    else:
        raise ValueError(f"unknown sklearn method {kind!r}; use 'svm' or 'knn'")

    def trial(
        xtr: Tensor, ytr: Tensor, xev: Tensor, yev: Tensor, p: dict[str, Any], ctx: Context
    ) -> Trial:
        f_tr = xtr.sum(0).flatten(1).numpy()
        f_ev = xev.sum(0).flatten(1).numpy()
        t0 = time.perf_counter()
        if kind == "svm":
            scale = float(np.abs(f_tr).max()) or 1.0  # one scale for all features, from train
            clf: Any = SVC(kernel="rbf", gamma="scale", C=float(p["C"]))
            clf.fit(f_tr / scale, ytr.numpy())
            train_time = time.perf_counter() - t0
            pred = clf.predict(f_ev / scale)
            n_ref = int(clf.support_.shape[0])
        else:
            k = min(int(p["n_neighbors"]), f_tr.shape[0])
            clf = KNeighborsClassifier(n_neighbors=k).fit(f_tr, ytr.numpy())
            train_time = time.perf_counter() - t0
            pred = clf.predict(f_ev)
            n_ref = f_tr.shape[0]
        f = f_tr.shape[1]
        return Trial(
            (float((pred == yev.numpy()).mean()),),
            int(yev.numel()),
            train_time,
            OpCounts.executed(macs=float(f_tr.size)),  # feature scaling / storing
            OpCounts.executed(macs=float(n_ref * f)),  # kernel rows / distances per sample
        )

    return Method(kind, trial, tuple({key: v} for v in values))


# ----------------------------------------------------------------------------- backprop baselines


class _TensorFrames(torch.utils.data.Dataset):
    """Time-major tensors (T, N, ...) seen as a dataset of (T, ...) samples with targets."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y
        self.targets = [int(v) for v in y]

    def __len__(self) -> int:
        return self.x.shape[1]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[:, i], int(self.y[i])


def checkpoint_epochs(epochs: int, checkpoints: int) -> tuple[int, ...]:
    """The epochs (1-based, increasing, the last = ``epochs``) after which a run is validated:
    ``checkpoints`` evenly spaced ones, fewer when the run is shorter."""
    if epochs < 1 or checkpoints < 1:
        raise ValueError(f"epochs={epochs} and checkpoints={checkpoints} must be >= 1")
    return tuple(sorted({math.ceil(epochs * j / checkpoints) for j in range(1, checkpoints + 1)}))


@torch.no_grad()
def _accuracy(model: torch.nn.Module, x: Tensor, y: Tensor, device: torch.device) -> float:
    was = model.training
    model.eval()
    pred = model(x.to(device)).argmax(dim=1)
    model.train(was)
    return _acc(pred, y)


def backprop_method(
    name: str,
    spec: ModelSpec,
    lrs: Sequence[float] = (3e-3, 1e-3, 1e-2),
    max_steps: int = DEFAULT_MAX_STEPS,
    batch: int = 32,
    checkpoints: int = 20,
) -> Method:
    """A package model trained with backprop (:func:`spikeenergy.train.fit`, AdamW, no schedule,
    no energy penalty); knob: the learning rate.

    A run lasts ``ceil(max_steps / steps per epoch)`` epochs (steps per epoch of a training set
    of ``Context.ref_size`` samples, so all folds of a draw run the same epochs) unless the
    selection fixed the number of epochs. On validation data the run is scored at
    ``checkpoints`` evenly spaced epochs (:func:`checkpoint_epochs`), the candidates for the
    number of epochs.
    """
    if max_steps < 1 or batch < 1 or checkpoints < 1:
        raise ValueError(
            f"max_steps={max_steps}, batch={batch} and checkpoints={checkpoints} must be >= 1"
        )
    from spikeenergy.train import TrainConfig, build_seeded_model, evaluate, fit

    def trial(
        xtr: Tensor, ytr: Tensor, xev: Tensor, yev: Tensor, p: dict[str, Any], ctx: Context
    ) -> Trial:
        n = xtr.shape[1]
        ref = ctx.ref_size if ctx.ref_size is not None else n
        budget = math.ceil(max_steps / math.ceil(ref / batch))
        epochs = ctx.epochs if ctx.epochs is not None else budget
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=batch,
            lr=float(p["lr"]),
            schedule="none",
            seed=ctx.seed,
            device=str(ctx.device),
        )
        model = build_seeded_model(spec, tuple(xtr.shape[2:]), ctx.num_classes, ctx.seed)
        checks = checkpoint_epochs(epochs, checkpoints) if ctx.validate else (epochs,)
        curve: list[float] = []

        def on_epoch(row: dict[str, Any], m: torch.nn.Module) -> None:
            if row["epoch"] + 1 in checks:
                curve.append(_accuracy(m, xev, yev, ctx.device))

        t0 = time.perf_counter()
        res = fit(
            model,
            _TensorFrames(xtr, ytr),
            None,  # no validation inside fit: the run keeps its last epoch
            cfg,
            energy=_zero_energy(),
            progress=False,
            on_epoch=on_epoch if ctx.validate else None,
        )
        train_time = time.perf_counter() - t0
        ran = int(res.efficiency["epochs"])
        ev = evaluate(model, _TensorFrames(xev, yev), _zero_energy(), cfg)
        fwd = OpCounts.from_ledger(ev["ledger"].total())  # the energy ledger, per sample
        if not ctx.validate:
            curve = [float(ev["accuracy"])]
        # backprop training: forward + backward (about 2 x forward) per sample and epoch, the
        # forward counted by the ledger on the evaluation set
        train_ops = fwd.scaled(3.0 * n * ran)
        return Trial(
            tuple(curve), int(yev.numel()), train_time, train_ops, fwd, len(checks), checks
        )

    return Method(name, trial, tuple({"lr": float(v)} for v in lrs), backprop=True)


def _zero_energy() -> Any:
    """A cheap term for logging only (lam = 0): the joules term would count every batch."""
    from spikeenergy.energy import ActivityEnergy

    return ActivityEnergy()


# ----------------------------------------------------------------------------- selection


def _fold_parts(d: Draw, max_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) positions of the draw's folds; [] when a class has one example."""
    y = d.y_train.numpy()
    smallest = int(np.bincount(y, minlength=d.num_classes)[np.unique(y)].min())
    n_folds = min(smallest, max_folds)
    if n_folds < 2:
        return []
    held = kfold_indices(y, n_folds, seed=d.seed)
    parts = []
    for va in held:
        tr = np.setdiff1d(np.arange(len(y)), va)
        if d.groups is not None and d.spans is not None:
            tr = _drop_overlapping(tr, va, d.groups, d.spans)
        parts.append((tr, va))
    return parts


def _drop_overlapping(
    tr: np.ndarray, va: np.ndarray, groups: np.ndarray, spans: np.ndarray
) -> np.ndarray:
    """Training positions that share no sample of their recording with a validation window."""
    keep = []
    for i in tr:
        same = va[np.asarray([groups[j] == groups[i] for j in va], dtype=bool)]
        overlap = (spans[same, 0] < spans[i, 1]) & (spans[i, 0] < spans[same, 1])
        if not overlap.any():
            keep.append(i)
    if len(keep) < len(tr):
        log.info("dropped %d training windows overlapping validation", len(tr) - len(keep))
    return np.asarray(keep, dtype=np.int64)


def select_and_fit(method: Method, d: Draw, max_folds: int = DEFAULT_MAX_FOLDS) -> MethodResult:
    """The selection protocol (module docstring): cross-validate every candidate inside the
    draw, refit the winner on the whole draw, test once."""
    if max_folds < 2:
        raise ValueError(f"max_folds={max_folds} must be >= 2")
    parts = _fold_parts(d, max_folds)
    t0 = time.perf_counter()
    select_ops = OpCounts()
    chosen, val_acc = method.default, math.nan
    epochs: int | None = None
    if parts:
        best_score = -math.inf
        ref = min(len(tr) for tr, _ in parts)
        for ci, params in enumerate(method.grid):
            correct: np.ndarray | None = None
            total = 0
            at: tuple[int, ...] = ()
            for tr, va in parts:
                ctx = Context(d.num_classes, d.seed, d.device, validate=True, ref_size=ref)
                t = method.trial(
                    d.x_train[:, tr], d.y_train[tr], d.x_train[:, va], d.y_train[va], params, ctx
                )
                c = np.asarray(t.curve, dtype=float) * t.n_eval
                if correct is not None and t.curve_epochs != at:
                    raise RuntimeError(
                        f"{method.name}: folds validated at different epochs {at} vs "
                        f"{t.curve_epochs}; a trial must follow Context.ref_size"
                    )
                correct = c if correct is None else correct + c
                total, at = total + t.n_eval, t.curve_epochs
                select_ops = select_ops + t.train_ops + t.infer_ops.scaled(t.n_eval * t.evaluations)
            assert correct is not None
            acc = correct / total
            e = len(acc) - 1 - int(np.argmax(acc[::-1]))  # ties: the later epoch
            if acc[e] > best_score:  # ties: the earlier candidate
                best_score, chosen = float(acc[e]), ci
                epochs = at[e] if method.backprop else None
        val_acc = best_score
    select_time = time.perf_counter() - t0
    setting = dict(method.grid[chosen])
    ctx = Context(d.num_classes, d.seed, d.device, epochs=epochs)
    final = method.trial(d.x_train, d.y_train, d.x_test, d.y_test, setting, ctx)
    return MethodResult(
        accuracy=final.accuracy,
        train_time_s=final.train_time_s,
        train_ops=final.train_ops,
        infer_ops=final.infer_ops,
        backprop=method.backprop,
        setting=setting,
        epochs=epochs,
        val_accuracy=val_acc,
        folds=len(parts),
        select_time_s=select_time,
        select_ops=select_ops,
    )


def default_methods(
    frame_shape: Sequence[int] = (2, 1, 1), max_steps: int = DEFAULT_MAX_STEPS
) -> dict[str, Method]:
    """The benchmark's methods, 3 candidate settings each (the first is the default).

    One-pass: ``dam-counts`` and ``dam-spiking`` (beta 10, 1, 100), ``hebbian-snn`` (input scale
    1, 0.5, 2). Baselines: ``svm`` (C 1, 0.1, 10), ``knn`` (k 1, 3, 5), and backprop ``mlp``,
    ``snn`` and (image frames only) ``cnn`` (lr 3e-3, 1e-3, 1e-2; epochs chosen on validation
    within ``max_steps`` optimizer steps per run).
    """
    methods = [
        dam_counts(),
        dam_spiking(),
        spiking_hebbian(),
        sklearn_method("svm"),
        sklearn_method("knn"),
        backprop_method(
            "mlp", ModelSpec(family="mlp", hidden=(128,), time_mode="sum"), max_steps=max_steps
        ),
        backprop_method("snn", ModelSpec(family="snn-mlp", hidden=(128,)), max_steps=max_steps),
    ]
    if len(frame_shape) == 3:
        spec = ModelSpec(family="cnn", conv_channels=(8, 16), hidden=(64,), time_mode="sum")
        methods.append(backprop_method("cnn", spec, max_steps=max_steps))
    return {m.name: m for m in methods}


def run_reduced_data(
    pool: Pool,
    methods: dict[str, Method],
    sizes: Sequence[int] = DEFAULT_SIZES,
    draws: int = 10,
    seed: int = 0,
    target: CostModel | str = "cmos45",
    device: str | torch.device = "cpu",
    max_folds: int = DEFAULT_MAX_FOLDS,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Every method on ``draws`` seeded draws of each size; one row per (size, draw, method).

    Every method must have the same number of candidate settings (the budget rule).
    """
    budgets = {name: len(m.grid) for name, m in methods.items()}
    if len(set(budgets.values())) > 1:
        raise ValueError(
            f"methods have different numbers of candidate settings {budgets}; the selection "
            "budget must be the same for every method (give each grid the same length)"
        )
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
            idx_np = draw_indices(pool.y_train, k, np.random.default_rng(draw_seed))
            idx = torch.as_tensor(idx_np)
            d = Draw(
                pool.x_train[:, idx],
                pool.y_train[idx],
                pool.x_test,
                pool.y_test,
                pool.num_classes,
                draw_seed,
                dev,
                None if pool.groups is None else pool.groups[idx_np],
                None if pool.spans is None else pool.spans[idx_np],
            )
            for name, method in methods.items():
                res = select_and_fit(method, d, max_folds)
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
                    "setting": json.dumps(res.setting, sort_keys=True),
                    "epochs": res.epochs,
                    "val_accuracy": res.val_accuracy,
                    "folds": res.folds,
                    "candidates": len(method.grid),
                    "train_time_s": res.train_time_s,
                    "select_time_s": res.select_time_s,
                    **{f"train_{c}": v for c, v in res.train_ops.as_counts().items()},
                    **{f"infer_{c}": v for c, v in res.infer_ops.as_counts().items()},
                    "train_energy_uj": cost.price(res.train_ops.as_counts())["energy_pj"] * 1e-6,
                    "select_energy_uj": cost.price(res.select_ops.as_counts())["energy_pj"] * 1e-6,
                    "infer_energy_nj": cost.price(res.infer_ops.as_counts())["energy_pj"] * 1e-3,
                    "cost_target": cost.name,
                }
                rows.append(row)
                if on_row is not None:
                    on_row(row)
                log.info(
                    "%s k=%d draw=%d %s %s acc=%.3f",
                    pool.name,
                    k,
                    r,
                    name,
                    row["setting"],
                    res.accuracy,
                )
    return pd.DataFrame(rows)


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t confidence interval (nan width for n < 2):
    :func:`spikeenergy.bench.stats.mean_ci` as (mean, half-width)."""
    m, lo, hi, _ = mean_ci(values, 0.95)
    return m, (hi - lo) / 2


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method, per_class): mean accuracy and 95% CI, times, energies, choices."""
    rows = []
    for (ds, method, k), g in df.groupby(["dataset", "method", "per_class"], sort=True):
        m, h = mean_ci95(g["accuracy"].tolist())
        counts = g["setting"].value_counts()
        chosen = ", ".join(f"{s} x{n}" for s, n in counts.items())
        epochs = pd.to_numeric(g["epochs"], errors="coerce").dropna()
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
                "select_time_s": float(g["select_time_s"].mean()),
                "train_energy_uj": float(g["train_energy_uj"].mean()),
                "select_energy_uj": float(g["select_energy_uj"].mean()),
                "infer_energy_nj": float(g["infer_energy_nj"].mean()),
                "chosen": chosen,
                "median_epochs": float(epochs.median()) if len(epochs) else math.nan,
            }
        )
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> str:
    """Accuracy (mean +- 95% CI, %) per method and examples per class, one table per dataset,
    with the training / selection cost at the largest k."""
    out = []
    for ds, g in summary.groupby("dataset", sort=True):
        sizes = sorted(g["per_class"].unique())
        kmax = max(sizes)
        heads = ["method", *(f"{k}/class" for k in sizes), f"train s ({kmax}/class)"]
        heads += ["selection s", "train uJ", "selection uJ", "inference nJ/sample"]
        rows = []
        for method, gm in g.groupby("method", sort=False):
            cells = [str(method)]
            for k in sizes:
                r = gm[gm["per_class"] == k]
                if r.empty:
                    cells.append("")
                    continue
                acc, ci = float(r["accuracy"].iloc[0]), float(r["ci95"].iloc[0])
                cells.append(f"{100 * acc:.1f} ± {100 * ci:.1f}")
            last = gm[gm["per_class"] == kmax].iloc[0]
            cells += [
                f"{last[c]:.3g}"
                for c in (
                    "train_time_s",
                    "select_time_s",
                    "train_energy_uj",
                    "select_energy_uj",
                    "infer_energy_nj",
                )
            ]
            rows.append(cells)
        out += [f"### {ds}\n", markdown_table_of(pd.DataFrame(rows, columns=heads)), ""]
    return "\n".join(out)


def selection_table(summary: pd.DataFrame) -> str:
    """The settings chosen on validation (count over draws) and the median number of epochs."""
    s = summary.sort_values(["dataset", "method", "per_class"])
    table = pd.DataFrame(
        {
            "dataset": s["dataset"],
            "method": s["method"],
            "per class": s["per_class"].map(str),
            "chosen settings (draws)": s["chosen"],
            "median epochs": s["median_epochs"].map(lambda v: "" if math.isnan(v) else f"{v:g}"),
        }
    )
    return markdown_table_of(table)


def plot_accuracy(summary: pd.DataFrame, path: str) -> None:
    """Accuracy vs examples per class (log x), one panel per dataset, 95% CI bands.

    Drawn on a :class:`matplotlib.figure.Figure` (the caller's pyplot backend is left alone)
    and written atomically.
    """
    import matplotlib
    from matplotlib.figure import Figure

    from spikeenergy.bench.plots import save_figure

    datasets = sorted(summary["dataset"].unique())
    # one colour per method across panels (a method absent from a panel must not shift them)
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = sorted(summary["method"].unique())
    colors = {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}
    fig = Figure(figsize=(5 * len(datasets), 4), layout="tight")
    axes = fig.subplots(1, len(datasets), squeeze=False)
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
    save_figure(fig, path)


__all__ = [
    "DEFAULT_MAX_FOLDS",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_SIZES",
    "Context",
    "Draw",
    "Method",
    "MethodResult",
    "Pool",
    "Trial",
    "backprop_method",
    "checkpoint_epochs",
    "dam_counts",
    "dam_spiking",
    "default_methods",
    "draw_indices",
    "load_pool",
    "markdown_table",
    "mean_ci95",
    "plot_accuracy",
    "run_reduced_data",
    "select_and_fit",
    "selection_table",
    "sklearn_method",
    "spiking_hebbian",
    "summarize",
]
