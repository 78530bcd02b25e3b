"""Restricted Boltzmann machine: energies, exact and AIS partition functions, sampling, training."""

import itertools
import math

import pytest
import torch

from spikeenergy.dynamics import (
    RBM,
    RBMTrainConfig,
    ais_log_partition,
    exact_log_partition,
    log_likelihood,
    train_rbm,
)


def _random_rbm(v: int, h: int, scale: float, seed: int) -> RBM:
    rbm = RBM(v, h, generator=seed)
    g = torch.Generator().manual_seed(seed + 100)
    rbm.weights = scale * torch.randn(v, h, generator=g, dtype=torch.float64)
    rbm.visible_bias = 0.5 * torch.randn(v, generator=g, dtype=torch.float64)
    rbm.hidden_bias = 0.5 * torch.randn(h, generator=g, dtype=torch.float64)
    return rbm


def _all_states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def test_free_energy_marginalises_joint_energy():
    rbm = _random_rbm(4, 3, 1.0, 0)
    vs, hs = _all_states(4), _all_states(3)
    for v in vs:
        joint = rbm.joint_energy(v.expand(8, -1), hs)  # (8,) over all h
        assert rbm.free_energy(v[None]).item() == pytest.approx(
            -torch.logsumexp(-joint, 0).item(), abs=1e-10
        )


@pytest.mark.parametrize("shape", [(4, 3), (3, 5)])  # enumerate hidden, then visible
def test_exact_log_partition_matches_double_enumeration(shape):
    v_n, h_n = shape
    rbm = _random_rbm(v_n, h_n, 1.0, 1)
    vs, hs = _all_states(v_n), _all_states(h_n)
    v_all = vs.repeat_interleave(hs.shape[0], 0)
    h_all = hs.repeat(vs.shape[0], 1)
    brute = torch.logsumexp(-rbm.joint_energy(v_all, h_all), 0).item()
    assert exact_log_partition(rbm) == pytest.approx(brute, abs=1e-10)


def test_ais_matches_exact_log_partition():
    rbm = _random_rbm(12, 8, 0.7, 2)
    exact = exact_log_partition(rbm)
    est, se = ais_log_partition(rbm, n_chains=200, n_betas=1000, generator=0)
    assert abs(est - exact) < 0.1
    assert 0 < se < 0.1
    # the log-likelihood built from either log Z differs by exactly the same amount
    data = _all_states(12)[::97]
    assert log_likelihood(rbm, data, exact) - log_likelihood(rbm, data, est) == pytest.approx(
        est - exact
    )


def test_gibbs_samples_follow_exact_distribution():
    rbm = _random_rbm(3, 2, 1.0, 3)
    samples = rbm.sample(4000, k=20, generator=0)  # (4000, 3)
    vs = _all_states(3)
    exact = torch.exp(-rbm.free_energy(vs) - exact_log_partition(rbm))
    codes = (samples * torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)).sum(1).long()
    empirical = torch.bincount(codes, minlength=8).double() / 4000
    assert 0.5 * (empirical - exact).abs().sum() < 0.04  # total variation; sd ~ 0.01


def test_zero_temperature_sweep_never_increases_joint_energy():
    rbm = _random_rbm(10, 6, 1.0, 4)
    rbm.temperature = 0.0
    g = torch.Generator().manual_seed(0)
    state = (torch.rand(32, 16, generator=g) < 0.5).double()
    traj = rbm.run(state, steps=8)
    assert (traj.max_energy_increase() <= 1e-12).all()
    with pytest.raises(ValueError, match="shape"):
        rbm.energy(torch.zeros(2, 10))


def _toy_data(n: int, seed: int) -> torch.Tensor:
    """Two 10-bit prototypes with 5% bit noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.tensor([[1.0] * 5 + [0.0] * 5, [0.0] * 5 + [1.0] * 5], dtype=torch.float64)
    x = protos[torch.randint(0, 2, (n,), generator=g)]
    flip = (torch.rand(n, 10, generator=g) < 0.05).double()
    return (x + flip) % 2


@pytest.mark.parametrize("persistent", [False, True])
def test_training_raises_exact_log_likelihood(persistent):
    data = _toy_data(200, 5)
    rbm = RBM(10, 4, generator=0)
    before = log_likelihood(rbm, data, exact_log_partition(rbm))  # ~ 10 * log(1/2) = -6.93
    assert before == pytest.approx(-10 * math.log(2), abs=0.05)
    cfg = RBMTrainConfig(epochs=30, batch_size=20, learning_rate=0.1, k=1, persistent=persistent)
    history = train_rbm(rbm, data, cfg, generator=0)
    after = log_likelihood(rbm, data, exact_log_partition(rbm))
    # a perfect model of the data scores 10 * H(0.05) + log 2 = -(2.0 + 0.69) = -2.68 nats
    assert after > -4.5
    assert history[-1] < history[0]
    recon = rbm.reconstruct(data[:10])
    assert ((recon > 0.5).double() == data[:10]).double().mean() > 0.85


def test_exact_log_partition_refuses_large_layers():
    with pytest.raises(ValueError, match="ais_log_partition"):
        exact_log_partition(RBM(30, 30), max_units=10)
