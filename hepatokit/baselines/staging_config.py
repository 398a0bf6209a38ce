"""Configuration of the baselines: the recipe's ``baselines`` section, validated.

```yaml
baselines:
  staging:                       # LiFS (recipes/lifs.yaml)
    tracks: {contrast: [T1W, T2W, DWI, GED1, GED2, GED3, GED4], noncontrast: [T1W, T2W, DWI]}
    tiny: {grid: [32, 32, 16], spacing: [12.0, 12.0, 14.0], epochs: 12, ...}
    full: {grid: [128, 128, 80], spacing: [3.0, 3.0, 3.0], epochs: 100, ...}
  probe:                         # HepatoBench (recipes/hepatobench.yaml)
    encoders: [builtin:tiny-cnn]
    method: lbfgs
```
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from hepatokit.contracts.lifs import SEQUENCES

__all__ = [
    "BaselinesSection",
    "ProbeSection",
    "StagingConfig",
    "StagingSection",
    "baselines_section",
]

DEFAULT_TRACKS = {
    "contrast": list(SEQUENCES),
    "noncontrast": ["T1W", "T2W", "DWI"],
}
#: track name → the ``Setting`` value of the official submission CSV
SETTINGS = {"contrast": "Contrast", "noncontrast": "NonContrast"}


@dataclass(frozen=True)
class StagingConfig:
    """One staging training configuration (``tiny`` for CPU tests/demo, ``full`` for GPUs).

    ``grid`` is the voxel grid (x, y, z) every volume is resampled/cropped to, ``spacing``
    its voxel size in mm. ``lr`` is AdamW's peak learning rate, decayed by a cosine schedule
    after ``warmup_epochs`` of linear warm-up. ``cpu_threads`` (CPU runs only; 0 = torch's
    default) caps torch's intra-op threads: 1 is fastest for the tiny models. ``select_on``
    picks the checkpoint kept as ``best``: the validation mean of the two subtasks' AUCs
    (ties broken by the validation loss), or the validation loss. ``cache`` stores every
    preprocessed volume once, memory-mapped, in that dtype (``off``: no grid cache;
    :mod:`hepatokit.baselines.grid_cache` states each dtype's error bound) and feeds
    training from it without loader workers. ``augment`` flips and rescales each training
    batch on the device (:func:`hepatokit.baselines.staging_feed.augment_batch`).
    """

    grid: tuple[int, ...] = (128, 128, 80)
    spacing: tuple[float, ...] = (3.0, 3.0, 3.0)
    epochs: int = 100
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 5
    num_workers: int = 4
    resnet_layers: tuple[int, ...] = (2, 2, 2, 2)
    resnet_widths: tuple[int, ...] = (64, 128, 256, 512)
    vit_patch: tuple[int, ...] = (16, 16, 16)
    vit_hidden: int = 768
    vit_layers: int = 12
    vit_heads: int = 12
    vit_mlp: int = 3072
    dropout: float = 0.1
    select_on: Literal["auc", "loss"] = "auc"
    cpu_threads: int = 0
    cache: Literal["off", "float32", "float16", "uint8"] = "off"
    augment: bool = False

    def __post_init__(self) -> None:
        for name in ("grid", "spacing", "vit_patch"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"{name} needs 3 values (x, y, z), got {getattr(self, name)}")
        if len(self.resnet_layers) != 4 or len(self.resnet_widths) != 4:
            raise ValueError("resnet_layers and resnet_widths need 4 values each")
        if any(g % p for g, p in zip(self.grid, self.vit_patch, strict=True)):
            raise ValueError(f"grid {self.grid} is not divisible by vit_patch {self.vit_patch}")
        if self.vit_hidden % self.vit_heads:
            raise ValueError("vit_hidden must be divisible by vit_heads")
        if self.cache not in ("off", "float32", "float16", "uint8"):
            raise ValueError(f"cache must be off, float32, float16 or uint8, got {self.cache!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")


TINY = StagingConfig(
    grid=(32, 32, 16),
    spacing=(12.0, 12.0, 14.0),
    epochs=12,
    batch_size=8,
    lr=1e-2,
    weight_decay=1e-4,
    warmup_epochs=0,
    num_workers=0,
    resnet_layers=(1, 1, 1, 1),
    resnet_widths=(8, 16, 32, 32),
    vit_patch=(8, 8, 8),
    vit_hidden=48,
    vit_layers=2,
    vit_heads=4,
    vit_mlp=96,
    dropout=0.0,
    cpu_threads=1,
)


@dataclass(frozen=True)
class StagingSection:
    """``baselines.staging``: tracks (sequence lists) and the tiny / full configurations."""

    tracks: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_TRACKS))
    intensity: Literal["percentile", "zscore"] = "percentile"
    tiny: StagingConfig = TINY
    full: StagingConfig = field(default_factory=StagingConfig)

    def __post_init__(self) -> None:
        unknown = set(self.tracks) - set(SETTINGS)
        if unknown:
            raise ValueError(f"unknown track(s) {sorted(unknown)}; use contrast, noncontrast")


@dataclass(frozen=True)
class ProbeSection:
    """``baselines.probe``: encoders compared by default and the head-training protocol."""

    encoders: list[str] = field(default_factory=lambda: ["builtin:tiny-cnn"])
    method: Literal["lbfgs", "adamw"] = "lbfgs"
    max_iter: int = 1000
    combine_trainval: bool = True
    lr: float = 3e-4
    batch_size: int = 256
    max_epochs: int = 1000
    patience: int = 20
    embed_batch_size: int = 128
    num_workers: int = 4
    bootstrap: int = 1000


@dataclass(frozen=True)
class BaselinesSection:
    staging: StagingSection = field(default_factory=StagingSection)
    probe: ProbeSection = field(default_factory=ProbeSection)


def baselines_section(recipe: object | None) -> BaselinesSection:
    """The validated ``baselines`` section of a recipe (defaults when absent or ``None``)."""
    if recipe is None:
        return BaselinesSection()
    from hepatokit.recipe import Recipe

    assert isinstance(recipe, Recipe)
    return recipe.section("baselines", BaselinesSection)


def with_overrides(cfg: StagingConfig, **changes: object) -> StagingConfig:
    """``cfg`` with the non-``None`` ``changes`` applied (CLI overrides)."""
    return replace(cfg, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
