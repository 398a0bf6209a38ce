"""The search through one band as compiled loops (numba): the optional fast path.

The numpy path (:mod:`~hepatokit.curation.patho.dedup.band_search`) probes every item ×
flip as array passes and pays ~40–50 ns for each probe that meets an occupied bucket. Here
(kernels in :mod:`~hepatokit.curation.patho.dedup._kernels`) a band is:

- a counting sort of the items by band key (linear; numpy's sort where the ``2**width``
  counts would far outnumber the items), then an occupancy bitmap over the keys (64 buckets
  a word) with a rank per word, and each bucket's first position;
- a join of each occupied bucket with each occupied bucket it probes. A flip is split into
  the flip of the key's high bits (the bitmap word) and of its 6 low bits (the bit in the
  word): for each high-bit flip ``g`` one load of the bitmap word, ANDed with a precomputed
  mask of the low-bit flips still allowed (a Hamming ball around the bucket's low bits),
  gives every probed bucket of that word;
- the join compares 8 items of the bucket (one 512-bit register) with every item of the
  probed bucket, branch-free (XOR, VPOPCNTQ, compare), and only where one is within the
  radius are the pairs checked one by one and written. The probed bucket's items are read
  in whole steps of 8 (past its end into the next bucket: the filter only decides whether
  to look, the exact check reads the bucket's bounds);
- a pair is probed from one side only: from the bucket with the smaller high bits, or,
  with equal high bits, with the smaller low bits (pairs with equal keys: the own-bucket
  pass); buckets are taken as runs that share a bitmap word, runs in blocks of 64 aligned
  words, high-bit flips in sorted order.

The plan's costs for these loops are in :func:`~hepatokit.curation.patho.dedup.bands.plan_bands`
(``compiled=True``): the join makes a probe cost once a bucket rather than once an item and
a candidate ~0.05 ns, so its plans have narrower bands (fuller buckets) than numpy's.

Same pigeonhole plan, same exact check, so the same pairs as the numpy path and brute force
(the property tests run both). Used when numba is installed (the ``fast`` extra);
``HEPATOKIT_DEDUP_KERNEL=numpy`` forces the numpy path.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepatokit._extras import numba_path_enabled
from hepatokit.curation.patho.dedup.bands import DENSE_BITS, Band, split_flips

__all__ = ["available", "high_flips", "search_band_compiled"]

_LOW = 6  # low key bits resolved inside one bitmap word (as in the kernels)


def available() -> bool:
    """Whether the compiled path runs: numba importable and not switched off."""
    return numba_path_enabled("HEPATOKIT_DEDUP_KERNEL") and _kernel_module() is not None


def _kernel_module() -> Any:
    try:
        from hepatokit.curation.patho.dedup import _kernels
    except ImportError:
        return None
    return _kernels


def high_flips(band: Band) -> list[int]:
    """The flips of a dense band's high bits (``width - 6``), at most ``threshold`` bits,
    0 first: the units of work of the compiled loop (each with its ball of low-bit flips)."""
    hi_bits = max(band.width - _LOW, 0)
    out = [0]
    for k in range(1, band.threshold + 1):
        out.extend(sum(1 << b for b in c) for c in combinations(range(hi_bits), k))
    return out


def _low_masks(threshold: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """``ball[j, x]``: the 64-bit mask of the ``y`` with ``popcount(x ^ y) <= j``;
    ``above[j, x]``: the same with ``y > x`` only (the one-sided own word)."""
    x = np.arange(64)
    d = np.bitwise_count(x[:, None] ^ x[None, :])
    bit = np.uint64(1) << x.astype(np.uint64)
    ball = np.zeros((threshold + 1, 64), dtype=np.uint64)
    above = np.zeros((threshold + 1, 64), dtype=np.uint64)
    for j in range(threshold + 1):
        ok = d <= j
        ball[j] = np.bitwise_or.reduce(np.where(ok, bit[None, :], 0), axis=1)
        above[j] = np.bitwise_or.reduce(np.where(ok & (x[None, :] > x[:, None]), bit[None, :], 0),
                                        axis=1)  # fmt: skip
    return ball, above


def _build() -> Any:
    """The compiled kernels (numba compiles them at first use, or loads them from its cache)."""
    nb = _kernel_module()
    if nb is None:
        raise ImportError(
            "the compiled near-duplicate search needs numba: pip install 'hepatokit[fast]'"
        )
    return nb


def _sorted_band(kern: Any, h: NDArray[np.uint64], band: Band) -> tuple[Any, Any, Any]:
    """The items sorted by band key: order (int64), keys, hashes followed by ``LANES``
    zeros. A counting sort where its table of ``2**width`` counts is not much larger than
    the items, else numpy's sort."""
    n = h.size
    if band.width <= DENSE_BITS and (1 << band.width) <= max(4 * n, 1 << 16):
        return kern.sort_band(h, band.shift, band.width)
    dtype: Any = np.uint32 if band.width <= 32 else np.uint64
    keys = ((h >> np.uint64(band.shift)) & np.uint64(band.mask)).astype(dtype)
    order = np.argsort(keys, kind="stable").astype(np.int64)
    hs = np.zeros(n + kern.LANES, dtype=np.uint64)
    hs[:n] = h[order]
    return order, keys[order], hs


def search_band_compiled(
    h: NDArray[np.uint64], band: Band, radius: int, part: int, parts: int
) -> NDArray[np.int64]:
    """Verified pair keys ``min(i, j) * n + max(i, j)`` found through one band, or through
    part ``part`` of ``parts`` of its work (the own buckets, then its flips), compiled.

    Dense bands (up to :data:`~hepatokit.curation.patho.dedup.bands.DENSE_BITS` bits) are
    split by high-bit flip (:func:`high_flips`), wide bands by flip (as the numpy path).
    """
    kern = _build()
    h = np.ascontiguousarray(h, dtype=np.uint64)
    order, sk, hs = _sorted_band(kern, h, band)
    runner = _Runner(max(1024, sk.size // 4))
    if band.width <= DENSE_BITS:
        units = [-1, *high_flips(band)]  # -1: the own buckets
        mine = units[len(units) * part // parts : len(units) * (part + 1) // parts]
        gs = np.sort(np.array([g for g in mine if g >= 0], dtype=np.uint64))
        tabs = kern.tables(sk, band.width)
        if mine and mine[0] == -1:
            runner.run(kern.own_buckets, hs, order, tabs[2], radius)
        if gs.size:
            ball, above = _low_masks(band.threshold)
            gbits = np.bitwise_count(gs).astype(np.int64)
            runner.run(kern.probe_dense, hs, order, *tabs, gs, gbits, ball, above,
                       band.threshold, radius)  # fmt: skip
        return runner.result()
    own, by_bit = split_flips(band, part, parts)
    if own:
        runner.run(kern.own_sorted, sk, hs, order, radius)
    flips = np.array([f for fl in by_bit.values() for f in fl], dtype=sk.dtype)
    if flips.size:
        runner.run(kern.probe_sorted, sk, hs, order, flips, radius)
    return runner.result()


class _Runner:
    """Calls a kernel until it has done all its units, growing the output when it fills."""

    def __init__(self, capacity: int) -> None:
        self.out = np.empty(capacity, dtype=np.int64)
        self.k = 0

    def run(self, kernel: Any, *args: Any) -> None:
        unit = 0
        while True:
            self.k, next_unit, needed = kernel(*args, self.out, self.k, unit)
            if needed <= self.out.size:
                return
            grown = np.empty(max(2 * self.out.size, needed), dtype=np.int64)
            grown[: self.k] = self.out[: self.k]
            self.out, unit = grown, next_unit

    def result(self) -> NDArray[np.int64]:
        return self.out[: self.k].copy()
