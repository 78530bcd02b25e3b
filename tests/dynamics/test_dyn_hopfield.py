"""Classical binary and graded-response Hopfield networks."""

import pytest
import torch

from spikeenergy.dynamics import (
    GradedHopfieldNetwork,
    HopfieldNetwork,
    hebbian_weights,
    pseudo_inverse_weights,
)


def _random_symmetric(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g)
    w = (a + a.T) / 2
    w.fill_diagonal_(0.0)
    return w


def _random_patterns(p: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(p, n, generator=g) < 0.5, -1.0, 1.0)


def test_energy_hand_computed():
    w = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    net = HopfieldNetwork(w, bias=torch.tensor([0.5, 0.0]))
    # s = (1, -1): s^T W s = 2 * 1 * (1 * -1) = -2 -> -1/2 * -2 = 1; b^T s = 0.5 -> E = 0.5
    assert net.energy(torch.tensor([[1.0, -1.0]])).item() == pytest.approx(0.5)


def test_hebbian_weights_hand_computed():
    w = hebbian_weights(torch.tensor([[1.0, -1.0, 1.0]]))
    # (1/3) xi xi^T with zero diagonal
    expected = torch.tensor([[0, -1, 1], [-1, 0, -1], [1, -1, 0]]) / 3.0
    assert torch.allclose(w, expected)


def test_rejects_non_binary_patterns_and_asymmetric_weights():
    with pytest.raises(ValueError, match="-1 and \\+1"):
        hebbian_weights(torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="symmetric"):
        HopfieldNetwork(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))


@pytest.mark.parametrize("order", ["sequential", "random"])
def test_async_energy_never_increases(order):
    net = HopfieldNetwork(_random_symmetric(40, 0), bias=0.1 * torch.ones(40), order=order)
    s0 = _random_patterns(16, 40, 1)
    traj = net.run(s0, steps=10, generator=3)
    assert (traj.max_energy_increase() <= 1e-5).all()
    assert (traj.final_energy < traj.energies[0]).all()


def test_sync_with_psd_weights_descends_and_lyapunov_otherwise():
    xi = _random_patterns(6, 50, 2)
    psd = HopfieldNetwork(hebbian_weights(xi, zero_diagonal=False), update="sync")
    s0 = _random_patterns(20, 50, 3)
    assert (psd.run(s0, steps=10).max_energy_increase() <= 1e-5).all()

    net = HopfieldNetwork(_random_symmetric(30, 4), update="sync", dtype=torch.float64)
    traj = net.run(_random_patterns(20, 30, 5), steps=12)
    lyap = torch.stack(
        [net.sync_lyapunov(traj.states[t - 1], traj.states[t]) for t in range(1, 13)]
    )
    assert ((lyap[1:] - lyap[:-1]).amax(0) <= 1e-5).all()


def test_orthogonal_hebbian_patterns_are_fixed_points():
    # Sylvester-Hadamard rows are orthogonal: W xi = (1 - P/N) xi exactly
    h = torch.tensor([[1.0]])
    for _ in range(4):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    xi = h[1:5]  # (4, 16)
    net = HopfieldNetwork.from_patterns(xi)
    assert torch.equal(net.step(xi), xi)


def test_pseudo_inverse_stores_correlated_high_load():
    xi = _random_patterns(25, 50, 6)  # load 0.5, far beyond Hebbian capacity 0.138
    assert torch.equal(HopfieldNetwork.from_patterns(xi, rule="pseudo_inverse").step(xi), xi)
    w = pseudo_inverse_weights(xi, zero_diagonal=False)
    assert torch.allclose(xi @ w, xi, atol=1e-4)  # every pattern is an eigenvector, eigenvalue 1
    hebb = HopfieldNetwork.from_patterns(xi)
    assert not torch.equal(hebb.run(xi, steps=20, tol=0.0).final, xi)


def test_low_load_retrieval_from_noisy_cue():
    xi = _random_patterns(5, 200, 7)
    net = HopfieldNetwork.from_patterns(xi)
    g = torch.Generator().manual_seed(0)
    flip = torch.where(torch.rand(5, 200, generator=g) < 0.1, -1.0, 1.0)
    out = net.run(xi * flip, steps=20, tol=0.0).final
    assert torch.equal(out, xi)


def test_graded_energy_gradient_matches_dynamics():
    # dE/du_i = g'(u_i) (u_i - (W V)_i - b_i) = -tau g'(u_i) du_i/dt
    net = GradedHopfieldNetwork(_random_symmetric(6, 8).double(), gain=1.7, tau=2.0)
    u = torch.randn(3, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    u.requires_grad_(True)
    (grad,) = torch.autograd.grad(net.energy(u).sum(), u)
    gprime = net.gain * (1 - torch.tanh(net.gain * u) ** 2)
    assert torch.allclose(grad, -net.tau * gprime * net.drift(u), atol=1e-10)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_graded_energy_never_increases(method):
    net = GradedHopfieldNetwork(_random_symmetric(20, 9), gain=3.0, dt=0.02, method=method)
    u0 = 0.5 * torch.randn(8, 20, generator=torch.Generator().manual_seed(2))
    traj = net.run(u0.double(), t_span=5.0)
    assert (traj.max_energy_increase() <= 1e-9).all()


def test_graded_network_holds_stored_patterns():
    xi = _random_patterns(3, 30, 10)
    net = GradedHopfieldNetwork(pseudo_inverse_weights(xi), gain=5.0, dt=0.05)
    traj = net.run(xi.double(), t_span=20.0)
    assert torch.equal(torch.sign(net.output(traj.final)), xi.double())
    assert net.drift(traj.final).abs().max() < 1e-6  # settled at a fixed point
