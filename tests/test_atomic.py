"""Atomic writes leave either the old file or the complete new one."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepatokit import atomic
from hepatokit.atomic import (
    atomic_path,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)


def test_failed_write_keeps_old_content_and_no_temp(tmp_path):
    target = tmp_path / "out.bin"
    write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_json_is_byte_stable(tmp_path):
    a = write_json_atomic(tmp_path / "a.json", {"b": 1, "a": [1, 2]}).read_bytes()
    b = write_json_atomic(tmp_path / "b.json", {"a": [1, 2], "b": 1}).read_bytes()
    assert a == b


def test_parquet_is_byte_stable_and_creates_parents(tmp_path):
    table = pa.table({"id": ["x", "y"], "v": [1, 2]})
    p1 = write_parquet_atomic(tmp_path / "d1" / "t.parquet", table)
    p2 = write_parquet_atomic(tmp_path / "d2" / "t.parquet", table)
    assert p1.read_bytes() == p2.read_bytes()
    assert pq.read_table(p1).equals(table)


def test_written_files_get_normal_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        import importlib

        import hepatokit.atomic as atomic

        importlib.reload(atomic)
        path = atomic.write_bytes_atomic(tmp_path / "f.bin", b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# the lean path of write_bytes_atomic(durable=False) against the general one (atomic_path)


def test_lean_write_gives_the_general_paths_file(tmp_path: Path) -> None:
    data = os.urandom(70_000)
    atomic.write_bytes_atomic(tmp_path / "a.nii.gz", data, durable=False)  # lean
    with atomic.atomic_write(tmp_path / "b.nii.gz", durable=False) as fh:  # general
        fh.write(data)
    a, b = (tmp_path / "a.nii.gz"), (tmp_path / "b.nii.gz")
    assert a.read_bytes() == b.read_bytes() == data
    assert a.stat().st_mode == b.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz", "b.nii.gz"]
    atomic.write_bytes_atomic(a, b"second", durable=False)  # replaces
    assert a.read_bytes() == b"second"
    atomic.write_bytes_atomic(tmp_path / "new" / "c.txt", b"c", durable=False)  # no folder yet
    assert (tmp_path / "new" / "c.txt").read_bytes() == b"c"


def test_lean_temporary_name_is_a_stale_temp(tmp_path: Path) -> None:
    name = f".sub-x_T1W.json.{os.getpid() % 10**8:08d}.tmp"
    assert atomic._TEMP_NAME.match(name)
    (tmp_path / name).write_bytes(b"left by a killed run")
    atomic.write_bytes_atomic(tmp_path / "sub-x_T1W.json", b"{}\n", durable=False)
    assert (tmp_path / "sub-x_T1W.json").read_bytes() == b"{}\n"  # written all the same
    assert atomic.remove_stale_temps(tmp_path) == [tmp_path / name]


def test_lean_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int, data: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "write", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_bytes_atomic(tmp_path / "v.nii.gz", b"x" * 10, durable=False)
    assert list(tmp_path.iterdir()) == []
