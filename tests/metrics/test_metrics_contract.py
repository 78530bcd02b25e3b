"""Contract every metric passes: k updates == one update on the concatenated batch, an
independent numpy reference, reset, pickling; and measure() leaves the caller's model alone."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from spikeenergy.metrics import (
    TOTAL,
    ActivationSparsity,
    ConnectionSparsity,
    Footprint,
    MembraneUpdates,
    NeuronUpdates,
    ParameterCount,
    SpikeRateMetric,
    SynapticOperations,
    measure,
)
from spikeenergy.models import ModelSpec, NeuronSpec, build_model
from spikeenergy.record import ActivityRecorder

WORKLOAD = [
    ActivationSparsity,
    SpikeRateMetric,
    lambda: SynapticOperations("per_sample"),
    MembraneUpdates,
    NeuronUpdates,
]


def model_and_batches() -> tuple[torch.nn.Module, list[torch.Tensor]]:
    torch.manual_seed(3)
    spec = ModelSpec(family="snn-mlp", hidden=(6,), neuron=NeuronSpec(beta=0.7, threshold=0.3))
    m = build_model(spec, (5,), 3).eval()
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(4, 6, 5, generator=g) < 0.5).float() * torch.randint(
        1, 3, (4, 6, 5), generator=g
    )
    return m, [x[:, :2], x[:, 2:3], x[:, 3:]]  # uneven batches of (T=4, B, 5)


def records(m: torch.nn.Module, xs: list[torch.Tensor]) -> list:  # noqa: ANN401
    out = []
    with torch.no_grad(), ActivityRecorder(m, keep_graph=False) as rec:
        for x in xs:
            rec.clear()
            m(x)
            out.append(rec.record())
    return out


@pytest.mark.parametrize("make", WORKLOAD)
def test_updates_accumulate_reset_and_pickle(make) -> None:  # noqa: ANN001
    m, xs = model_and_batches()
    split, whole = make(), make()
    for r in records(m, xs):
        split.update(r)
    whole.update(records(m, [torch.cat(xs, 1)])[0])
    a, b = split.compute(), whole.compute()
    assert a.keys() == b.keys()
    for layer in a:
        assert a[layer] == pytest.approx(b[layer], rel=1e-12)
    clone = pickle.loads(pickle.dumps(split))
    assert clone.compute() == a
    split.reset()
    with pytest.raises(ValueError, match="before any update"):
        split.compute()
    # the headline column's unit and direction, decided by what it measures: a larger
    # share of silent units saves energy (higher is better); every rate, operation and update
    # costs energy (lower is better)
    unit, better = EXPECTED_HEADLINE[type(split).__name__]
    assert split.unit == unit
    assert split.higher_is_better is better


EXPECTED_HEADLINE = {
    "ActivationSparsity": ("fraction", True),
    "SpikeRateMetric": ("spikes/(neuron*step)", False),
    "SynapticOperations": ("ACs/sample", False),
    "MembraneUpdates": ("updates/sample", False),
    "NeuronUpdates": ("updates/sample", False),
}


def test_against_numpy_reference() -> None:
    m, xs = model_and_batches()
    recs = records(m, xs)
    act, rate, mem = ActivationSparsity(), SpikeRateMetric(), MembraneUpdates()
    for r in recs:
        for metric in (act, rate, mem):
            metric.update(r)
    spikes = np.concatenate([r["fc_spk.0"].spikes.numpy() for r in recs], axis=1)  # (T, 6, 6)
    v = np.concatenate([r["fc_spk.0"].membrane.numpy() for r in recs], axis=1)
    assert act.compute()[TOTAL]["activation_sparsity"] == pytest.approx(np.mean(spikes == 0))
    assert rate.compute()["fc_spk.0"]["spike_rate"] == pytest.approx(spikes.mean())
    ref_updates = (v[0].size + np.count_nonzero(np.diff(v, axis=0))) / v.shape[1]
    assert mem.compute()[TOTAL]["membrane_updates"] == pytest.approx(ref_updates)


def test_static_metrics_by_hand() -> None:
    m = build_model(ModelSpec(family="mlp", hidden=(3,)), (2,), 2)
    with torch.no_grad():
        m.fc[0].weight.zero_()  # 6 zero weights
    m.half()
    pc, fp, cs = ParameterCount(), Footprint(), ConnectionSparsity()
    for metric in (pc, fp, cs):
        metric.update(m)
    # fc.0: 2*3 + 3 = 9, readout: 3*2 + 2 = 8 parameters
    assert pc.compute()[TOTAL]["parameters"] == 17
    assert pc.compute()["fc.0"]["parameters"] == 9
    assert fp.compute()[TOTAL]["footprint_bytes"] == 17 * 2  # float16: 2 bytes each
    # 6 of the 12 weights (biases excluded for Linear) are zero
    assert cs.compute()[TOTAL]["connection_sparsity"] == pytest.approx(6 / 12)
    assert cs.compute()["readout"]["connection_sparsity"] == 0.0


def test_measure_leaves_model_untouched() -> None:
    m, xs = model_and_batches()
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    rep = measure(m, [(x, None) for x in xs])
    assert m.training
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert rep.samples == 6
    flat = rep.flat()
    assert flat["spike_rate/fc_spk.0"] == rep.rows["fc_spk.0"]["spike_rate"]
    with pytest.raises(ValueError, match="no batches"):
        measure(m, [])
