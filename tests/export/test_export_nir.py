"""NIR export via the libraries' own exporters: reads back with nir.read, same graph, metadata."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from spikeenergy.energy.cost_models import get_cost_model
from spikeenergy.export import build_nir_graph, export_nir, model_identity, read_nir_metadata
from spikeenergy.metrics import measure
from spikeenergy.models import ModelSpec, NeuronSpec, build_model


def spiking(backend: str, neuron: str, readout: str) -> torch.nn.Module:
    torch.manual_seed(0)
    reset = "zero" if (backend, neuron) == ("norse", "synaptic") else "subtract"
    spec = ModelSpec(
        family="snn-mlp",
        hidden=(6, 5),
        backend=backend,
        readout=readout,
        neuron=NeuronSpec(model=neuron, beta=0.8, alpha=0.6, threshold=0.5, reset=reset),
    )
    return build_model(spec, (4,), 3)


CASES = [
    (b, n, r)
    for b in ("snntorch", "norse")
    for n in ("leaky", "synaptic")
    for r in ("membrane", "spike_count")
]


@pytest.mark.parametrize(("backend", "neuron", "readout"), CASES)
def test_nir_round_trip(tmp_path: Path, backend: str, neuron: str, readout: str) -> None:
    m = spiking(backend, neuron, readout)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = (torch.rand(4, 2, 4, generator=torch.Generator().manual_seed(1)) < 0.6).float()
    rep = measure(m, [(x, None)], [get_cost_model("loihi"), get_cost_model("cpu")])
    rep = rep.with_info({"model": model_identity(m)}, {"torch": torch.__version__})
    graph = export_nir(m, tmp_path / "m.nir", rep)
    back, meta = read_nir_metadata(tmp_path / "m.nir")
    # the same graph: node names and types, edges
    chain = ["input", "fc.0", "fc_spk.0", "fc.1", "fc_spk.1", "readout"]
    chain += ["readout_spk", "output"] if readout == "spike_count" else ["output"]
    assert set(back.nodes) == set(graph.nodes) == set(chain)
    assert set(back.edges) == set(graph.edges) == set(zip(chain[:-1], chain[1:], strict=True))
    cell = nir.CubaLIF if neuron == "synaptic" else nir.LIF
    assert isinstance(back.nodes["fc_spk.0"], cell)
    np.testing.assert_allclose(back.nodes["fc.0"].weight, m.fc[0].weight.detach().numpy())
    # metadata: each node carries its layer's row of the report
    for name in ("fc.0", "fc_spk.0", "readout"):
        md = back.nodes[name].metadata
        assert md.keys() == rep.rows[name].keys()
        for k, v in rep.rows[name].items():
            assert float(md[k]) == pytest.approx(v, rel=1e-12)
    assert float(meta["total.energy_j[loihi]"]) == pytest.approx(rep.energy_j("loihi"))
    assert meta["identity"]["model"]["spec"]["backend"] == backend
    assert [t["name"] for t in meta["targets"]] == ["loihi", "cpu"]
    # the caller's model is untouched (export works on a copy)
    assert all(torch.equal(before[k], m.state_dict()[k]) for k in before)


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
def test_same_spec_same_nir_on_both_backends(neuron: str) -> None:
    # snnTorch exports r = tau / dt = 1 / (1 - beta) = 5; Norse gets the driver's gain folded in
    g_s = build_nir_graph(spiking("snntorch", neuron, "membrane"))
    g_n = build_nir_graph(spiking("norse", neuron, "membrane"))
    params = ("tau", "tau_mem", "tau_syn", "r", "w_in", "v_threshold")
    a, b = g_s.nodes["fc_spk.0"], g_n.nodes["fc_spk.0"]
    for p in params:
        if hasattr(a, p):
            np.testing.assert_allclose(getattr(a, p), getattr(b, p), rtol=1e-6)
    np.testing.assert_allclose(a.r, np.full(6, 1 / (1 - 0.8)), rtol=1e-6)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (ModelSpec(family="mlp", hidden=(4,)), "spiking model"),
        (ModelSpec(family="snn-cnn", conv_channels=(2,)), "max-pooling"),
        (ModelSpec(family="snn-mlp", hidden=(4,), recurrent=True), "recurrent"),
    ],
)
def test_unsupported_models_raise(spec: ModelSpec, match: str) -> None:
    shape = (1, 4, 4) if spec.family == "snn-cnn" else (4,)
    with pytest.raises(ValueError, match=match):
        build_nir_graph(build_model(spec, shape, 3))


def test_frame_inputs_get_an_explicit_flatten_node(tmp_path: Path) -> None:
    spec = ModelSpec(family="snn-mlp", hidden=(3,), backend="norse")
    m = build_model(spec, (2, 2, 2), 3)
    export_nir(m, tmp_path / "f.nir")
    g = nir.read(tmp_path / "f.nir")
    assert isinstance(g.nodes["flatten"], nir.Flatten)
    assert ("input", "flatten") in g.edges and ("flatten", "fc.0") in g.edges
    assert list(g.nodes["input"].input_type["input"]) == [2, 2, 2]
