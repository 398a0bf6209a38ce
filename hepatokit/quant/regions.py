"""Tumor / non-tumor regions of a slide: GeoJSON polygons (QuPath) or a mask image.

Coordinates are level-0 pixels throughout. A region source answers one question, "which
region is the point (x, y) in?", and rasterises itself onto a grid at a given downsample
so that masks of different resolutions can be compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw

from hepatokit.errors import DataFormatError

__all__ = [
    "GeoJSONRegions",
    "MaskRegions",
    "NoRegions",
    "RegionSource",
    "load_geojson_regions",
    "load_mask_regions",
    "load_regions",
]

TUMOR = "tumor"
NON_TUMOR = "non_tumor"


class RegionSource(Protocol):
    """Anything that maps level-0 points to a region name and rasterises to a mask."""

    def region_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Region name per point; ``x``, ``y`` are level-0 pixel coordinates, shape (N,)."""
        ...

    def mask(self, shape: tuple[int, int], downsample: float) -> np.ndarray:
        """Boolean tumor mask of ``shape`` (rows, cols); pixel (r, c) covers level-0
        ``[c*downsample, (c+1)*downsample) × [r*downsample, (r+1)*downsample)``."""
        ...


@dataclass(frozen=True)
class NoRegions:
    """No region information: every tile is in the single region ``whole_slide``."""

    def region_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.full(np.shape(x), "whole_slide", dtype=object)

    def mask(self, shape: tuple[int, int], downsample: float) -> np.ndarray:
        return np.zeros(shape, dtype=bool)


@dataclass(frozen=True)
class GeoJSONRegions:
    """Tumor polygons from a QuPath-style GeoJSON; everything else is non-tumor.

    ``polygons`` holds, per polygon, its rings as (K, 2) float arrays of level-0 (x, y);
    the first ring is the outline, the others are holes.
    """

    polygons: tuple[tuple[np.ndarray, ...], ...]
    source: str = ""

    def _raster(self, shape: tuple[int, int], downsample: float, scale: int = 1) -> np.ndarray:
        rows, cols = shape
        img = Image.new("1", (cols * scale, rows * scale), 0)
        draw = ImageDraw.Draw(img)
        f = scale / downsample
        for rings in self.polygons:
            # pixel centres: a point p in level-0 maps to p/downsample - 0.5 in pixel index space
            pts = [[(float(x) * f - 0.5, float(y) * f - 0.5) for x, y in ring] for ring in rings]
            draw.polygon(pts[0], fill=1)
            for hole in pts[1:]:
                draw.polygon(hole, fill=0)
        return np.asarray(img, dtype=bool)

    def region_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from matplotlib.path import Path as MplPath

        pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        inside = np.zeros(len(pts), dtype=bool)
        for rings in self.polygons:
            here = MplPath(rings[0]).contains_points(pts)
            for hole in rings[1:]:
                here &= ~MplPath(hole).contains_points(pts)
            inside |= here
        return np.where(inside, TUMOR, NON_TUMOR).astype(object)

    def mask(self, shape: tuple[int, int], downsample: float) -> np.ndarray:
        return self._raster(shape, downsample)


@dataclass(frozen=True)
class MaskRegions:
    """A tumor mask image (non-zero = tumor) whose pixel covers ``downsample`` level-0 px."""

    array: np.ndarray
    downsample: float
    source: str = ""

    def region_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.clip(
            (np.asarray(y, float) / self.downsample).astype(int), 0, self.array.shape[0] - 1
        )
        c = np.clip(
            (np.asarray(x, float) / self.downsample).astype(int), 0, self.array.shape[1] - 1
        )
        return np.where(self.array[r, c], TUMOR, NON_TUMOR).astype(object)

    def mask(self, shape: tuple[int, int], downsample: float) -> np.ndarray:
        rows, cols = shape
        centres_r = (np.arange(rows) + 0.5) * downsample
        centres_c = (np.arange(cols) + 0.5) * downsample
        r = np.clip((centres_r / self.downsample).astype(int), 0, self.array.shape[0] - 1)
        c = np.clip((centres_c / self.downsample).astype(int), 0, self.array.shape[1] - 1)
        out = self.array[np.ix_(r, c)]
        # points beyond the mask's extent are outside the annotated area
        out[centres_r >= self.array.shape[0] * self.downsample, :] = False
        out[:, centres_c >= self.array.shape[1] * self.downsample] = False
        return out


def _rings(geometry: dict[str, Any], path: Path) -> list[tuple[np.ndarray, ...]]:
    kind = geometry.get("type")
    coords: Any = geometry.get("coordinates") or []
    if kind == "Polygon":
        polys: list[Any] = [coords]
    elif kind == "MultiPolygon":
        polys = list(coords)
    else:
        return []
    out = []
    for poly in polys:
        rings = tuple(np.asarray(ring, dtype=float)[:, :2] for ring in poly)
        if not rings or any(r.ndim != 2 or len(r) < 3 for r in rings):
            raise DataFormatError("polygon with fewer than 3 points", path=path)
        out.append(rings)
    return out


def _feature_name(feature: dict[str, Any]) -> str:
    props = feature.get("properties") or {}
    cls = props.get("classification") or {}
    name = cls.get("name") if isinstance(cls, dict) else None
    return str(name or props.get("name") or props.get("label") or "")


def load_geojson_regions(
    path: str | Path, *, tumor_names: tuple[str, ...] = ("tumor",)
) -> GeoJSONRegions:
    """Read the tumor polygons of a QuPath GeoJSON export (FeatureCollection or list).

    Features whose classification / name matches ``tumor_names`` (case-insensitive) are tumor.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError("region file not found", path=p, hint="pass --regions none to skip")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"not valid GeoJSON: {exc}", path=p) from exc
    features = data.get("features", []) if isinstance(data, dict) else data
    if isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    wanted = {n.lower() for n in tumor_names}
    polygons: list[tuple[np.ndarray, ...]] = []
    named = False  # a tumor feature with an empty geometry = "no tumor" (a model's answer)
    for feature in features:
        if not isinstance(feature, dict):
            raise DataFormatError("GeoJSON feature is not an object", path=p)
        if _feature_name(feature).lower() in wanted:
            named = True
            polygons.extend(_rings(feature.get("geometry") or {}, p))
    if not polygons and not named:
        raise DataFormatError(
            f"no polygon named {'/'.join(tumor_names)} in the GeoJSON",
            path=p,
            hint="name the tumor annotation's class 'Tumor' in QuPath, or use --tumor-name",
        )
    return GeoJSONRegions(polygons=tuple(polygons), source=p.name)


def load_mask_regions(path: str | Path, *, downsample: float) -> MaskRegions:
    """Read a tumor mask (PNG/TIFF, non-zero = tumor); one pixel = ``downsample`` level-0 px."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError("mask file not found", path=p)
    if downsample <= 0:
        raise DataFormatError(f"downsample must be > 0, got {downsample}", path=p)
    try:
        with Image.open(p) as img:
            arr = np.asarray(img.convert("L")) > 0
    except OSError as exc:
        raise DataFormatError(f"cannot read the mask image: {exc}", path=p) from exc
    return MaskRegions(array=arr, downsample=float(downsample), source=p.name)


def stored_downsample(path: Path) -> float | None:
    """The level-0 downsample written into a mask PNG (``hepatokit:downsample`` text chunk, as
    ``quant regions-predict`` writes it), or None."""
    try:
        with Image.open(path) as img:
            value = (getattr(img, "text", None) or {}).get("hepatokit:downsample")
    except OSError:
        return None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def load_regions(
    spec: str | Path | None,
    *,
    mask_downsample: float | None = None,
    tumor_names: tuple[str, ...] = ("tumor",),
) -> RegionSource:
    """``None``/``"none"`` → no regions; ``*.geojson``/``*.json`` → polygons; else a mask."""
    if spec is None or str(spec).lower() == "none":
        return NoRegions()
    p = Path(spec)
    if p.suffix.lower() in (".geojson", ".json"):
        return load_geojson_regions(p, tumor_names=tumor_names)
    if mask_downsample is None:
        mask_downsample = stored_downsample(p)
    if mask_downsample is None:
        raise DataFormatError(
            "a mask image needs its downsample", path=p, hint="pass --mask-downsample D"
        )
    return load_mask_regions(p, downsample=mask_downsample)
