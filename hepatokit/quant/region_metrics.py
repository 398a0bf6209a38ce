"""Segmentation metrics of tumor-region masks: IoU, Dice, precision, recall, F1.

Masks may come at different downsamples (or as GeoJSON polygons); both are brought onto the
finer of the two grids in level-0 coordinates before counting. Conventions for empty masks:
when prediction and truth are both empty every metric is 1 (nothing to find, nothing
found); when only one is empty the overlap metrics are 0 and precision/recall follow their
definitions (precision of an empty prediction is 1 if the truth is empty, else 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from hepatokit.quant.regions import RegionSource

__all__ = ["MaskScores", "mask_scores", "region_scores", "sum_scores"]


@dataclass(frozen=True)
class MaskScores:
    """Pixel counts (in level-0 px²) and the metrics derived from them."""

    tp: float
    fp: float
    fn: float
    iou: float
    dice: float
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _from_counts(tp: float, fp: float, fn: float) -> MaskScores:
    if tp + fp + fn == 0:
        return MaskScores(tp, fp, fn, 1.0, 1.0, 1.0, 1.0, 1.0)
    iou = tp / (tp + fp + fn)
    dice = 2 * tp / (2 * tp + fp + fn)
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return MaskScores(tp, fp, fn, iou, dice, precision, recall, f1)


def mask_scores(pred: np.ndarray, truth: np.ndarray, *, pixel_area: float = 1.0) -> MaskScores:
    """Metrics of two boolean masks of the same shape; ``pixel_area`` weights the counts."""
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {truth.shape}")
    tp = float(np.count_nonzero(pred & truth)) * pixel_area
    fp = float(np.count_nonzero(pred & ~truth)) * pixel_area
    fn = float(np.count_nonzero(~pred & truth)) * pixel_area
    return _from_counts(tp, fp, fn)


def region_scores(
    pred: RegionSource,
    truth: RegionSource,
    *,
    level0_size: tuple[int, int],
    downsample: float | None = None,
) -> MaskScores:
    """Compare two region sources over a slide of ``level0_size`` = (width, height) px.

    ``downsample`` is the grid both are rasterised on; default the finer of the two masks'
    own downsamples (polygons count as exact, so a polygon vs a mask uses the mask's).
    """
    if downsample is None:
        own = [getattr(s, "downsample", None) for s in (pred, truth)]
        given = [d for d in own if d]
        downsample = min(given) if given else 1.0
    width, height = level0_size
    shape = (math.ceil(height / downsample), math.ceil(width / downsample))
    return mask_scores(
        pred.mask(shape, downsample), truth.mask(shape, downsample), pixel_area=downsample**2
    )


def sum_scores(scores: list[MaskScores]) -> MaskScores:
    """Pooled (micro) metrics over several slides: counts summed, then ratios."""
    return _from_counts(
        sum(s.tp for s in scores), sum(s.fp for s in scores), sum(s.fn for s in scores)
    )
