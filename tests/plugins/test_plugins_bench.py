"""User datasets in benchmark sweeps: worker processes import the suite's ``modules``, the
command line's ``--module`` and installed entry points; a name registered only in the parent
fails in the worker with the hint; every ok run keeps its selected model as runs/<id>.pt; the
[train] table's ``metric`` and ``class_weights`` reach the runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import plugin_fakes
import pytest
from sklearn.metrics import balanced_accuracy_score

from spikeenergy.bench import ResultsStore, SerialExecutor, load_suite, run_sweep
from spikeenergy.bench.suite import SuiteError
from spikeenergy.cli import main
from spikeenergy.data import DatasetCard, DatasetEntry, register_dataset
from spikeenergy.export.checkpoint import checkpoint_test_data
from spikeenergy.train import TrainConfig, load_checkpoint
from spikeenergy.train.loop import evaluate, make_energy_term


@pytest.fixture
def cleanup(tmp_path: Path) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    plugin_fakes.forget(tmp_path, names)


def test_bench_workers_import_user_modules(
    tmp_path: Path,
    cleanup: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("WALK_MARKERS", str(markers))  # inherited by the worker processes
    # 1. a .py file named by the suite, relative to the suite file
    plugin_fakes.write_module(tmp_path / "suites" / "mods", "walk_suite_mod", "walk-suite")
    # 2. a module named on the command line, importable by name
    plugin_fakes.write_module(tmp_path / "pkgs", "walk_cli_mod", "walk-cli-mod")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))  # spawned workers get sys.path too
    # 3. an installed package with an entry point
    plugin_fakes.write_entry_point_package(
        tmp_path / "site", "walkplug2", "walkplug2_ds", "walk-ep2"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    # 4. registered in this process only (as in a notebook): workers cannot know it
    card = DatasetCard("walk-parent", (3, 1, 2), 2, "(none)", "(none)", "(none)")
    register_dataset(DatasetEntry(card, lambda root, split, download, n=8: None))
    cleanup += ["walk-suite", "walk-cli-mod", "walk-ep2", "walk-parent"]
    suite = tmp_path / "suites" / "walk.toml"
    suite.write_text(
        plugin_fakes.suite_text(
            "walk-bench",
            ["walk-suite", "walk-cli-mod", "walk-ep2", "walk-parent"],
            suite_extra='modules = ["mods/walk_suite_mod.py"]',
            epochs=2,
        )
    )
    out = tmp_path / "results"
    with pytest.raises(SuiteError, match="unknown dataset 'walk-cli-mod'"):
        load_suite(suite)  # without --module the suite does not validate
    rc = main(
        [
            "bench",
            str(suite),
            "--module",
            "walk_cli_mod",
            "--out",
            str(out),
            "--workers",
            "2",
            "--device",
            "cpu",
            "--no-progress",
            "--no-report",
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 1, printed  # the parent-only dataset failed
    assert "suite walk-bench: 4 runs (0 already done, 3 ok, 1 failed" in printed

    store = ResultsStore(out)
    recs = {r.dataset: r for r in store.records()}
    assert {d for d, r in recs.items() if r.status == "ok"} == {
        "walk-suite",
        "walk-cli-mod",
        "walk-ep2",
    }
    err = recs["walk-parent"].error or ""
    assert err.startswith("UnknownNameError: unknown dataset 'walk-parent'; known: ")
    worker_pid = int(err.split("imported by this process (pid ")[1].split(")")[0])
    assert worker_pid != os.getpid()  # said by the worker, which names what it imported
    for name in (
        "walkplug2_ds",
        "walk_cli_mod",
        "spikeenergy_user_walk_suite_mod_",
        "[suite] modules",
        "--module MOD",
        "'spikeenergy.datasets'",
    ):
        assert name in err
    # each module was imported by worker processes, not only by this one
    for name in ("walk-suite", "walk-cli-mod", "walk-ep2"):
        pids = {int(p.name.rsplit(".", 1)[1]) for p in markers.glob(f"{name}.*")}
        assert pids - {os.getpid()}, (name, pids)
    assert store.read(recs["walk-suite"].run_id).metrics is not None
    # the suite as stored names the modules the workers imported (absolute paths)
    stored = (out / "suite.json").read_text()
    assert str(tmp_path / "suites" / "mods" / "walk_suite_mod.py") in stored
    assert '"walk_cli_mod"' in stored

    # every ok run keeps its selected model: rebuilt from the file it predicts what the record
    # says the run predicted on the test split
    assert not store.checkpoint_path(recs["walk-parent"].run_id).exists()
    for name in ("walk-suite", "walk-cli-mod", "walk-ep2"):
        rec = recs[name]
        model, payload = load_checkpoint(store.checkpoint_path(rec.run_id))
        assert payload["config"] == rec.config
        test, _ = checkpoint_test_data(payload)
        cfg = TrainConfig.from_dict(payload["config"]["train"])
        preds = evaluate(model, test, make_energy_term(cfg), cfg, measure=False)["preds"]
        assert rec.metrics is not None
        assert [int(p) for p in preds] == rec.metrics["test"]["predictions"]
    assert not list(out.rglob(".*.tmp"))  # atomic writes left nothing behind

    # the checkpoint exports like one of `train --out`
    report = tmp_path / "energy.csv"
    ckpt = store.checkpoint_path(recs["walk-cli-mod"].run_id)
    assert (
        main(
            [
                "export",
                str(ckpt),
                "--out",
                str(report),
                "--module",
                "walk_cli_mod",
                "--target",
                "loihi",
                "--no-progress",
            ]
        )
        == 0
    )
    assert report.stat().st_size > 0


def test_suite_metric_and_class_weights_reach_the_runs(tmp_path: Path, cleanup: list[str]) -> None:
    path = plugin_fakes.write_module(tmp_path, "walk_metric_mod", "walk-metric")
    cleanup.append("walk-metric")
    suite = tmp_path / "walk.toml"
    suite.write_text(
        plugin_fakes.suite_text(
            "walk-metric",
            ["walk-metric"],
            options="{ n = 16 }",
            epochs=2,
            suite_extra=(
                f'modules = ["{path}"]\nkeep_checkpoints = false\nmetric = "balanced_accuracy"'
            ),
            train_extra='class_weights = "balanced"',
        )
    )
    s = load_suite(suite)
    assert s.modules == (str(path),)
    assert s.keep_checkpoints is False
    assert (s.train.metric, s.train.class_weights) == ("balanced_accuracy", "balanced")
    res = run_sweep(s, ResultsStore(tmp_path / "out"), SerialExecutor(), progress=False)
    assert (res.ok, res.failed) == (1, 0)
    (rec,) = ResultsStore(tmp_path / "out").records()
    assert rec.config["train"]["metric"] == "balanced_accuracy"
    assert rec.config["train"]["class_weights"] == "balanced"
    m = rec.metrics
    assert m is not None
    assert m["metric"] == "balanced_accuracy"
    # the selected epoch's score is the balanced accuracy of the kept model on validation
    # (recomputed here with scikit-learn from the stored labels and predictions)
    val = m["val"]
    assert m["best_val_score"] == pytest.approx(
        balanced_accuracy_score(val["labels"], val["predictions"]), abs=1e-12
    )
    assert not ResultsStore(tmp_path / "out").checkpoint_path(rec.run_id).exists()  # opted out


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ('modules = "walk.py"', r"\[suite\] modules must be a list"),
        ("modules = [3]", r"\[suite\] modules: \[suite\] modules entry 3 must be a module name"),
        (
            'modules = ["mods/absent.py"]',
            r"\[suite\] modules: module file '.*suites/mods/absent\.py' "
            "not found",
        ),
        ('modules = ["walk_absent_module"]', r"no module named 'walk_absent_module'"),
        ('modules = ["walk-mod"]', "neither a dotted module name"),
        ('keep_checkpoints = "no"', r"\[suite\] keep_checkpoints must be true or false"),
    ],
)
def test_suite_modules_and_keep_checkpoints_are_checked(
    extra: str, match: str, tmp_path: Path
) -> None:
    suite = tmp_path / "suites" / "bad.toml"
    suite.parent.mkdir()
    suite.write_text(
        plugin_fakes.suite_text("bad", ["digits-dvs"], suite_extra=extra, options="{ limit = 8 }")
    )
    with pytest.raises(SuiteError, match=f"^{suite}: .*{match}"):
        load_suite(suite)


def test_unknown_suite_metric_fails_when_the_suite_loads(tmp_path: Path) -> None:
    suite = tmp_path / "bad.toml"
    suite.write_text(
        plugin_fakes.suite_text(
            "bad", ["digits-dvs"], suite_extra='metric = "f2"', options="{ limit = 8 }"
        )
    )
    with pytest.raises(SuiteError, match=r"\[suite\] metric='f2' is not a task metric; known: "):
        load_suite(suite)
