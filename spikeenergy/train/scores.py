"""Task metrics: how well class predictions match targets (accuracy, balanced accuracy, macro-F1).

Accuracy alone misleads on imbalanced tasks: a model that labels every beat "normal" scores 0.98
accuracy on a set with 2 % anomalies while its balanced accuracy is 0.50. A suite therefore
names its metric; :data:`TASK_METRICS` maps names to :class:`TaskMetric` (a function of
``(preds, targets, num_classes)`` and its direction), and users add their own with
:func:`register_task_metric`.

Conventions (those of scikit-learn, against which the tests check every number):

* ``preds`` are class indices ``(N,)`` or scores / logits ``(N, num_classes)`` (argmax taken,
  first maximum on ties); ``targets`` are class indices ``(N,)``; numpy arrays, torch tensors or
  sequences. Indices must lie in ``[0, num_classes)``; an empty set raises (no score is 0.0).
* :func:`confusion_matrix`: rows are true classes, columns predicted classes.
* :func:`balanced_accuracy`: the mean recall over the classes present in ``targets``
  (``sklearn.metrics.balanced_accuracy_score``).
* :func:`macro_f1`: the mean F1 over the classes present in ``targets`` or ``preds``; a class
  that is predicted but never true, or true but never predicted, has F1 = 0
  (``sklearn.metrics.f1_score(average="macro", zero_division=0)``). Classes absent from both
  have no defined F1 and are left out, so a test split without some class is not penalised.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikeenergy.registry import Registry

#: A user metric: validated class indices ``(N,)`` int64, targets ``(N,)`` int64, class count.
MetricFn = Callable[[np.ndarray, np.ndarray, int], float]


def _to_numpy(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # torch.Tensor, without importing torch here
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype == object:
        raise ValueError(f"{name} must be numeric class indices or scores; got dtype object")
    return arr


def as_labels(preds: Any, targets: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(preds, targets)`` as int64 class indices ``(N,)`` (scores -> argmax)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise ValueError(f"num_classes must be an integer >= 1; got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1; got {num_classes}")
    p = _to_numpy(preds, "preds")
    t = _to_numpy(targets, "targets")
    if p.ndim == 2:
        if p.shape[1] != num_classes:
            raise ValueError(
                f"preds holds scores for {p.shape[1]} classes but num_classes={num_classes}"
            )
        if p.shape[0] and not np.all(np.isfinite(p)):
            raise ValueError("preds scores hold NaN or inf; the model output is not finite")
        p = p.argmax(axis=1) if p.shape[0] else np.zeros(0, np.int64)
    for name, arr in (("preds", p), ("targets", t)):
        if arr.ndim != 1:
            raise ValueError(
                f"{name} must be class indices of shape (N,)"
                + (" or scores (N, num_classes)" if name == "preds" else "")
                + f"; got shape {arr.shape}"
            )
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.floating) or np.any(arr != np.round(arr)):
                raise ValueError(f"{name} must hold integer class indices; got dtype {arr.dtype}")
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"{p.shape[0]} predictions for {t.shape[0]} targets")
    if p.shape[0] == 0:
        raise ValueError("no predictions to score (empty preds and targets)")
    p, t = p.astype(np.int64), t.astype(np.int64)
    for name, arr in (("preds", p), ("targets", t)):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"{name} hold class indices in [{lo}, {hi}], outside [0, {num_classes - 1}] "
                f"for num_classes={num_classes}"
            )
    return p, t


def confusion_matrix(preds: Any, targets: Any, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` int64 counts: row = true class, column = predicted class."""
    p, t = as_labels(preds, targets, num_classes)
    flat = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def _accuracy(p: np.ndarray, t: np.ndarray, num_classes: int) -> float:
    return float(np.mean(p == t))


def _balanced_accuracy(p: np.ndarray, t: np.ndarray, num_classes: int) -> float:
    cm = confusion_matrix(p, t, num_classes)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def _macro_f1(p: np.ndarray, t: np.ndarray, num_classes: int) -> float:
    cm = confusion_matrix(p, t, num_classes)
    tp = np.diag(cm)
    true_count, pred_count = cm.sum(axis=1), cm.sum(axis=0)
    seen = (true_count + pred_count) > 0
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (true count + predicted count)
    return float(np.mean(2 * tp[seen] / (true_count[seen] + pred_count[seen])))


def accuracy(preds: Any, targets: Any, num_classes: int) -> float:
    """Fraction of predictions equal to their target."""
    return _accuracy(*as_labels(preds, targets, num_classes), num_classes)


def balanced_accuracy(preds: Any, targets: Any, num_classes: int) -> float:
    """Mean recall over the classes present in ``targets`` (0.5 for "always the majority")."""
    return _balanced_accuracy(*as_labels(preds, targets, num_classes), num_classes)


def macro_f1(preds: Any, targets: Any, num_classes: int) -> float:
    """Mean F1 over the classes present in ``targets`` or ``preds`` (see the module docstring)."""
    return _macro_f1(*as_labels(preds, targets, num_classes), num_classes)


@dataclass(frozen=True)
class TaskMetric:
    """A named task metric: ``fn(preds, targets, num_classes) -> float`` and its direction.

    ``fn`` receives validated int64 class indices (scores already reduced by argmax); calling
    the TaskMetric validates, calls ``fn`` and checks that it returned a finite real number.
    """

    name: str
    fn: MetricFn
    higher_is_better: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a task metric needs a non-empty name; got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"task metric {self.name!r}: fn must be callable; got {self.fn!r}")
        if not isinstance(self.higher_is_better, bool):
            raise TypeError(
                f"task metric {self.name!r}: higher_is_better must be True or False; "
                f"got {self.higher_is_better!r}"
            )

    def __call__(self, preds: Any, targets: Any, num_classes: int) -> float:
        """The metric of ``preds`` against ``targets`` (logits or labels), checked to be a float."""
        p, t = as_labels(preds, targets, num_classes)
        value = self.fn(p, t, num_classes)
        if isinstance(value, bool) or not isinstance(value, numbers.Real | np.ndarray):
            raise TypeError(
                f"task metric {self.name!r} returned {type(value).__name__}, expected a float"
            )
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise TypeError(
                    f"task metric {self.name!r} returned an array of shape {value.shape}, "
                    "expected one float"
                )
            value = value.reshape(())[()]
        out = float(value)
        if not math.isfinite(out):
            raise ValueError(
                f"task metric {self.name!r} returned {out} on {len(p)} predictions; a metric "
                "must return a finite number (fix the metric, or the inputs it cannot score)"
            )
        return out

    def is_better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b`` in this metric's direction."""
        return a > b if self.higher_is_better else a < b


#: Task metrics by name (case-insensitive): accuracy, balanced_accuracy, macro_f1, and yours.
TASK_METRICS: Registry[TaskMetric] = Registry("task metric")


def register_task_metric(
    name: str, fn: MetricFn, *, higher_is_better: bool, description: str = ""
) -> TaskMetric:
    """Register a user metric so suites can name it; a second use of a name raises.

    ``fn(preds, targets, num_classes) -> float`` gets int64 class indices; say which direction
    is better (``higher_is_better``), since rankings and equivalence tests depend on it.
    """
    return TASK_METRICS.add(name, TaskMetric(name, fn, higher_is_better, description))


def task_metric(name: str) -> TaskMetric:
    """The registered metric ``name``; an unknown name raises listing the known ones."""
    return TASK_METRICS.get(name)


def task_scores(
    preds: Any, targets: Any, num_classes: int, names: Iterable[str] | None = None
) -> dict[str, float]:
    """``{name: score}`` for the named metrics (all registered ones when ``names`` is None)."""
    p, t = as_labels(preds, targets, num_classes)
    chosen = TASK_METRICS.names() if names is None else list(names)
    return {name: task_metric(name)(p, t, num_classes) for name in chosen}


register_task_metric(
    "accuracy", _accuracy, higher_is_better=True, description="fraction of correct predictions"
)
register_task_metric(
    "balanced_accuracy",
    _balanced_accuracy,
    higher_is_better=True,
    description="mean recall over the classes present in the targets",
)
register_task_metric(
    "macro_f1",
    _macro_f1,
    higher_is_better=True,
    description="mean F1 over the classes present in the targets or predictions",
)
