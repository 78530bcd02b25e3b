"""Configuration files: one TOML reader and one set of key and type checks for every kind.

Benchmark suites (:func:`spikeenergy.bench.load_suite`), search suites
(:func:`spikeenergy.search.load_suite`) and cost-model files
(:func:`spikeenergy.energy.cost_models_from_toml`) are read by :func:`read_toml` and checked by
:func:`check_keys` and :func:`check_types`, so a typo or a wrong type gets the same kind of
message whatever the file: the file, the table, the key, what it must be, and the known keys.
Each caller passes its own error class (e.g. ``SuiteError``, a ``ValueError``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import sys
import types
import typing
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_toml(
    path: str | Path, kind: str = "configuration", error: type[Exception] = ValueError
) -> dict[str, Any]:
    """The parsed TOML file at ``path``; a missing file or invalid TOML raises ``error`` naming
    the file, the ``kind`` of file expected and the parser's line and column."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: no such {kind} file")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{p}: not valid TOML ({kind} file): {exc}") from None


def check_keys(
    table: Any, known: set[str], where: str, src: str, error: type[Exception] = ValueError
) -> dict[str, Any]:
    """``table`` itself when it is a table whose keys are all ``known``; else ``error`` naming
    the unknown keys, the table (``where``, e.g. ``"[train]"``), the file and the known keys."""
    if not isinstance(table, dict):
        raise error(f"{src}: {where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - known)
    if unknown:
        raise error(f"{src}: unknown key(s) {unknown} in {where}; known: {sorted(known)}")
    return table


def type_rule(value: Any, hint: Any) -> str | None:
    """None when ``value`` (parsed TOML) fits the type ``hint``, else what it must be."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        rules = [type_rule(value, a) for a in args if a is not type(None)]
        if any(r is None for r in rules):
            return None
        return " or ".join(r for r in rules if r) + (" (or absent)" if type(None) in args else "")
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok and math.isfinite(value) else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if isinstance(value, (list, tuple)) and all(type_rule(v, args[0]) is None for v in value):
            return None
        plural = {int: "integers", float: "finite numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural.get(args[0], 'values')}"
    if origin in (dict, collections.abc.Mapping) or hint is dict or dataclasses.is_dataclass(hint):
        table_types = (dict, hint) if isinstance(hint, type) and hint is not dict else (dict,)
        return None if isinstance(value, table_types) else "a table"
    return None  # anything else is left to the class's own checks


def check_types(
    table: dict[str, Any], cls: Any, where: str, src: str, error: type[Exception] = ValueError
) -> None:
    """Every value of ``table`` has the type of the field of dataclass ``cls`` it sets (see
    :func:`type_rule`); else ``error`` naming the key, its value and what it must be."""
    hints = typing.get_type_hints(cls)
    for key, value in table.items():
        if key in hints:
            rule = type_rule(value, hints[key])
            if rule is not None:
                raise error(f"{src}: {where}: {key}={value!r} must be {rule}")


def differences(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Where two plain-data documents (nested dicts, e.g. two configs) differ: one
    ``(dotted.key.path, value in a, value in b)`` per differing leaf, keys in sorted order (a
    key missing on one side reads as None there)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[tuple[str, Any, Any]] = []
        for k in sorted(set(a) | set(b), key=str):
            out += differences(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [(path, a, b)]
