"""Fast engine: the fused LIF and time-batched layers against the snnTorch / Norse library path.

References are independent: the libraries' own neuron modules stepped one step at a time (the
library engine), finite differences (gradcheck) and hand-computed trajectories.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
import torch.nn.functional as F

from spikeenergy.energy import MembraneEnergy, SpikeRate
from spikeenergy.energy.ledger import count_record
from spikeenergy.models import ModelSpec, NeuronSpec, build_model, build_neuron
from spikeenergy.models.fast import FusedLIF, LIFConfig, lif_sequence, projection
from spikeenergy.models.fast import lif as lif_module
from spikeenergy.models.fast.projection import conv_seq, sparse_conv_seq, sparse_linear
from spikeenergy.record import ActivityRecord, ActivityRecorder

SURROGATES = [("fast_sigmoid", 1.0), ("fast_sigmoid", 3.0), ("atan", 2.0), ("triangle", 0.7)]
SURROGATES += [("tanh", 2.0)]


def _valid_neurons() -> list[tuple[str, NeuronSpec]]:
    """Every (backend, neuron option) combination the library engine accepts."""
    out = []
    for backend, kind, reset, detach, (sur, slope) in itertools.product(
        ("snntorch", "norse"),
        ("leaky", "synaptic"),
        ("subtract", "zero"),
        (None, True, False),
        SURROGATES,
    ):
        spec = NeuronSpec(kind, 0.8, 0.7, 1.0, reset, detach, sur, slope)
        try:
            build_neuron(spec, backend)
        except ValueError:
            continue  # combination the backend rejects (the fast path rejects it as well)
        out.append((backend, spec))
    return out


NEURONS = _valid_neurons()


def _library_run(spec: NeuronSpec, backend: str, cur: torch.Tensor):
    """Step the library neuron over cur (T, ...) as the library engine does."""
    neuron, driver = build_neuron(spec, backend)
    state, spk, mem = None, [], []
    for c in cur.unbind(0):
        s, state = driver.step(neuron, c, state)
        v = state.v if hasattr(state, "v") else (state[1] if isinstance(state, tuple) else state)
        spk.append(s)
        mem.append(v)
    return torch.stack(spk), torch.stack(mem)


def test_option_grid_covers_every_neuron_option():
    # 2 backends x 2 models x 2 resets x 3 detach x 5 surrogates = 120 minus the rejected ones;
    # every option value must still appear at least once
    seen = {(b, s.kind, s.reset, s.detach_reset, s.surrogate) for b, s in NEURONS}
    assert {k for _, k, *_ in seen} == {"leaky", "synaptic"}
    assert {r for *_, r, _d, _s in seen} == {"subtract", "zero"}
    assert {d for *_, d, _s in seen} == {None, True, False}
    assert {s for *_, s in seen} == {"fast_sigmoid", "atan", "triangle", "tanh"}
    assert len(NEURONS) == 64


@pytest.mark.parametrize(
    ("backend", "spec"),
    NEURONS,
    ids=[f"{b}-{s.kind}-{s.reset}-{s.detach_reset}-{s.surrogate}{s.slope}" for b, s in NEURONS],
)
def test_fused_lif_matches_library_neuron(backend, spec):
    g = torch.Generator().manual_seed(NEURONS.index((backend, spec)))
    cur = (torch.randn(25, 3, 5, generator=g) * 0.8 + 0.4).requires_grad_()
    g_s, g_m = torch.randn(2, 25, 3, 5, generator=g)
    spk, mem = _library_run(spec, backend, cur)
    ((spk * g_s).sum() + (mem * g_m).sum()).backward()
    ref_grad, cur.grad = cur.grad.clone(), None
    fspk, fmem = lif_sequence(cur, LIFConfig.from_spec(spec, backend))
    ((fspk * g_s).sum() + (fmem * g_m).sum()).backward()
    # the test crosses the threshold
    assert spk.sum() > 0
    assert spk.sum() < spk.numel()
    assert torch.equal(fspk, spk)  # same operations in the same order: bit-identical
    assert torch.equal(fmem, mem)
    torch.testing.assert_close(cur.grad, ref_grad, atol=1e-5, rtol=1e-5)


CONFIGS = [
    LIFConfig(sem, kind, reset, det, sur, slope, 0.9, 0.8, 0.7, 0.2, 0.3)
    for sem, kind, reset, (sur, slope) in itertools.product(
        ("snntorch", "norse"), ("leaky", "synaptic"), ("subtract", "zero"), SURROGATES
    )
    for det in ((True,) if sem == "snntorch" else (True, False))
]


@pytest.mark.parametrize(
    "cfg",
    CONFIGS,
    ids=lambda c: f"{c.semantics}-{c.kind}-{c.reset}-{c.detach_reset}-{c.surrogate}{c.slope}",
)
def test_fused_backward_passes_gradcheck_float64(cfg):
    # relaxed mode: the spike is a smooth step whose derivative is the surrogate (a detached reset
    # stays a hard step, derivative 0), so finite differences check the whole hand-written chain
    # rule (leak, synaptic current, both resets, detach) against the forward
    g = torch.Generator().manual_seed(1)
    c = (torch.randn(6, 2, 3, generator=g, dtype=torch.float64) * 0.8 + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: FusedLIF.apply(x, cfg, True), (c,), eps=1e-6)


def test_fused_golden_trajectory_snntorch_leaky():
    # beta = 0.5, thr = 1, I = 0.6 (see test_models_neurons): delayed subtract reset
    # mem: .6, .9, 1.05 (spike), .525+.6-1 = .125, .6625, .93125, 1.065625 (spike), .1328125
    cfg = LIFConfig.from_spec(NeuronSpec(beta=0.5), "snntorch")
    spk, mem = lif_sequence(torch.full((8, 1), 0.6), cfg)
    assert mem[:, 0].tolist() == pytest.approx(
        [0.6, 0.9, 1.05, 0.125, 0.6625, 0.93125, 1.065625, 0.1328125], abs=1e-6
    )
    assert spk[:, 0].tolist() == [0, 0, 1, 0, 0, 0, 1, 0]


def test_only_membrane_or_only_spikes_gradient():
    cfg = LIFConfig.from_spec(NeuronSpec(beta=0.5), "snntorch")
    cur = torch.full((3, 1), 0.5, requires_grad=True)
    _, mem = lif_sequence(cur, cfg)
    mem[-1].sum().backward()
    # m3 = 0.25*I1 + 0.5*I2 + I3 (no spikes): d m3 / dI = (0.25, 0.5, 1)
    assert cur.grad[:, 0].tolist() == pytest.approx([0.25, 0.5, 1.0])


# --------------------------------------------------------------------------- whole models

T, B, SHAPE = 7, 4, (2, 6, 6)
SYN_ZERO = NeuronSpec(model="synaptic", reset="zero")
MODEL_SPECS = {
    "mlp/snntorch": ModelSpec("snn-mlp", hidden=(16,)),
    "mlp/snntorch/2layer/spike_count": ModelSpec(
        "snn-mlp", hidden=(16, 12), readout="spike_count", neuron=SYN_ZERO
    ),
    "mlp/norse/lifbox/detached": ModelSpec(
        "snn-mlp", hidden=(16,), backend="norse", neuron=NeuronSpec(detach_reset=True)
    ),
    "mlp/norse/lif/spike_count": ModelSpec(
        "snn-mlp", hidden=(16,), backend="norse", neuron=SYN_ZERO, readout="spike_count"
    ),
    "cnn/snntorch": ModelSpec("snn-cnn", hidden=(8,), conv_channels=(4, 4)),
    "cnn/norse": ModelSpec("snn-cnn", hidden=(8,), conv_channels=(4,), backend="norse"),
}


def _pair(spec: ModelSpec):
    """A fast-engine model and a library-engine model with identical dyadic weights.

    Weights are multiples of 2^-7 and inputs small integers, so every matmul/convolution sum is
    exact in fp32 whatever the summation order: the engines must agree bit for bit.
    """
    torch.manual_seed(0)
    fast = build_model(dataclasses.replace(spec, engine="fast"), SHAPE, 3)
    lib = build_model(dataclasses.replace(spec, engine="library"), SHAPE, 3)
    with torch.no_grad():
        for p in fast.parameters():
            p.copy_(torch.round(p * 4 * 128) / 128)  # x4: enough drive to spike
    lib.load_state_dict(fast.state_dict())
    return fast, lib


def _frames(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (T, B, *SHAPE), generator=g).float() * (
        torch.rand(T, B, *SHAPE, generator=g) < 0.3
    )


def _run(model, x, needs=("spikes", "membrane", "inputs")):
    energy = SpikeRate() + 0.1 * MembraneEnergy()
    with ActivityRecorder(model, needs=needs) as rec:
        logits = model(x)
        record = rec.record()
    loss = F.cross_entropy(logits, torch.arange(B) % 3) + energy(record)
    model.zero_grad()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return logits, record, grads


@pytest.mark.parametrize("name", list(MODEL_SPECS))
def test_fast_model_equals_library_model_with_recorder(name):
    fast, lib = _pair(MODEL_SPECS[name])
    assert fast.engine == "fast"
    assert lib.engine == "library"
    x = _frames()
    lf, rf, gf = _run(fast, x)
    ll, rl, gl = _run(lib, x)
    torch.testing.assert_close(lf, ll, atol=1e-6, rtol=1e-6)
    assert list(rf) == list(rl)
    for layer in rl:
        a, b = rf[layer], rl[layer]
        assert a.kind == b.kind
        assert a.state_size == b.state_size
        for f in ("spikes", "membrane", "inputs"):
            va, vb = getattr(a, f), getattr(b, f)
            assert (va is None) == (vb is None), (layer, f)
            if vb is not None:
                assert va.shape == vb.shape, (layer, f)
                assert torch.equal(va, vb), (layer, f)
        if b.is_connection:
            ca, cb = (
                count_record(ActivityRecord({layer: a})),
                count_record(ActivityRecord({layer: b})),
            )
            assert {k: float(v) for k, v in ca[layer].items()} == {
                k: float(v) for k, v in cb[layer].items()
            }
    assert rl.spiking()[0].spikes.sum() > 0  # the comparison includes spikes
    for n in gl:
        torch.testing.assert_close(gf[n], gl[n], atol=1e-5, rtol=1e-5, msg=n)


@pytest.mark.parametrize(
    "name", ["mlp/snntorch", "mlp/norse/lif/spike_count", "cnn/norse", "cnn/snntorch"]
)
def test_sparse_input_gives_identical_results(name, monkeypatch):
    # CNNs: the first convolution is the event scatter (SparseConv2d, forced here for these 20 %
    # dense frames); dyadic weights make every sum exact, so spikes, membranes and recorded
    # inputs must agree bit for bit
    monkeypatch.setattr(projection, "SPARSE_CONV_MAX_DENSITY", 1.0)
    fast, lib = _pair(MODEL_SPECS[name])
    x = _frames(1)
    ld, rd, gd = _run(fast, x)
    ls, rs, gs = _run(fast, x.to_sparse())
    lls, _, gls = _run(lib, x.to_sparse())  # the library engine densifies sparse input
    assert torch.equal(ld, ls)
    assert torch.equal(ld, lls)
    for layer in rd:
        for f in ("spikes", "membrane", "inputs"):
            if getattr(rd[layer], f) is not None:
                assert torch.equal(getattr(rd[layer], f), getattr(rs[layer], f)), (layer, f)
    for n in gd:
        torch.testing.assert_close(gs[n], gd[n], atol=1e-6, rtol=1e-6, msg=n)
        torch.testing.assert_close(gls[n], gd[n], atol=1e-5, rtol=1e-5, msg=n)


def test_sparse_linear_matches_dense_linear_random_weights():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(5, 3, 2, 4, 4, generator=g) < 0.2).float() * 2.0
    w = torch.randn(6, 32, generator=g, requires_grad=True)
    b = torch.randn(6, generator=g, requires_grad=True)
    gy = torch.randn(5, 3, 6, generator=g)
    dense = F.linear(x.flatten(2), w, b)
    (dense * gy).sum().backward()
    gw, gb = w.grad.clone(), b.grad.clone()
    w.grad = b.grad = None
    sparse = sparse_linear(x.to_sparse(), w, b)
    (sparse * gy).sum().backward()
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.grad, gw, atol=1e-5, rtol=1e-5)  # x^T gy through CSC kernel
    torch.testing.assert_close(b.grad, gb)
    empty = sparse_linear(torch.zeros(2, 3, 32).to_sparse(), w, b)  # no events: bias only
    torch.testing.assert_close(empty, b.detach().expand(2, 3, 6))


def test_recorder_without_membrane_and_detached_on_fast_path():
    fast, _ = _pair(MODEL_SPECS["mlp/snntorch"])
    with ActivityRecorder(fast, needs={"spikes"}, keep_graph=False) as rec:
        fast(_frames())
        r = rec.record()
    assert list(r) == ["fc_spk.0"]
    assert r["fc_spk.0"].membrane is None
    assert not r["fc_spk.0"].spikes.requires_grad
    assert r["fc_spk.0"].spikes.shape == (T, B, 16)
    assert not fast._sequence_listeners  # listener removed on exit


def test_foreign_hook_falls_back_to_library_engine():
    fast, lib = _pair(MODEL_SPECS["mlp/snntorch"])
    seen = []
    handle = fast.fc[0].register_forward_hook(lambda m, a, o: seen.append(a[0].shape))
    assert fast.engine == "library"  # hook-based tools see per-step calls
    x = _frames()
    assert torch.equal(fast(x), lib(x))
    assert seen == [(B, 72)] * T
    handle.remove()
    assert fast.engine == "fast"


def test_engine_field_validation_and_old_dicts():
    old = ModelSpec("snn-mlp").to_dict()
    del old["engine"]  # a checkpoint written before the field existed
    assert ModelSpec.from_dict(old).engine == "auto"
    with pytest.raises(ValueError, match="engine"):
        ModelSpec(engine="turbo")
    with pytest.raises(ValueError, match="recurrent"):
        ModelSpec(recurrent=True, engine="fast")
    auto_rec = build_model(ModelSpec(hidden=(4,), recurrent=True), SHAPE, 2)
    assert auto_rec.engine == "library"
    assert build_model(ModelSpec(hidden=(4,)), SHAPE, 2).engine == "fast"  # auto: mlp is fast
    cnn = ModelSpec("snn-cnn", hidden=(4,), conv_channels=(2,))
    assert build_model(cnn, SHAPE, 2).engine == "library"  # auto: cnn steps per time step
    assert build_model(dataclasses.replace(cnn, engine="fast"), SHAPE, 2).engine == "fast"
    assert ModelSpec(engine="fast").matched_dense().family == "mlp"  # dense ignores the engine
    fast, lib = _pair(MODEL_SPECS["cnn/norse"])
    assert fast.state_dict().keys() == lib.state_dict().keys()  # checkpoints interchange


def test_bf16_autocast_projections_close_to_fp32():
    torch.manual_seed(0)
    model = build_model(ModelSpec("snn-mlp", hidden=(32,)), SHAPE, 3)
    x = _frames()
    ref = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    assert low.dtype == torch.bfloat16 or low.dtype == torch.float32
    # bf16 keeps 8 mantissa bits: the logits agree to about 1e-2 of their scale
    assert (low.float() - ref).abs().max() <= 0.05 * ref.abs().max() + 1e-2


# --------------------------------------------------------------------------- convolutions


@pytest.mark.parametrize(
    ("kernel", "padding", "binary"),
    [(3, 1, True), (3, 1, False), (5, 2, False), (3, 0, True), ((3, 5), (1, 2), False)],
)
def test_sparse_conv_matches_dense_conv_random_weights(kernel, padding, binary):
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(4, 3, 2, 7, 9, generator=g) < 0.15).float()
    if not binary:
        x = x * torch.randint(1, 4, x.shape, generator=g)  # event counts 1..3
    conv = torch.nn.Conv2d(2, 5, kernel, padding=padding)
    dense = conv_seq(x, conv)  # reference: torch's convolution on dense frames
    gy = torch.randn(dense.shape, generator=g)
    (dense * gy).sum().backward()
    gw, gb = conv.weight.grad.clone(), conv.bias.grad.clone()
    conv.zero_grad()
    sparse = sparse_conv_seq(x.to_sparse(), conv)
    (sparse * gy).sum().backward()
    assert sparse.shape == dense.shape
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(conv.weight.grad, gw, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(conv.bias.grad, gb, atol=1e-4, rtol=1e-5)


def test_sparse_conv_edge_cases():
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    empty = sparse_conv_seq(torch.zeros(2, 1, 2, 4, 4).to_sparse(), conv)  # no events: bias
    torch.testing.assert_close(empty, conv.bias.detach().view(1, 1, 3, 1, 1).expand(2, 1, 3, 4, 4))
    # one event at (t=1, b=0, c=1, y=0, x=3): the flipped kernel slice around (0, 3), cut at edges
    x = torch.zeros(2, 1, 2, 4, 4)
    x[1, 0, 1, 0, 3] = 1.0
    plain = torch.nn.Conv2d(2, 3, 3, padding=1, bias=False)
    with torch.no_grad():
        out = sparse_conv_seq(x.to_sparse(), plain)
        w = plain.weight[:, 1]  # out[o, oy, ox] = w[o, 0 - oy + 1, 3 - ox + 1]
        assert torch.equal(out[1, 0, :, 0, 2], w[:, 1, 2])
        assert torch.equal(out[1, 0, :, 1, 3], w[:, 0, 1])
        assert int((out != 0).sum()) == 3 * 4  # 2 x 2 output pixels inside the sensor
    strided = torch.nn.Conv2d(2, 3, 3, stride=2, padding=1)  # not a scatter: dense fallback
    xs = (torch.rand(2, 1, 2, 6, 6) < 0.3).float()
    torch.testing.assert_close(sparse_conv_seq(xs.to_sparse(), strided), conv_seq(xs, strided))
    with pytest.raises(ValueError, match="channels"):
        sparse_conv_seq(torch.zeros(2, 1, 3, 4, 4).to_sparse(), conv)
    with pytest.raises(ValueError, match="require grad"):
        sparse_conv_seq(torch.zeros(2, 1, 2, 4, 4).to_sparse().requires_grad_(), conv)


def test_blocked_dense_conv_equals_one_convolution(monkeypatch):
    g = torch.Generator().manual_seed(5)
    x = torch.rand(6, 5, 2, 8, 8, generator=g).requires_grad_()
    conv = torch.nn.Conv2d(2, 4, 3, padding=1)
    whole = conv(x.flatten(0, 1)).view(6, 5, 4, 8, 8)
    gy = torch.randn(whole.shape, generator=g)
    gx, gw = torch.autograd.grad((whole * gy).sum(), (x, conv.weight))
    # blocks of 2 * 9 * 8 * 8 * 4 bytes = one image each: 30 convolutions of one image
    monkeypatch.setattr(projection, "CONV_BLOCK_BYTES", 2 * 9 * 64 * 4)
    blocked = conv_seq(x, conv)
    bx, bw = torch.autograd.grad((blocked * gy).sum(), (x, conv.weight))
    # (the convolution algorithm may change with the batch size: equal up to float rounding)
    torch.testing.assert_close(blocked, whole, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(bx, gx)
    torch.testing.assert_close(bw, gw, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("backend", "spec"),
    NEURONS,
    ids=[f"{b}-{s.kind}-{s.reset}-{s.detach_reset}-{s.surrogate}{s.slope}" for b, s in NEURONS],
)
def test_numpy_cpu_loop_equals_torch_loop(backend, spec):
    # the CPU path runs the recurrence with numpy ufuncs; the torch loop (CUDA without Triton)
    # must give the same bits
    cfg = LIFConfig.from_spec(spec, backend)
    g = torch.Generator().manual_seed(NEURONS.index((backend, spec)))
    cur = (torch.randn(20, 3, 5, generator=g) + 0.4) * cfg.input_gain
    fast = lif_module._forward(cur, cfg, relaxed=False)
    ref = lif_module._forward(cur, cfg, relaxed=False, use_numpy=False)
    for a, b in zip(fast, ref, strict=True):
        assert torch.equal(a, b)
    assert fast[0].sum() > 0


def test_sparse_conv_policy_densifies_dense_event_frames(monkeypatch):
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    x = (torch.rand(3, 2, 2, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    calls = []
    monkeypatch.setattr(projection, "sparse_conv_seq", lambda *a: calls.append(1) or None)
    out = conv_seq(x.to_sparse(), conv)  # 20 % > SPARSE_CONV_MAX_DENSITY: dense blocks
    assert calls == []
    assert torch.equal(out, conv_seq(x, conv))
    monkeypatch.setattr(projection, "SPARSE_CONV_MAX_DENSITY", 0.5)
    conv_seq(x.to_sparse(), conv)
    assert calls == [1]
