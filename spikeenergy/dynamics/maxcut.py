"""Max-Cut: G-set-style graph generation, exact and heuristic solvers, the OIM solver, bounds.

Cut of spins s in {-1, +1}^N on symmetric weights W (zero diagonal):

    cut(s) = 1/4 sum_ij W_ij (1 - s_i s_j);  flipping s_i changes it by s_i (W s)_i.

Graph recipe ("rudy-style", as for the G-set of Helmberg and Rendl 2000, generated with
Rinaldi's ``rudy``): ``rudy -rnd_graph n density seed`` places exactly
round(density/100 * n (n-1) / 2) distinct edges chosen uniformly at random (G1: n = 800,
density 6 -> 19176 edges) with weight +1; the +-1 family (G6-G10) adds
``-random 0 1 seed -times 2 -plus -1``, i.e. each weight independently +1 or -1 with probability
1/2. Rudy's own random-number generator is not reproduced, so graphs are G-set-*like* (same
distribution), not the G-set instances; real instance files can be read by :func:`read_gset`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from spikeenergy.dynamics.base import as_generator
from spikeenergy.dynamics.oscillators import AnnealSchedule, OscillatorIsingMachine, round_phases

__all__ = [
    "GSET_BEST_KNOWN",
    "MaxCutResult",
    "brute_force_maxcut",
    "cut_value",
    "goemans_williamson",
    "greedy_maxcut",
    "local_search",
    "oim_maxcut",
    "read_gset",
    "rudy_random_graph",
    "spectral_upper_bound",
]

#: Best known cut values of G-set instances (Benlic and Hao 2013, Breakout Local Search, Table 2;
#: the same values are reported by later work as optimal or best known).
GSET_BEST_KNOWN: dict[str, int] = {
    "G1": 11624, "G2": 11620, "G3": 11622, "G4": 11646, "G5": 11631,
    "G6": 2178, "G7": 2006, "G8": 2005, "G9": 2054, "G10": 2000,
    "G11": 564, "G12": 556, "G13": 582, "G14": 3064, "G15": 3050, "G16": 3052, "G17": 3047,
}  # fmt: skip


def rudy_random_graph(n: int, density: float, signed: bool = False, seed: int = 0) -> np.ndarray:
    """Symmetric (n, n) weight matrix of a rudy-style random graph (see module docstring).

    ``density`` is in percent (6 for the G1-G10 family); ``signed`` gives +-1 weights.
    """
    if n < 2 or not 0 < density <= 100:
        raise ValueError(f"need n >= 2 and 0 < density <= 100 (percent), got {n}, {density}")
    rng = np.random.default_rng(seed)
    n_pairs = n * (n - 1) // 2
    m = int(round(density / 100.0 * n_pairs))
    chosen = rng.choice(n_pairs, size=m, replace=False)
    iu, ju = np.triu_indices(n, k=1)
    w = np.zeros((n, n), dtype=np.float64)
    vals = rng.integers(0, 2, size=m) * 2.0 - 1.0 if signed else np.ones(m)
    w[iu[chosen], ju[chosen]] = vals
    return w + w.T


def read_gset(path: str | Path) -> np.ndarray:
    """Read a G-set file ('n m' then m lines 'i j w', 1-based) into a symmetric (n, n) matrix."""
    lines = Path(path).read_text().split("\n")
    header = lines[0].split()
    if len(header) < 2:
        raise ValueError(f"{path}: first line must be 'n_nodes n_edges', got {lines[0]!r}")
    n, m = int(header[0]), int(header[1])
    rows = [ln.split() for ln in lines[1:] if ln.strip()]
    if len(rows) != m:
        raise ValueError(f"{path}: header announces {m} edges, found {len(rows)}")
    w = np.zeros((n, n), dtype=np.float64)
    for r in rows:
        i, j, v = int(r[0]) - 1, int(r[1]) - 1, float(r[2])
        w[i, j] += v
        w[j, i] += v
    return w


def cut_value(weights: np.ndarray | Tensor, spins: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """cut(s) = 1/4 sum_ij W_ij (1 - s_i s_j) for spins (N,) or (B, N)."""
    if isinstance(weights, Tensor) or isinstance(spins, Tensor):
        return _cut_torch(torch.as_tensor(weights), torch.as_tensor(spins))
    s_np = np.asarray(spins, dtype=np.float64)
    return 0.25 * (weights.sum() - ((s_np @ weights) * s_np).sum(-1))


def _cut_torch(weights: Tensor, spins: Tensor) -> Tensor:
    """Torch version of :func:`cut_value`."""
    s = spins.to(weights.dtype)
    return 0.25 * (weights.sum() - ((s @ weights) * s).sum(-1))


def brute_force_maxcut(weights: np.ndarray, chunk: int = 1 << 16) -> tuple[float, np.ndarray]:
    """Exact max cut by enumerating 2^(n-1) assignments (s_0 fixed to +1); n <= 24."""
    n = weights.shape[0]
    if n > 24:
        raise ValueError(f"brute force over 2^{n - 1} cuts is too slow; n must be <= 24")
    best, best_s = -math.inf, np.ones(n)
    total = 1 << (n - 1)
    bits = np.arange(n - 1)
    for start in range(0, total, chunk):
        idx = np.arange(start, min(start + chunk, total))
        s = np.ones((idx.size, n))
        s[:, 1:] = 1.0 - 2.0 * ((idx[:, None] >> bits) & 1)
        cuts = cut_value(weights, s)
        k = int(np.argmax(cuts))
        if cuts[k] > best:
            best, best_s = float(cuts[k]), s[k].copy()
    return best, best_s


def local_search(weights: np.ndarray, spins: np.ndarray) -> np.ndarray:
    """Steepest-ascent 1-flip local search: flip the best improving vertex until none improves."""
    s = np.array(spins, dtype=np.float64)
    h = weights @ s
    while True:
        gains = s * h
        i = int(np.argmax(gains))
        if gains[i] <= 1e-12:
            return s
        h -= 2.0 * s[i] * weights[:, i]
        s[i] = -s[i]


def greedy_maxcut(weights: np.ndarray, restarts: int = 1, seed: int = 0) -> MaxCutResult:
    """Randomised greedy construction followed by 1-flip local search; best of ``restarts``.

    Vertices are placed in a random order on the side that cuts more weight to the vertices
    already placed (s_v = -sign(sum_placed W_vj s_j)), then :func:`local_search` polishes.
    """
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    rng = np.random.default_rng(seed)
    n = weights.shape[0]
    t0 = time.perf_counter()
    best_cut, best_s, t_best = -math.inf, np.ones(n), 0.0
    for _ in range(restarts):
        s = np.zeros(n)
        h = np.zeros(n)
        for v in rng.permutation(n):
            s[v] = -1.0 if h[v] > 0 else 1.0
            h += weights[:, v] * s[v]
        s = local_search(weights, s)
        c = float(cut_value(weights, s))
        if c > best_cut:
            best_cut, best_s, t_best = c, s, time.perf_counter() - t0
    return MaxCutResult(best_s, best_cut, time.perf_counter() - t0, t_best, "greedy+ls")


@dataclass(frozen=True)
class MaxCutResult:
    """Best cut found: spins (N,), cut value, total wall time and time until the best was found."""

    spins: np.ndarray
    cut: float
    time_s: float
    time_to_best_s: float
    method: str


def oim_maxcut(
    weights: np.ndarray | Tensor,
    steps: int = 2000,
    restarts: int = 16,
    dt: float = 0.05,
    schedule: AnnealSchedule | None = None,
    normalize: bool = True,
    check_every: int = 50,
    polish: bool = False,
    generator: torch.Generator | int | None = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> MaxCutResult:
    """Max-Cut by an annealed oscillator Ising machine, ``restarts`` random phase starts at once.

    Couplings are divided by the mean absolute weighted degree when ``normalize`` (so one schedule
    fits graphs of any density). Every ``check_every`` steps the phases are rounded
    (s = sign(cos phi)) and the best cut so far and its wall time are kept; ``polish`` finishes
    the best spins with 1-flip local search.
    """
    w_np = weights.cpu().numpy() if isinstance(weights, Tensor) else np.asarray(weights)
    n = w_np.shape[0]
    dev = torch.device(device) if device is not None else torch.device("cpu")
    w = torch.as_tensor(w_np, dtype=dtype, device=dev)
    scale = float(np.abs(w_np).sum(1).mean()) if normalize else 1.0
    scale = scale if scale > 0 else 1.0
    sched = schedule if schedule is not None else AnnealSchedule()
    oim = OscillatorIsingMachine.for_maxcut(
        w / scale, dt=dt, schedule=sched, device=dev, dtype=dtype
    )
    gen = as_generator(generator, dev)
    phases = 2 * math.pi * torch.rand(restarts, n, generator=gen, device=dev, dtype=dtype)
    t0 = time.perf_counter()
    best_cut, best_s, t_best = -math.inf, np.ones(n), 0.0
    for k in range(1, steps + 1):
        phases = oim.scheduled_step(phases, (k - 1) / steps, gen)
        if k % check_every == 0 or k == steps:
            cuts = _cut_torch(w, round_phases(phases))
            j = int(torch.argmax(cuts))
            if float(cuts[j]) > best_cut:
                best_cut = float(cuts[j])
                best_s = round_phases(phases[j]).cpu().numpy().astype(np.float64)
                t_best = time.perf_counter() - t0
    method = "oim"
    if polish:
        best_s = local_search(w_np, best_s)
        c = float(cut_value(w_np, best_s))
        if c > best_cut:
            best_cut, t_best = c, time.perf_counter() - t0
        method = "oim+ls"
    return MaxCutResult(best_s, best_cut, time.perf_counter() - t0, t_best, method)


def spectral_upper_bound(weights: np.ndarray, iterations: int = 0, step: float = 1.0) -> float:
    """Upper bound on max cut: (n/4) min_u lambda_max(L + diag(u)), sum(u) = 0 (Delorme-Poljak).

    ``iterations = 0`` gives the plain eigenvalue bound (u = 0); more iterations of projected
    subgradient descent tighten it towards the SDP value (whose 0.878 fraction Goemans-Williamson
    rounding guarantees in expectation). Every iterate is a valid bound; the minimum is returned.
    """
    n = weights.shape[0]
    lap = np.diag(weights.sum(1)) - weights
    u = np.zeros(n)
    best = math.inf
    for k in range(iterations + 1):
        vals, vecs = np.linalg.eigh(lap + np.diag(u))
        best = min(best, n / 4.0 * float(vals[-1]))
        if k == iterations:
            break
        g = vecs[:, -1] ** 2 - 1.0 / n  # subgradient of lambda_max projected onto sum(u) = 0
        gn = float(np.linalg.norm(g))
        if gn < 1e-12:
            break
        u -= step * float(vals[-1]) / math.sqrt(k + 1) * g / gn / math.sqrt(n)
    return best


def goemans_williamson(
    weights: np.ndarray,
    rank: int | None = None,
    sweeps: int = 100,
    roundings: int = 256,
    tol: float = 1e-7,
    seed: int = 0,
) -> tuple[MaxCutResult, float]:
    """Goemans-Williamson: low-rank SDP relaxation, then random-hyperplane rounding.

    The SDP  max 1/4 sum_ij W_ij (1 - v_i . v_j), ||v_i|| = 1  is solved in the Burer-Monteiro
    factorisation (rank k = ceil(sqrt(2 n)) + 1, where its local optima are generically global) by
    the mixing method (Wang, Chang and Kolter 2017): v_i <- -normalize(sum_j W_ij v_j), one row at
    a time, which never decreases the objective. Returns the best of ``roundings`` hyperplane cuts
    and the SDP value reached (an estimate of the SDP bound from below; for non-negative weights
    E[GW cut] >= 0.878 * SDP >= 0.878 * max cut).
    """
    n = weights.shape[0]
    k = rank if rank is not None else int(math.ceil(math.sqrt(2 * n))) + 1
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    v = rng.standard_normal((n, k))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    total = weights.sum()
    prev = -math.inf
    sdp = prev
    for _ in range(sweeps):
        for i in range(n):
            g = weights[i] @ v
            norm = float(np.linalg.norm(g))
            if norm > 0:
                v[i] = -g / norm
        sdp = 0.25 * float(total - np.sum((weights @ v) * v))
        if sdp - prev <= tol * max(abs(sdp), 1.0):
            break
        prev = sdp
    spins = np.where(v @ rng.standard_normal((k, roundings)) >= 0, 1.0, -1.0).T  # (R, n)
    cuts = cut_value(weights, spins)
    j = int(np.argmax(cuts))
    elapsed = time.perf_counter() - t0
    return MaxCutResult(spins[j], float(cuts[j]), elapsed, elapsed, "goemans-williamson"), sdp
