"""Tissue composition per region: class proportions by tile count and by tissue area.

The arithmetic here is exact: given each tile's class, region and tissue fraction, the
proportions are ratios of integer counts (by count) or of summed areas (by area). The
tests feed it an oracle classifier so any error in stitching or region assignment shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["HEADLINE", "RegionComposition", "compose", "tissue_map"]

#: the seed's headline proportions per region (HepatoQuant)
HEADLINE: dict[str, tuple[str, ...]] = {
    "non_tumor": ("STE", "REA", "FIB", "INF"),
    "tumor": ("NEC", "FIB", "INF"),
}


@dataclass(frozen=True)
class RegionComposition:
    """Composition of one region.

    ``by_count[c]`` = tiles of class c / tiles in the region; ``by_area[c]`` = tissue area of
    class c / tissue area of the region (tile area × tissue fraction, in mm²).
    """

    region: str
    n_tiles: int
    tissue_area_mm2: float
    counts: dict[str, int]
    by_count: dict[str, float]
    by_area: dict[str, float]
    headline: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "n_tiles": self.n_tiles,
            "tissue_area_mm2": self.tissue_area_mm2,
            "counts": self.counts,
            "proportion_by_count": self.by_count,
            "proportion_by_area": self.by_area,
            "headline_by_count": self.headline,
        }


def compose(
    *,
    labels: np.ndarray,
    regions: np.ndarray,
    tissue_fraction: np.ndarray,
    tile_area_mm2: float,
    classes: Sequence[str],
) -> dict[str, RegionComposition]:
    """Per-region composition.

    Parameters
    ----------
    labels
        Class index per tile, shape (N,), values in ``range(len(classes))``.
    regions
        Region name per tile, shape (N,) (``tumor`` / ``non_tumor`` / ``whole_slide``).
    tissue_fraction
        Fraction of each tile covered by tissue, shape (N,), in [0, 1].
    tile_area_mm2
        Area of one tile at level 0 in mm² (``(tile_px_level0 * mpp / 1000) ** 2``).
    classes
        Class names in label-index order.
    """
    labels = np.asarray(labels, dtype=np.int64)
    regions = np.asarray(regions, dtype=object)
    frac = np.asarray(tissue_fraction, dtype=np.float64)
    if not (len(labels) == len(regions) == len(frac)):
        raise ValueError("labels, regions and tissue_fraction must have the same length")
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"labels must lie in [0, {len(classes)})")
    out: dict[str, RegionComposition] = {}
    for region in sorted(set(regions.tolist())):
        sel = regions == region
        n = int(sel.sum())
        counts = np.bincount(labels[sel], minlength=len(classes))
        area = np.bincount(labels[sel], weights=frac[sel] * tile_area_mm2, minlength=len(classes))
        total_area = float(area.sum())
        by_count = {c: float(counts[i] / n) if n else 0.0 for i, c in enumerate(classes)}
        by_area = {
            c: float(area[i] / total_area) if total_area > 0 else 0.0 for i, c in enumerate(classes)
        }
        headline = {c: by_count[c] for c in HEADLINE.get(str(region), ()) if c in by_count}
        out[str(region)] = RegionComposition(
            region=str(region),
            n_tiles=n,
            tissue_area_mm2=total_area,
            counts={c: int(counts[i]) for i, c in enumerate(classes)},
            by_count=by_count,
            by_area=by_area,
            headline=headline,
        )
    return out


def tissue_map(
    *, x: np.ndarray, y: np.ndarray, labels: np.ndarray, tile_size_level0: float
) -> tuple[np.ndarray, tuple[float, float]]:
    """Stitch per-tile classes into a map at tile resolution.

    Returns the map (rows, cols) of class indices with -1 where no tile was kept, and the
    level-0 origin (x0, y0) of cell (0, 0). Cell (r, c) covers level-0
    ``[x0 + c*s, x0 + (c+1)*s) × [y0 + r*s, y0 + (r+1)*s)`` with ``s = tile_size_level0``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return np.full((0, 0), -1, dtype=np.int16), (0.0, 0.0)
    s = float(tile_size_level0)
    x0, y0 = float(x.min()), float(y.min())
    cols = np.rint((x - x0) / s).astype(int)
    rows = np.rint((y - y0) / s).astype(int)
    grid = np.full((rows.max() + 1, cols.max() + 1), -1, dtype=np.int16)
    grid[rows, cols] = np.asarray(labels, dtype=np.int16)
    return grid, (x0, y0)
