"""Pyramidal TIFF writing of a synthetic slide (``tifffile``): level 0 ``subfiletype=0``,
reduced levels ``subfiletype=1``, resolution tags in pixels/cm, 256 px tiles, deflate; or a
flat stripped single-level TIFF, or Aperio-style ImageDescription instead of resolution tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.atomic import atomic_path
from hepatokit.synthetic.wsi_plan import SlideSpec

__all__ = ["TIFF_TILE", "aperio_description", "downsample", "write_tiff"]

TIFF_TILE = 256


def downsample(arr: np.ndarray, factor: int) -> np.ndarray:
    """Block mean by ``factor`` (edges cropped), in row strips to bound memory."""
    h, w = arr.shape[0] // factor, arr.shape[1] // factor
    out = np.empty((h, w, 3), np.uint8)
    step = max(1, 4096 // factor)
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        block = arr[r0 * factor : r1 * factor, : w * factor].astype(np.float32)
        block = block.reshape(r1 - r0, factor, w, factor, 3).mean(axis=(1, 3))
        out[r0:r1] = np.clip(block + 0.5, 0, 255).astype(np.uint8)
    return out


def write_tiff(path: Path, level0: np.ndarray, spec: SlideSpec) -> list[list[int]]:
    """Write the pyramid (or the flat TIFF); return the level dimensions ``[w, h]``."""
    import tifffile

    levels = [level0]
    if spec.kind != "flat":
        while min(levels[-1].shape[:2]) // 4 >= 128:
            levels.append(downsample(levels[-1], 4))
    big = level0.nbytes > (3 << 30)
    with atomic_path(path, suffix=".tif") as tmp, tifffile.TiffWriter(tmp, bigtiff=big) as tif:
        for k, lvl in enumerate(levels):
            ds = level0.shape[1] / lvl.shape[1]
            opts: dict[str, Any] = {
                "photometric": "rgb",
                "compression": "zlib",
                "compressionargs": {"level": 3},
                "subfiletype": 0 if k == 0 else 1,
                "metadata": None,
                "software": "hepatokit synthetic",
            }
            if spec.kind != "flat":
                opts["tile"] = (TIFF_TILE, TIFF_TILE)
            else:
                opts["rowsperstrip"] = 64
            if spec.aperio:
                opts["description"] = aperio_description(spec, lvl, k == 0)
            elif spec.kind != "no_mpp":
                res = 1e4 / (spec.mpp * ds)
                opts["resolution"] = (res, res)
                opts["resolutionunit"] = "CENTIMETER"
            if k == 0 and not spec.aperio:
                opts["description"] = "hepatokit synthetic H&E slide"
            tif.write(lvl, **opts)
    return [[int(lvl.shape[1]), int(lvl.shape[0])] for lvl in levels]


def aperio_description(spec: SlideSpec, lvl: np.ndarray, first: bool) -> str:
    """ImageDescription as Aperio scanners write it (OpenSlide's ``aperio`` reader parses
    ``AppMag`` into ``openslide.objective-power`` and ``MPP`` into ``openslide.mpp-x/y``)."""
    h, w = lvl.shape[:2]
    head = "Aperio Image Library v12.0.15 \r\n"
    size = (
        f"{spec.width}x{spec.height} [0,0 {spec.width}x{spec.height}] (256x256) "
        if first
        else (f"{spec.width}x{spec.height} -> {w}x{h} - ")
    )
    mag = round(10.0 / spec.mpp)
    return f"{head}{size}|AppMag = {mag}|MPP = {spec.mpp:.4f}|Filename = {spec.name}"
