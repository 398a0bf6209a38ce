"""The items of a HepatoBench build that enter QC and dedup, read from its tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepatokit.contracts.hepatobench import PATCHES, TILES
from hepatokit.contracts.tables import read_table
from hepatokit.errors import BuildStateError

__all__ = ["read_items", "require"]


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


def read_items(build: Path) -> pa.Table:
    """The items that enter QC / dedup: kept rows of ``patches.parquet`` or ``tiles.parquet``
    (``patches.parquet`` checked against its contract).

    Columns: ``id``, ``path``, ``class`` (nullable), ``slide_id``, ``kind`` (patch / tile).
    """
    build = Path(build)
    tables = []
    if (build / PATCHES).is_file():
        t = read_table(build, PATCHES)
        if "ingest_reason" in t.column_names:
            mask = pc.is_null(t.column("ingest_reason"))
            t = t.filter(mask)
        tables.append(
            pa.table(
                {
                    "id": t.column("id"),
                    "path": t.column("path"),
                    "class": t.column("class"),
                    "slide_id": t.column("slide_id"),
                    "kind": pa.array(["patch"] * len(t), pa.string()),
                }
            )
        )
    if (build / TILES).is_file():
        t = pq.read_table(build / TILES)
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
