"""HepatoBench curation: patch ingest, WSI tiling + tissue detection, patch QC, dedup.

Every stage is a keyword-only function (the ``hepatokit patho …`` commands wrap them):
:func:`ingest_patches`, :func:`tile_slides`, :func:`qc_patches`, :func:`dedup_patches`
(:func:`hepatokit.pipelines.build_hepatobench` runs them in a row), the calibrations
:func:`calibrate_qc` and :func:`calibrate_dedup`, and the reusable pieces
:func:`tile_slide` (HepatoQuant tiles whole slides with it), :func:`detect_tissue`,
:func:`near_pairs`, :func:`qc_scores`.
Heavy submodules are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepatokit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "ingest_patches": "ingest.stage",
    "discover_patches": "ingest.discover",
    "IngestSummary": "ingest.stage",
    "tile_slides": "wsi.stage",
    "TileSummary": "wsi.stage",
    "tile_slide": "wsi.tiling",
    "SlideTiling": "wsi.tiling",
    "tissue_fractions": "wsi.tiling",
    "open_slide": "wsi.slides",
    "plan_read": "wsi.slides",
    "SlideInfo": "wsi.slides",
    "SlideError": "wsi.slides",
    "ReadPlan": "wsi.slides",
    "magnification_from_mpp": "wsi.slides",
    "mpp_from_magnification": "wsi.slides",
    "detect_tissue": "wsi.tissue",
    "otsu_threshold": "wsi.tissue",
    "load_annotations": "wsi.annotations",
    "label_tiles": "wsi.annotations",
    "qc_patches": "qc.stage",
    "PatchQCSummary": "qc.stage",
    "qc_scores": "qc.measures",
    "qc_reason": "qc.measures",
    "QC_CHECKS": "qc.measures",
    "calibrate_qc": "qc.calibrate",
    "dedup_patches": "dedup.stage",
    "DedupSummary": "dedup.stage",
    "decide_duplicates": "dedup.exact",
    "DedupInput": "dedup.exact",
    "calibrate_dedup": "dedup.calibrate",
    "near_pairs": "dedup.near",
    "UnionFind": "dedup.near",
    "image_hashes": "features.hashing",
    "phash_hex": "features.hashing",
    "analyse_patch_bytes": "features.analysis",
    "IngestConfig": "config",
    "TilingConfig": "config",
    "PatchQCConfig": "config",
    "FeaturesConfig": "config",
    "DedupConfig": "config",
}

__all__ = sorted(_EXPORTS)


if TYPE_CHECKING:  # the names of _EXPORTS, for type checkers (tests keep both in step)
    from hepatokit.curation.patho.config import (
        DedupConfig as DedupConfig,
        FeaturesConfig as FeaturesConfig,
        IngestConfig as IngestConfig,
        PatchQCConfig as PatchQCConfig,
        TilingConfig as TilingConfig,
    )
    from hepatokit.curation.patho.dedup.calibrate import (
        calibrate_dedup as calibrate_dedup,
    )
    from hepatokit.curation.patho.dedup.exact import (
        DedupInput as DedupInput,
        decide_duplicates as decide_duplicates,
    )
    from hepatokit.curation.patho.dedup.near import (
        UnionFind as UnionFind,
        near_pairs as near_pairs,
    )
    from hepatokit.curation.patho.dedup.stage import (
        DedupSummary as DedupSummary,
        dedup_patches as dedup_patches,
    )
    from hepatokit.curation.patho.features.analysis import (
        analyse_patch_bytes as analyse_patch_bytes,
    )
    from hepatokit.curation.patho.features.hashing import (
        image_hashes as image_hashes,
        phash_hex as phash_hex,
    )
    from hepatokit.curation.patho.ingest.discover import (
        discover_patches as discover_patches,
    )
    from hepatokit.curation.patho.ingest.stage import (
        IngestSummary as IngestSummary,
        ingest_patches as ingest_patches,
    )
    from hepatokit.curation.patho.qc.calibrate import (
        calibrate_qc as calibrate_qc,
    )
    from hepatokit.curation.patho.qc.measures import (
        QC_CHECKS as QC_CHECKS,
        qc_reason as qc_reason,
        qc_scores as qc_scores,
    )
    from hepatokit.curation.patho.qc.stage import (
        PatchQCSummary as PatchQCSummary,
        qc_patches as qc_patches,
    )
    from hepatokit.curation.patho.wsi.annotations import (
        label_tiles as label_tiles,
        load_annotations as load_annotations,
    )
    from hepatokit.curation.patho.wsi.slides import (
        ReadPlan as ReadPlan,
        SlideError as SlideError,
        SlideInfo as SlideInfo,
        magnification_from_mpp as magnification_from_mpp,
        mpp_from_magnification as mpp_from_magnification,
        open_slide as open_slide,
        plan_read as plan_read,
    )
    from hepatokit.curation.patho.wsi.stage import (
        TileSummary as TileSummary,
        tile_slides as tile_slides,
    )
    from hepatokit.curation.patho.wsi.tiling import (
        SlideTiling as SlideTiling,
        tile_slide as tile_slide,
        tissue_fractions as tissue_fractions,
    )
    from hepatokit.curation.patho.wsi.tissue import (
        detect_tissue as detect_tissue,
        otsu_threshold as otsu_threshold,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
