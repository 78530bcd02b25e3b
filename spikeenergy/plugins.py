"""User code that registers datasets (and task metrics, energy terms, model families): how it
reaches every command and every worker process.

A name registered by code that runs in one process (a notebook cell, a script) is known to that
process only: worker processes of a benchmark (local processes, Ray workers) and other commands
start afresh and know only what they import. So registrations live in **modules**, and every
process imports the same ones:

* **installed packages** declare an entry point in group :data:`ENTRY_POINT_GROUP`
  (``spikeenergy.datasets``); every command, suite load and benchmark worker imports it::

      # pyproject.toml of the user's package
      [project.entry-points."spikeenergy.datasets"]
      my-sensor = "my_pkg.datasets"        # a module whose import registers (DATASETS.add ...)

  The value names a module (``my_pkg.datasets``) or an object in one (``my_pkg.datasets:ENTRY``);
  loading it imports the module, and registration happens at import. Nothing is called, so
  loading twice is harmless.
* **modules named at run time**: ``--module MOD`` on ``spikeenergy train/export/bench/search``,
  and ``modules = [...]`` in a bench suite's ``[suite]`` table; workers import them before every
  run. A name is a dotted module importable from ``sys.path`` (``my_pkg.datasets``); a path to
  a ``.py`` file (``path/to/file.py``, relative to the suite file in a suite, to the current
  folder on the command line) is imported from that file under a name derived from its path,
  the same in every process. A file that is already imported (e.g. the running script,
  ``__main__``) is not imported a second time.

An unknown name met inside :func:`user_code` (the context of a worker's run and of a command)
says which modules the process imported and how to add one.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from spikeenergy.registry import UnknownNameError

#: entry-point group of installed packages that register datasets (or other names)
ENTRY_POINT_GROUP = "spikeenergy.datasets"


class PluginError(ValueError):
    """A user module or entry point could not be imported; the message names it and the fix."""


def is_module_path(spec: str) -> bool:
    """Whether ``spec`` names a ``.py`` file (else a dotted module name)."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec or os.sep in spec


def check_module_spec(spec: object, where: str = "module") -> str:
    """``spec`` if it is a module name or a path to a .py file; else a PluginError."""
    if not isinstance(spec, str) or not spec.strip():
        raise PluginError(
            f"{where} {spec!r} must be a module name (my_pkg.datasets) or a path to a .py file"
        )
    if is_module_path(spec):
        if not spec.endswith(".py"):
            raise PluginError(f"{where} {spec!r}: a module file must end in .py")
        return spec
    if not all(part.isidentifier() for part in spec.split(".")):
        raise PluginError(
            f"{where} {spec!r} is neither a dotted module name (my_pkg.datasets) nor a .py path"
        )
    return spec


def resolve_module_spec(spec: str, base: str | os.PathLike[str] | None = None) -> str:
    """A module name unchanged; a .py path made absolute (relative to ``base``, else the
    current folder), so that every process, whatever its working folder, finds the file."""
    check_module_spec(spec)
    if not is_module_path(spec):
        return spec
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = Path(base if base is not None else Path.cwd()) / path
    return str(path.resolve())


def _file_module_name(path: Path) -> str:
    """The module name a .py file is imported under: its stem plus a hash of its path, so
    that it never shadows another module and every process derives the same name."""
    stem = re.sub(r"\W", "_", path.stem) or "module"
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"spikeenergy_user_{stem}_{digest}"


def _already_imported(path: Path) -> ModuleType | None:
    """A module in ``sys.modules`` loaded from ``path`` (e.g. the running script)."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.basename(file) == path.name:
            try:
                if Path(file).resolve() == path:
                    return module
            except OSError:
                continue
    return None


def _import_file(path: Path) -> str:
    if not path.is_file():
        raise PluginError(f"module file {str(path)!r} not found")
    found = _already_imported(path)
    if found is not None:
        return found.__name__
    name = _file_module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise PluginError(f"cannot import module file {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickling look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return name


def _fail(spec: str, exc: BaseException) -> PluginError:
    return PluginError(
        f"importing user module {spec!r} failed: {type(exc).__name__}: {exc} (run "
        f"`python -c 'import ...'` on it to see the traceback)"
    )


def import_module_spec(spec: str, base: str | os.PathLike[str] | None = None) -> str:
    """Import one module by name or .py path (see the module docstring); returns the name it
    is imported under. Importing again does nothing (Python's module cache)."""
    target = resolve_module_spec(spec, base)
    try:
        if is_module_path(target):
            return _import_file(Path(target))
        if target not in sys.modules:
            # a file imported by its path before is the same module: alias it, never run it
            # twice (its registrations would clash)
            found = importlib.util.find_spec(target)
            origin = getattr(found, "origin", None)
            if isinstance(origin, str) and origin.endswith(".py"):
                same = _already_imported(Path(origin).resolve())
                if same is not None:
                    sys.modules[target] = same
                    return same.__name__
        importlib.import_module(target)
        return target
    except PluginError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name is not None and (target == exc.name or target.startswith(exc.name + ".")):
            raise PluginError(
                f"no module named {target!r} in this process (pid {os.getpid()}): install its "
                "package, add its folder to PYTHONPATH, or give the path of its .py file"
            ) from exc
        raise _fail(spec, exc) from exc
    except Exception as exc:  # noqa: BLE001 - the user's code failed: name it, keep the cause
        raise _fail(spec, exc) from exc


def import_modules(names: Iterable[str], base: str | os.PathLike[str] | None = None) -> list[str]:
    """Import every module of ``names`` (module names or .py paths; paths relative to
    ``base``); returns the names they are imported under, in order, without repeats."""
    out: list[str] = []
    for spec in names:
        name = import_module_spec(spec, base)
        if name not in out:
            out.append(name)
    return out


def entry_points() -> list[importlib.metadata.EntryPoint]:
    """The entry points of group :data:`ENTRY_POINT_GROUP` of the installed packages."""
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_entry_points() -> list[str]:
    """Load (import) every entry point of :data:`ENTRY_POINT_GROUP`; returns their values.

    A package whose entry point fails is named with the error (a PluginError), never skipped.
    """
    out = []
    for ep in entry_points():
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - name the package and the fix
            dist = getattr(getattr(ep, "dist", None), "name", None)
            raise PluginError(
                f"entry point {ep.name!r} = {ep.value!r} of group {ENTRY_POINT_GROUP!r}"
                + (f" (package {dist})" if dist else "")
                + f" failed to load: {type(exc).__name__}: {exc}; fix or uninstall the package"
            ) from exc
        if ep.value not in out:
            out.append(ep.value)
    return out


def load_plugins(
    modules: Sequence[str] = (), base: str | os.PathLike[str] | None = None
) -> list[str]:
    """Import the entry points of installed packages, then ``modules``; returns what was
    loaded (entry-point values, then module names)."""
    loaded = load_entry_points()
    for name in import_modules(modules, base):
        if name not in loaded:
            loaded.append(name)
    return loaded


def unknown_name_hint(loaded: Sequence[str], kind: str | None = None) -> str:
    """What to say after ``unknown <kind> 'x'`` in a process that imported ``loaded``."""
    what = f"a {kind}" if kind else "a name"
    have = ", ".join(loaded) if loaded else "none"
    return (
        f"user modules imported by this process (pid {os.getpid()}): {have}. {what.capitalize()} "
        "registered in your own code is known only to processes that import its module: pass "
        "--module MOD (train, export, bench, search), list it in the bench suite ([suite] "
        'modules = ["my_pkg.datasets"] or "path/to/file.py"), or declare an entry point in '
        f"group {ENTRY_POINT_GROUP!r} of an installed package"
    )


@contextmanager
def user_code(modules: Sequence[str] = ()) -> Iterator[list[str]]:
    """Import the plugins and ``modules``, then run the body; an :class:`UnknownNameError`
    raised in the body gets the list of imported modules and the ways to add one."""
    loaded = load_plugins(modules)
    try:
        yield loaded
    except UnknownNameError as exc:
        if "user modules imported by this process" in str(exc):
            raise  # an inner user_code() already said it
        hint = unknown_name_hint(loaded, exc.kind)
        raise UnknownNameError(f"{exc}; {hint}", exc.kind, exc.name) from exc
