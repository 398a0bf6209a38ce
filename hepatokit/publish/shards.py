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
read back to back into one reusable buffer.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepatokit.atomic import atomic_path
from hepatokit.parallel import map_items

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
class EmbeddedFile:
    """A file whose bytes go into a ``{"bytes", "path"}`` struct cell.

    ``source`` is read at write time and never stored; ``name`` is the public file name kept
    in the cell's ``path`` (it carries the extension that tells readers the encoding).
    """

    source: str
    name: str
    md5: str | None = None
    nbytes: int | None = None  # the file's size if the collector already knows it
    #: an image published without its metadata: its PIL format (see
    #: :func:`hepatokit.imagemeta.scrub_image`); None = the bytes as they are
    scrub_format: str | None = None

    def size(self) -> int:
        return self.nbytes if self.nbytes is not None else Path(self.source).stat().st_size


@dataclass(frozen=True)
class DigestOf:
    """A cell holding the MD5 of the bytes another (embedded) column of the row publishes:
    known only once the file has been read (and scrubbed) at write time."""

    column: str


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


class _Arena:
    """One reusable byte buffer per shard writer: the embedded files of a row group are read
    into it (fresh memory for every group is slow to fault in on some machines)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.position = 0

    def reset(self, needed: int) -> None:
        if len(self.buffer) < needed:
            self.buffer = bytearray(needed)
        self.position = 0

    def take(self, n: int) -> memoryview:
        view = memoryview(self.buffer)[self.position : self.position + n]
        self.position += n
        return view


#: embedded files of at least this size are memory-mapped (zero-copy) instead of read
MAP_MIN_BYTES = 1 << 20


def _check_md5(cell: EmbeddedFile, data: Any) -> None:
    if cell.md5 is not None and hashlib.md5(data).hexdigest() != cell.md5:
        raise ValueError(f"{cell.source}: md5 differs from the curated table's (changed)")


def _read_run(cells: Sequence[EmbeddedFile | None], sizes: Sequence[int], arena: _Arena) -> Any:
    """A ``binary`` array of small files (``None`` → null) read back to back into ``arena``."""
    import numpy as np
    import pyarrow as pa

    region = arena.take(sum(sizes))
    offset = 0
    for cell, size in zip(cells, sizes, strict=True):
        if cell is not None:
            chunk = region[offset : offset + size]
            with open(cell.source, "rb", buffering=0) as fh:
                got = fh.readinto(chunk)
            if got != size:
                raise ValueError(f"{cell.source}: size changed while reading")
            _check_md5(cell, chunk)
        offset += size
    present = pa.array([c is not None for c in cells], type=pa.bool_())
    offsets = pa.py_buffer(np.cumsum([0, *sizes], dtype=np.int64).astype(np.int32))
    return pa.Array.from_buffers(
        pa.binary(), len(cells), [present.buffers()[1], offsets, pa.py_buffer(region)]
    )


def _mapped(cell: EmbeddedFile, size: int) -> Any:
    """A one-value ``binary`` array over the memory-mapped file (no copy: the parquet writer
    reads the page cache directly)."""
    import numpy as np
    import pyarrow as pa

    data = pa.memory_map(cell.source).read_buffer()
    if data.size != size:
        raise ValueError(f"{cell.source}: size changed while reading")
    _check_md5(cell, data)
    offsets = pa.py_buffer(np.array([0, size], dtype=np.int32))
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, data])


def _embedded_array(cells: Sequence[EmbeddedFile | None], arena: _Arena) -> Any:
    """A ``struct<bytes: binary, path: string>`` chunked array of the files' bytes: files of
    at least :data:`MAP_MIN_BYTES` memory-mapped, one chunk each; runs of smaller files read
    into ``arena`` (no per-file Python ``bytes``). Checks each file's size, and its MD5 when
    the plan has one."""
    import pyarrow as pa
    import pyarrow.compute

    if any(c is not None and c.scrub_format is not None for c in cells):
        return _scrubbed_array(cells)
    sizes = [0 if c is None else c.size() for c in cells]
    chunks: list[Any] = []
    start = 0  # first cell of the current run of small files
    for i, (cell, size) in enumerate(zip(cells, sizes, strict=True)):
        if cell is not None and size >= MAP_MIN_BYTES:
            if i > start:
                chunks.append(_read_run(cells[start:i], sizes[start:i], arena))
            chunks.append(_mapped(cell, size))
            start = i + 1
    if start < len(cells):
        chunks.append(_read_run(cells[start:], sizes[start:], arena))
    struct_type = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
    out, row = [], 0
    for blobs in chunks:
        part = cells[row : row + len(blobs)]
        present = pa.array([c is not None for c in part], type=pa.bool_())
        names = pa.array([None if c is None else c.name for c in part], type=pa.string())
        out.append(
            pa.StructArray.from_arrays(
                [blobs, names], fields=list(struct_type), mask=pyarrow.compute.invert(present)
            )
        )
        row += len(blobs)
    return pa.chunked_array(out, type=struct_type)


def _scrubbed_array(cells: Sequence[EmbeddedFile | None]) -> Any:
    """The ``struct<bytes, path>`` array of images published without their metadata: each
    file read whole (size and MD5 checked against the plan), then rebuilt from its pixels
    (or, for JPEG, from the segments a decoder needs)."""
    import pyarrow as pa

    from hepatokit.imagemeta import ImageScrubError, scrub_image

    blobs: list[bytes | None] = []
    for cell in cells:
        if cell is None:
            blobs.append(None)
            continue
        with open(cell.source, "rb") as fh:
            data = fh.read(cell.size() + 1)
        if len(data) != cell.size():
            raise ValueError(f"{cell.name}: size changed while reading")
        _check_md5(cell, data)
        if cell.scrub_format is None:
            blobs.append(data)
            continue
        try:
            blobs.append(scrub_image(data, cell.scrub_format))
        except ImageScrubError as exc:
            msg = f"{cell.name}: cannot be published without its metadata: {exc}"
            raise ValueError(msg) from exc
    struct_type = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
    names = [None if c is None else c.name for c in cells]
    return pa.chunked_array(
        [
            pa.StructArray.from_arrays(
                [pa.array(blobs, pa.binary()), pa.array(names, pa.string())],
                fields=list(struct_type),
                mask=pa.array([c is None for c in cells], pa.bool_()),
            )
        ],
        type=struct_type,
    )


def _arena_bytes(rows: Sequence[dict[str, Any]]) -> int:
    """Bytes of the embedded files of ``rows`` that are read into the arena (not mapped)."""
    sizes = (v.size() for r in rows for v in r.values() if isinstance(v, EmbeddedFile))
    return sum(s for s in sizes if s < MAP_MIN_BYTES)


def _group_table(
    rows: Sequence[dict[str, Any]], schema: Any, embedded: Sequence[str], arena: _Arena
) -> Any:
    import pyarrow as pa

    arena.reset(_arena_bytes(rows))
    arrays = {}
    for name in embedded:
        arrays[name] = _embedded_array([r.get(name) for r in rows], arena)
    for field in schema:
        if field.name in arrays:
            continue
        values = [r.get(field.name) for r in rows]
        if any(isinstance(v, DigestOf) for v in values):
            values = _digests(values, arrays)
        arrays[field.name] = pa.array(values, type=field.type)
    return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


def _digests(values: Sequence[Any], arrays: dict[str, Any]) -> list[Any]:
    """``values`` with each :class:`DigestOf` replaced by the MD5 of that row's embedded
    bytes in ``arrays``."""
    out = []
    for i, v in enumerate(values):
        if not isinstance(v, DigestOf):
            out.append(v)
            continue
        cell = arrays[v.column][i].as_py()
        out.append(None if cell is None else hashlib.md5(cell["bytes"]).hexdigest())
    return out


def warm_up() -> None:
    """Import what :func:`write_shard` needs: run in each worker of a pool started before the
    shards are planned, so that the workers are ready when the tasks come."""
    import numpy  # noqa: F401
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401


@functools.cache
def writer_features() -> dict[str, Any]:
    """The ``pq.ParquetWriter`` options for the page index and content-defined chunking that
    the installed pyarrow knows (page index: pyarrow ≥ 13; chunking: ≥ 21)."""
    import inspect

    import pyarrow.parquet as pq

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
    import pyarrow as pa
    import pyarrow.compute
    import pyarrow.parquet as pq

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
        arena = _Arena()
        groups = _row_groups(task)
        arena.reset(max(_arena_bytes(g) for g in groups))  # one allocation
        for group in groups:
            table = _group_table(group, schema, task.embedded_columns, arena)
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


def _leaf_paths(schema: Any) -> list[str]:
    """Parquet column paths of every leaf of ``schema`` (``col.bytes``, ``col.list.element``)."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(schema.empty_table(), buf)
    parquet_schema = pq.ParquetFile(io.BytesIO(buf.getvalue())).schema
    return [parquet_schema.column(i).path for i in range(len(parquet_schema))]


def plan_split(
    rows: Sequence[dict[str, Any]],
    *,
    folder: Path,
    split: str,
    schema: Any,
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
    from hepatokit.errors import DataFormatError

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
