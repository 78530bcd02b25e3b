"""Energy-based dynamical models: computation as descent on an energy landscape.

Every model exposes ``energy(state) -> (B,)``, ``step(state, generator=None)`` and
``run(state, steps=... | t_span=..., generator=...) -> Trajectory`` (see :mod:`.base`).
Families: classical and graded Hopfield networks (:mod:`.hopfield`), dense associative and
modern Hopfield memories (:mod:`.dense_memory`), restricted Boltzmann machines (:mod:`.rbm`),
phase-oscillator networks and the oscillator Ising machine (:mod:`.oscillators`), proximal
dynamics such as LCA (:mod:`.proximal`) and Max-Cut tooling (:mod:`.maxcut`).
"""

from spikeenergy.dynamics.base import ContinuousEnergyModel, EnergyModel, Trajectory, as_generator
from spikeenergy.dynamics.dense_memory import (
    DenseAssociativeMemory,
    HopfieldLayer,
    ModernHopfield,
    dense_memory_capacity,
    modern_hopfield_energy,
)
from spikeenergy.dynamics.hopfield import (
    GradedHopfieldNetwork,
    HopfieldNetwork,
    hebbian_weights,
    pseudo_inverse_weights,
)
from spikeenergy.dynamics.maxcut import (
    GSET_BEST_KNOWN,
    MaxCutResult,
    brute_force_maxcut,
    cut_value,
    goemans_williamson,
    greedy_maxcut,
    local_search,
    oim_maxcut,
    read_gset,
    rudy_random_graph,
    spectral_upper_bound,
)
from spikeenergy.dynamics.oscillators import (
    AnnealSchedule,
    KuramotoNetwork,
    OscillatorIsingMachine,
    RelativePhaseModel,
    order_parameter,
    round_phases,
)
from spikeenergy.dynamics.proximal import (
    LCA,
    BoxConstraint,
    L1Penalty,
    ProximalGradientFlow,
    SimplexConstraint,
    hard_threshold,
    project_simplex,
    soft_threshold,
)
from spikeenergy.dynamics.rbm import (
    RBM,
    RBMTrainConfig,
    ais_log_partition,
    exact_log_partition,
    log_likelihood,
    train_rbm,
)

__all__ = [
    "GSET_BEST_KNOWN",
    "LCA",
    "RBM",
    "AnnealSchedule",
    "BoxConstraint",
    "ContinuousEnergyModel",
    "DenseAssociativeMemory",
    "EnergyModel",
    "GradedHopfieldNetwork",
    "HopfieldLayer",
    "HopfieldNetwork",
    "KuramotoNetwork",
    "L1Penalty",
    "MaxCutResult",
    "ModernHopfield",
    "OscillatorIsingMachine",
    "ProximalGradientFlow",
    "RBMTrainConfig",
    "RelativePhaseModel",
    "SimplexConstraint",
    "Trajectory",
    "ais_log_partition",
    "as_generator",
    "brute_force_maxcut",
    "cut_value",
    "dense_memory_capacity",
    "exact_log_partition",
    "goemans_williamson",
    "greedy_maxcut",
    "hard_threshold",
    "hebbian_weights",
    "local_search",
    "log_likelihood",
    "modern_hopfield_energy",
    "oim_maxcut",
    "order_parameter",
    "project_simplex",
    "pseudo_inverse_weights",
    "read_gset",
    "round_phases",
    "rudy_random_graph",
    "soft_threshold",
    "spectral_upper_bound",
    "train_rbm",
]
