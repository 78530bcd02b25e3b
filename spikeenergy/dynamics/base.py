"""Common interface of the energy-based dynamical models: energy, step, run -> Trajectory.

Every model in :mod:`spikeenergy.dynamics` is a descent process on an energy landscape. The
shared contract is small so that tests and benchmarks treat all of them alike:

* ``energy(state) -> Tensor (B,)``: the Lyapunov / energy function of a batch of states;
* ``step(state, generator=None) -> state``: one update (a sweep, a map, or one integrator step);
* ``run(state, steps=... | t_span=..., generator=...) -> Trajectory``: many steps, recording the
  states and energies along the way, time-major ``(T, B, ...)``.

Continuous-time models set ``dt`` (so ``t_span`` can be converted to a number of steps); noisy
models draw noise only from the ``torch.Generator`` they are given (or one seeded from an int).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ContinuousEnergyModel",
    "EnergyModel",
    "Trajectory",
    "as_generator",
    "integrate",
    "logcosh",
]


@dataclass(frozen=True)
class Trajectory:
    """States and energies recorded along one batched run, time-major.

    ``states`` is ``(T, B, ...)`` (or ``None`` when states were not kept), ``energies`` is
    ``(T, B)`` and ``times`` is ``(T,)`` in model time units (step index times ``dt``; the step
    index for discrete-time models). Index 0 is the initial state; the last entry is always the
    final state, whatever ``record_every`` was.
    """

    states: Tensor | None
    energies: Tensor
    times: Tensor
    final: Tensor
    steps_taken: int
    converged: bool

    @property
    def final_energy(self) -> Tensor:
        """Energy of the final state, shape (B,)."""
        return self.energies[-1]

    def max_energy_increase(self) -> Tensor:
        """Largest energy increase between consecutive recorded points, per batch item (B,).

        Non-positive for a proper descent: this is what the monotonicity tests check.
        """
        if self.energies.shape[0] < 2:
            return torch.zeros_like(self.energies[0])
        return (self.energies[1:] - self.energies[:-1]).amax(dim=0)


def as_generator(
    generator: torch.Generator | int | None, device: torch.device | str | None = None
) -> torch.Generator | None:
    """Return a torch.Generator on ``device`` from a Generator, an int seed, or None."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise TypeError(
            f"generator must be a torch.Generator, an int seed or None, got {type(generator)!r}"
        )
    gen = torch.Generator(device=torch.device(device) if device is not None else "cpu")
    gen.manual_seed(generator)
    return gen


def logcosh(x: Tensor) -> Tensor:
    """Numerically stable log(cosh(x)) = |x| + softplus(-2|x|) - log 2."""
    ax = x.abs()
    return ax + torch.nn.functional.softplus(-2.0 * ax) - math.log(2.0)


def integrate(drift: Callable[[Tensor], Tensor], x: Tensor, dt: float, method: str) -> Tensor:
    """One deterministic integrator step of dx/dt = drift(x) ('euler' or 'rk4')."""
    if method == "euler":
        return x + dt * drift(x)
    if method == "rk4":
        k1 = drift(x)
        k2 = drift(x + 0.5 * dt * k1)
        k3 = drift(x + 0.5 * dt * k2)
        k4 = drift(x + dt * k3)
        return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    raise ValueError(f"unknown integration method {method!r}; use 'euler' or 'rk4'")


def check_method(method: str) -> str:
    """Validate an integrator name early (in constructors) so errors name the fix."""
    if method not in ("euler", "rk4"):
        raise ValueError(f"unknown integration method {method!r}; use 'euler' or 'rk4'")
    return method


def resolve_device(device: torch.device | str | None, like: Tensor | None = None) -> torch.device:
    """The device to place model tensors on: the argument, else that of ``like``, else CPU."""
    if device is not None:
        return torch.device(device)
    if like is not None:
        return like.device
    return torch.device("cpu")


class EnergyModel:
    """Base class: subclasses implement ``energy`` and ``step``; ``run`` is shared.

    ``dt`` is ``None`` for discrete-time models and the integration step for continuous ones.
    """

    dt: float | None = None

    def energy(self, state: Tensor) -> Tensor:
        """Energy of a batch of states, shape (B,)."""
        raise NotImplementedError

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One update of a batch of states; noise (if any) comes only from ``generator``."""
        raise NotImplementedError

    def scheduled_step(
        self, state: Tensor, progress: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One update at run progress in [0, 1); annealed models override this, others step."""
        del progress
        return self.step(state, generator)

    def _num_steps(self, steps: int | None, t_span: float | tuple[float, float] | None) -> int:
        """Resolve exactly one of ``steps`` / ``t_span`` into a step count."""
        if (steps is None) == (t_span is None):
            raise ValueError("pass exactly one of steps=... or t_span=... to run()")
        if steps is not None:
            if steps < 0:
                raise ValueError(f"steps must be >= 0, got {steps}")
            return int(steps)
        if self.dt is None:
            raise ValueError(
                f"{type(self).__name__} is a discrete-time model; pass steps=... instead of t_span"
            )
        assert t_span is not None
        if isinstance(t_span, tuple):
            duration = float(t_span[1]) - float(t_span[0])
        else:
            duration = float(t_span)
        if duration < 0:
            raise ValueError(f"t_span must describe a non-negative duration, got {t_span}")
        return int(round(duration / self.dt))

    def run(
        self,
        state: Tensor,
        steps: int | None = None,
        t_span: float | tuple[float, float] | None = None,
        generator: torch.Generator | int | None = None,
        record_every: int = 1,
        keep_states: bool = True,
        tol: float | None = None,
    ) -> Trajectory:
        """Iterate ``step`` from ``state``; record states and energies every ``record_every``.

        ``tol`` stops early once no batch item moved by more than ``tol`` (max-abs) in a step
        (``tol=0`` is an exact fixed point, natural for discrete models).
        """
        if record_every < 1:
            raise ValueError(f"record_every must be >= 1, got {record_every}")
        n_steps = self._num_steps(steps, t_span)
        gen = as_generator(generator, state.device)
        t0 = float(t_span[0]) if isinstance(t_span, tuple) else 0.0
        dt = 1.0 if self.dt is None else self.dt
        states: list[Tensor] = [state] if keep_states else []
        energies: list[Tensor] = [self.energy(state)]
        times: list[float] = [t0]
        converged = False
        k = 0
        for k in range(1, n_steps + 1):
            new = self.scheduled_step(state, (k - 1) / max(n_steps, 1), gen)
            if tol is not None:
                converged = bool((new - state).abs().max() <= tol) if new.numel() else True
            state = new
            if k % record_every == 0 or k == n_steps or converged:
                if keep_states:
                    states.append(state)
                energies.append(self.energy(state))
                times.append(t0 + k * dt)
            if converged:
                break
        return Trajectory(
            states=torch.stack(states) if keep_states else None,
            energies=torch.stack(energies),
            times=torch.tensor(times, dtype=torch.float64),
            final=state,
            steps_taken=k if n_steps > 0 else 0,
            converged=converged,
        )


class ContinuousEnergyModel(EnergyModel):
    """Continuous-time model: ``dt`` is the integration step, so ``run(t_span=...)`` works."""

    dt: float
