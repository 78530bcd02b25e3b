"""Phase-oscillator networks: Kuramoto, the oscillator Ising machine, relative-phase coordination.

Kuramoto network with symmetric coupling K (N, N) and natural frequencies omega:

    dtheta_i/dt = omega_i + sum_j K_ij sin(theta_j - theta_i) + sigma xi_i(t)
    V(theta)    = -1/2 sum_ij K_ij cos(theta_i - theta_j) - omega^T theta

(dtheta/dt = -grad V, so V never increases without noise.)

Oscillator Ising machine (Wang and Roychowdhury 2019) for couplings J (Ising H = -sum_{i<j}
J_ij s_i s_j), second-harmonic injection locking of strength K_s:

    dphi_i/dt = -K sum_j J_ij sin(phi_i - phi_j) - K_s sin(2 phi_i) + sigma(t) xi_i(t)
    E(phi)    = -K/2 sum_ij J_ij cos(phi_i - phi_j) - K_s/2 sum_i cos(2 phi_i)

Injection drives phases to 0 or pi; s_i = sign(cos phi_i) rounds them to spins, and at
phi in {0, pi}^N the energy equals K H(s) - K_s N / 2. For Max-Cut on weights w use J = -w.
Noise is Euler-Maruyama: phi += drift dt + sigma sqrt(dt) N(0, 1).

Two-oscillator relative phase (Haken-Kelso-Bunz with detuning, Kelso 1995):

    dphi/dt = dw - a sin(phi) - 2 b sin(2 phi) + sigma xi(t)
    V(phi)  = -dw phi - a cos(phi) - b cos(2 phi)
"""

from __future__ import annotations

import math
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
    "AnnealSchedule",
    "KuramotoNetwork",
    "OscillatorIsingMachine",
    "RelativePhaseModel",
    "order_parameter",
    "round_phases",
]


def _noise(state: Tensor, sigma: float, dt: float, generator: torch.Generator | None) -> Tensor:
    """Euler-Maruyama increment sigma sqrt(dt) N(0, 1), seeded."""
    return (
        sigma
        * math.sqrt(dt)
        * torch.randn(state.shape, generator=generator, device=state.device, dtype=state.dtype)
    )


def _check_square_symmetric(m: Tensor, name: str) -> None:
    """Couplings must be square and symmetric for the energy to exist."""
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square (N, N) matrix, got {tuple(m.shape)}")
    if not torch.allclose(m, m.T, atol=1e-6):
        raise ValueError(f"{name} must be symmetric; use ({name} + {name}.T) / 2")


def order_parameter(phases: Tensor) -> Tensor:
    """Kuramoto order parameter r = |mean_j exp(i theta_j)|, (B, N) -> (B,)."""
    return torch.sqrt(torch.cos(phases).mean(-1) ** 2 + torch.sin(phases).mean(-1) ** 2)


class KuramotoNetwork(ContinuousEnergyModel):
    """Kuramoto phase oscillators with symmetric coupling and additive white noise."""

    def __init__(
        self,
        coupling: Tensor,
        omega: Tensor | None = None,
        noise_std: float = 0.0,
        dt: float = 0.01,
        method: str = "euler",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        _check_square_symmetric(coupling, "coupling")
        if dt <= 0 or noise_std < 0:
            raise ValueError(f"dt must be > 0 and noise_std >= 0, got {dt}, {noise_std}")
        dev = resolve_device(device, coupling)
        n = coupling.shape[0]
        self.coupling = coupling.to(device=dev, dtype=dtype)
        self.omega = (
            torch.zeros(n, device=dev, dtype=dtype)
            if omega is None
            else omega.to(device=dev, dtype=dtype)
        )
        self.noise_std = float(noise_std)
        self.dt = float(dt)
        self.method = check_method(method)

    def energy(self, state: Tensor) -> Tensor:
        """V(theta) = -1/2 sum_ij K_ij cos(theta_i - theta_j) - omega^T theta, shape (B,)."""
        c, s = torch.cos(state), torch.sin(state)
        coup = ((c @ self.coupling) * c).sum(-1) + ((s @ self.coupling) * s).sum(-1)
        return -0.5 * coup - state @ self.omega

    def drift(self, state: Tensor) -> Tensor:
        """omega_i + sum_j K_ij sin(theta_j - theta_i), via two matrix products."""
        c, s = torch.cos(state), torch.sin(state)
        return self.omega + c * (s @ self.coupling) - s * (c @ self.coupling)

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One integrator step plus (if noise_std > 0) a seeded noise increment."""
        new = integrate(self.drift, state, self.dt, self.method)
        if self.noise_std > 0:
            new = new + _noise(state, self.noise_std, self.dt, generator)
        return new


@dataclass(frozen=True)
class AnnealSchedule:
    """Linear schedules over a run: noise sigma and injection K_s from start to end values."""

    noise_start: float = 0.5
    noise_end: float = 0.0
    injection_start: float = 0.0
    injection_end: float = 1.0

    def at(self, progress: float) -> tuple[float, float]:
        """(sigma, K_s) at run progress in [0, 1]."""
        p = min(max(progress, 0.0), 1.0)
        return (
            self.noise_start + p * (self.noise_end - self.noise_start),
            self.injection_start + p * (self.injection_end - self.injection_start),
        )


class OscillatorIsingMachine(ContinuousEnergyModel):
    """Oscillator Ising machine: Kuramoto-type phases with second-harmonic injection locking.

    ``step`` uses the fixed ``injection`` and ``noise_std``; ``run`` follows ``schedule`` (when
    given) through :meth:`scheduled_step`, annealing noise down and injection up.
    """

    def __init__(
        self,
        couplings: Tensor,
        coupling_strength: float = 1.0,
        injection: float = 1.0,
        noise_std: float = 0.0,
        dt: float = 0.01,
        schedule: AnnealSchedule | None = None,
        method: str = "euler",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        _check_square_symmetric(couplings, "couplings")
        if dt <= 0 or noise_std < 0 or injection < 0:
            raise ValueError(
                f"dt must be > 0, noise_std and injection >= 0, got {dt}, {noise_std}, {injection}"
            )
        dev = resolve_device(device, couplings)
        self.couplings = couplings.to(device=dev, dtype=dtype)
        self.couplings.fill_diagonal_(0.0)
        self.coupling_strength = float(coupling_strength)
        self.injection = float(injection)
        self.noise_std = float(noise_std)
        self.dt = float(dt)
        self.schedule = schedule
        self.method = check_method(method)

    @classmethod
    def for_maxcut(cls, weights: Tensor, **kwargs: object) -> OscillatorIsingMachine:
        """Max-Cut of weights w is the Ising ground state of J = -w."""
        return cls(-weights, **kwargs)  # type: ignore[arg-type]

    def energy_with(self, state: Tensor, injection: float) -> Tensor:
        """E(phi) for a given injection strength, shape (B,)."""
        c, s = torch.cos(state), torch.sin(state)
        coup = ((c @ self.couplings) * c).sum(-1) + ((s @ self.couplings) * s).sum(-1)
        return -0.5 * self.coupling_strength * coup - 0.5 * injection * torch.cos(2.0 * state).sum(
            -1
        )

    def energy(self, state: Tensor) -> Tensor:
        """E(phi) at the model's fixed injection strength, shape (B,)."""
        return self.energy_with(state, self.injection)

    def _drift(self, injection: float) -> Callable[[Tensor], Tensor]:
        """Drift of the phases for a given injection strength."""

        def drift(phi: Tensor) -> Tensor:
            c, s = torch.cos(phi), torch.sin(phi)
            # sum_j J_ij sin(phi_i - phi_j) = s_i (J c)_i - c_i (J s)_i
            coup = s * (c @ self.couplings) - c * (s @ self.couplings)
            return -self.coupling_strength * coup - injection * torch.sin(2.0 * phi)

        return drift

    def _advance(
        self, state: Tensor, injection: float, sigma: float, generator: torch.Generator | None
    ) -> Tensor:
        new = integrate(self._drift(injection), state, self.dt, self.method)
        if sigma > 0:
            new = new + _noise(state, sigma, self.dt, generator)
        return new

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One step with the fixed injection and noise."""
        return self._advance(state, self.injection, self.noise_std, generator)

    def scheduled_step(
        self, state: Tensor, progress: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One step with (sigma, K_s) from the schedule at ``progress`` (if one is set)."""
        if self.schedule is None:
            return self.step(state, generator)
        sigma, injection = self.schedule.at(progress)
        return self._advance(state, injection, sigma, generator)

    def spins(self, state: Tensor) -> Tensor:
        """Round phases to spins s = sign(cos phi) in {-1, +1}, (B, N)."""
        return round_phases(state)


def round_phases(phases: Tensor, reference: float = 0.0) -> Tensor:
    """Spins s_i = +1 if cos(phi_i - reference) >= 0 else -1, (B, N) -> (B, N)."""
    return torch.where(torch.cos(phases - reference) >= 0, 1.0, -1.0).to(phases.dtype)


class RelativePhaseModel(ContinuousEnergyModel):
    """Two-oscillator relative-phase dynamics dphi/dt = dw - a sin phi - 2b sin 2phi + noise.

    State: (B,) or (B, 1) relative phases.
    """

    def __init__(
        self,
        a: float = 1.0,
        b: float = 1.0,
        delta_omega: float = 0.0,
        noise_std: float = 0.0,
        dt: float = 0.01,
        method: str = "euler",
    ) -> None:
        if dt <= 0 or noise_std < 0:
            raise ValueError(f"dt must be > 0 and noise_std >= 0, got {dt}, {noise_std}")
        self.a = float(a)
        self.b = float(b)
        self.delta_omega = float(delta_omega)
        self.noise_std = float(noise_std)
        self.dt = float(dt)
        self.method = check_method(method)

    def potential(self, phi: Tensor) -> Tensor:
        """V(phi) = -dw phi - a cos phi - b cos 2phi, elementwise."""
        return -self.delta_omega * phi - self.a * torch.cos(phi) - self.b * torch.cos(2.0 * phi)

    def energy(self, state: Tensor) -> Tensor:
        """Potential summed over trailing dims, shape (B,)."""
        v = self.potential(state)
        return v.reshape(v.shape[0], -1).sum(-1)

    def drift(self, phi: Tensor) -> Tensor:
        """dw - a sin phi - 2b sin 2phi."""
        return self.delta_omega - self.a * torch.sin(phi) - 2.0 * self.b * torch.sin(2.0 * phi)

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One integrator step plus (if noise_std > 0) a seeded noise increment."""
        new = integrate(self.drift, state, self.dt, self.method)
        if self.noise_std > 0:
            new = new + _noise(state, self.noise_std, self.dt, generator)
        return new
