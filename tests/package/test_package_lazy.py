"""Lazy imports for real: a registry imports its built-ins on first use, a package imports a
public name's module on first use, and the light modules the command line reads import no
torch (``spikeenergy train --help`` answers without it)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fresh_python import run_python

from spikeenergy.registry import lazy_exports

#: packages whose ``__init__`` exports lazily
LAZY_PACKAGES = (
    "spikeenergy.energy",
    "spikeenergy.export",
    "spikeenergy.models",
    "spikeenergy.train",
)


def _write_package(root: Path, name: str, files: dict[str, str]) -> None:
    pkg = root / name
    pkg.mkdir()
    for file, text in files.items():
        (pkg / file).write_text(text)


def _registry_package(root: Path, name: str, builtin: str) -> ModuleType:
    """Package ``name`` whose registry ``reg.R`` has its built-ins in ``builtin.py`` (text
    ``builtin``); returns the imported ``reg`` module."""
    _write_package(
        root,
        name,
        {
            "__init__.py": "",
            "reg.py": "from spikeenergy.registry import Registry\n"
            f"R = Registry('thing', builtins='{name}.builtin')\n",
            "builtin.py": builtin,
        },
    )
    return importlib.import_module(f"{name}.reg")


@pytest.fixture
def fake_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A registry package whose built-ins are alpha=1, beta=2."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"fakereg_{tmp_path.name}"
    _registry_package(
        tmp_path, name, f"from {name}.reg import R\nR.add('alpha', 1)\nR.add('beta', 2)\n"
    )
    return name


def test_registry_imports_its_builtins_on_first_use(fake_registry: str) -> None:
    reg = importlib.import_module(f"{fake_registry}.reg")
    assert f"{fake_registry}.builtin" not in sys.modules  # defining the registry loads nothing
    assert "alpha" in reg.R  # the first lookup imports the built-ins
    assert f"{fake_registry}.builtin" in sys.modules
    assert reg.R.names() == ["alpha", "beta"]
    assert reg.R.get("BETA") == 2


def test_registry_user_add_clashing_with_a_builtin_fails_at_add(fake_registry: str) -> None:
    reg = importlib.import_module(f"{fake_registry}.reg")
    with pytest.raises(ValueError, match="'alpha' is already registered"):
        reg.R.add("alpha", 3)  # the built-ins are loaded first, so the clash shows here
    reg.R.add("gamma", 3)
    assert list(reg.R) == ["alpha", "beta", "gamma"]
    assert len(reg.R) == 3


def test_registry_builtins_that_fail_to_import_raise_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = _registry_package(
        tmp_path, f"brokenreg_{tmp_path.name}", "import a_module_that_is_not_installed\n"
    )
    for _ in range(2):  # never an empty registry that silently lacks its built-ins
        with pytest.raises(ModuleNotFoundError, match="a_module_that_is_not_installed"):
            reg.R.get("alpha")


def test_lazy_exports_import_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"lazypkg_{tmp_path.name}"
    _write_package(
        tmp_path,
        name,
        {
            "__init__.py": "from spikeenergy.registry import lazy_exports\n"
            f"__getattr__ = lazy_exports(__name__, {{'double': '{name}.heavy', "
            f"'heavy': '{name}.heavy'}})\n",
            "heavy.py": "def double(x):\n    return 2 * x\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = importlib.import_module(name)
    assert f"{name}.heavy" not in sys.modules
    assert pkg.double(21) == 42
    assert f"{name}.heavy" in sys.modules
    assert pkg.heavy is sys.modules[f"{name}.heavy"]  # a submodule's own name gives the module
    assert importlib.import_module(name).__dict__["double"] is pkg.double  # cached
    with pytest.raises(AttributeError, match=rf"module '{name}' has no attribute 'triple'"):
        _ = pkg.triple
    get = lazy_exports("x", {})
    with pytest.raises(AttributeError, match="has no attribute 'y'"):
        get("y")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_packages_export_every_name_of_all(package: str) -> None:
    mod = importlib.import_module(package)
    assert set(mod._LAZY) == set(mod.__all__)
    for name in mod.__all__:
        value = getattr(mod, name)
        assert value is not None
        if mod._LAZY[name] != f"{package}.{name}":  # a name, not a submodule: defined there
            assert value is getattr(importlib.import_module(mod._LAZY[name]), name)


def test_light_modules_import_no_torch_and_still_know_the_builtins() -> None:
    """The modules the command line's parsers read stay free of torch; a spec built from them
    still finds the built-in families (the registry imports them when asked)."""
    code = (
        "import sys\n"
        "import spikeenergy.energy.cost_models, spikeenergy.export.tables\n"
        "import spikeenergy.train.config, spikeenergy.models.spec\n"
        "import spikeenergy.cli.common, spikeenergy.cli.train, spikeenergy.cli.export\n"
        "print('TORCH', 'torch' in sys.modules)\n"
        "from spikeenergy.models.spec import ModelSpec\n"
        "print('FAMILY', ModelSpec(family='snn-cnn', conv_channels=(4,)).family_record.conv)\n"
    )
    stdout = run_python(code)
    assert stdout.split() == ["TORCH", "False", "FAMILY", "True"]
