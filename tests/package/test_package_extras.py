"""The core installs without extras; a missing extra fails with one line naming it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spikeenergy import extras
from spikeenergy.extras import (
    EXTRAS,
    INCLUDES,
    MissingExtraError,
    missing_extra,
    modules_of,
    require,
    require_extra,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]

#: the optional packages a core install lacks (what every extra brings, and torchvision)
OPTIONAL = sorted({m for names in EXTRAS.values() for m in names} | {"torchvision"})

#: run in a fresh interpreter in which the optional packages cannot be imported, as in a
#: virtual environment made by ``pip install spikeenergy`` alone
BLOCKER = textwrap.dedent(
    f"""
    import sys
    BLOCKED = {OPTIONAL!r}
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, _Block())
    import importlib.util
    _find = importlib.util.find_spec
    importlib.util.find_spec = lambda n, p=None: None if n.split(".")[0] in BLOCKED else _find(n, p)
    """
)


def run_core(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (after :data:`BLOCKER`) in a fresh interpreter importing this checkout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def _import_names(requirements: list[str]) -> tuple[set[str], set[str]]:
    """(import names of the distributions, extras included via ``spikeenergy[...]``)."""
    dist_to_import = {v.lower(): k for k, v in extras.DISTRIBUTIONS.items()}
    names, included = set(), set()
    for req in requirements:
        m = re.match(r"spikeenergy\[([^\]]+)\]", req)
        if m:
            included |= set(m.group(1).split(","))
            continue
        dist = re.split(r"[<>=!;\[ ]", req, maxsplit=1)[0].strip().lower()
        names.add(dist_to_import.get(dist, dist.replace("-", "_")))
    return names, included


def test_extras_table_mirrors_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        names, included = _import_names(optional[extra])
        assert names == set(modules), extra
        assert included == set(INCLUDES.get(extra, ())), extra
    # [all] is every extra, [dev] includes [all]; the core holds no optional package
    assert _import_names(optional["all"])[1] == set(EXTRAS)
    assert "all" in _import_names(optional["dev"])[1]
    core, _ = _import_names(project["dependencies"])
    assert core == {"torch", "numpy", "tqdm", "filelock", "tomli"}
    assert not core & set(OPTIONAL)


def test_modules_of_follows_includes() -> None:
    # search includes bench, which includes data
    assert set(modules_of("search")) == {"optuna", *EXTRAS["bench"], *EXTRAS["data"]}
    with pytest.raises(ValueError, match="unknown extra 'gpu'"):
        modules_of("gpu")


def test_missing_package_names_its_extra_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = extras.importlib.util.find_spec
    monkeypatch.setattr(
        extras.importlib.util, "find_spec", lambda n, p=None: None if n == "tonic" else real(n)
    )
    with pytest.raises(MissingExtraError) as info:
        require_extra("bench", "spikeenergy.bench")
    text = str(info.value)
    assert "\n" not in text
    assert text == (
        "spikeenergy.bench needs 'tonic', which is not installed: pip install 'spikeenergy[bench]'"
    )
    require_extra("nir")  # installed here: no error


def test_missing_extra_converts_only_optional_packages() -> None:
    err = missing_extra(ModuleNotFoundError("No module named 'sklearn'", name="sklearn.datasets"))
    assert isinstance(err, MissingExtraError)
    assert "'scikit-learn'" in str(err)
    assert "spikeenergy[data]" in str(err)
    # a given extra is named when it provides the package, else the package's own extra
    err = missing_extra(ModuleNotFoundError("x", name="scipy"), extra="bench")
    assert err is not None
    assert "spikeenergy[bench]" in str(err)
    err = missing_extra(ModuleNotFoundError("x", name="optuna"), extra="data")
    assert err is not None
    assert "spikeenergy[search]" in str(err)
    # not an optional package (a bug, a typo): not converted
    assert missing_extra(ModuleNotFoundError("x", name="spikeenergy.nope")) is None
    assert missing_extra(ValueError("x")) is None
    with pytest.raises(ModuleNotFoundError):
        require("spikeenergy_no_such_module")
    assert require("numpy").__name__ == "numpy"


def test_core_measures_and_exports_without_extras(tmp_path: Path) -> None:
    """Recording, ledger, terms, Harness and JSON/CSV export of a plain PyTorch model import
    and run with every optional package blocked; the data package then fails in one line."""
    proc = run_core(
        """
        import sys, torch
        from torch import nn
        from spikeenergy.energy import Joules, EnergyRegularizedLoss
        from spikeenergy.export import read_report, write_report
        from spikeenergy.metrics import Harness
        from spikeenergy.record import ActivityRecorder
        from spikeenergy.train.checkpoint import load_checkpoint  # noqa: F401
        net = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
        x = (torch.rand(3, 5, 8) < 0.5).float()
        res = Harness(net, [(x, torch.zeros(5, dtype=torch.long))], ["loihi"]).run()
        write_report(res.report, sys.argv[1])
        assert read_report(sys.argv[1]).energy_j("loihi") == res.energy_j("loihi")
        with ActivityRecorder(net, needs=Joules("cmos45").needs) as rec:
            net(x)
            assert Joules("cmos45")(rec.record()) > 0
        loaded = [m for m in ("snntorch", "norse", "tonic", "scipy", "pandas", "matplotlib")
                  if m in sys.modules]
        assert not loaded, loaded
        try:
            import spikeenergy.data
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """,
        str(tmp_path / "r.json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "MissingExtraError spikeenergy.data needs 'tonic', which is not installed: "
        "pip install 'spikeenergy[data]'"
    )


@pytest.mark.parametrize(
    ("argv", "extra", "package"),
    [
        (["bench", "quick"], "bench", "pandas"),
        (["train", "--epochs", "1"], "data", "tonic"),
        (["search", "smoke"], "search", "optuna"),
    ],
)
def test_cli_names_the_missing_extra(
    argv: list[str], extra: str, package: str, tmp_path: Path
) -> None:
    proc = run_core(
        "import sys\nfrom spikeenergy.cli import main\nsys.exit(main(sys.argv[1:]))",
        *argv,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"spikeenergy {argv[0]}: error: spikeenergy.{'data' if extra == 'data' else extra} "
        f"needs '{package}', which is not installed: pip install 'spikeenergy[{extra}]'\n"
    )


def test_backends_name_their_extra() -> None:
    proc = run_core(
        """
        from spikeenergy.models import ModelSpec, build_model
        try:
            build_model(ModelSpec(family="snn-mlp", hidden=(4,), backend="norse"), (2, 3, 3), 2)
        except ImportError as exc:
            print(exc)
        net = build_model(ModelSpec(family="mlp", hidden=(4,)), (2, 3, 3), 2)  # dense: core
        print(type(net).__name__)
        """
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()
    assert first == (
        "backend='norse' needs 'norse', which is not installed: pip install 'spikeenergy[norse]'"
    )
    assert second == "DenseNet"
