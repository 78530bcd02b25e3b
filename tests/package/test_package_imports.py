"""The import graph reads one way: each subpackage imports only from its own floor or below,
and no modules import each other in a cycle (docs/design.md draws the floors).

Every import statement counts, also those inside functions: a lazy import still makes the
lower floor depend on the upper one.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "spikeenergy"

#: subpackage / top-level module -> floor; an import may only point to the same floor or lower
FLOORS = {
    "registry": 0,
    "io": 0,
    "config_files": 0,
    "extras": 0,
    "progress": 0,
    "resources": 0,
    "plugins": 0,
    "data": 1,
    "models": 2,
    "dynamics": 2,
    "record": 3,
    "energy": 4,
    "train": 5,
    "metrics": 6,
    "bench": 7,
    "search": 8,
    "onepass": 8,
    "export": 9,
    "cli": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported spikeenergy module, line, at module level) of every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    for node in tree.body:  # imports under `if TYPE_CHECKING:` / try at module level count too
        if isinstance(node, ast.If | ast.Try):
            top.update(id(n) for n in ast.walk(node))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from spikeenergy.x import y`: y may itself be a module (spikeenergy.x.y)
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out += [(n, node.lineno, id(node) in top) for n in names if n.startswith("spikeenergy")]
    return out


def _graph() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = defaultdict(set)  # module-level imports, module -> module
    where: dict[str, list[str]] = defaultdict(list)  # upward imports found
    for name, path in modules.items():
        floor_of = name.split(".")[1] if "." in name else None
        for target, line, at_top in _imports(path):
            if target not in modules:
                continue  # `from spikeenergy.x import function`: its module is listed too
            dst = target.split(".")[1] if "." in target else None
            if at_top and target != name:
                edges[name].add(target)
            if floor_of and dst and floor_of != dst and FLOORS[dst] > FLOORS[floor_of]:
                where[floor_of].append(f"{path.relative_to(PACKAGE.parent)}:{line} -> {target}")
    return edges, where


def test_every_subpackage_has_a_floor() -> None:
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    found |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert found == set(FLOORS), "add the new subpackage to FLOORS here and to docs/design.md"


def test_no_upward_imports() -> None:
    _, upward = _graph()
    assert not upward, dict(upward)


def test_no_import_cycles_between_modules() -> None:
    edges, _ = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(edges.get(m, ())):
            # a package's __init__ importing its own submodules is how packages are built
            if n.startswith(m + "."):
                continue
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state and (cycle := visit(n)) is not None:
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, " -> ".join(cycle)


def test_the_checker_sees_an_upward_import(tmp_path: Path, monkeypatch) -> None:
    # the test above can fail: a lower floor importing a higher one is reported
    fake = tmp_path / "spikeenergy"
    (fake / "data").mkdir(parents=True)
    (fake / "train").mkdir()
    (fake / "data" / "__init__.py").write_text("def f():\n    import spikeenergy.train\n")
    (fake / "train" / "__init__.py").write_text("import spikeenergy.data\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    _, upward = _graph()
    assert upward == {"data": ["spikeenergy/data/__init__.py:2 -> spikeenergy.train"]}


def test_the_checker_sees_a_cycle(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "spikeenergy" / "data"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "a.py").write_text("from spikeenergy.data import b\n")
    (fake / "b.py").write_text("import spikeenergy.data.a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake.parent)
    with pytest.raises(AssertionError, match=r"spikeenergy.data.a -> spikeenergy.data.b -> "):
        test_no_import_cycles_between_modules()
