"""Task metrics against scikit-learn and hand-computed numbers; the metric registry."""

import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from spikeenergy.registry import UnknownNameError
from spikeenergy.train.scores import (
    TASK_METRICS,
    TaskMetric,
    accuracy,
    as_labels,
    balanced_accuracy,
    confusion_matrix,
    macro_f1,
    register_task_metric,
    task_metric,
    task_scores,
)

# planted confusion matrix (rows true, columns predicted), 5 classes:
#   class 0: majority, mostly right; class 1: often confused with 0; class 2: never predicted;
#   class 3: never true but predicted (a false alarm class); class 4: absent from both
PLANTED = np.array(
    [
        [50, 3, 0, 2, 0],
        [6, 9, 0, 1, 0],
        [4, 2, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
)


def from_confusion(cm: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (preds, targets) whose confusion matrix is ``cm``."""
    true, pred = np.nonzero(cm)
    reps = cm[true, pred]
    targets, preds = np.repeat(true, reps), np.repeat(pred, reps)
    order = np.random.default_rng(seed).permutation(targets.size)
    return preds[order], targets[order]


def test_planted_confusion_matrix_against_sklearn():
    preds, targets = from_confusion(PLANTED)
    cm = confusion_matrix(preds, targets, 5)
    np.testing.assert_array_equal(cm, PLANTED)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(targets, preds, labels=range(5)))
    assert accuracy(preds, targets, 5) == pytest.approx(skm.accuracy_score(targets, preds))
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        sk_bal = skm.balanced_accuracy_score(targets, preds)
    assert balanced_accuracy(preds, targets, 5) == pytest.approx(sk_bal)
    sk_f1 = skm.f1_score(targets, preds, average="macro", zero_division=0)
    assert macro_f1(preds, targets, 5) == pytest.approx(sk_f1)


def test_planted_confusion_matrix_by_hand():
    preds, targets = from_confusion(PLANTED)
    # 77 samples, 59 correct (50 + 9)
    assert accuracy(preds, targets, 5) == pytest.approx(59 / 77)
    # recalls of the classes present in the targets (0, 1, 2): 50/55, 9/16, 0/6
    assert balanced_accuracy(preds, targets, 5) == pytest.approx((50 / 55 + 9 / 16 + 0) / 3)
    # F1 = 2 TP / (true + predicted) over classes 0-3 (class 4 absent from both):
    # 0: 100 / (55 + 60); 1: 18 / (16 + 14); 2: 0 / (6 + 0); 3: 0 / (0 + 3)
    assert macro_f1(preds, targets, 5) == pytest.approx((100 / 115 + 18 / 30) / 4)


@pytest.mark.parametrize("seed", range(20))
def test_random_labels_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 7))
    n = int(rng.integers(1, 60))
    weights = rng.dirichlet(np.ones(n_classes) * 0.5)  # imbalanced, classes may be missing
    targets = rng.choice(n_classes, size=n, p=weights)
    preds = np.where(rng.random(n) < 0.6, targets, rng.integers(0, n_classes, n))
    np.testing.assert_array_equal(
        confusion_matrix(preds, targets, n_classes),
        skm.confusion_matrix(targets, preds, labels=range(n_classes)),
    )
    assert accuracy(preds, targets, n_classes) == pytest.approx(skm.accuracy_score(targets, preds))
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore")
        sk_bal = skm.balanced_accuracy_score(targets, preds)
    assert balanced_accuracy(preds, targets, n_classes) == pytest.approx(sk_bal)
    sk_f1 = skm.f1_score(targets, preds, average="macro", zero_division=0)
    assert macro_f1(preds, targets, n_classes) == pytest.approx(sk_f1)


def test_majority_voter_on_an_imbalanced_set():
    # 98 normal beats, 2 anomalies, the model says "normal" every time:
    # accuracy 0.98, balanced accuracy (1 + 0) / 2 = 0.5,
    # macro-F1 = (2*98 / (98 + 100) + 0) / 2 = (196/198) / 2 = 0.494949...
    targets = np.array([0] * 98 + [1] * 2)
    preds = np.zeros(100, dtype=np.int64)
    scores = task_scores(preds, targets, 2, ["accuracy", "balanced_accuracy", "macro_f1"])
    assert scores == pytest.approx(
        {"accuracy": 0.98, "balanced_accuracy": 0.5, "macro_f1": 196 / 198 / 2}
    )


def test_inputs_tensors_scores_and_sequences_agree():
    preds, targets = from_confusion(PLANTED, seed=3)
    want = macro_f1(preds, targets, 5)
    # logits (N, C): argmax gives the class; torch tensors and lists are accepted
    logits = np.full((preds.size, 5), -1.0)
    logits[np.arange(preds.size), preds] = 2.0
    assert macro_f1(torch.from_numpy(logits), torch.from_numpy(targets), 5) == want
    assert macro_f1(preds.tolist(), targets.tolist(), 5) == want
    assert macro_f1(preds.astype(np.float32), targets, 5) == want  # integral floats are fine
    p, t = as_labels(torch.tensor(preds), targets, 5)
    assert p.dtype == np.int64
    assert t.dtype == np.int64


@pytest.mark.parametrize(
    ("preds", "targets", "n", "match"),
    [
        ([], [], 3, "no predictions to score"),
        ([0, 1], [0], 3, "2 predictions for 1 targets"),
        ([0, 3], [0, 1], 3, r"preds hold class indices in \[0, 3\], outside \[0, 2\]"),
        ([0, 1], [-1, 1], 3, "targets hold class indices in"),
        ([0.5, 1], [0, 1], 3, "integer class indices"),
        ([[0.1, 0.9]], [1], 3, "scores for 2 classes but num_classes=3"),
        ([[np.nan, 0.1, 0.2]], [1], 3, "NaN or inf"),
        ([0, 1], [[0, 1]], 3, r"targets must be class indices of shape \(N,\)"),
        ([0, 1], [0, 1], 0, "num_classes must be an integer >= 1"),
        ([0, 1], [0, 1], 2.0, "num_classes must be an integer >= 1"),
    ],
)
def test_bad_inputs_raise_clear_errors(preds, targets, n, match):
    with pytest.raises(ValueError, match=match):
        accuracy(preds, targets, n)


def test_registry_names_directions_and_user_metrics():
    assert {"accuracy", "balanced_accuracy", "macro_f1"} <= set(TASK_METRICS.names())
    assert all(task_metric(n).higher_is_better for n in ("accuracy", "balanced_accuracy"))
    assert task_metric("Macro_F1") is task_metric("macro_f1")  # case-insensitive, as configs
    with pytest.raises(UnknownNameError, match="unknown task metric 'f2'; known: .*macro_f1"):
        task_metric("f2")
    with pytest.raises(ValueError, match="already registered"):
        register_task_metric("accuracy", lambda p, t, n: 0.0, higher_is_better=True)

    # a user metric: error rate, lower is better; it receives validated int64 class indices
    seen = {}

    def error_rate(p, t, n):
        seen["dtypes"] = (p.dtype, t.dtype, n)
        return float(np.mean(p != t))

    metric = TaskMetric("error_rate", error_rate, higher_is_better=False)
    preds, targets = from_confusion(PLANTED)
    assert metric(torch.tensor(preds), targets, 5) == pytest.approx(18 / 77)
    assert seen["dtypes"] == (np.int64, np.int64, 5)
    assert metric.is_better(0.1, 0.2)
    assert not metric.is_better(0.2, 0.1)
    assert task_metric("accuracy").is_better(0.9, 0.8)


def test_user_metrics_must_return_a_finite_number():
    preds, targets = from_confusion(PLANTED)
    with pytest.raises(ValueError, match="returned nan on 77 predictions"):
        TaskMetric("nan", lambda p, t, n: float("nan"))(preds, targets, 5)
    with pytest.raises(TypeError, match="returned str, expected a float"):
        TaskMetric("text", lambda p, t, n: "0.9")(preds, targets, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="array of shape \\(2,\\)"):
        TaskMetric("vec", lambda p, t, n: np.zeros(2))(preds, targets, 5)
    assert TaskMetric("np", lambda p, t, n: np.float32(0.25))(preds, targets, 5) == 0.25
    with pytest.raises(TypeError, match="higher_is_better must be True or False"):
        TaskMetric("x", lambda p, t, n: 0.0, higher_is_better="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fn must be callable"):
        TaskMetric("x", 3)  # type: ignore[arg-type]


def test_a_registered_user_metric_is_found_by_name(monkeypatch):
    import spikeenergy.train.scores as scores
    from spikeenergy.registry import Registry

    fresh: Registry[TaskMetric] = Registry("task metric")  # leave the shared registry as it is
    monkeypatch.setattr(scores, "TASK_METRICS", fresh)
    m = register_task_metric(
        "recall_of_1", lambda p, t, n: float(np.mean(p[t == 1] == 1)), higher_is_better=True
    )
    assert task_metric("recall_of_1") is m
    assert fresh.names() == ["recall_of_1"]
    preds, targets = from_confusion(PLANTED)
    assert task_scores(preds, targets, 5) == {"recall_of_1": pytest.approx(9 / 16)}
