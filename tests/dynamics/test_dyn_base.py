"""Shared run() contract: step/t_span resolution, recording, seeding, early stopping."""

import pytest
import torch

from spikeenergy.dynamics import (
    GradedHopfieldNetwork,
    HopfieldNetwork,
    KuramotoNetwork,
    as_generator,
)


def _graded(n: int = 4) -> GradedHopfieldNetwork:
    w = torch.ones(n, n) - torch.eye(n)
    return GradedHopfieldNetwork(w, dt=0.05)


def test_exactly_one_of_steps_or_t_span():
    model = _graded()
    u = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="exactly one"):
        model.run(u)
    with pytest.raises(ValueError, match="exactly one"):
        model.run(u, steps=3, t_span=1.0)


def test_discrete_model_rejects_t_span():
    net = HopfieldNetwork(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="discrete-time"):
        net.run(torch.ones(1, 3), t_span=1.0)


def test_t_span_converts_to_steps_and_times():
    model = _graded()
    # duration 1.0 / dt 0.05 = 20 steps; tuple (1, 2) starts the clock at t = 1
    traj = model.run(torch.zeros(2, 4) + 0.1, t_span=(1.0, 2.0))
    assert traj.steps_taken == 20
    assert traj.times[0].item() == pytest.approx(1.0)
    assert traj.times[-1].item() == pytest.approx(2.0)
    assert traj.states.shape == (21, 2, 4)  # time-major (T, B, N)
    assert traj.energies.shape == (21, 2)


def test_record_every_keeps_first_and_last():
    model = _graded()
    traj = model.run(torch.zeros(3, 4) + 0.1, steps=10, record_every=3)
    # recorded at steps 0, 3, 6, 9 and the final step 10
    assert traj.times.tolist() == pytest.approx([0.0, 0.15, 0.3, 0.45, 0.5])
    assert torch.equal(traj.states[-1], traj.final)
    no_states = model.run(torch.zeros(3, 4) + 0.1, steps=10, keep_states=False)
    assert no_states.states is None
    assert torch.allclose(no_states.final, traj.final)


def test_seeded_noise_is_reproducible():
    k = torch.ones(5, 5) - torch.eye(5)
    model = KuramotoNetwork(k, noise_std=0.5, dt=0.01)
    theta0 = torch.zeros(3, 5, dtype=torch.float64)
    a = model.run(theta0, steps=20, generator=7).final
    b = model.run(theta0, steps=20, generator=torch.Generator().manual_seed(7)).final
    c = model.run(theta0, steps=20, generator=8).final
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_tol_stops_at_fixed_point():
    patterns = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0, -1.0]])
    net = HopfieldNetwork.from_patterns(patterns)
    cue = patterns.clone()
    cue[0, 0] = -1.0
    traj = net.run(cue, steps=50, tol=0.0)
    # sweep 1 repairs the flipped bit, sweep 2 changes nothing -> stop after 2 steps
    assert traj.converged
    assert traj.steps_taken == 2
    assert torch.equal(traj.final, patterns)


def test_as_generator_rejects_other_types():
    with pytest.raises(TypeError, match="torch.Generator"):
        as_generator("seed")  # type: ignore[arg-type]
    assert as_generator(None) is None
