"""Deterministic, size-capped parquet shards with embedded files.

Rows are planned into shards from the sizes of the files they embed (so the number of
shards, hence the ``-of-NNNNN`` names, is known before anything is written), then each
shard is written on its own (``hepatokit.parallel.map_items``, largest shards first) in row
groups of bounded size. Embedded file bytes are stored uncompressed (they are already
gzip/PNG/JPEG), the other columns with zstd; no timestamps are written, so the same rows
give the same bytes. Like ``datasets``' own parquet writer, shards carry a page index
(column and offset indexes: readers such as the Hub's viewer skip pages) and use
content-defined chunking (page boundaries follow the content, so Xet storage deduplicates
unchanged rows between versions) when the installed pyarrow supports them
(:func:`writer_features`); both are deterministic. Files of 1 MiB and more (volumes) are
memory-mapped and handed to the parquet writer without a copy; smaller ones (patches) are
read back to back into one reusable buffer (:mod:`hepatokit.publish.shard_table`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import atomic_path
from hepatokit.errors import DataFormatError
from hepatokit.parallel import map_items
from hepatokit.publish.cells import DigestOf, EmbeddedFile
from hepatokit.publish.shard_table import Arena, arena_bytes, group_table

__all__ = [
    "DigestOf",
    "EmbeddedFile",
    "ShardResult",
    "ShardTask",
    "plan_shards",
    "plan_split",
    "remove_stale_shards",
    "shard_name",
    "warm_up",
    "write_shard",
    "write_shards",
    "writer_features",
]

log = logging.getLogger("hepatokit.publish.shards")

#: fixed allowance for the non-file columns of a row when planning shard sizes
ROW_OVERHEAD_BYTES = 512


@dataclass(frozen=True)
class ShardTask:
    """One shard to write: its final path, the Arrow schema (``Features.arrow_schema``,
    serialised: its metadata carries the HF features), the rows."""

    path: str
    schema: bytes
    rows: tuple[dict[str, Any], ...]
    embedded_columns: tuple[str, ...]
    row_group_bytes: int
    row_group_max_rows: int
    planned_bytes: int  # the rows' estimated size (:func:`row_size`): larger ones go first


@dataclass(frozen=True)
class ShardResult:
    """A written shard: rows, in-memory Arrow bytes per column, file size and sha256."""

    path: str
    num_rows: int
    column_bytes: dict[str, int]
    size: int
    sha256: str

    def num_bytes(self, columns: Iterable[str] | None = None) -> int:
        """In-memory Arrow bytes of ``columns`` (default: all); what ``datasets`` reports as
        a split's ``num_bytes`` for a config reading those columns."""
        names = self.column_bytes if columns is None else columns
        return sum(self.column_bytes[c] for c in names)


def shard_name(split: str, index: int, total: int) -> str:
    """``train-00000-of-00003.parquet`` (the Hub's naming, sorted by position)."""
    return f"{split}-{index:05d}-of-{total:05d}.parquet"


def row_size(row: dict[str, Any]) -> int:
    """Estimated stored size of a row in bytes: its embedded files plus a fixed overhead."""
    return ROW_OVERHEAD_BYTES + sum(v.size() for v in row.values() if isinstance(v, EmbeddedFile))


def plan_shards(sizes: Sequence[int], max_shard_bytes: int) -> list[list[int]]:
    """Cut consecutive rows into shards of at most ``max_shard_bytes`` (a row larger than the
    cap gets a shard of its own). Returns the row indices of each shard; never empty."""
    shards: list[list[int]] = [[]]
    current = 0
    for i, size in enumerate(sizes):
        if shards[-1] and current + size > max_shard_bytes:
            shards.append([])
            current = 0
        shards[-1].append(i)
        current += size
    return shards


def _row_groups(task: ShardTask) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = [[]]
    current = 0
    for row in task.rows:
        size = row_size(row)
        full = len(groups[-1]) >= task.row_group_max_rows or current + size > task.row_group_bytes
        if groups[-1] and full:
            groups.append([])
            current = 0
        groups[-1].append(row)
        current += size
    return groups


def warm_up() -> None:
    """Ready a worker for :func:`write_shard`: run in each worker of a pool started before the
    shards are planned, so that the workers are ready when the tasks come. Unpickling this
    call imports this module, hence pyarrow; the writer's options are probed here too."""
    writer_features()


@functools.cache
def writer_features() -> dict[str, Any]:
    """The ``pq.ParquetWriter`` options for the page index and content-defined chunking that
    the installed pyarrow knows (page index: pyarrow ≥ 13; chunking: ≥ 21)."""
    known = inspect.signature(pq.ParquetWriter.__init__).parameters
    features: dict[str, Any] = {}
    if "write_page_index" in known:
        features["write_page_index"] = True
    if "use_content_defined_chunking" in known:
        features["use_content_defined_chunking"] = True
    return features


def write_shard(task: ShardTask) -> ShardResult:
    """Write one shard atomically; return its counts and checksum.

    The shard is renamed into place but not fsynced: it is derived output, listed with its
    sha256 in ``checksums.sha256`` (which ``publish push`` verifies before uploading), so
    a shard torn by a power cut is caught and the build is re-run; an fsync per shard would
    make every worker wait for the disk in turn.
    """
    schema = pa.ipc.read_schema(pa.py_buffer(task.schema))
    plain = [name for name in schema.names if name not in task.embedded_columns]
    compression = {
        leaf: "NONE" if leaf.split(".")[0] in task.embedded_columns else "ZSTD"
        for leaf in _leaf_paths(schema)
    }
    column_bytes = dict.fromkeys(schema.names, 0)
    with (
        atomic_path(task.path, suffix=".parquet", durable=False) as tmp,
        pq.ParquetWriter(
            tmp,
            schema,
            compression=compression,
            use_dictionary=plain,
            write_statistics=plain,
            **writer_features(),
        ) as writer,
    ):
        arena = Arena()
        groups = _row_groups(task)
        arena.reset(max(arena_bytes(g) for g in groups))  # one allocation
        for group in groups:
            table = group_table(group, schema, task.embedded_columns, arena)
            for name in table.column_names:
                column_bytes[name] += table.column(name).nbytes
            writer.write_table(table, row_group_size=max(1, len(group)))
            del table  # releases the arena's views before the next group reuses it
    with open(task.path, "rb") as fh:  # from the page cache: cheaper than hashing in Python
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    return ShardResult(
        path=task.path,
        num_rows=len(task.rows),
        column_bytes=column_bytes,
        size=Path(task.path).stat().st_size,
        sha256=sha256,
    )


def _leaf_paths(schema: pa.Schema) -> list[str]:
    """Parquet column paths of every leaf of ``schema`` (``col.bytes``, ``col.list.element``)."""
    buf = io.BytesIO()
    pq.write_table(schema.empty_table(), buf)
    parquet_schema = pq.ParquetFile(io.BytesIO(buf.getvalue())).schema
    return [parquet_schema.column(i).path for i in range(len(parquet_schema))]


def plan_split(
    rows: Sequence[dict[str, Any]],
    *,
    folder: Path,
    split: str,
    schema: pa.Schema,
    embedded_columns: Sequence[str],
    max_shard_bytes: int,
    row_group_bytes: int,
    row_group_max_rows: int,
) -> list[ShardTask]:
    """The shard tasks of one split (rows in the given order) into ``folder``; ``schema`` is
    the ``pyarrow.Schema`` of the rows (``datasets.Features(...).arrow_schema``)."""
    sizes = [row_size(r) for r in rows]
    plan = plan_shards(sizes, max_shard_bytes)
    serialized = schema.serialize().to_pybytes()
    return [
        ShardTask(
            path=str(folder / shard_name(split, i, len(plan))),
            schema=serialized,
            rows=tuple(rows[j] for j in idx),
            embedded_columns=tuple(embedded_columns),
            row_group_bytes=row_group_bytes,
            row_group_max_rows=row_group_max_rows,
            planned_bytes=sum(sizes[j] for j in idx),
        )
        for i, idx in enumerate(plan)
    ]


def write_shards(
    tasks: Sequence[ShardTask], *, workers: int | None = None, executor: Executor | None = None
) -> list[ShardResult]:
    """Write every shard (in parallel, largest first so that the workers finish together);
    results in task order.

    Parameters
    ----------
    workers
        Processes of the pool made for this call (default: CPU count; 1 = inline).
    executor
        A running pool to use instead (``hepatokit.parallel.make_executor``).

    Raises
    ------
    DataFormatError
        If a shard could not be written (an embedded file unreadable or changed since
        curation); the message names the shard and the first error.
    """
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].planned_bytes)  # stable
    done = map_items(
        write_shard,
        [tasks[i] for i in order],
        executor=executor,
        workers=workers,
        chunksize=1,
        description="parquet shards",
    )
    results = [r for _, r in sorted(zip(order, done, strict=True), key=lambda pair: pair[0])]
    failed = [r for r in results if not r.ok]
    if failed:
        for r in failed:
            log.error("%s: %s", r.item.path, r.error)
        raise DataFormatError(
            f"{len(failed)} shard(s) could not be written; first: {failed[0].error}",
            path=failed[0].item.path,
            hint="check that every file the curated tables list exists and is unchanged "
            "(re-run the curation stage that wrote it)",
        )
    return [r.value for r in results if r.value is not None]


def remove_stale_shards(data_dir: Path, keep: Sequence[str]) -> list[Path]:
    """Delete ``*.parquet`` under ``data_dir`` that are not in ``keep`` (an earlier run's
    shards with other counts, splits or configs), then the folders left empty; returns the
    files removed."""
    keep_set = {str(Path(p).resolve()) for p in keep}
    removed = []
    for path in sorted(data_dir.rglob("*.parquet")) if data_dir.is_dir() else []:
        if str(path.resolve()) not in keep_set:
            path.unlink()
            removed.append(path)
    for folder in {p.parent for p in removed}:
        if folder != data_dir and not any(folder.iterdir()):
            folder.rmdir()
    return removed
