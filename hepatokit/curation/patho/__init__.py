"""HepatoBench curation: patch ingest, WSI tiling + tissue detection, patch QC, dedup.

Every stage is a keyword-only function (the ``hepatokit patho …`` commands wrap them):
:func:`ingest_patches`, :func:`tile_slides`, :func:`run_qc`, :func:`run_dedup`,
:func:`build_hepatobench` (all three in a row), the calibrations :func:`calibrate_qc` and
:func:`calibrate_dedup`, and the reusable pieces :func:`tile_slide` (HepatoQuant tiles
whole slides with it), :func:`detect_tissue`, :func:`near_pairs`, :func:`qc_scores`.
Heavy submodules are imported on first use.
"""

from __future__ import annotations

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "ingest_patches": "ingest",
    "discover_patches": "ingest",
    "IngestSummary": "ingest",
    "tile_slides": "tile_stage",
    "TileSummary": "tile_stage",
    "tile_slide": "tiling",
    "SlideTiling": "tiling",
    "tissue_fractions": "tiling",
    "open_slide": "slides",
    "plan_read": "slides",
    "SlideInfo": "slides",
    "SlideError": "slides",
    "ReadPlan": "slides",
    "magnification_from_mpp": "slides",
    "mpp_from_magnification": "slides",
    "detect_tissue": "tissue",
    "otsu_threshold": "tissue",
    "load_annotations": "annotations",
    "label_tiles": "annotations",
    "run_qc": "qc_stage",
    "QCSummary": "qc_stage",
    "qc_scores": "qc",
    "qc_reason": "qc",
    "QC_CHECKS": "qc",
    "calibrate_qc": "qc_calibrate",
    "run_dedup": "dedup_stage",
    "DedupSummary": "dedup_stage",
    "decide_duplicates": "dedup",
    "DedupInput": "dedup",
    "calibrate_dedup": "dedup_calibrate",
    "near_pairs": "near_duplicates",
    "UnionFind": "near_duplicates",
    "image_hashes": "hashing",
    "phash_hex": "hashing",
    "analyse_patch_bytes": "analysis",
    "build_hepatobench": "build",
    "HepatoBenchBuild": "build",
    "IngestConfig": "config",
    "TilingConfig": "config",
    "QCConfig": "config",
    "DedupConfig": "config",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
