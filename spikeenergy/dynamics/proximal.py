"""Proximal-descent dynamics: the locally competitive algorithm and proximal-gradient flows.

Locally competitive algorithm (Rozell et al. 2008), dictionary Phi (D, M), signal x (D,),
internal potentials u (M,), activations a = T_lambda(u):

    tau du/dt = Phi^T x - u - (Phi^T Phi - I) a
    E(a) = 1/2 ||x - Phi a||^2 + lambda ||a||_1           (soft threshold)
    E(a) = 1/2 ||x - Phi a||^2 + lambda^2 / 2 ||a||_0     (hard threshold)

T_soft(u) = sign(u) max(|u| - lambda, 0); T_hard(u) = u 1[|u| > lambda]. With the soft threshold
the fixed point is the LASSO solution (scikit-learn's ``Lasso(alpha=lambda / D,
fit_intercept=False)`` minimises the same objective divided by D).

Proximal-gradient flow for F(x) = f(x) + g(x), f smooth, g a box or simplex indicator or an l1
penalty: x <- prox_{eta g}(x - eta grad f(x)). With eta <= 1/L (L the Lipschitz constant of
grad f) F never increases (Beck and Teboulle 2009).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from spikeenergy.dynamics.base import (
    ContinuousEnergyModel,
    check_method,
    integrate,
    resolve_device,
)

__all__ = [
    "BoxConstraint",
    "L1Penalty",
    "LCA",
    "ProximalGradientFlow",
    "SimplexConstraint",
    "hard_threshold",
    "project_simplex",
    "soft_threshold",
]


def soft_threshold(u: Tensor, lam: float) -> Tensor:
    """sign(u) max(|u| - lam, 0): the prox of lam ||.||_1."""
    return torch.sign(u) * (u.abs() - lam).clamp_min(0.0)


def hard_threshold(u: Tensor, lam: float) -> Tensor:
    """u where |u| > lam, else 0."""
    return torch.where(u.abs() > lam, u, torch.zeros_like(u))


class LCA(ContinuousEnergyModel):
    """Locally competitive algorithm for a batch of signals (B, D); state u is (B, M)."""

    def __init__(
        self,
        dictionary: Tensor,
        signal: Tensor,
        lam: float,
        threshold: str = "soft",
        tau: float = 1.0,
        dt: float = 0.1,
        method: str = "euler",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if dictionary.ndim != 2:
            raise ValueError(f"dictionary must have shape (D, M), got {tuple(dictionary.shape)}")
        if signal.ndim != 2 or signal.shape[1] != dictionary.shape[0]:
            raise ValueError(
                f"signal must have shape (B, {dictionary.shape[0]}), got {tuple(signal.shape)}"
            )
        if threshold not in ("soft", "hard"):
            raise ValueError(f"threshold must be 'soft' or 'hard', got {threshold!r}")
        if lam < 0 or tau <= 0 or dt <= 0:
            raise ValueError(f"need lam >= 0, tau > 0, dt > 0; got {lam}, {tau}, {dt}")
        dev = resolve_device(device, dictionary)
        self.dictionary = dictionary.to(device=dev, dtype=dtype)  # (D, M)
        self.signal = signal.to(device=dev, dtype=dtype)  # (B, D)
        self.lam = float(lam)
        self.threshold = threshold
        self.tau = float(tau)
        self.dt = float(dt)
        self.method = check_method(method)
        m = dictionary.shape[1]
        self._drive = self.signal @ self.dictionary  # (B, M)  Phi^T x
        gram = self.dictionary.T @ self.dictionary  # (M, M)
        self._gram = gram - torch.eye(m, device=dev, dtype=dtype)
        #: largest eigenvalue of Phi^T Phi; explicit Euler needs dt / tau < 2 / max(L, 1)
        self.lipschitz = float(torch.linalg.eigvalsh(gram)[-1])
        if self.method == "euler" and self.dt / self.tau >= 2.0 / max(self.lipschitz, 1.0):
            raise ValueError(
                f"dt = {dt} is unstable for this dictionary with Euler (largest eigenvalue L of "
                f"Phi^T Phi is {self.lipschitz:.3g}); use dt < "
                f"{2 * tau / max(self.lipschitz, 1):.3g} (tau / L is a safe choice) or a smaller dt"
            )

    def activation(self, state: Tensor) -> Tensor:
        """a = T_lambda(u), (B, M)."""
        if self.threshold == "soft":
            return soft_threshold(state, self.lam)
        return hard_threshold(state, self.lam)

    def lasso_energy(self, coefficients: Tensor) -> Tensor:
        """1/2 ||x - Phi a||^2 + penalty(a) for coefficients a (B, M), shape (B,)."""
        resid = self.signal - coefficients @ self.dictionary.T  # (B, D)
        if self.threshold == "soft":
            penalty = self.lam * coefficients.abs().sum(-1)
        else:
            penalty = 0.5 * self.lam**2 * (coefficients != 0).sum(-1).to(resid.dtype)
        return 0.5 * (resid * resid).sum(-1) + penalty

    def energy(self, state: Tensor) -> Tensor:
        """LASSO (or l0) energy of the activations of ``state``, shape (B,)."""
        return self.lasso_energy(self.activation(state.to(self.dictionary.dtype)))

    def drift(self, state: Tensor) -> Tensor:
        """du/dt = (Phi^T x - u - (Phi^T Phi - I) a) / tau."""
        return (self._drive - state - self.activation(state) @ self._gram) / self.tau

    def initial_state(self) -> Tensor:
        """All-zero potentials (B, M), the usual starting point."""
        return torch.zeros_like(self._drive)

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One integrator step of length dt (deterministic; the generator is unused)."""
        del generator
        if state.shape != self._drive.shape:
            raise ValueError(
                f"state must have shape {tuple(self._drive.shape)}, got {tuple(state.shape)}"
            )
        return integrate(self.drift, state.to(self.dictionary.dtype), self.dt, self.method)

    def solve(self, steps: int = 2000, tol: float | None = 1e-9) -> Tensor:
        """Run from zero and return the sparse code a (B, M)."""
        traj = self.run(self.initial_state(), steps=steps, keep_states=False, tol=tol)
        return self.activation(traj.final)


@dataclass(frozen=True)
class BoxConstraint:
    """Indicator of lower <= x <= upper; its prox is clipping."""

    lower: float = 0.0
    upper: float = 1.0

    def __post_init__(self) -> None:
        if self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) must be <= upper ({self.upper})")

    def prox(self, x: Tensor, step_size: float) -> Tensor:
        """Euclidean projection onto the box."""
        del step_size
        return x.clamp(self.lower, self.upper)

    def value(self, x: Tensor) -> Tensor:
        """0 on the feasible set (states produced by the flow are always feasible), (B,)."""
        return torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)


def project_simplex(x: Tensor, radius: float = 1.0) -> Tensor:
    """Euclidean projection of rows of x onto {y >= 0, sum y = radius} (Duchi et al. 2008)."""
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    n = x.shape[-1]
    u, _ = torch.sort(x, dim=-1, descending=True)
    cssv = u.cumsum(-1) - radius
    ind = torch.arange(1, n + 1, device=x.device, dtype=x.dtype)
    cond = u - cssv / ind > 0
    rho = (cond * ind).amax(-1, keepdim=True)  # largest index (1-based) where cond holds
    theta = cssv.gather(-1, rho.long() - 1) / rho
    return (x - theta).clamp_min(0.0)


@dataclass(frozen=True)
class SimplexConstraint:
    """Indicator of the simplex {x >= 0, sum x = radius}; its prox is the projection."""

    radius: float = 1.0

    def prox(self, x: Tensor, step_size: float) -> Tensor:
        """Euclidean projection onto the simplex."""
        del step_size
        return project_simplex(x, self.radius)

    def value(self, x: Tensor) -> Tensor:
        """0 on the feasible set (states produced by the flow are always feasible), (B,)."""
        return torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)


@dataclass(frozen=True)
class L1Penalty:
    """g(x) = lam ||x||_1; its prox is soft thresholding at step_size * lam."""

    lam: float

    def prox(self, x: Tensor, step_size: float) -> Tensor:
        """Soft threshold at step_size * lam."""
        return soft_threshold(x, step_size * self.lam)

    def value(self, x: Tensor) -> Tensor:
        """lam ||x||_1 per row, (B,)."""
        return self.lam * x.abs().sum(-1)


Regularizer = BoxConstraint | SimplexConstraint | L1Penalty


class ProximalGradientFlow(ContinuousEnergyModel):
    """Proximal-gradient descent on f(x) + g(x) for a batch of points x (B, n).

    ``objective`` maps (B, n) -> (B,) and must be differentiable by autograd unless
    ``gradient`` is given. ``dt`` equals the step size, so ``run(t_span=...)`` works.
    """

    def __init__(
        self,
        objective: Callable[[Tensor], Tensor],
        regularizer: Regularizer | None,
        step_size: float,
        gradient: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        if step_size <= 0:
            raise ValueError(f"step_size must be positive (<= 1/L for descent), got {step_size}")
        self.objective = objective
        self.regularizer = regularizer
        self.step_size = float(step_size)
        self.dt = float(step_size)
        self.gradient = gradient

    def energy(self, state: Tensor) -> Tensor:
        """f(x) + g(x), shape (B,)."""
        with torch.no_grad():
            f = self.objective(state)
            if self.regularizer is not None:
                f = f + self.regularizer.value(state)
        return f

    def _grad(self, x: Tensor) -> Tensor:
        if self.gradient is not None:
            return self.gradient(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.objective(xg).sum(), xg)
        return g

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x <- prox(x - eta grad f(x)) (deterministic; the generator is unused)."""
        del generator
        x = state - self.step_size * self._grad(state)
        if self.regularizer is not None:
            x = self.regularizer.prox(x, self.step_size)
        return x.detach()
