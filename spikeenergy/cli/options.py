"""Options shared by several commands that need no heavy import: ``--module`` and the
``KEY=VALUE`` options (``--dataset-option``, ``--energy-option``), parsed as TOML values.

Kept free of torch and the data stack so that a command's ``--help`` builds its parser quickly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any

from spikeenergy.plugins import resolve_module_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def add_module_arg(p: argparse.ArgumentParser) -> None:
    """--module MOD (repeatable): user code to import first (datasets, metrics it registers)."""
    p.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="MOD",
        help="import this module first, repeatable: a dotted name (my_pkg.datasets) or a .py "
        "path; the datasets and metrics it registers become usable (bench workers import it "
        "too). Installed packages with a 'spikeenergy.datasets' entry point need no --module",
    )


def add_dataset_option_arg(p: argparse.ArgumentParser) -> None:
    """--dataset-option KEY=VALUE (repeatable): an option of the dataset."""
    p.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, repeatable; VALUE is read as TOML (300, 0.5, true, [3], "
        '"text"); other text is taken as a string (split_by=subject)',
    )


def module_specs(args: argparse.Namespace) -> list[str]:
    """The --module values, .py paths made absolute (relative to the current folder)."""
    return [resolve_module_spec(m) for m in getattr(args, "module", None) or []]


def _option_value(key: str, text: str, flag: str = "--dataset-option") -> Any:
    """VALUE of ``FLAG KEY=VALUE`` as a TOML value; plain text is a string."""
    if not text or "\n" in text:
        raise ValueError(f"{flag} {key}=...: give one value on one line (e.g. {key}=300)")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if text[0] in "[{\"'":
            raise ValueError(
                f"{flag} {key}={text}: the value is not valid TOML (quote text as "
                f"{key}='\"...\"', write lists as [1, 2])"
            ) from None
        return text  # bare words: split_by=subject
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        raise ValueError(
            f"{flag} {key}={text}: a date/time is not an option value; quote it "
            f"({key}='\"{text}\"') to pass text"
        )
    return value


def parse_dataset_options(
    items: Sequence[str], flag: str = "--dataset-option", example: str = "limit=300"
) -> dict[str, Any]:
    """``["limit=300", "split_by=subject"]`` -> ``{"limit": 300, "split_by": "subject"}``.

    A ValueError names an item without ``=``, an empty key, a key given twice, or a value
    that starts like TOML (``[``, ``{``, a quote) but is not valid TOML. ``flag`` and
    ``example`` name the option in those messages (``--energy-option`` parses the same way).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{flag} {item!r} must be KEY=VALUE (e.g. {flag} {example})")
        if key in out:
            raise ValueError(f"{flag} {key} is given twice; give each option once")
        out[key] = _option_value(key, text.strip(), flag)
    return out
