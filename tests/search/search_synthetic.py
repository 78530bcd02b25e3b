"""A cheap two-objective problem with a known Pareto front (the search tests' fixture).

Parameters x in {0, 0.1, ..., 1} and y in {0, 1, 2}: accuracy = x, energy = x^2 + y. For any
x, y > 0 only adds energy, so the front is exactly {(x, x^2)} at y = 0 (11 points).
"""

from __future__ import annotations

import time
from typing import Any

X_CHOICES = tuple(round(0.1 * i, 1) for i in range(11))
Y_CHOICES = (0, 1, 2)


def known_front() -> list[tuple[float, float]]:
    """The true front: (accuracy, energy) = (x, x^2) for every x choice."""
    return [(x, x * x) for x in X_CHOICES]


def synthetic_objective(trial: Any, sleep_s: float = 0.0) -> tuple[float, float]:
    """accuracy = x, energy = x^2 + y (``sleep_s`` mimics a slow trial)."""
    x = float(trial.suggest_categorical("x", list(X_CHOICES)))
    y = int(trial.suggest_categorical("y", list(Y_CHOICES)))
    if sleep_s:
        time.sleep(sleep_s)
    return x, x * x + y


__all__ = ["X_CHOICES", "Y_CHOICES", "known_front", "synthetic_objective"]
