"""The search through one band as one compiled loop (numba): the optional fast path.

The numpy path (:mod:`~hepatokit.curation.patho.dedup.band_search`) probes every item ×
flip as array passes and pays ~40–50 ns for each probe that meets an occupied bucket. Here
one loop does a band, with the buckets as an occupancy bitmap (``2**width`` bits, 64 buckets
a word) and a rank table over its words:

- a flip is split into the flip of the key's high bits (the bitmap word) and of its 6 low
  bits (the bit in the word). For each high-bit flip ``g`` one load of the bitmap word,
  ANDed with a precomputed mask of the low-bit flips still allowed (a Hamming ball around the
  key's low bits), answers ``ball(6, t - |g|)`` probes at once;
- each occupied bucket left in the word is found by its set bit, its items by the rank of
  that bit (distinct keys before it), and each is checked at once by XOR + popcount;
- a pair is probed from one side only: from the item with the smaller high bits, or, with
  equal high bits, with the smaller low bits (pairs with equal keys: the own-bucket pass);
- items are taken as runs that share a bitmap word (sorted keys), runs in blocks of 64
  aligned words, high-bit flips in sorted order: consecutive flips of a block read the same
  words, ranks, starts and hashes;
- a high-bit flip that uses up the threshold leaves one candidate bit per item: that case
  runs without branches until a hit is close or its bucket holds more than one item.

The plan's costs for this loop are in :func:`~hepatokit.curation.patho.dedup.bands.plan_bands`
(``compiled=True``): candidates are cheap here, so its plans have narrower bands than numpy's.

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


def _build() -> dict[str, Any]:
    """The compiled kernels (numba compiles them at first use, or loads them from its cache)."""
    nb = _kernel_module()
    if nb is None:
        raise ImportError(
            "the compiled near-duplicate search needs numba: pip install 'hepatokit[fast]'"
        )
    return {"own": nb.own_buckets, "tables": nb.tables, "dense": nb.probe_dense,
            "sorted": nb.probe_sorted}  # fmt: skip


def search_band_compiled(
    h: NDArray[np.uint64], band: Band, radius: int, part: int, parts: int
) -> NDArray[np.int64]:
    """Verified pair keys ``min(i, j) * n + max(i, j)`` found through one band, or through
    part ``part`` of ``parts`` of its work (the own buckets, then its flips), compiled.

    Dense bands (up to :data:`~hepatokit.curation.patho.dedup.bands.DENSE_BITS` bits) are
    split by high-bit flip (:func:`high_flips`), wide bands by flip (as the numpy path).
    """

    kern = _build()
    dtype: Any = np.uint32 if band.width <= 32 else np.uint64
    keys = ((h >> np.uint64(band.shift)) & np.uint64(band.mask)).astype(dtype)
    order = np.argsort(keys, kind="stable").astype(np.int64)
    sk, hs = keys[order], np.ascontiguousarray(h[order])
    runner = _Runner(max(1024, sk.size // 4))
    if band.width <= DENSE_BITS:
        units = [-1, *high_flips(band)]  # -1: the own buckets
        mine = units[len(units) * part // parts : len(units) * (part + 1) // parts]
        own = bool(mine) and mine[0] == -1
        gs = np.sort(np.array([g for g in mine if g >= 0], dtype=np.uint64))
        if own:
            runner.run(kern["own"], sk, hs, order, radius)
        if gs.size:
            tabs = kern["tables"](sk, hs, band.width)
            ball, above = _low_masks(band.threshold)
            gbits = np.bitwise_count(gs).astype(np.int64)
            runner.run(kern["dense"], sk, hs, order, *tabs, gs, gbits, ball, above,
                       band.threshold, radius)  # fmt: skip
        return runner.result()
    own, by_bit = split_flips(band, part, parts)
    if own:
        runner.run(kern["own"], sk, hs, order, radius)
    flips = np.array([f for fl in by_bit.values() for f in fl], dtype=dtype)
    if flips.size:
        runner.run(kern["sorted"], sk, hs, order, flips, radius)
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
