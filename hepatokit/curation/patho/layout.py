"""File names of a HepatoBench build folder (see docs/contracts.md) and small readers."""

from __future__ import annotations

import json
from pathlib import Path

from hepatokit.atomic import write_json_atomic
from hepatokit.contracts.hepatobench import read_items
from hepatokit.errors import BuildStateError

__all__ = [
    "CLUSTERS",
    "CURATED",
    "HASHES",
    "PATCHES",
    "PATCH_METADATA",
    "QC",
    "SCORES",
    "TILES",
    "read_items",
    "read_raw_root",
    "require",
    "write_raw_root",
]

PATCHES = "patches.parquet"
PATCH_METADATA = "private/patch_metadata.parquet"  # text found in the patches' metadata
TILES = "tiles.parquet"
HASHES = "hashes.parquet"
SCORES = "cache/qc_scores.parquet"  # raw QC scores from the one decode (thresholds not applied)
QC = "qc.parquet"
CLUSTERS = "clusters.parquet"
CURATED = "curated.parquet"


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


def write_raw_root(build: Path, root: Path) -> None:
    """Record the absolute raw root in ``BUILD/private/raw_root.json`` (never published)."""
    write_json_atomic(Path(build) / "private" / "raw_root.json", {"raw_root": str(root.resolve())})


def read_raw_root(build: Path) -> Path | None:
    """The raw root recorded by ingest, or None."""
    path = Path(build) / "private" / "raw_root.json"
    if not path.is_file():
        return None
    return Path(json.loads(path.read_text())["raw_root"])
