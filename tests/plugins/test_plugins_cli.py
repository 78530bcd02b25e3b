"""A dataset registered in a user module (outside the package) through `spikeenergy train`,
`export`, `search` and `datasets` (``--module``), with ``--dataset-option key=value``; bad
modules and options are one line, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import plugin_fakes
import pytest

from spikeenergy.cli import main
from spikeenergy.cli.common import parse_dataset_options
from spikeenergy.models import ModelSpec
from spikeenergy.train import DataConfig, ExperimentConfig, build_seeded_model, save_checkpoint
from spikeenergy.train.scores import TASK_METRICS

TINY = [
    "--epochs",
    "2",
    "--time-bins",
    "3",
    "--hidden",
    "4",
    "--model",
    "mlp",
    "--batch-size",
    "4",
    "--device",
    "cpu",
    "--no-progress",
]


@pytest.fixture
def cleanup(tmp_path: Path) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    plugin_fakes.forget(tmp_path, names)


@pytest.fixture
def user_metric() -> Iterator[str]:
    """A task metric a user module registers; forgotten after the test."""
    yield "walk_recall_fast"
    if "walk_recall_fast" in TASK_METRICS:
        TASK_METRICS.unregister("walk_recall_fast")


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err, err
    return err


def test_train_and_export_a_user_dataset(
    tmp_path: Path,
    cleanup: list[str],
    user_metric: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = plugin_fakes.write_module(tmp_path / "mods", "walk_cli", "walk-cli")
    cleanup.append("walk-cli")
    out = tmp_path / "run"
    # without the module this process does not know the name, and says how to add it
    assert main(["train", "--dataset", "walk-cli", *TINY]) == 2
    err = one_line(capsys)
    assert err.startswith("spikeenergy train: error: unknown dataset 'walk-cli'; known: ")
    assert "): none. A dataset registered in your own code" in err
    assert "--module MOD" in err

    # a second user module registers a task metric: recall of class 1 ("fast")
    metric_mod = tmp_path / "mods" / "walk_metric.py"
    metric_mod.write_text(
        "from spikeenergy.train.scores import register_task_metric\n"
        "register_task_metric('walk_recall_fast', lambda p, t, n: float((p[t == 1] == 1).mean()),"
        " higher_is_better=True)\n"
    )
    argv = [
        "train",
        "--module",
        str(path),
        "--module",
        str(metric_mod),
        "--metric",
        "walk_recall_fast",
        "--class-weights",
        "balanced",
        "--dataset",
        "walk-cli",
        "--dataset-option",
        "n=10",
        "--dataset-option",
        "seed=3",
        "--val-fraction",
        "0.2",
        "--out",
        str(out),
        *TINY,
    ]
    assert main(argv) == 0
    assert "dataset walk-cli  model mlp" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["data"]["name"] == "walk-cli"
    assert m["config"]["data"]["options"] == {"n": 10, "seed": 3}  # TOML ints, not strings
    assert m["config"]["train"]["class_weights"] == "balanced"
    assert m["metric"] == m["config"]["train"]["metric"] == "walk_recall_fast"
    # the kept epoch's score is the user metric on the validation split, recomputed here
    val = m["val"]
    fast = [p for p, t in zip(val["predictions"], val["labels"], strict=True) if t == 1]
    assert m["best_val_score"] == sum(p == 1 for p in fast) / len(fast)
    assert m["test"]["scores"]["walk_recall_fast"] == pytest.approx(
        m["test"]["confusion"][1][1] / sum(m["test"]["confusion"][1])
    )
    # 10 recordings per split (the user factory's n), 2 of the training ones for validation
    assert (m["dataset"]["n_train"], m["dataset"]["n_val"], m["dataset"]["n_test"]) == (8, 2, 10)

    # export in the way a new process would: the module by name, and an option override
    monkeypatch.syspath_prepend(str(path.parent))
    report = tmp_path / "energy.json"
    assert (
        main(
            [
                "export",
                str(out / "model.pt"),
                "--out",
                str(report),
                "--module",
                "walk_cli",
                "--dataset-option",
                "n=4",
                "--target",
                "loihi",
                "--no-progress",
            ]
        )
        == 0
    )
    assert f"wrote {report}" in capsys.readouterr().out
    text = report.read_text()
    assert '"n_samples": 4' in text  # measured on the 4 test recordings asked for
    assert '"seed": 3' in text  # the stored options are kept where not overridden


def test_datasets_command_lists_a_user_dataset(
    tmp_path: Path, cleanup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = plugin_fakes.write_module(tmp_path, "walk_list", "walk-list")
    cleanup.append("walk-list")
    assert main(["datasets", "--module", str(path)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("walk-list")]
    assert line
    assert "sensor (3, 1, 2)  classes 2  (generated in code, no files)" in line[0]


def test_parse_dataset_options_reads_toml_values() -> None:
    got = parse_dataset_options(
        [
            "limit=300",
            "frac=0.25",
            "flag=true",
            "ids=[3, 4]",
            "split_by=subject",
            'name="two words"',
            "table={ a = 1 }",
            " spaced = 2 ",
        ]
    )
    assert got == {
        "limit": 300,
        "frac": 0.25,
        "flag": True,
        "ids": [3, 4],
        "split_by": "subject",
        "name": "two words",
        "table": {"a": 1},
        "spaced": 2,
    }
    assert type(got["limit"]) is int
    assert type(got["frac"]) is float
    for bad, match in [
        (["limit"], "'limit' must be KEY=VALUE"),
        (["=3"], "'=3' must be KEY=VALUE"),
        (["limit="], "give one value on one line"),
        (["a=1", "a=2"], "--dataset-option a is given twice"),
        (["ids=[3"], "ids=\\[3: the value is not valid TOML"),
        (['s="open'], "not valid TOML"),
        (["day=2024-01-02"], "a date/time is not an option value"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_dataset_options(bad)


SEARCH = """
[study]
name = "walk-search"
n_trials = 1
population_size = 2

[data]
name = "{dataset}"
val_fraction = 0.25
options = {{ {option} = 8 }}
[data.frames]
n_time_bins = 3

[train]
epochs = 1
batch_size = 4
schedule = "none"

[space]
families = ["mlp"]
depth = [1, 1]
widths = [4]
lam = [0.0]
glia_ratio = [0.0]
"""


def _digits_checkpoint(tmp_path: Path) -> Path:
    cfg = ExperimentConfig(data=DataConfig(options={"limit": 20}))
    model = build_seeded_model(ModelSpec(family="mlp", hidden=(4,)), (2, 8, 8), 10, 0)
    return save_checkpoint(tmp_path / "m.pt", model, cfg.to_dict())


@pytest.mark.parametrize(
    "case",
    [
        "no-equals",
        "unknown-option",
        "bad-value",
        "twice",
        "bad-toml",
        "bad-metric",
        "no-module",
        "broken-module",
        "export-option",
        "search-option",
        "search-module",
        "bench-module",
    ],
)
def test_bad_modules_and_options_are_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(SEARCH.format(dataset="digits-dvs", option="limit"))
    broken = tmp_path / "walk_broken_cli.py"
    broken.write_text("raise RuntimeError('the user module is broken')\n")
    tiny = ["--train-per-class", "1", "--test-per-class", "1", *TINY]
    argv, expected = {
        "no-equals": (["train", "--dataset-option", "limit", *tiny], "must be KEY=VALUE"),
        "unknown-option": (
            ["train", "--dataset-option", "lmit=3", *tiny],
            "no option 'lmit' (did you mean 'limit'?)",
        ),
        "bad-value": (
            ["train", "--dataset-option", "limit=abc", *tiny],
            "limit='abc' must be an integer >= 1",
        ),
        "twice": (
            ["train", "--dataset-option", "limit=3", "--dataset-option", "limit=4", *tiny],
            "limit is given twice",
        ),
        "bad-toml": (["train", "--dataset-option", "limit=[3", *tiny], "not valid TOML"),
        "bad-metric": (
            ["train", "--metric", "f2", *tiny],
            "unknown task metric 'f2'; known: accuracy, balanced_accuracy, macro_f1; user",
        ),
        "no-module": (
            ["train", "--module", "walk_nowhere", *tiny],
            "no module named 'walk_nowhere'",
        ),
        "broken-module": (
            ["train", "--module", str(broken), *tiny],
            "RuntimeError: the user module is broken",
        ),
        "export-option": (
            [
                "export",
                str(_digits_checkpoint(tmp_path)),
                "--out",
                str(tmp_path / "r.json"),
                "--dataset-option",
                "lmit=2",
            ],
            "no option 'lmit'",
        ),
        "search-option": (
            ["search", str(suite), "--out", str(tmp_path / "o"), "--dataset-option", "lmit=2"],
            "no option 'lmit'",
        ),
        "search-module": (
            ["search", str(suite), "--out", str(tmp_path / "o"), "--module", "walk_nowhere"],
            "no module named 'walk_nowhere'",
        ),
        "bench-module": (
            ["bench", str(suite), "--module", str(tmp_path / "absent.py")],
            "absent.py' not found",
        ),
    }[case]
    assert main(argv) == 2
    err = one_line(capsys)
    assert err.startswith(f"spikeenergy {argv[0]}: error: "), err
    assert expected in err, err


@pytest.mark.slow  # one trial, but the search writes its report and plots (~10-20 s)
def test_search_on_a_user_dataset_with_options(
    tmp_path: Path, cleanup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = plugin_fakes.write_module(tmp_path / "mods", "walk_search", "walk-search")
    cleanup.append("walk-search")
    suite = tmp_path / "search.toml"
    suite.write_text(SEARCH.format(dataset="walk-search", option="n"))
    out = tmp_path / "out"
    assert (
        main(
            [
                "search",
                str(suite),
                "--module",
                str(path),
                "--dataset-option",
                "n=6",
                "--out",
                str(out),
                "--n-trials",
                "1",
            ]
        )
        == 0
    )
    assert "1 complete" in capsys.readouterr().out
    from spikeenergy.bench import ResultsStore

    (rec,) = ResultsStore(out).records()
    assert rec.status == "ok"
    assert rec.config["data"]["name"] == "walk-search"
    assert rec.config["data"]["options"] == {"n": 6}  # the command line's value, not the suite's
    # 6 recordings per split: a quarter of the training ones held out for validation
    assert rec.metrics is not None
    assert rec.metrics["dataset"]["n_test"] == 6
