"""Gradients of every energy term against finite differences (float64 gradcheck), non-zero."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd import gradcheck

from spikeenergy.energy import (
    ActivationEnergy,
    ActivityEnergy,
    MembraneEnergy,
    SpikeCount,
    SpikeRate,
    SynapticOps,
)
from spikeenergy.models import ModelSpec, build_model
from spikeenergy.record import ActivityRecord, ActivityRecorder, LayerActivity, adapter_for

D = torch.float64


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    # values in [0.2, 1.2] and signs mixed below, away from the |x| kink at 0
    g = torch.Generator().manual_seed(seed)
    v = 0.2 + torch.rand(*shape, generator=g, dtype=D)
    sign = torch.where(torch.rand(*shape, generator=g, dtype=D) < 0.5, -1.0, 1.0).to(D)
    return (v * sign).requires_grad_(True)


def _spiking(name: str, t: torch.Tensor, field: str) -> LayerActivity:
    return LayerActivity(name, "spiking", **{field: t})


def _conn(name: str, module: nn.Module, inputs: torch.Tensor) -> LayerActivity:
    module = module.to(D)
    groups = adapter_for(module).synapses(module, {"inputs": inputs})
    return LayerActivity(name, "connection", inputs=inputs, module=module, synapses=groups)


CASES = {
    # graded "spikes" stand in for surrogate-relaxed spikes; the kernel is linear in them
    "spike-rate": (SpikeRate(), lambda x: {"s": _spiking("s", x, "spikes")}),
    "spike-count": (SpikeCount(), lambda x: {"s": _spiking("s", x, "spikes")}),
    "membrane-p2": (MembraneEnergy(p=2), lambda x: {"s": _spiking("s", x, "membrane")}),
    "membrane-p1": (MembraneEnergy(p=1), lambda x: {"s": _spiking("s", x, "membrane")}),
    "activation-p1": (
        ActivationEnergy(p=1),
        lambda x: {"d": LayerActivity("d", "dense", activations=x)},
    ),
    "activation-p2": (
        ActivationEnergy(p=2),
        lambda x: {"d": LayerActivity("d", "dense", activations=x)},
    ),
    "activity": (
        ActivityEnergy(p=2),
        lambda x: {
            "s": _spiking("s", x[:1], "spikes"),
            "d": LayerActivity("d", "dense", activations=x[1:]),
        },
    ),
    "synops-linear": (SynapticOps(), lambda x: {"c": _conn("c", nn.Linear(4, 3), x)}),
    "synops-conv": (
        SynapticOps(),
        lambda x: {
            "c": _conn("c", nn.Conv2d(1, 2, 3, stride=2, padding=1), x.reshape(3, 2, 1, 2, 2))
        },
    ),
    "weighted-sum": (
        2.0 * SpikeRate() + 0.5 * MembraneEnergy(p=2),
        lambda x: {
            "s": LayerActivity("s", "spiking", spikes=x, membrane=x * 3.0),
        },
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_and_nonzero(name):
    term, make = CASES[name]
    x = _leaf(3, 2, 4, seed=list(CASES).index(name))

    def f(t: torch.Tensor) -> torch.Tensor:
        return term(ActivityRecord(make(t)))

    assert gradcheck(f, (x,), eps=1e-6, atol=1e-7)
    (g,) = torch.autograd.grad(f(x), x)
    assert g.abs().sum() > 0


def test_gradcheck_through_recorder_on_dense_model():
    # end to end: frames -> dense MLP (float64) -> recorder -> ActivityEnergy, vs finite diffs
    torch.manual_seed(0)
    model = build_model(ModelSpec("mlp", hidden=(5, 4)), (3,), 2).to(D)
    energy = ActivityEnergy(p=2) + 1e-2 * SynapticOps()

    def f(x: torch.Tensor) -> torch.Tensor:
        with ActivityRecorder(model, needs=energy.needs) as rec:
            model(x)
        return energy(rec.record())

    x = torch.randn(2, 3, 3, dtype=D, requires_grad=True)
    assert gradcheck(f, (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ["snntorch", "norse"])
def test_spike_energy_reaches_weights_through_surrogate(backend):
    # spikes are step functions (finite differences are 0 a.e.); the trained gradient is the
    # surrogate one: it must be finite and non-zero on every weight that drives a spiking layer.
    torch.manual_seed(0)
    model = build_model(ModelSpec("snn-mlp", hidden=(6,), backend=backend), (4,), 2)
    x = (torch.rand(5, 3, 4) < 0.5).float() * 2.0
    with ActivityRecorder(model, needs={"spikes", "inputs"}) as rec:
        model(x)
    e = (SpikeRate() + 1e-2 * SynapticOps())(rec.record())
    e.backward()
    g = model.fc[0].weight.grad
    assert g is not None
    assert torch.isfinite(g).all()
    assert g.abs().sum() > 0
