"""Tile one whole-slide image: tissue detection, tile grid, level choice, annotation labels.

:func:`tile_slide` is the reusable entry point (``patho tile`` and HepatoQuant both use it):
it returns a :class:`SlideTiling` whose ``table`` lists the kept tiles (level-0
coordinates, tissue fraction, region) and which reads any tile's pixels on demand, so a
whole slide never has to sit in memory or in a build folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from PIL import Image

from hepatokit.contracts.hepatobench import TILES_SCHEMA
from hepatokit.curation.patho.config import TilingConfig
from hepatokit.curation.patho.wsi.annotations import Annotation, label_tiles, load_annotations
from hepatokit.curation.patho.wsi.slides import (
    ReadPlan,
    SlideInfo,
    SlideReader,
    open_slide,
    plan_read,
)
from hepatokit.curation.patho.wsi.tissue import detect_tissue

__all__ = ["SlideTiling", "tile_slide", "tissue_fractions"]

#: the per-slide tile table: the contract's ``TILES_SCHEMA`` less the columns the stage adds
#: when it gathers the slides (``id``, ``slide_id``, ``path``, ``label``)
TILE_SCHEMA = pa.schema(
    [f for f in TILES_SCHEMA if f.name not in {"id", "slide_id", "path", "label"}]
)


def tissue_fractions(
    mask: NDArray[np.bool_], downsample: float, xs: NDArray[np.int64], ys: NDArray[np.int64],
    size: int,
) -> NDArray[np.float64]:  # fmt: skip
    """Share of tissue of each level-0 square ``(x, y, size)`` on a mask reduced ``downsample``×.

    Computed with a summed-area table over the mask pixels the square covers.
    """
    sat = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    sat[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)
    h, w = mask.shape
    x0 = np.clip(np.floor(xs / downsample).astype(np.int64), 0, w)
    y0 = np.clip(np.floor(ys / downsample).astype(np.int64), 0, h)
    x1 = np.clip(np.ceil((xs + size) / downsample).astype(np.int64), 0, w)
    y1 = np.clip(np.ceil((ys + size) / downsample).astype(np.int64), 0, h)
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    total = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
    return total / area


@dataclass
class SlideTiling:
    """The kept tiles of one slide and a reader for their pixels."""

    table: pa.Table
    plan: ReadPlan
    reader: SlideReader
    tissue_mask: NDArray[np.bool_]
    mask_downsample: float

    def read_tile(self, x: int, y: int) -> NDArray[np.uint8]:
        """``(patch_size, patch_size, 3)`` RGB tile whose level-0 top-left is ``(x, y)``."""
        p = self.plan
        arr = self.reader.read(int(x), int(y), p.level, p.read_size)
        if p.resize:
            img = Image.fromarray(arr).resize((p.patch_size, p.patch_size), Image.Resampling.BOX)
            arr = np.asarray(img)
        return arr

    def iter_tiles(self) -> Iterator[tuple[int, int, NDArray[np.uint8]]]:
        """``(x, y, pixels)`` of every kept tile, in table order."""
        for x, y in zip(self.table.column("x").to_pylist(), self.table.column("y").to_pylist(),
                        strict=True):  # fmt: skip
            yield x, y, self.read_tile(x, y)

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> SlideTiling:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tile_slide(
    path: str | os.PathLike[str],
    *,
    target_magnification: float = 20.0,
    patch_size: int = 150,
    mpp: float | None = None,
    force_mpp: bool = False,
    tissue_threshold: float = 0.5,
    annotations: str | os.PathLike[str] | list[Annotation] | None = None,
    config: TilingConfig | None = None,
) -> SlideTiling:
    """Plan the tiles of a slide at ``target_magnification`` and open it for reading.

    Parameters
    ----------
    path
        Slide file (anything OpenSlide opens; flat TIFFs through a fallback).
    target_magnification, patch_size
        Tiles of ``patch_size`` px at this magnification (20× with 150 px by default; on a
        40× slide each tile covers 300 level-0 px).
    mpp
        Level-0 µm/px for a slide without resolution metadata (its own mpp or objective power
        wins otherwise).
    force_mpp
        Use ``mpp`` even for a slide with its own resolution.
    tissue_threshold
        Keep tiles whose tissue fraction (from the ~1.25× tissue mask) is at least this.
    annotations
        GeoJSON path (QuPath export) or loaded polygons: each tile gets a ``region``.
    config
        Detection / labelling options (``tiling`` recipe section); its magnification,
        patch size and threshold are overridden by the explicit arguments.

    Raises
    ------
    SlideError
        Unreadable slide (``corrupt``), no resolution metadata (``no_mpp``), ...
    """
    cfg = config or TilingConfig()
    reader = open_slide(path, mpp=mpp, force_mpp=force_mpp)
    try:
        info = reader.info
        plan = plan_read(info, target_magnification=target_magnification, patch_size=patch_size)
        thumb, ds = reader.thumbnail(info.magnification / cfg.detection_magnification)
        mask = detect_tissue(
            thumb,
            mpp=info.mpp * ds,
            saturation_threshold=cfg.saturation_threshold,
            median_kernel=cfg.median_kernel,
            closing_um=cfg.closing_um,
            min_tissue_area_um2=cfg.min_tissue_area_um2,
            min_hole_area_um2=cfg.min_hole_area_um2,
        )
        xs, ys, frac = tissue_grid(mask, ds, info.dimensions, plan.level0_size, tissue_threshold)
        anns = annotations
        if anns is not None and not isinstance(anns, list):
            anns = load_annotations(anns)
        regions = label_tiles(
            anns or [], xs, ys, plan.level0_size, by=cfg.label_by, min_overlap=cfg.min_overlap
        )
        table = tile_table(xs, ys, frac, regions, info, plan, target_magnification)
    except BaseException:
        reader.close()
        raise
    return SlideTiling(table=table, plan=plan, reader=reader, tissue_mask=mask, mask_downsample=ds)


def tissue_grid(
    mask: NDArray[np.bool_], downsample: float, dimensions: tuple[int, int], step: int,
    threshold: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:  # fmt: skip
    """Level-0 top-left corners and tissue fractions of the grid squares of side ``step`` of
    a slide of ``dimensions`` whose tissue fraction (on ``mask``) is at least ``threshold``."""
    w0, h0 = dimensions
    gx, gy = np.meshgrid(np.arange(w0 // step) * step, np.arange(h0 // step) * step)
    xs, ys = gx.ravel().astype(np.int64), gy.ravel().astype(np.int64)
    frac = tissue_fractions(mask, downsample, xs, ys, step)
    keep = frac >= threshold
    return xs[keep], ys[keep], frac[keep]


def tile_table(
    xs: NDArray[np.int64], ys: NDArray[np.int64], frac: NDArray[np.float64],
    regions: list[str | None], info: SlideInfo, plan: ReadPlan, target_magnification: float,
) -> pa.Table:  # fmt: skip
    """The kept tiles of a slide (:data:`TILE_SCHEMA`), one row per corner."""
    n = len(xs)
    return pa.table(
        {
            "x": pa.array(xs, pa.int64()),
            "y": pa.array(ys, pa.int64()),
            "level0_size": pa.array([plan.level0_size] * n, pa.int32()),
            "patch_size": pa.array([plan.patch_size] * n, pa.int32()),
            "level": pa.array([plan.level] * n, pa.int32()),
            "read_size": pa.array([plan.read_size] * n, pa.int32()),
            "level0_magnification": pa.array([info.magnification] * n, pa.float64()),
            "target_magnification": pa.array([target_magnification] * n, pa.float64()),
            "level0_mpp": pa.array([info.mpp] * n, pa.float64()),
            "mpp": pa.array([plan.target_mpp] * n, pa.float64()),
            "tissue_fraction": pa.array(np.round(frac, 4), pa.float64()),
            "region": pa.array(regions, pa.string()),
        },
        schema=TILE_SCHEMA,
    )
