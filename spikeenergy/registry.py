"""A small generic name -> object registry used at the CLI/config edge.

Duplicate names raise; unknown names raise a KeyError that lists the known ones, so a typo in a
config file or on the command line names its own fix. :meth:`Registry.replace` and
:meth:`Registry.unregister` are for interactive work (a notebook cell that registers a dataset
can be run again); code that is imported, e.g. a plugin module, should use :meth:`Registry.add`
so that two modules claiming one name fail loudly.

A registry whose built-in entries are registered by a heavier module (the model families next to
their torch classes) names that module as ``builtins``: it is imported on the registry's first
use, so that a light module can hold the registry without importing torch, and a lookup never
misses a built-in. :func:`lazy_exports` gives a package the same laziness for its public names.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the known names.

    ``kind`` and ``name`` (when given) say which registry and which name, so that a caller can
    add context (e.g. a worker process naming the modules it imported).
    """

    def __init__(self, message: str, kind: str | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:  # keep kind and name through pickling (workers)
        return (type(self), (str(self), self.kind, self.name))

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain sentence
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Map names to objects (factories, specs, cost models...) of one kind."""

    def __init__(self, kind: str, builtins: str | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._builtins = builtins  # module that registers the built-in items, imported once

    def _load_builtins(self) -> None:
        """Import the module of the built-in items before the first use (also before a user's
        :meth:`add`, so that a clash with a built-in name fails there, not later)."""
        if self._builtins is not None:  # a failed import raises here, and again next time
            importlib.import_module(self._builtins)
            self._builtins = None

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; a second registration of the same name raises."""
        self._load_builtins()
        key = name.lower()
        if key in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[key] = item
        return item

    def replace(self, name: str, item: T) -> T | None:
        """Register ``item`` under ``name``, replacing what was there; returns the previous
        item (None when the name was free). For notebooks and interactive sessions: a cell
        that registers can be re-run. Worker processes are not affected (they import the
        modules that register; see :mod:`spikeenergy.plugins`)."""
        self._load_builtins()
        key = name.lower()
        previous = self._items.get(key)
        self._items[key] = item
        return previous

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its item; an unknown name raises with the known ones."""
        item = self.get(name)
        del self._items[name.lower()]
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            return self.add(name, item)

        return deco

    def get(self, name: str) -> T:
        """Return the item for ``name`` (case-insensitive) or raise with the known names."""
        self._load_builtins()
        try:
            return self._items[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; known: {known}", self.kind, name
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load_builtins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load_builtins()
        return len(self._items)


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A PEP 562 ``__getattr__`` for ``package``: public name -> the module that defines it,
    imported on first use (a name equal to its module's last part is that submodule).

    So importing one light module of a package (``spikeenergy.energy.cost_models``) does not
    import the package's torch modules, and ``spikeenergy --help`` stays fast. The value is
    cached in the package on first use.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(names[name])
        value = module if names[name] == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


class FrozenDict(Mapping[str, Any]):
    """An immutable, hashable, picklable mapping for option tables of frozen configs.

    Nested lists become tuples and nested dicts FrozenDicts, so a config holding options can be
    hashed and used as a key; ``dict(fd)`` (or :meth:`to_dict`) gives plain data back for JSON.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: tuple[tuple[str, Any], ...] = tuple(
            sorted((str(k), _freeze(v)) for k, v in pairs)
        )

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({dict(self._items)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (self._items,))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (JSON / TOML friendly)."""
        return {k: _thaw(v) for k, v in self._items}


def _freeze(v: Any) -> Any:
    if isinstance(v, FrozenDict):
        return v
    if isinstance(v, Mapping):
        return FrozenDict(v)
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    return v


def _thaw(v: Any) -> Any:
    if isinstance(v, FrozenDict):
        return v.to_dict()
    if isinstance(v, tuple):
        return [_thaw(x) for x in v]
    return v


def reject_unknown_keys(d: Mapping[str, Any], cls: Any, label: str) -> None:
    """Raise a ValueError naming the keys of ``d`` that are not fields of dataclass ``cls``."""
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {label} keys {sorted(unknown)}; known: {sorted(known)}")
