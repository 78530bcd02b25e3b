"""Suite files: validation with clear errors, grid expansion, stable run ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeenergy.bench import (
    DEFAULT_LAMBDAS,
    SuiteError,
    expand_grid,
    load_suite,
    suite_from_dict,
    with_overrides,
)

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[suite]
name = "t"
seeds = 3
lambdas = [0.0, 1e-3, 1e-1]

[train]
epochs = 2

[frames]
n_time_bins = 5

[[datasets]]
name = "digits-dvs"
options = { limit = 20 }

[[datasets]]
name = "digits-dvs"
label = "digits-small"
options = { limit = 10 }
frames = { downsample = 0.5 }

[[models]]
family = "snn-mlp"
backend = "norse"
hidden = [16]

[[models]]
family = "mlp"
hidden = [16]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "suite.toml"
    p.write_text(text)
    return p


def test_grid_is_the_full_factorial_in_order(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD))
    specs = expand_grid(suite)
    # 2 datasets x 2 models x 3 lambdas x 3 seeds = 36 runs
    assert len(specs) == suite.n_runs == 36
    cells = [(s.dataset, s.model, s.lam, s.seed) for s in specs]
    assert len(set(cells)) == 36
    assert cells[0] == ("digits-dvs", "snn-mlp/norse", 0.0, 0)
    assert cells[1] == ("digits-dvs", "snn-mlp/norse", 0.0, 1)  # seeds vary fastest
    assert cells[3] == ("digits-dvs", "snn-mlp/norse", 1e-3, 0)
    assert cells[-1] == ("digits-small", "mlp", 0.1, 2)
    assert len({s.run_id for s in specs}) == 36
    for s in specs:  # the grid sets lam and seed in the training config; the rest is shared
        assert s.config.train.lam == s.lam
        assert s.config.train.seed == s.seed
        assert s.config.train.epochs == 2
        assert s.config.train.energy == "joules"
    small = [s for s in specs if s.dataset == "digits-small"][0].config.data
    assert small.options == {"limit": 10}
    assert small.frames.n_time_bins == 5
    assert small.frames.downsample == 0.5
    assert len(expand_grid(suite, ("digits-small",))) == 18


def test_run_ids_are_stable_and_ignore_where_and_how(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD))
    ids = [s.run_id for s in expand_grid(suite)]
    assert ids == [s.run_id for s in expand_grid(load_suite(write(tmp_path, GOOD)))]
    moved = with_overrides(suite, data_root="/elsewhere", device="cpu")
    assert moved.datasets[0].data.root == "/elsewhere"
    assert moved.train.device == "cpu"
    assert [s.run_id for s in expand_grid(moved)] == ids
    longer = load_suite(write(tmp_path, GOOD.replace("epochs = 2", "epochs = 3")))
    assert set(s.run_id for s in expand_grid(longer)).isdisjoint(ids)
    assert with_overrides(suite, seeds=5).seeds == (0, 1, 2, 3, 4)


def test_defaults_lambdas_and_seeds() -> None:
    suite = suite_from_dict(
        {
            "suite": {"energy": "activity"},
            "datasets": [{"name": "digits-dvs"}],
            "models": [{"family": "mlp"}],
        },
        "x.toml",
    )
    assert suite.lambdas == DEFAULT_LAMBDAS == (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    assert suite.seeds == tuple(range(10))
    assert suite.name == "x"
    assert suite.models[0].label == "mlp"
    # the joules term (the default) has lambda in 1/pJ: no default grid can fit every model
    with pytest.raises(SuiteError, match="lambdas is required"):
        suite_from_dict(
            {"datasets": [{"name": "digits-dvs"}], "models": [{"family": "mlp"}]}, "x.toml"
        )
    joules = suite_from_dict(
        {
            "suite": {"lambdas": [0, 1e-6], "target": "loihi"},
            "datasets": [{"name": "digits-dvs"}],
            "models": [{"family": "mlp"}],
        },
        "x.toml",
    )
    assert joules.train.energy == "joules"
    assert joules.train.target == "loihi"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name = "t"', 'name = "t"\nepochz = 3', r"unknown key\(s\) \['epochz'\] in \[suite\]"),
        ("epochs = 2", "epochs = 2\nlam = 0.1", r"\[train\] must not set \['lam'\]"),
        ("epochs = 2", "epochs = 0", "epochs and batch_size must be >= 1"),
        ("lambdas = [0.0, 1e-3, 1e-1]", "lambdas = [0.0, -1.0]", "-1.0 is not a finite number"),
        ("lambdas = [0.0, 1e-3, 1e-1]", "lambdas = [0.0, 0.0]", "duplicates"),
        ("seeds = 3", "seeds = 0", "seeds=0"),
        (
            'name = "digits-dvs"\noptions = { limit = 20 }',
            'name = "mnist-typo"',
            "unknown dataset 'mnist-typo'; known: .*digits-dvs",
        ),
        ('family = "mlp"', 'family = "transformer"', "model family='transformer'"),
        (
            'family = "mlp"',
            'family = "mlp"\nwidth = 3',
            r"unknown key\(s\) \['width'\] in \[\[models\]\] #2",
        ),
        ("n_time_bins = 5", "n_time_bins = 0", r"\.frames: n_time_bins must be >= 1"),
        (
            "hidden = [16]\n\n[[models]]",
            'hidden = [16]\nlabel = "mlp"\n\n[[models]]',
            r"duplicate model labels \['mlp'\]",
        ),
        ("[train]", "[training]", r"unknown key\(s\) \['training'\] in the top level"),
        ('name = "t"', 'name = "t"\nenergy = "watts"', "energy='watts'; known:"),
    ],
)
def test_bad_suite_files_give_clear_errors(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SuiteError, match=message) as info:
        load_suite(path)
    assert str(path) in str(info.value)  # every message names the file


def test_invalid_toml_and_missing_suite(tmp_path: Path) -> None:
    path = write(tmp_path, "[suite\nname = 1")
    with pytest.raises(SuiteError, match="not valid TOML") as info:
        load_suite(path)
    assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="no-such-suite.toml"):
        load_suite("no-such-suite")


@pytest.mark.parametrize("name", ["quick", "full"])
def test_shipped_suites_are_valid(name: str) -> None:
    suite = load_suite(name)  # by name: the suites shipped inside the package
    lams = [x for x in suite.lambdas if x > 0]
    # lambda 0, then >= four decades of positive lambdas
    assert suite.lambdas[0] == 0
    assert max(lams) / min(lams) >= 1e4
    kinds = {(m.spec.family, m.spec.backend if m.spec.is_spiking else "") for m in suite.models}
    assert {("snn-mlp", "snntorch"), ("snn-mlp", "norse"), ("mlp", ""), ("gru", "")} <= kinds
    assert any(f == "cnn" for f, _ in kinds)
    if name == "full":
        assert len(suite.seeds) >= 3
        assert suite.skip_missing
        assert set(DEFAULT_LAMBDAS) <= set(suite.lambdas)
        assert {d.data.name for d in suite.datasets} == {"digits-dvs", "nmnist", "emg-roshambo"}
