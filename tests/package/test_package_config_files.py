"""One reader and one set of key/type checks for every configuration file kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeenergy.bench import SuiteError, load_suite
from spikeenergy.config_files import check_keys, check_types, read_toml
from spikeenergy.energy.cost_models import cost_models_from_toml
from spikeenergy.search.study import load_suite as load_search_suite
from spikeenergy.train import TrainConfig

PACKAGE = Path(__file__).resolve().parents[2] / "spikeenergy"
SEARCH = PACKAGE / "search" / "suites" / "smoke.toml"


def _search(tmp_path: Path, old: str, new: str) -> Path:
    text = SEARCH.read_text()
    assert old in text
    path = tmp_path / "s.toml"
    path.write_text(text.replace(old, new))
    return path


def test_the_shipped_search_suite_loads(tmp_path: Path) -> None:
    cfg = load_search_suite(_search(tmp_path, "epochs = 2", "epochs = 3"))
    assert cfg.name == "smoke"
    assert cfg.train.epochs == 3
    assert cfg.n_trials == 4


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("n_trials = 4", "n_trails = 4", r"unknown key\(s\) \['n_trails'\] in \[study\]; known: "),
        ("n_trials = 4", 'n_trials = "4"', r"\[study\]: n_trials='4' must be an integer"),
        ("epochs = 2", "epoch = 2", r"unknown key\(s\) \['epoch'\] in \[train\]; known: "),
        ("epochs = 2", "epochs = 2.5", r"\[train\]: epochs=2.5 must be an integer"),
        ("[space]", "[spaces]", r"unknown key\(s\) \['spaces'\] in the top level"),
        (
            "[space]",
            "[pruning]\nwarmup = 1\n\n[space]",
            r"unknown key\(s\) \['warmup'\] in \[pruning\]",
        ),
        ("[study]", "[study", r"not valid TOML \(search suite file\)"),
    ],
)
def test_search_suites_get_the_benchmark_suites_messages(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _search(tmp_path, old, new)
    with pytest.raises(ValueError, match=message) as info:
        load_search_suite(path)
    assert str(path) in str(info.value)  # the file is named


def test_benchmark_and_search_suites_word_an_unknown_train_key_alike(tmp_path: Path) -> None:
    bench = tmp_path / "b.toml"
    bench.write_text(
        (PACKAGE / "suites" / "smoke.toml").read_text().replace("[train]", "[train]\nepoch = 2", 1)
    )
    with pytest.raises(SuiteError) as b_info:
        load_suite(bench)
    with pytest.raises(ValueError, match="epoch") as s_info:
        load_search_suite(_search(tmp_path, "epochs = 2", "epoch = 2"))
    tail = "unknown key(s) ['epoch'] in [train]; known: "
    assert tail in str(b_info.value)
    assert tail in str(s_info.value)


def test_cost_model_files_use_the_same_reader(tmp_path: Path) -> None:
    bad = tmp_path / "chips.toml"
    bad.write_text("[targets.mychip\npj_per_ac = 1.0\n")
    with pytest.raises(ValueError, match=r"chips.toml: not valid TOML \(cost model file\)"):
        cost_models_from_toml(bad)


def test_the_checks_themselves(tmp_path: Path) -> None:
    assert check_keys({"a": 1}, {"a", "b"}, "[t]", "f.toml") == {"a": 1}
    with pytest.raises(KeyError, match=r"f.toml: \[t\] must be a table, got list"):
        check_keys([1], {"a"}, "[t]", "f.toml", KeyError)
    check_types({"lr": 1, "grad_clip": None, "prune_below": 0.3}, TrainConfig, "[train]", "f")
    with pytest.raises(ValueError, match=r"grad_clip='x' must be a finite number \(or absent\)"):
        check_types({"grad_clip": "x"}, TrainConfig, "[train]", "f")
    with pytest.raises(ValueError, match="no such suite file"):
        read_toml(tmp_path / "missing.toml", "suite")
