"""Files that ship inside the package: benchmark suites, search suites and dataset cards.

They are read through :mod:`importlib.resources`, so a source checkout, an editable install and
an installed wheel find them the same way (``spikeenergy/suites/*.toml``,
``spikeenergy/search/suites/*.toml``, ``spikeenergy/datasets/<name>/README.md``). Suites of
your own load from any path; these are the ones named on the command line without a path
(``spikeenergy bench quick``, ``spikeenergy search smoke``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: folders below the package that hold shipped files
SUITES_DIR = ("suites",)
SEARCH_SUITES_DIR = ("search", "suites")
CARDS_DIR = ("datasets",)


def package_path(*parts: str) -> Path:
    """The file or folder ``parts`` below the installed ``spikeenergy`` package, as a path.

    Raises RuntimeError when the package is not installed as files on disk (a zip import),
    which spikeenergy does not support (its suites are opened by path).
    """
    target = resources.files("spikeenergy").joinpath(*parts)
    if not isinstance(target, Path):
        raise RuntimeError(
            f"spikeenergy is imported from {type(target).__name__} (a zip?); install it as "
            "files (pip install spikeenergy) to read its shipped suites and cards"
        )
    return target


def suites_dir() -> Path:
    """The folder of the benchmark suites shipped with the package (``quick``, ``full``, ...)."""
    return package_path(*SUITES_DIR)


def search_suites_dir() -> Path:
    """The folder of the search suites shipped with the package (``smoke``, ...)."""
    return package_path(*SEARCH_SUITES_DIR)


def shipped_names(folder: Path) -> list[str]:
    """Sorted names (file stems) of the ``*.toml`` files in ``folder``."""
    return sorted(p.stem for p in folder.glob("*.toml"))


def card_path(card: str) -> Path | None:
    """The file of a dataset card: ``card`` relative to the package (the built-in datasets'
    ``datasets/<name>/README.md``), else ``card`` as a path of its own if it is a file (cards
    of your own datasets); None when neither exists (a URL or a free-text reference)."""
    if not card:
        return None
    shipped = package_path(*Path(card).parts)
    if shipped.is_file():
        return shipped
    own = Path(card).expanduser()
    return own if own.is_file() else None
