"""Band plans of the multi-index Hamming search: which bits, how many flips, at what cost.

A 64-bit hash is split into disjoint bands; band ``k`` is probed within ``t_k`` flips, with
``sum(t_k + 1) = r + 1`` (generalised pigeonhole, see :mod:`hepatokit.curation.patho.dedup.near`),
so every plan finds every pair within ``r`` bits. :func:`plan_bands` picks the plan with the
least estimated work from a cost model measured with numpy on one core.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations, pairwise
from math import comb, expm1, log2

import numpy as np
from numpy.typing import NDArray

__all__ = ["Band", "band_masks", "flip_groups", "plan_bands", "split_flips"]

DENSE_BITS = 24  # bands up to this width use a dense bucket table (2**24 int32 = 64 MiB max)
_MAX_FLIPS = 200_000  # flip masks per band: more would mean a plan with too few bands
# relative costs of the cost model (measured with numpy on one core)
_COST_PROBE = 1.0  # one item × flip lookup in a dense table
_COST_PROBE_SORTED = 0.6  # × log2(n): a lookup by binary search in the sorted keys
_COST_CANDIDATE = 3.0  # one candidate pair expanded and verified
_COST_BUCKET = 0.5  # one bucket of a dense table built
_COST_SORT = 0.4  # × log2(n): one item sorted by its band key
# the compiled loop's (ns on one core of the bench machine, least squares over 32 single
# bands of widths 11–20 and thresholds 0–2 at 140k and 1 M uniform hashes: bench/RESULTS.md)
_C_ITEM = 25.5  # one item: counting sort, tables, own bucket, the band's fixed costs
_C_KEY = 11.0  # one of the 2**width keys (counts, bitmap, ranks)
_C_JOIN = 4.4  # one chunk of LANES items joined with one probed bucket
_C_VECTOR = 2.8  # LANES × LANES hashes of such a join compared (XOR, VPOPCNTQ, compare)
_C_WORD = 2.7  # one bucket × high-bit flip (a bitmap word ANDed with a ball of low bits)
_C_SORT = 7.5  # × log2(n): a wide band's items sorted (numpy), per item
_C_SEARCH = 3.0  # × log2(n): one probe of a wide band by binary search
_LANES = 8  # as in the kernels


@dataclass(frozen=True)
class Band:
    """Bits ``shift .. shift + width - 1`` of the hash, probed within ``threshold`` flips."""

    shift: int
    width: int
    threshold: int

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


def band_masks(n_bands: int, bits: int = 64) -> list[tuple[int, int]]:
    """``(shift, mask)`` of ``n_bands`` disjoint bands covering ``bits`` bits."""
    n_bands = max(1, min(n_bands, bits))
    edges = np.linspace(0, bits, n_bands + 1).round().astype(int)
    return [(int(lo), (1 << int(hi - lo)) - 1) for lo, hi in pairwise(edges)]


@lru_cache(maxsize=4096)
def _ball(width: int, radius: int) -> int:
    """Number of ``width``-bit masks with at most ``radius`` bits set."""
    return sum(comb(width, k) for k in range(radius + 1))


def _flip_masks(width: int, max_flips: int) -> NDArray[np.uint64]:
    """Every ``width``-bit mask with at most ``max_flips`` bits set (0 first)."""
    masks = [0]
    for k in range(1, max_flips + 1):
        masks.extend(sum(1 << b for b in combo) for combo in combinations(range(width), k))
    return np.array(masks, dtype=np.uint64)


def flip_groups(width: int, threshold: int) -> list[tuple[int, NDArray[np.uint64]]]:
    """Non-zero flips of at most ``threshold`` bits, grouped by their highest bit ``b``."""
    out: list[tuple[int, NDArray[np.uint64]]] = []
    if threshold <= 0:
        return out
    for b in range(width):
        low = _flip_masks(b, threshold - 1)
        out.append((b, low | np.uint64(1 << b)))
    return out


@lru_cache(maxsize=4096)
def _band_cost(n: int, width: int, threshold: int) -> float:
    """Estimated work to search one band of ``n`` uniform hashes (cost-model units)."""
    if threshold < 0:
        return 0.0
    flips = _ball(width, threshold)
    lg = log2(max(n, 2))
    probes = n * (1 + (flips - 1) / 2)  # other flips are probed from one side only
    candidates = n * n / 2 * flips / 2.0**width
    cost = n * lg * _COST_SORT + candidates * _COST_CANDIDATE
    if width <= DENSE_BITS:
        return cost + probes * _COST_PROBE + 2.0**width * _COST_BUCKET
    return cost + probes * _COST_PROBE_SORTED * lg


@lru_cache(maxsize=4096)
def _band_cost_compiled(n: int, width: int, threshold: int) -> float:
    """Estimated work of the compiled loop through one band (its own units, ~ns): each
    occupied bucket is joined with each occupied bucket it probes, ``_LANES`` items of it at
    a time, each chunk against the probed bucket's items padded to ``_LANES``."""
    if threshold < 0:
        return 0.0
    lg = log2(max(n, 2))
    if width > DENSE_BITS:  # a binary search per probe
        flips = _ball(width, threshold)
        return n * lg * _C_SORT + n * flips / 2 * lg * _C_SEARCH
    load = n / 2.0**width  # items per bucket
    occupied = -expm1(-load)
    buckets = 2.0**width * occupied
    per_bucket = load / max(occupied, 1e-300)  # items of an occupied bucket
    chunks = max(1.0, per_bucket / _LANES + 0.5)
    scans = max(1.0, (per_bucket + _LANES / 2) / _LANES)  # LANES-item steps of a bucket
    joins = buckets * (_ball(width, threshold) - 1) / 2 * occupied * chunks  # one-sided
    words = buckets * _ball(max(width - 6, 0), threshold) / 2
    return (n * _C_ITEM + 2.0**width * _C_KEY + joins * _C_JOIN
            + (joins + buckets * chunks) * scans * _C_VECTOR + words * _C_WORD)  # fmt: skip


def _layout(widths: list[int], thresholds: list[int]) -> tuple[Band, ...]:
    bands, shift = [], 0
    for w, t in zip(widths, thresholds, strict=True):
        bands.append(Band(shift, w, t))
        shift += w
    return tuple(bands)


def _split(total: int, parts: int) -> list[int]:
    """``total`` bits in ``parts`` near-equal widths (wider first)."""
    q, rem = divmod(total, parts)
    return [q + 1] * rem + [q] * (parts - rem)


def _plans(radius: int, bands: int | None) -> Iterator[tuple[Band, ...]]:
    """Exact band plans: ``m`` bands, thresholds summing (plus one each) to ``radius + 1``."""
    for m in [bands] if bands is not None else range(1, min(radius + 1, 64) + 1):
        q, rem = divmod(radius + 1, m)
        # ``rem`` bands searched within q flips, the others within q - 1 (a -1 band is skipped)
        thresholds = [q] * rem + [q - 1] * (m - rem)
        if bands is not None or rem in (0, m):
            yield _layout(_split(64, m), thresholds)
            continue
        for w_hi in range(1, 64):  # the bands with the larger threshold may be wider
            rest = 64 - rem * w_hi
            if rest < m - rem:
                break
            yield _layout([w_hi] * rem + _split(rest, m - rem), thresholds)


def plan_bands(
    n: int, radius: int, *, bands: int | None = None, compiled: bool = False
) -> tuple[Band, ...]:
    """The band plan with the least estimated work for ``n`` hashes within ``radius`` bits.

    Every plan is exact (generalised pigeonhole, see the module docstring); the choice only
    trades probes (more flips in wider bands) against candidates (narrower bands collide
    more). ``bands`` fixes the number of bands (equal widths). ``compiled``: the costs of
    the compiled loop (:mod:`~hepatokit.curation.patho.dedup.compiled`) instead of numpy's.
    """
    if not 0 <= radius < 64:
        raise ValueError(f"radius must be in [0, 63], got {radius}")
    best: tuple[float, tuple[Band, ...]] | None = None
    for plan in _plans(radius, bands):
        if any(_ball(b.width, b.threshold) > _MAX_FLIPS for b in plan):
            continue
        band_cost = _band_cost_compiled if compiled else _band_cost
        cost = sum(band_cost(n, b.width, b.threshold) for b in plan)
        if best is None or cost < best[0]:
            best = (cost, plan)
    if best is None:
        raise ValueError(
            f"{bands} bands for radius {radius} means too many flip masks; use more bands"
        )
    return best[1]


def split_flips(band: Band, part: int, parts: int) -> tuple[bool, dict[int, list[int]]]:
    """The work of part ``part`` of ``parts`` of a band: whether it searches the own buckets
    (pairs with equal keys), and its flips grouped by their highest bit.

    The work units, in order: the own bucket, then every flip of at most ``band.threshold``
    bits, grouped by highest bit; the parts are consecutive near-equal slices of them, so
    together they cover every unit once.
    """
    units: list[tuple[int, NDArray[np.uint64]]] = [(-1, np.zeros(1, dtype=np.uint64))]
    units += flip_groups(band.width, band.threshold)
    flat = [(b, f) for b, fl in units for f in fl.tolist()]
    mine = flat[len(flat) * part // parts : len(flat) * (part + 1) // parts]
    own = bool(mine) and mine[0][0] == -1
    by_bit: dict[int, list[int]] = {}
    for b, f in mine[1:] if own else mine:
        by_bit.setdefault(b, []).append(f)
    return own, by_bit
