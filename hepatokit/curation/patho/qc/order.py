"""``np.median`` and ``np.percentile`` of the QC scores, bit for bit, at a fraction of the cost.

Both need one or two order statistics of a few thousand to a few tens of thousands of
per-pixel values. :func:`order_statistics` finds them exactly without partitioning the
whole array: a sorted strided sample gives two bounds that very likely enclose the wanted
ranks; one pass counts the values below the lower bound and keeps those between the bounds,
and only these are partitioned. The check that the wanted ranks fall inside the kept values
makes the answer exact whatever the sample; when it fails, the whole array is partitioned.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["median", "order_statistics", "percentile"]

_SAMPLE_FROM = 2048  # smaller arrays are partitioned whole
_STEP = 16


def order_statistics(x: NDArray[np.float64], ranks: list[int]) -> list[float]:
    """``np.sort(x)[r]`` for each of ``ranks`` (close together, ascending), ``x`` 1-D finite."""
    n = x.size
    if n >= _SAMPLE_FROM:
        sample = np.sort(x[::_STEP])
        m = sample.size - 1
        p = ranks[0] / (n - 1)
        margin = int(3.0 * math.sqrt(sample.size * p * (1.0 - p))) + 3
        low = sample[max(int(ranks[0] / (n - 1) * m) - margin, 0)]
        high = sample[min(int(ranks[-1] / (n - 1) * m) + 1 + margin, m)]
        below = int(np.count_nonzero(x < low))
        kept = x[(x >= low) & (x <= high)]
        # sorted x: `below` values < low, then exactly the kept values (low ≤ v ≤ high)
        if below <= ranks[0] and ranks[-1] < below + kept.size:
            part = np.partition(kept, [r - below for r in ranks])
            return [float(part[r - below]) for r in ranks]
    part = np.partition(x, ranks)
    return [float(part[r]) for r in ranks]


def median(x: NDArray[np.float64]) -> float:
    """``np.median(x)`` of a 1-D finite array: the middle order statistic(s), averaged as
    numpy does (``(a + b) / 2``)."""
    half = x.size // 2
    if x.size % 2:
        return order_statistics(x, [half])[0]
    a, b = order_statistics(x, [half - 1, half])
    return (a + b) / 2


def percentile(x: NDArray[np.float64], q: int) -> float:
    """``np.percentile(x, q)`` (method ``linear``) of a 1-D finite array of ≥ 2 values and
    ``0 < q < 100``: numpy's virtual index, its two neighbours and numpy's interpolation
    (``_lerp``), operation for operation."""
    virtual = (x.size - 1) * (q / 100)
    lo = math.floor(virtual)
    a, b = order_statistics(x, [lo, lo + 1])
    t = virtual - lo
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
