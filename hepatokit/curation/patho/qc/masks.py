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

import functools
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "BLACK",
    "GREEN",
    "HSV_RANGES",
    "INK",
    "OD_LUT",
    "TISSUE",
    "WHITE",
    "channel_od",
    "colour_flags",
    "colour_index",
    "cross2_dilate",
    "disk3_dilate",
    "disk3_erode",
    "far4",
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


#: optical density of each 8-bit channel value (float32, as the stain scores use it)
OD_LUT = (-np.log10((np.arange(256, dtype=np.float64) + 1.0) / 256.0)).astype(np.float32)
#: bits of :func:`colour_flags`
WHITE, GREEN, BLACK, INK, TISSUE = 1, 2, 4, 8, 16
_OD64 = OD_LUT.astype(np.float64)


def _flags_of(blue: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The colour flags of every colour with a blue value in ``blue``, in the table's order
    (``r`` fastest), computed as the checks compute them: Pillow's HSV conversion, the
    float32 thresholds, the mean OD as the sum of the channels' ODs over 3."""
    codes = np.arange(256, dtype=np.uint8)
    rgb = np.empty((blue.size, 256, 256, 3), dtype=np.uint8)
    rgb[..., 0] = codes
    rgb[..., 1] = codes[:, None]
    rgb[..., 2] = blue[:, None, None]
    image = Image.fromarray(rgb.reshape(-1, 256, 3), "RGB").convert("HSV")
    hsv = np.asarray(image).reshape(rgb.shape)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    white = in_range(val, "white_v") & in_range(sat, "white_s")
    green = in_range(sat, "green_s") & in_range(hue, "green_h")
    black = in_range(val, "black_v") & in_range(sat, "black_s")
    ink = (in_range(sat, "ink_s") & in_range(hue, "ink_h")) | in_range(val, "ink_v")
    od_sum = (OD_LUT[None, None, :] + OD_LUT[None, :, None]) + OD_LUT[blue][:, None, None]
    tissue = od_sum / np.float32(3) > 0.05  # the mean OD test of the stain scores
    flags = white * np.uint8(WHITE) | green * np.uint8(GREEN) | black * np.uint8(BLACK)
    flags = flags | ink * np.uint8(INK) | tissue * np.uint8(TISSUE)
    return np.asarray(flags, dtype=np.uint8).ravel()


@functools.cache
def _flag_table() -> NDArray[np.uint8]:
    """:func:`_flags_of` of all 2²⁴ colours, indexed by ``r + 256 g + 65536 b`` (16 MB, built
    once per process in about a second)."""
    table = np.empty(1 << 24, dtype=np.uint8)
    for b0 in range(0, 256, 16):
        blue = np.arange(b0, b0 + 16, dtype=np.uint8)
        table[b0 << 16 : (b0 + 16) << 16] = _flags_of(blue)
    return table


def colour_index(rgb: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """``r + 256 g + 65536 b`` of each pixel of an ``(H, W, 3)`` uint8 image (``(H, W)``);
    its little-endian bytes are the pixel's r, g, b (and a zero)."""
    wide = rgb.astype(np.uint32)
    return np.asarray(wide[..., 0] | (wide[..., 1] << 8) | (wide[..., 2] << 16), dtype=np.uint32)


def colour_flags(index: NDArray[np.uint32]) -> NDArray[np.uint8]:
    """Per-pixel bits of an image given as :func:`colour_index`: :data:`WHITE` (glass),
    :data:`GREEN` (green ink), :data:`BLACK` (near-black), :data:`INK` (blue ink or dark)
    and :data:`TISSUE` (mean OD above 0.05; glass not removed).

    One lookup per pixel in a table of every colour, so the HSV conversion and the OD mean
    are paid once per colour and process, not per pixel: the same bits as computing them.
    """
    return np.take(_flag_table(), index)


def channel_od(index: NDArray[np.uint32]) -> NDArray[np.float64]:
    """``(N, 3)`` float64 optical densities of ``N`` pixels given as :func:`colour_index`
    (``OD_LUT`` of each channel, widened: the same floats as ``OD_LUT[rgb].astype(float64)``)."""
    rgb = np.ascontiguousarray(index, dtype="<u4").view(np.uint8).reshape(-1, 4)[:, :3]
    return np.take(_OD64, rgb)


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


def far4(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``distance_transform_edt(mask) >= 4`` for a mask with at least one False pixel: no
    background within ``dx² + dy² ≤ 15``, a 7 × 5 and a 5 × 7 rectangle."""
    out = _rect(mask, 2, 3, True)
    out &= _rect(mask, 3, 2, True)
    return out


def cross2_dilate(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``ndimage.binary_dilation(mask, iterations=2)`` (cross structure, border 0): rows
    dilated by 2, rows dilated by 1 shifted by one row, the mask shifted by two rows."""
    one = mask.copy()
    one[:, 1:] |= mask[:, :-1]
    one[:, :-1] |= mask[:, 1:]
    out = one.copy()
    out[:, 2:] |= mask[:, :-2]
    out[:, :-2] |= mask[:, 2:]
    out[1:] |= one[:-1]
    out[:-1] |= one[1:]
    out[2:] |= mask[:-2]
    out[:-2] |= mask[2:]
    return out
