"""The items of a HepatoBench build that enter QC and dedup, read from its tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepatokit.contracts.hepatobench import PATCH_SOURCES, PATCHES, TILES
from hepatokit.contracts.tables import read_table
from hepatokit.errors import BuildStateError

__all__ = ["raw_patch_paths", "read_items", "require"]


def require(build: Path, name: str, *, before: str) -> Path:
    """``build/name``, or a :class:`BuildStateError` telling which command to run first."""
    path = Path(build) / name
    if not path.is_file():
        raise BuildStateError(
            f"{name} is missing",
            path=build,
            hint=f"run `hepatokit patho ingest ROOT --out {build}` (or `patho tile`) "
            f"before {before}",
        )
    return path


def raw_patch_paths(build: Path) -> dict[str, str]:
    """id → the raw relative path of each ingested patch (:data:`PATCH_SOURCES`); empty for
    a build ingested before the table existed (its ``patches.parquet`` holds raw paths)."""
    path = Path(build) / PATCH_SOURCES
    if not path.is_file():
        return {}
    t = pq.read_table(path, columns=["id", "path"])
    return dict(zip(t.column("id").to_pylist(), t.column("path").to_pylist(), strict=True))


def read_items(build: Path) -> pa.Table:
    """The items that enter QC / dedup: kept rows of ``patches.parquet`` or ``tiles.parquet``
    (both checked against their contracts).

    Columns: ``id``, ``path``, ``class`` (nullable), ``slide_id``, ``kind`` (patch / tile).
    ``path`` is where the file is, in memory only: a patch's raw path relative to the raw
    root (from :data:`PATCH_SOURCES`), a tile's path relative to ``build``.
    """
    build = Path(build)
    tables = []
    if (build / PATCHES).is_file():
        t = read_table(build, PATCHES)
        if "ingest_reason" in t.column_names:
            mask = pc.is_null(t.column("ingest_reason"))
            t = t.filter(mask)
        raw = raw_patch_paths(build)
        ids = t.column("id").to_pylist()
        old = t.column("path").to_pylist()
        paths = pa.array([raw.get(i, p) for i, p in zip(ids, old, strict=True)], pa.string())
        tables.append(
            pa.table(
                {
                    "id": t.column("id"),
                    "path": paths,
                    "class": t.column("class"),
                    "slide_id": t.column("slide_id"),
                    "kind": pa.array(["patch"] * len(t), pa.string()),
                }
            )
        )
    if (build / TILES).is_file():
        t = read_table(build, TILES)
        label = t.column("label") if "label" in t.column_names else pa.nulls(len(t), pa.string())
        tables.append(
            pa.table(
                {
                    "id": t.column("id"),
                    "path": t.column("path"),
                    "class": label.cast(pa.string()),
                    "slide_id": t.column("slide_id"),
                    "kind": pa.array(["tile"] * len(t), pa.string()),
                }
            )
        )
    if not tables:
        require(build, PATCHES, before="this stage")
    return pa.concat_tables(tables)
