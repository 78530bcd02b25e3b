"""Reduced-data benchmark: draws, the selection protocol, confidence intervals, a tiny run."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from spikeenergy.energy import get_cost_model
from spikeenergy.models import ModelSpec
from spikeenergy.onepass import OpCounts
from spikeenergy.onepass.benchmark import (
    Context,
    Draw,
    Method,
    Pool,
    Trial,
    _drop_overlapping,
    backprop_method,
    checkpoint_epochs,
    dam_counts,
    draw_indices,
    markdown_table,
    mean_ci95,
    plot_accuracy,
    run_reduced_data,
    select_and_fit,
    selection_table,
    sklearn_method,
    spiking_hebbian,
    summarize,
)


def test_draw_indices_k_per_class_and_seeded():
    y = torch.tensor([0] * 5 + [1] * 7 + [2] * 2)
    idx = draw_indices(y, 3, np.random.default_rng(0))
    counts = np.bincount(y[idx].numpy())
    assert counts.tolist() == [3, 3, 2]  # class 2 only has 2 examples
    assert np.array_equal(idx, draw_indices(y, 3, np.random.default_rng(0)))


def test_mean_ci95_matches_scipy():
    vals = [0.5, 0.6, 0.55, 0.7, 0.65]
    m, h = mean_ci95(vals)
    lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=np.mean(vals), scale=stats.sem(vals))
    assert m == pytest.approx(np.mean(vals))
    assert h == pytest.approx((hi - lo) / 2)


def test_checkpoint_epochs():
    assert checkpoint_epochs(400, 20) == tuple(range(20, 401, 20))
    assert checkpoint_epochs(5, 20) == (1, 2, 3, 4, 5)
    # ceil(31 j / 4) for j = 1..4
    assert checkpoint_epochs(31, 4) == (8, 16, 24, 31)
    with pytest.raises(ValueError, match="epochs"):
        checkpoint_epochs(0, 3)


def _draw(k, n_classes=2, seed=7):
    """Training values >= 0 (sample id in feature 0), test values all -1: trials can tell."""
    y = torch.arange(n_classes).repeat_interleave(k)
    x = torch.zeros(1, len(y), 1)
    x[0, :, 0] = torch.arange(len(y), dtype=torch.float32)
    xt = -torch.ones(1, 4, 1)
    yt = torch.tensor([0, 1, 0, 1])[: 4 if n_classes > 1 else 0]
    return Draw(x, y, xt, yt, n_classes, seed, torch.device("cpu"))


class _Recorder:
    """A fake method: validation accuracy per setting (and per checkpoint) looked up in a table;
    records what every trial saw."""

    def __init__(self, table, epochs=()):
        self.table, self.epochs, self.calls = table, tuple(epochs), []

    def __call__(self, xtr, ytr, xev, yev, p, ctx: Context) -> Trial:
        on_test = bool((xev < 0).all())
        self.calls.append(
            {
                "setting": p["s"],
                "n_train": xtr.shape[1],
                "train_ids": set(xtr[0, :, 0].tolist()),
                "eval_ids": set(xev[0, :, 0].tolist()),
                "test": on_test,
                "ctx": ctx,
            }
        )
        if on_test:
            return Trial((0.5,), yev.numel(), 0.0, OpCounts(), OpCounts())
        curve = tuple(self.table[p["s"]]) if self.epochs else (self.table[p["s"]],)
        at = self.epochs if self.epochs else ()
        one = OpCounts.executed(acs=1.0)
        return Trial(curve, yev.numel(), 0.0, one, one, len(curve), at)


def test_selection_uses_only_the_draw_and_tests_once():
    rec = _Recorder({"a": 0.5, "b": 0.9, "c": 0.9})
    m = Method("fake", rec, ({"s": "a"}, {"s": "b"}, {"s": "c"}))
    d = _draw(k=4)  # 2 classes x 4 examples -> min(4, 3) = 3 folds
    res = select_and_fit(m, d, max_folds=3)
    val = [c for c in rec.calls if not c["test"]]
    test = [c for c in rec.calls if c["test"]]
    # 3 candidates x 3 folds, one test run
    assert len(val) == 3 * 3
    assert len(test) == 1
    for c in val:  # validation folds: disjoint parts of the draw, never the test set
        assert not c["train_ids"] & c["eval_ids"]
        assert c["train_ids"] | c["eval_ids"] == set(range(8))
    held = [c["eval_ids"] for c in val if c["setting"] == "a"]
    # a partition
    assert set().union(*held) == set(range(8))
    assert sum(map(len, held)) == 8
    assert res.setting == {"s": "b"}  # best; tie with "c" goes to the earlier candidate
    assert res.val_accuracy == pytest.approx(0.9)
    assert res.folds == 3
    assert test[0]["n_train"] == 8  # refit on the whole draw
    # selection cost: every fold trial's training ops + its evaluations
    assert res.select_ops.acs == pytest.approx(9 * (1 + 8 / 3))


def test_k1_uses_the_default_without_validation():
    rec = _Recorder({"a": 0.1, "b": 0.9})
    m = Method("fake", rec, ({"s": "a"}, {"s": "b"}), default=0, backprop=True)
    res = select_and_fit(m, _draw(k=1))
    assert [c["test"] for c in rec.calls] == [True]
    assert res.setting == {"s": "a"}
    assert res.folds == 0
    assert np.isnan(res.val_accuracy)
    assert rec.calls[0]["ctx"].epochs is None  # the full step budget


def test_epochs_chosen_on_pooled_validation_ties_to_later():
    # checkpoints after 10, 20, 30 epochs; setting "x" peaks at 20 (ties 20 and 30 -> 30 for y)
    rec = _Recorder({"x": [0.2, 0.8, 0.6], "y": [0.3, 0.7, 0.7]}, epochs=(10, 20, 30))
    m = Method("fake", rec, ({"s": "y"}, {"s": "x"}), backprop=True)
    res = select_and_fit(m, _draw(k=2))
    assert res.setting == {"s": "x"}
    assert res.epochs == 20
    final = [c for c in rec.calls if c["test"]][0]
    assert final["ctx"].epochs == 20
    assert not final["ctx"].validate
    folds = [c for c in rec.calls if not c["test"]]
    assert {c["ctx"].ref_size for c in folds} == {2}  # 2 x 2 examples, 2 folds -> 2 to train
    rec2 = _Recorder({"y": [0.3, 0.7, 0.7]}, epochs=(10, 20, 30))
    assert select_and_fit(Method("f", rec2, ({"s": "y"},), backprop=True), _draw(2)).epochs == 30


def test_windows_overlapping_validation_are_dropped():
    groups = np.empty(5, dtype=object)
    groups[:] = [(1, 1), (1, 1), (1, 1), (2, 1), (1, 2)]
    spans = np.array([[0, 200], [100, 300], [300, 500], [100, 300], [100, 300]])
    # validation window 1 = recording (1, 1) samples 100-300: window 0 (0-200) overlaps it;
    # window 2 starts at 300 (stop exclusive: no shared sample); 3 and 4 are other recordings
    kept = _drop_overlapping(np.array([0, 2, 3, 4]), np.array([1]), groups, spans)
    assert kept.tolist() == [2, 3, 4]


def test_budget_rule_and_target_checks():
    one = Method("one", _Recorder({"a": 1.0}), ({"s": "a"},))
    two = Method("two", _Recorder({"a": 1.0}), ({"s": "a"}, {"s": "a"}))
    y = torch.tensor([0, 0, 1, 1])
    pool = Pool("toy", torch.zeros(1, 4, 1), y, torch.zeros(1, 4, 1), y, 2)
    with pytest.raises(ValueError, match="same for every method"):
        run_reduced_data(pool, {"one": one, "two": two}, sizes=(1,), draws=1)
    with pytest.raises(ValueError, match="default"):
        Method("bad", _Recorder({}), ({"s": "a"},), default=3)


def _toy_pool():
    g = torch.Generator().manual_seed(0)

    def make(n):
        y = torch.tensor([i % 2 for i in range(n)])
        x = (torch.rand(4, n, 2, 3, 3, generator=g) < 0.1).float()  # (T, N, P, H, W)
        for i, c in enumerate(y.tolist()):
            x[:, i, c] += (torch.rand(4, 3, 3, generator=g) < 0.5).float()
        return x, y

    xtr, ytr = make(30)
    xte, yte = make(20)
    return Pool("toy", xtr, ytr, xte, yte, 2)


def test_tiny_benchmark_end_to_end(tmp_path):
    pool = _toy_pool()
    methods = {
        "dam-counts": dam_counts(betas=(5.0, 1.0)),
        "hebbian-snn": spiking_hebbian(target_stds=(1.0, 2.0), hidden=32),
        "knn": sklearn_method("knn", grid=(1, 3)),
        "svm": sklearn_method("svm", grid=(1.0, 10.0)),
        "mlp": backprop_method(
            "mlp",
            ModelSpec(family="mlp", hidden=(8,), time_mode="sum"),
            lrs=(1e-2, 3e-3),
            max_steps=6,
            checkpoints=3,
        ),
    }
    df = run_reduced_data(pool, methods, sizes=(1, 3), draws=2)
    assert len(df) == 2 * 2 * len(methods)
    assert df["accuracy"].between(0, 1).all()
    # the classes are obvious (class c lights up polarity c): one-pass models get them right
    assert df[df.method == "dam-counts"]["accuracy"].min() >= 0.9
    # same draw -> same training set for every method
    assert df.groupby(["per_class", "draw"])["n_train"].nunique().max() == 1
    # k = 1: default setting, no folds; k = 3: 3 folds and a validation score
    k1, k3 = df[df.per_class == 1], df[df.per_class == 3]
    assert (k1["folds"] == 0).all()
    assert k1["val_accuracy"].isna().all()
    assert (k3["folds"] == 3).all()
    assert k3["val_accuracy"].between(0, 1).all()
    assert set(k1[k1.method == "svm"]["setting"]) == {'{"C": 1.0}'}
    mlp = df[df.method == "mlp"]
    # 6 training examples, 3 folds -> 4 per fold run, batch 32: 1 step per epoch, 6 epochs,
    # checkpoints after 2, 4, 6 epochs
    assert set(mlp[mlp.per_class == 3]["epochs"]) <= {2, 4, 6}
    assert (mlp["train_energy_uj"] > 0).all()
    assert (k3["select_energy_uj"] > 0).all()
    # every energy is the ledger-named counts priced by the cost model
    row = df[df.method == "hebbian-snn"].iloc[0]
    counts = {c: row[f"infer_{c}"] for c in OpCounts().as_counts()}
    cost = get_cost_model("cmos45")
    assert row["infer_energy_nj"] == pytest.approx(cost.price(counts)["energy_pj"] * 1e-3)
    assert row["infer_acs"] > 0
    assert row["infer_spikes"] > 0
    summary = summarize(df)
    assert set(summary["draws"]) == {2}
    table = markdown_table(summary)
    assert "| dam-counts |" in table
    assert "3/class" in table
    assert "selection s" in table
    assert "| toy | mlp | 3 |" in selection_table(summary)
    plot_accuracy(summary, str(tmp_path / "a.png"))
    assert (tmp_path / "a.png").stat().st_size > 0


def _hand_summary() -> pd.DataFrame:
    rows = []
    for method, backprop in (("svm", False), ("mlp", True)):
        for k, acc, ci in ((1, 0.5, 0.1), (3, 0.75, float("nan"))):
            if method == "svm" and k == 1:
                continue  # a method absent at one size leaves its cell empty
            rows.append(
                dict(
                    dataset="toy",
                    method=method,
                    backprop=backprop,
                    per_class=k,
                    draws=2,
                    accuracy=acc,
                    ci95=ci,
                    train_time_s=1.5,
                    select_time_s=0.25,
                    train_energy_uj=12.0,
                    select_energy_uj=3.0,
                    infer_energy_nj=0.5,
                    chosen='{"C": 1.0} x2',
                    median_epochs=4.0 if backprop else float("nan"),
                )
            )
    return pd.DataFrame(rows)


def test_tables_by_hand():
    # accuracy 0.5 +- 0.1 -> "50.0 ± 10.0" (percent, one decimal); costs at the largest k (3)
    # with 3 significant digits: 1.5 s, 0.25 s, 12 uJ, 3 uJ, 0.5 nJ
    assert markdown_table(_hand_summary()) == (
        "### toy\n\n"
        "| method | 1/class | 3/class | train s (3/class) | selection s | train uJ "
        "| selection uJ | inference nJ/sample |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| svm |  | 75.0 ± nan | 1.5 | 0.25 | 12 | 3 | 0.5 |\n"
        "| mlp | 50.0 ± 10.0 | 75.0 ± nan | 1.5 | 0.25 | 12 | 3 | 0.5 |\n"
    )
    assert selection_table(_hand_summary()).splitlines()[2:] == [
        '| toy | mlp | 1 | {"C": 1.0} x2 | 4 |',
        '| toy | mlp | 3 | {"C": 1.0} x2 | 4 |',
        '| toy | svm | 3 | {"C": 1.0} x2 |  |',  # no epochs for a closed-form method
    ]


def test_plot_leaves_the_callers_backend_alone(tmp_path):
    import matplotlib

    with matplotlib.rc_context({"backend": "svg"}):
        plot_accuracy(_hand_summary(), str(tmp_path / "a.png"))
        assert matplotlib.get_backend() == "svg"  # matplotlib.use("Agg") would switch it
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # written atomically
