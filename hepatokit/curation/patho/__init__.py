"""HepatoBench curation: patch ingest, WSI tiling + tissue detection, patch QC, dedup.

Every stage is a keyword-only function (the ``hepatokit patho …`` commands wrap them):
:func:`ingest_patches`, :func:`tile_slides`, :func:`run_qc`, :func:`run_dedup`,
:func:`build_hepatobench` (all three in a row), the calibrations :func:`calibrate_qc` and
:func:`calibrate_dedup`, and the reusable pieces :func:`tile_slide` (HepatoQuant tiles
whole slides with it), :func:`detect_tissue`, :func:`near_pairs`, :func:`qc_scores`.
Heavy submodules are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.curation.patho.analysis import (
        analyse_patch_bytes as analyse_patch_bytes,
    )
    from hepatokit.curation.patho.annotations import (
        label_tiles as label_tiles,
        load_annotations as load_annotations,
    )
    from hepatokit.curation.patho.build import (
        HepatoBenchBuild as HepatoBenchBuild,
        build_hepatobench as build_hepatobench,
    )
    from hepatokit.curation.patho.config import (
        DedupConfig as DedupConfig,
        IngestConfig as IngestConfig,
        QCConfig as QCConfig,
        TilingConfig as TilingConfig,
    )
    from hepatokit.curation.patho.dedup import (
        DedupInput as DedupInput,
        decide_duplicates as decide_duplicates,
    )
    from hepatokit.curation.patho.dedup_calibrate import (
        calibrate_dedup as calibrate_dedup,
    )
    from hepatokit.curation.patho.dedup_stage import (
        DedupSummary as DedupSummary,
        run_dedup as run_dedup,
    )
    from hepatokit.curation.patho.hashing import (
        image_hashes as image_hashes,
        phash_hex as phash_hex,
    )
    from hepatokit.curation.patho.ingest import (
        IngestSummary as IngestSummary,
        discover_patches as discover_patches,
        ingest_patches as ingest_patches,
    )
    from hepatokit.curation.patho.near_duplicates import (
        UnionFind as UnionFind,
        near_pairs as near_pairs,
    )
    from hepatokit.curation.patho.qc import (
        QC_CHECKS as QC_CHECKS,
        qc_reason as qc_reason,
        qc_scores as qc_scores,
    )
    from hepatokit.curation.patho.qc_calibrate import (
        calibrate_qc as calibrate_qc,
    )
    from hepatokit.curation.patho.qc_stage import (
        QCSummary as QCSummary,
        run_qc as run_qc,
    )
    from hepatokit.curation.patho.slides import (
        ReadPlan as ReadPlan,
        SlideError as SlideError,
        SlideInfo as SlideInfo,
        magnification_from_mpp as magnification_from_mpp,
        mpp_from_magnification as mpp_from_magnification,
        open_slide as open_slide,
        plan_read as plan_read,
    )
    from hepatokit.curation.patho.tile_stage import (
        TileSummary as TileSummary,
        tile_slides as tile_slides,
    )
    from hepatokit.curation.patho.tiling import (
        SlideTiling as SlideTiling,
        tile_slide as tile_slide,
        tissue_fractions as tissue_fractions,
    )
    from hepatokit.curation.patho.tissue import (
        detect_tissue as detect_tissue,
        otsu_threshold as otsu_threshold,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
