"""NIR round trip of a model trained on real N-MNIST recordings (../shared/data, else skipped)."""

from __future__ import annotations

from pathlib import Path

import nir
import pytest
import torch

from spikeenergy.data import FrameConfig, make_loader
from spikeenergy.export import export_nir, import_nir, run_nir, verify_nir
from spikeenergy.models import ModelSpec, NeuronSpec
from spikeenergy.train import DataConfig, TrainConfig, build_seeded_model, fit, prepare_data


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["snntorch", "norse"])
def test_trained_nmnist_mlp_round_trip(shared_data: Path, tmp_path: Path, backend: str) -> None:
    frames = FrameConfig(n_time_bins=20, downsample=0.5)
    cfg = DataConfig(name="nmnist", root=str(shared_data), frames=frames, train_per_class=50)
    data = prepare_data(cfg, seed=0)
    x, y = next(iter(make_loader(data.test, batch_size=100)))  # all 100 test recordings
    x = x.to_dense() if x.is_sparse else x  # (T=20, B=100, 2, 17, 17)
    spec = ModelSpec(hidden=(64,), backend=backend, neuron=NeuronSpec(reset="zero"))
    model = build_seeded_model(spec, tuple(x.shape[2:]), 10, seed=0)
    train_cfg = TrainConfig(device="cpu", epochs=3, batch_size=32, lr=2e-3)
    fit(model, data.train, data.val, train_cfg, progress=False)
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    assert acc > 0.3  # trained (chance: 0.1)
    export_nir(model, tmp_path / "m.nir", check_input=x)  # raises if any spike differs
    graph = nir.read(tmp_path / "m.nir")
    for result in verify_nir(model, x, graph):
        assert result.spikes_compared == 20 * 100 * 64
        assert result.ok
    for importer in ("snntorch", "norse"):
        logits = run_nir(import_nir(graph, importer), x).output.mean(0)  # readout: mean over T
        assert float((logits.argmax(1) == y).float().mean()) == acc
