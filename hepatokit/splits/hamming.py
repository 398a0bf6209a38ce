"""Pairs of 64-bit hashes within a Hamming radius that sit in different splits.

Multi-index hashing (Norouzi et al., 2012): cut each hash into ``m`` disjoint bands. Two
hashes that differ in at most ``r`` bits differ in at most ``s = r // m`` bits on at least one
band (pigeonhole: otherwise they would differ in ``m (s + 1) > r`` bits). So every such pair
meets in some band either in the same bucket or in buckets whose keys differ by a mask of at
most ``s`` bits. ``m`` and ``s`` are chosen to minimise the estimated work for ``n`` hashes
(few wide bands with a few flips beat many narrow bands on large sets). Candidate pairs in
the same split are dropped; the rest are verified exactly (XOR + popcount), so the result
equals the brute-force result without comparing all ``n²/2`` pairs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["cross_split_pairs", "parse_hex_hashes", "plan_bands"]

_CHUNK = 4_000_000  # candidate pairs generated and verified at once

IntArray = NDArray[np.int64]


def parse_hex_hashes(values: list[str | None]) -> tuple[NDArray[np.uint64], NDArray[np.bool_]]:
    """Hex strings (``imagehash`` text, up to 16 hex digits) → ``(uint64 array, valid mask)``."""
    out = np.zeros(len(values), dtype=np.uint64)
    valid = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if not v:
            continue
        try:
            out[i] = np.uint64(int(v, 16) & 0xFFFFFFFFFFFFFFFF)
        except ValueError:
            continue
        valid[i] = True
    return out, valid


def plan_bands(n: int, radius: int) -> tuple[int, int]:
    """``(bands, sub_radius)`` with the least estimated work for ``n`` hashes."""
    best: tuple[float, int, int] | None = None
    for m in range(1, min(radius + 1, 64) + 1):
        width = -(-64 // m)
        s = radius // m
        flips = sum(math.comb(width, k) for k in range(s + 1))
        # measured: a bucket lookup costs about half as much as a candidate pair
        lookups = m * flips * min(n, 2.0**width)
        candidates = m * flips * n * n / 2.0 ** (width + 1)
        cost = lookups + 2 * candidates
        if best is None or cost < best[0]:
            best = (cost, m, s)
    assert best is not None
    return best[1], best[2]


def _bands(m: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, 64, m + 1).round().astype(int).tolist()
    return [(lo, hi - lo) for lo, hi in itertools.pairwise(edges)]


def _flip_masks(width: int, s: int) -> list[int]:
    masks = [0]
    for k in range(1, s + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(width), k)]
    return masks


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """Concatenation of ``arange(start, start + length)`` for each pair (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets


def _chunks(weights: IntArray) -> list[IntArray]:
    """Split ``range(len(weights))`` into runs whose weights sum to about ``_CHUNK``."""
    if weights.size == 0:
        return []
    cut = np.cumsum(weights) // _CHUNK
    return [np.flatnonzero(cut == c) for c in np.unique(cut)]


def _within(starts: IntArray, counts: IntArray) -> list[tuple[IntArray, IntArray]]:
    """Position pairs ``p < q`` inside each bucket (sorted order)."""
    keep = counts >= 2
    starts, counts = starts[keep], counts[keep]
    out = []
    for idx in _chunks(counts * (counts - 1) // 2):
        p = _ranges(starts[idx], counts[idx])
        ends = np.repeat(starts[idx] + counts[idx], counts[idx])
        r = ends - p - 1
        out.append((np.repeat(p, r), _ranges(p + 1, r)))
    return out


def _across(
    sa: IntArray, ca: IntArray, sb: IntArray, cb: IntArray
) -> list[tuple[IntArray, IntArray]]:
    """All position pairs between bucket ``a`` and bucket ``b`` of each bucket pair."""
    out = []
    for idx in _chunks(ca * cb):
        p = _ranges(sa[idx], ca[idx])
        owner = np.repeat(np.arange(idx.size), ca[idx])
        r = cb[idx][owner]
        out.append((np.repeat(p, r), _ranges(sb[idx][owner], r)))
    return out


def cross_split_pairs(
    hashes: NDArray[np.uint64],
    splits: NDArray[np.int64],
    radius: int,
    *,
    bands: int | None = None,
) -> list[tuple[int, int, int]]:
    """Index pairs ``(i, j, distance)``, ``i < j``, within ``radius`` bits and in different splits.

    Parameters
    ----------
    hashes
        ``(n,)`` uint64 perceptual hashes.
    splits
        ``(n,)`` integer split codes; pairs with equal codes are ignored.
    radius
        Maximum Hamming distance in bits (inclusive), 0–63.
    bands
        Number of bands (default: :func:`plan_bands`); any value gives the same result.
    """
    n = hashes.size
    if n < 2:
        return []
    splits = np.asarray(splits, dtype=np.int64)
    m, s = plan_bands(n, radius) if bands is None else (bands, radius // bands)
    found: list[IntArray] = []
    for shift, width in _bands(m):
        keys = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable").astype(np.int64)
        uniq, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
        starts, counts = starts.astype(np.int64), counts.astype(np.int64)
        for flip in _flip_masks(width, s):
            if flip == 0:
                parts = _within(starts, counts)
            else:
                target = uniq ^ np.uint64(flip)
                lower = np.flatnonzero(uniq < target)  # each bucket pair once
                pos = np.searchsorted(uniq, target[lower])
                hit = pos < uniq.size
                hit[hit] = uniq[pos[hit]] == target[lower][hit]
                a, b = lower[hit], pos[hit]
                parts = _across(starts[a], counts[a], starts[b], counts[b])
            for pa_, pb_ in parts:
                i, j = order[pa_], order[pb_]
                cross = splits[i] != splits[j]
                i, j = i[cross], j[cross]
                close = np.bitwise_count(hashes[i] ^ hashes[j]) <= radius
                lo, hi = np.minimum(i[close], j[close]), np.maximum(i[close], j[close])
                found.append(lo * n + hi)
    if not found:
        return []
    codes = np.unique(np.concatenate(found))
    i, j = codes // n, codes % n
    dist = np.bitwise_count(hashes[i] ^ hashes[j]).astype(np.int64)
    return list(zip(i.tolist(), j.tolist(), dist.tolist(), strict=True))
