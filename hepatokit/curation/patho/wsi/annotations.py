"""GeoJSON annotations as QuPath exports them → a region / label per tile.

Accepted: a ``FeatureCollection``, a list of features, or one feature; geometries
``Polygon`` and ``MultiPolygon`` (holes respected) in level-0 pixel coordinates. The name
of a polygon is ``properties.classification.name`` (QuPath's class), else
``properties.name``, else ``"annotation"``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.path import Path as MplPath
from numpy.typing import NDArray

from hepatokit.errors import DataFormatError

__all__ = ["Annotation", "label_tiles", "load_annotations", "points_inside"]


@dataclass(frozen=True)
class Annotation:
    """One named polygon: exterior ring + hole rings, ``(N, 2)`` level-0 (x, y) arrays."""

    name: str
    exterior: NDArray[np.float64]
    holes: tuple[NDArray[np.float64], ...] = ()


def _name(props: dict[str, Any]) -> str:
    cls = props.get("classification")
    if isinstance(cls, dict) and cls.get("name"):
        return str(cls["name"])
    if isinstance(cls, str) and cls:
        return cls
    return str(props.get("name") or "annotation")


def load_annotations(path: str | os.PathLike[str]) -> list[Annotation]:
    """Polygons of a GeoJSON file, in file order.

    Raises
    ------
    DataFormatError
        Not JSON, or not GeoJSON features.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read GeoJSON: {exc}", path=path) from exc
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features", [])
    elif isinstance(data, list):
        features = data
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    else:
        raise DataFormatError(
            "expected a GeoJSON FeatureCollection or a list of features",
            path=path,
            hint="export annotations from QuPath with File > Export objects as GeoJSON",
        )
    out: list[Annotation] = []
    for feat in features:
        geom = (feat or {}).get("geometry") or {}
        name = _name((feat or {}).get("properties") or {})
        polys = []
        if geom.get("type") == "Polygon":
            polys = [geom.get("coordinates", [])]
        elif geom.get("type") == "MultiPolygon":
            polys = geom.get("coordinates", [])
        for rings in polys:
            if not rings:
                continue
            arrs = [np.asarray(r, dtype=np.float64)[:, :2] for r in rings if len(r) >= 3]
            if arrs:
                out.append(Annotation(name, arrs[0], tuple(arrs[1:])))
    return out


def points_inside(ann: Annotation, xy: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which ``(N, 2)`` level-0 points fall inside the polygon (and outside its holes)."""
    inside = MplPath(ann.exterior).contains_points(xy)
    for hole in ann.holes:
        inside &= ~MplPath(hole).contains_points(xy)
    return inside


def label_tiles(
    annotations: list[Annotation],
    xs: NDArray[np.int64],
    ys: NDArray[np.int64],
    size: int,
    *,
    by: str = "centre",
    min_overlap: float = 0.5,
    samples: int = 8,
) -> list[str | None]:
    """The annotation name of each tile (top-left ``xs, ys``, side ``size``, level 0).

    ``by="centre"``: the first polygon containing the tile centre. ``by="overlap"``: the
    polygon covering the largest share of the tile (estimated on a ``samples²`` grid), if
    that share is at least ``min_overlap``. Tiles outside every polygon get None.
    """
    n = len(xs)
    out: list[str | None] = [None] * n
    if not annotations or n == 0:
        return out
    xs_f = np.asarray(xs, dtype=np.float64)
    ys_f = np.asarray(ys, dtype=np.float64)
    if by == "centre":
        centres = np.stack([xs_f + size / 2, ys_f + size / 2], axis=1)
        for ann in reversed(annotations):  # the first polygon in file order wins
            for k in np.nonzero(points_inside(ann, centres))[0]:
                out[k] = ann.name
        return out
    offs = (np.arange(samples) + 0.5) * size / samples
    gx, gy = np.meshgrid(offs, offs)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (S, 2)
    pts = (np.stack([xs_f, ys_f], axis=1)[:, None, :] + grid[None]).reshape(-1, 2)
    best = np.zeros(n)
    names = sorted({a.name for a in annotations})
    for name in names:
        inside = np.zeros(len(pts), dtype=bool)
        for ann in annotations:
            if ann.name == name:
                inside |= points_inside(ann, pts)
        frac = inside.reshape(n, -1).mean(axis=1)
        better = (frac >= min_overlap) & (frac > best)
        for k in np.nonzero(better)[0]:
            out[k] = name
        best = np.maximum(best, np.where(better, frac, best))
    return out
