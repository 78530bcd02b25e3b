"""The suite as a protocol: its hash with every result, refusal of a changed suite, k-fold
grids, selection on validation only (planted effects through the report) and a progress bar
without test numbers."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench_fakes import (
    PLANT_TEST_N,
    distinct_run,
    fake_ledger,
    fake_run,
    planted_run,
    planted_suite,
)
from sklearn.metrics import balanced_accuracy_score

from spikeenergy.bench import (
    ResultsStore,
    SerialExecutor,
    SuiteError,
    expand_grid,
    load_suite,
    run_sweep,
    with_overrides,
    write_report,
)
from spikeenergy.bench.runner import SuiteChangedError, progress_text, sample_ids
from spikeenergy.bench.selection import (
    align_samples,
    fold_means,
    per_sample_table,
    per_sample_values,
    results_at_selected,
    select_on_validation,
)
from spikeenergy.bench.suite import FOLD_SEED
from spikeenergy.train import prepare_data

SUITE = """
[suite]
name = "prereg"
description = "a pre-registered suite"
seeds = 2
lambdas = [0.0, 0.1]
margin = 0.01

[train]
epochs = 1

[[datasets]]
name = "digits-dvs"
options = { limit = 20 }

[[models]]
family = "mlp"
hidden = [8]
"""


def _sweep(suite, out: Path, run_fn=fake_run):  # noqa: ANN001, ANN202
    return run_sweep(suite, ResultsStore(out), SerialExecutor(), run_fn=run_fn, progress=False)


# ----------------------------------------------------------------------------- the hash


def test_every_result_carries_the_suite_hash(tmp_path: Path) -> None:
    path = tmp_path / "prereg.toml"
    path.write_text(SUITE)
    suite = load_suite(path)
    assert len(suite.suite_hash) == 64
    assert suite.margin == 0.01
    assert suite.metric == "accuracy"
    res = _sweep(suite, tmp_path / "out")
    assert (res.table["suite_hash"] == suite.suite_hash).all()
    assert (res.table["suite"] == "prereg").all()
    rec = ResultsStore(tmp_path / "out").read(res.table["run_id"].iloc[0])
    assert (rec.suite, rec.suite_hash) == ("prereg", suite.suite_hash)
    # where and how it runs is not part of the protocol; the description is prose
    moved = with_overrides(suite, data_root="/elsewhere", device="cpu")
    assert moved.suite_hash == suite.suite_hash
    path.write_text(SUITE.replace("a pre-registered suite", "reworded"))
    assert load_suite(path).suite_hash == suite.suite_hash
    again = _sweep(moved, tmp_path / "out")  # resumes, nothing refused
    assert (again.already_done, again.ran) == (2 * 2, 0)


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("epochs = 1", "epochs = 2", "train.epochs: 1 -> 2"),
        ("margin = 0.01", "margin = 0.02", "margin: 0.01 -> 0.02"),
        ("seeds = 2", "seeds = 3", "seeds: [0, 1] -> [0, 1, 2]"),
    ],
)
def test_a_suite_edited_after_results_exist_is_refused_under_its_old_name(
    tmp_path: Path, old: str, new: str, changed: str
) -> None:
    path = tmp_path / "prereg.toml"
    path.write_text(SUITE)
    out = tmp_path / "out"
    _sweep(load_suite(path), out)
    before = sorted(p.name for p in (out / "runs").iterdir())
    suite_json = (out / "suite.json").read_text()
    path.write_text(SUITE.replace(old, new))
    calls: list[str] = []
    with pytest.raises(SuiteChangedError, match="give the edited suite a new name") as info:
        _sweep(load_suite(path), out, lambda s: calls.append(s.run_id) or fake_run(s))
    assert changed in str(info.value)
    assert "'prereg'" in str(info.value)
    assert isinstance(info.value, SuiteError)  # a one-line user error on the command line
    # nothing ran, nothing was written
    assert calls == []
    assert sorted(p.name for p in (out / "runs").iterdir()) == before
    assert (out / "suite.json").read_text() == suite_json
    # under a new name the edited suite runs (its results are its own)
    path.write_text(SUITE.replace(old, new).replace('name = "prereg"', 'name = "prereg-v2"'))
    res = _sweep(load_suite(path), tmp_path / "out-v2")
    assert res.failed == 0
    assert (res.table["suite"] == "prereg-v2").all()


# ----------------------------------------------------------------------------- k-fold


KFOLD = SUITE.replace("options = { limit = 20 }", "options = { limit = 60 }\nfolds = 3")


def test_kfold_grid_has_a_fold_axis_with_disjoint_test_folds(tmp_path: Path) -> None:
    path = tmp_path / "kf.toml"
    path.write_text(KFOLD)
    suite = load_suite(path)
    specs = expand_grid(suite)
    # 1 dataset x 1 model x 2 lambdas x 2 seeds x 3 folds = 12 runs, folds vary fastest
    assert len(specs) == suite.n_runs == 12
    assert [(s.lam, s.seed, s.fold) for s in specs[:4]] == [
        (0.0, 0, 0),
        (0.0, 0, 1),
        (0.0, 0, 2),
        (0.0, 1, 0),
    ]
    assert len({s.run_id for s in specs}) == 12
    for s in specs:
        d = s.config.data
        assert (d.folds, d.fold, d.fold_seed) == (3, s.fold, FOLD_SEED)
    # the fold split depends on the suite's fold seed, never on the training seed
    pool_size = 60 + 60  # digits-dvs limit 60: train and test pooled
    tests: dict[tuple[int, int], list[int]] = {}
    for s in specs:
        if s.lam != 0:
            continue
        data = prepare_data(s.config.data, s.seed)
        test, val, train = sample_ids(data.test), sample_ids(data.val), sample_ids(data.train)
        tests[(s.seed, s.fold)] = test  # type: ignore[index]
        # val from training folds
        assert not set(test) & set(train)
        assert not set(test) & set(val)
        assert not set(train) & set(val)
        assert len(train) + len(val) + len(test) == pool_size
    for fold in range(3):
        assert tests[(0, fold)] == tests[(1, fold)]  # every seed tests the same recordings
    folds = [set(tests[(0, f)]) for f in range(3)]
    assert all(not (folds[a] & folds[b]) for a in range(3) for b in range(a + 1, 3))
    assert set().union(*folds) == set(range(pool_size))
    assert all(len(f) == 40 for f in folds)  # 120 recordings, 3 stratified folds


# ----------------------------------------------------------------------------- suite keys


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("margin = 0.01", "margin = 0", r"margin=0 must be a number in \(0, 1\)"),
        ("margin = 0.01", 'margin = "1pt"', "margin='1pt' must be a number"),
        ("margin = 0.01", 'metric = "f2"', "metric='f2' is not a task metric; known: .*macro_f1"),
        ("options = { limit = 20 }", "options = { limit = 20 }\nfolds = 1", "folds=1 must be"),
        ("options = { limit = 20 }", "options = { limit = 20 }\nfolds = 2.5", "folds=2.5 must"),
        (
            "options = { limit = 20 }",
            "options = { limit = 20 }\nfolds = 3\ntest_per_class = 2",
            "test_per_class cannot be combined with folds",
        ),
        ("epochs = 1", 'epochs = 1\nmetric = "macro_f1"', r"\[train\] must not set \['metric'\]"),
    ],
)
def test_protocol_keys_are_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace(old, new, 1))
    with pytest.raises(SuiteError, match=message) as info:
        load_suite(path)
    assert str(path) in str(info.value)


def test_suite_metric_selects_the_checkpoint_too(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(SUITE.replace("margin = 0.01", 'margin = 0.02\nmetric = "macro_f1"'))
    suite = load_suite(path)
    assert (suite.metric, suite.margin) == ("macro_f1", 0.02)
    assert all(s.config.train.metric == "macro_f1" for s in expand_grid(suite))


# ----------------------------------------------------------------------------- progress bar


def test_progress_bar_shows_validation_never_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prereg.toml"
    path.write_text(SUITE)
    run_sweep(
        load_suite(path),
        ResultsStore(tmp_path / "out"),
        SerialExecutor(),
        run_fn=distinct_run,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "best val accuracy 0.654" in err  # the validation accuracy of the runs
    assert "0.123" not in err  # their test accuracy is never printed
    assert progress_text(None, "macro_f1", 2) == "best val macro_f1 - failed 2"


# ----------------------------------------------------------------------------- planted effects


def _energy(lam: float, seed: int) -> float:
    """Joules per inference of a planted run (the fake ledger priced on cmos45)."""
    e = 1.0 / (1.0 + 10.0 * lam) * (1.0 + 0.01 * seed)
    return float(fake_ledger(e)["energy"]["cmos45"]["energy_j"])


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A planted sweep (1 model x 4 lambdas x 3 seeds, margin 0.01), shared by the tests."""
    out = tmp_path_factory.mktemp("planted") / "out"
    _sweep(planted_suite(margin=0.01), out, planted_run)
    return out


def test_report_selects_on_validation_the_lambda_a_hand_computation_expects(
    planted: Path,
) -> None:
    out = planted
    path = write_report(out, n_boot=1000, figures=False)
    # By hand (bench_fakes): on validation lambdas 0.01 and 0.1 differ from lambda = 0 by
    # exactly 0 (10 samples fixed, 10 broken of 1,000 per seed: a per-sample variance of 0.02,
    # so a standard error of about sqrt(0.02 / 3000) = 0.0026, far inside +-0.01); lambda 1
    # loses exactly 0.03, beyond the 1-point margin whatever its interval. The largest lambda
    # that passes is 0.1, although lambda 1 has the best test accuracy of the three.
    sel = (out / "selected.md").read_text().splitlines()
    assert len(sel) == 3  # header, rule, one (dataset, model)
    cells = [c.strip() for c in sel[2].strip("|").split("|")]
    heads = [c.strip() for c in sel[0].strip("|").split("|")]
    row = dict(zip(heads, cells, strict=True))
    assert row["selected lambda (val)"] == "0.1"
    assert row["lambdas passing (val)"] == "2"
    assert row["val Δaccuracy [95% CI]"].startswith("0 [")
    # test, looked at once: seeds 0-2 err on perm[:50 + s] at lambda = 0 and perm[:55 + s] at
    # 0.1 of 500 samples: accuracy 0.898 and 0.888 (means over seeds), difference -0.010; the
    # difference sits on the margin, so TOST cannot declare it equivalent on test
    assert row["test accuracy λ=0"] == "0.898"
    assert row["test accuracy selected"] == "0.888"
    assert row["test Δaccuracy [95% CI]"].startswith("-0.01 [")
    assert row["equivalent on test"] == "no"
    assert row["seeds x test samples"] == "3 x 500"
    e0 = np.mean([_energy(0.0, s) for s in range(3)])
    e1 = np.mean([_energy(0.1, s) for s in range(3)])
    assert row["J/inference λ=0 (cmos45)"] == f"{e0:.3e}"
    assert row["J/inference selected (cmos45)"] == f"{e1:.3e}"
    assert row["energy ratio [95% CI]"].startswith(f"{e1 / e0:.4g} [")
    text = path.read_text()
    for part in (
        "## Summary",
        "## Operating points",
        "### Validation: every lambda",
        "## ANOVA of test accuracy",
        "Mixed model",
        "## Training efficiency",
        "energy J/inference (cmos45)",
        "spike rate (proxy)",
        "margin ±0.01",
        "hash `" + planted_suite().suite_hash[:12],
    ):
        assert part in text, part
    for name in ("summary.csv", "summary.md", "selected.md", "anova.md", "efficiency.md"):
        assert (out / name).stat().st_size > 0
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["lam"]) == {0.0, 0.01, 0.1, 1.0}
    assert (summary["n"] == 3).all()


def test_a_planted_three_point_loss_is_not_selected_with_a_one_point_margin(
    planted: Path,
) -> None:
    out = planted
    recs = list(ResultsStore(out).records())
    val, lacking = per_sample_table(recs, "val")
    # nothing lacking; lambdas x seeds x samples rows
    assert lacking == []
    assert len(val) == 4 * 3 * 1000
    choices, effects = select_on_validation(val, 0.01, n_boot=1000)
    eff = effects.set_index("lam")
    assert eff.loc[1.0, "diff"] == pytest.approx(-0.03, abs=1e-12)  # 30 of 1,000 more wrong
    assert not eff.loc[1.0, "equivalent"]
    assert eff.loc[1.0, "p_tost_holm"] > 0.5
    assert eff.loc[0.1, "equivalent"]
    assert eff.loc[0.01, "equivalent"]
    assert choices["lam"].tolist() == [0.1]
    # with a 5-point margin the same 3-point loss lies inside it (CI about -0.03 +- 0.006):
    # now lambda 1 passes and, as the largest, is selected
    wide, _ = select_on_validation(val, 0.05, n_boot=1000)
    assert wide["lam"].tolist() == [1.0]
    assert wide["n_equivalent"].tolist() == [3]
    # test results are those of the selected lambda only
    test, _ = per_sample_table(recs, "test")
    seeds = fold_means(ResultsStore(out).table())
    res = results_at_selected(choices, test, seeds, 0.01, n_boot=1000)
    assert res["test_diff"].iloc[0] == pytest.approx(-0.01, abs=1e-12)


def test_planted_kfold_sweep_pairs_on_pooled_sample_ids(tmp_path: Path) -> None:
    suite = planted_suite()
    ds = suite.datasets[0]
    suite = replace(suite, datasets=(replace(ds, data=replace(ds.data, folds=2)),))
    out = tmp_path / "out"
    res = _sweep(suite, out, planted_run)
    assert len(res.table) == 4 * 3 * 2
    assert set(res.table["fold"]) == {0.0, 1.0}
    recs = list(ResultsStore(out).records())
    test, _ = per_sample_table(recs, "test")
    # fold f tests ids f*500 ... f*500 + 499: the two folds together test 1,000 samples
    assert sorted(test["sample"].unique()) == list(range(2 * PLANT_TEST_N))
    seeds = fold_means(res.table, {"a": 2})
    assert len(seeds) == 4 * 3  # one row per (lambda, seed) over both folds
    val, _ = per_sample_table(recs, "val")
    choices, _ = select_on_validation(val, 0.01, n_boot=1000)
    out_sel = results_at_selected(choices, test, seeds, 0.01, n_boot=1000)
    assert out_sel["lam"].tolist() == [0.1]
    assert out_sel["n_samples"].tolist() == [1000]
    assert out_sel["test_diff"].iloc[0] == pytest.approx(-0.01, abs=1e-12)


# ----------------------------------------------------------------------------- building blocks


def test_fold_means_weights_folds_by_their_sizes() -> None:
    base = {
        "dataset": "d",
        "model": "m",
        "lam": 0.0,
        "seed": 0,
        "status": "ok",
        "target": "cmos45",
        "run_id": "x",
    }
    rows = [
        {
            **base,
            "fold": 0,
            "accuracy": 0.9,
            "n_test": 100,
            "val_accuracy": 0.8,
            "n_val": 50,
            "steps": 10,
            "steps_to_target": 5.0,
            "energy_j": 1.0,
        },
        {
            **base,
            "fold": 1,
            "accuracy": 0.7,
            "n_test": 300,
            "val_accuracy": 0.6,
            "n_val": 150,
            "steps": 20,
            "steps_to_target": math.nan,
            "energy_j": 3.0,
        },
        {
            **base,
            "seed": 1,
            "fold": 0,
            "accuracy": 0.5,
            "n_test": 100,
            "val_accuracy": 0.5,
            "n_val": 50,
            "steps": 10,
            "steps_to_target": 5.0,
            "energy_j": 1.0,
        },
    ]
    out = fold_means(pd.DataFrame(rows), {"d": 2})
    assert len(out) == 1  # seed 1 lacks fold 1: left out
    r = out.iloc[0]
    # (0.9 * 100 + 0.7 * 300) / 400 = 0.75; (0.8 * 50 + 0.6 * 150) / 200 = 0.65;
    # energy (1 * 100 + 3 * 300) / 400 = 2.5; one fold never reached the target -> NaN
    assert r["accuracy"] == pytest.approx(0.75)
    assert r["val_accuracy"] == pytest.approx(0.65)
    assert r["energy_j"] == pytest.approx(2.5)
    assert r["steps"] == 15
    assert math.isnan(r["steps_to_target"])
    assert r["n_test"] == 400
    assert math.isnan(r["fold"])


def test_per_sample_values_are_correctness_or_jackknife_pseudo_values() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 60)
    preds = np.where(rng.random(60) < 0.7, labels, rng.integers(0, 4, 60))
    acc = per_sample_values(preds, labels, "accuracy", 4)
    assert acc.tolist() == (preds == labels).astype(float).tolist()
    bal = per_sample_values(preds, labels, "balanced_accuracy", 4)
    # reference: leave-one-out with scikit-learn, pseudo-value n m - (n - 1) m(-i)
    n = len(labels)
    whole = balanced_accuracy_score(labels, preds)
    ref = [
        n * whole - (n - 1) * balanced_accuracy_score(np.delete(labels, i), np.delete(preds, i))
        for i in range(n)
    ]
    assert bal == pytest.approx(ref, abs=1e-12)
    assert bal.mean() == pytest.approx(whole, abs=0.02)  # the bias-corrected metric
    # the jackknife of accuracy, a mean, gives back correctness exactly
    from spikeenergy.bench.selection import task_metric

    loo = np.array(
        [task_metric("accuracy")(np.delete(preds, i), np.delete(labels, i), 4) for i in range(n)]
    )
    assert n * acc.mean() - (n - 1) * loo == pytest.approx(acc, abs=1e-12)


def test_samples_nested_in_seeds_are_paired_within_each_seed() -> None:
    # seed 0 validated on ids 0..9, seed 1 on ids 20..27 (8 samples): same ids at both lambdas
    rows = []
    for seed, ids in ((0, range(10)), (1, range(20, 28))):
        for lam in (0.0, 0.1):
            for i in ids:
                rows.append(
                    {
                        "dataset": "d",
                        "model": "m",
                        "lam": lam,
                        "seed": seed,
                        "fold": 0,
                        "sample": i,
                        "label": i % 3,
                        "value": float((i + seed) % 2),
                    }
                )
    out = align_samples(pd.DataFrame(rows))
    sizes = out.groupby(["seed", "lam"]).size()
    assert (sizes == 8).all()  # cut to the smallest seed's count
    assert set(out["sample"]) == set(range(8))  # seeded ranks, shared columns
    # the relabelling is the same at both lambdas, so each pair is one original sample
    for seed in (0, 1):
        a = out[(out["seed"] == seed) & (out["lam"] == 0.0)].set_index("sample")["label"]
        b = out[(out["seed"] == seed) & (out["lam"] == 0.1)].set_index("sample")["label"]
        assert a.sort_index().tolist() == b.sort_index().tolist()
    bad = pd.DataFrame(rows)
    bad.loc[(bad["seed"] == 0) & (bad["lam"] == 0.1) & (bad["sample"] == 0), "sample"] = 99
    with pytest.raises(ValueError, match="cannot be paired"):
        align_samples(bad)


def _identical_table(n_seeds: int, n_samples: int) -> pd.DataFrame:
    """Per-sample table where lambda 0.1 predicts exactly as lambda 0 (90 % correct)."""
    rows = [
        {
            "dataset": "d",
            "model": "m",
            "lam": lam,
            "seed": s,
            "fold": 0,
            "sample": i,
            "label": i % 10,
            "value": float(i % 10 != 0),
        }
        for lam in (0.0, 0.1)
        for s in range(n_seeds)
        for i in range(n_samples)
    ]
    return pd.DataFrame(rows)


def test_identical_predictions_are_tested_exactly_not_by_a_zero_variance_bootstrap() -> None:
    # 2 seeds x 30 samples, no pair differs: the bootstrap would have zero variance and pass.
    # A difference of -0.01 needs >= 1 % of the 60 pairs to differ; the chance of none is at
    # most 0.99^60 = 0.5472, so equivalence is not shown; the interval is
    # +-(1 - 0.025^(1/60)) = +-0.0596
    choices, eff = select_on_validation(_identical_table(2, 30), 0.01, n_boot=1000)
    row = eff.iloc[0]
    assert row["n_differing"] == 0
    assert row["method"] == "exact: no pair of 60 differs"
    assert row["p_tost"] == pytest.approx(0.99**60)
    assert not row["equivalent"]
    assert row["diff_hi"] == pytest.approx(1 - 0.025 ** (1 / 60)) == pytest.approx(0.05963, 1e-3)
    assert choices["lam"].tolist() == [0.0]
    # 3 seeds x 1,000 samples: 0.99^3000 = 8e-14, identical predictions are equivalent
    choices, eff = select_on_validation(_identical_table(3, 1000), 0.01, n_boot=1000)
    assert eff.iloc[0]["p_tost"] == pytest.approx(0.99**3000)
    assert eff.iloc[0]["equivalent"]
    assert choices["lam"].tolist() == [0.1]
    # for a metric other than accuracy no such bound holds: not testable
    _, eff = select_on_validation(_identical_table(3, 1000), 0.01, 1000, metric="macro_f1")
    assert eff.iloc[0]["p_tost"] == 1
    assert "not testable" in eff.iloc[0]["method"]


def test_fold_means_keep_the_lambda_exactly_as_stored() -> None:
    # three folds at lambda 1e-8: a mean over them is 1.0000000000000002e-08 in floating point,
    # which would no longer match the selected lambda (the operating point's test row vanished)
    rows = [
        {
            "dataset": "d",
            "model": "m",
            "lam": 1e-8,
            "seed": 3,
            "fold": f,
            "status": "ok",
            "run_id": f"r{f}",
            "accuracy": 0.5,
            "n_test": 10,
            "n_val": 5,
        }
        for f in range(3)
    ]
    assert np.mean([1e-8] * 3) != 1e-8  # the trap
    merged = fold_means(pd.DataFrame(rows), {"d": 3})
    assert merged["lam"].tolist() == [1e-8]
    assert merged["seed"].tolist() == [3]
