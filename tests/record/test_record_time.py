"""The recorder's time axis on users' models: stepped vs time-batched, Norse sequence modules,
snnTorch ``init_hidden``, ambiguity errors, uncounted weights, and the training-loop term."""

from __future__ import annotations

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")

from spikeenergy.energy import EnergyLedger, Joules, get_cost_model  # noqa: E402
from spikeenergy.metrics import Harness, measure  # noqa: E402
from spikeenergy.record import (  # noqa: E402
    ActivityRecorder,
    TimeAxisError,
    reset_states,
    run_steps,
)

T, B, F, H, C = 5, 3, 8, 6, 4


def _counts(seed: int = 0, graded: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, F, generator=g) < 0.5).float()
    return x * torch.randint(1, 3, x.shape, generator=g) if graded else x


def _rows_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for layer in a:
        assert a[layer] == pytest.approx(b[layer], rel=1e-12, abs=1e-12), layer


@pytest.mark.parametrize("policy", ["per_sample", "neurobench"])
def test_time_batched_and_stepped_dense_model_give_identical_ledgers(policy: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(F, H), nn.ReLU(), nn.Linear(H, C))
    # neurobench decides per call: a whole-sequence call and per-step calls agree on binary input
    x = _counts(graded=policy == "per_sample")
    batched = Harness(net, [(x, None)], ["loihi", "cmos45"], policy=policy).run().report
    stepped = Harness(net, [(x, None)], ["loihi", "cmos45"], mode="step", policy=policy).run()
    _rows_equal(batched.rows, stepped.report.rows)
    assert batched.samples == B  # the batch axis, not the time axis
    # by hand: layer "0" sees every entry of x once; dense ops = T x B x F inputs x H fan-out
    assert batched.rows["0"]["dense_ops"] == T * F * H


class _MixedSnn(nn.Module):
    """snnTorch the fast way: fc1 time-batched on (T, B, F), neurons in a loop over steps."""

    def __init__(self, stepped_fc1: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.lif1 = nn.Linear(F, H), snn.Leaky(beta=0.8, threshold=0.5)
        self.fc2, self.lif2 = nn.Linear(H, C), snn.Leaky(beta=0.8, threshold=0.5)
        self.stepped_fc1 = stepped_fc1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        cur = None if self.stepped_fc1 else self.fc1(x)  # (T, B, H)
        out = []
        for t in range(x.shape[0]):
            c = self.fc1(x[t]) if cur is None else cur[t]
            spk1, mem1 = self.lif1(c, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)  # (T, B, C)


def test_time_batched_layer_inside_a_stepped_snntorch_loop() -> None:
    x = _counts(1)
    a = measure(_MixedSnn(stepped_fc1=False), [(x, None)], [get_cost_model("loihi")])
    b = measure(_MixedSnn(stepped_fc1=True), [(x, None)], [get_cost_model("loihi")])
    _rows_equal(a.rows, b.rows)
    assert a.total["spikes_per_sample"] > 0
    assert a.samples == B


def test_norse_lif_sequence_equals_lif_cells_stepped() -> None:
    torch.manual_seed(0)
    seq = norse.SequentialState(nn.Linear(F, H), norse.LIF(), nn.Linear(H, C), norse.LIF())
    cells = norse.SequentialState(seq[0], norse.LIFCell(), seq[2], norse.LIFCell())
    x = _counts(2) * 4.0
    targets = ["loihi", "cmos45"]
    a = Harness(seq, [(x, None)], targets).run().report
    b = Harness(cells, [(x, None)], targets, mode="step-state").run().report
    _rows_equal(a.rows, b.rows)  # incl. membrane updates: re-run LIF membrane == cells' v
    assert a.total["spikes_per_sample"] > 0
    assert a.rows["1"]["neuron_updates"] == T * H
    assert a.rows["3"]["neuron_updates"] == T * C


def test_norse_lif_sequence_module_by_hand() -> None:
    # Norse LIF defaults (norse.torch.functional.lif.lif_feed_forward_step): dt = 1e-3,
    # tau_mem_inv = 100, tau_syn_inv = 200, v_th = 1, reset to 0. Per step: i += x_t;
    # v' = v + 0.1 (i - v); i' = 0.8 i; spike if v' > 1, then v' = 0.
    # Neuron (b0, n0), x_0 = 100: v = 10, 8, 6.4, 5.12: a spike every step (4), membrane 0.
    # Neuron (b0, n1), x_0 = 5: v = 0.5 (i = 4) | 0.85 (i = 3.2) | 1.085 -> spike (i = 2.56) |
    #   0.256: 1 spike; post-reset membrane 0.5, 0.85, 0, 0.256.
    # Sample b1 gets no input: no spikes, membrane 0 throughout.
    x = torch.zeros(4, 2, 2)  # (T=4, B=2, N=2)
    x[0, 0, 0], x[0, 0, 1] = 100.0, 5.0
    lif = norse.LIF()
    loihi = get_cost_model("loihi")
    with torch.no_grad(), ActivityRecorder(lif, keep_graph=False) as rec:
        z, _ = lif(x)
        r = rec.record()
    act = r["LIF"]
    # spiking, two state words: v and i
    assert act.kind == "spiking"
    assert act.state_size == 2
    assert act.spikes.shape == (4, 2, 2)
    assert torch.equal(act.spikes, z)
    assert act.spikes[:, 0, 0].tolist() == [1, 1, 1, 1]
    assert act.spikes[:, 0, 1].tolist() == [0, 0, 1, 0]
    torch.testing.assert_close(act.membrane[:, 0, 1], torch.tensor([0.5, 0.85, 0.0, 0.256]))
    assert not act.membrane[:, 0, 0].any()
    assert not act.membrane[:, 1].any()
    report = measure(lif, [(x, None)], [loihi])
    t = report.total
    assert t["spikes_per_sample"] == 5 / 2  # 4 + 1 spikes over 2 samples
    assert t["neuron_updates"] == 4 * 2  # 4 steps x 2 neurons per sample
    assert t["spike_rate"] == 5 / 16
    # membrane updates: 4 neurons at step 0, then (b0, n1) changes at steps 1, 2, 3: 7 / 2
    assert t["membrane_updates"] == 7 / 2
    # Loihi prices the neuron updates and spikes that were recorded (no synapses here); the
    # state words are 8 updates x 2 (v, i)
    by_hand = loihi.price(
        {"neuron_updates": 8.0, "active_updates": 2.5, "spikes": 2.5, "state_words": 16.0}
    )
    assert report.energy_j("loihi") == pytest.approx(by_hand["energy_pj"] * 1e-12, rel=1e-12)
    assert report.energy_j("loihi") > 0


def test_snntorch_init_hidden_membrane_is_the_neuron_state() -> None:
    torch.manual_seed(0)
    fc = nn.Linear(F, H)
    hidden = nn.Sequential(fc, snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True))
    plain = snn.Leaky(beta=0.8, threshold=0.5)
    x = _counts(3)
    with torch.no_grad(), ActivityRecorder(hidden, keep_graph=False, time="step") as rec:
        reset_states(hidden)
        run_steps(hidden, x)
        got = rec.record()["1"]
    mem = plain.reset_mem()
    spk_ref, mem_ref = [], []
    with torch.no_grad():
        for x_t in x:
            s, mem = plain(fc(x_t), mem)
            spk_ref.append(s)
            mem_ref.append(mem)
    assert torch.equal(got.spikes, torch.stack(spk_ref))
    assert torch.equal(got.membrane, torch.stack(mem_ref))
    assert got.spikes.sum() > 0


def test_ambiguous_time_axis_raises_the_documented_error() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(F, H), nn.ReLU(), nn.Linear(H, C))
    x = torch.rand(4, 4, F)  # T == B == 4, one call per layer: sequence or one (4, 4, F) step?
    with pytest.raises(TimeAxisError) as err:
        measure(net, [(x, None)])
    msg = str(err.value)
    assert "layer '0'" in msg
    assert "T=4 steps and B=4 samples" in msg
    assert "layer_time={'0': 'sequence'}" in msg
    assert "layer_time='sequence'" in msg
    # the declaration settles it: same ledger as with a batch that differs from T
    declared = measure(net, [(x, None)], layer_time="sequence")
    assert declared.samples == 4
    parts = [(x[:, :2], None), (x[:, 2:], None)]  # B = 2 != T: read unaided
    _rows_equal(declared.rows, measure(net, parts).rows)
    # declared "step": one (4, 4, F) step per call, 4 samples with 4 rows each
    assert measure(net, [(x, None)], layer_time="step").samples == 4
    # batch-first sequences: a single (B, T, F) call is also one step of a (B, X, F) tensor
    with pytest.raises(TimeAxisError, match="batch-first"):
        measure(net, [(torch.rand(B, T, F), None)], batch_first=True)
    with pytest.raises(ValueError, match="no recorded layers"):
        ActivityRecorder(net, layer_time={"fc9": "step"}).__enter__()


def test_model_stepped_by_the_caller_must_say_so() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(F, H), snn.Leaky(beta=0.8, init_hidden=True, output=True))
    x = _counts(4)
    with ActivityRecorder(net) as rec:  # default: each model call is a whole sequence
        run_steps(net, x)
        with pytest.raises(TimeAxisError, match="time='step'"):
            rec.record()
    with ActivityRecorder(net, time="step") as rec:
        reset_states(net)
        run_steps(net, x)
        assert rec.record()["0"].inputs.shape == (T, B, F)
    with pytest.raises(ValueError, match="contradicts"):
        ActivityRecorder(net, time="step", layer_time="sequence")


def test_weights_no_adapter_counts_are_refused() -> None:
    class WithLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(F, H)
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.lstm(x)[0])

    net = WithLSTM()
    with pytest.raises(TypeError, match="'lstm'.*weight_ih_l0"):
        measure(net, [(_counts(), None)])
    # without synaptic counting (spikes / activations only) the LSTM does not matter
    with ActivityRecorder(net, needs={"activations"}) as rec:
        net(_counts())
        assert rec.record()["act"].activations.shape == (T, B, H)


def test_norse_leaky_integrator_is_a_dense_readout_and_state_sizes() -> None:
    from spikeenergy.record import adapter_for

    li, cell = norse.LI(), norse.LICell()
    assert adapter_for(li).kind == "dense"
    assert adapter_for(cell).kind == "dense"
    assert adapter_for(norse.LIF()).sequence
    assert adapter_for(norse.LIFCell()).stepwise
    sizes = {
        "LIF": adapter_for(norse.LIF()).state_size(norse.LIF()),
        "LIFBoxCell": adapter_for(norse.LIFBoxCell()).state_size(norse.LIFBoxCell()),
        "LIFRefracCell": adapter_for(norse.LIFRefracCell()).state_size(norse.LIFRefracCell()),
    }
    assert sizes == {"LIF": 2, "LIFBoxCell": 1, "LIFRefracCell": 3}  # (v, i), (v), (v, i, rho)
    x = torch.rand(T, B, H)
    with ActivityRecorder(li, keep_graph=False) as rec:
        v, _ = li(x)
        assert torch.equal(rec.record()["LI"].activations, v)


def test_energy_term_in_the_users_training_loop() -> None:
    # the user's own loop over an init_hidden snnTorch net: Joules on the record is the
    # harness's measured energy of the same batch, and it has a gradient on the weights
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(F, H),
        snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True),
        nn.Linear(H, C),
        snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True, output=True),
    )
    x, y = _counts(5, graded=False), torch.randint(0, C, (B,))
    term = Joules("loihi")
    with ActivityRecorder(net, needs=term.needs, time="step") as rec:
        reset_states(net)
        spk, _ = run_steps(net, x)  # (T, B, C) spikes, (T, B, C) membrane
        energy_pj = term(rec.record())
        loss = nn.functional.cross_entropy(spk.sum(0), y) + 1e-3 * energy_pj
        loss.backward()
    assert net[0].weight.grad is not None
    assert net[0].weight.grad.abs().sum() > 0
    measured = measure(net, [(x, y)], [get_cost_model("loihi")], mode="step")
    assert float(energy_pj.detach()) * 1e-12 == pytest.approx(measured.energy_j("loihi"), rel=1e-6)
    ledger = EnergyLedger()
    with torch.no_grad(), ActivityRecorder(net, time="step", keep_graph=False) as rec:
        reset_states(net)
        run_steps(net, x)
        ledger.update(rec.record())
    assert ledger.samples == B


def test_neurobench_policy_decides_per_recorded_call() -> None:
    from spikeenergy.energy.ledger import ac_mask
    from spikeenergy.record.activity import Synapses

    # step 0 holds a graded 2; steps 1 and 2 are binary
    x = torch.tensor([[[2.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]])  # (T=3, B=1, 2)
    per_step = ac_mask(x, "neurobench").flatten().tolist()
    assert per_step == [False, True, True]  # one call per step (None)
    assert ac_mask(x, "neurobench", (3,)).flatten().tolist() == [False, False, False]
    assert ac_mask(x, "neurobench", (1, 2)).flatten().tolist() == [False, True, True]
    assert ac_mask(x, "neurobench", (2, 1)).flatten().tolist() == [False, False, True]
    # per_sample does not depend on calls
    assert ac_mask(x, "per_sample", (3,)).flatten().tolist() == per_step
    with pytest.raises(ValueError, match="do not sum"):
        Synapses("input", x, torch.ones(1, 2), lambda a, m: a.sum(), call_steps=(2,))
    # the recorder sets them: one (T, B, F) call of a time-batched layer covers T steps
    lin = nn.Linear(2, 1)
    with ActivityRecorder(lin, needs={"inputs"}, keep_graph=False) as rec:
        lin(torch.rand(3, 2, 2))
        (group,) = rec.record()["Linear"].synapses
    assert group.call_steps == (3,)


def test_one_step_layer_whose_width_equals_t_is_a_step() -> None:
    # a user's MLP on time-summed frames: fc2 runs once on (B, H) with H == T; a (B, T) tensor
    # has no per-step feature axis, so it cannot be a batch-first sequence: read as one step
    class SumMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.act, self.fc2 = nn.Linear(F, T), nn.ReLU(), nn.Linear(T, C)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.act(self.fc1(x.sum(0))))  # (T, B, F) -> (B, C)

    net = SumMLP()
    with torch.no_grad(), ActivityRecorder(net, keep_graph=False) as rec:
        net(_counts())
        r = rec.record()
    assert r["fc2"].inputs.shape == (1, B, T)  # one step, B samples
    assert r.batch_size == B
