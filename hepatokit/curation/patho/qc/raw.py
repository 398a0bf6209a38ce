"""The raw per-patch statistics behind the QC scores, with numpy: colour flags, stain order
statistics and sums, Laplacian sums, blocking ratios (:class:`_Raw`).

:mod:`.measures` turns them into scores (the same Python arithmetic for both paths);
:mod:`.kernel` computes the same statistics in one compiled pass (numba, the ``fast``
extra) and the tests hold the two equal bit for bit. This numpy code is the reference.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from hepatokit.curation.patho.qc.masks import (
    BLACK,
    GREEN,
    INK,
    OD_LUT,
    TISSUE,
    WHITE,
    channel_od,
    colour_flags,
    colour_index,
    cross2_dilate,
    disk3_dilate,
    disk3_erode,
    far4,
)
from hepatokit.curation.patho.qc.order import order_statistics

__all__: list[str] = []

# Ruifrok & Johnston (2001) H&E optical-density vectors (R, G, B), normalised.
_H = np.array([0.650, 0.704, 0.286])
_E = np.array([0.072, 0.990, 0.105])
_NORMAL = np.cross(_H / np.linalg.norm(_H), _E / np.linalg.norm(_E))
_NORMAL /= np.linalg.norm(_NORMAL)
_UNMIX = np.linalg.pinv(np.stack([_H / np.linalg.norm(_H), _E / np.linalg.norm(_E)], axis=1))


_OD_LUT = OD_LUT
#: the stain sums are integers in units of 2⁻²⁴ of an amount (exact in any order)
_FIXED = float(1 << 24)
#: the grey image is ``299 R + 587 G + 114 B``: ITU-R 601 luma times 1000, in integers
_GRAY_SCALE = 1000


def _thick(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels of ``mask`` in thick components: an opening by a disk of radius 3 (through
    distance transforms), then components whose mean inscribed radius is ≥ 4 px (strokes;
    nuclei are thinner).

    The opening is done with shifted boolean arrays (:mod:`.masks`, the same pixels as the
    distance transforms); a mask without a background pixel, where scipy measures from
    outside the image, keeps the distance transforms. Nothing survives the erosion: no
    thick pixel (the transform would open a 7-pixel corner blob, far thinner than 4 px);
    nor when no opened pixel lies 4 px from its edge (a mean radius is at most the largest).
    """
    if mask.all():
        eroded = ndimage.distance_transform_edt(mask) > 3
        opened = ndimage.distance_transform_edt(~eroded) <= 3
    else:
        eroded = disk3_erode(mask)
        if not eroded.any():
            return np.zeros_like(mask)
        opened = disk3_dilate(eroded)
        if not opened.all() and not far4(opened).any():
            return np.zeros_like(mask)  # no pixel 4 px from the edge: no mean radius ≥ 4
    labels, n = ndimage.label(opened)
    if not n:
        return np.zeros_like(mask)
    dist = ndimage.distance_transform_edt(opened)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    mean_r = np.bincount(flat, weights=dist.ravel(), minlength=n + 1)[1:] / np.maximum(area, 1)
    keep = np.concatenate([[False], mean_r >= 4.0])
    return np.asarray(keep[labels], dtype=bool)


def _laplacian_sums(gray: NDArray[np.int32], keep: NDArray[np.bool_]) -> tuple[int, ...]:
    """(n, Σ L, Σ L²) of the integer Laplacian over ``keep``, then over every pixel.

    ``L = (up + down + left + right) − 4 × centre`` of the scaled grey image, the border
    pixel repeated outside (scipy's ``reflect`` mode); exact in integers.
    """
    p = np.pad(gray, 1, mode="edge")
    lap = (p[:-2, 1:-1] + p[2:, 1:-1]) + (p[1:-1, :-2] + p[1:-1, 2:]) - 4 * gray
    wide = lap.astype(np.int64)
    sq = wide * wide
    kept = wide[keep]
    return (
        int(kept.size),
        int(kept.sum()),
        int(sq[keep].sum()),
        int(wide.size),
        int(wide.sum()),
        int(sq.sum()),
    )


def _variance(n: int, s1: int, s2: int) -> float:
    """Variance of the Laplacian in grey levels² from its integer sums: exact, then rounded
    once (the grey image is scaled by 1000)."""
    return (n * s2 - s1 * s1) / (n * n * _GRAY_SCALE**2)


def _block_ratio(lines: NDArray[np.int64]) -> float:
    """Blocking of one axis from the sums of the neighbour differences between successive
    lines (NaN: too few lines, or no difference at all).

    For each 8-line period, each line's share of the period's sum (times 8: 1 when even);
    per phase, the median over the periods; the largest phase.
    """
    n = lines.size - lines.size % 8
    if n < 16:
        return float("nan")
    periods = lines[:n].reshape(-1, 8)
    if not periods.any():
        return float("nan")
    total = periods.sum(axis=1, keepdims=True)
    per = np.where(total > 0, (8 * periods) / np.maximum(total, 1), 0.0)
    return float(_column_median(per).max())


def _column_median(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.median(x, axis=0)``: sorted columns, the two middle rows averaged as
    ``(a + b) / 2`` when their number is even."""
    s = np.sort(x, axis=0)
    half = s.shape[0] // 2
    if s.shape[0] % 2:
        return s[half]
    return (s[half - 1] + s[half]) / 2


def _stain_stats(index: NDArray[np.uint32], flags: NDArray[np.uint8]) -> tuple[Any, ...]:
    """The raw stain statistics over the tissue pixels (:class:`_Raw`); zeros with too
    little tissue.

    Every per-pixel value is written elementwise in a fixed order (no BLAS product, whose
    rounding depends on the CPU's kernel): the same floats on every machine and in the
    compiled path.
    """
    tissue = (flags & (TISSUE | WHITE)) == TISSUE  # mean OD above 0.05 and not glass
    n = int(np.count_nonzero(tissue))
    if n < max(50, 0.02 * tissue.size):
        return (n, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    t = channel_od(index[tissue])  # (N, 3) float64 OD of the tissue pixels
    t0, t1, t2 = t[:, 0], t[:, 1], t[:, 2]
    norms = np.sqrt((t0 * t0 + t1 * t1) + t2 * t2)
    n0, n1, n2 = (float(v) for v in _NORMAL)
    cos_n = np.abs((t0 * n0 + t1 * n1) + t2 * n2) / np.maximum(norms, 1e-9)
    (h0, h1, h2), (e0, e1, e2) = ((float(v) for v in row) for row in _UNMIX)
    conc_h = (t0 * h0 + t1 * h1) + t2 * h2
    conc_e = (t0 * e0 + t1 * e1) + t2 * e2
    pos_h = np.maximum(conc_h, 0.0)
    pos_e = np.maximum(conc_e, 0.0)
    half = n // 2
    m = order_statistics(cos_n, [half - 1, half] if n % 2 == 0 else [half, half])
    p99 = order_statistics(pos_h + pos_e, _ranks(n, 99))
    p90 = order_statistics(conc_e, _ranks(n, 90))
    sum_h = int((pos_h * _FIXED + 0.5).astype(np.int64).sum())
    sum_e = int((pos_e * _FIXED + 0.5).astype(np.int64).sum())
    return (n, m[0], m[1], p99[0], p99[1], p90[0], p90[1], sum_h, sum_e)


def _ranks(n: int, q: int) -> list[int]:
    """The two order statistics numpy's ``percentile(q)`` (method ``linear``) interpolates."""
    lo = math.floor((n - 1) * (q / 100))
    return [lo, min(lo + 1, n - 1)]


def _interpolate(n: int, q: int, a: float, b: float) -> float:
    """numpy's ``percentile`` from its two order statistics (see :func:`.order.percentile`)."""
    virtual = (n - 1) * (q / 100)
    t = virtual - math.floor(virtual)
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


class _Raw(NamedTuple):
    """What a patch's scores are computed from: counts, order statistics and exact sums.

    The numpy path (:func:`_measure`) and the compiled one (:mod:`.kernel`) produce the
    same values; :func:`_finish` turns them into :class:`QCScores`.
    """

    size: int
    white: int
    green: int
    ink: int  # blue ink or dark pixels
    black: int  # near-black pixels
    thick_ink: int  # pixels of `ink` in thick components (0 when `ink` < 2 %)
    thick_black: int  # pixels of `black` in thick components (0 unless needed)
    tissue: int
    cos_a: float  # the order statistics at the middle of the |cos| to the H-E normal
    cos_b: float
    amount_a: float  # the two order statistics of the p99 of the H + E amount
    amount_b: float
    eosin_a: float  # the two order statistics of the p90 of the E amount
    eosin_b: float
    sum_h: int  # Σ max(H, 0), Σ max(E, 0) in units of 2⁻²⁴, each amount rounded (exact)
    sum_e: int
    lap_n: int  # Laplacian sums on the tissue side of the glass edge
    lap_s1: int
    lap_s2: int
    all_n: int  # ... and over every pixel
    all_s1: int
    all_s2: int
    block_rows: float  # blocking of each axis (NaN: not measured)
    block_cols: float


def _measure(rgb: NDArray[np.uint8]) -> _Raw:
    """The raw statistics of one patch with numpy (the reference of the compiled path)."""
    index = colour_index(rgb)
    flags = colour_flags(index)  # glass, inks, tissue: one table lookup per pixel
    size = flags.size
    white = (flags & WHITE) != 0
    ink = (flags & INK) != 0
    black = (flags & BLACK) != 0
    n_ink, n_black = int(np.count_nonzero(ink)), int(np.count_nonzero(black))
    thick_ink = thick_black = 0
    if n_ink / size >= 0.02:
        thick_ink = int(np.count_nonzero(_thick(ink)))
        if n_black / size >= 0.005:  # near-black only counts inside a wide band (not nuclei)
            thick_black = int(np.count_nonzero(_thick(black)))
    stain = _stain_stats(index, flags)
    gray = _gray(rgb)
    lap = _laplacian_sums(gray, ~cross2_dilate(white))  # tissue side of the glass edge
    counts = (size, int(np.count_nonzero(white)), int(np.count_nonzero(flags & GREEN)))
    blocking = (
        _block_ratio(np.abs(np.diff(gray, axis=0)).sum(axis=1, dtype=np.int64)),
        _block_ratio(np.abs(np.diff(gray, axis=1)).sum(axis=0, dtype=np.int64)),
    )
    pens = (n_ink, n_black, thick_ink, thick_black)
    return _Raw._make(counts + pens + stain + lap + blocking)


def _gray(rgb: NDArray[np.uint8]) -> NDArray[np.int32]:
    """The grey image scaled by 1000: ``299 R + 587 G + 114 B`` (ITU-R 601 weights), exact."""
    wide = rgb.astype(np.int32)
    return np.asarray(
        (wide[..., 0] * 299 + wide[..., 1] * 587) + wide[..., 2] * 114, dtype=np.int32
    )
