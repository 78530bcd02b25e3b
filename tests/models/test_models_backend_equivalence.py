"""snnTorch and Norse backends on trained weights: the same function where claimed, else named.

A model is trained on one backend, its weights are loaded into the same spec on the other
backend, and the spikes of every layer are compared on held-out data. ``backend_difference``
must be None exactly where they agree (see docs/models.md, "Backend equivalence").
"""

from __future__ import annotations

import pytest
import torch

from spikeenergy.models import ModelSpec, NeuronSpec, backend_difference, build_model
from spikeenergy.record import ActivityRecorder
from spikeenergy.train import TrainConfig, build_seeded_model, fit


class Bursts(torch.utils.data.Dataset):
    """Two classes of (T=20, 10) spike frames: class 1 bursts on inputs 0-4, class 0 on 5-9."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.y = [i % 2 for i in range(n)]
        self.x = (torch.rand(n, 20, 10, generator=g) < 0.15).float()
        for i, y in enumerate(self.y):
            cols = slice(0, 5) if y else slice(5, 10)
            self.x[i, :, cols] += (torch.rand(20, 5, generator=g) < 0.3).float()
        self.x.clamp_(max=1.0)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], self.y[i]


def _spikes(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad(), ActivityRecorder(model, needs={"spikes"}, keep_graph=False) as rec:
        model(x)
        return {k: v.spikes for k, v in rec.record().items() if v.spikes is not None}


def _trained_pair(neuron: NeuronSpec, trained_on: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    spec = ModelSpec(hidden=(32,), backend=trained_on, readout="spike_count", neuron=neuron)
    model = build_seeded_model(spec, (10,), 2, seed=0)
    cfg = TrainConfig(device="cpu", epochs=5, batch_size=16, lr=0.01, schedule="none")
    result = fit(model, Bursts(64, seed=0), Bursts(32, seed=1), cfg, progress=False)
    assert result.best_val_accuracy >= 0.8  # trained, not random weights
    other = "norse" if trained_on == "snntorch" else "snntorch"
    twin = build_model(ModelSpec.from_dict({**spec.to_dict(), "backend": other}), (10,), 2)
    weights = {k: v for k, v in model.state_dict().items() if "_spk" not in k}  # no neuron buffers
    twin.load_state_dict(weights, strict=False)
    assert all(torch.equal(twin.state_dict()[k], v) for k, v in weights.items())
    return model, twin


@pytest.mark.parametrize("trained_on", ["snntorch", "norse"])
def test_leaky_zero_reset_same_spikes_on_both_backends_trained(trained_on: str) -> None:
    neuron = NeuronSpec(model="leaky", beta=0.9, reset="zero")
    assert backend_difference(neuron) is None
    a, b = _trained_pair(neuron, trained_on)
    x = torch.stack([Bursts(64, seed=5)[i][0] for i in range(64)], 1)  # (T=20, B=64, 10)
    sa, sb = _spikes(a, x), _spikes(b, x)
    assert sa.keys() == sb.keys() == {"fc_spk.0", "readout_spk"}
    for name in sa:
        assert 0.01 < float(sa[name].mean()) < 0.99, name  # the layers do spike
        assert torch.equal(sa[name], sb[name]), name
    assert torch.equal(a(x), b(x))  # spike counts = logits


@pytest.mark.parametrize(
    "neuron",
    [
        NeuronSpec(model="leaky", beta=0.9, reset="subtract"),
        NeuronSpec(model="synaptic", beta=0.9, alpha=0.7, reset="zero"),
    ],
    ids=["leaky-subtract", "synaptic-zero"],
)
def test_named_backend_differences_are_real_on_trained_weights(neuron: NeuronSpec) -> None:
    assert backend_difference(neuron) is not None
    a, b = _trained_pair(neuron, "snntorch")
    x = torch.stack([Bursts(64, seed=5)[i][0] for i in range(64)], 1)
    sa, sb = _spikes(a, x), _spikes(b, x)
    differ = float((sa["fc_spk.0"] != sb["fc_spk.0"]).float().mean())
    assert differ > 0.01  # measured: 6 % (subtract) and 13 % (synaptic zero) of hidden spikes
