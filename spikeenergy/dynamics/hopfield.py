"""Classical Hopfield networks: binary (Hopfield 1982) and graded-response (Hopfield 1984).

Binary network, states s in {-1, +1}^N, symmetric weights W with zero diagonal, bias b:

    E(s) = -1/2 s^T W s - b^T s

Asynchronous updates (one neuron at a time, s_i <- sign(h_i), h = W s + b) never increase E.
Synchronous updates (all at once) may 2-cycle; they never increase the two-step Lyapunov function
L(s_t, s_{t-1}) = -s_t^T W s_{t-1} - b^T (s_t + s_{t-1}) (Bruck 1990), and never increase E itself
when W is positive semi-definite (e.g. Hebbian or projection weights with the diagonal kept).

Graded-response network (internal potentials u, outputs V = tanh(gain * u)):

    tau du/dt = -u + W V + b
    E(u) = -1/2 V^T W V - b^T V + sum_i int_0^{V_i} g^{-1}(v) dv
         = -1/2 V^T W V - b^T V + sum_i [V_i u_i - log cosh(gain u_i) / gain]

and dE/dt = -tau sum_i g'(u_i) (du_i/dt)^2 <= 0 for symmetric W.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikeenergy.dynamics.base import (
    ContinuousEnergyModel,
    EnergyModel,
    check_method,
    integrate,
    logcosh,
    resolve_device,
)

__all__ = [
    "GradedHopfieldNetwork",
    "HopfieldNetwork",
    "hebbian_weights",
    "pseudo_inverse_weights",
]


def _check_patterns(patterns: Tensor) -> Tensor:
    """Validate a (P, N) matrix of +-1 patterns."""
    if patterns.ndim != 2:
        raise ValueError(f"patterns must have shape (P, N), got {tuple(patterns.shape)}")
    if not bool(((patterns == 1) | (patterns == -1)).all()):
        raise ValueError("patterns must contain only -1 and +1; map {0,1} data with 2*x - 1")
    return patterns


def hebbian_weights(patterns: Tensor, zero_diagonal: bool = True) -> Tensor:
    """Hebbian (outer-product) weights W = (1/N) sum_mu xi_mu xi_mu^T, (P, N) -> (N, N)."""
    xi = _check_patterns(patterns)
    xi = xi.to(xi.dtype if xi.is_floating_point() else torch.get_default_dtype())
    n = xi.shape[1]
    w = xi.T @ xi / n  # (N, N)
    if zero_diagonal:
        w.fill_diagonal_(0.0)
    return w


def pseudo_inverse_weights(patterns: Tensor, zero_diagonal: bool = True) -> Tensor:
    """Projection (pseudo-inverse) weights W = Xi^+ Xi, making every pattern an eigenvector.

    For linearly independent patterns (P < N) W xi_mu = xi_mu exactly; with the diagonal zeroed
    h_i = (1 - W_ii) xi_i with 0 <= W_ii < 1, so every stored pattern is still a fixed point.
    """
    xi = _check_patterns(patterns)
    xi = xi.to(torch.float64)
    w = torch.linalg.pinv(xi) @ xi  # (N, P) @ (P, N) -> (N, N), symmetric projection
    w = 0.5 * (w + w.T)
    if zero_diagonal:
        w.fill_diagonal_(0.0)
    return w.to(patterns.dtype if patterns.is_floating_point() else torch.get_default_dtype())


def _check_weights(weights: Tensor) -> None:
    """Require a square symmetric matrix (the energy exists only for symmetric couplings)."""
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a square (N, N) matrix, got {tuple(weights.shape)}")
    if not torch.allclose(weights, weights.T, atol=1e-6):
        raise ValueError("weights must be symmetric for an energy to exist; use (W + W.T) / 2")


def _on_device(
    weights: Tensor, bias: Tensor | None, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """Weights and bias (zeros when None) on ``device`` in ``dtype``."""
    n = weights.shape[0]
    b = torch.zeros(n, device=device, dtype=dtype) if bias is None else bias
    return weights.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)


def _sign_keep(h: Tensor, s: Tensor) -> Tensor:
    """sign(h), keeping the current value where h == 0 (ties never raise the energy)."""
    return torch.where(h > 0, torch.ones_like(s), torch.where(h < 0, -torch.ones_like(s), s))


class HopfieldNetwork(EnergyModel):
    """Binary Hopfield network with asynchronous ('async') or synchronous ('sync') updates.

    State: (B, N) tensor of +-1. One ``step`` is one full sweep over the neurons (async, in
    sequential order or a random order drawn from the generator) or one parallel update (sync).
    """

    def __init__(
        self,
        weights: Tensor,
        bias: Tensor | None = None,
        update: str = "async",
        order: str = "sequential",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        _check_weights(weights)
        if update not in ("async", "sync"):
            raise ValueError(f"update must be 'async' or 'sync', got {update!r}")
        if order not in ("sequential", "random"):
            raise ValueError(f"order must be 'sequential' or 'random', got {order!r}")
        dev = resolve_device(device, weights)
        self.weights, self.bias = _on_device(weights, bias, dev, dtype)
        self.update = update
        self.order = order
        self.n = weights.shape[0]

    @classmethod
    def from_patterns(
        cls,
        patterns: Tensor,
        rule: str = "hebbian",
        zero_diagonal: bool = True,
        **kwargs: object,
    ) -> HopfieldNetwork:
        """Store (P, N) +-1 patterns with the 'hebbian' or 'pseudo_inverse' rule."""
        if rule == "hebbian":
            w = hebbian_weights(patterns.float(), zero_diagonal)
        elif rule == "pseudo_inverse":
            w = pseudo_inverse_weights(patterns.float(), zero_diagonal)
        else:
            raise ValueError(f"rule must be 'hebbian' or 'pseudo_inverse', got {rule!r}")
        return cls(w, **kwargs)  # type: ignore[arg-type]

    def _check_state(self, state: Tensor) -> None:
        if state.ndim != 2 or state.shape[1] != self.n:
            raise ValueError(f"state must have shape (B, {self.n}), got {tuple(state.shape)}")

    def energy(self, state: Tensor) -> Tensor:
        """E(s) = -1/2 s^T W s - b^T s per batch item, shape (B,)."""
        self._check_state(state)
        s = state.to(self.weights.dtype)
        return -0.5 * ((s @ self.weights) * s).sum(-1) - s @ self.bias

    def sync_lyapunov(self, previous: Tensor, current: Tensor) -> Tensor:
        """Two-step Lyapunov function of synchronous dynamics (Bruck 1990), shape (B,)."""
        p = previous.to(self.weights.dtype)
        c = current.to(self.weights.dtype)
        return -((c @ self.weights) * p).sum(-1) - (c + p) @ self.bias

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One asynchronous sweep or one synchronous update of all neurons."""
        self._check_state(state)
        s = state.to(self.weights.dtype)
        if self.update == "sync":
            return _sign_keep(s @ self.weights + self.bias, s)
        if self.order == "random":
            if generator is None:
                raise ValueError("order='random' needs a generator (or an int seed in run())")
            order = torch.randperm(self.n, generator=generator, device=generator.device)
            order = order.to(s.device)
        else:
            order = torch.arange(self.n, device=s.device)
        s = s.clone()
        for i in order.tolist():
            h = s @ self.weights[:, i] + self.bias[i]  # (B,)
            s[:, i] = _sign_keep(h, s[:, i])
        return s


class GradedHopfieldNetwork(ContinuousEnergyModel):
    """Continuous-time graded-response Hopfield network integrated as an ODE.

    State: internal potentials u, shape (B, N). Outputs V = tanh(gain * u).
    """

    def __init__(
        self,
        weights: Tensor,
        bias: Tensor | None = None,
        gain: float = 1.0,
        tau: float = 1.0,
        dt: float = 0.05,
        method: str = "euler",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        _check_weights(weights)
        if gain <= 0 or tau <= 0 or dt <= 0:
            raise ValueError(f"gain, tau and dt must be positive, got {gain}, {tau}, {dt}")
        dev = resolve_device(device, weights)
        self.weights, self.bias = _on_device(weights, bias, dev, dtype)
        self.gain = float(gain)
        self.tau = float(tau)
        self.dt = float(dt)
        self.method = check_method(method)
        self.n = weights.shape[0]

    def output(self, state: Tensor) -> Tensor:
        """Graded outputs V = tanh(gain * u), shape (B, N)."""
        return torch.tanh(self.gain * state)

    def energy(self, state: Tensor) -> Tensor:
        """Hopfield (1984) energy with the integral term in closed form, shape (B,)."""
        u = state.to(self.weights.dtype)
        v = self.output(u)
        quad = -0.5 * ((v @ self.weights) * v).sum(-1) - v @ self.bias
        leak = (v * u - logcosh(self.gain * u) / self.gain).sum(-1)
        return quad + leak

    def drift(self, state: Tensor) -> Tensor:
        """du/dt = (-u + W V + b) / tau."""
        return (-state + self.output(state) @ self.weights + self.bias) / self.tau

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One integrator step of length dt (deterministic; the generator is unused)."""
        del generator
        if state.ndim != 2 or state.shape[1] != self.n:
            raise ValueError(f"state must have shape (B, {self.n}), got {tuple(state.shape)}")
        return integrate(self.drift, state.to(self.weights.dtype), self.dt, self.method)
