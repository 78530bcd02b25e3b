"""Energy-constrained architecture search: Optuna NSGA-II over accuracy and energy, glial gating.

See docs/search.md; ``spikeenergy search SUITE.toml`` is the command-line entry point.
"""

import spikeenergy.extras.search  # noqa: F401  (one line naming [search] if it is missing)
from spikeenergy.search.space import (
    Candidate,
    SearchSpace,
    candidate_from_params,
    suggest_candidate,
)
from spikeenergy.search.study import (
    DIRECTIONS,
    ArchitectureObjective,
    DominancePruning,
    SearchConfig,
    load_suite,
    make_storage,
    open_study,
    run_search,
    trials_frame,
    write_outputs,
)

__all__ = [
    "DIRECTIONS",
    "ArchitectureObjective",
    "Candidate",
    "DominancePruning",
    "SearchConfig",
    "SearchSpace",
    "candidate_from_params",
    "load_suite",
    "make_storage",
    "open_study",
    "run_search",
    "suggest_candidate",
    "trials_frame",
    "write_outputs",
]
