"""One row group of a shard as an Arrow table: the embedded files' bytes and the plain
columns.

Files of 1 MiB and more (volumes) are memory-mapped and handed to the parquet writer
without a copy; smaller ones (patches) are read back to back into one reusable buffer
(:class:`Arena`). Images published without their metadata are read whole and rebuilt
(:func:`hepatokit.imagemeta.scrub_image`). Each file's size, and its MD5 when the plan has
one, is checked against the plan while it is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hepatokit.imagemeta import ImageScrubError, scrub_image
from hepatokit.publish.cells import DigestOf, EmbeddedFile

__all__ = ["MAP_MIN_BYTES", "Arena", "arena_bytes", "group_table"]

#: embedded files of at least this size are memory-mapped (zero-copy) instead of read
MAP_MIN_BYTES = 1 << 20

_FILE_STRUCT = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])


class Arena:
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


def arena_bytes(rows: Sequence[dict[str, Any]]) -> int:
    """Bytes of the embedded files of ``rows`` that are read into the arena (not mapped)."""
    sizes = (v.size() for r in rows for v in r.values() if isinstance(v, EmbeddedFile))
    return sum(s for s in sizes if s < MAP_MIN_BYTES)


def group_table(
    rows: Sequence[dict[str, Any]], schema: pa.Schema, embedded: Sequence[str], arena: Arena
) -> pa.Table:
    """The Arrow table of one row group (``schema``'s columns, ``embedded`` ones holding
    file bytes); the arena is reset and filled with the group's small files."""
    arena.reset(arena_bytes(rows))
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


def _check_md5(cell: EmbeddedFile, data: bytes | memoryview | pa.Buffer) -> None:
    if cell.md5 is not None and hashlib.md5(data).hexdigest() != cell.md5:
        raise ValueError(f"{cell.source}: md5 differs from the curated table's (changed)")


def _read_run(cells: Sequence[EmbeddedFile | None], sizes: Sequence[int], arena: Arena) -> pa.Array:
    """A ``binary`` array of small files (``None`` → null) read back to back into ``arena``."""
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


def _mapped(cell: EmbeddedFile, size: int) -> pa.Array:
    """A one-value ``binary`` array over the memory-mapped file (no copy: the parquet writer
    reads the page cache directly)."""
    data = pa.memory_map(cell.source).read_buffer()
    if data.size != size:
        raise ValueError(f"{cell.source}: size changed while reading")
    _check_md5(cell, data)
    offsets = pa.py_buffer(np.array([0, size], dtype=np.int32))
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, data])


def _embedded_array(cells: Sequence[EmbeddedFile | None], arena: Arena) -> pa.ChunkedArray:
    """A ``struct<bytes: binary, path: string>`` chunked array of the files' bytes: files of
    at least :data:`MAP_MIN_BYTES` memory-mapped, one chunk each; runs of smaller files read
    into ``arena`` (no per-file Python ``bytes``). Checks each file's size, and its MD5 when
    the plan has one."""
    if any(c is not None and c.scrub_format is not None for c in cells):
        return _scrubbed_array(cells)
    sizes = [0 if c is None else c.size() for c in cells]
    chunks: list[pa.Array] = []
    start = 0  # first cell of the current run of small files
    for i, (cell, size) in enumerate(zip(cells, sizes, strict=True)):
        if cell is not None and size >= MAP_MIN_BYTES:
            if i > start:
                chunks.append(_read_run(cells[start:i], sizes[start:i], arena))
            chunks.append(_mapped(cell, size))
            start = i + 1
    if start < len(cells):
        chunks.append(_read_run(cells[start:], sizes[start:], arena))
    out, row = [], 0
    for blobs in chunks:
        part = cells[row : row + len(blobs)]
        present = pa.array([c is not None for c in part], type=pa.bool_())
        names = pa.array([None if c is None else c.name for c in part], type=pa.string())
        out.append(
            pa.StructArray.from_arrays(
                [blobs, names], fields=list(_FILE_STRUCT), mask=pc.invert(present)
            )
        )
        row += len(blobs)
    return pa.chunked_array(out, type=_FILE_STRUCT)


def _scrubbed_array(cells: Sequence[EmbeddedFile | None]) -> pa.ChunkedArray:
    """The ``struct<bytes, path>`` array of images published without their metadata: each
    file read whole (size and MD5 checked against the plan), then rebuilt from its pixels
    (or, for JPEG, from the segments a decoder needs)."""
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
    names = [None if c is None else c.name for c in cells]
    return pa.chunked_array(
        [
            pa.StructArray.from_arrays(
                [pa.array(blobs, pa.binary()), pa.array(names, pa.string())],
                fields=list(_FILE_STRUCT),
                mask=pa.array([c is None for c in cells], pa.bool_()),
            )
        ],
        type=_FILE_STRUCT,
    )


def _digests(values: Sequence[Any], arrays: dict[str, pa.ChunkedArray]) -> list[Any]:
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
