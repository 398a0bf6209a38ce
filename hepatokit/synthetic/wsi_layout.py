"""Planted tissue layout of a synthetic WSI: which tile holds which class, and the tumor outline.

The layout lives on the grid of 20× 150 px tiles (``tile`` level-0 pixels: 300 at 40×, 150 at
20×) anchored at level-0 (0, 0). The tissue is one row-convex blob of whole tiles (no holes,
so tissue detection sees exactly these tiles), the tumor a row-convex sub-blob. The tumor
polygon follows the tumor tiles' outline with hand-drawn wobble of at most
:data:`WOBBLE` tile, so every tile centre is ≥ 0.3 tile from the outline: the tile-centre rule
and the majority-overlap rule give the same region for every tile.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["NON_TUMOR_MIX", "TUMOR_MIX", "WOBBLE", "Layout", "make_layout", "tumor_geojson"]

WOBBLE = 0.15
#: Class mixture drawn per region (Voronoi areas of tiles); the planted exact proportions are
#: whatever the draw gives, listed in truth.json.
TUMOR_MIX: dict[str, float] = {"TUM": 0.6, "NEC": 0.15, "FIB": 0.15, "INF": 0.1}
NON_TUMOR_MIX: dict[str, float] = {"NOR": 0.4, "STE": 0.25, "FIB": 0.15, "INF": 0.1, "REA": 0.1}


@dataclass
class Layout:
    """Tile grid of one slide.

    ``classes[row, col]`` is the class name or ``""`` for glass; ``tumor[row, col]`` marks
    tumor-region tiles; ``polygon`` is the tumor outline in level-0 pixels (closed ring).
    """

    tile: int
    classes: np.ndarray
    tumor: np.ndarray
    polygon: list[tuple[float, float]]

    @property
    def rows(self) -> int:
        return int(self.classes.shape[0])

    @property
    def cols(self) -> int:
        return int(self.classes.shape[1])


def _row_convex_blob(
    rng: np.random.Generator, rows: int, cols: int, cy: float, cx: float, ry: float, rx: float
) -> np.ndarray:
    """Ellipse-like set of tiles, contiguous in each row, consecutive rows overlapping ≥ 2."""
    mask = np.zeros((rows, cols), bool)
    prev: tuple[int, int] | None = None
    for r in range(rows):
        t = (r + 0.5 - cy) / ry
        if abs(t) >= 1:
            continue
        half = rx * np.sqrt(1 - t * t) * rng.uniform(0.85, 1.1)
        x0 = round(cx - half + rng.uniform(-0.6, 0.6))
        x1 = round(cx + half + rng.uniform(-0.6, 0.6))
        x0, x1 = max(1, x0), min(cols - 1, x1)
        if x1 - x0 < 2:
            continue
        if prev is not None:  # keep the outline smooth: overlap the row above by ≥ 2 tiles
            x0 = min(max(x0, prev[0] - 2), prev[1] - 2)
            x1 = max(min(x1, prev[1] + 2), prev[0] + 2)
        mask[r, x0:x1] = True
        prev = (x0, x1)
    return mask


def _outline(mask: np.ndarray) -> list[tuple[int, int]]:
    """Corner points (col, row) of the outline of a row-convex mask, clockwise, unclosed."""
    rows = [r for r in range(mask.shape[0]) if mask[r].any()]
    spans = {
        r: (int(np.argmax(mask[r])), int(mask.shape[1] - np.argmax(mask[r, ::-1]))) for r in rows
    }
    right: list[tuple[int, int]] = []
    left: list[tuple[int, int]] = []
    for r in rows:
        x0, x1 = spans[r]
        right += [(x1, r), (x1, r + 1)]
        left += [(x0, r), (x0, r + 1)]
    ring = right + left[::-1]
    simple: list[tuple[int, int]] = []
    for p in ring:  # drop repeated and collinear points
        if simple and simple[-1] == p:
            continue
        simple.append(p)
    out: list[tuple[int, int]] = []
    n = len(simple)
    for i, p in enumerate(simple):
        a, b = simple[i - 1], simple[(i + 1) % n]
        if (a[0] == p[0] == b[0]) or (a[1] == p[1] == b[1]):
            continue
        out.append(p)
    return out


def _wobbly(
    rng: np.random.Generator, corners: list[tuple[int, int]], tile: int
) -> list[tuple[float, float]]:
    """Hand-drawn look: a point every half tile along each edge, each moved ≤ WOBBLE tile."""
    pts: list[tuple[float, float]] = []
    n = len(corners)
    for i in range(n):
        (x0, y0), (x1, y1) = corners[i], corners[(i + 1) % n]
        steps = max(1, int(2 * max(abs(x1 - x0), abs(y1 - y0))))
        for k in range(steps):
            f = k / steps
            jx, jy = rng.uniform(-WOBBLE, WOBBLE, 2)
            x = (x0 + f * (x1 - x0) + jx) * tile
            y = (y0 + f * (y1 - y0) + jy) * tile
            pts.append((round(float(x), 1), round(float(y), 1)))
    pts.append(pts[0])
    return pts


def _assign(rng: np.random.Generator, region: np.ndarray, mix: dict[str, float]) -> np.ndarray:
    """Classes for the tiles of ``region``: Voronoi areas around seeds, seed classes from ``mix``
    (every class of the mix gets at least one seed)."""
    out = np.full(region.shape, "", dtype=object)
    cells = np.argwhere(region)
    if len(cells) == 0:
        return out
    names = list(mix)
    n_seeds = max(len(names), len(cells) // 5)
    seeds = cells[rng.choice(len(cells), min(n_seeds, len(cells)), replace=False)]
    p = np.array([mix[c] for c in names])
    seed_cls = [names[i] for i in range(len(names))][: len(seeds)]
    seed_cls += [
        names[i] for i in rng.choice(len(names), len(seeds) - len(seed_cls), p=p / p.sum())
    ]
    d = ((cells[:, None, :] - seeds[None, :, :]) ** 2).sum(-1) + rng.uniform(
        0, 0.5, (len(cells), len(seeds))
    )
    nearest = d.argmin(1)
    for (r, c), k in zip(cells.tolist(), nearest.tolist(), strict=True):
        out[r, c] = seed_cls[k]
    return out


def _smooth_spans(mask: np.ndarray, min_rows: int = 3) -> bool:
    """Rows with tiles are consecutive and each overlaps the previous by ≥ 2 tiles."""
    rows = [r for r in range(mask.shape[0]) if mask[r].any()]
    if len(rows) < min_rows or rows[-1] - rows[0] + 1 != len(rows):
        return False
    spans = [(int(np.argmax(mask[r])), int(mask.shape[1] - np.argmax(mask[r, ::-1]))) for r in rows]
    if any(int(mask[r].sum()) != b - a for r, (a, b) in zip(rows, spans, strict=True)):
        return False
    return all(min(b1, b2) - max(a1, a2) >= 2 for (a1, b1), (a2, b2) in itertools.pairwise(spans))


def make_layout(rng: np.random.Generator, width: int, height: int, tile: int) -> Layout:
    """Plant tissue and a tumor region on the tile grid of a ``width``×``height`` level 0."""
    rows, cols = height // tile, width // tile
    if rows < 8 or cols < 8:
        raise ValueError(f"slide {width}x{height} too small for a layout of {tile}px tiles")
    for _ in range(50):
        layout = _try_layout(rng, rows, cols, tile)
        if layout is not None:
            return layout
    raise RuntimeError("could not plant a tissue layout; use a larger slide")


def _try_layout(rng: np.random.Generator, rows: int, cols: int, tile: int) -> Layout | None:
    tissue = _row_convex_blob(
        rng, rows, cols, rows / 2, cols / 2, rows / 2 - rng.uniform(0.6, 1.2), cols / 2 - 1.2
    )
    rr = np.argwhere(tissue)
    r_lo, r_hi = rr[:, 0].min(), rr[:, 0].max()
    cy = rng.uniform(r_lo + 0.4 * (r_hi - r_lo), r_lo + 0.6 * (r_hi - r_lo)) + 0.5
    cx = cols * rng.uniform(0.35, 0.5)
    tumor = _row_convex_blob(rng, rows, cols, cy, cx, (r_hi - r_lo) * 0.3 + 1, cols * 0.22)
    tumor &= tissue
    if not (_smooth_spans(tissue) and _smooth_spans(tumor)) or tumor.sum() > 0.6 * tissue.sum():
        return None
    classes = _assign(rng, tumor, TUMOR_MIX)
    rest = _assign(rng, tissue & ~tumor, NON_TUMOR_MIX)
    classes[tissue & ~tumor] = rest[tissue & ~tumor]
    polygon = _wobbly(rng, _outline(tumor), tile)
    return Layout(tile=tile, classes=classes, tumor=tumor, polygon=polygon)


def tumor_geojson(layout: Layout, name: str) -> dict[str, object]:
    """QuPath-style GeoJSON FeatureCollection of the tumor annotation (level-0 pixels)."""
    import uuid

    fid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"hepatokit-synthetic/{name}/tumor"))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": fid,
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in layout.polygon]]},
                "properties": {
                    "objectType": "annotation",
                    "name": "Tumor region",
                    "classification": {"name": "Tumor", "color": [200, 0, 0]},
                    "isLocked": False,
                },
            }
        ],
    }
