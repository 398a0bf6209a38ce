"""What the index reads: the raw tree's listing, the header cache, the headers themselves.

Workers read chunks of files and return their records as Arrow tables (cheap to send between
processes, no per-row Python objects in the parent); the parent only concatenates them, in
the listing's order. The cache (``private/index_cache.parquet``) keeps each file's record
keyed on path + size + mtime, so an unchanged file's header is never read twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.curation.mri.dicom.tags import HeaderRecord, read_header
from hepatokit.curation.mri.index.records import RECORD_SCHEMA, read_chunk, record_table
from hepatokit.parallel import executor_workers, map_items
from hepatokit.safeio import walk_tree

__all__ = [
    "CACHE_SCHEMA",
    "chunk_sizes",
    "in_file_order",
    "list_raw_files",
    "load_cache",
    "read_all",
    "reuse_cache",
    "same_pixels",
    "unreadable_records",
    "with_stat",
]

log = logging.getLogger("hepatokit.curation.mri.index.read")

#: ``private/index_cache.parquet``: the records keyed on path + size + mtime
CACHE_SCHEMA = pa.schema(
    [RECORD_SCHEMA.field("path"), ("size", pa.int64()), ("mtime_ns", pa.int64())]
    + [f for f in RECORD_SCHEMA if f.name != "path"]
)
#: files per task sent to a worker (bounds: progress granularity vs per-task overhead)
_CHUNK_MIN, _CHUNK_MAX = 16, 512

Listing = Sequence[tuple[str, int, int]]


def list_raw_files(
    raw: Path, problems: dict[str, tuple[str, str]] | None = None
) -> list[tuple[str, int, int]]:
    """Every file under ``raw`` as ``(relative posix path, size, mtime_ns)``, sorted.

    The tree is walked with :func:`hepatokit.safeio.walk_tree` (symlinked folders followed
    once). Entries that are not data get size -1 and, in ``problems``, their reason and
    detail: unreadable folders, FIFOs / devices, broken links, symlink loops, names that
    are not UTF-8 (listed by their printable form).
    """
    out: list[tuple[str, int, int]] = []
    for w in walk_tree(raw):
        if w.problem is not None:
            if problems is not None:
                problems[w.shown] = (w.problem, w.detail or w.problem)
            out.append((w.shown, -1, 0))
            continue
        out.append((w.rel, w.size, w.mtime_ns))
    out.sort()
    return out


def load_cache(path: Path) -> pa.Table | None:
    """An earlier run's cache (None if there is none, or it is unreadable or of another layout)."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # a damaged cache only costs a re-read
        log.warning("ignoring unreadable index cache %s: %s", path, exc)
        return None
    if table.schema != CACHE_SCHEMA:
        log.info("index cache %s has another layout (older version): re-reading", path)
        return None
    return table


def reuse_cache(cache: pa.Table, files: Listing) -> tuple[pa.Table, set[str]]:
    """The cached records of the files whose size and mtime are unchanged, and their paths."""
    current = {rel: (size, mtime) for rel, size, mtime in files if size >= 0}
    hits = [
        current.get(rel) == (size, mtime)
        for rel, size, mtime in zip(
            cache["path"].to_pylist(),
            cache["size"].to_pylist(),
            cache["mtime_ns"].to_pylist(),
            strict=True,
        )
    ]
    reused = cache.filter(pa.array(hits, type=pa.bool_())).drop_columns(["size", "mtime_ns"])
    return reused.select(RECORD_SCHEMA.names), set(reused["path"].to_pylist())


def unreadable_records(files: Listing, problems: dict[str, tuple[str, str]]) -> pa.Table | None:
    """Records of the listed entries that are not data (size -1), with their problem."""
    unreadable = [rel for rel, size, _ in files if size < 0]
    if not unreadable:
        return None
    default = ("not_dicom", "unreadable (broken link or no permission)")
    return record_table(
        unreadable, [HeaderRecord(*problems.get(rel, default)) for rel in unreadable]
    )


def chunk_sizes(n: int, workers: int) -> list[int]:
    """Files per task, shrinking towards the end (guided scheduling): each task takes a
    quarter of one worker's share of what is left, within [16, 512] files, so that the
    workers run out of work at nearly the same time."""
    sizes, left = [], n
    while left > 0:
        size = min(left, max(_CHUNK_MIN, min(_CHUNK_MAX, -(-left // (4 * workers)))))
        sizes.append(size)
        left -= size
    return sizes


def read_all(
    root: str, todo: list[str], *, workers: int | None, executor: Executor | None
) -> list[pa.Table]:
    """Record tables of every file in ``todo``, read in parallel chunks. A chunk whose worker
    died is read again one file at a time, so only the file that kills a worker is lost."""
    if not todo:
        return []
    chunks, start = [], 0
    for size in chunk_sizes(len(todo), executor_workers(executor) or workers or 1):
        chunks.append(tuple(todo[start : start + size]))
        start += size
    results = map_items(
        read_chunk,
        [(root, chunk) for chunk in chunks],
        executor=executor,
        workers=workers,
        chunksize=1,
        description=f"index DICOM headers ({len(chunks)} tasks)",
    )
    tables = []
    for chunk, res in zip(chunks, results, strict=True):
        if res.ok and res.value is not None:
            tables.append(res.value)
            continue
        log.warning(
            "a worker failed on %d files (%s): reading them one by one", len(chunk), res.error
        )
        tables.append(_read_one_by_one(root, chunk, workers=workers, executor=executor))
    return tables


def _read_one_by_one(
    root: str, chunk: tuple[str, ...], *, workers: int | None, executor: Executor | None
) -> pa.Table:
    """The records of a chunk whose worker failed, each file read as its own task."""
    singles = map_items(
        read_header,
        [os.path.join(root, rel) for rel in chunk],  # noqa: PTH118
        executor=executor,
        workers=workers,
        description="index DICOM headers (retry)",
    )
    return record_table(
        chunk,
        [
            r.value if r.ok and r.value is not None else HeaderRecord("corrupt", r.error)
            for r in singles
        ],
    )


def in_file_order(tables: list[pa.Table], files: Listing) -> pa.Table:
    """The record tables as one, one row per listed file, in the listing's order."""
    table = pa.concat_tables([t.cast(RECORD_SCHEMA) for t in tables]) if tables else None
    if table is None:
        return RECORD_SCHEMA.empty_table()
    paths = table["path"].to_pylist()
    if paths == [rel for rel, _, _ in files]:  # the usual case: read chunks in listing order
        return table
    position = {rel: i for i, (rel, _, _) in enumerate(files)}
    if len(paths) != len(files) or len(position) != len(files):
        raise AssertionError("index: records and listed files differ")  # a bug, not bad data
    order = np.empty(len(files), dtype=np.int64)
    order[[position[p] for p in paths]] = np.arange(len(paths))
    return table.take(pa.array(order))


def with_stat(records: pa.Table, files: Listing) -> pa.Table:
    """``records`` (in file order) with each file's size and mtime: the cache table."""
    table = records.append_column("size", pa.array([f[1] for f in files], pa.int64()))
    table = table.append_column("mtime_ns", pa.array([f[2] for f in files], pa.int64()))
    return table.select(CACHE_SCHEMA.names).cast(CACHE_SCHEMA)


def same_pixels(root: Path, first: str, second: str) -> bool:
    """Whether two files (paths relative to the raw ``root``) that share a SOPInstanceUID
    hold the same pixels: same pixel-data bytes, else the same decoded array. Read only for
    duplicated UIDs (rare). Pixels that cannot be decoded here (a transfer syntax without a
    decoder installed) are not provably different: the file stays a plain duplicate."""
    import pydicom

    try:
        a = pydicom.dcmread(root / first, force=True)
        b = pydicom.dcmread(root / second, force=True)
        if a.get("PixelData") is None and b.get("PixelData") is None:
            return True
        if a.get("PixelData") == b.get("PixelData"):
            return True
    except Exception:  # unreadable: not provably different
        return True
    try:
        pixels_a, pixels_b = a.pixel_array, b.pixel_array
    except Exception:  # no decoder for one of them: not provably different
        return True
    return bool(np.array_equal(pixels_a, pixels_b))
