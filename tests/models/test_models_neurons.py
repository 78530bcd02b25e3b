"""Golden membrane trajectories (8 steps, computed by hand) for each backend's neurons."""

from __future__ import annotations

import pytest
import torch

from spikeenergy.models import NeuronSpec, build_neuron


def _run(spec: NeuronSpec, backend: str, current: float, steps: int = 8):
    """Drive one neuron with a constant current; return (spikes, membranes) per step."""
    neuron, driver = build_neuron(spec, backend)
    state = None
    spk, mem = [], []
    cur = torch.full((1, 1), current)
    for _ in range(steps):
        s, state = driver.step(neuron, cur, state)
        spk.append(float(s))
        # snnTorch Leaky: state = mem; Synaptic: (syn, mem); Norse: state.v
        v = state.v if hasattr(state, "v") else (state[1] if isinstance(state, tuple) else state)
        mem.append(float(v))
    return spk, mem


def test_snntorch_leaky_subtract_golden():
    # beta = 0.5, threshold = 1, I = 0.6; snnTorch: mem[t] = beta*mem[t-1] + I - thr*H(mem[t-1]-thr)
    # (reset delayed one step; the returned membrane is pre-reset), spk[t] = H(mem[t] - 1)
    # t1: 0.6 | t2: 0.3+0.6 = 0.9 | t3: 0.45+0.6 = 1.05 (spike)
    # t4: 0.525+0.6-1 = 0.125 | t5: 0.0625+0.6 = 0.6625 | t6: 0.33125+0.6 = 0.93125
    # t7: 0.465625+0.6 = 1.065625 (spike) | t8: 0.5328125+0.6-1 = 0.1328125
    spk, mem = _run(NeuronSpec(model="leaky", beta=0.5, reset="subtract"), "snntorch", 0.6)
    assert mem == pytest.approx(
        [0.6, 0.9, 1.05, 0.125, 0.6625, 0.93125, 1.065625, 0.1328125], abs=1e-6
    )
    assert spk == [0, 0, 1, 0, 0, 0, 1, 0]


def test_snntorch_synaptic_zero_golden():
    # alpha = beta = 0.5, thr = 1, I = 0.3
    # syn[t] = 0.5*syn[t-1] + 0.3, mem[t] = 0.5*mem[t-1] + syn[t]
    # syn: .3, .45, .525, .5625, .58125, .590625, .5953125, .59765625
    # t1 .3 | t2 .15+.45 = .6 | t3 .3+.525 = .825 | t4 .4125+.5625 = .975
    # t5 .4875+.58125 = 1.06875 (spike)
    # t6: snnTorch Synaptic "zero" reset subtracts the whole new membrane -> 0 (input discarded)
    # t7: 0 + .5953125 = .5953125 | t8: .29765625 + .59765625 = .8953125
    spec = NeuronSpec(model="synaptic", alpha=0.5, beta=0.5, reset="zero")
    spk, mem = _run(spec, "snntorch", 0.3)
    assert mem == pytest.approx(
        [0.3, 0.6, 0.825, 0.975, 1.06875, 0.0, 0.5953125, 0.8953125], abs=1e-6
    )
    assert spk == [0, 0, 0, 0, 1, 0, 0, 0]


def test_norse_leaky_subtract_golden():
    # LIFBoxCell, dt = 1, tau_mem_inv = 1 - beta = 0.5, driver gain 1/(1-beta) = 2:
    # v' = v + 0.5*(2*I - v) = 0.5*v + I; spike if v' > 1; reset immediately: v = v' - 1
    # t1 .6 | t2 .3+.6 = .9 | t3 .45+.6 = 1.05 -> spike, .05 | t4 .025+.6 = .625
    # t5 .3125+.6 = .9125 | t6 .45625+.6 = 1.05625 -> spike, .05625 | t7 .028125+.6 = .628125
    # t8 .3140625+.6 = .9140625
    spk, mem = _run(NeuronSpec(model="lifbox", beta=0.5, reset="subtract"), "norse", 0.6)
    assert mem == pytest.approx(
        [0.6, 0.9, 0.05, 0.625, 0.9125, 0.05625, 0.628125, 0.9140625], abs=1e-6
    )
    assert spk == [0, 0, 1, 0, 0, 1, 0, 0]


def test_norse_synaptic_zero_golden():
    # LIFCell, dt = 1, tau_syn_inv = tau_mem_inv = 0.5, gain 2. With syn = 0.5*i_jump the Norse
    # update is syn[t] = 0.5*syn[t-1] + 0.3, v' = 0.5*v + syn[t], reset to 0 at the spike step:
    # t1 .3 | t2 .6 | t3 .825 | t4 .975 | t5 1.06875 -> spike, v = 0
    # t6 0 + .590625 | t7 .2953125 + .5953125 = .890625 | t8 .4453125 + .59765625 = 1.04296875
    # -> spike, v = 0
    spec = NeuronSpec(model="lif", alpha=0.5, beta=0.5, reset="zero")
    spk, mem = _run(spec, "norse", 0.3)
    assert mem == pytest.approx([0.3, 0.6, 0.825, 0.975, 0.0, 0.590625, 0.890625, 0.0], abs=1e-6)
    assert spk == [0, 0, 0, 0, 1, 0, 0, 1]


@pytest.mark.parametrize(
    ("backend", "surrogate", "slope", "expected"),
    [
        # snnTorch fast_sigmoid: 1/(1 + k|x|)^2 at x = 0.5 - 1, k = 2 -> 1/(1+1)^2 = 0.25
        ("snntorch", "fast_sigmoid", 2.0, 0.25),
        # snnTorch atan: (a/2) / (1 + (pi/2 * a * x)^2), a = 2, x = -0.5 -> 1/(1 + (pi/2)^2)
        ("snntorch", "atan", 2.0, 1.0 / (1.0 + (torch.pi / 2) ** 2)),
        # Norse SuperSpike: 1/(1 + |x|)^2 = 1/2.25; dv/dI = gain * (1-beta) = 1
        ("norse", "fast_sigmoid", 1.0, 1.0 / 2.25),
        # triangle: k * relu(1 - |x|) = 3 * 0.5 (snnTorch reuses Norse's function)
        ("norse", "triangle", 3.0, 1.5),
        ("snntorch", "triangle", 3.0, 1.5),
    ],
)
def test_surrogate_gradient_first_step(backend, surrogate, slope, expected):
    # one step from rest: mem = I = 0.5 on both backends, d spk / d I = surrogate'(0.5 - 1)
    spec = NeuronSpec(beta=0.5, surrogate=surrogate, slope=slope)
    neuron, driver = build_neuron(spec, backend)
    cur = torch.full((1, 1), 0.5, requires_grad=True)
    spk, _ = driver.step(neuron, cur, None)
    spk.sum().backward()
    assert float(cur.grad) == pytest.approx(expected, rel=1e-5)


def test_unsupported_backend_combinations_name_the_fix():
    with pytest.raises(ValueError, match="slope=1.0"):
        build_neuron(NeuronSpec(surrogate="fast_sigmoid", slope=25.0), "norse")
    with pytest.raises(ValueError, match="reset='zero'"):
        build_neuron(NeuronSpec(model="synaptic", reset="subtract"), "norse")
    with pytest.raises(ValueError, match="not available in Norse"):
        build_neuron(NeuronSpec(surrogate="atan"), "norse")
    with pytest.raises(ValueError, match="detaches"):
        build_neuron(NeuronSpec(detach_reset=False), "snntorch")
    with pytest.raises(ValueError, match="neuron model"):
        NeuronSpec(model="izhikevich")


def test_snntorch_global_instance_list_not_grown():
    import snntorch

    before = len(snntorch.SpikingNeuron.instances)
    for _ in range(3):
        build_neuron(NeuronSpec(), "snntorch")
    assert len(snntorch.SpikingNeuron.instances) == before


@pytest.mark.parametrize("detach", [True, False])
def test_norse_leaky_detach_reset_controls_gradient_through_reset(detach):
    # v1 = I = 1.5 -> spike; reset subtract: v1' = v1 - z1. Detached: dv1'/dI = 1;
    # attached: 1 - dz/dv = 1 - 1/(1+0.5)^2 = 1 - 0.4444 = 0.5556 (SuperSpike at x = 0.5)
    spec = NeuronSpec(beta=0.5, detach_reset=detach)
    neuron, driver = build_neuron(spec, "norse")
    cur = torch.full((1, 1), 1.5, requires_grad=True)
    _, state = driver.step(neuron, cur, None)
    state.v.sum().backward()
    assert float(cur.grad) == pytest.approx(1.0 if detach else 1 - 1 / 2.25, rel=1e-5)


def test_input_gain_is_one_definition_used_by_driver_and_fast_engine():
    from spikeenergy.models.fast.lif import LIFConfig
    from spikeenergy.models.neurons import input_gain

    spec = NeuronSpec(beta=0.8)
    # Norse (dt = 1) integrates v += (1 - beta) * (I - v): gain 1 / (1 - 0.8) = 5 cancels it
    assert input_gain(spec, "norse") == pytest.approx(5.0, rel=1e-12)
    assert input_gain(spec, "snntorch") == 1.0
    for backend in ("snntorch", "norse"):
        _, driver = build_neuron(spec, backend)
        assert driver.input_gain == input_gain(spec, backend)
        assert LIFConfig.from_spec(spec, backend).input_gain == input_gain(spec, backend)
    with pytest.raises(ValueError, match="beta < 1"):
        input_gain(NeuronSpec(beta=1.0), "norse")
    with pytest.raises(ValueError, match="backend"):
        input_gain(spec, "lava")


@pytest.mark.parametrize("backend", ["snntorch", "norse"])
def test_leaky_zero_reset_same_spikes_on_both_backends_golden(backend):
    # beta = 0.5, thr = 1, I = 0.6, reset to zero:
    # t1 .6 | t2 .3+.6 = .9 | t3 .45+.6 = 1.05 (spike) | t4 0*.5+.6 = .6 | t5 .9 | t6 1.05 (spike)
    # t7 .6 | t8 .9. snnTorch returns the pre-reset membrane, Norse the post-reset one (0 at spikes)
    spk, mem = _run(NeuronSpec(model="leaky", beta=0.5, reset="zero"), backend, 0.6)
    assert spk == [0, 0, 1, 0, 0, 1, 0, 0]
    at_spike = 1.05 if backend == "snntorch" else 0.0
    assert mem == pytest.approx([0.6, 0.9, at_spike, 0.6, 0.9, at_spike, 0.6, 0.9], abs=1e-6)


def test_backend_difference_names_every_differing_option():
    from spikeenergy.models import backend_difference

    assert backend_difference(NeuronSpec(model="leaky", reset="zero")) is None
    sub = backend_difference(NeuronSpec(model="leaky", reset="subtract"))
    assert sub is not None
    assert "after the decay" in sub
    assert "reset='zero'" in sub
    syn = backend_difference(NeuronSpec(model="synaptic", reset="zero"))
    assert syn is not None
    assert "step after a spike" in syn
    assert backend_difference(NeuronSpec(model="synaptic", reset="subtract")) is not None
    # the goldens above show the subtract difference: snnTorch spikes at t3, t7; Norse at t3, t6
    s_spk, _ = _run(NeuronSpec(model="leaky", beta=0.5, reset="subtract"), "snntorch", 0.6)
    n_spk, _ = _run(NeuronSpec(model="leaky", beta=0.5, reset="subtract"), "norse", 0.6)
    assert s_spk != n_spk
