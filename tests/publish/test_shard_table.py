"""One row group as an Arrow table: embedded bytes, digests of the published bytes, the arena."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from hepatokit.publish import shard_table
from hepatokit.publish.cells import DigestOf, EmbeddedFile
from hepatokit.publish.shard_table import Arena, arena_bytes, group_table

FILE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
SCHEMA = pa.schema([("id", pa.string()), ("blob", FILE), ("md5", pa.string())])


def _rows(tmp_path, sizes):
    rows = []
    for i, size in enumerate(sizes):
        cell = None
        if size is not None:
            f = tmp_path / f"{i}.bin"
            f.write_bytes(bytes(range(256)) * (size // 256) + bytes([i]) * (size % 256))
            cell = EmbeddedFile(str(f), f"{i}.bin")
        rows.append({"id": str(i), "blob": cell, "md5": DigestOf("blob")})
    return rows


@pytest.mark.parametrize("map_min", [1 << 20, 600])
def test_cells_hold_the_files_and_digests_their_bytes(tmp_path, monkeypatch, map_min):
    """Every cell holds its file's bytes (read into the arena or memory-mapped), a missing
    file is null in both columns, and the digest is hashlib's MD5 of the file."""
    monkeypatch.setattr(shard_table, "MAP_MIN_BYTES", map_min)
    sizes = [700, None, 5, 0, 1300, 17]
    rows = _rows(tmp_path, sizes)
    table = group_table(rows, SCHEMA, ["blob"], Arena()).to_pylist()
    assert [r["id"] for r in table] == [str(i) for i in range(len(sizes))]
    for i, (row, size) in enumerate(zip(table, sizes, strict=True)):
        if size is None:
            assert row["blob"] is None and row["md5"] is None
            continue
        data = (tmp_path / f"{i}.bin").read_bytes()
        assert row["blob"] == {"bytes": data, "path": f"{i}.bin"}
        assert row["md5"] == hashlib.md5(data).hexdigest()
    small = [s for s in sizes if s is not None and s < map_min]
    assert arena_bytes(rows) == sum(small)


def test_a_changed_file_is_refused(tmp_path):
    """The plan's size and MD5 are checked while the file is read."""
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 10)
    good = EmbeddedFile(str(f), "a.bin", md5=hashlib.md5(b"x" * 10).hexdigest())
    rows = [{"id": "a", "blob": good, "md5": None}]
    assert group_table(rows, SCHEMA, ["blob"], Arena()).num_rows == 1
    f.write_bytes(b"y" * 10)
    with pytest.raises(ValueError, match="md5 differs"):
        group_table(rows, SCHEMA, ["blob"], Arena())
    stale = EmbeddedFile(str(f), "a.bin", nbytes=12)
    with pytest.raises(ValueError, match="size changed"):
        group_table([{"id": "a", "blob": stale, "md5": None}], SCHEMA, ["blob"], Arena())
