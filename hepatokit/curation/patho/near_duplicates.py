"""Near-duplicate search in Hamming space: multi-index hashing, exact verification, union-find.

Multi-index hashing (Norouzi et al., 2012): split each 64-bit hash into ``r + 1`` disjoint
bands. If two hashes differ in at most ``r`` bits, the pigeonhole principle says at least one
band is identical, so every pair within radius ``r`` shares a bucket in some band. Candidates
from the buckets are then verified exactly (XOR + popcount), so the result is *exactly* the
brute-force result, found without comparing all ``n²/2`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from itertools import combinations, pairwise
from math import comb

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "UnionFind",
    "band_masks",
    "clusters_from_pairs",
    "near_pairs",
    "nearest_neighbour_distances",
    "plan_bands",
]

Pairs = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]


def band_masks(n_bands: int, bits: int = 64) -> list[tuple[int, int]]:
    """``(shift, mask)`` of ``n_bands`` disjoint bands covering ``bits`` bits."""
    n_bands = max(1, min(n_bands, bits))
    edges = np.linspace(0, bits, n_bands + 1).round().astype(int)
    return [(int(lo), (1 << int(hi - lo)) - 1) for lo, hi in pairwise(edges)]


def _popcount(x: NDArray[np.uint64]) -> NDArray[np.int64]:
    return np.bitwise_count(x).astype(np.int64)


def _flip_masks(width: int, max_flips: int) -> NDArray[np.uint64]:
    """Every ``width``-bit mask with at most ``max_flips`` bits set (0 first)."""
    masks = [0]
    for k in range(1, max_flips + 1):
        masks.extend(sum(1 << b for b in combo) for combo in combinations(range(width), k))
    return np.array(masks, dtype=np.uint64)


_DENSE_BITS = 24  # bands up to this width use a dense bucket table (2**24 int32 = 64 MiB max)
_CHUNK = 8_000_000  # candidate pairs verified per batch (bounds memory on clustered data)


def plan_bands(n: int, radius: int) -> tuple[int, int]:
    """Choose ``(bands, sub_radius)`` minimising the estimated work for ``n`` hashes.

    With ``m`` bands, two hashes within ``radius`` agree within ``radius // m`` bits on at
    least one band (pigeonhole); ``m = radius + 1`` is the classic exact-band case. Each
    band costs one bucket lookup per item per flip mask, plus the candidates it yields.
    """
    best: tuple[float, int, int] | None = None
    for m in range(1, min(radius + 1, 64) + 1):
        width = -(-64 // m)
        s = radius // m
        flips = sum(comb(width, k) for k in range(s + 1))
        lookup = 1.0 if width <= _DENSE_BITS else 6.0
        cost = m * flips * (n * lookup + n * n / 2.0**width)
        if best is None or cost < best[0]:
            best = (cost, m, s)
    assert best is not None
    return best[1], best[2]


def _band_candidates(
    keys: NDArray[np.uint64], width: int, flips: NDArray[np.uint64]
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Index pairs ``(i, j)``, ``i < j``, whose band keys differ by one of ``flips``."""
    n = keys.size
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    dense = width <= _DENSE_BITS
    if dense:
        starts = np.zeros((1 << width) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys.astype(np.int64), minlength=1 << width), out=starts[1:])
    queries = np.arange(n, dtype=np.int64)
    for f in flips:
        target = keys ^ f
        if dense:
            t = target.astype(np.int64)
            lo, hi = starts[t], starts[t + 1]
        else:
            lo = np.searchsorted(sorted_keys, target, side="left")
            hi = np.searchsorted(sorted_keys, target, side="right")
        counts = hi - lo
        has = np.nonzero(counts)[0]
        if not has.size:
            continue
        csum = np.cumsum(counts[has])
        begin = 0
        while begin < has.size:
            base = csum[begin - 1] if begin else 0
            stop = int(np.searchsorted(csum, base + _CHUNK, side="right"))
            stop = max(stop, begin + 1)
            q = has[begin:stop]
            c = counts[q]
            rep_q = np.repeat(queries[q], c)
            offs = np.arange(c.sum(), dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
            j = order[np.repeat(lo[q], c) + offs]
            keep = rep_q < j
            yield rep_q[keep], j[keep]
            begin = stop


def near_pairs(
    hashes: NDArray[np.uint64],
    radius: int,
    *,
    second: NDArray[np.uint64] | None = None,
    second_radius: int | None = None,
    bands: int | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> Pairs:
    """All pairs within Hamming ``radius``, by multi-index hashing + exact verification.

    Parameters
    ----------
    hashes
        ``(N,)`` uint64 perceptual hashes.
    radius
        Maximum Hamming distance (bits) of a near-duplicate pair, ``0 <= radius < 64``.
    second, second_radius
        Optional second hash per item (e.g. dHash): a pair must *also* be within
        ``second_radius`` on it.
    bands
        Number of bands (default: chosen by :func:`plan_bands`); each band is searched
        within ``radius // bands`` bits, which the pigeonhole principle makes exhaustive.
    workers
        Search the bands in this many processes (bands are independent); default inline.
    executor
        Search the bands as tasks of this executor instead (a process pool, or a Dask
        client's ``get_executor()``, which spreads the bands over the cluster).

    Returns
    -------
    (i, j, distance)
        int64 arrays, ``i < j``, sorted by ``(i, j)``, each pair once; ``distance`` is the
        Hamming distance of ``hashes``: exactly the pairs a brute-force
        comparison of every item with every other finds.
    """
    if not 0 <= radius < 64:
        raise ValueError(f"radius must be in [0, 63], got {radius}")
    h = np.asarray(hashes, dtype=np.uint64)
    n = h.size
    if n < 2:
        return _finish(h, [], n, second, second_radius)
    m, sub = plan_bands(n, radius) if bands is None else (bands, radius // bands)
    width = -(-64 // m)
    if sum(comb(width, k) for k in range(sub + 1)) > 200_000:
        raise ValueError(f"{m} bands for radius {radius} means too many flip masks; use more bands")
    jobs = [(h, shift, mask, sub, radius) for shift, mask in band_masks(m)]
    parallel = executor is not None or (workers is not None and workers > 1)
    if parallel and len(jobs) > 1:
        from hepatokit.parallel import map_items

        n_workers = None if workers is None else min(workers, len(jobs))
        results = map_items(_search_band, jobs, executor=executor, workers=n_workers,
                            chunksize=1, description="near-duplicate bands")  # fmt: skip
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"near-duplicate search failed: {failed[0]}")
        found = [r.value for r in results if r.value is not None]
    else:
        found = [_search_band(job) for job in jobs]
    return _finish(h, found, n, second, second_radius)


def _search_band(job: tuple[NDArray[np.uint64], int, int, int, int]) -> NDArray[np.int64]:
    """Verified pair keys ``i * n + j`` found through one band (a picklable work item)."""
    h, shift, mask, sub, radius = job
    n = h.size
    width = mask.bit_length()
    keys = (h >> np.uint64(shift)) & np.uint64(mask)
    found = [np.empty(0, dtype=np.int64)]
    for a, b in _band_candidates(keys, width, _flip_masks(width, sub)):
        ok = _popcount(h[a] ^ h[b]) <= radius
        if ok.any():
            found.append(np.unique(a[ok] * n + b[ok]))
    return np.unique(np.concatenate(found))


def _finish(
    h: NDArray[np.uint64],
    found: list[NDArray[np.int64]],
    n: int,
    second: NDArray[np.uint64] | None,
    second_radius: int | None,
) -> Pairs:
    if found:
        keys = np.unique(np.concatenate(found))
    else:
        keys = np.empty(0, dtype=np.int64)
    i, j = keys // max(n, 1), keys % max(n, 1)
    if second is not None and second_radius is not None and i.size:
        s = np.asarray(second, dtype=np.uint64)
        ok = _popcount(s[i] ^ s[j]) <= second_radius
        i, j = i[ok], j[ok]
    return i, j, _popcount(h[i] ^ h[j])


def nearest_neighbour_distances(
    hashes: NDArray[np.uint64], queries: NDArray[np.int64], *, exclude_equal: bool = True
) -> NDArray[np.int64]:
    """Hamming distance from each query item to its nearest *other* item (exact, chunked).

    ``exclude_equal`` skips items with the identical hash (exact duplicates), so the result
    describes how close distinct images sit.
    """
    h = np.asarray(hashes, dtype=np.uint64)
    out = np.full(len(queries), 64, dtype=np.int64)
    for k, q in enumerate(np.asarray(queries, dtype=np.int64)):
        d = _popcount(h ^ h[q])
        d[q] = 64
        if exclude_equal:
            d[d == 0] = 64
        out[k] = int(d.min()) if d.size else 64
    return out


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size."""

    def __init__(self, n: int):
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def groups(self) -> list[list[int]]:
        """Sets with more than one member, each sorted, ordered by smallest member."""
        by_root: dict[int, list[int]] = {}
        for x in range(len(self.parent)):
            by_root.setdefault(self.find(x), []).append(x)
        return sorted((g for g in by_root.values() if len(g) > 1), key=lambda g: g[0])


def clusters_from_pairs(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components (size > 1) of the graph of ``pairs`` over ``n`` items."""
    uf = UnionFind(n)
    for a, b in pairs:
        uf.union(int(a), int(b))
    return uf.groups()
