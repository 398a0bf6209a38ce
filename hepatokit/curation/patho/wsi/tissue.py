"""Tissue detection on a low-resolution slide image (about 1.25×).

The method CLAM, slideflow and LazySlide share, written here from its description: HSV
saturation (glass is unsaturated, stained tissue is not), a median blur, a threshold (Otsu
on the saturation histogram, or a fixed one), a morphological closing, then removal of
components smaller than a minimum area and filling of holes smaller than a minimum area.
Areas are given in µm² so the result does not depend on the detection level.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

__all__ = ["detect_tissue", "otsu_threshold"]


def otsu_threshold(values: NDArray[np.uint8]) -> int:
    """Otsu's threshold of uint8 values (maximises the between-class variance)."""
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 0
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    w1 = total - w0
    m0 = np.cumsum(hist * levels)
    mu_t = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_t * w0 / total - m0) ** 2 / (w0 * w1 / total)
    between[~np.isfinite(between)] = 0.0
    return int(np.argmax(between))


def _disk(radius: int) -> NDArray[np.bool_]:
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius


def detect_tissue(
    rgb: NDArray[np.uint8],
    *,
    mpp: float,
    saturation_threshold: float | None = None,
    median_kernel: int = 7,
    closing_um: float = 16.0,
    min_tissue_area_um2: float = 100_000.0,
    min_hole_area_um2: float = 2_000.0,
    min_saturation: float = 0.05,
) -> NDArray[np.bool_]:
    """Boolean tissue mask of a low-resolution RGB image.

    Parameters
    ----------
    rgb
        ``(H, W, 3)`` uint8 image of the whole slide (e.g. at 1.25×).
    mpp
        µm per pixel of ``rgb`` (level-0 mpp × downsample).
    saturation_threshold
        Fixed threshold on saturation in [0, 1]; None → Otsu, but never below
        ``min_saturation`` (an empty slide must not turn its noise into tissue).
    median_kernel
        Median blur size in pixels of ``rgb`` (odd).
    closing_um, min_tissue_area_um2, min_hole_area_um2
        Closing radius (µm), smallest kept tissue component and largest filled hole (µm²).
    """
    sat = np.asarray(Image.fromarray(rgb, "RGB").convert("HSV"))[..., 1]
    if median_kernel > 1:
        sat = ndimage.median_filter(sat, size=median_kernel | 1)
    if saturation_threshold is None:
        thr = max(otsu_threshold(sat), round(min_saturation * 255))
    else:
        thr = round(saturation_threshold * 255)
    mask = sat > thr
    radius = max(0, round(closing_um / mpp))
    if radius:
        pad = radius + 1  # pad so the closing does not eat tissue at the image border
        padded = np.pad(mask, pad)
        mask = ndimage.binary_closing(padded, structure=_disk(radius))[pad:-pad, pad:-pad]
    px_area = mpp * mpp
    labels, n = ndimage.label(mask)
    if n:
        areas = np.bincount(labels.ravel(), minlength=n + 1) * px_area
        keep = areas >= min_tissue_area_um2
        keep[0] = False
        mask = keep[labels]
    holes, n_holes = ndimage.label(~mask)
    if n_holes:
        areas = np.bincount(holes.ravel(), minlength=n_holes + 1) * px_area
        border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
        fill = areas < min_hole_area_um2
        fill[0] = False
        fill[border] = False
        mask = mask | fill[holes]
    return mask
