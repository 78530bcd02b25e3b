"""README/docs tables are regenerated from result summaries; stale or missing ones are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeenergy.bench.doctables import check_documents, find_blocks, update_document
from spikeenergy.cli import main as cli_main

DOC = """# Results
text before
<!-- table: results/a/summary.md -->
| old | table |
<!-- /table -->
between
<!-- table: results/b/no_loss.md -->
<!-- /table -->
after
"""


def _setup(tmp_path: Path) -> Path:
    (tmp_path / "results" / "a").mkdir(parents=True)
    (tmp_path / "results" / "b").mkdir(parents=True)
    summary = "| new | table |\n|---|---|\n| 1 | 2 |\n"
    (tmp_path / "results" / "a" / "summary.md").write_text(summary)
    (tmp_path / "results" / "b" / "no_loss.md").write_text("| x |\n")
    doc = tmp_path / "README.md"
    doc.write_text(DOC)
    return doc


def test_blocks_are_rewritten_from_their_sources(tmp_path: Path) -> None:
    doc = _setup(tmp_path)
    assert check_documents([doc], tmp_path) == [
        f"{doc}: table from results/a/summary.md is out of date",
        f"{doc}: table from results/b/no_loss.md is out of date",
    ]
    assert update_document(doc, tmp_path) == 2
    text = doc.read_text()
    assert "| old | table |" not in text
    assert "| new | table |\n|---|---|\n| 1 | 2 |" in text
    assert text.startswith("# Results\ntext before\n")
    assert text.endswith("after\n")
    assert "between\n<!-- table: results/b/no_loss.md -->\n| x |\n<!-- /table -->" in text
    assert update_document(doc, tmp_path) == 0  # idempotent
    assert check_documents([doc], tmp_path) == []


def test_missing_source_unclosed_and_nested_blocks_raise(tmp_path: Path) -> None:
    doc = _setup(tmp_path)
    (tmp_path / "results" / "a" / "summary.md").unlink()
    with pytest.raises(FileNotFoundError, match="results/a/summary.md does not exist"):
        update_document(doc, tmp_path)
    assert doc.read_text() == DOC  # nothing written on error
    with pytest.raises(ValueError, match="never closed"):
        find_blocks(["<!-- table: a.md -->", "x"])
    with pytest.raises(ValueError, match="inside the block"):
        find_blocks(["<!-- table: a.md -->", "<!-- table: b.md -->"])
    with pytest.raises(ValueError, match="without an opening"):
        find_blocks(["<!-- /table -->"])


def test_cli_tables_check_and_update(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    doc = _setup(tmp_path)
    assert cli_main(["tables", str(doc), "--root", str(tmp_path), "--check"]) == 1
    assert cli_main(["tables", str(doc), "--root", str(tmp_path)]) == 0
    assert "2 table(s) rewritten" in capsys.readouterr().out
    assert cli_main(["tables", str(doc), "--root", str(tmp_path), "--check"]) == 0
