"""Cross-check against NeuroBench itself on the same snnTorch model and data (skips without it).

CI install: ``pip install --no-deps neurobench`` (its hard dependency torchaudio is not needed
for these metrics).
"""

from __future__ import annotations

import pytest
import torch

nb_metrics = pytest.importorskip("neurobench.metrics.workload")
nb_static = pytest.importorskip("neurobench.metrics.static")
nb_bench = pytest.importorskip("neurobench.benchmarks")
nb_models = pytest.importorskip("neurobench.models")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from spikeenergy.metrics import TOTAL, measure  # noqa: E402
from spikeenergy.models import ModelSpec, NeuronSpec, build_model  # noqa: E402


class _TimeMajor(nb_models.NeuroBenchModel):
    """NeuroBench model wrapper: NeuroBench batches are (B, T, ...), our models are time-major."""

    def __init__(self, net: torch.nn.Module) -> None:
        import snntorch as snn

        super().__init__()
        self.net = net
        self.net.eval()
        self.add_activation_module(snn.SpikingNeuron)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.net(batch.transpose(0, 1))

    def __net__(self) -> torch.nn.Module:
        return self.net


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
@pytest.mark.parametrize("counts", [False, True], ids=["binary", "event-counts"])
@pytest.mark.parametrize("pruned", [False, True], ids=["dense-weights", "pruned"])
def test_equals_neurobench(neuron: str, counts: bool, pruned: bool) -> None:
    torch.manual_seed(0)
    spec = ModelSpec(
        family="snn-mlp",
        hidden=(12, 7),
        readout="spike_count",
        neuron=NeuronSpec(model=neuron, beta=0.8, threshold=0.5),
    )
    model = build_model(spec, (10,), 3)
    if pruned:  # zero 40 % of every weight matrix: effective ops skip those synapses
        g0 = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for lin in [*model.fc, model.readout]:
                lin.weight.mul_((torch.rand(lin.weight.shape, generator=g0) >= 0.4).float())
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(8, 6, 10, generator=g) < 0.4).float()  # (B, T, F)
    if counts:  # event-count frames: values up to 2 turn the first layer's ACs into MACs
        x = x * torch.randint(1, 3, x.shape, generator=g)
    loader = DataLoader(TensorDataset(x, torch.zeros(8, dtype=torch.long)), batch_size=4)
    static = [nb_static.Footprint, nb_static.ParameterCount, nb_static.ConnectionSparsity]
    workload = [
        nb_metrics.ActivationSparsity,
        nb_metrics.SynapticOperations,
        nb_metrics.MembraneUpdates,
    ]
    # static metrics first: NeuroBench measures the model before running it
    nb = nb_bench.Benchmark(_TimeMajor(model), loader, [], [], [static, workload]).run(quiet=True)
    batches = [(xb.transpose(0, 1), yb) for xb, yb in loader]
    ours = measure(model, batches, policy="neurobench").rows[TOTAL]
    syn = nb["SynapticOperations"]
    # NeuroBench ran for real
    assert syn["Effective_ACs"] > 0
    assert nb["MembraneUpdates"] > 0
    assert ours["activation_sparsity"] == pytest.approx(nb["ActivationSparsity"], rel=1e-12)
    assert ours["effective_acs"] == pytest.approx(syn["Effective_ACs"], rel=1e-12)
    assert ours["effective_macs"] == pytest.approx(syn["Effective_MACs"], rel=1e-12)
    assert ours["dense_ops"] == pytest.approx(syn["Dense"], rel=1e-12)
    assert ours["membrane_updates"] == pytest.approx(nb["MembraneUpdates"], rel=1e-12)
    assert ours["parameters"] == nb["ParameterCount"]
    assert ours["footprint_bytes"] == nb["Footprint"]
    assert ours["connection_sparsity"] == pytest.approx(nb["ConnectionSparsity"], abs=1e-4)
    if counts:
        assert syn["Effective_MACs"] > 0
    if pruned:  # the pruned synapses really were skipped (effective < dense share)
        assert ours["connection_sparsity"] > 0.3
