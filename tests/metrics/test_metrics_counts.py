"""Hand-computed counts and joules on tiny snnTorch, Norse and dense models; AC vs MAC rules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeenergy.energy.cost_models import get_cost_model
from spikeenergy.metrics import (
    ActivationSparsity,
    SpikeRate,
    ac_mask,
    measure,
    split_ops,
    target_column,
)
from spikeenergy.models import ModelSpec, NeuronSpec, build_model
from spikeenergy.record import ActivityRecorder

TARGETS = [get_cost_model(n) for n in ("loihi", "cmos45", "cpu")]


def tiny_snn(backend: str) -> nn.Module:
    """snn-mlp 2 -> 3 (leaky, beta 0.5, threshold 1, subtract) -> membrane readout 3 -> 2."""
    spec = ModelSpec(
        family="snn-mlp",
        hidden=(3,),
        backend=backend,
        neuron=NeuronSpec(model="leaky", beta=0.5, threshold=1.0, reset="subtract"),
    )
    m = build_model(spec, (2,), 2)
    with torch.no_grad():
        m.fc[0].weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 0.4], [0.6, 0.6]]))
        m.fc[0].bias.zero_()
        m.readout.weight.fill_(1.0)
        m.readout.bias.zero_()
    return m


def two_step_input() -> torch.Tensor:
    """x[0] = [1, 1], x[1] = [1, 0], the same sample twice: (T=2, B=2, 2)."""
    x = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # (T, F)
    return x[:, None, :].repeat(1, 2, 1)


def e(report, target):  # noqa: ANN001, ANN201 - tiny helper
    return report.total[target_column("energy_j", target)]


def test_snntorch_counts_and_joules_by_hand() -> None:
    # cur[0] = W [1,1] = [2, .4, 1.2]; mem[0] = cur[0]; spk[0] = [1, 0, 1]
    # cur[1] = W [1,0] = [2, 0, .6]; snnTorch resets one step late (by spk[0]):
    # mem[1] = .5 * [2, .4, 1.2] + [2, 0, .6] - [1, 0, 1] = [2, .2, .2]; spk[1] = [1, 0, 0]
    r = measure(tiny_snn("snntorch"), [(two_step_input(), None)], TARGETS)
    t = r.total
    assert r.samples == 2
    assert t["spikes_per_sample"] == 3  # 2 + 1
    assert t["spike_rate"] == pytest.approx(3 / 6)  # 3 spikes / (3 neurons * 2 steps)
    assert t["activation_sparsity"] == pytest.approx(0.5)  # 3 zeros of 6 outputs
    # fc.0: W has zeros, so each input drives 2 non-zero weights (columns [2,0,.6], [0,.4,.6]):
    # step 0: 2 inputs x 2 + step 1: 1 x 2 = 6 ACs; readout: (2 + 1) spikes x 2 = 6 ACs
    assert r.rows["fc.0"]["effective_acs"] == 6
    assert r.rows["readout"]["effective_acs"] == 6
    assert t["effective_acs"] == 12 and t["effective_macs"] == 0
    assert t["synops"] == 9 + 6  # |a| x full fan-out (zero weights included): (2 + 1) x 3 + 6
    # dense: 2 steps x (2 x 3 + 3 x 2) synapses = 24, all in binary calls
    assert t["dense_ops"] == 24 and t["dense_acs"] == 24 and t["dense_macs"] == 0
    # membrane: 3 at step 0, then .4 -> .2 and 1.2 -> .2 changed, 2 -> 2 did not: 3 + 2
    assert t["membrane_updates"] == 5
    assert t["neuron_updates"] == 6  # 3 neurons x 2 steps
    # loihi: 12 ACs x 23.6 pJ + 6 updates x 52 pJ = 283.2 + 312 = 595.2 pJ
    assert e(r, "loihi") == pytest.approx(595.2e-12)
    assert r.total[target_column("charged_acs", "loihi")] == 12
    # cmos45: 12 x 0.9 + 6 x 4.6 = 10.8 + 27.6 = 38.4 pJ
    assert e(r, "cmos45") == pytest.approx(38.4e-12)
    # cpu charges every synapse every step: (24 + 6) x 8600 pJ = 258000 pJ
    assert e(r, "cpu") == pytest.approx(258000e-12)
    assert r.total[target_column("charged_acs", "cpu")] == 24
    # per layer joules add up to the total
    layers = [r.rows[n].get(target_column("energy_j", "loihi"), 0.0) for n in r.layers]
    assert sum(layers) == pytest.approx(e(r, "loihi"))


def test_norse_counts_by_hand() -> None:
    # Norse LIFBox resets in the same step and reports the post-reset membrane:
    # v[0] = [2, .4, 1.2] -> spikes [1, 0, 1] -> v[0] = [1, .4, .2]
    # v[1] = .5 * [1, .4, .2] + [2, 0, .6] = [2.5, .2, .7] -> spikes [1, 0, 0] -> [1.5, .2, .7]
    r = measure(tiny_snn("norse"), [(two_step_input(), None)], TARGETS)
    t = r.total
    assert t["spikes_per_sample"] == 3
    assert t["effective_acs"] == 12  # same spikes as snnTorch: 6 + 6
    assert t["membrane_updates"] == 6  # 3 + all three changed
    # loihi: 12 x 23.6 + 6 x 52 = 595.2 pJ, as for snnTorch (same spikes, same neuron-steps)
    assert e(r, "loihi") == pytest.approx(595.2e-12)


def tiny_dense() -> nn.Module:
    """mlp 2 -> 3 (ReLU) -> 2 with W = [[1, 0], [0, -1], [1, 1]], readout ones, no bias."""
    m = build_model(ModelSpec(family="mlp", hidden=(3,)), (2,), 2)
    with torch.no_grad():
        m.fc[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]))
        m.fc[0].bias.zero_()
        m.readout.weight.fill_(1.0)
        m.readout.bias.zero_()
    return m


def test_dense_counts_and_joules_by_hand() -> None:
    x = torch.tensor([[[2.0, 1.0]]])  # (T=1, B=1, 2): an event-count frame (value 2)
    r = measure(tiny_dense(), [(x, None)], TARGETS)
    t = r.total
    # fc.0 input [2, 1] is not in {-1,0,1} -> MACs; each input drives 2 non-zero weights
    # (columns [1,0,1] and [0,-1,1]): 2 x 2 = 4 MACs
    # h = relu([2, -1, 3]) = [2, 0, 3] -> readout: 2 non-zero x 2 = 4 MACs
    assert r.rows["fc.0"]["effective_macs"] == 4 and r.rows["readout"]["effective_macs"] == 4
    assert t["effective_macs"] == 8 and t["effective_acs"] == 0
    assert t["dense_macs"] == 12 and t["dense_acs"] == 0  # 2 x 3 + 3 x 2
    assert t["activation_sparsity"] == pytest.approx(1 / 3)  # one zero of three ReLU outputs
    assert t["neuron_updates"] == 3
    assert "spike_rate" not in t and "membrane_updates" not in t  # not applicable to dense
    # cpu: dense MACs (12) + 3 unit updates, 8600 pJ each = 129000 pJ
    assert e(r, "cpu") == pytest.approx(129000e-12)
    # cmos45: 8 effective MACs x 4.6 + 3 x 4.6 = 36.8 + 13.8 = 50.6 pJ
    assert e(r, "cmos45") == pytest.approx(50.6e-12)
    # loihi has no MAC figure: graded events are synaptic ops: 8 x 23.6 + 3 x 52 = 344.8 pJ
    assert e(r, "loihi") == pytest.approx(344.8e-12)


def test_events_policy_counts_one_ac_per_event() -> None:
    x = torch.tensor([[[2.0, 1.0]]])
    r = measure(tiny_dense(), [(x, None)], TARGETS, policy="events")
    # fc.0: (2 + 1) events x 2 non-zero weights = 6 ACs; readout: (2 + 3) events x 2 = 10 ACs
    assert r.total["effective_acs"] == 16 and r.total["effective_macs"] == 0
    # the training term counts |a| x full fan-out (zero weights too): 3 x 3 + 10 = 19
    assert r.total["synops"] == 19


def record_linear(x: torch.Tensor, weight: torch.Tensor) -> object:
    """Record one nn.Linear (no bias) called on each step of x (T, B, in)."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(weight)
    with ActivityRecorder(lin, needs={"inputs"}, keep_graph=False) as rec:
        for x_t in x.unbind(0):
            lin(x_t)
        return rec.record()[type(lin).__name__]


@pytest.mark.parametrize(
    ("policy", "acs", "macs"),
    [
        # step 0: [[1,0],[2,0]] contains a 2; step 1: [[0,-1],[1,1]] is binary (-1 counts)
        ("neurobench", 9, 6),  # step 0 all MAC (2 non-zero x 3), step 1 AC (3 x 3)
        ("per_sample", 12, 3),  # sample 0 of step 0 is AC (1 x 3), sample 1 MAC (1 x 3)
        ("events", 18, 0),  # step 0: 1 + 2 events x 3 = 9; step 1: 3 x 3 = 9
    ],
)
def test_ac_vs_mac_rules(policy: str, acs: float, macs: float) -> None:
    x = torch.tensor([[[1.0, 0.0], [2.0, 0.0]], [[0.0, -1.0], [1.0, 1.0]]])  # (T=2, B=2, 2)
    act = record_linear(x, torch.ones(3, 2))
    ops = split_ops(act, policy)
    assert ops["effective_acs"] == acs and ops["effective_macs"] == macs
    assert ops["dense_ops"] == 2 * 2 * 2 * 3  # T x B x inputs x fan-out
    assert ops["dense_acs"] + ops["dense_macs"] == ops["dense_ops"]


def test_ac_mask_shapes() -> None:
    x = torch.tensor([[[1.0, 0.5]], [[1.0, 1.0]]])  # (T=2, B=1, 2); 0.5 is graded
    assert ac_mask(x, "neurobench").flatten().tolist() == [False, True]
    with pytest.raises(ValueError, match="policy"):
        ac_mask(x, "bogus")


def test_pruned_weights_are_not_effective_ops() -> None:
    # W = [[1,0],[1,1],[0,1]]; input [1,1]: 4 non-zero weights are used, 6 synapses exist
    act = record_linear(torch.ones(1, 1, 2), torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    ops = split_ops(act, "neurobench")
    assert ops["effective_acs"] == 4 and ops["dense_ops"] == 6


def test_pruned_conv_counts_by_hand() -> None:
    # 3x3 input of ones, 3x3 kernel (padding 1) with a zero centre: each output position uses
    # its in-bounds neighbours except the centre tap: corners 4-1, edges 6-1, centre 9-1
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.weight[0, 0, 1, 1] = 0.0
    with ActivityRecorder(conv, needs={"inputs"}, keep_graph=False) as rec:
        conv(torch.ones(1, 1, 3, 3))
        act = rec.record()["Conv2d"]
    ops = split_ops(act, "neurobench")
    assert ops["effective_acs"] == 4 * 3 + 4 * 5 + 8  # 40
    assert ops["dense_ops"] == 4 * 4 + 4 * 6 + 9  # 49: zero weights still count as synapses


def test_metrics_that_do_not_apply_raise_not_zero() -> None:
    m = tiny_dense()
    with ActivityRecorder(m, needs=ActivationSparsity.needs, keep_graph=False) as rec:
        m(torch.ones(1, 1, 2))
        record = rec.record()
    metric = SpikeRate()
    metric.update(record)
    with pytest.raises(ValueError, match="no spiking layers"):
        metric.compute()
    with pytest.raises(ValueError, match="before any update"):
        ActivationSparsity().compute()
