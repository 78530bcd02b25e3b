"""Optional dependencies: which ``pip install 'spikeenergy[EXTRA]'`` brings which package.

``pip install spikeenergy`` alone gives the core: activity recording, the energy ledger and
terms, cost models, measurement (:func:`spikeenergy.metrics.measure`, :class:`Harness`) and
JSON / CSV export for plain PyTorch models, on torch and numpy. Everything else is an extra
(the table :data:`EXTRAS` mirrors ``[project.optional-dependencies]`` in pyproject.toml, a test
keeps them equal). Code that needs an extra says so in one line, naming what to install:

- :func:`require_extra` checks that an extra's packages are installed (without importing
  them) and raises :class:`MissingExtraError` otherwise. The packages that need an extra as a
  whole import a module of this package first (``import spikeenergy.extras.data``), so that
  ``import spikeenergy.data`` without it fails with that one line.
- :func:`require` imports one optional module, or raises :class:`MissingExtraError`.
- :func:`missing_extra` turns a ``ModuleNotFoundError`` of an optional package into the
  :class:`MissingExtraError` naming its extra (the command line uses it for every command).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

#: extra -> the import names of the packages it installs (its own, not those of extras it
#: includes); pyproject.toml lists the distributions and versions
EXTRAS: dict[str, tuple[str, ...]] = {
    "snntorch": ("snntorch",),
    "norse": ("norse",),
    "data": ("tonic", "scipy", "sklearn"),
    "hdf5": ("h5py",),
    "bench": ("pandas", "statsmodels", "scipy", "matplotlib", "adjustText", "h5py"),
    "nir": ("nir", "nirtorch"),
    "search": ("optuna",),
    "ray": ("ray",),
}

#: extra -> the extras it includes (``bench`` runs on datasets, so it brings ``data``)
INCLUDES: dict[str, tuple[str, ...]] = {
    "bench": ("data",),
    "search": ("bench",),
}

#: import name -> distribution name, where they differ (or differ in case)
DISTRIBUTIONS = {"sklearn": "scikit-learn", "adjustText": "adjustText"}


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def modules_of(extra: str) -> tuple[str, ...]:
    """The import names an extra provides, including those of the extras it includes."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; the extras are {sorted(EXTRAS)}")
    out = list(EXTRAS[extra])
    for inner in INCLUDES.get(extra, ()):
        out += [m for m in modules_of(inner) if m not in out]
    return tuple(out)


def extra_for(module: str) -> str | None:
    """The smallest extra that installs top-level package ``module`` (None: not optional)."""
    top = module.split(".")[0]
    for extra, names in EXTRAS.items():
        if top in names:
            return extra
    return None


def message(module: str, extra: str, what: str | None = None) -> str:
    """The one line: what needs which package, and the pip command that installs it."""
    top = module.split(".")[0]
    who = what or "this part of spikeenergy"
    return (
        f"{who} needs {DISTRIBUTIONS.get(top, top)!r}, which is not installed: "
        f"pip install 'spikeenergy[{extra}]'"
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_extra(extra: str, what: str | None = None) -> None:
    """Raise :class:`MissingExtraError` unless every package of ``extra`` is installed.

    Only looks the packages up (``importlib.util.find_spec``); nothing is imported.
    """
    for module in modules_of(extra):
        if not _installed(module):
            raise MissingExtraError(message(module, extra, what))


def require(module: str, extra: str | None = None, what: str | None = None) -> ModuleType:
    """Import optional ``module`` (e.g. ``"optuna"``); :class:`MissingExtraError` naming
    ``extra`` (default: the extra that provides it) when its package is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        err = missing_extra(exc, extra, what)
        if err is None:
            raise
        raise err from None


def missing_extra(
    exc: BaseException, extra: str | None = None, what: str | None = None
) -> MissingExtraError | None:
    """``exc`` as a :class:`MissingExtraError` when it is one already, or a
    ``ModuleNotFoundError`` of a package some extra provides; else None (a real error)."""
    if isinstance(exc, MissingExtraError):
        return exc
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    known = extra_for(exc.name)
    if known is None:
        return None
    if extra is None or exc.name.split(".")[0] not in modules_of(extra):
        extra = known
    return MissingExtraError(message(exc.name, extra, what))
