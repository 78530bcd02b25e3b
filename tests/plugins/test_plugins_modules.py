"""User modules and entry points: import by name or path (once), registry replace/unregister,
public registration types, option names from the factory, and the hint of an unknown name."""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import plugin_fakes
import pytest

from spikeenergy.data import (
    DATASETS,
    DatasetCard,
    DatasetEntry,
    dataset_card,
    load_dataset,
    register_dataset,
)
from spikeenergy.data.registry import check_dataset_options
from spikeenergy.plugins import (
    ENTRY_POINT_GROUP,
    PluginError,
    import_modules,
    load_entry_points,
    load_plugins,
    resolve_module_spec,
    user_code,
)
from spikeenergy.registry import Registry, UnknownNameError


@pytest.fixture
def cleanup(tmp_path: Path) -> Iterator[list[str]]:
    """Datasets the test registers (appended by the test); forgotten afterwards."""
    names: list[str] = []
    yield names
    plugin_fakes.forget(tmp_path, names)


def test_registry_replace_and_unregister() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="thing 'A' is already registered"):
        reg.add("A", 5)  # add stays strict (names are case-insensitive)
    # previous item returned
    assert reg.replace("A", 2) == 1
    assert reg.get("a") == 2
    assert reg.replace("b", 3) is None
    assert reg.names() == ["a", "b"]
    assert reg.unregister("B") == 3
    assert "b" not in reg
    assert reg.names() == ["a"]
    with pytest.raises(UnknownNameError, match="unknown thing 'b'; known: a") as err:
        reg.unregister("b")
    assert (err.value.kind, err.value.name) == ("thing", "b")
    again = pickle.loads(pickle.dumps(err.value))  # crosses process boundaries intact
    assert (str(again), again.kind, again.name) == (str(err.value), "thing", "b")


def test_module_file_outside_the_package_registers_once(
    tmp_path: Path, cleanup: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = plugin_fakes.write_module(tmp_path / "user", "walk_mod", "walk-a")
    cleanup.append("walk-a")
    assert "walk-a" not in DATASETS
    (name,) = import_modules([str(path)])
    assert name.startswith("spikeenergy_user_walk_mod_")
    assert sys.modules[name].__file__ == str(path)
    ds = load_dataset("walk-a", "train", n=6)
    assert len(ds) == 6
    assert ds.targets == [0, 1, 0, 1, 0, 1]
    assert ds[1][0].dtype.names == ("t", "x", "p")
    assert ds[1][0]["x"].max() < 3
    assert dataset_card("walk-a").sensor_size == (3, 1, 2)
    # the same file again, relative to a base folder, or relative to the working folder:
    # imported once (a second import would register twice and raise)
    assert import_modules(["walk_mod.py"], base=tmp_path / "user") == [name]
    monkeypatch.chdir(tmp_path)
    assert resolve_module_spec("user/walk_mod.py") == str(path)
    assert import_modules(["user/walk_mod.py", str(path)]) == [name]


def test_module_by_name_then_by_path_is_one_module(
    tmp_path: Path, cleanup: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = plugin_fakes.write_module(tmp_path, "walk_named", "walk-b")
    cleanup.append("walk-b")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_modules(["walk_named"]) == ["walk_named"]
    # e.g. the running script imported by its path in a suite: found, not run again
    assert import_modules([str(path)]) == ["walk_named"]
    assert "walk-b" in DATASETS


def test_module_errors_name_the_module_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PluginError, match=r"module file '.*nope\.py' not found"):
        import_modules([str(tmp_path / "nope.py")])
    with pytest.raises(PluginError, match="must end in .py"):
        import_modules([str(tmp_path / "data.txt")])
    with pytest.raises(PluginError, match="neither a dotted module name"):
        import_modules(["my-datasets"])
    with pytest.raises(PluginError, match="no module named 'walk_absent_mod'.*PYTHONPATH"):
        import_modules(["walk_absent_mod"])
    broken = tmp_path / "walk_broken.py"
    broken.write_text("import walk_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # a module that exists but fails inside is not reported as missing
    with pytest.raises(
        PluginError,
        match="importing user module 'walk_broken' failed: "
        "ModuleNotFoundError: No module named 'walk_absent_dependency'",
    ):
        import_modules(["walk_broken"])
    boom = tmp_path / "walk_boom.py"
    boom.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match="walk_boom.py' failed: RuntimeError: boom"):
        import_modules([str(boom)])
    assert not [m for m in sys.modules if "walk_boom" in m]  # nothing half-imported is kept
    boom.write_text("VALUE = 1\n")  # fixed: importing again works
    (name,) = import_modules([str(boom)])
    assert sys.modules.pop(name).VALUE == 1


def test_entry_point_of_an_installed_package(
    tmp_path: Path, cleanup: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    plugin_fakes.write_entry_point_package(site, "walkplug", "walkplug_datasets", "walk-ep")
    cleanup.append("walk-ep")
    assert load_entry_points() == []  # not installed yet
    monkeypatch.syspath_prepend(str(site))  # "pip install walkplug"
    assert "walk-ep" not in DATASETS
    # a name that is not registered loads the entry points first: no import needed
    assert len(load_dataset("walk-ep", "test", n=4)) == 4
    assert load_entry_points() == ["walkplug_datasets"]  # loading again is harmless
    assert load_plugins([]) == ["walkplug_datasets"]


def test_broken_entry_point_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "badplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbad = badplug_missing_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        PluginError,
        match=r"entry point 'bad' = 'badplug_missing_module' of "
        r"group 'spikeenergy.datasets' \(package badplug\) failed to load: "
        r"ModuleNotFoundError.*fix or uninstall the package",
    ):
        load_entry_points()


def test_unknown_name_says_what_was_imported_and_how_to_add_one(
    tmp_path: Path, cleanup: list[str]
) -> None:
    path = plugin_fakes.write_module(tmp_path, "walk_hint", "walk-c")
    cleanup.append("walk-c")
    loaded: list[str] = []

    def look_up_a_typo() -> None:
        # user_code adds the hint to the error as it leaves the block
        with user_code([str(path)]) as names:
            loaded.extend(names)
            assert loaded == [m for m in sys.modules if m.startswith("spikeenergy_user_walk_hint_")]
            load_dataset("walk-typo")

    with pytest.raises(UnknownNameError) as err:
        look_up_a_typo()
    msg = str(err.value)
    assert msg.startswith("unknown dataset 'walk-typo'; known: ")
    assert "walk-c" in msg.split("; ")[1]  # the module's dataset is among the known ones
    assert f"imported by this process (pid {os.getpid()}): {loaded[0]}." in msg
    for fix in ("--module MOD", '[suite] modules = ["my_pkg.datasets"]', "'spikeenergy.datasets'"):
        assert fix in msg
    assert (err.value.kind, err.value.name) == ("dataset", "walk-typo")
    with pytest.raises(UnknownNameError) as nested, user_code(), user_code():
        load_dataset("walk-typo")
    assert str(nested.value).count("imported by this process") == 1
    assert "imported by this process (pid" in str(nested.value)
    assert "): none." in str(nested.value)


def test_registration_types_and_factory_options(cleanup: list[str]) -> None:
    card = DatasetCard("walk-d", (3, 1, 2), 2, "(none)", "(none)", "(none)")
    with pytest.raises(TypeError, match="card must be a DatasetCard"):
        DatasetEntry("walk-d", lambda r, s, d: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="factory must be callable"):
        DatasetEntry(card, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="options must be a tuple of option names"):
        DatasetEntry(card, lambda r, s, d: None, options="n")  # type: ignore[arg-type]

    def factory(root: Path, split: str, download: bool, n: int = 3, *, seed: int = 0) -> None:
        return None

    entry = register_dataset(DatasetEntry(card, factory))
    cleanup.append("walk-d")
    assert DATASETS.get("WALK-D") is entry
    with pytest.raises(ValueError, match="dataset 'walk-d' is already registered"):
        register_dataset(DatasetEntry(card, factory))
    # options not declared: taken from the factory's keyword parameters after root/split/download
    check_dataset_options("walk-d", {"n": 4, "seed": 1, "download": False})
    with pytest.raises(
        ValueError,
        match=r"dataset 'walk-d' has no option 'sed' \(did you mean "
        r"'seed'\?\); its options: \['download', 'n', 'seed'\]",
    ):
        check_dataset_options("walk-d", {"sed": 1})
    # a notebook re-running its registration cell replaces the entry
    anything = DatasetEntry(card, lambda root, split, download, **kw: kw)
    assert register_dataset(anything, replace=True) is DATASETS.get("walk-d")
    check_dataset_options("walk-d", {"whatever": 1})  # **kwargs: any option passes
