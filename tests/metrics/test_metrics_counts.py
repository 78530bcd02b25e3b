"""Hand-computed ledger counts and joules on tiny snnTorch, Norse, dense and GRU models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeenergy.energy.cost_models import get_cost_model
from spikeenergy.energy.ledger import ac_mask, count_record
from spikeenergy.metrics import (
    ActivationSparsity,
    SpikeRateMetric,
    measure,
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
    assert t["effective_acs"] == 12
    assert t["effective_macs"] == 0
    assert t["graded_events"] == 0
    # dense: 2 steps x (2 x 3 + 3 x 2) synapses = 24
    assert t["dense_ops"] == 24
    # membrane: 3 at step 0, then .4 -> .2 and 1.2 -> .2 changed, 2 -> 2 did not: 3 + 2
    assert t["membrane_updates"] == 5
    # 3 neurons x 2 steps, 3 fired
    assert t["neuron_updates"] == 6
    assert t["active_updates"] == 3
    assert t["state_words"] == 6  # leaky neuron: one state word (membrane)
    # loihi: 12 ACs x 23.6 pJ + 3 inactive x 52 + 3 active x 81 + 3 spikes x 1.7 (routing)
    # = 283.2 + 156 + 243 + 5.1 = 687.3 pJ; memory is included in Loihi's op figures
    assert e(r, "loihi") == pytest.approx(687.3e-12)
    assert r.total[target_column("charged_acs", "loihi")] == 12
    assert r.total[target_column("memory_energy_j", "loihi")] == 0
    # cmos45 ops: 12 x 0.9 + 6 x 4.6 = 10.8 + 27.6 = 38.4 pJ; memory (10 pJ per access):
    # 12 weight reads + (12 accumulator + 6 membrane) reads + as many writes = 48 x 10 = 480 pJ
    assert r.total[target_column("compute_energy_j", "cmos45")] == pytest.approx(38.4e-12)
    assert r.total[target_column("state_reads", "cmos45")] == 18
    assert r.total[target_column("memory_energy_j", "cmos45")] == pytest.approx(480e-12)
    assert e(r, "cmos45") == pytest.approx(518.4e-12)
    # cpu charges every synapse every step: (24 + 6) x 8600 pJ = 258000 pJ
    assert e(r, "cpu") == pytest.approx(258000e-12)
    assert r.total[target_column("charged_macs", "cpu")] == 24
    # per layer joules add up to the total
    for target in ("loihi", "cmos45", "cpu"):
        layers = [r.rows[n].get(target_column("energy_j", target), 0.0) for n in r.layers]
        assert sum(layers) == pytest.approx(e(r, target))


def test_norse_counts_by_hand() -> None:
    # Norse LIFBox resets in the same step and reports the post-reset membrane:
    # v[0] = [2, .4, 1.2] -> spikes [1, 0, 1] -> v[0] = [1, .4, .2]
    # v[1] = .5 * [1, .4, .2] + [2, 0, .6] = [2.5, .2, .7] -> spikes [1, 0, 0] -> [1.5, .2, .7]
    r = measure(tiny_snn("norse"), [(two_step_input(), None)], TARGETS)
    t = r.total
    assert t["spikes_per_sample"] == 3
    assert t["effective_acs"] == 12  # same spikes as snnTorch: 6 + 6
    assert t["membrane_updates"] == 6  # 3 + all three changed
    # loihi: the same spikes and neuron-steps as snnTorch: 687.3 pJ
    assert e(r, "loihi") == pytest.approx(687.3e-12)


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
    # fc.0 input [2, 1] is not all in {-1,0,1} -> graded: MACs; each input drives 2 non-zero
    # weights (columns [1,0,1] and [0,-1,1]): 2 x 2 = 4 MACs; as events (2 + 1) x 2 = 6
    # h = relu([2, -1, 3]) = [2, 0, 3] -> readout: 2 non-zero x 2 = 4 MACs; (2 + 3) x 2 = 10
    assert r.rows["fc.0"]["effective_macs"] == 4
    assert r.rows["readout"]["effective_macs"] == 4
    assert r.rows["fc.0"]["graded_events"] == 6
    assert r.rows["readout"]["graded_events"] == 10
    assert t["effective_macs"] == 8
    assert t["effective_acs"] == 0
    assert t["graded_events"] == 16
    assert t["dense_ops"] == 12  # 2 x 3 + 3 x 2
    assert t["activation_sparsity"] == pytest.approx(1 / 3)  # one zero of three ReLU outputs
    assert t["neuron_updates"] == 3
    assert t["active_updates"] == 2
    # not applicable to dense
    assert "spike_rate" not in t
    assert "membrane_updates" not in t
    # cpu: dense MACs (12) + 3 unit updates, 8600 pJ each = 129000 pJ
    assert e(r, "cpu") == pytest.approx(129000e-12)
    # cmos45 ops: 8 effective MACs x 4.6 + 3 x 4.6 = 36.8 + 13.8 = 50.6 pJ; memory: 8 weight
    # reads + (8 + 3) state reads + (8 + 3) writes = 30 accesses x 10 pJ = 300 pJ
    assert r.total[target_column("compute_energy_j", "cmos45")] == pytest.approx(50.6e-12)
    assert e(r, "cmos45") == pytest.approx(350.6e-12)
    # loihi receives binary spikes only: an input value k is k spikes (KerasSpiking's rule),
    # so 16 graded events are 16 ACs (not 8, one per non-zero value): 16 x 23.6 = 377.6 pJ;
    # neurons: 1 inactive x 52 + 2 active x 81 = 214 pJ; no spiking layer, no routing
    assert r.total[target_column("charged_acs", "loihi")] == 16
    assert e(r, "loihi") == pytest.approx((377.6 + 214) * 1e-12)


def test_gru_recurrent_synapses_are_counted() -> None:
    # GRU 2 -> 1 unit, T=2, B=1, binary inputs [1, 0], [0, 1]; h0 = 0
    torch.manual_seed(0)
    gru = nn.GRU(2, 1)
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    with ActivityRecorder(gru, needs={"inputs"}, keep_graph=False) as rec:
        y, _ = gru(x)
        c = count_record(rec.record())["GRU"]
    h1 = float(y[0, 0, 0].detach())
    assert h1 != 0
    # input-to-hidden: one spike per step x 3 gate synapses = 6 ACs
    assert float(c["acs"]) == 6
    # hidden-to-hidden: h[-1] = 0 drives nothing; h[0] = h1 (graded) drives 3 gate synapses
    assert float(c["macs"]) == 3
    assert float(c["graded_events"]) == pytest.approx(abs(h1) * 3)
    # dense: every step all 2 x 3 input and 1 x 3 recurrent synapses: 2 x (6 + 3) = 18
    assert float(c["dense_ops"]) == 18
    assert float(c["neuron_updates"]) == 2  # 1 unit x 2 steps


def record_linear(x: torch.Tensor, weight: torch.Tensor) -> object:
    """Record one nn.Linear (no bias) called on each step of x (T, B, in)."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(weight)
    with ActivityRecorder(lin, needs={"inputs"}, keep_graph=False, time="step") as rec:
        for x_t in x.unbind(0):  # the caller steps the layer: declared with time="step"
            lin(x_t)
        return rec.record()


@pytest.mark.parametrize(
    ("policy", "acs", "macs", "events"),
    [
        # step 0: [[1,0],[2,0]] contains a 2; step 1: [[0,-1],[1,1]] is binary (-1 counts)
        # neurobench: step 0 all graded (2 non-zero x 3 MACs; |1| + |2| = 3 events x 3), step 1
        # binary (3 x 3 ACs)
        ("neurobench", 9, 6, 9),
        # per_sample: sample 0 of step 0 is binary (1 x 3 ACs), sample 1 graded (1 x 3 MACs,
        # 2 events x 3)
        ("per_sample", 12, 3, 6),
    ],
)
def test_ac_vs_mac_rules(policy: str, acs: float, macs: float, events: float) -> None:
    x = torch.tensor([[[1.0, 0.0], [2.0, 0.0]], [[0.0, -1.0], [1.0, 1.0]]])  # (T=2, B=2, 2)
    c = count_record(record_linear(x, torch.ones(3, 2)), policy)["Linear"]
    assert (float(c["acs"]), float(c["macs"]), float(c["graded_events"])) == (acs, macs, events)
    assert float(c["dense_ops"]) == 2 * 2 * 2 * 3  # T x B x inputs x fan-out


def test_ac_mask_shapes() -> None:
    x = torch.tensor([[[1.0, 0.5]], [[1.0, 1.0]]])  # (T=2, B=1, 2); 0.5 is graded
    assert ac_mask(x, "neurobench").flatten().tolist() == [False, True]
    with pytest.raises(ValueError, match="policy"):
        ac_mask(x, "bogus")


def test_pruned_weights_are_not_effective_ops() -> None:
    # W = [[1,0],[1,1],[0,1]]; input [1,1]: 4 non-zero weights are used, 6 synapses exist
    rec = record_linear(torch.ones(1, 1, 2), torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    c = count_record(rec)["Linear"]
    assert float(c["acs"]) == 4
    assert float(c["dense_ops"]) == 6


def test_pruned_conv_counts_by_hand() -> None:
    # 3x3 input of ones, 3x3 kernel (padding 1) with a zero centre: each output position uses
    # its in-bounds neighbours except the centre tap: corners 4-1, edges 6-1, centre 9-1
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.weight[0, 0, 1, 1] = 0.0
    with ActivityRecorder(conv, needs={"inputs"}, keep_graph=False) as rec:
        conv(torch.ones(1, 1, 3, 3))
        c = count_record(rec.record())["Conv2d"]
    assert float(c["acs"]) == 4 * 3 + 4 * 5 + 8  # 40
    assert float(c["dense_ops"]) == 4 * 4 + 4 * 6 + 9  # 49: zero weights still count as synapses


def test_metrics_that_do_not_apply_raise_not_zero() -> None:
    m = tiny_dense()
    with ActivityRecorder(m, needs=ActivationSparsity.needs, keep_graph=False) as rec:
        m(torch.ones(1, 1, 2))
        record = rec.record()
    metric = SpikeRateMetric()
    metric.update(record)
    with pytest.raises(ValueError, match="no spiking layers"):
        metric.compute()
    with pytest.raises(ValueError, match="before any update"):
        ActivationSparsity().compute()
