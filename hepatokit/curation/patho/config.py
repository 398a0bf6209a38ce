"""The recipe sections of the histology stages: ``ingest``, ``tiling``, ``features``, ``qc``,
``dedup``.

Each dataclass is validated from the recipe by :meth:`hepatokit.recipe.Recipe.section`, so a
typo or a wrong type names the recipe file and the dotted key. A stage takes its sections as
keyword parameters; :func:`features_section` reads the one section shared by ingest, qc and
dedup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hepatokit.errors import RecipeError
from hepatokit.manifest import provenance
from hepatokit.recipe import Recipe, build_recipe, check_regex

__all__ = [
    "DedupConfig",
    "FeaturesConfig",
    "IngestConfig",
    "PatchQCConfig",
    "TilingConfig",
    "features_section",
    "stage_provenance",
]


@dataclass(frozen=True)
class IngestConfig:
    """``ingest:`` how patches are found and what a valid patch is.

    ``slide_id_regex`` is searched in the path relative to the raw root; its named group
    ``slide_id`` (or ``slide``, or its first group, or the whole match) is the slide id; the
    default takes the file name up to its first underscore. ``class_aliases``
    maps folder / table labels to recipe classes (``tumor: TUM``); matching is
    case-insensitive. ``size_policy``: ``exclude`` files whose size differs from
    ``expected_size`` (reason ``wrong_size``) or ``resize`` them (bilinear) before hashing/QC.
    """

    layout: Literal["auto", "folders", "table"] = "auto"
    slide_id_regex: str = r"(?:^|/)(?P<slide_id>[^/_]+)_[^/]*$"
    class_aliases: dict[str, str] = field(default_factory=dict)
    extensions: list[str] = field(
        default_factory=lambda: [".png", ".jpg", ".jpeg", ".tif", ".tiff"]
    )
    expected_size: list[int] | None = field(default_factory=lambda: [150, 150])
    size_policy: Literal["exclude", "resize"] = "exclude"
    table_path_column: str = "path"
    table_label_column: str = "label"
    table_slide_column: str = "slide_id"
    #: a larger file is excluded (``too_large``) unread: a patch is far smaller
    max_file_mb: float = 256.0

    def __post_init__(self) -> None:
        check_regex(self.slide_id_regex, "slide_id_regex")
        if self.max_file_mb <= 0:
            raise ValueError("max_file_mb must be positive")
        if self.expected_size is not None and (
            len(self.expected_size) != 2 or min(self.expected_size) < 1
        ):
            raise ValueError("expected_size must be [width, height] in pixels")


@dataclass(frozen=True)
class TilingConfig:
    """``tiling:`` whole-slide tiling (magnifications in ×, sizes in pixels, areas in µm²)."""

    target_magnification: float = 20.0
    patch_size: int = 150
    tissue_threshold: float = 0.5
    detection_magnification: float = 1.25
    saturation_threshold: float | None = None  # None → Otsu on the saturation histogram
    median_kernel: int = 7
    closing_um: float = 16.0
    min_tissue_area_um2: float = 100_000.0
    min_hole_area_um2: float = 2_000.0
    label_by: Literal["centre", "overlap"] = "centre"
    min_overlap: float = 0.5
    class_aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.patch_size < 8:
            raise ValueError("patch_size must be at least 8 px")
        if not 0.0 <= self.tissue_threshold <= 1.0:
            raise ValueError("tissue_threshold must be a fraction in [0, 1]")
        if self.target_magnification <= 0 or self.detection_magnification <= 0:
            raise ValueError("magnifications must be positive")


@dataclass(frozen=True)
class PatchQCConfig:
    """``qc:`` thresholds per check and the order in which the decisive reason is chosen.

    Scores are defined in :mod:`hepatokit.curation.patho.qc.measures`. ``background`` fails above
    ``background_max``; ``stain`` fails when the angle to the H&E plane exceeds
    ``stain_max`` degrees, the stain intensity is below ``stain_intensity_min`` while
    ``eosin_p90`` is below ``stain_faded_eosin_p90`` (faded),
    the eosin share is below ``eosin_fraction_min`` or its 90th percentile above
    ``eosin_p90_max`` (extreme over-staining; dark nuclei and red cells count towards it,
    so it sits above clean lymphocyte-dense tissue); ``pen`` fails when ``pen`` exceeds
    ``pen_max`` or ``ink`` exceeds ``ink_max``; ``blur`` when the sharpness is below
    ``sharpness_min`` or the JPEG blocking above ``blocking_max``. A patch failing several
    checks gets the first in ``order``. Calibrate with ``hepatokit patho qc-calibrate BUILD``.

    ``mode: relative`` derives the stain, sharpness and blocking thresholds from the data's
    own distribution instead (median ± ``relative_k`` robust standard deviations, per class
    with at least ``relative_min_items`` tissue patches, clamped between a floor and a
    ceiling per check; see :func:`hepatokit.curation.patho.qc.measures.relative_configs`), so a new
    site needs no hand calibration. Background, pen and ink stay absolute: glass and ink are
    not properties of a site.
    """

    background_max: float = 0.7
    stain_max: float = 24.0
    stain_intensity_min: float = 0.6
    stain_faded_eosin_p90: float = 0.13
    eosin_fraction_min: float = 0.08
    eosin_p90_max: float = 1.0
    pen_max: float = 0.04
    ink_max: float = 0.005
    sharpness_min: float = 80.0
    blocking_max: float = 1.6
    mode: Literal["fixed", "relative"] = "fixed"
    relative_k: float = 3.0
    relative_min_items: int = 30
    order: list[Literal["background", "stain", "pen", "blur"]] = field(
        default_factory=lambda: ["pen", "blur", "stain", "background"]
    )


@dataclass(frozen=True)
class FeaturesConfig:
    """``features:`` what the one decode of every patch computes besides its MD5, pixel
    SHA-256, pHash and QC scores (ingest, and qc / dedup for items not yet measured).

    ``dhash`` also computes the 64-bit dHash; dedup then requires a near pair to agree on it
    within ``dedup.dhash_radius`` too, and so does the leakage audit.
    """

    dhash: bool = False


def features_section(rec: Recipe) -> FeaturesConfig:
    """The recipe's ``features`` section.

    A recipe written before the section existed kept the choice as ``dedup.dhash``: it is
    still read from there; both keys with different values are an error.
    """
    cfg = rec.section("features", FeaturesConfig)
    dedup = rec.data.get("dedup")
    legacy = dedup.get("dhash") if isinstance(dedup, dict) else None
    if legacy is None:
        return cfg
    if not isinstance(legacy, bool):
        raise RecipeError(f"dedup.dhash: expected true/false, got {legacy!r}", path=rec.source)
    features = rec.data.get("features")
    if isinstance(features, dict) and "dhash" in features:
        if features["dhash"] != legacy:
            raise RecipeError(
                "features.dhash and dedup.dhash disagree",
                path=rec.source,
                hint="keep features.dhash only (dedup.dhash is its older place)",
            )
        return cfg
    return FeaturesConfig(dhash=legacy)


@dataclass(frozen=True)
class DedupConfig:
    """``dedup:`` near-duplicate radius (bits of the 64-bit pHash), the dHash radius (used
    when ``features.dhash`` is on) and the gallery size.

    ``dhash`` is the older place of ``features.dhash``, still accepted from recipes written
    before the ``features`` section (read by :func:`features_section`, not by dedup).
    """

    phash_radius: int = 6
    dhash_radius: int = 16
    gallery_clusters: int = 12
    dhash: bool | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.phash_radius < 64 or not 0 <= self.dhash_radius < 64:
            raise ValueError("radii must be in [0, 63] bits")


def stage_provenance(
    build: str | os.PathLike[str], *, stage: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The provenance a histology stage records with its ledger: the hash and seed of the
    build's recipe snapshot (``BUILD/recipe.yaml``, which its sections came from)."""
    rec = build_recipe(Path(build), default="hepatobench")
    return provenance(stage=stage, recipe_sha256=rec.sha256, seed=rec.seed, extra=extra)
