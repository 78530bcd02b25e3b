"""Energy-regularized training and evaluation: one epoch function serves both.

``fit`` minimises L = L_CE + lam * E over a data loader of time-major frames, records per-epoch
curves (loss, accuracy, energy, per-layer activity), training efficiency (wall time, epochs and
optimizer steps to a target validation accuracy), stops early on a validation plateau, and stops
with :class:`NonFiniteLossError` on a NaN/inf loss after restoring the last good weights.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from spikeenergy.data.frames import make_loader
from spikeenergy.energy import (
    ENERGY_TERMS,
    EnergyLedger,
    EnergyRegularizedLoss,
    EnergyTerm,
    get_cost_model,
)
from spikeenergy.progress import tqdm
from spikeenergy.record import ActivityRecorder
from spikeenergy.train.config import TrainConfig
from spikeenergy.train.prune import Pruner
from spikeenergy.train.scores import task_metric, task_scores

log = logging.getLogger(__name__)

MEASURE_NEEDS = frozenset({"spikes", "activations", "inputs"})


class NonFiniteLossError(FloatingPointError):
    """Training hit a NaN/inf loss; the model holds the last good weights again."""


@dataclass
class FitResult:
    """What ``fit`` learned about the run: curves, best epoch, training efficiency."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")  # validation accuracy of the selected epoch
    metric: str = "accuracy"  # the task metric that selected it
    best_val_score: float = float("nan")  # its value at the selected epoch
    efficiency: dict[str, Any] = field(default_factory=dict)

    def curves(self) -> dict[str, list[Any]]:
        """History as columns: {"epoch": [...], "train_loss": [...], ...}."""
        cols: dict[str, list[Any]] = defaultdict(list)
        for row in self.history:
            for k, v in row.items():
                if not isinstance(v, dict):
                    cols[k].append(v)
        return dict(cols)


def make_energy_term(config: TrainConfig) -> EnergyTerm:
    """The energy term named in ``config`` (``ENERGY_TERMS``) with its options.

    The ``joules`` term is priced on ``config.target``.
    """
    options = dict(config.energy_options)
    if config.energy == "joules":
        options["target"] = config.target
    return ENERGY_TERMS.get(config.energy)(**options)


def as_loader(data: DataLoader | Dataset, config: TrainConfig, shuffle: bool) -> DataLoader:
    """Use a ready DataLoader as is; wrap a dataset in a seeded time-major loader."""
    if isinstance(data, DataLoader):
        return data
    return make_loader(data, config.batch_size, shuffle=shuffle, seed=config.seed)


def run_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: EnergyRegularizedLoss,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None = None,
    grad_clip: float | None = None,
    on_step: Callable[[int, Tensor], None] | None = None,
    measure: bool = False,
) -> dict[str, Any]:
    """One pass over ``loader``: trains when ``optimizer`` is given, else evaluates.

    Returns sample-weighted means of total/task loss and energy, accuracy, the predictions
    (``preds``, ``targets``: CPU tensors, evaluation only) and (``measure``) the energy ledger
    of the pass (``ledger``: an :class:`~spikeenergy.energy.EnergyLedger`).
    """
    training = optimizer is not None
    model.train(training)
    needs = loss_fn.needs | (MEASURE_NEEDS if measure else frozenset())
    sums = {"total": 0.0, "task": 0.0, "energy": 0.0, "correct": 0.0}
    n = 0
    ledger = EnergyLedger() if measure else None
    preds: list[Tensor] = []
    targets: list[Tensor] = []
    grad_ctx = torch.enable_grad() if training else torch.no_grad()
    with grad_ctx, ActivityRecorder(model, needs=needs, keep_graph=training) as rec:
        for batch, (x, y) in enumerate(loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            rec.clear()
            logits = model(x)
            record = rec.record()
            parts = loss_fn(logits, y, record)
            if training:
                if not torch.isfinite(parts.total):
                    raise NonFiniteLossError(
                        f"non-finite loss at batch {batch} (task={float(parts.task.detach()):.4g}, "
                        f"energy={float(parts.energy.detach()):.4g}, lam={loss_fn.lam})"
                    )
                assert optimizer is not None
                optimizer.zero_grad(set_to_none=True)
                parts.total.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                if on_step is not None:
                    on_step(batch, parts.total.detach())
            b = y.shape[0]
            n += b
            sums["total"] += float(parts.total.detach()) * b
            sums["task"] += float(parts.task.detach()) * b
            sums["energy"] += float(parts.energy.detach()) * b
            pred = logits.detach().argmax(dim=1)
            sums["correct"] += float((pred == y).sum())
            if not training:
                preds.append(pred.cpu())
                targets.append(y.detach().cpu())
            if ledger is not None:
                ledger.update(record)
    if n == 0:
        raise ValueError("the data loader yielded no samples")
    out: dict[str, Any] = {
        "loss": sums["total"] / n,
        "task_loss": sums["task"] / n,
        "energy": sums["energy"] / n,
        "accuracy": sums["correct"] / n,
        "n_samples": n,
    }
    if not training:
        out["preds"], out["targets"] = torch.cat(preds), torch.cat(targets)
        out["num_classes"] = int(logits.shape[1])
    if ledger is not None:
        out["ledger"] = ledger
    return out


def evaluate(
    model: nn.Module,
    data: DataLoader | Dataset,
    energy: EnergyTerm,
    config: TrainConfig | None = None,
    measure: bool = True,
) -> dict[str, Any]:
    """Accuracy, cross-entropy, energy term, predictions, task scores (``scores``: every
    registered task metric) and (``measure``) the energy ledger, on ``data``."""
    config = config if config is not None else TrainConfig()
    device = config.resolved_device()
    model.to(device)
    loss_fn = EnergyRegularizedLoss(F.cross_entropy, energy, config.lam)
    out = run_epoch(model, as_loader(data, config, False), loss_fn, device, measure=measure)
    out["scores"] = task_scores(out["preds"], out["targets"], out["num_classes"])
    return out


def class_weights(data: DataLoader | Dataset, num_classes: int | None = None) -> Tensor:
    """Inverse class frequency of a training split, scaled to mean 1 over present classes.

    Reads the dataset's ``targets`` (every spikeenergy dataset and split carries them); a class
    absent from the split gets weight 0 (it cannot be trained on).
    """
    ds = data.dataset if isinstance(data, DataLoader) else data
    targets = getattr(ds, "targets", None)
    if targets is None:
        raise ValueError(
            "class_weights='balanced' needs the training data's labels: give the dataset a "
            "'targets' attribute (a list of class indices)"
        )
    y = torch.as_tensor([int(t) for t in targets])
    n = int(num_classes) if num_classes is not None else int(y.max()) + 1
    counts = torch.bincount(y, minlength=n).double()
    w = torch.where(counts > 0, counts.sum() / (counts.clamp(min=1) * (counts > 0).sum()), 0.0)
    return w.float()


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _make_scheduler(opt: torch.optim.Optimizer, config: TrainConfig) -> Any:
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, config.step_size, gamma=config.gamma)
    return None


def _num_classes(model: nn.Module) -> int | None:
    n = getattr(model, "num_classes", None)
    return int(n) if n is not None else None


def fit(  # noqa: C901 - the epoch loop; its branches are the documented options (resume,
    # early stopping, pruning, non-finite losses, time-to-target, callbacks)
    model: nn.Module,
    train_data: DataLoader | Dataset,
    val_data: DataLoader | Dataset | None = None,
    config: TrainConfig | None = None,
    energy: EnergyTerm | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any], nn.Module], None] | None = None,
    on_state: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` in place on L = CE + lam * E; returns curves and training efficiency.

    At the end ``model`` holds the weights of the best validation epoch by ``config.metric``
    (a task metric: accuracy, balanced_accuracy, macro_f1, ...; ties go to the LATER
    epoch: with an energy term, the later of two equally accurate epochs is the one trained
    longer against the energy), or of the last epoch when there is no validation data (training
    accuracy would reward over-fitting, not generalisation). Validation epochs log the ledger's
    energy per inference on ``config.target`` (``val_energy_j``) and the pooled spike rate.
    ``on_epoch(row, model)`` runs after every epoch (e.g. to write a checkpoint); a non-finite
    loss restores the last good weights and raises. ``config.prune_below`` enables pruning.

    ``on_state(state)`` receives, after every epoch, everything needed to continue: weights,
    optimizer and scheduler state, the shuffling generator, best weights, counters, pruning
    masks and history (tensors and plain data only). ``resume=state`` continues from it: the
    same config then gives the same weights and metrics, bit for bit, as a run that was never
    interrupted.
    """
    config = config if config is not None else TrainConfig()
    if val_data is None and (config.patience is not None or config.target_accuracy is not None):
        raise ValueError(
            "patience and target_accuracy are judged on validation data; pass val_data (e.g. "
            "a val_fraction > 0) or set both to None"
        )
    device = config.resolved_device()
    model.to(device)
    energy = energy if energy is not None else make_energy_term(config)
    task_loss: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy
    if config.class_weights == "balanced":
        task_loss = functools.partial(
            F.cross_entropy, weight=class_weights(train_data, _num_classes(model)).to(device)
        )
    loss_fn = EnergyRegularizedLoss(task_loss, energy, config.lam)
    metric = task_metric(config.metric)
    train_loader = as_loader(train_data, config, shuffle=True)
    val_loader = as_loader(val_data, config, shuffle=False) if val_data is not None else None
    optimizer = _make_optimizer(model, config)
    scheduler = _make_scheduler(optimizer, config)
    pruner = Pruner(model, config.prune_below) if config.prune_below is not None else None
    target = get_cost_model(config.target)

    def on_step(batch: int, loss: Tensor) -> None:
        if pruner is not None:
            pruner.apply()  # pruned synapses stay absent after every optimizer step

    result = FitResult()
    best_state = copy.deepcopy(model.state_dict())
    best_score = -math.inf if metric.higher_is_better else math.inf
    stale, steps = 0, 0
    start = time.perf_counter()
    first = 0
    gen = getattr(train_loader, "generator", None)
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(resume["scheduler"])
        if gen is not None and resume.get("loader_rng") is not None:
            gen.set_state(resume["loader_rng"])
        best_state = copy.deepcopy(resume["best_state"])
        best_score, stale = float(resume["best_score"]), int(resume["stale"])
        result.best_val_accuracy = float(resume["best_val_accuracy"])
        if pruner is not None:
            pruner.masks = {n: m.clone() for n, m in resume["pruner_masks"].items()}
        steps = int(resume["steps"])
        result.best_epoch = int(resume["best_epoch"])
        result.history = copy.deepcopy(list(resume["history"]))
        result.efficiency.update(resume["efficiency"])
        start -= float(resume["elapsed_s"])
        first = int(resume["epoch"]) + 1
        if config.patience is not None and stale > config.patience:
            first = config.epochs  # it had stopped early
    bar = tqdm(
        range(first, config.epochs), desc="train", unit="epoch", disable=not progress, leave=False
    )
    for epoch in bar:
        good_state = copy.deepcopy(model.state_dict())
        try:
            tr = run_epoch(
                model, train_loader, loss_fn, device, optimizer, config.grad_clip, on_step
            )
        except NonFiniteLossError as exc:
            model.load_state_dict(good_state)
            raise NonFiniteLossError(
                f"epoch {epoch}: {exc}; the model holds the weights from the end of epoch "
                f"{epoch - 1} (lower lr or lam, or enable grad_clip)"
            ) from None
        steps += len(train_loader)
        if scheduler is not None:
            scheduler.step()
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": tr["loss"],
            "train_task_loss": tr["task_loss"],
            "train_energy": tr["energy"],
            "train_accuracy": tr["accuracy"],
            "lr": optimizer.param_groups[0]["lr"],
        }
        if pruner is not None:
            row["pruned_fraction"] = pruner.prune()
        if val_loader is not None:
            va = run_epoch(model, val_loader, loss_fn, device, measure=True)
            summary = va["ledger"].summary([target])
            row.update(
                val_loss=va["loss"],
                val_accuracy=va["accuracy"],
                val_score=metric(va["preds"], va["targets"], va["num_classes"]),
                val_energy=va["energy"],
                val_energy_j=summary[f"energy_j[{target.name}]"],
                val_spike_rate=summary.get("spike_rate", float("nan")),
                val_counts=va["ledger"].total(),  # per inference (a dict: not in curves())
            )
        row["wall_time_s"] = time.perf_counter() - start
        row["steps"] = steps
        result.history.append(row)
        monitor = row.get("val_score")
        if (
            "val_accuracy" in row
            and config.target_accuracy is not None
            and "time_to_target_s" not in result.efficiency
            and row["val_accuracy"] >= config.target_accuracy
        ):
            result.efficiency.update(
                time_to_target_s=row["wall_time_s"],
                steps_to_target=steps,
                epochs_to_target=epoch + 1,
            )
        if monitor is None:  # no validation data: keep the last epoch
            result.best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
        elif not metric.is_better(best_score, monitor):  # ties go to the later epoch
            stale = 0 if metric.is_better(monitor, best_score) else stale + 1
            best_score, result.best_epoch = monitor, epoch
            result.best_val_accuracy = row["val_accuracy"]
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        shown = monitor if monitor is not None else tr["accuracy"]
        bar.set_postfix(loss=f"{tr['loss']:.3f}", acc=f"{shown:.3f}", E=f"{tr['energy']:.3g}")
        log.info("epoch %d: %s", epoch, {k: v for k, v in row.items() if not isinstance(v, dict)})
        if on_epoch is not None:
            on_epoch(row, model)
        if on_state is not None:
            on_state(
                {
                    "epoch": epoch,
                    "model": copy.deepcopy(model.state_dict()),
                    "optimizer": copy.deepcopy(optimizer.state_dict()),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "loader_rng": gen.get_state() if gen is not None else None,
                    "best_state": best_state,
                    "best_score": best_score,
                    "best_val_accuracy": result.best_val_accuracy,
                    "best_epoch": result.best_epoch,
                    "pruner_masks": dict(pruner.masks) if pruner is not None else None,
                    "stale": stale,
                    "steps": steps,
                    "history": result.history,
                    "efficiency": dict(result.efficiency),
                    "elapsed_s": time.perf_counter() - start,
                }
            )
        if config.patience is not None and stale > config.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    result.metric = metric.name
    result.best_val_score = best_score if val_loader is not None else float("nan")
    result.efficiency.update(
        wall_time_s=time.perf_counter() - start,
        epochs=len(result.history),
        steps=steps,
        target_accuracy=config.target_accuracy,
    )
    if config.target_accuracy is not None:
        for key in ("time_to_target_s", "steps_to_target", "epochs_to_target"):
            result.efficiency.setdefault(key, None)  # None: target not reached (censored)
    return result
