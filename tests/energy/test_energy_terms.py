"""Energy terms against hand-computed values on tiny networks, and their gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeenergy.energy import (
    ENERGY_TERMS,
    ActivationEnergy,
    ActivityEnergy,
    MembraneEnergy,
    SpikeCount,
    SpikeRate,
    SynapticOps,
    WeightedSum,
)
from spikeenergy.models import NeuronSpec, build_neuron
from spikeenergy.record import ActivityRecord, ActivityRecorder, LayerActivity, adapter_for


class TinySNN(nn.Module):
    """fc: Linear 2->3, lif: snnTorch Leaky (beta 0.5, thr 1), readout: Linear 3->2."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 3, bias=False)
        self.readout = nn.Linear(3, 2, bias=False)
        self.lif, self.driver = build_neuron(NeuronSpec(beta=0.5), "snntorch")
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 0.4], [0.6, 0.6]]))
            self.readout.weight.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state, out = None, []
        for x_t in x.unbind(0):
            s, state = self.driver.step(self.lif, self.fc(x_t), state)
            out.append(self.readout(s))
        return torch.stack(out).mean(0)


def _tiny_record(x: torch.Tensor | None = None) -> ActivityRecord:
    # 4 input spikes over 2 steps: both inputs spike at t1 and t2 (T=2, B=1)
    x = torch.ones(2, 1, 2) if x is None else x
    model = TinySNN()
    with ActivityRecorder(model) as rec:
        model(x)
    return rec.record()


# Hand computation for TinySNN on 4 input spikes:
# currents per step I = W @ [1, 1] = [2, 0.4, 1.2]
# t1: mem = [2, 0.4, 1.2] -> spikes [1, 0, 1]
# t2: mem = 0.5*mem + I - reset = [1+2-1, 0.2+0.4-0, 0.6+1.2-1] = [2, 0.6, 0.8] -> spikes [1, 0, 0]
# spikes total 3 over 3 neurons x 2 steps x 1 sample


def test_tiny_synaptic_ops_count_existing_synapses_only():
    r = _tiny_record()
    # fc W = [[2, 0], [0, .4], [.6, .6]]: each input drives 2 existing (non-zero) synapses;
    # 4 presynaptic spikes x 2 = 8 synaptic operations (the zero weight does no work)
    assert SynapticOps(layers=("fc",))(r).item() == pytest.approx(8.0)
    # readout (all ones): 3 hidden spikes x fan-out 2 = 6; total 8 + 6 = 14 per sample
    assert SynapticOps()(r).item() == pytest.approx(14.0)
    # one spike per step on different inputs -> 2 spikes x 2 = 4 ops on fc
    r2 = _tiny_record(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
    assert SynapticOps(layers=("fc",))(r2).item() == pytest.approx(4.0)


def test_tiny_spike_and_membrane_terms():
    r = _tiny_record()
    assert SpikeRate()(r).item() == pytest.approx(3 / 6)  # 3 spikes / (3 neurons * 2 steps)
    assert SpikeCount()(r).item() == pytest.approx(3.0)  # per sample
    # membranes [2, .4, 1.2, 2, .6, .8]: squares 4+.16+1.44+4+.36+.64 = 10.6 -> /6
    assert MembraneEnergy(p=2)(r).item() == pytest.approx(10.6 / 6, rel=1e-6)
    # absolute: 2+.4+1.2+2+.6+.8 = 7 -> /6
    assert MembraneEnergy(p=1)(r).item() == pytest.approx(7 / 6, rel=1e-6)
    # activity of a spiking model = spike rate
    assert ActivityEnergy()(r).item() == pytest.approx(0.5)
    # composition: 2 * 0.5 + 7/6
    combo = 2 * SpikeRate() + MembraneEnergy(p=1)
    assert isinstance(combo, WeightedSum)
    assert combo(r).item() == pytest.approx(1.0 + 7 / 6, rel=1e-6)
    assert combo.needs == {"spikes", "membrane"}
    assert (SpikeRate() * 3)(r).item() == pytest.approx(1.5)


def _conn(name: str, module: nn.Module, inputs: torch.Tensor) -> LayerActivity:
    groups = adapter_for(module).synapses(module, {"inputs": inputs})
    return LayerActivity(name, "connection", inputs=inputs, module=module, synapses=groups)


def _dense_record(acts: torch.Tensor, fan_out: int = 4) -> ActivityRecord:
    lin = nn.Linear(acts.shape[-1], fan_out)
    return ActivityRecord(
        {
            "act": LayerActivity("act", "dense", activations=acts),
            "lin": _conn("lin", lin, acts),
        }
    )


def test_dense_activation_and_synaptic_terms():
    # T=1, B=2, 3 units: activations [[0, 1, 2], [3, 0, 0]]
    a = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]])
    r = _dense_record(a)
    assert ActivationEnergy(p=1)(r).item() == pytest.approx(6 / 6)  # (1+2+3) / 6 units
    assert ActivationEnergy(p=2)(r).item() == pytest.approx(14 / 6)  # (1+4+9) / 6
    # graded inputs are |a| events: (1+2+3) x fan-out 4 / 2 samples = 12 per sample
    assert SynapticOps()(r).item() == pytest.approx(12.0)


def test_activity_energy_is_the_same_for_spiking_and_dense():
    s = torch.tensor([[[1.0, 0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0, 1.0]]])  # T=2, B=1, 4 units
    spiking = ActivityRecord({"l": LayerActivity("l", "spiking", spikes=s)})
    dense = ActivityRecord({"l": LayerActivity("l", "dense", activations=s)})
    for p in (1, 2):
        e_s, e_d = ActivityEnergy(p=p)(spiking), ActivityEnergy(p=p)(dense)
        assert e_s.item() == e_d.item() == pytest.approx(4 / 8)  # 4 ones over 8 unit-steps


def _one_hot_frame(i: int, j: int) -> torch.Tensor:
    """(T=1, B=1, C=1, 3, 3) frame with a single spike at (i, j)."""
    x = torch.zeros(1, 1, 1, 3, 3)
    x[0, 0, 0, i, j] = 1.0
    return x


@pytest.mark.parametrize(
    ("conv", "x", "expected"),
    [
        # 3x3 ones, 3x3 kernel, padding 1: outputs see 4 (corners), 6 (edges), 9 (centre)
        # inputs -> 4*4 + 4*6 + 9 = 49 per output channel, x 2 channels = 98
        (nn.Conv2d(1, 2, 3, padding=1), torch.ones(1, 1, 1, 3, 3), 98.0),
        # a single centre spike is read by all 9 output positions x 2 channels = 18
        (nn.Conv2d(1, 2, 3, padding=1), _one_hot_frame(1, 1), 18.0),
        # a single corner spike is read by 4 output positions x 2 channels = 8
        (nn.Conv2d(1, 2, 3, padding=1), _one_hot_frame(0, 0), 8.0),
        # stride 2: outputs centred on the 4 corners, each sees 4 in-bounds inputs -> 16 x 2 = 32
        (nn.Conv2d(1, 2, 3, stride=2, padding=1), torch.ones(1, 1, 1, 3, 3), 32.0),
        # depthwise 1x1 (groups=2): every input drives exactly 1 output: 2*3*3 = 18
        (nn.Conv2d(2, 2, 1, groups=2), torch.ones(1, 1, 2, 3, 3), 18.0),
        # full 1x1: every input drives 2 outputs: 36
        (nn.Conv2d(2, 2, 1), torch.ones(1, 1, 2, 3, 3), 36.0),
    ],
)
def test_conv_synaptic_ops_exact_at_borders(conv, x, expected):
    with ActivityRecorder(conv, needs={"inputs"}) as rec:
        for x_t in x.unbind(0):
            conv(x_t)
    assert SynapticOps()(rec.record()).item() == pytest.approx(expected)


def test_conv_ops_match_brute_force_count():
    # independent check: perturb each input pixel, count the outputs whose value changes
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.zeros(1, 2, 5, 4)
    fan = torch.zeros(2, 5, 4)
    for c in range(2):
        for i in range(5):
            for j in range(4):
                e = x.clone()
                e[0, c, i, j] = 1.0
                fan[c, i, j] = (conv(e) != 0).sum()
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(3, 2, 2, 5, 4, generator=g) < 0.4).float()  # T=3, B=2 spikes
    expected = (a * fan).sum() / 2  # per sample
    rec = ActivityRecord({"c": _conn("c", conv, a)})
    assert SynapticOps()(rec).item() == pytest.approx(expected.item())


def test_terms_raise_on_missing_layers_instead_of_returning_zero():
    dense = _dense_record(torch.ones(1, 1, 3))
    with pytest.raises(ValueError, match="no spiking layers"):
        SpikeRate()(dense)
    with pytest.raises(ValueError, match="not in the record"):
        SynapticOps(layers=("nope",))(dense)
    with pytest.raises(ValueError, match="no connection layers"):
        SynapticOps()(ActivityRecord({"act": dense["act"]}))
    with pytest.raises(ValueError, match="p=3"):
        MembraneEnergy(p=3)
    with pytest.raises(ValueError, match="policy"):
        SynapticOps(policy="events")


def test_registry_names():
    assert {"spike-rate", "membrane", "synops", "activation", "activity", "joules"} <= set(
        ENERGY_TERMS.names()
    )
    assert isinstance(ENERGY_TERMS.get("synops")(layers=("fc",)), SynapticOps)
    with pytest.raises(KeyError, match="known"):
        ENERGY_TERMS.get("mac")
