"""Harness on users' own models, checked against NeuroBench 2.3 on the same models and data.

Every model is built the way its library's users build it (snnTorch ``init_hidden=True``
``nn.Sequential`` stepped per time step, time-batched PyTorch layers on ``(B, T, F)``, Norse
``SequentialState`` / ``Lift`` / cells in a ``forward`` loop) and given to NeuroBench's own
``Benchmark`` unchanged. NeuroBench's hooks store a neuron's output as the activation, so they
cannot read Norse's ``(spikes, state)`` tuples: for Norse only the synaptic operations, static
metrics and accuracy are NeuroBench's; the neuron side is hand-checked in
tests/record/test_record_time.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

nb_metrics = pytest.importorskip("neurobench.metrics.workload")
nb_static = pytest.importorskip("neurobench.metrics.static")
nb_bench = pytest.importorskip("neurobench.benchmarks")
nb_models = pytest.importorskip("neurobench.models")
nb_post = pytest.importorskip("neurobench.processors.postprocessors")
snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from spikeenergy.metrics import Harness, HarnessResult, decode, measure  # noqa: E402
from spikeenergy.record import TimeAxisError  # noqa: E402

B, T, F, C = 4, 6, 10, 3
STATIC = [nb_static.Footprint, nb_static.ParameterCount, nb_static.ConnectionSparsity]


def _data(counts: bool, seed: int = 1) -> DataLoader:
    """NeuroBench layout (B, T, F): 3 batches of 4; event counts up to 3 in the first 3 steps."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(3 * B, T, F, generator=g) < 0.4).float()
    if counts:  # graded values only in steps 0-2: steps 3-5 stay binary
        x[:, :3] *= torch.randint(1, 4, x[:, :3].shape, generator=g).float()
    y = torch.randint(0, C, (3 * B,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=B)


def _neurobench(model, loader, workload, pre=(), post=()) -> dict:  # noqa: ANN001
    # static metrics first: NeuroBench measures the model before running it
    return nb_bench.Benchmark(model, loader, list(pre), list(post), [STATIC, workload]).run(
        quiet=True
    )


def _check_common(ours: HarnessResult, nb: dict) -> None:
    row = ours.report.total
    syn = nb["SynapticOperations"]
    assert syn["Dense"] > 0  # NeuroBench ran for real
    assert row["effective_acs"] == pytest.approx(syn["Effective_ACs"], rel=1e-12)
    assert row["effective_macs"] == pytest.approx(syn["Effective_MACs"], rel=1e-12)
    assert row["dense_ops"] == pytest.approx(syn["Dense"], rel=1e-12)
    assert row["parameters"] == nb["ParameterCount"]
    assert row["footprint_bytes"] == nb["Footprint"]
    assert row["connection_sparsity"] == pytest.approx(nb["ConnectionSparsity"], abs=1e-4)
    assert ours.accuracy == pytest.approx(nb["ClassificationAccuracy"], rel=1e-12)
    assert ours.samples == 3 * B


def _snntorch_net(neuron: str) -> nn.Module:
    torch.manual_seed(0)

    hidden = (
        snn.Synaptic(alpha=0.6, beta=0.8, threshold=0.5, init_hidden=True)
        if neuron == "synaptic"
        else snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True)
    )
    # the output layer returns (spk, mem), the pair NeuroBench's SNNTorchModel unpacks
    out = snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True, output=True)
    return nn.Sequential(nn.Linear(F, 12), hidden, nn.Linear(12, C), out)


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
@pytest.mark.parametrize("counts", [False, True], ids=["binary", "event-counts"])
def test_snntorch_init_hidden_sequential_equals_neurobench(neuron: str, counts: bool) -> None:
    net = _snntorch_net(neuron)
    loader = _data(counts)
    workload = [
        nb_metrics.ActivationSparsity,
        nb_metrics.SynapticOperations,
        nb_metrics.MembraneUpdates,
        nb_metrics.ClassificationAccuracy,
    ]
    model = nb_models.SNNTorchModel(net)
    nb = _neurobench(model, loader, workload, post=[nb_post.ChooseMaxCount()])
    # the user's way: the harness steps the net, resetting its neurons before every batch
    ours = Harness(net, loader, ["loihi"], mode="step", batch_first=True, policy="neurobench").run()
    _check_common(ours, nb)
    row = ours.report.total
    assert nb["MembraneUpdates"] > 0
    assert row["spikes_per_sample"] > 0
    assert row["activation_sparsity"] == pytest.approx(nb["ActivationSparsity"], rel=1e-12)
    assert row["membrane_updates"] == pytest.approx(nb["MembraneUpdates"], rel=1e-12)
    assert row["effective_macs"] > 0 if counts else row["effective_macs"] == 0
    # state does not leak between batches: the same batch twice gives the same ledger
    x0, y0 = next(iter(loader))
    once = measure(net, [(x0, y0)], mode="step", batch_first=True)
    twice = measure(net, [(x0, y0), (x0, y0)], mode="step", batch_first=True)
    assert twice.total == pytest.approx(once.total, rel=1e-12)


def _time_batched_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(F, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, C))


@pytest.mark.parametrize("counts", [False, True], ids=["binary", "event-counts"])
def test_time_batched_layers_equal_neurobench(counts: bool) -> None:
    net = _time_batched_net()
    loader = _data(counts)
    workload = [
        nb_metrics.ActivationSparsity,
        nb_metrics.SynapticOperations,
        nb_metrics.ClassificationAccuracy,
    ]
    nb = _neurobench(nb_models.TorchModel(net), loader, workload, post=[nb_post.ChooseMaxCount()])
    # (a) the model as NeuroBench runs it: batch-first (B, T, F), every layer one call on the
    # whole sequence (declared: a (B, T, F) call is also one step of a (B, X, F) tensor)
    bf = Harness(
        net, loader, ["loihi"], batch_first=True, layer_time="sequence", policy="neurobench"
    ).run()
    # (b) time-major data: every layer's single (T, B, F) call is read as a sequence unaided
    tm = Harness(
        net,
        loader,
        ["loihi"],
        preprocessors=[lambda b: (b[0].transpose(0, 1), b[1])],
        policy="neurobench",
    ).run()
    for ours in (bf, tm):
        _check_common(ours, nb)
        row = ours.report.total
        assert row["activation_sparsity"] == pytest.approx(nb["ActivationSparsity"], rel=1e-12)
        assert ours.report.samples == 3 * B  # not T (the batch is axis 1 once time-major)
    assert bf.report.total == pytest.approx(tm.report.total, rel=1e-12)
    if counts:
        # NeuroBench decides AC vs MAC per call: the first layer's one call holds graded steps,
        # so all of its 3 binary steps count as MACs too (a per-step rule would make them ACs)
        first_layer_binary_steps = T - 3
        assert first_layer_binary_steps > 0
        assert bf.report.rows["0"]["effective_acs"] == 0
        assert bf.report.rows["0"]["effective_macs"] > 0


class _CellLoop(nn.Module):
    """A Norse user's forward loop over time with cells (state threaded by hand)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(F, 12), norse.LIFCell()
        self.fc2, self.lif2 = nn.Linear(12, C), norse.LIFCell()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = s2 = None
        out = []
        for x_t in x:  # x: (T, B, F)
            z, s1 = self.lif1(self.fc1(x_t), s1)
            z, s2 = self.lif2(self.fc2(z), s2)
            out.append(z)
        return torch.stack(out)  # (T, B, C)


def _norse_net(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "sequence":  # Norse's own idiom: time-batched Linear, LIF sequence modules
        return norse.SequentialState(nn.Linear(F, 12), norse.LIF(), nn.Linear(12, C), norse.LIF())
    if kind == "lift":  # Linear lifted over time (called per step), LIF on the sequence
        return norse.SequentialState(
            norse.Lift(nn.Linear(F, 12)), norse.LIF(), norse.Lift(nn.Linear(12, C)), norse.LIF()
        )
    return _CellLoop()


@pytest.mark.parametrize("kind", ["sequence", "lift", "cell-loop"])
@pytest.mark.parametrize("counts", [False, True], ids=["binary", "event-counts"])
def test_norse_models_equal_neurobench(kind: str, counts: bool) -> None:
    net = _norse_net(kind)
    loader = _data(counts)
    scale = 8.0  # strong enough inputs that Norse's LIF (dt 1 ms, tau 10 ms) spikes

    def to_time_major(batch: tuple) -> tuple:
        return batch[0].transpose(0, 1) * scale, batch[1]

    def count_spikes(out: object) -> torch.Tensor:
        z = out[0] if isinstance(out, tuple) else out
        return z.sum(0).argmax(-1)

    workload = [nb_metrics.SynapticOperations, nb_metrics.ClassificationAccuracy]
    nb = _neurobench(nb_models.TorchModel(net), loader, workload, [to_time_major], [count_spikes])
    ours = Harness(net, loader, ["loihi"], [to_time_major], [count_spikes], policy="neurobench")
    result = ours.run()
    _check_common(result, nb)
    row = result.report.total
    assert row["spikes_per_sample"] > 0  # the neurons are recorded (not dropped)
    assert row["neuron_updates"] == T * (12 + C)  # every neuron on every step, per sample
    # the default decode reads the same (T, B, C) spikes: same accuracy without postprocessors
    plain = Harness(net, loader, ["loihi"], [to_time_major], policy="neurobench").run()
    assert plain.accuracy == result.accuracy


def test_decode_and_label_checks() -> None:
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2]])  # (B=2, C=2)
    assert decode(logits, 2, 0).tolist() == [1, 0]
    spikes = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])  # (T, B, C)
    assert decode((spikes, None), 2, 0).tolist() == [0, 1]  # tuple: first element
    with pytest.raises(ValueError, match="postprocessors"):
        decode(torch.zeros(2, 3, 4, 5), 2, 0)
    net = _time_batched_net()
    x = torch.rand(T, B, F)
    with pytest.raises(ValueError, match="do not match labels"):
        Harness(net, [(x, torch.zeros(B + 1, dtype=torch.long))]).run()
    # no labels: accuracy is None, not 0
    assert Harness(net, [x]).run().accuracy is None
    with pytest.raises(ValueError, match="mode"):
        Harness(net, [x], mode="loop")


def test_harness_wrong_mode_raises_not_guesses() -> None:
    # an init_hidden snnTorch net given whole sequences: its neurons would run one step over a
    # (T, B, H) tensor; the recorder sees the neuron's batch is not the data's and says so
    net = _snntorch_net("leaky")
    with pytest.raises(TimeAxisError, match="mode='step'"):
        Harness(net, [torch.rand(T, B, F)]).run()


def test_harness_leaves_model_as_it_was() -> None:
    net = _snntorch_net("leaky")
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    Harness(net, _data(False), mode="step", batch_first=True).run()
    assert net.training
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(len(m._forward_hooks) or len(m._forward_pre_hooks) for m in net.modules())
