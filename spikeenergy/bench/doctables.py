"""Regenerate the result tables quoted in README/docs from summary files written by the suites.

Every number in the README and docs must come from a result file through a command that
regenerates it. A document marks each generated table with an opening and a closing comment::

    <!-- table: benchmarks/results/best-joules/summary.md -->
    | ... the table, rewritten by `spikeenergy tables README.md` ... |
    <!-- /table -->

The path (relative to ``root``, the repository) names a small Markdown file written by
``spikeenergy report`` (``summary.md``, ``no_loss.md``, ``anova.md``...) and committed beside
the suite; :func:`update_document` replaces the block body with that file's content. A path
that does not exist, an unclosed block or a nested block raises: a stale or missing table is an
error, never silently kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from spikeenergy.io import atomic_write

OPEN = re.compile(r"^<!--\s*table:\s*(?P<path>\S+)\s*-->\s*$")
CLOSE = re.compile(r"^<!--\s*/table\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One generated block: its source file and the line range of its body (end exclusive)."""

    source: str
    start: int
    end: int


def find_blocks(lines: list[str], doc: str = "<document>") -> list[Block]:
    """The ``table`` blocks of a document's lines; raises on unclosed or nested blocks."""
    blocks: list[Block] = []
    open_at: tuple[int, str] | None = None
    for i, line in enumerate(lines):
        if m := OPEN.match(line):
            if open_at is not None:
                raise ValueError(
                    f"{doc}:{i + 1}: a table block opens inside the block opened at line "
                    f"{open_at[0] + 1}; close it first with <!-- /table -->"
                )
            open_at = (i, m["path"])
        elif CLOSE.match(line):
            if open_at is None:
                raise ValueError(f"{doc}:{i + 1}: <!-- /table --> without an opening block")
            blocks.append(Block(open_at[1], open_at[0] + 1, i))
            open_at = None
    if open_at is not None:
        raise ValueError(
            f"{doc}:{open_at[0] + 1}: table block for {open_at[1]} is never closed; add "
            "<!-- /table --> after it"
        )
    return blocks


def update_document(path: str | os.PathLike[str], root: str | os.PathLike[str] = ".") -> int:
    """Rewrite every table block of ``path`` from its source file; returns how many changed.

    The file is rewritten only when something changed (atomically: written beside, renamed).
    """
    doc = Path(path)
    base = Path(root)
    text = doc.read_text()
    lines = text.split("\n")
    blocks = find_blocks(lines, str(doc))
    changed = 0
    for block in reversed(blocks):  # from the end, so earlier line numbers stay valid
        src = base / block.source
        if not src.is_file():
            raise FileNotFoundError(
                f"{doc}: table source {block.source} does not exist under {base}; run the "
                "suite and `spikeenergy report` that write it, or fix the path"
            )
        body = src.read_text().rstrip("\n").split("\n")
        if lines[block.start : block.end] != body:
            lines[block.start : block.end] = body
            changed += 1
    if changed:
        atomic_write(doc, "\n".join(lines))
    return changed


def update_documents(
    paths: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str] = "."
) -> dict[str, int]:
    """:func:`update_document` for each path; returns path -> number of tables rewritten."""
    return {str(p): update_document(p, root) for p in paths}


def check_documents(
    paths: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str] = "."
) -> list[str]:
    """The documents whose tables differ from their sources (none changed on disk)."""
    stale = []
    for p in paths:
        doc = Path(p)
        lines = doc.read_text().split("\n")
        for block in find_blocks(lines, str(doc)):
            src = Path(root) / block.source
            if not src.is_file():
                stale.append(f"{doc}: missing source {block.source}")
                continue
            if lines[block.start : block.end] != src.read_text().rstrip("\n").split("\n"):
                stale.append(f"{doc}: table from {block.source} is out of date")
    return stale
