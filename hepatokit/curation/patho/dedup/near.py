"""Near-duplicate search in Hamming space: multi-index hashing, exact verification, union-find.

Multi-index hashing (Norouzi et al., 2012) with the generalised pigeonhole principle (Qin et
al., 2018): split each 64-bit hash into ``m`` disjoint bands and give band ``k`` a threshold
``t_k`` with ``sum(t_k + 1) = r + 1``. Two hashes within ``r`` bits differ in at most
``t_k`` bits of *some* band ``k`` (else they would differ in ``sum(t_k + 1) > r`` bits), so
probing every band's bucket table with all flips of at most ``t_k`` bits finds every pair.
Candidates are verified exactly (XOR + popcount), so the result is *exactly* the brute-force
result, found without comparing all ``n²/2`` pairs.

Scaling: the bands are made wide (about ``log2 n`` bits and more), so that a probe seldom
hits an occupied bucket and the candidates grow little faster than the items; the probes,
``n`` times the flips of each band, are what grows linearly. Each band — and each part of a
band's flips — is an independent task that can run on a process pool or a Dask cluster.

Modules: the band plans and their cost model are in
:mod:`~hepatokit.curation.patho.dedup.bands`, the search through one band in
:mod:`~hepatokit.curation.patho.dedup.band_search`; this module runs the bands and joins
their pairs, and holds the union-find that turns pairs into clusters.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor
from math import ceil

import numpy as np
from numpy.typing import NDArray

from hepatokit.curation.patho.dedup.band_search import _search_band, compiled_available
from hepatokit.curation.patho.dedup.bands import Band, band_masks, plan_bands

__all__ = [
    "Band",
    "UnionFind",
    "band_masks",
    "clusters_from_pairs",
    "near_pairs",
    "nearest_neighbour_distances",
    "plan_bands",
]

Pairs = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]

_POOL_MIN = 100_000  # fewer hashes are searched inline even when workers are given
# the compiled loop searches 1 M hashes in ~0.5 s of CPU, 5 M in ~5.5 s; a pool of its
# own (starting processes, importing numba, loading its kernels, sending the hashes) was
# slower at 5 M (15.8 s wall with 2 processes against 13.6 s inline, loaded machine)
_POOL_MIN_COMPILED = 10_000_000


def _popcount(x: NDArray[np.uint64]) -> NDArray[np.int64]:
    return np.bitwise_count(x).astype(np.int64)


def near_pairs(
    hashes: NDArray[np.uint64],
    radius: int,
    *,
    second: NDArray[np.uint64] | None = None,
    second_radius: int | None = None,
    bands: int | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    compiled: bool | None = None,
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
        Number of bands (default: chosen by :func:`plan_bands`); any number is exact.
    workers
        Search the bands in this many processes (bands are independent); default inline,
        and inline below 100,000 hashes (10,000,000 with the compiled loop): a pool would
        start slower than the search runs.
    executor
        Search the bands as tasks of this executor instead (a process pool, or a Dask
        client's ``get_executor()``, which spreads the bands over the cluster).
    compiled
        Search each band with the compiled loop (:mod:`~hepatokit.curation.patho.dedup.compiled`,
        needs numba: the ``fast`` extra) or with numpy; default: compiled where numba is
        installed. Both find the same pairs; a task whose process lacks numba uses numpy.

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
    if compiled is None:
        compiled = compiled_available()
    plan = [b for b in plan_bands(n, radius, bands=bands, compiled=compiled) if b.threshold >= 0]
    # a pool of its own pays off only on large inputs (starting processes takes seconds)
    pool_min = _POOL_MIN_COMPILED if compiled else _POOL_MIN
    parallel = executor is not None or (workers is not None and workers > 1 and n >= pool_min)
    n_workers = workers or 2
    # split each band's flips into parts so that the tasks outnumber the workers
    parts = max(1, ceil(2 * n_workers / len(plan))) if parallel and n >= pool_min else 1
    jobs = [(h, band, radius, k, parts, compiled) for band in plan for k in range(parts)]
    if parallel and len(jobs) > 1:
        from hepatokit.parallel import map_items

        results = map_items(_search_band, jobs, executor=executor,
                            workers=None if workers is None else min(workers, len(jobs)),
                            chunksize=1, description="near-duplicate bands")  # fmt: skip
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"near-duplicate search failed: {failed[0]}")
        found = [r.value for r in results if r.value is not None]
    else:
        found = [_search_band(job) for job in jobs]
    return _finish(h, found, n, second, second_radius)


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
