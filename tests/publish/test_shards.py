"""Shard planning and writing: size caps, order, determinism."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from hepatokit.errors import DataFormatError
from hepatokit.publish import shard_table
from hepatokit.publish.shards import EmbeddedFile, plan_shards, plan_split, write_shards


@given(st.lists(st.integers(1, 1000), max_size=60), st.integers(1, 3000))
@settings(max_examples=200, deadline=None)
def test_plan_keeps_order_and_cap(sizes, cap):
    plan = plan_shards(sizes, cap)
    assert [i for shard in plan for i in shard] == list(range(len(sizes)))
    assert plan and all(plan[1:])  # only an empty input gives an empty shard
    for shard in plan:
        total = sum(sizes[i] for i in shard)
        assert total <= cap or len(shard) == 1


def test_small_cap_gives_several_identical_shards(tmp_path):
    from datasets import Features, Image, Value

    files = []
    for i in range(7):
        f = tmp_path / f"{i}.bin"
        f.write_bytes(bytes([i]) * (3000 + i))
        files.append(f)
    schema = Features({"id": Value("string"), "image": Image()}).arrow_schema
    rows = [{"id": str(i), "image": EmbeddedFile(str(f), f"{i}.png")} for i, f in enumerate(files)]

    def run(folder):
        tasks = plan_split(
            rows,
            folder=folder,
            split="train",
            schema=schema,
            embedded_columns=["image"],
            max_shard_bytes=8000,
            row_group_bytes=4000,
            row_group_max_rows=100,
        )
        return write_shards(tasks, workers=1)

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    assert [r.num_rows for r in a] == [2, 2, 2, 1]
    assert [r.sha256 for r in a] == [r.sha256 for r in b]
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [f"train-{i:05d}-of-00004.parquet" for i in range(4)]
    first = pq.ParquetFile(tmp_path / "a" / names[0])
    assert first.metadata.num_row_groups == 2  # 4000-byte row groups
    cell = first.read().to_pylist()[0]["image"]
    assert cell == {"bytes": files[0].read_bytes(), "path": "0.png"}


def _mixed_rows(tmp_path, sizes):
    """Rows with one embedded column: files of the given sizes (None = a missing file)."""
    rows = []
    for i, size in enumerate(sizes):
        cell = None
        if size is not None:
            f = tmp_path / "src" / f"{i}.nii.gz"
            f.parent.mkdir(exist_ok=True)
            f.write_bytes(bytes([i % 256]) * size)
            md5 = hashlib.md5(f.read_bytes()).hexdigest()
            cell = EmbeddedFile(str(f), f"{i}.nii.gz", md5=md5, nbytes=size)
        rows.append({"id": str(i), "volume": cell})
    return rows


def _tasks(rows, folder):
    from datasets import Features, Nifti, Value

    schema = Features({"id": Value("string"), "volume": Nifti()}).arrow_schema
    return plan_split(
        rows,
        folder=folder,
        split="train",
        schema=schema,
        embedded_columns=["volume"],
        max_shard_bytes=1 << 30,
        row_group_bytes=1 << 30,
        row_group_max_rows=100,
    )


def test_mapped_and_read_files_round_trip(tmp_path, monkeypatch):
    """Large files are memory-mapped, runs of small ones read into the arena, missing ones
    null: every cell reads back as the file's bytes, in row order, deterministically."""
    monkeypatch.setattr(shard_table, "MAP_MIN_BYTES", 1000)
    sizes = [10, 5000, None, 20, 30, 4000, 1000, None, 999, 0]
    rows = _mixed_rows(tmp_path, sizes)
    a = write_shards(_tasks(rows, tmp_path / "a"), workers=1)
    b = write_shards(_tasks(rows, tmp_path / "b"), workers=1)
    assert a[0].sha256 == b[0].sha256
    table = pq.read_table(a[0].path).to_pylist()
    assert [r["id"] for r in table] == [str(i) for i in range(len(sizes))]
    for row, size in zip(table, sizes, strict=True):
        if size is None:
            assert row["volume"] is None
        else:
            assert row["volume"]["bytes"] == bytes([int(row["id"]) % 256]) * size
            assert row["volume"]["path"] == f"{row['id']}.nii.gz"


def test_changed_mapped_file_fails_the_shard(tmp_path, monkeypatch):
    """A mapped file whose size or content changed since the plan fails the shard, naming it."""
    monkeypatch.setattr(shard_table, "MAP_MIN_BYTES", 1000)
    rows = _mixed_rows(tmp_path, [5000, 6000])
    tasks = _tasks(rows, tmp_path / "out")
    Path(rows[1]["volume"].source).write_bytes(b"\x00" * 6000)  # same size, other bytes
    with pytest.raises(DataFormatError, match="md5 differs"):
        write_shards(tasks, workers=1)
    Path(rows[1]["volume"].source).write_bytes(b"\x00" * 10)
    with pytest.raises(DataFormatError, match="size changed"):
        write_shards(tasks, workers=1)
