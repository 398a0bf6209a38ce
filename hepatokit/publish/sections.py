"""The ``publish`` and ``card`` recipe sections, validated into dataclasses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from hepatokit.recipe import Recipe

__all__ = ["CardSection", "GridSpec", "PublishSection", "card_section", "publish_section"]


@dataclass(frozen=True)
class GridSpec:
    """The grid the LiFS loader resamples to: ``spacing`` in mm (x, y, z after RAS
    reorientation), ``spatial_size`` in voxels (x, y, z), intensity ``normalize`` scheme."""

    spacing: tuple[float, ...] = (2.0, 2.0, 2.0)
    spatial_size: tuple[int, ...] = (96, 96, 64)
    normalize: Literal["zscore", "percentile", "none"] = "zscore"

    def __post_init__(self) -> None:
        if len(self.spacing) != 3 or len(self.spatial_size) != 3:
            raise ValueError("grid.spacing and grid.spatial_size need three values (x, y, z)")
        if min(self.spacing) <= 0 or min(self.spatial_size) <= 0:
            raise ValueError("grid.spacing and grid.spatial_size must be positive")


@dataclass(frozen=True)
class PublishSection:
    """How a build becomes a Hugging Face dataset folder."""

    license: str | None = None
    max_shard_mb: float = 500.0
    row_group_mb: float = 64.0
    row_group_max_rows: int = 100
    task_categories: list[str] = field(default_factory=lambda: ["image-classification"])
    tags: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    domain_column: str | None = None
    ood_splits: list[str] = field(default_factory=list)
    configs: dict[str, list[str]] = field(default_factory=dict)
    mask_configs: list[str] = field(default_factory=list)
    magnification: str | None = None
    patch_size_px: int | None = None
    repo_id: str | None = None
    grid: GridSpec = field(default_factory=GridSpec)
    registered: bool = False  # LiFS: carry `mri register`'s transforms as columns
    registered_volumes: bool = False  # LiFS: + config `registered` (resampled volumes)

    def __post_init__(self) -> None:
        if self.max_shard_mb <= 0 or self.row_group_mb <= 0 or self.row_group_max_rows < 1:
            raise ValueError("max_shard_mb, row_group_mb and row_group_max_rows must be positive")


@dataclass(frozen=True)
class CardSection:
    """Card text and the Croissant RAI fields (the same words serve both).

    ``creators``, ``homepage`` and ``citation`` are required by ``publish build`` (a
    published card carries no placeholder). ``extra_gated_prompt`` / ``extra_gated_fields``
    gate the Hub repo (the user accepts the prompt and fills the fields before access);
    clinical recipes (``kind: mri``) must set them. ``date_published`` (ISO date) is the
    release date stated by the curator (no clock is read: rebuilds stay byte-identical).
    """

    summary: str = ""
    homepage: str | None = None
    creators: list[str] = field(default_factory=list)
    deidentification: str = ""
    intended_use: list[str] = field(default_factory=list)
    out_of_scope: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    data_collection: str = ""
    preprocessing: list[str] = field(default_factory=list)
    annotation: list[str] = field(default_factory=list)
    personal_sensitive_information: list[str] = field(default_factory=list)
    biases: list[str] = field(default_factory=list)
    use_cases: list[str] = field(default_factory=list)
    maintenance: str = ""
    citation: str = ""
    date_published: str | None = None
    extra_gated_prompt: str = ""
    extra_gated_fields: dict[str, Any] = field(default_factory=dict)
    data_collection_type: list[str] = field(default_factory=list)
    data_collection_missing_data: str = ""
    data_collection_raw_data: str = ""
    data_collection_timeframe: list[str] = field(default_factory=list)
    data_imputation_protocol: str = ""
    data_manipulation_protocol: str = ""
    data_annotation_platform: list[str] = field(default_factory=list)
    data_annotation_analysis: list[str] = field(default_factory=list)
    annotations_per_item: str = ""
    annotator_demographics: list[str] = field(default_factory=list)
    machine_annotation_tools: list[str] = field(default_factory=list)
    social_impact: str = ""

    def __post_init__(self) -> None:
        for value in [self.date_published or "1970-01-01", *self.data_collection_timeframe]:
            try:
                dt.date.fromisoformat(str(value))
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from exc


def publish_section(recipe: Recipe) -> PublishSection:
    """The validated ``publish`` section (errors name the recipe file and key)."""
    return recipe.section("publish", PublishSection)


def card_section(recipe: Recipe) -> CardSection:
    """The validated ``card`` section."""
    return recipe.section("card", CardSection)
