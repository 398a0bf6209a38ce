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
``n`` times the flips of each band, are what grows linearly. The items are sorted by their
band key, so a probe's lookups walk the dense bucket table nearly in order (cache friendly),
and a pair ``(i, j)`` is probed from one side only: from the item whose key has a 0 at the
highest flipped bit. Each band — and each part of a band's flips — is an independent task
that can run on a process pool or a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from itertools import combinations, pairwise
from math import ceil, comb, log2
from typing import Any

import numpy as np
from numpy.typing import NDArray

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


def _popcount(x: NDArray[np.uint64]) -> NDArray[np.int64]:
    return np.bitwise_count(x).astype(np.int64)


def _ball(width: int, radius: int) -> int:
    """Number of ``width``-bit masks with at most ``radius`` bits set."""
    return sum(comb(width, k) for k in range(radius + 1))


def _flip_masks(width: int, max_flips: int) -> NDArray[np.uint64]:
    """Every ``width``-bit mask with at most ``max_flips`` bits set (0 first)."""
    masks = [0]
    for k in range(1, max_flips + 1):
        masks.extend(sum(1 << b for b in combo) for combo in combinations(range(width), k))
    return np.array(masks, dtype=np.uint64)


_DENSE_BITS = 24  # bands up to this width use a dense bucket table (2**24 int32 = 64 MiB max)
_MAX_FLIPS = 200_000  # flip masks per band: more would mean a plan with too few bands
_CHUNK = 4_000_000  # candidate pairs expanded + verified per batch (bounds memory)
_BATCH = 1 << 18  # probes (item × flip) per vectorised step
_POOL_MIN = 100_000  # fewer hashes are searched inline even when workers are given
# relative costs of the cost model (measured with numpy on one core)
_COST_PROBE = 1.0  # one item × flip lookup in a dense table
_COST_PROBE_SORTED = 0.6  # × log2(n): a lookup by binary search in the sorted keys
_COST_CANDIDATE = 3.0  # one candidate pair expanded and verified
_COST_BUCKET = 0.5  # one bucket of a dense table built
_COST_SORT = 0.4  # × log2(n): one item sorted by its band key


def _band_cost(n: int, width: int, threshold: int) -> float:
    """Estimated work to search one band of ``n`` uniform hashes (cost-model units)."""
    if threshold < 0:
        return 0.0
    flips = _ball(width, threshold)
    lg = log2(max(n, 2))
    probes = n * (1 + (flips - 1) / 2)  # other flips are probed from one side only
    candidates = n * n / 2 * flips / 2.0**width
    cost = n * lg * _COST_SORT + candidates * _COST_CANDIDATE
    if width <= _DENSE_BITS:
        return cost + probes * _COST_PROBE + 2.0**width * _COST_BUCKET
    return cost + probes * _COST_PROBE_SORTED * lg


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


def plan_bands(n: int, radius: int, *, bands: int | None = None) -> tuple[Band, ...]:
    """The band plan with the least estimated work for ``n`` hashes within ``radius`` bits.

    Every plan is exact (generalised pigeonhole, see the module docstring); the choice only
    trades probes (more flips in wider bands) against candidates (narrower bands collide
    more). ``bands`` fixes the number of bands (equal widths).
    """
    if not 0 <= radius < 64:
        raise ValueError(f"radius must be in [0, 63], got {radius}")
    best: tuple[float, tuple[Band, ...]] | None = None
    for plan in _plans(radius, bands):
        if any(_ball(b.width, b.threshold) > _MAX_FLIPS for b in plan):
            continue
        cost = sum(_band_cost(n, b.width, b.threshold) for b in plan)
        if best is None or cost < best[0]:
            best = (cost, plan)
    if best is None:
        raise ValueError(
            f"{bands} bands for radius {radius} means too many flip masks; use more bands"
        )
    return best[1]


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
        Number of bands (default: chosen by :func:`plan_bands`); any number is exact.
    workers
        Search the bands in this many processes (bands are independent); default inline,
        and inline below 100,000 hashes (a pool would start slower than the search runs).
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
    plan = [b for b in plan_bands(n, radius, bands=bands) if b.threshold >= 0]
    # a pool of its own pays off only on large inputs (starting processes takes seconds)
    parallel = executor is not None or (workers is not None and workers > 1 and n >= _POOL_MIN)
    n_workers = workers or 2
    # split each band's flips into parts so that the tasks outnumber the workers
    parts = max(1, ceil(2 * n_workers / len(plan))) if parallel and n >= _POOL_MIN else 1
    jobs = [(h, band, radius, k, parts) for band in plan for k in range(parts)]
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


def _flip_groups(width: int, threshold: int) -> list[tuple[int, NDArray[np.uint64]]]:
    """Non-zero flips of at most ``threshold`` bits, grouped by their highest bit ``b``."""
    out: list[tuple[int, NDArray[np.uint64]]] = []
    if threshold <= 0:
        return out
    for b in range(width):
        low = _flip_masks(b, threshold - 1)
        out.append((b, low | np.uint64(1 << b)))
    return out


def _search_band(job: tuple[NDArray[np.uint64], Band, int, int, int]) -> NDArray[np.int64]:
    """Verified pair keys ``min(i, j) * n + max(i, j)`` found through one band, or through
    part ``part`` of ``parts`` of its flips (a picklable work item). Within a band, each
    pair is found at most once."""
    h, band, radius, part, parts = job
    n = h.size
    dtype = np.uint32 if band.width <= 32 else np.uint64
    keys: NDArray[Any] = ((h >> np.uint64(band.shift)) & np.uint64(band.mask)).astype(dtype)
    order = np.argsort(keys, kind="stable")
    sk: NDArray[Any] = keys[order]
    hs = h[order]
    dense = band.width <= _DENSE_BITS
    occupied: NDArray[np.bool_] | None = None
    if dense:
        # dense tables over the 2**width buckets: occupied, more than one item, first
        # position, and 32 hash bits from outside the band of the first item (fingerprint)
        size = 1 << band.width
        first = np.concatenate(([0], np.flatnonzero(np.diff(sk)) + 1))  # each distinct key
        run = np.diff(np.append(first, n))
        occupied = np.zeros(size, dtype=np.bool_)
        occupied[sk[first]] = True
        multi = np.zeros(size, dtype=np.bool_)
        multi[sk[first[run > 1]]] = True
        starts = np.zeros(size + 1, dtype=np.int32 if n < 2**31 else np.int64)
        starts[sk[first].astype(np.int64) + 1] = run
        np.cumsum(starts, out=starts)
        rot = (band.shift + band.width) % 64  # rotate the band to the top: low bits are outside
        outside = ((hs >> np.uint64(rot)) | (hs << np.uint64((64 - rot) % 64))).astype(np.uint32)
        fingerprint = np.zeros(size, dtype=np.uint32)
        fingerprint[sk[first]] = outside[first]

    found: list[NDArray[np.int64]] = []

    def bucket(targets: NDArray[np.generic]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if dense:
            t = targets.astype(np.int64)
            return starts[t].astype(np.int64), starts[t + 1].astype(np.int64)
        lo = np.searchsorted(sk, targets, side="left")
        return lo, np.searchsorted(sk, targets, side="right")

    def verify(q: NDArray[np.int64], lo: NDArray[np.int64], hi: NDArray[np.int64]) -> None:
        """Check ``q`` against every item of its bucket ``lo .. hi - 1`` (sorted positions)."""
        counts = hi - lo
        if not q.size:
            return
        if int(counts.max()) == 1:
            a, b = q, lo
            ok = np.bitwise_count(hs[a] ^ hs[b]) <= radius
            if ok.any():
                keep(a[ok], b[ok])
            return
        csum = np.cumsum(counts)
        begin = 0
        while begin < q.size:  # bounded batches: a big bucket (clustered data) cannot blow up
            base = int(csum[begin - 1]) if begin else 0
            stop = max(int(np.searchsorted(csum, base + _CHUNK, side="right")), begin + 1)
            qq, ll, cc = q[begin:stop], lo[begin:stop], counts[begin:stop]
            a = np.repeat(qq, cc)
            b = np.repeat(ll - (np.cumsum(cc) - cc), cc) + np.arange(a.size, dtype=np.int64)
            ok = np.bitwise_count(hs[a] ^ hs[b]) <= radius
            if ok.any():
                keep(a[ok], b[ok])
            begin = stop

    def keep(a: NDArray[np.int64], b: NDArray[np.int64]) -> None:
        ia, ib = order[a], order[b]
        found.append(np.minimum(ia, ib) * n + np.maximum(ia, ib))

    # the work units of this band: the own bucket, then flips grouped by highest bit
    units: list[tuple[int, NDArray[np.uint64]]] = [(-1, np.zeros(1, dtype=np.uint64))]
    units += _flip_groups(band.width, band.threshold)
    flat = [(b, f) for b, fl in units for f in fl.tolist()]
    mine = flat[len(flat) * part // parts : len(flat) * (part + 1) // parts]
    if mine and mine[0][0] == -1:  # pairs in the same bucket: each with the later ones
        pos = np.arange(n, dtype=np.int64)
        _, hi = bucket(sk)
        more = np.flatnonzero(hi > pos + 1)
        verify(pos[more], pos[more] + 1, hi[more])
        mine = mine[1:]
    by_bit: dict[int, list[int]] = {}
    for b, f in mine:
        by_bit.setdefault(b, []).append(f)
    for b, flips_b in by_bit.items():
        sel = np.flatnonzero(((sk >> dtype(b)) & dtype(1)) == 0)  # probe from the 0 side
        if not sel.size:
            continue
        sub: NDArray[Any] = sk[sel]
        osub = outside[sel] if occupied is not None else None
        fl: NDArray[Any] = np.array(flips_b, dtype=dtype)
        step = max(1, _BATCH // sel.size)
        for k in range(0, fl.size, step):
            fk = fl[k : k + step]
            targets = sub ^ fk[0] if fk.size == 1 else (sub[None, :] ^ fk[:, None]).ravel()
            if occupied is None or osub is None:  # wide band: binary search in the sorted keys
                lo, hi = bucket(targets)
                idx = np.flatnonzero(hi > lo)
                verify(sel[idx % sel.size], lo[idx], hi[idx])
                continue
            idx = np.flatnonzero(occupied[targets])
            if not idx.size:
                continue
            col = idx if fk.size == 1 else idx % sel.size
            t = targets[idx]
            several = multi[t]
            # one-item buckets: the pair differs in |f| bits of the band, so at most
            # radius - |f| of the fingerprint bits; this rejects nearly every random hit
            limit = radius - int(np.bitwise_count(fk).min())
            near = np.flatnonzero(np.bitwise_count(osub[col] ^ fingerprint[t]) <= limit)
            near = near[~several[near]]
            if near.size:
                a, b_ = sel[col[near]], starts[t[near]].astype(np.int64)
                ok = np.bitwise_count(hs[a] ^ hs[b_]) <= radius
                if ok.any():
                    keep(a[ok], b_[ok])
            more = np.flatnonzero(several)
            if more.size:  # buckets holding more than one item: check each item
                lo, hi = bucket(t[more])
                verify(sel[col[more]], lo, hi)
    if not found:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(found)


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
