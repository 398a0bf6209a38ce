"""Exact shortcuts for the per-pixel steps of the QC scores (:mod:`.measures`).

Each function here gives the same result as the step it replaces, bit for bit, at a fraction
of its cost:

* the HSV thresholds of the checks become ranges of Pillow's 8-bit H, S and V codes (each
  range is found by evaluating the original float32 comparison on all 256 codes);
* the erosion and dilation by a disk of radius 3 px (``distance_transform_edt(m) > 3``,
  ``distance_transform_edt(~m) <= 3``) and the two-step cross dilation of the background
  mask are unions / intersections of shifted boolean arrays: the disk
  ``{dx² + dy² ≤ 9}`` is the union of a 7 × 1, a 5 × 5 and a 1 × 7 rectangle, the
  two-step cross ``{|dx| + |dy| ≤ 2}`` of a 5 × 1, a 3 × 3 and a 1 × 5 one, and each
  rectangle is separable.

The distance-transform shortcut holds when the mask has at least one background pixel
(scipy measures from a point outside the image otherwise); callers check that.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "HSV_RANGES",
    "cross2_dilate",
    "disk3_dilate",
    "disk3_erode",
    "in_range",
]

_CODES = np.arange(256, dtype=np.float32)
# the scales of measures._hsv: hue in degrees, saturation and value in [0, 1] (float32)
_HUE = _CODES * np.float32(360.0 / 255.0)
_UNIT = _CODES / 255.0


def _code_range(holds: NDArray[np.bool_]) -> tuple[int, int]:
    """The 8-bit codes where a monotone comparison holds, as an inclusive range."""
    codes = np.flatnonzero(holds)
    if codes.size == 0 or codes[-1] - codes[0] + 1 != codes.size:  # pragma: no cover
        raise AssertionError("an HSV threshold does not select a range of 8-bit codes")
    return int(codes[0]), int(codes[-1])


_COMPARISONS: dict[str, Callable[[], NDArray[np.bool_]]] = {
    # white (glass): value >= 0.82 and saturation <= 0.12
    "white_v": lambda: _UNIT >= 0.82,
    "white_s": lambda: _UNIT <= 0.12,
    # green ink: saturation >= 0.2, hue 75-170
    "green_s": lambda: _UNIT >= 0.2,
    "green_h": lambda: (_HUE >= 75) & (_HUE <= 170),
    # near-black: value < 0.22, saturation < 0.6
    "black_v": lambda: _UNIT < 0.22,
    "black_s": lambda: _UNIT < 0.6,
    # blue ink (saturation >= 0.3, hue 195-265) or dark (value < 0.3)
    "ink_s": lambda: _UNIT >= 0.3,
    "ink_h": lambda: (_HUE >= 195) & (_HUE <= 265),
    "ink_v": lambda: _UNIT < 0.3,
}
#: name → inclusive range of 8-bit codes where the original float32 comparison holds
HSV_RANGES: dict[str, tuple[int, int]] = {k: _code_range(f()) for k, f in _COMPARISONS.items()}


def in_range(codes: NDArray[np.uint8], name: str) -> NDArray[np.bool_]:
    """``codes`` (8-bit H, S or V) inside the range of :data:`HSV_RANGES` ``[name]``."""
    lo, hi = HSV_RANGES[name]
    if lo == 0:
        return codes <= hi
    if hi == 255:
        return codes >= lo
    return (codes >= lo) & (codes <= hi)


def _rect(mask: NDArray[np.bool_], ry: int, rx: int, erode: bool) -> NDArray[np.bool_]:
    """AND (erode; outside the image counts as True) or OR (dilate; outside is False) of
    ``mask`` over a ``(2 ry + 1) × (2 rx + 1)`` window centred on each pixel."""
    h, w = mask.shape
    padded = np.full((h + 2 * ry, w + 2 * rx), erode, dtype=bool)
    padded[ry : ry + h, rx : rx + w] = mask
    combine = np.logical_and if erode else np.logical_or
    rows = padded[:, 0:w].copy()
    for dx in range(1, 2 * rx + 1):
        combine(rows, padded[:, dx : dx + w], out=rows)
    out = rows[0:h].copy()
    for dy in range(1, 2 * ry + 1):
        combine(out, rows[dy : dy + h], out=out)
    return out


def disk3_erode(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``distance_transform_edt(mask) > 3`` for a mask with at least one False pixel."""
    out = _rect(mask, 0, 3, True)
    out &= _rect(mask, 2, 2, True)
    out &= _rect(mask, 3, 0, True)
    return out


def disk3_dilate(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``distance_transform_edt(~mask) <= 3`` for a mask with at least one True pixel."""
    out = _rect(mask, 0, 3, False)
    out |= _rect(mask, 2, 2, False)
    out |= _rect(mask, 3, 0, False)
    return out


def cross2_dilate(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``ndimage.binary_dilation(mask, iterations=2)`` (cross structure, border 0)."""
    out = _rect(mask, 0, 2, False)
    out |= _rect(mask, 1, 1, False)
    out |= _rect(mask, 2, 0, False)
    return out
