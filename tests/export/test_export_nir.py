"""NIR export: every written graph, read back by snnTorch's and Norse's importers, spikes like the
model (batched input); what NIR cannot express is refused; energy metadata lands on its node."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from spikeenergy.energy.cost_models import get_cost_model
from spikeenergy.export import (
    NIRExportError,
    NIRRoundTripError,
    build_nir_graph,
    export_nir,
    import_nir,
    model_identity,
    nir_round_trip,
    read_nir_metadata,
    run_nir,
    verify_nir,
)
from spikeenergy.metrics import measure
from spikeenergy.models import ModelSpec, NeuronSpec, build_model
from spikeenergy.record import ActivityRecorder

ZERO = dict(beta=0.8, alpha=0.6, threshold=0.5, reset="zero")


def spiking(
    family: str = "snn-mlp",
    backend: str = "snntorch",
    model: str = "leaky",
    readout: str = "membrane",
    recurrent: bool = False,
    **neuron: object,
) -> torch.nn.Module:
    torch.manual_seed(1)
    spec = ModelSpec(
        family=family,
        hidden=(7,),
        conv_channels=(3, 4),
        backend=backend,
        recurrent=recurrent,
        readout=readout,
        neuron=NeuronSpec(model=model, **{**ZERO, **neuron}),  # type: ignore[arg-type]
    )
    return build_model(spec, (2, 8, 8) if family == "snn-cnn" else (2, 3, 3), 3)


def frames(model: torch.nn.Module, t: int = 12, b: int = 3, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, *model.input_shape, generator=g) < 0.4).float()


def assert_round_trip(model: torch.nn.Module, x: torch.Tensor, graph: object, **kw: object) -> None:
    """Both importers: no spike differs in any layer, outputs equal within float rounding."""
    results = nir_round_trip(model, x, graph, **kw)  # type: ignore[arg-type]
    assert [r.backend for r in results] == ["snntorch", "norse"]
    for r in results:
        assert r.spikes_compared > 0, r
        assert r.spike_mismatches, r
        assert not any(r.spike_mismatches.values()), r
        assert r.output_max_abs_diff <= 1e-5, r
        assert r.ok


# the exportable spikeenergy models: MLP and CNN, both backends, recurrent, both readouts
EXPORTABLE = [
    (fam, backend, kind, readout, rec)
    for fam in ("snn-mlp", "snn-cnn")
    for backend, kind in (("snntorch", "leaky"), ("norse", "leaky"), ("norse", "synaptic"))
    for readout, rec in (("membrane", False), ("spike_count", True))
]


@pytest.mark.parametrize(("family", "backend", "kind", "readout", "recurrent"), EXPORTABLE)
def test_round_trip_spikeenergy_models(
    tmp_path: Path, family: str, backend: str, kind: str, readout: str, recurrent: bool
) -> None:
    m = spiking(family, backend, kind, readout, recurrent)
    x = frames(m)  # (T=12, B=3, ...): batched
    export_nir(m, tmp_path / "m.nir")
    back = nir.read(tmp_path / "m.nir")  # what a user reads: the file
    assert_round_trip(m, x, back)
    # the comparison is not vacuous: every spiking layer fires, but not always
    with torch.no_grad(), ActivityRecorder(m, needs={"spikes"}, keep_graph=False) as rec:
        m(x)
        rates = {k: float(v.spikes.mean()) for k, v in rec.record().items()}  # type: ignore[union-attr]
    assert rates, rates
    assert all(0.0 < r < 1.0 for r in rates.values()), rates


def test_same_nir_on_both_backends_exactly_where_they_compute_the_same_function() -> None:
    from spikeenergy.models import backend_difference

    # leaky, reset to zero: one function on both backends (docs/models.md) -> one graph
    a, b = build_nir_graph(spiking(backend="snntorch")), build_nir_graph(spiking(backend="norse"))
    assert backend_difference(NeuronSpec(**ZERO)) is None  # type: ignore[arg-type]
    assert list(a.nodes) == list(b.nodes)
    assert a.edges == b.edges
    for name in a.nodes:
        for p in ("weight", "bias", "tau", "r", "v_threshold", "v_reset", "v_leak"):
            if hasattr(a.nodes[name], p):
                np.testing.assert_allclose(
                    getattr(a.nodes[name], p),
                    getattr(b.nodes[name], p),
                    rtol=1e-6,
                    err_msg=f"{name}.{p}",
                )
    # the other options compute different functions on the two backends: no common graph
    for neuron in ({"reset": "subtract"}, {"model": "synaptic"}):
        with pytest.raises(NIRExportError):
            build_nir_graph(spiking(backend="snntorch", **neuron))  # type: ignore[arg-type]


def test_library_importers_called_directly_on_the_file(tmp_path: Path) -> None:
    # a user's view: snnTorch's import_from_nir(nir.read(path)) and Norse's from_nir(..., dt)
    from norse.torch import from_nir
    from snntorch.import_nir import import_from_nir

    m = spiking("snn-cnn", "norse", "synaptic", "spike_count", recurrent=True)
    x = frames(m, b=4)
    _, meta = export_nir(m, tmp_path / "m.nir"), read_nir_metadata(tmp_path / "m.nir")[1]
    with torch.no_grad(), ActivityRecorder(m, needs={"spikes"}, keep_graph=False) as rec:
        logits = m(x)
        want = {k: v.spikes for k, v in rec.record().items()}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nets = {
            "snntorch": import_from_nir(nir.read(tmp_path / "m.nir")),
            "norse": from_nir(nir.read(tmp_path / "m.nir"), dt=float(meta["dt_s"])),
        }
    for name, net in nets.items():
        run = run_nir(net, x, list(want))
        for layer, spikes in want.items():
            assert torch.equal(run.spikes[layer], spikes), (name, layer)
        assert torch.equal(run.output.sum(0), logits), name  # spike counts: exact


def test_trained_model_round_trip() -> None:
    from toyframes import ToyFrames

    from spikeenergy.train import TrainConfig, build_seeded_model, fit

    spec = ModelSpec(hidden=(16,), neuron=NeuronSpec(beta=0.9, reset="zero"))
    m = build_seeded_model(spec, (6,), 2, seed=0)
    cfg = TrainConfig(device="cpu", epochs=8, batch_size=8, lr=0.02, schedule="none")
    assert fit(m, ToyFrames(), ToyFrames(16, seed=1), cfg, progress=False).best_val_accuracy >= 0.9
    x = torch.stack([ToyFrames(64, seed=3)[i][0] for i in range(64)], 1)  # (T=4, B=64, 6)
    assert_round_trip(m, x, build_nir_graph(m))


def test_subtract_reset_is_refused_naming_the_exact_option() -> None:
    for backend in ("snntorch", "norse"):
        m = spiking(backend=backend, reset="subtract")
        with pytest.raises(NIRExportError, match=r"reset='zero'") as err:
            build_nir_graph(m)
        assert "fc_spk.0" in str(err.value)
    with pytest.raises(NIRExportError, match="reset_mechanism='zero'"):
        build_nir_graph(nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True)))


def test_snntorch_synaptic_delayed_zero_reset_is_refused() -> None:
    # snnTorch's Synaptic zeroes the membrane of the step after a spike: not a NIR CubaLIF
    with pytest.raises(NIRExportError, match="backend='norse'"):
        build_nir_graph(spiking(backend="snntorch", model="synaptic"))
    syn = snn.Synaptic(alpha=0.6, beta=0.8, reset_mechanism="zero", init_hidden=True)
    with pytest.raises(NIRExportError, match="reset_delay=False"):
        build_nir_graph(nn.Sequential(nn.Linear(4, 3), syn))


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        (lambda: build_model(ModelSpec(family="mlp", hidden=(4,)), (4,), 3), {}, "dense"),
        (lambda: nn.GRU(4, 3), {}, "nn.Sequential"),
        (lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU()), {}, "ReLU has no exact NIR"),
        (
            lambda: nn.Sequential(nn.Conv2d(2, 2, 3), nn.MaxPool2d(2)),
            {"input_shape": (2, 6, 6)},
            "max-pooling",
        ),
        (
            lambda: nn.Sequential(nn.Flatten(0), nn.Linear(8, 2)),
            {"input_shape": (2, 4)},
            "batch axis",
        ),
        (lambda: nn.Sequential(nn.Flatten(), nn.Linear(8, 2)), {}, "input_shape="),
        (
            lambda: nn.Sequential(
                nn.Linear(4, 3),
                snn.Leaky(
                    beta=torch.tensor([0.5, 0.6, 0.7]), init_hidden=True, reset_mechanism="zero"
                ),
            ),
            {},
            "per-neuron beta",
        ),
        (
            lambda: nn.Sequential(
                nn.Linear(4, 3), snn.Leaky(beta=1.0, init_hidden=True, reset_mechanism="zero")
            ),
            {},
            "infinity",
        ),
        (
            lambda: nn.Sequential(snn.Leaky(beta=0.5, reset_mechanism="zero"), nn.Linear(4, 3)),
            {"input_shape": (4,)},
            "init_hidden=True",
        ),
    ],
    ids=[
        "dense",
        "not-sequential",
        "relu",
        "maxpool-of-currents",
        "flatten-batch",
        "no-input-shape",
        "per-neuron-beta",
        "no-leak",
        "tuple-output",
    ],
)
def test_inexpressible_models_are_refused(model, kwargs, match) -> None:  # noqa: ANN001
    with pytest.raises(NIRExportError, match=match):
        build_nir_graph(model(), **kwargs)


@pytest.mark.parametrize("reset_delay", [True, False])
def test_user_snntorch_sequential_init_hidden(reset_delay: bool) -> None:
    # the snnTorch tutorial network, with reset_mechanism="zero" (exact in NIR; for Leaky the
    # delayed and the immediate zero reset compute the same spikes)
    torch.manual_seed(0)
    leaky = dict(beta=0.9, threshold=0.5, reset_mechanism="zero", reset_delay=reset_delay)
    net = nn.Sequential(
        nn.Linear(10, 8),
        snn.Leaky(**leaky, init_hidden=True),
        nn.Linear(8, 3),
        snn.Leaky(**leaky, init_hidden=True, output=True),
    )
    x = (torch.rand(15, 4, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    g = build_nir_graph(net)
    assert list(g.nodes) == ["input", "0", "1", "2", "3", "output"]
    assert isinstance(g.nodes["1"], nir.LIF)
    # r = 1 and the input gain 1 / (1 - 0.9) = 10 folded into the weights feeding the neuron
    np.testing.assert_allclose(g.nodes["1"].r, 1.0)
    np.testing.assert_allclose(g.nodes["0"].weight, 10 * net[0].weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(g.nodes["1"].tau, 1e-4 / (1 - 0.9), rtol=1e-6)
    assert_round_trip(net, x, g)


def test_user_snntorch_conv_net_with_max_pooling_of_spikes() -> None:
    torch.manual_seed(0)
    leaky = dict(beta=0.8, threshold=0.3, init_hidden=True, reset_mechanism="zero")
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        snn.Leaky(**leaky),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 5),
        snn.Leaky(**leaky),
        nn.Dropout(0.2),  # identity at inference: no node
    )
    x = (torch.rand(10, 3, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    g = build_nir_graph(net, input_shape=(2, 8, 8))
    assert isinstance(g.nodes["2"], nir.SumPool2d)
    assert isinstance(g.nodes["2.max"], nir.LIF)
    assert (g.nodes["3"].start_dim, g.nodes["3"].end_dim) == (-3, -1)  # per sample, not batch
    assert_round_trip(net, x, g, input_shape=(2, 8, 8))


def test_user_snntorch_synaptic_without_reset_delay() -> None:
    torch.manual_seed(0)
    syn = snn.Synaptic(
        alpha=0.5,
        beta=0.9,
        threshold=0.5,
        init_hidden=True,
        reset_mechanism="zero",
        reset_delay=False,
    )
    net = nn.Sequential(nn.Linear(10, 8), syn, nn.Linear(8, 3))
    x = (torch.rand(15, 4, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    assert_round_trip(net, x, build_nir_graph(net))


def test_user_norse_models_stepped_and_time_batched() -> None:
    import norse.torch as norse

    torch.manual_seed(0)
    stepped = norse.SequentialState(
        nn.Linear(10, 8, bias=False),
        norse.LIFBoxCell(),
        nn.Linear(8, 6),
        norse.LIFCell(),
        nn.Linear(6, 3),
    )
    sequence = norse.SequentialState(nn.Linear(10, 8), norse.LIF(), nn.Linear(8, 3))
    x = (torch.rand(15, 4, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    for net in (stepped, sequence):
        with torch.no_grad():  # Norse's default parameters need larger currents to spike
            for p in net.parameters():
                p.mul_(8)
        assert_round_trip(net, x, build_nir_graph(net))


def test_norse_needs_the_files_dt_and_reads_r_of_lif_only_as_one(tmp_path: Path) -> None:
    # Negative controls: the checker catches graphs Norse reads differently.
    m = spiking(backend="norse")
    x = frames(m)
    export_nir(m, tmp_path / "m.nir")
    graph = nir.read(tmp_path / "m.nir")
    want = nir_round_trip(m, x, graph, backends=["norse"])[0]
    assert want.ok
    from norse.torch import from_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        default_dt = from_nir(nir.read(tmp_path / "m.nir"))  # Norse's default dt = 1e-3
    run = run_nir(default_dt, x, ["fc_spk.0"])
    with torch.no_grad(), ActivityRecorder(m, needs={"spikes"}, keep_graph=False) as rec:
        m(x)
        spikes = rec.record()["fc_spk.0"].spikes
    assert not torch.equal(run.spikes["fc_spk.0"], spikes)
    # snnTorch's own exporter writes r = 1/(1-beta) on LIF nodes; Norse ignores r
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    per_neuron = dict(beta=torch.full((8,), 0.8), threshold=torch.full((8,), 0.5))
    net = nn.Sequential(  # per-neuron values: snnTorch's exporter cannot type scalar ones
        nn.Linear(10, 8), snn.Leaky(**per_neuron, init_hidden=True, reset_mechanism="zero")
    )
    xs = (torch.rand(12, 3, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = export_to_nir(net, torch.zeros(1, 10), ignore_dims=[0])
    theirs.metadata = {"dt_s": 1e-4}
    assert set(theirs.nodes) == {"input", "0", "1", "output"}
    np.testing.assert_allclose(theirs.nodes["1"].r, 1 / (1 - 0.8), rtol=1e-6)
    bad = nir_round_trip(net, xs, theirs, backends=["norse"])[0]
    assert not bad.ok
    assert bad.spike_mismatches["1"] > 0
    assert nir_round_trip(net, xs, build_nir_graph(net), backends=["norse"])[0].ok


def test_norse_own_exporter_misreads_lifcell_ours_does_not() -> None:
    # Norse's to_nir writes LIFCell as CubaLIF with w_in = 1; from_nir then scales the input by
    # dt / tau_syn = 1 - alpha (Norse's LIFCell adds the input to the current as a jump)
    import norse.torch as norse

    torch.manual_seed(0)
    net = norse.SequentialState(nn.Linear(10, 8), norse.LIFCell())
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(8)
    x = (torch.rand(15, 4, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = norse.to_nir(net, torch.zeros(1, 10))  # dt = 1e-3, Norse's default
    theirs.metadata = {"dt_s": 1e-3}
    bad = nir_round_trip(net, x, theirs, backends=["norse"])[0]
    assert bad.spike_mismatches["1"] > 0.1 * bad.spikes_compared
    assert_round_trip(net, x, build_nir_graph(net))


def test_verify_raises_on_a_tampered_graph_and_export_writes_nothing(tmp_path: Path) -> None:
    m = spiking()
    x = frames(m)
    g = build_nir_graph(m)
    verify_nir(m, x, g)
    g.nodes["fc_spk.0"].v_threshold = g.nodes["fc_spk.0"].v_threshold * 0.7
    with pytest.raises(NIRRoundTripError, match="spikes differ") as err:
        verify_nir(m, x, g)
    assert "first: layer 'fc_spk.0', step" in str(err.value)
    # export_nir(check_input=...) verifies before writing
    export_nir(m, tmp_path / "ok.nir", check_input=x)
    assert (tmp_path / "ok.nir").is_file()
    assert list(tmp_path.iterdir()) == [tmp_path / "ok.nir"]  # no temp file left


def test_max_samples_differing_accepts_only_that_many_samples() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(10, 8, bias=False),
        snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True, reset_mechanism="zero"),
    )
    x = torch.zeros(12, 3, 10)  # only sample 0 gets input; samples 1, 2 never spike
    x[:, 0] = (torch.rand(12, 10, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    g = build_nir_graph(net)
    g.nodes["1"].v_threshold = g.nodes["1"].v_threshold * 0.5  # a different network
    results = nir_round_trip(net, x, g)
    assert [(r.samples_differing, r.ok) for r in results] == [(1, False), (1, False)]
    assert all("sample 0" in str(r.first_mismatch) for r in results)
    with pytest.raises(NIRRoundTripError, match="1 of 3 samples"):
        verify_nir(net, x, g)
    verify_nir(net, x, g, max_samples_differing=1)  # samples 1, 2 still compared exactly


def test_energy_report_rows_on_nodes_and_file(tmp_path: Path) -> None:
    m = spiking("snn-cnn", "norse", readout="spike_count", recurrent=True)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = frames(m)
    rep = measure(m, [(x, None)], [get_cost_model("loihi"), get_cost_model("cpu")])
    rep = rep.with_info({"model": model_identity(m)}, {"torch": torch.__version__})
    export_nir(m, tmp_path / "m.nir", rep)
    back, meta = read_nir_metadata(tmp_path / "m.nir")
    chain = ["input", "conv.0", "conv_spk.0", "pool.0", "pool.0.max", "conv.1", "conv_spk.1"]
    chain += ["pool.1", "pool.1.max", "flatten", "fc.0", "fc_spk.0", "readout", "readout_spk"]
    chain += ["output"]
    assert list(back.nodes) == chain  # written in graph order
    assert set(back.edges) == set(zip(chain[:-1], chain[1:], strict=True))
    rec = back.nodes["fc_spk.0"]  # recurrent layer: sub-graph input -> lif <-> w_rec -> output
    assert isinstance(rec, nir.NIRGraph)
    assert set(rec.nodes) == {"input", "lif", "w_rec", "output"}
    # Norse backend: the driver's input gain 1 / (1 - 0.8) = 5 folded into the weights feeding
    # each neuron layer (incl. the recurrent one and the spiking readout), r = 1
    np.testing.assert_allclose(rec.nodes["w_rec"].weight, 5 * m.fc_rec[0].weight.detach().numpy())
    np.testing.assert_allclose(back.nodes["fc.0"].weight, 5 * m.fc[0].weight.detach().numpy())
    np.testing.assert_allclose(back.nodes["readout"].bias, 5 * m.readout.bias.detach().numpy())
    np.testing.assert_allclose(rec.nodes["lif"].r, 1.0)
    where = {name: back.nodes[name] for name in rep.rows if name in back.nodes}
    where["fc_rec.0"] = rec.nodes["w_rec"]
    assert set(where) | {"total"} == set(rep.rows)  # every row has a node
    for name, node in where.items():
        assert node.metadata.keys() == rep.rows[name].keys(), name
        for k, v in rep.rows[name].items():
            assert float(node.metadata[k]) == pytest.approx(v, rel=1e-12)
    assert float(meta["total.energy_j[loihi]"]) == pytest.approx(rep.energy_j("loihi"))
    assert meta["identity"]["model"]["spec"]["backend"] == "norse"
    assert [t["name"] for t in meta["targets"]] == ["loihi", "cpu"]
    assert meta["readout"] == "sum"
    assert float(meta["dt_s"]) == 1e-4
    assert all(torch.equal(before[k], m.state_dict()[k]) for k in before)  # model untouched
    assert_round_trip(m, x, back)


def test_plain_energy_mapping_on_user_model() -> None:
    net = nn.Sequential(
        nn.Linear(4, 3), snn.Leaky(beta=0.5, init_hidden=True, reset_mechanism="zero")
    )
    energy = {"0": {"energy_j[loihi]": 2.5e-9, "effective_acs": 12.0}, "total": {"j": 3.0}}
    g = build_nir_graph(net, energy)
    assert g.nodes["0"].metadata == {"energy_j[loihi]": 2.5e-9, "effective_acs": 12.0}
    assert g.metadata["total.j"] == 3.0
    with pytest.raises(ValueError, match="names no layer"):
        build_nir_graph(net, {"fc.9": {"j": 1.0}})
    with pytest.raises(ValueError, match="not a number"):
        build_nir_graph(net, {"0": {"j": "lots"}})  # type: ignore[dict-item]


def test_import_nir_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="snntorch"):
        import_nir(build_nir_graph(spiking()), "lava")
