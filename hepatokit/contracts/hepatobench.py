"""Files of a HepatoBench (histology) build (docs/contracts.md, "HepatoBench") and small readers."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepatokit.contracts.common import PRIVATE, REPORTS, read_raw_root, write_raw_root
from hepatokit.errors import BuildStateError

__all__ = [
    "CACHE_DIR",
    "CLUSTERS",
    "CLUSTER_SCHEMA",
    "CURATED",
    "DEDUP_CLUSTERS_PNG",
    "DEDUP_MD",
    "HASHES",
    "HASH_SCHEMA",
    "INGEST_CACHE",
    "PATCHES",
    "PATCH_METADATA",
    "PATCH_SCHEMA",
    "QC",
    "QC_CALIBRATION_PNG",
    "SCORES",
    "SLIDES",
    "SLIDE_PSEUDONYMS",
    "TILES",
    "TILES_DIR",
    "TILE_MARKER",
    "read_items",
    "read_raw_root",
    "require",
    "write_raw_root",
]

# -- tables --------------------------------------------------------------------------------
#: ingest: one row per input file (``ingest_reason`` null when kept)
PATCHES = "patches.parquet"
#: patho tile: one row per tile, ``tiles/<slide_id>/<x>_<y>.png``
TILES = "tiles.parquet"
#: ``id, md5, pixel_sha256, phash, dhash`` (dhash null unless ``features.dhash``)
HASHES = "hashes.parquet"
#: ``id`` + one score per check + ``qc_reason`` (null if passed)
QC = "qc.parquet"
#: near / exact duplicate clusters: ``cluster_id, id, representative, distance, link, reason``
CLUSTERS = "clusters.parquet"
#: the curated table: every kept patch with its hashes and QC scores
CURATED = "curated.parquet"

# -- folders -------------------------------------------------------------------------------
#: ``tiles/<slide_id>/<x>_<y>.png``
TILES_DIR = "tiles"
#: caches of the patho stages (raw QC scores)
CACHE_DIR = "cache"

# -- files in folders ----------------------------------------------------------------------
#: raw QC scores from ingest's one decode (thresholds not applied)
SCORES = f"{CACHE_DIR}/qc_scores.parquet"
#: text found in the patches' metadata
PATCH_METADATA = f"{PRIVATE}/patch_metadata.parquet"
#: tiled slides: ``slide_id, file, absolute_path``
SLIDES = f"{PRIVATE}/slides.parquet"
#: published slide pseudonym → the build's slide id (publish)
SLIDE_PSEUDONYMS = f"{PRIVATE}/slide_pseudonyms.parquet"
#: ingest's resume cache (internal)
INGEST_CACHE = f"{PRIVATE}/cache/ingest.parquet"
#: per-slide resume marker ``tiles/<slide_id>/_tiles.parquet`` (internal)
TILE_MARKER = "_tiles.parquet"
#: dedup report and its cluster gallery
DEDUP_MD = f"{REPORTS}/dedup.md"
#: the gallery of duplicate clusters
DEDUP_CLUSTERS_PNG = f"{REPORTS}/dedup_clusters.png"
#: ``patho qc-calibrate`` figure
QC_CALIBRATION_PNG = f"{REPORTS}/qc_calibration.png"

# -- schemas -------------------------------------------------------------------------------
PATCH_SCHEMA = pa.schema(
    [
        ("id", pa.string()), ("path", pa.string()), ("class", pa.string()),
        ("slide_id", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
        ("mode", pa.string()), ("bytes", pa.int64()), ("md5", pa.string()),
        ("format", pa.string()), ("ingest_reason", pa.string()),
    ]
)  # fmt: skip

HASH_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("md5", pa.string()),
        ("pixel_sha256", pa.string()),
        ("phash", pa.string()),
        ("dhash", pa.string()),
    ]
)

CLUSTER_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.string()),
        ("id", pa.string()),
        ("representative", pa.string()),
        ("distance", pa.int32()),
        ("link", pa.string()),
        ("reason", pa.string()),
    ]
)


# -- small readers -------------------------------------------------------------------------
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
    """The items that enter QC / dedup: kept rows of ``patches.parquet`` or ``tiles.parquet``.

    Columns: ``id``, ``path``, ``class`` (nullable), ``slide_id``, ``kind`` (patch / tile).
    """
    build = Path(build)
    tables = []
    if (build / PATCHES).is_file():
        t = pq.read_table(build / PATCHES)
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
