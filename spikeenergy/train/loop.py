"""Energy-regularized training and evaluation: one epoch function serves both.

``fit`` minimises L = L_CE + lam * E over a data loader of time-major frames, records per-epoch
curves (loss, accuracy, energy, per-layer activity), training efficiency (wall time, epochs and
optimizer steps to a target validation accuracy), stops early on a validation plateau, and stops
with :class:`NonFiniteLossError` on a NaN/inf loss after restoring the last good weights.
"""

from __future__ import annotations

import copy
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
from tqdm.auto import tqdm

from spikeenergy.data.frames import make_loader
from spikeenergy.energy import ENERGY_TERMS, EnergyRegularizedLoss, EnergyTerm, kernels
from spikeenergy.record import ActivityRecord, ActivityRecorder
from spikeenergy.train.config import TrainConfig

log = logging.getLogger(__name__)

MEASURE_NEEDS = frozenset({"spikes", "activations", "inputs"})


class NonFiniteLossError(FloatingPointError):
    """Training hit a NaN/inf loss; the model holds the last good weights again."""


@dataclass
class FitResult:
    """What ``fit`` learned about the run: curves, best epoch, training efficiency."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")
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
    """The energy term named in ``config`` (``ENERGY_TERMS``) with its options."""
    return ENERGY_TERMS.get(config.energy)(**config.energy_options)


def as_loader(data: DataLoader | Dataset, config: TrainConfig, shuffle: bool) -> DataLoader:
    """Use a ready DataLoader as is; wrap a dataset in a seeded time-major loader."""
    if isinstance(data, DataLoader):
        return data
    return make_loader(data, config.batch_size, shuffle=shuffle, seed=config.seed)


def layer_stats(record: ActivityRecord) -> dict[str, dict[str, float]]:
    """Per-layer sums for one batch: activity (rate numerator, units) and op counts."""
    out: dict[str, dict[str, float]] = {}
    for name, act in record.items():
        row: dict[str, float] = {}
        t = act.spikes if act.kind == "spiking" else act.activations
        if t is not None:
            row["activity_sum"] = float(t.detach().abs().sum())
            row["nonzero_sum"] = float((t.detach() != 0).sum())
            row["activity_count"] = float(t.numel())
        if act.is_connection:
            assert act.inputs is not None and act.count_ops is not None
            x = act.inputs.detach()
            row["synops"] = float(kernels.synaptic_ops(x, act.count_ops))
            row["nonzero_ops"] = float(kernels.nonzero_ops(x, act.count_ops))
            row["dense_ops"] = float(kernels.dense_ops(x, act.count_ops))
        row["kind"] = act.kind  # type: ignore[assignment]
        out[name] = row
    return out


def _summarise_layers(sums: dict[str, dict[str, Any]], n_samples: int) -> dict[str, Any]:
    layers: dict[str, Any] = {}
    tot = {"synops_per_sample": 0.0, "nonzero_ops_per_sample": 0.0, "dense_ops_per_sample": 0.0}
    for name, s in sums.items():
        row: dict[str, Any] = {"kind": s["kind"]}
        if s.get("activity_count"):
            row["activity_rate"] = s["activity_sum"] / s["activity_count"]
            row["nonzero_rate"] = s["nonzero_sum"] / s["activity_count"]
        if "synops" in s:
            for key, src in (
                ("synops", "synops"),
                ("nonzero_ops", "nonzero_ops"),
                ("dense_ops", "dense_ops"),
            ):
                row[f"{key}_per_sample"] = s[src] / n_samples
                tot[f"{key}_per_sample"] += s[src] / n_samples
        layers[name] = row
    return {"layers": layers, **tot}


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

    Returns sample-weighted means of total/task loss and energy, accuracy, and (``measure``) the
    per-layer activity and synaptic-operation counts.
    """
    training = optimizer is not None
    model.train(training)
    needs = loss_fn.needs | (MEASURE_NEEDS if measure else frozenset())
    sums = {"total": 0.0, "task": 0.0, "energy": 0.0, "correct": 0.0}
    n = 0
    layer_sums: dict[str, dict[str, Any]] = {}
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
            sums["correct"] += float((logits.detach().argmax(dim=1) == y).sum())
            if measure:
                for name, row in layer_stats(record).items():
                    acc = layer_sums.setdefault(name, {"kind": row["kind"]})
                    for k, v in row.items():
                        if k != "kind":
                            acc[k] = acc.get(k, 0.0) + v
    if n == 0:
        raise ValueError("the data loader yielded no samples")
    out: dict[str, Any] = {
        "loss": sums["total"] / n,
        "task_loss": sums["task"] / n,
        "energy": sums["energy"] / n,
        "accuracy": sums["correct"] / n,
        "n_samples": n,
    }
    if measure:
        out.update(_summarise_layers(layer_sums, n))
    return out


def evaluate(
    model: nn.Module,
    data: DataLoader | Dataset,
    energy: EnergyTerm,
    config: TrainConfig | None = None,
    measure: bool = True,
) -> dict[str, Any]:
    """Accuracy, cross-entropy, energy term and per-layer activity/op counts on ``data``."""
    config = config if config is not None else TrainConfig()
    device = config.resolved_device()
    model.to(device)
    loss_fn = EnergyRegularizedLoss(F.cross_entropy, energy, config.lam)
    return run_epoch(model, as_loader(data, config, False), loss_fn, device, measure=measure)


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _make_scheduler(opt: torch.optim.Optimizer, config: TrainConfig) -> Any:
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, config.step_size, gamma=config.gamma)
    return None


def fit(
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

    The weights of the best validation epoch (or the last epoch without validation data) are
    loaded into ``model`` at the end. ``on_epoch(row, model)`` runs after every epoch (e.g. to
    write a checkpoint); a non-finite loss restores the last good weights and raises.

    ``on_state(state)`` receives, after every epoch, everything needed to continue: weights,
    optimizer and scheduler state, the shuffling generator, best weights, counters and history
    (tensors and plain data only). ``resume=state`` continues from it: the same config then
    gives the same weights and metrics, bit for bit, as a run that was never interrupted.
    """
    config = config if config is not None else TrainConfig()
    device = config.resolved_device()
    model.to(device)
    energy = energy if energy is not None else make_energy_term(config)
    loss_fn = EnergyRegularizedLoss(F.cross_entropy, energy, config.lam)
    train_loader = as_loader(train_data, config, shuffle=True)
    val_loader = as_loader(val_data, config, shuffle=False) if val_data is not None else None
    optimizer = _make_optimizer(model, config)
    scheduler = _make_scheduler(optimizer, config)

    result = FitResult()
    best_state = copy.deepcopy(model.state_dict())
    best_acc, stale, steps = -math.inf, 0, 0
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
        best_acc, stale = float(resume["best_acc"]), int(resume["stale"])
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
            tr = run_epoch(model, train_loader, loss_fn, device, optimizer, config.grad_clip)
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
        monitor = tr["accuracy"]
        if val_loader is not None:
            va = run_epoch(model, val_loader, loss_fn, device, measure=True)
            row.update(
                val_loss=va["loss"],
                val_accuracy=va["accuracy"],
                val_energy=va["energy"],
                val_synops_per_sample=va["synops_per_sample"],
                val_activity={
                    k: v.get("activity_rate")
                    for k, v in va["layers"].items()
                    if "activity_rate" in v
                },
            )
            monitor = va["accuracy"]
        row["wall_time_s"] = time.perf_counter() - start
        row["steps"] = steps
        result.history.append(row)
        if (
            config.target_accuracy is not None
            and "time_to_target_s" not in result.efficiency
            and monitor >= config.target_accuracy
        ):
            result.efficiency.update(
                time_to_target_s=row["wall_time_s"],
                steps_to_target=steps,
                epochs_to_target=epoch + 1,
            )
        if monitor > best_acc:
            best_acc, stale = monitor, 0
            result.best_epoch = epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        bar.set_postfix(loss=f"{tr['loss']:.3f}", acc=f"{monitor:.3f}", E=f"{tr['energy']:.3g}")
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
                    "best_acc": best_acc,
                    "best_epoch": result.best_epoch,
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
    result.best_val_accuracy = best_acc if val_loader is not None else float("nan")
    result.efficiency.update(
        wall_time_s=time.perf_counter() - start,
        epochs=len(result.history),
        steps=steps,
        target_accuracy=config.target_accuracy,
    )
    if config.target_accuracy is not None:
        for key in ("time_to_target_s", "steps_to_target", "epochs_to_target"):
            result.efficiency.setdefault(key, None)  # None: target not reached
    return result
