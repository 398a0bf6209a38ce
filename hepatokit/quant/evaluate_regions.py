"""``evaluate regions``: benchmark tumor-region masks against reference masks, per slide.

Both sides are folders (or single files) of GeoJSON polygons or mask images; files pair up
by slide name (``<slide>.geojson``, ``<slide>_mask.png``, ``<slide>_tumor_ds32.png``...).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.errors import DataFormatError
from hepatokit.quant.region_metrics import MaskScores, region_scores, sum_scores
from hepatokit.quant.regions import GeoJSONRegions, MaskRegions, RegionSource, load_regions

__all__ = ["RegionEvaluation", "evaluate_regions"]

_SUFFIX = re.compile(r"(_tumor)?(_mask)?(_ds\d+)?$")
_REGION_SUFFIXES = (".geojson", ".json", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class RegionEvaluation:
    """Per-slide scores, pooled (micro) scores and the mean over slides (macro)."""

    per_slide: dict[str, MaskScores]
    overall: MaskScores
    macro: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_slide": {k: v.as_dict() for k, v in sorted(self.per_slide.items())},
            "overall_micro": self.overall.as_dict(),
            "mean_over_slides": self.macro,
        }


def _slide_key(path: Path) -> str:
    return _SUFFIX.sub("", path.stem)


def _files(spec: Path) -> dict[str, Path]:
    if spec.is_file():
        return {_slide_key(spec): spec}
    if not spec.is_dir():
        raise DataFormatError("not found", path=spec, hint="give a mask/GeoJSON file or a folder")
    return {
        _slide_key(p): p for p in sorted(spec.iterdir()) if p.suffix.lower() in _REGION_SUFFIXES
    }


def _extent(source: RegionSource) -> tuple[int, int]:
    if isinstance(source, MaskRegions):
        h, w = source.array.shape
        return math.ceil(w * source.downsample), math.ceil(h * source.downsample)
    if isinstance(source, GeoJSONRegions):
        pts = np.concatenate([r for rings in source.polygons for r in rings])
        return math.ceil(pts[:, 0].max()) + 1, math.ceil(pts[:, 1].max()) + 1
    return 0, 0


def evaluate_regions(
    *,
    pred: str | os.PathLike[str],
    truth: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    pred_downsample: float | None = None,
    truth_downsample: float | None = None,
    level0_sizes: dict[str, tuple[int, int]] | None = None,
) -> RegionEvaluation:
    """IoU, Dice, precision, recall, F1 of predicted vs reference tumor regions.

    Parameters
    ----------
    pred, truth
        Files or folders of GeoJSON polygons / mask images (non-zero = tumor).
    pred_downsample, truth_downsample
        Level-0 pixels per mask pixel, needed for mask images.
    level0_sizes
        Slide (width, height) in level-0 px per slide name; default: the union of both
        sides' extents (areas outside both count as true negatives, which no metric uses).
    out
        Folder for ``regions.json``, ``regions.csv`` and ``regions.md``.
    """
    p_files, t_files = _files(Path(pred)), _files(Path(truth))
    missing = sorted(set(t_files) - set(p_files))
    if missing:
        raise DataFormatError(
            f"no prediction for slide(s) {', '.join(missing)}",
            path=str(pred),
            hint="name prediction files like the reference (<slide>.geojson, <slide>_mask.png)",
        )
    per_slide: dict[str, MaskScores] = {}
    for key, t_path in t_files.items():
        t_src = load_regions(t_path, mask_downsample=truth_downsample)
        p_src = load_regions(p_files[key], mask_downsample=pred_downsample)
        if level0_sizes and key in level0_sizes:
            size = level0_sizes[key]
        else:
            (pw, ph), (tw, th) = _extent(p_src), _extent(t_src)
            size = (max(pw, tw), max(ph, th))
        per_slide[key] = region_scores(p_src, t_src, level0_size=size)
    overall = sum_scores(list(per_slide.values()))
    metrics = ("iou", "dice", "precision", "recall", "f1")
    macro = {
        m: float(np.mean([getattr(s, m) for s in per_slide.values()])) if per_slide else 0.0
        for m in metrics
    }
    result = RegionEvaluation(per_slide=per_slide, overall=overall, macro=macro)
    if out is not None:
        _write(Path(out), result, metrics)
    return result


def _write(out: Path, result: RegionEvaluation, metrics: tuple[str, ...]) -> None:
    write_json_atomic(out / "regions.json", result.as_dict())
    lines = ["slide," + ",".join(metrics)]
    md = ["| slide | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    rows = [*sorted(result.per_slide.items()), ("overall (micro)", result.overall)]
    for name, s in rows:
        vals = [getattr(s, m) for m in metrics]
        lines.append(name + "," + ",".join(f"{v:.6f}" for v in vals))
        md.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    md.append(
        "| mean over slides | " + " | ".join(f"{result.macro[m]:.4f}" for m in metrics) + " |"
    )
    write_text_atomic(out / "regions.csv", "\n".join(lines) + "\n")
    write_text_atomic(out / "regions.md", "# Tumor-region segmentation\n\n" + "\n".join(md) + "\n")
