"""``evaluate regions``: benchmark tumor-region masks against reference masks, per slide.

Both sides are folders (or single files) of GeoJSON polygons or mask images; files pair up
by slide name (``<slide>.geojson``, ``<slide>_mask.png``, ``<slide>_tumor_ds32.png``...;
a GeoJSON wins over a mask of the same slide). Scores per class: ``tumor`` always;
``non_tumor`` (tissue outside the tumor on each side) when the slides are given, their tissue
found by the tissue detector. Bootstrap CIs resample slides (pooled counts per resample).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.errors import DataFormatError
from hepatokit.quant.region_metrics import MaskScores, mask_scores, region_scores, sum_scores
from hepatokit.quant.regions import GeoJSONRegions, MaskRegions, RegionSource, load_regions

METRICS = ("iou", "dice", "precision", "recall", "f1")

__all__ = ["RegionEvaluation", "evaluate_regions"]

_SUFFIX = re.compile(r"(_tumor)?(_mask)?(_ds\d+)?$")
_REGION_SUFFIXES = (".geojson", ".json", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class RegionEvaluation:
    """Per-slide scores, pooled (micro) scores and the mean over slides (macro)."""

    per_slide: dict[str, MaskScores]
    overall: MaskScores
    macro: dict[str, float]
    #: class → slide → scores (``tumor``; ``non_tumor`` when slides were given)
    per_class: dict[str, dict[str, MaskScores]] = field(default_factory=dict)
    #: class → metric → bootstrap CI over slides of the pooled metric
    ci: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_slide": {k: v.as_dict() for k, v in sorted(self.per_slide.items())},
            "overall_micro": self.overall.as_dict(),
            "mean_over_slides": self.macro,
            "classes": {
                cls: {
                    "per_slide": {k: v.as_dict() for k, v in sorted(rows.items())},
                    "overall_micro": sum_scores(list(rows.values())).as_dict(),
                    "ci": {m: c.as_dict() for m, c in self.ci.get(cls, {}).items()},
                }
                for cls, rows in self.per_class.items()
            },
        }


def _slide_key(path: Path) -> str:
    return _SUFFIX.sub("", path.stem)


def _files(spec: Path) -> dict[str, Path]:
    if spec.is_file():
        return {_slide_key(spec): spec}
    if not spec.is_dir():
        raise DataFormatError("not found", path=spec, hint="give a mask/GeoJSON file or a folder")
    out: dict[str, Path] = {}
    for p in sorted(spec.iterdir()):
        if p.suffix.lower() not in _REGION_SUFFIXES or p.stem.endswith("_labels"):
            continue
        key = _slide_key(p)
        if key in out and out[key].suffix.lower() in (".geojson", ".json"):
            continue  # a GeoJSON wins over a mask of the same slide
        out[key] = p
    return out


def _extent(source: RegionSource) -> tuple[int, int]:
    if isinstance(source, MaskRegions):
        h, w = source.array.shape
        return math.ceil(w * source.downsample), math.ceil(h * source.downsample)
    if isinstance(source, GeoJSONRegions) and source.polygons:
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
    slides: str | os.PathLike[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
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
    slides
        Folder of the slides (files named by slide): adds the ``non_tumor`` class (tissue from
        the tissue detector at 1/16 of level 0, outside each side's tumor) and fixes the slide
        extent to the slide's size.
    n_resamples, confidence, seed
        Bootstrap over slides of the pooled metrics per class (0 disables).
    """
    p_files, t_files = _files(Path(pred)), _files(Path(truth))
    missing = sorted(set(t_files) - set(p_files))
    if missing:
        raise DataFormatError(
            f"no prediction for slide(s) {', '.join(missing)}",
            path=str(pred),
            hint="name prediction files like the reference (<slide>.geojson, <slide>_mask.png)",
        )
    slide_files = _slide_files(Path(slides)) if slides is not None else {}
    per_slide: dict[str, MaskScores] = {}
    non_tumor: dict[str, MaskScores] = {}
    for key, t_path in t_files.items():
        t_src = load_regions(t_path, mask_downsample=truth_downsample)
        p_src = load_regions(p_files[key], mask_downsample=pred_downsample)
        if level0_sizes and key in level0_sizes:
            size = level0_sizes[key]
        else:
            (pw, ph), (tw, th) = _extent(p_src), _extent(t_src)
            size = (max(pw, tw), max(ph, th))
        if slides is not None:
            if key not in slide_files:
                raise DataFormatError(f"no slide file for {key}", path=str(slides))
            tissue, ds, size = _tissue(slide_files[key])
            non_tumor[key] = mask_scores(
                tissue & ~p_src.mask(tissue.shape, ds),
                tissue & ~t_src.mask(tissue.shape, ds),
                pixel_area=ds * ds,
            )
        per_slide[key] = region_scores(p_src, t_src, level0_size=size)
    overall = sum_scores(list(per_slide.values()))
    macro = {
        m: float(np.mean([getattr(s, m) for s in per_slide.values()])) if per_slide else 0.0
        for m in METRICS
    }
    per_class = {"tumor": per_slide}
    if non_tumor:
        per_class["non_tumor"] = non_tumor
    ci = {
        cls: _bootstrap(rows, n_resamples=n_resamples, confidence=confidence, seed=seed)
        for cls, rows in per_class.items()
        if n_resamples > 0 and rows
    }
    result = RegionEvaluation(per_slide=per_slide, overall=overall, macro=macro,
                              per_class=per_class, ci=ci)  # fmt: skip
    if out is not None:
        _write(Path(out), result, METRICS)
    return result


def _slide_files(folder: Path) -> dict[str, Path]:
    from hepatokit.quant.run import SLIDE_SUFFIXES

    if not folder.is_dir():
        raise DataFormatError("slide folder not found", path=folder)
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in SLIDE_SUFFIXES}


def _tissue(slide: Path, downsample: float = 16.0) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Tissue mask of a slide at ~``downsample``, its exact downsample and level-0 size."""
    from hepatokit.curation.patho import detect_tissue, open_slide

    with open_slide(slide) as reader:
        thumb, ds = reader.thumbnail(downsample)
        mpp, size = reader.info.mpp, reader.info.dimensions
    return detect_tissue(thumb, mpp=mpp * ds), float(ds), (int(size[0]), int(size[1]))


def _bootstrap(
    rows: dict[str, MaskScores], *, n_resamples: int, confidence: float, seed: int
) -> dict[str, Any]:
    """CI of the pooled metrics: resample slides, sum their counts, recompute."""
    from hepatokit.evaluation.bootstrap import bootstrap_ci

    counts = np.array([[s.tp, s.fp, s.fn] for _, s in sorted(rows.items())], dtype=np.float64)

    def stat(c: np.ndarray) -> dict[str, float]:
        tp, fp, fn = c.sum(0)
        pooled = sum_scores([MaskScores(tp, fp, fn, 0, 0, 0, 0, 0)])
        return {m: getattr(pooled, m) for m in METRICS}

    return bootstrap_ci(stat, counts, n_resamples=n_resamples, confidence=confidence, seed=seed)


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
    for cls, rows_c in result.per_class.items():
        pooled = sum_scores(list(rows_c.values()))
        cis = result.ci.get(cls, {})
        cells = []
        for m in metrics:
            c = cis.get(m)
            ci_text = f" [{c.low:.3f}, {c.high:.3f}]" if c is not None else ""
            cells.append(f"{getattr(pooled, m):.4f}{ci_text}")
        md.append(f"| {cls}: pooled (95% CI over slides) | " + " | ".join(cells) + " |")
        for name, sc in sorted(rows_c.items()):
            lines.append(f"{cls}:{name}," + ",".join(f"{getattr(sc, m):.6f}" for m in metrics))
    write_text_atomic(out / "regions.csv", "\n".join(lines) + "\n")
    write_text_atomic(out / "regions.md", "# Tumor-region segmentation\n\n" + "\n".join(md) + "\n")
