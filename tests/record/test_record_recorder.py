"""ActivityRecorder: what it captures, shapes, needs filtering, graph handling, hook removal."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeenergy.models import ModelSpec, build_model
from spikeenergy.record import ActivityRecorder, adapter_for

T, B, SHAPE = 4, 3, (2, 6, 6)


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.mark.parametrize("backend", ["snntorch", "norse"])
def test_spiking_cnn_record_shapes_and_kinds(backend):
    spec = ModelSpec("snn-cnn", hidden=(5,), conv_channels=(4,), backend=backend)
    model = build_model(spec, SHAPE, 2)
    x = torch.rand(T, B, *SHAPE)
    with ActivityRecorder(model) as rec:
        model(x)
        r = rec.record()
    assert list(r) == ["conv.0", "conv_spk.0", "fc.0", "fc_spk.0", "readout"]
    assert [a.name for a in r.spiking()] == ["conv_spk.0", "fc_spk.0"]
    assert r["conv_spk.0"].spikes.shape == (T, B, 4, 6, 6)
    assert r["conv_spk.0"].membrane.shape == (T, B, 4, 6, 6)
    assert r["fc.0"].inputs.shape == (T, B, 4 * 3 * 3)  # after 2x2 max-pool
    torch.testing.assert_close(r["conv.0"].inputs, x)  # first layer sees the frames
    # the readout's input is exactly the last hidden layer's spikes
    torch.testing.assert_close(r["readout"].inputs, r["fc_spk.0"].spikes)
    assert set(r["fc_spk.0"].spikes.unique().tolist()) <= {0.0, 1.0}
    (fc,) = r["fc.0"].synapses  # one synapse group: the Linear weight, driven by its input
    assert fc.weight is model.fc[0].weight
    assert fc.inputs is r["fc.0"].inputs
    assert r["fc.0"].kind == "connection"
    assert r["conv_spk.0"].state_size == 1
    assert _n_hooks(model) == 0


def test_dense_per_step_vs_sum_time_axis():
    x = torch.rand(T, B, *SHAPE)
    for mode, t_rec in (("per_step", T), ("sum", 1)):
        model = build_model(ModelSpec("mlp", hidden=(5,), time_mode=mode), SHAPE, 2)
        with ActivityRecorder(model, needs={"activations"}) as rec:
            model(x)
        r = rec.record()
        assert list(r) == ["fc_act.0"]
        assert r["fc_act.0"].kind == "dense"
        assert r["fc_act.0"].activations.shape == (t_rec, B, 5)
        assert (r["fc_act.0"].activations >= 0).all()  # post-ReLU


def test_gru_is_dense_and_connection_time_major():
    model = build_model(ModelSpec("gru", hidden=(5,)), SHAPE, 2)
    with ActivityRecorder(model) as rec:
        model(torch.rand(T, B, *SHAPE))
    r = rec.record()
    g = r["gru.0"]
    assert g.kind == "dense"
    assert g.is_connection
    assert g.activations.shape == (T, B, 5)
    assert g.inputs.shape == (T, B, 72)
    ih, hh = g.synapses  # input-to-hidden (3 gates x 5 units) and hidden-to-hidden
    assert ih.weight.shape == (15, 72)
    assert hh.weight.shape == (15, 5)
    # the recurrent synapses are driven by h[t-1]: zeros at t = 0, then the outputs
    torch.testing.assert_close(hh.inputs[1:], g.activations[:-1])
    assert not hh.inputs[0].any()
    assert [a.name for a in r.connections()] == ["gru.0", "readout"]


def test_needs_filter_and_keep_graph():
    model = build_model(ModelSpec("snn-mlp", hidden=(5,)), SHAPE, 2)
    x = torch.rand(T, B, *SHAPE)
    with ActivityRecorder(model, needs={"spikes"}, keep_graph=False) as rec:
        model(x)
    r = rec.record()
    assert list(r) == ["fc_spk.0"]  # Linear layers are not hooked without "inputs"
    assert r["fc_spk.0"].membrane is None
    assert not r["fc_spk.0"].spikes.requires_grad
    with ActivityRecorder(model, needs={"spikes"}, keep_graph=True) as rec:
        model(x)
    assert rec.record()["fc_spk.0"].spikes.requires_grad
    with pytest.raises(ValueError, match="unknown needs"):
        ActivityRecorder(model, needs={"voltage"})


def test_clear_between_passes_and_shape_mismatch_message():
    model = build_model(ModelSpec("snn-mlp", hidden=(5,)), SHAPE, 2)
    with ActivityRecorder(model, needs={"spikes"}) as rec:
        model(torch.rand(T, B, *SHAPE))
        model(torch.rand(T, B, *SHAPE))
        assert rec.record()["fc_spk.0"].spikes.shape == (2 * T, B, 5)  # appended, not cleared
        rec.clear()
        model(torch.rand(T, 2, *SHAPE))
        assert rec.record()["fc_spk.0"].spikes.shape == (T, 2, 5)
        model(torch.rand(T, 1, *SHAPE))
        with pytest.raises(ValueError, match="clear"):
            rec.record()


def test_hooks_removed_on_exception():
    model = build_model(ModelSpec("snn-cnn", hidden=(5,), conv_channels=(2,)), SHAPE, 2)
    rec = ActivityRecorder(model)

    def fail_inside() -> None:
        with rec:
            # 5 layers + the model's own hook (T and B of each model call)
            assert _n_hooks(model) == 6
            assert rec.active
            model(torch.rand(T, B, *SHAPE))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert _n_hooks(model) == 0
    assert not rec.active
    # a failing forward pass (wrong shape) inside the block also removes the hooks
    with pytest.raises(ValueError, match="time-major"), ActivityRecorder(model):
        model(torch.rand(T, B, 3, 6, 6))
    assert _n_hooks(model) == 0


def test_adapter_table_covers_framework_modules():
    from norse.torch import LIFBoxCell, LIFCell

    from spikeenergy.models import NeuronSpec, build_neuron

    leaky, _ = build_neuron(NeuronSpec(), "snntorch")  # snntorch.Leaky
    synaptic, _ = build_neuron(NeuronSpec(model="synaptic"), "snntorch")  # snntorch.Synaptic
    assert adapter_for(leaky).kind == "spiking"
    assert adapter_for(synaptic).kind == "spiking"
    assert adapter_for(LIFBoxCell()).kind == "spiking"
    assert adapter_for(LIFCell()).kind == "spiking"
    assert adapter_for(nn.ReLU()).kind == "dense"
    assert adapter_for(nn.Linear(2, 3)).kind == "connection"
    assert adapter_for(nn.Conv2d(1, 1, 3)).kind == "connection"
    assert adapter_for(nn.MaxPool2d(2)) is None
