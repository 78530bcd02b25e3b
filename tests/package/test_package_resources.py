"""Suites, search suites and dataset cards ship inside the package and load by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import spikeenergy
from spikeenergy.bench import load_suite
from spikeenergy.bench.suite import find_suite
from spikeenergy.data import DATASETS, DatasetNotFoundError
from spikeenergy.resources import (
    card_path,
    package_path,
    search_suites_dir,
    shipped_names,
    suites_dir,
)
from spikeenergy.search.study import find_search_suite
from spikeenergy.search.study import load_suite as load_search_suite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(spikeenergy.__file__).resolve().parent


def test_shipped_files_live_in_the_package() -> None:
    assert suites_dir() == PACKAGE / "suites"
    assert search_suites_dir() == PACKAGE / "search" / "suites"
    assert {"quick", "full", "study", "smoke", "nmnist-joules", "nmnist-plain"} <= set(
        shipped_names(suites_dir())
    )
    assert {"smoke", "nmnist-small", "roshambo-small"} <= set(shipped_names(search_suites_dir()))
    # the top-level folders only point to them
    assert sorted(p.name for p in (REPO / "benchmarks" / "suites").iterdir()) == ["README.md"]
    assert sorted(p.name for p in (REPO / "benchmarks" / "search").iterdir()) == ["README.md"]


def test_every_shipped_file_is_declared_as_package_data() -> None:
    """What the wheel holds is what pyproject's package-data globs match (the CI wheel step
    installs and runs it); a shipped file outside them would be missing from the wheel."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["spikeenergy"]
    matched = {p for g in globs for p in PACKAGE.glob(g)}
    shipped = {
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix in (".toml", ".md", ".typed") and "__pycache__" not in p.parts
    }
    assert shipped == matched


@pytest.mark.parametrize("name", sorted(p.stem for p in (PACKAGE / "suites").glob("*.toml")))
def test_shipped_suites_load_by_name_from_any_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository
    assert find_suite(name) == PACKAGE / "suites" / f"{name}.toml"
    assert load_suite(name).name == name


def test_own_suites_load_from_a_path_and_shadow_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (PACKAGE / "suites" / "smoke.toml").read_text().replace('name = "smoke"', 'name = "x"')
    own = tmp_path / "anywhere" / "mine.toml"
    own.parent.mkdir()
    own.write_text(text)
    assert load_suite(own).name == "x"
    local = tmp_path / "benchmarks" / "suites" / "smoke.toml"  # ./benchmarks/suites first
    local.parent.mkdir(parents=True)
    local.write_text(text)
    monkeypatch.chdir(tmp_path)
    assert find_suite("smoke") == Path("benchmarks/suites/smoke.toml").absolute()
    with pytest.raises(FileNotFoundError, match="no-such.toml"):
        find_suite("no-such")


def test_search_suites_load_by_name_or_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_search_suite("smoke") == PACKAGE / "search" / "suites" / "smoke.toml"
    assert load_search_suite("smoke").name == "smoke"
    own = tmp_path / "s.toml"
    own.write_text('[study]\nname = "mine"\n[data]\nname = "digits-dvs"\n')
    assert load_search_suite(own).name == "mine"
    with pytest.raises(FileNotFoundError, match=r"not a shipped suite \(.*nmnist-small.*smoke"):
        find_search_suite("nope")


@pytest.mark.parametrize("name", DATASETS.names())
def test_builtin_cards_ship_in_the_package(name: str) -> None:
    card = DATASETS.get(name).card
    path = card_path(card.card)
    if path is None:  # a dataset registered by other code with a free-text card
        pytest.skip(f"{name}: card {card.card!r} is not a shipped file")
    assert path.is_relative_to(PACKAGE)
    assert path.name == "README.md"
    assert name in path.read_text().splitlines()[0]
    assert card.card_location() == str(path)


def test_missing_files_error_names_the_installed_card(tmp_path: Path) -> None:
    card = DATASETS.get("nmnist").card
    text = str(DatasetNotFoundError.for_card(card, tmp_path))
    assert f"see the dataset card {PACKAGE / 'datasets' / 'nmnist' / 'README.md'}" in text


def test_card_path_of_own_cards(tmp_path: Path) -> None:
    own = tmp_path / "CARD.md"
    own.write_text("# mine\n")
    assert card_path(str(own)) == own
    assert card_path("https://example.org/card") is None
    assert card_path("") is None
    assert package_path("suites") == PACKAGE / "suites"
