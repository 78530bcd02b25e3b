"""Every model family builds, runs forward+backward, trains a few steps, rebuilds from its spec."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from spikeenergy.models import (
    MODEL_FAMILIES,
    ModelSpec,
    NeuronSpec,
    build_model,
    count_parameters,
    model_from_meta,
)

T, B, SHAPE = 6, 8, (2, 6, 6)
NORSE_SYN = NeuronSpec(model="synaptic", reset="zero")

SPECS = {
    "snn-mlp/snntorch/leaky": ModelSpec("snn-mlp", hidden=(16,)),
    "snn-mlp/snntorch/synaptic": ModelSpec(
        "snn-mlp", hidden=(16,), neuron=NeuronSpec(model="synaptic")
    ),
    "snn-mlp/norse/lifbox": ModelSpec("snn-mlp", hidden=(16,), backend="norse"),
    "snn-mlp/norse/lif": ModelSpec("snn-mlp", hidden=(16,), backend="norse", neuron=NORSE_SYN),
    "snn-mlp/snntorch/recurrent": ModelSpec("snn-mlp", hidden=(16, 8), recurrent=True),
    "snn-mlp/norse/recurrent": ModelSpec("snn-mlp", hidden=(16,), recurrent=True, backend="norse"),
    "snn-mlp/spike_count": ModelSpec("snn-mlp", hidden=(16,), readout="spike_count"),
    "snn-cnn/snntorch": ModelSpec("snn-cnn", hidden=(16,), conv_channels=(4,)),
    "snn-cnn/norse": ModelSpec("snn-cnn", hidden=(16,), conv_channels=(4,), backend="norse"),
    "mlp/per_step": ModelSpec("mlp", hidden=(16,)),
    "mlp/sum": ModelSpec("mlp", hidden=(16,), time_mode="sum"),
    "cnn/per_step": ModelSpec("cnn", hidden=(16,), conv_channels=(4,)),
    "cnn/sum": ModelSpec("cnn", hidden=(16,), conv_channels=(4,), time_mode="sum"),
    "gru": ModelSpec("gru", hidden=(16,)),
}


def _toy_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: events in the left half of the frame; class 1: in the right half."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(B) % 2
    x = (torch.rand(T, B, *SHAPE, generator=g) < 0.3).float()
    half = SHAPE[-1] // 2
    x[:, y == 0, :, :, half:] = 0.0
    x[:, y == 1, :, :, :half] = 0.0
    return x, y


@pytest.mark.parametrize("name", list(SPECS))
def test_family_forward_backward_and_trains(name):
    torch.manual_seed(0)  # test-local determinism of the default parameter init
    spec = SPECS[name]
    model = build_model(spec, SHAPE, num_classes=2)
    assert model.is_spiking == spec.family.startswith("snn")
    x, y = _toy_batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        model.reset_state()
        logits = model(x)
        assert logits.shape == (B, 2)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads
        assert all(torch.isfinite(g).all() for g in grads)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.05, losses


def test_dense_baseline_matches_widths_and_param_count():
    snn = ModelSpec("snn-mlp", hidden=(32, 16))
    dense = snn.matched_dense()
    assert dense.family == "mlp"
    assert dense.hidden == (32, 16)
    # same Linear layers: parameters are identical in number (neurons have no parameters)
    # 2*6*6 = 72 inputs: 72*32+32 + 32*16+16 + 16*2+2 = 2336 + 528 + 34 = 2898
    assert count_parameters(build_model(snn, SHAPE, 2)) == 2898
    assert count_parameters(build_model(dense, SHAPE, 2)) == 2898
    assert ModelSpec("snn-cnn").matched_dense().family == "cnn"
    assert snn.matched_dense("gru").family == "gru"


@pytest.mark.parametrize("name", ["snn-cnn/norse", "snn-mlp/snntorch/recurrent", "cnn/sum", "gru"])
def test_rebuild_from_meta_and_state_dict_gives_identical_logits(name):
    torch.manual_seed(1)
    model = build_model(SPECS[name], SHAPE, 2)
    x, _ = _toy_batch(3)
    meta = model.checkpoint_meta()
    import json

    meta = json.loads(json.dumps(meta))  # must survive JSON
    clone = model_from_meta(meta, model.state_dict())
    assert clone.spec == model.spec
    torch.testing.assert_close(clone(x), model(x), rtol=0, atol=0)


def test_spec_dict_round_trip_and_unknown_keys():
    spec = ModelSpec(
        "snn-cnn", hidden=[64], conv_channels=[8, 16], neuron=NORSE_SYN, backend="norse"
    )
    d = spec.to_dict()
    assert ModelSpec.from_dict(d) == spec
    with pytest.raises(ValueError, match="unknown ModelSpec keys"):
        ModelSpec.from_dict({**d, "widht": 3})
    with pytest.raises(ValueError, match="unknown NeuronSpec keys"):
        ModelSpec.from_dict({**d, "neuron": {"betta": 0.5}})


def test_input_validation_messages():
    model = build_model(ModelSpec("snn-mlp", hidden=(4,)), SHAPE, 2)
    with pytest.raises(ValueError, match="time-major"):
        model(torch.zeros(T, B, 6, 6, 2))  # channels-last frames
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        build_model(ModelSpec("cnn"), (8,), 2)
    with pytest.raises(ValueError, match="family"):
        ModelSpec("transformer")
    with pytest.raises(KeyError, match="known"):
        MODEL_FAMILIES.get("snn-rnn")
    with pytest.raises(TypeError):
        build_model(dataclasses.asdict(ModelSpec()), SHAPE, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [n for n in SPECS if SPECS[n].is_spiking])
def test_forward_starts_from_rest_every_call(name):
    # the library engine steps the libraries' stateful neurons (snnTorch keeps its last
    # membrane, Norse cells return state): a call after a strongly driven one must give what
    # a fresh copy of the same model gives, i.e. no membrane, current or recurrent spike may
    # leak from one call into the next
    import copy

    spec = dataclasses.replace(SPECS[name], engine="library")
    model = build_model(spec, SHAPE, 2)
    assert model.engine == "library"
    fresh = copy.deepcopy(model)
    spikes = []
    handle = model.fc_spk[0].register_forward_hook(
        lambda mod, inp, out: spikes.append(float(out[0].detach().sum()))
    )
    model(torch.full((T, B, *SHAPE), 5.0))  # drive every neuron: state far from rest
    handle.remove()
    assert sum(spikes) > 0  # the first call did leave the neurons charged and spiking
    x, _ = _toy_batch(1)
    torch.testing.assert_close(model(x), fresh(x), rtol=0, atol=0)


def test_vector_inputs_for_mlp_and_gru():
    for fam in ("snn-mlp", "mlp", "gru"):
        model = build_model(ModelSpec(fam, hidden=(8,)), (5,), 3)
        assert model(torch.rand(4, 2, 5)).shape == (2, 3)


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(SPECS))
def test_family_runs_on_cuda_with_recorder_and_energy(name):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from spikeenergy.energy import ActivityEnergy, SynapticOps
    from spikeenergy.record import ActivityRecorder

    dev = torch.device("cuda")
    model = build_model(SPECS[name], SHAPE, 2).to(dev)
    x, _ = _toy_batch()
    energy = ActivityEnergy() + 1e-3 * SynapticOps()
    with ActivityRecorder(model, needs=energy.needs) as rec:
        logits = model(x.to(dev))
        e = energy(rec.record())
    (logits.sum() + e).backward()
    assert e.device.type == "cuda"
    assert torch.isfinite(e)
