"""Atomic writes leave either the old file or the complete new one."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
