"""The joules term IS the ledger's energy: equality per model kind, gradients, weight handle."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd import gradcheck

from spikeenergy.energy import EnergyLedger, Joules, get_cost_model
from spikeenergy.models import ModelSpec, NeuronSpec, build_model
from spikeenergy.record import ActivityRecord, ActivityRecorder, LayerActivity, adapter_for

D = torch.float64

MODELS = {
    "snn-mlp snntorch fast": (ModelSpec("snn-mlp", hidden=(12,), engine="fast"), (20,)),
    "snn-mlp snntorch library": (ModelSpec("snn-mlp", hidden=(12,), engine="library"), (20,)),
    "snn-mlp norse fast": (
        ModelSpec("snn-mlp", hidden=(12,), backend="norse", engine="fast"),
        (20,),
    ),
    "snn-mlp norse library synaptic": (
        ModelSpec(
            "snn-mlp",
            hidden=(12,),
            backend="norse",
            engine="library",
            neuron=NeuronSpec(model="synaptic", reset="zero"),
        ),
        (20,),
    ),
    "snn-mlp recurrent": (ModelSpec("snn-mlp", hidden=(12, 8), recurrent=True), (20,)),
    "snn-mlp spike-count readout": (
        ModelSpec("snn-mlp", hidden=(12,), readout="spike_count"),
        (20,),
    ),
    "snn-cnn": (ModelSpec("snn-cnn", conv_channels=(4,), hidden=(8,)), (2, 6, 6)),
    "mlp": (ModelSpec("mlp", hidden=(12,)), (20,)),
    "mlp summed frames": (ModelSpec("mlp", hidden=(12,), time_mode="sum"), (20,)),
    "cnn": (ModelSpec("cnn", conv_channels=(4,), hidden=(8,)), (2, 6, 6)),
    "gru": (ModelSpec("gru", hidden=(6,)), (20,)),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("target", ["cmos45", "loihi", "cpu"])
def test_term_equals_ledger_on_one_batch(name: str, target: str) -> None:
    spec, shape = MODELS[name]
    torch.manual_seed(0)
    model = build_model(spec, shape, 3)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(5, 4, *shape, generator=g) < 0.3).float()  # (T, B, ...) spikes
    x[0, 0] *= 2.0  # one event-count frame: graded input on the first layer
    term = Joules(target)
    with ActivityRecorder(model, needs=term.needs, keep_graph=True) as rec:
        model(x)
        record = rec.record()
    value = term(record)
    ledger = EnergyLedger()
    ledger.update(record)
    expected = ledger.energy(get_cost_model(target))["total"]["energy_pj"]
    assert value.item() == pytest.approx(expected, rel=1e-5)
    assert value.requires_grad or target == "cpu"


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.2 + torch.rand(*shape, generator=g, dtype=D)).requires_grad_(True)


def _conn(name: str, module: nn.Module, inputs: torch.Tensor) -> LayerActivity:
    groups = adapter_for(module).synapses(module, {"inputs": inputs})
    return LayerActivity(name, "connection", inputs=inputs, module=module, synapses=groups)


@pytest.mark.parametrize("target", ["loihi", "spinnaker2", "truenorth"])
def test_gradcheck_on_event_driven_targets(target: str) -> None:
    # graded inputs (events on binary-spike chips) and graded stand-ins for spikes: the term is
    # linear in both, so finite differences must match the analytic gradient exactly
    lin = nn.Linear(4, 3).to(D)

    def f(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        rec = ActivityRecord(
            {"c": _conn("c", lin, a), "n": LayerActivity("n", "spiking", spikes=s)}
        )
        return Joules(target, weight_grad=False)(rec)

    a, s = _leaf(3, 2, 4, seed=0), _leaf(3, 2, 5, seed=1)
    assert gradcheck(f, (a, s), eps=1e-6, atol=1e-6)
    ga, gs = torch.autograd.grad(f(a, s), (a, s))
    assert ga.abs().sum() > 0
    cm = get_cost_model(target)
    # a spike itself costs only on targets that price routing or active updates (Loihi); on
    # the others its cost is the synaptic ops it drives downstream (a connection layer)
    charges_spikes = cm.pj_per_spike > 0 or (cm.pj_per_active_update or 0) > 0
    assert (gs.abs().sum() > 0) == charges_spikes
    if target == "loihi":  # d/ds = 1.7 pJ routing + (81 - 52) pJ active update, per inference
        torch.testing.assert_close(gs, torch.full_like(gs, (1.7 + 29.0) / 2))


def test_weight_handle_gradient_by_hand() -> None:
    # one Linear 2 -> 2 on binary input spikes, loihi (23.6 pJ per AC, memory included):
    # E = 23.6 * sum_i s_i * sum_j [w_ji != 0] / B, with d[w != 0]/dw := sign(w) / mean|w|
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -1.0], [0.0, 2.5]]))  # one pruned synapse
    x = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 1.0]]])  # (T=2, B=2, 2)
    rec = ActivityRecord({"c": _conn("c", lin, x)})
    e = Joules("loihi", weight_grad=True)(rec)
    # input 0 spikes 3 times, input 1 spikes 3 times; existing fan-out 1 and 2:
    # ACs = (3 x 1 + 3 x 2) / 2 = 4.5 per inference -> 4.5 x 23.6 = 106.2 pJ
    assert e.item() == pytest.approx(106.2)
    (gw,) = torch.autograd.grad(e, lin.weight)
    mean_abs = (0.5 + 1.0 + 2.5) / 3  # over existing synapses
    s = torch.tensor([3.0, 3.0]) / 2  # spikes per inference of inputs 0 and 1
    expected = 23.6 * s[None, :] * torch.sign(lin.weight.detach()) / mean_abs
    torch.testing.assert_close(gw, expected)
    assert gw[1, 0] == 0  # a pruned synapse gets no gradient (sign(0) = 0): it stays pruned


def test_weight_handle_off_and_dense_target_have_no_weight_gradient() -> None:
    lin = nn.Linear(3, 2)
    x = torch.ones(1, 1, 3)
    for term in (Joules("loihi", weight_grad=False), Joules("cpu")):
        e = term(ActivityRecord({"c": _conn("c", lin, x)}))
        assert not e.requires_grad  # nothing the weights can change on these settings


def test_target_by_name_and_errors() -> None:
    assert Joules("loihi").cost_model.name == "loihi"
    assert "cmos45" in repr(Joules())
    with pytest.raises(KeyError, match="known"):
        Joules("loihi9")
    with pytest.raises(ValueError, match="policy"):
        Joules(policy="events")
    empty = ActivityRecord({"m": LayerActivity("m", "spiking", membrane=torch.ones(1, 1, 2))})
    with pytest.raises(ValueError, match="nothing to count"):
        Joules()(empty)
