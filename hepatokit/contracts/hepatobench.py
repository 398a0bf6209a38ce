"""Files of a HepatoBench (histology) build (docs/contracts.md, "HepatoBench") and its table
schemas; :mod:`hepatokit.contracts.items` reads the items that enter QC and dedup."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from hepatokit.contracts.common import PRIVATE, REPORTS

__all__ = [
    "CACHE_DIR",
    "CLUSTERS",
    "CLUSTER_SCHEMA",
    "CURATED",
    "CURATED_SCHEMA",
    "DEDUP_CLUSTERS_PNG",
    "DEDUP_MD",
    "HASHES",
    "HASH_SCHEMA",
    "INGEST_CACHE",
    "PATCHES",
    "PATCH_METADATA",
    "PATCH_SCHEMA",
    "PATCH_SOURCES",
    "PATCH_SOURCE_SCHEMA",
    "QC",
    "QC_CALIBRATION_PNG",
    "QC_CHECK_NAMES",
    "QC_SCHEMA",
    "SCORES",
    "SLIDES",
    "SLIDE_PSEUDONYMS",
    "SLIDE_PSEUDONYM_SCHEMA",
    "TILES",
    "TILES_DIR",
    "TILES_SCHEMA",
    "TILE_MARKER",
    "neutral_patch_path",
]

# -- tables --------------------------------------------------------------------------------
#: ingest: one row per input file (``ingest_reason`` null when kept); ``slide_id`` is the
#: slide's keyed pseudonym (:data:`SLIDE_PSEUDONYMS`)
PATCHES = "patches.parquet"
#: patho tile: one row per tile, ``tiles/<slide_id>/<x>_<y>.png`` (``slide_id``: the slide's
#: keyed pseudonym)
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
#: ingest: each patch's path relative to the raw root (``id, path``: folder and file names
#: may name patients); ``patches.parquet``, ``curated.parquet`` and the manifest hold the
#: neutral name instead (:func:`neutral_patch_path`)
PATCH_SOURCES = f"{PRIVATE}/patch_sources.parquet"
#: tiled slides: ``slide_id`` (pseudonym), ``file``, ``absolute_path``
SLIDES = f"{PRIVATE}/slides.parquet"
#: ``slide_pseudonym, original_slide_id, stage``: the keyed pseudonym every other table holds
#: as ``slide_id`` (and publish publishes) → the slide id as read (``ingest``: the
#: ``slide_id_regex`` capture or the table's slide column; ``tile``: the slide file's path);
#: written by ingest and tile, each replacing its own rows
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

PATCH_SOURCE_SCHEMA = pa.schema([("id", pa.string()), ("path", pa.string())])

SLIDE_PSEUDONYM_SCHEMA = pa.schema(
    [
        ("slide_pseudonym", pa.string()),
        ("original_slide_id", pa.string()),
        ("stage", pa.string()),
    ]
)

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

#: the QC scores, one ``float64`` column each, in ``qc.parquet``'s order (the measures are
#: defined in :mod:`hepatokit.curation.patho.qc.measures`, whose ``QC_CHECKS`` must match)
QC_CHECK_NAMES: tuple[str, ...] = (
    "background", "stain", "stain_intensity", "eosin_fraction", "eosin_p90", "pen", "ink",
    "sharpness", "blocking",
)  # fmt: skip

#: ``qc.parquet``: ``id``, one score per check, ``qc_reason`` (null if passed)
QC_SCHEMA = pa.schema(
    [("id", pa.string())]
    + [(c, pa.float64()) for c in QC_CHECK_NAMES]
    + [("qc_reason", pa.string())]
)

#: ``tiles.parquet`` (and each slide's ``tiles/<slide_id>/_tiles.parquet``): one row per tile
TILES_SCHEMA = pa.schema(
    [
        ("id", pa.string()), ("slide_id", pa.string()), ("path", pa.string()),
        ("x", pa.int64()), ("y", pa.int64()), ("level0_size", pa.int32()),
        ("patch_size", pa.int32()), ("level", pa.int32()), ("read_size", pa.int32()),
        ("level0_magnification", pa.float64()), ("target_magnification", pa.float64()),
        ("level0_mpp", pa.float64()), ("mpp", pa.float64()), ("tissue_fraction", pa.float64()),
        ("region", pa.string()), ("label", pa.string()),
    ]
)  # fmt: skip

#: the columns every curated table has (patch builds add ``class``, tile builds ``label``)
CURATED_SCHEMA = pa.schema([("id", pa.string()), ("path", pa.string())])


def neutral_patch_path(item_id: str, rel: str) -> str:
    """The name of a raw patch in every non-private table: ``patch/<id><.ext>`` (the id is
    a hash of the raw path; the extension, lower case, only when it is a plain one). The raw
    path is kept only in :data:`PATCH_SOURCES`."""
    suffix = Path(rel).suffix.lower()
    ok = 1 < len(suffix) <= 6 and suffix[1:].isascii() and suffix[1:].isalnum()
    return f"patch/{item_id}{suffix if ok else ''}"
