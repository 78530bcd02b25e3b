"""Bernoulli restricted Boltzmann machine: CD-k / persistent CD, free energy, AIS log-likelihood.

Visible v in {0,1}^V, hidden h in {0,1}^H, weights W (V, H), biases b (V,), c (H,):

    E(v, h) = -v^T W h - b^T v - c^T h
    F(v)    = -b^T v - sum_j softplus(c_j + v^T W_{:,j})          (free energy)
    p(h_j = 1 | v) = sigmoid(c_j + v^T W_{:,j}),  p(v_i = 1 | h) = sigmoid(b_i + W_{i,:} h)
    log p(v) = -F(v) - log Z

As a dynamical model the state is the concatenation [v, h] (B, V + H); ``step`` is one block
Gibbs sweep (h then v) at ``temperature`` 1, or the zero-temperature sweep (each block set to its
conditional argmax) at ``temperature`` 0, which is block-coordinate descent on E(v, h) and never
increases it. ``log Z`` is exact by enumerating the smaller layer (up to ~20 units), or estimated
by annealed importance sampling from a bias-only base model (Salakhutdinov and Murray 2008).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import softplus

from spikeenergy.dynamics.base import EnergyModel, as_generator, resolve_device

__all__ = [
    "RBM",
    "RBMTrainConfig",
    "ais_log_partition",
    "exact_log_partition",
    "log_likelihood",
    "train_rbm",
]


def _bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """Seeded Bernoulli sample of probabilities p."""
    return (torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype) < p).to(
        p.dtype
    )


class RBM(EnergyModel):
    """Bernoulli-Bernoulli RBM with plain tensors (trained by :func:`train_rbm`, not autograd)."""

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        generator: torch.Generator | int | None = 0,
        init_std: float = 0.01,
        temperature: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if n_visible < 1 or n_hidden < 1:
            raise ValueError(f"n_visible and n_hidden must be >= 1, got {n_visible}, {n_hidden}")
        if temperature not in (0.0, 1.0):
            raise ValueError(f"temperature must be 1 (Gibbs) or 0 (argmax), got {temperature}")
        dev = resolve_device(device)
        gen = as_generator(generator, "cpu")
        self.weights = (init_std * torch.randn(n_visible, n_hidden, generator=gen, dtype=dtype)).to(
            dev
        )
        self.visible_bias = torch.zeros(n_visible, device=dev, dtype=dtype)
        self.hidden_bias = torch.zeros(n_hidden, device=dev, dtype=dtype)
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        self.temperature = float(temperature)

    @property
    def device(self) -> torch.device:
        """Device the parameters live on."""
        return self.weights.device

    def hidden_prob(self, v: Tensor) -> Tensor:
        """p(h = 1 | v), (B, V) -> (B, H)."""
        return torch.sigmoid(v @ self.weights + self.hidden_bias)

    def visible_prob(self, h: Tensor) -> Tensor:
        """p(v = 1 | h), (B, H) -> (B, V)."""
        return torch.sigmoid(h @ self.weights.T + self.visible_bias)

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -b^T v - sum_j softplus(c_j + v^T W_j), shape (B,)."""
        v = v.to(self.weights.dtype)
        return -v @ self.visible_bias - softplus(v @ self.weights + self.hidden_bias).sum(-1)

    def joint_energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h) = -v^T W h - b^T v - c^T h, shape (B,)."""
        v = v.to(self.weights.dtype)
        h = h.to(self.weights.dtype)
        return -((v @ self.weights) * h).sum(-1) - v @ self.visible_bias - h @ self.hidden_bias

    def split(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """Split a (B, V + H) state into v (B, V) and h (B, H)."""
        if state.ndim != 2 or state.shape[1] != self.n_visible + self.n_hidden:
            raise ValueError(
                f"state must have shape (B, {self.n_visible + self.n_hidden}) = [v, h], "
                f"got {tuple(state.shape)}"
            )
        return state[:, : self.n_visible], state[:, self.n_visible :]

    def energy(self, state: Tensor) -> Tensor:
        """Joint energy of a [v, h] state, shape (B,)."""
        v, h = self.split(state)
        return self.joint_energy(v, h)

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One block sweep h | v then v | h (Gibbs at temperature 1, argmax at 0)."""
        v, _ = self.split(state.to(self.weights.dtype))
        if self.temperature == 0.0:
            h = (v @ self.weights + self.hidden_bias > 0).to(v.dtype)
            v = (h @ self.weights.T + self.visible_bias > 0).to(v.dtype)
        else:
            h = _bernoulli(self.hidden_prob(v), generator)
            v = _bernoulli(self.visible_prob(h), generator)
        return torch.cat([v, h], dim=1)

    def gibbs(self, v: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
        """k steps of block Gibbs sampling v -> h -> v, returns visible samples (B, V)."""
        v = v.to(self.weights.dtype)
        for _ in range(k):
            h = _bernoulli(self.hidden_prob(v), generator)
            v = _bernoulli(self.visible_prob(h), generator)
        return v

    def sample(
        self, n: int, k: int = 1000, generator: torch.Generator | int | None = None
    ) -> Tensor:
        """Draw n visible samples by k Gibbs steps from uniform random starts."""
        gen = as_generator(generator, self.device)
        v0 = _bernoulli(
            torch.full((n, self.n_visible), 0.5, device=self.device, dtype=self.weights.dtype),
            gen,
        )
        return self.gibbs(v0, k, gen)

    def reconstruct(self, v: Tensor) -> Tensor:
        """Mean-field reconstruction p(v | E[h | v]), (B, V) -> (B, V)."""
        return self.visible_prob(self.hidden_prob(v.to(self.weights.dtype)))


@dataclass(frozen=True)
class RBMTrainConfig:
    """Training settings: CD-k (persistent=False) or persistent CD with ``n_chains`` chains."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.05
    k: int = 1
    persistent: bool = False
    n_chains: int = 64
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.k < 1 or self.n_chains < 1:
            raise ValueError(f"invalid RBMTrainConfig {self}: counts must be positive")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")


def train_rbm(
    rbm: RBM,
    data: Tensor,
    config: RBMTrainConfig,
    generator: torch.Generator | int | None = 0,
) -> list[float]:
    """Train in place by CD-k or PCD; returns the mean reconstruction error per epoch.

    Gradient of the mean log-likelihood: <v h^T>_data - <v h^T>_model, with the model term from k
    Gibbs steps started at the data (CD) or at persistent fantasy chains (PCD, Tieleman 2008).
    """
    if data.ndim != 2 or data.shape[1] != rbm.n_visible:
        raise ValueError(f"data must have shape (n, {rbm.n_visible}), got {tuple(data.shape)}")
    gen = as_generator(generator, rbm.device)
    x = data.to(device=rbm.device, dtype=rbm.weights.dtype)
    n = x.shape[0]
    chains = (
        _bernoulli(
            torch.full((config.n_chains, rbm.n_visible), 0.5, device=rbm.device, dtype=x.dtype), gen
        )
        if config.persistent
        else None
    )
    history: list[float] = []
    lr = config.learning_rate
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=gen, device=gen.device if gen else "cpu").to(x.device)
        err = 0.0
        for start in range(0, n, config.batch_size):
            v0 = x[perm[start : start + config.batch_size]]
            ph0 = rbm.hidden_prob(v0)
            if chains is not None:
                chains = rbm.gibbs(chains, config.k, gen)
                vk = chains
            else:
                vk = rbm.gibbs(v0, config.k, gen)
            phk = rbm.hidden_prob(vk)
            grad_w = v0.T @ ph0 / v0.shape[0] - vk.T @ phk / vk.shape[0]
            rbm.weights += lr * (grad_w - config.weight_decay * rbm.weights)
            rbm.visible_bias += lr * (v0.mean(0) - vk.mean(0))
            rbm.hidden_bias += lr * (ph0.mean(0) - phk.mean(0))
            err += float(((rbm.reconstruct(v0) - v0) ** 2).sum())
        history.append(err / (n * rbm.n_visible))
    return history


def _all_binary(n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """All 2^n binary vectors as rows, (2^n, n)."""
    idx = torch.arange(2**n, device=device)
    return ((idx.unsqueeze(1) >> torch.arange(n, device=device)) & 1).to(dtype)


def exact_log_partition(rbm: RBM, max_units: int = 22) -> float:
    """log Z by enumerating the smaller layer (2^min(V, H) terms)."""
    w, b, c = rbm.weights, rbm.visible_bias, rbm.hidden_bias
    small = min(rbm.n_visible, rbm.n_hidden)
    if small > max_units:
        raise ValueError(
            f"exact log Z needs 2^{small} terms; use ais_log_partition for layers > {max_units}"
        )
    terms: list[Tensor] = []
    chunk = 2**16
    if rbm.n_hidden <= rbm.n_visible:
        hs = _all_binary(rbm.n_hidden, w.device, w.dtype)  # (2^H, H)
        for i in range(0, hs.shape[0], chunk):
            h = hs[i : i + chunk]
            terms.append(h @ c + softplus(h @ w.T + b).sum(-1))
    else:
        vs = _all_binary(rbm.n_visible, w.device, w.dtype)
        for i in range(0, vs.shape[0], chunk):
            terms.append(-rbm.free_energy(vs[i : i + chunk]))
    return float(torch.logsumexp(torch.cat(terms), dim=0))


def ais_log_partition(
    rbm: RBM,
    n_chains: int = 100,
    n_betas: int = 1000,
    base_visible_bias: Tensor | None = None,
    generator: torch.Generator | int | None = 0,
) -> tuple[float, float]:
    """AIS estimate of log Z and its delta-method standard error (Salakhutdinov and Murray 2008).

    Intermediate unnormalised marginals, beta from 0 to 1:
        log p*_beta(v) = (1 - beta) b_A^T v + beta b^T v + sum_j softplus(beta (c_j + v^T W_j))
    Base (beta = 0): log Z_A = sum_i softplus(b_A,i) + H log 2. Transitions are Gibbs sweeps
    that leave p_beta invariant. A good base bias is the data log-odds; zeros also work.
    """
    if n_chains < 2 or n_betas < 2:
        raise ValueError(f"n_chains and n_betas must be >= 2, got {n_chains}, {n_betas}")
    w, b, c = rbm.weights, rbm.visible_bias, rbm.hidden_bias
    b_a = torch.zeros_like(b) if base_visible_bias is None else base_visible_bias.to(b)
    gen = as_generator(generator, w.device)
    betas = torch.linspace(0.0, 1.0, n_betas, dtype=w.dtype).tolist()

    def log_p_star(v: Tensor, beta: float) -> Tensor:
        return v @ ((1.0 - beta) * b_a + beta * b) + softplus(beta * (v @ w + c)).sum(-1)

    v = _bernoulli(torch.sigmoid(b_a).expand(n_chains, -1).contiguous(), gen)  # exact base draw
    log_w = torch.zeros(n_chains, device=w.device, dtype=w.dtype)
    for k in range(1, n_betas):
        beta_prev, beta = betas[k - 1], betas[k]
        log_w += log_p_star(v, beta) - log_p_star(v, beta_prev)
        h = _bernoulli(torch.sigmoid(beta * (v @ w + c)), gen)
        v = _bernoulli(torch.sigmoid((1.0 - beta) * b_a + beta * (h @ w.T + b)), gen)
    log_z_a = float(softplus(b_a).sum()) + rbm.n_hidden * math.log(2.0)
    lse = torch.logsumexp(log_w, dim=0)
    log_z = log_z_a + float(lse) - math.log(n_chains)
    ratios = torch.exp(log_w - lse)  # normalised weights, sum 1
    # std error of log(mean w) by the delta method: std(w) / (sqrt(n) mean(w))
    std_err = float(ratios.std() * n_chains / math.sqrt(n_chains))
    return log_z, std_err


def log_likelihood(rbm: RBM, data: Tensor, log_z: float) -> float:
    """Mean log p(v) = -F(v) - log Z over the rows of ``data`` (n, V)."""
    return float(
        (-rbm.free_energy(data.to(device=rbm.device, dtype=rbm.weights.dtype))).mean() - log_z
    )
