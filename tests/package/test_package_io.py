"""spikeenergy.io: atomic writes leave the old file or the new one, never half; versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spikeenergy.io import TMP_NAME, atomic_path, atomic_write, package_versions, temp_sibling


def test_atomic_write_bytes_text_and_callback(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "a.bin"  # parent created on demand
    assert atomic_write(p, b"\x00\x01") == p
    assert p.read_bytes() == b"\x00\x01"
    atomic_write(p, "é")  # str is UTF-8: two bytes
    assert p.read_bytes() == b"\xc3\xa9"
    atomic_write(p, lambda f: f.write(b"abc"))
    assert p.read_bytes() == b"abc"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.bin"]  # no temporary left


def test_failed_writer_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text("old")

    def broken(f: object) -> None:
        f.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        atomic_write(p, broken)
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["a.json"]


def test_atomic_path_for_writers_that_take_a_name(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    with atomic_path(p) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".t.csv.")
        tmp.write_text("x\n")
        assert not p.exists()  # the target appears only when the block ends
    assert p.read_text() == "x\n"
    with pytest.raises(FileNotFoundError, match="wrote nothing"), atomic_path(tmp_path / "u"):
        pass
    assert not (tmp_path / "u").exists()


def test_temporary_name_carries_the_pid(tmp_path: Path) -> None:
    m = TMP_NAME.match(temp_sibling(tmp_path / "run.h5").name)
    assert m is not None
    assert int(m.group(1)) == os.getpid()


def test_atomic_write_rejects_other_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not int"):
        atomic_write(tmp_path / "x", 3)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_package_versions_reads_metadata() -> None:
    from importlib import metadata

    import spikeenergy

    v = package_versions(("torch", "no-such-package-xyz"))
    assert v["spikeenergy"] == spikeenergy.__version__
    assert v["torch"] == metadata.version("torch")
    assert v["no-such-package-xyz"] == "not installed"
