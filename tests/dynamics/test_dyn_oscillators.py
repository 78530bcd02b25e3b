"""Kuramoto network, oscillator Ising machine and the relative-phase coordination model."""

import math

import numpy as np
import pytest
import torch

from spikeenergy.dynamics import (
    AnnealSchedule,
    KuramotoNetwork,
    OscillatorIsingMachine,
    RelativePhaseModel,
    brute_force_maxcut,
    cut_value,
    oim_maxcut,
    order_parameter,
    round_phases,
    rudy_random_graph,
)


def _sym(n: int, seed: int) -> torch.Tensor:
    a = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (a + a.T) / 2


def _phases(b: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 2 * math.pi * torch.rand(b, n, generator=g, dtype=torch.float64)


def _check_gradient_flow(model, state):
    """dx/dt must equal -dE/dx (autograd), so the energy is a Lyapunov function."""
    x = state.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.energy(x).sum(), x)
    assert torch.allclose(model.drift(state), -grad, atol=1e-10)


def test_kuramoto_is_gradient_flow_and_descends():
    omega = 0.3 * torch.randn(12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = KuramotoNetwork(_sym(12, 0) / 4, omega=omega, dt=0.01)
    _check_gradient_flow(model, _phases(3, 12, 2))
    traj = model.run(_phases(6, 12, 3), t_span=10.0)
    assert (traj.max_energy_increase() <= 1e-9).all()


def test_kuramoto_identical_oscillators_synchronise():
    n = 20
    model = KuramotoNetwork(torch.full((n, n), 2.0 / n), dt=0.05)
    theta0 = 0.5 * math.pi * torch.rand(4, n, generator=torch.Generator().manual_seed(4))
    out = model.run(theta0.double(), t_span=30.0, keep_states=False).final
    # order parameter: 1 for perfect synchrony; a spread start over a quarter circle has r < 0.95
    assert (order_parameter(theta0) < 0.95).all()
    assert (order_parameter(out) > 0.999).all()


def test_oim_energy_is_gradient_flow_and_descends():
    model = OscillatorIsingMachine(_sym(10, 5), injection=0.7, dt=0.01, dtype=torch.float64)
    phi = _phases(3, 10, 6)
    x = phi.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.energy(x).sum(), x)
    assert torch.allclose(model._drift(0.7)(phi), -grad, atol=1e-10)
    traj = model.run(_phases(8, 10, 7), t_span=5.0)
    assert (traj.max_energy_increase() <= 1e-9).all()


def test_oim_energy_at_binary_phases_is_ising_energy():
    j = _sym(6, 8)
    j.fill_diagonal_(0.0)
    model = OscillatorIsingMachine(j, coupling_strength=2.0, injection=0.5, dtype=torch.float64)
    s = torch.tensor([[1.0, -1.0, -1.0, 1.0, 1.0, -1.0]], dtype=torch.float64)
    phi = torch.where(s > 0, 0.0, math.pi).double()
    ising = -0.5 * (s @ j @ s.T).item()  # H(s) = -sum_{i<j} J_ij s_i s_j
    # E = K H(s) - K_s N / 2 = 2 H(s) - 0.5 * 6 / 2
    assert model.energy(phi).item() == pytest.approx(2.0 * ising - 1.5, abs=1e-12)
    assert torch.equal(round_phases(phi), s)


def test_oim_finds_exact_max_cut_on_small_graphs():
    for seed in range(8):
        n = 8 + seed % 6  # 8..13 nodes
        w = rudy_random_graph(n, 50, signed=seed % 2 == 1, seed=seed)
        optimum, _ = brute_force_maxcut(w)
        res = oim_maxcut(
            w,
            steps=500,
            restarts=16,
            dt=0.5,
            schedule=AnnealSchedule(0.1, 0.0, 0.0, 0.05),
            generator=seed,
        )
        assert res.cut == optimum, (seed, n)
        assert float(cut_value(w, res.spins)) == res.cut


def test_relative_phase_potential_and_stability():
    model = RelativePhaseModel(a=1.0, b=0.5, delta_omega=0.1, dt=0.01)
    _check_gradient_flow(model, torch.linspace(-3, 3, 7, dtype=torch.float64))
    traj = model.run(torch.linspace(-3, 3, 13, dtype=torch.float64), t_span=20.0)
    assert (traj.max_energy_increase() <= 1e-9).all()
    # HKB: anti-phase (phi = pi) is stable iff b / a > 1/4 (V''(pi) = -a + 4b > 0)
    start = torch.tensor([math.pi - 0.2], dtype=torch.float64)
    bistable = RelativePhaseModel(a=1.0, b=0.5, dt=0.01).run(start, t_span=30.0).final
    monostable = RelativePhaseModel(a=1.0, b=0.1, dt=0.01).run(start, t_span=30.0).final
    assert bistable.item() == pytest.approx(math.pi, abs=1e-4)
    assert math.cos(monostable.item()) == pytest.approx(1.0, abs=1e-6)  # fell to in-phase


def test_noisy_oscillators_are_seeded_and_annealed_schedule_interpolates():
    model = RelativePhaseModel(noise_std=0.3, dt=0.01)
    a = model.run(torch.zeros(4, dtype=torch.float64), steps=50, generator=1).final
    b = model.run(torch.zeros(4, dtype=torch.float64), steps=50, generator=1).final
    assert torch.equal(a, b)
    assert a.abs().sum() > 0
    sched = AnnealSchedule(noise_start=1.0, noise_end=0.0, injection_start=0.0, injection_end=2.0)
    assert sched.at(0.25) == pytest.approx((0.75, 0.5))
    with pytest.raises(ValueError, match="symmetric"):
        OscillatorIsingMachine(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="euler"):
        KuramotoNetwork(torch.zeros(2, 2), method="heun")


@pytest.mark.gpu
def test_models_run_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    w = rudy_random_graph(30, 20, seed=0)
    res = oim_maxcut(w, steps=100, restarts=4, device="cuda", generator=0)
    assert res.cut > 0
    model = KuramotoNetwork(torch.ones(5, 5) - torch.eye(5), noise_std=0.1, device="cuda")
    out = model.run(torch.zeros(2, 5, device="cuda", dtype=torch.float64), steps=10, generator=0)
    assert out.final.is_cuda
    assert np.isfinite(out.energies.cpu().numpy()).all()
