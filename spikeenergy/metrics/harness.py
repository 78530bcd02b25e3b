"""Measure any model: energy ledger (ops, memory traffic, joules per target) and accuracy.

In the spirit of NeuroBench's ``Benchmark(model, dataloader, preprocessors, postprocessors,
metrics).run()``, for models spikeenergy did not build::

    result = Harness(net, loader, targets=["loihi", "cmos45"], mode="step").run()
    result.accuracy, result.energy_j("loihi"), result.report.total["effective_acs"]

The model is run the way it expects (``mode``):

- ``"sequence"`` (default): called once per batch on the whole sequence ``x`` (time-major
  ``(T, B, ...)``, or ``(B, T, ...)`` with ``batch_first=True``): spikeenergy's own models, a
  class whose ``forward`` loops over time, Norse ``SequentialState(Linear, LIF(), ...)`` and
  ``Lift``, time-batched ``nn.Linear`` on ``(T, B, F)``;
- ``"step"``: called once per time step on ``x_t`` of shape ``(B, ...)``, keeping its own state
  (snnTorch ``nn.Sequential`` of neurons built with ``init_hidden=True``), outputs stacked
  ``(T, B, ...)``;
- ``"step-state"``: called once per step as ``out, state = model(x_t, state)`` from
  ``state = None`` (Norse cells in a ``SequentialState``).

Before every batch the model's state is reset (``reset``, default
:func:`spikeenergy.record.reset_states`: snnTorch neurons' ``reset_mem()``), as NeuroBench and
snnTorch's ``utils.reset`` do, so batches do not leak state into each other. How each layer's
calls map to time is read by the :class:`~spikeenergy.record.ActivityRecorder` (never guessed:
ambiguous layers raise :class:`~spikeenergy.record.TimeAxisError` naming the ``layer_time``
declaration that settles them).

Accuracy: ``postprocessors`` map the model output to class predictions ``(B,)``; without them
the default reads logits ``(B, C)`` (argmax) or, from a time axis ``(T, B, C)``, the class with
the most summed output (spike count: NeuroBench's ``choose_max_count``); the first element of a
tuple output (``(spk, mem)``, Norse's ``(out, state)``) is used.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from spikeenergy.energy.cost_models import (
    DEFAULT_POLICY,
    DEFAULT_TARGET,
    CostModel,
    check_policy,
    get_cost_model,
)
from spikeenergy.metrics.base import TOTAL
from spikeenergy.metrics.meter import EnergyMeter, EnergyReport, target_column
from spikeenergy.progress import tqdm
from spikeenergy.record import ActivityRecorder, reset_states, run_steps

#: How the harness calls the model (see the module docstring).
MODES = ("sequence", "step", "step-state")

Preprocessor = Callable[[tuple[Tensor, Any]], tuple[Tensor, Any]]
Postprocessor = Callable[[Any], Any]


@dataclass(frozen=True)
class HarnessResult:
    """What a harness run measured: the energy report, accuracy and sample count.

    ``accuracy`` is None when the loader gave no labels or accuracy was not asked for.
    """

    report: EnergyReport
    accuracy: float | None
    samples: int

    def energy_j(self, target: str) -> float:
        """Joules per inference on ``target`` (total)."""
        return self.report.energy_j(target)

    def summary(self) -> dict[str, float | None]:
        """Accuracy and the total row of the report in one flat dict."""
        return {"accuracy": self.accuracy, **self.report.total}


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _split(batch: Any) -> tuple[Tensor, Any]:
    if isinstance(batch, Tensor):
        return batch, None
    if isinstance(batch, list | tuple) and batch and isinstance(batch[0], Tensor):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise TypeError(
        f"a batch must be x or (x, y) with x a tensor; got {type(batch).__name__}: map it with a "
        "preprocessor or a collate_fn"
    )


def decode(output: Any, batch: int, time_axis: int) -> Tensor:
    """Default postprocessor: class predictions ``(B,)`` from logits or a time axis of outputs.

    ``(B, C)``: argmax over classes; ``(T, B, C)`` (time at ``time_axis``): argmax of the sum
    over time (spike count). Anything else raises: pass ``postprocessors``.
    """
    out = output[0] if isinstance(output, list | tuple) else output
    if not isinstance(out, Tensor):
        raise TypeError(
            f"cannot read predictions from a model output of type {type(out).__name__}; pass "
            "postprocessors=[...] that return (B,) class indices"
        )
    if out.dim() == 2 and out.shape[0] == batch:
        return out.argmax(-1)
    b_axis = 1 - time_axis
    if out.dim() == 3 and out.shape[b_axis] == batch:
        return out.sum(time_axis).argmax(-1)
    raise ValueError(
        f"cannot read class predictions from a model output of shape {tuple(out.shape)} for "
        f"B={batch}: the default reads (B, C) logits or (T, B, C) outputs (summed over time); "
        "pass postprocessors=[...] that return (B,) class indices"
    )


@dataclass(frozen=True)
class Harness:
    """Run ``model`` over ``loader``; measure its energy ledger on ``targets`` and its accuracy.

    ``loader``: batches ``x`` or ``(x, y)``, ``x`` time-major ``(T, B, ...)`` (``batch_first``:
    ``(B, T, ...)``, NeuroBench's layout), ``y`` class labels ``(B,)``. ``targets``: cost models
    or built-in names. ``preprocessors``: callables ``(x, y) -> (x, y)`` applied in order (as
    NeuroBench's). ``postprocessors``: callables applied in order to the model output, ending in
    class predictions ``(B,)`` (default: :func:`decode`). ``mode``: how the model is called
    (:data:`MODES`). ``layer_time``: declaration of layers whose time axis cannot be read from
    their calls (see :class:`~spikeenergy.record.ActivityRecorder`). ``reset(model)`` runs
    before every batch and after the run (None: never). ``policy``: how calls split into ACs and
    MACs (``"neurobench"`` for NeuroBench's per-call rule). The caller's model is left as it
    was, but for the state ``reset`` clears: run in eval mode without gradients on ``device``
    (a copy when that differs from the model's), the train flag restored.
    """

    model: nn.Module
    loader: Iterable[Any]
    targets: Sequence[CostModel | str] = (DEFAULT_TARGET,)
    preprocessors: Sequence[Preprocessor] = ()
    postprocessors: Sequence[Postprocessor] = ()
    mode: str = "sequence"
    batch_first: bool = False
    layer_time: str | Mapping[str, str] | None = None
    reset: Callable[[nn.Module], None] | None = reset_states
    policy: str = DEFAULT_POLICY
    accuracy: bool = True
    device: str | torch.device | None = None
    max_batches: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}; use one of {', '.join(MODES)}")
        check_policy(self.policy)
        if self.max_batches is not None and self.max_batches < 1:
            raise ValueError(f"max_batches={self.max_batches} must be >= 1 (or None for all)")
        if isinstance(self.targets, str):
            raise TypeError(f"targets must be a sequence of names, got the string {self.targets!r}")

    def cost_models(self) -> tuple[CostModel, ...]:
        """The targets as cost models (names resolved)."""
        return tuple(get_cost_model(t) if isinstance(t, str) else t for t in self.targets)

    def _forward(self, net: nn.Module, x: Tensor) -> Any:
        if self.mode == "sequence":
            return net(x)
        return run_steps(net, x, batch_first=self.batch_first, state=self.mode == "step-state")

    def run(self) -> HarnessResult:
        """Run every batch (up to ``max_batches``) and return the report and accuracy."""
        dev = torch.device(self.device) if self.device is not None else _model_device(self.model)
        net = self.model
        if dev != _model_device(net):
            net = copy.deepcopy(net).to(dev)
        meter = EnergyMeter(self.cost_models(), self.policy)
        meter.update_model(net)
        # a stepped model's outputs are stacked time-major; a sequence model's keep x's layout
        time_axis = 1 if self.batch_first and self.mode == "sequence" else 0
        was_training = net.training
        net.eval()
        correct, labelled, batches = 0, 0, 0
        recorder = ActivityRecorder(
            net,
            needs=meter.needs,
            keep_graph=False,
            time="sequence" if self.mode == "sequence" else "step",
            batch_first=self.batch_first,
            layer_time=self.layer_time,
        )
        try:
            with torch.no_grad(), recorder as rec:
                for raw in tqdm(self.loader, desc="harness", disable=not self.progress):
                    x, y = _split(raw)
                    for pre in self.preprocessors:
                        x, y = pre((x, y))
                    x = x.to(dev)
                    if self.reset is not None:
                        self.reset(net)
                    rec.clear()
                    out = self._forward(net, x)
                    record = rec.record()
                    meter.update(record)
                    if self.accuracy and y is not None:
                        preds = out
                        for post in self.postprocessors:
                            preds = post(preds)
                        if not self.postprocessors:
                            preds = decode(out, record.batch_size, time_axis)
                        y_t = torch.as_tensor(y)
                        if not isinstance(preds, Tensor) or preds.shape != y_t.shape:
                            shape = tuple(preds.shape) if isinstance(preds, Tensor) else preds
                            raise ValueError(
                                f"predictions {shape} do not match labels {tuple(y_t.shape)}; "
                                "postprocessors must return one class index per sample"
                            )
                        correct += int((preds.cpu() == y_t.cpu()).sum())
                        labelled += y_t.numel()
                    batches += 1
                    if self.max_batches is not None and batches >= self.max_batches:
                        break
        finally:
            net.train(was_training)
            if self.reset is not None:
                self.reset(net)
        if batches == 0:
            raise ValueError("the loader yielded no batches; nothing to measure")
        report = meter.compute()
        for t in report.targets:
            e = report.rows[TOTAL].get(target_column("energy_j", t["name"]))
            if e is not None and not math.isfinite(e):
                raise FloatingPointError(f"non-finite energy on target {t['name']!r}: {e}")
        accuracy = correct / labelled if labelled else None
        return HarnessResult(report, accuracy, report.samples)
