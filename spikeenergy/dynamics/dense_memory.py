"""Dense associative memories: Krotov-Hopfield polynomial, Demircigil exponential, modern Hopfield.

Binary dense associative memory (Krotov and Hopfield 2016; Demircigil et al. 2017), patterns
xi_mu in {-1, +1}^N, overlaps m_mu(s) = xi_mu . s:

    E(s) = -sum_mu F(m_mu(s))
    F(x) = x^n                 ('polynomial'; 'rectified' uses max(x, 0)^n)
    F(x) = exp(beta x)         ('exponential')

For the exponential family we report E(s) = -(1/beta) log sum_mu exp(beta m_mu), a strictly
increasing transform of Demircigil's -sum_mu exp(m_mu) (beta = 1): same minimisers, same update
rule, no overflow. The asynchronous update sets s_i to whichever of +-1 gives the lower energy
with all other units fixed, so the energy never increases. Capacities: about
N^(n-1) / (2 (2n-3)!! ln N) patterns for degree n, and exponential in N (up to 2^(N/2)) for the
exponential interaction.

Modern continuous Hopfield network (Ramsauer et al. 2020), memories X (P, d), state xi (d,):

    E(xi) = -lse(beta, X xi) + 1/2 xi^T xi + log(P) / beta + M^2 / 2,   M = max_mu ||x_mu||
    xi <- X^T softmax(beta X xi)

The update is a concave-convex procedure step and never increases E; it is the attention
mechanism and is offered as a layer (:class:`HopfieldLayer`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from spikeenergy.dynamics.base import EnergyModel, resolve_device

__all__ = [
    "DenseAssociativeMemory",
    "HopfieldLayer",
    "ModernHopfield",
    "dense_memory_capacity",
    "modern_hopfield_energy",
]


def dense_memory_capacity(n: int, interaction: str, degree: int = 3) -> float:
    """Theoretical number of storable patterns for N units (no-error retrieval scaling).

    'classical': 0.138 N (Amit, Gutfreund and Sompolinsky 1985); 'polynomial':
    N^(n-1) / (2 (2n-3)!! ln N) (Krotov and Hopfield 2016); 'exponential': 2^(N/2)
    (Demircigil et al. 2017, upper end of exp(alpha N) for alpha < ln 2 / 2).
    """
    if interaction == "classical":
        return 0.138 * n
    if interaction == "polynomial":
        double_fact = math.prod(range(2 * degree - 3, 0, -2)) if degree >= 2 else 1
        return n ** (degree - 1) / (2.0 * double_fact * math.log(n))
    if interaction == "exponential":
        return 2.0 ** (n / 2.0)
    raise ValueError(
        f"unknown interaction {interaction!r}; use 'classical', 'polynomial' or 'exponential'"
    )


class DenseAssociativeMemory(EnergyModel):
    """Binary dense associative memory with polynomial or exponential interaction function.

    State: (B, N) tensor of +-1; one ``step`` is one asynchronous sweep over the units.
    """

    def __init__(
        self,
        patterns: Tensor,
        interaction: str = "polynomial",
        degree: int = 3,
        rectified: bool = False,
        beta: float = 1.0,
        order: str = "sequential",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if patterns.ndim != 2:
            raise ValueError(f"patterns must have shape (P, N), got {tuple(patterns.shape)}")
        if not bool(((patterns == 1) | (patterns == -1)).all()):
            raise ValueError("patterns must contain only -1 and +1; map {0,1} data with 2*x - 1")
        if interaction not in ("polynomial", "exponential"):
            raise ValueError(
                f"interaction must be 'polynomial' or 'exponential', got {interaction!r}"
            )
        if interaction == "polynomial" and degree < 2:
            raise ValueError(f"degree must be >= 2 for the polynomial interaction, got {degree}")
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        if order not in ("sequential", "random"):
            raise ValueError(f"order must be 'sequential' or 'random', got {order!r}")
        dev = resolve_device(device, patterns)
        self.patterns = patterns.to(device=dev, dtype=dtype)  # (P, N)
        self.interaction = interaction
        self.degree = int(degree)
        self.rectified = rectified
        self.beta = float(beta)
        self.order = order
        self.n = patterns.shape[1]

    def _f(self, m: Tensor) -> Tensor:
        """Interaction F(m) elementwise (polynomial family)."""
        if self.rectified:
            m = m.clamp_min(0.0)
        return m**self.degree

    def _neg_energy_from_overlaps(self, m: Tensor) -> Tensor:
        """sum_mu F(m_mu) (or the log-sum-exp form), (B, P) -> (B,)."""
        if self.interaction == "exponential":
            return torch.logsumexp(self.beta * m, dim=-1) / self.beta
        return self._f(m).sum(-1)

    def overlaps(self, state: Tensor) -> Tensor:
        """m_mu = xi_mu . s, shape (B, P)."""
        if state.ndim != 2 or state.shape[1] != self.n:
            raise ValueError(f"state must have shape (B, {self.n}), got {tuple(state.shape)}")
        return state.to(self.patterns.dtype) @ self.patterns.T

    def energy(self, state: Tensor) -> Tensor:
        """E(s) = -sum_mu F(xi_mu . s), shape (B,)."""
        return -self._neg_energy_from_overlaps(self.overlaps(state))

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One asynchronous sweep: each unit takes the sign with the lower energy."""
        m = self.overlaps(state)  # (B, P)
        s = state.to(self.patterns.dtype).clone()
        if self.order == "random":
            if generator is None:
                raise ValueError("order='random' needs a generator (or an int seed in run())")
            order = torch.randperm(self.n, generator=generator, device=generator.device).tolist()
        else:
            order = list(range(self.n))
        for i in order:
            xi_i = self.patterns[:, i]  # (P,)
            si = s[:, i : i + 1]  # (B, 1)
            m_plus = m + (1.0 - si) * xi_i  # overlaps with s_i = +1
            m_minus = m + (-1.0 - si) * xi_i  # overlaps with s_i = -1
            if self.interaction == "exponential":
                gain = self._neg_energy_from_overlaps(m_plus) - self._neg_energy_from_overlaps(
                    m_minus
                )
            else:  # difference per pattern first: exact for integer overlaps
                gain = (self._f(m_plus) - self._f(m_minus)).sum(-1)
            new = torch.where(
                gain > 0, torch.ones_like(si[:, 0]), torch.where(gain < 0, -1.0, si[:, 0])
            )
            m = m + (new - si[:, 0]).unsqueeze(-1) * xi_i
            s[:, i] = new
        return s


def modern_hopfield_energy(state: Tensor, memories: Tensor, beta: float) -> Tensor:
    """Ramsauer et al. (2020) energy of states (B, d) given memories (P, d) or (B, P, d)."""
    if memories.ndim == 2:
        memories = memories.unsqueeze(0).expand(state.shape[0], -1, -1)
    p = memories.shape[1]
    scores = torch.einsum("bpd,bd->bp", memories, state)  # (B, P)
    m_max = memories.norm(dim=-1).amax(dim=-1)  # (B,)
    return (
        -torch.logsumexp(beta * scores, dim=-1) / beta
        + 0.5 * (state * state).sum(-1)
        + math.log(p) / beta
        + 0.5 * m_max**2
    )


class ModernHopfield(EnergyModel):
    """Modern continuous Hopfield network as a dynamical model (state: (B, d))."""

    def __init__(
        self,
        memories: Tensor,
        beta: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if memories.ndim != 2:
            raise ValueError(f"memories must have shape (P, d), got {tuple(memories.shape)}")
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.memories = memories.to(device=resolve_device(device, memories), dtype=dtype)
        self.beta = float(beta)

    def energy(self, state: Tensor) -> Tensor:
        """Ramsauer energy per batch item, shape (B,)."""
        return modern_hopfield_energy(state.to(self.memories.dtype), self.memories, self.beta)

    def step(self, state: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """xi <- X^T softmax(beta X xi) (deterministic; the generator is unused)."""
        del generator
        attn = torch.softmax(self.beta * state.to(self.memories.dtype) @ self.memories.T, -1)
        return attn @ self.memories


class HopfieldLayer(nn.Module):
    """Modern Hopfield retrieval as a layer: Z = softmax(beta Q K^T) V (Ramsauer et al. 2020).

    Queries R (B, S, d_query) are projected to Q = R W_Q; stored patterns Y (B, P, d_stored),
    or a learned memory of ``n_memories`` patterns when Y is not given, to K = Y W_K and
    V = Y W_V. ``update_steps > 1`` iterates the Hopfield update xi <- softmax(beta xi K^T) K in
    the key space before the final read-out. ``beta`` defaults to 1/sqrt(d_hidden).
    """

    def __init__(
        self,
        d_query: int,
        d_stored: int,
        d_hidden: int,
        d_out: int,
        beta: float | None = None,
        n_memories: int | None = None,
        update_steps: int = 1,
        generator: torch.Generator | int | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if update_steps < 1:
            raise ValueError(f"update_steps must be >= 1, got {update_steps}")
        gen = generator
        if isinstance(generator, int):
            gen = torch.Generator().manual_seed(generator)
        dev = torch.device(device) if device is not None else None

        def init(rows: int, cols: int) -> nn.Parameter:
            w = torch.randn(rows, cols, generator=gen) / math.sqrt(rows)  # type: ignore[arg-type]
            return nn.Parameter(w.to(dev) if dev is not None else w)

        self.w_q = init(d_query, d_hidden)
        self.w_k = init(d_stored, d_hidden)
        self.w_v = init(d_stored, d_out)
        self.memory = init(n_memories, d_stored) if n_memories is not None else None
        self.beta = float(beta) if beta is not None else 1.0 / math.sqrt(d_hidden)
        self.update_steps = int(update_steps)

    def forward(self, query: Tensor, stored: Tensor | None = None) -> Tensor:
        """(B, S, d_query), optional (B, P, d_stored) -> (B, S, d_out)."""
        if stored is None:
            if self.memory is None:
                raise ValueError("pass stored patterns or build the layer with n_memories=...")
            stored = self.memory.unsqueeze(0).expand(query.shape[0], -1, -1)
        q = query @ self.w_q  # (B, S, H)
        k = stored @ self.w_k  # (B, P, H)
        v = stored @ self.w_v  # (B, P, d_out)
        for _ in range(self.update_steps - 1):
            q = torch.softmax(self.beta * q @ k.transpose(1, 2), dim=-1) @ k
        attn = torch.softmax(self.beta * q @ k.transpose(1, 2), dim=-1)  # (B, S, P)
        return attn @ v
