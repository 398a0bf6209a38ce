"""The search through one band: probe its bucket table, verify the candidates exactly.

The items are sorted by their band key, so a probe's lookups walk the bucket table nearly in
order (cache friendly). A pair ``(i, j)`` is probed from one side only: from the item whose
key has a 0 at the highest flipped bit. Dense bands (up to
:data:`~hepatokit.curation.patho.dedup.bands.DENSE_BITS` bits) get tables over all ``2**width``
buckets (occupied, more than one item, first position, and a 32-bit fingerprint of the first
item's other bits, which rejects nearly every one-item bucket a probe meets); wider bands are
searched by binary search in the sorted keys. :func:`_search_band` is the picklable task of
:func:`hepatokit.curation.patho.dedup.near.near_pairs`: one band, or one part of its flips.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepatokit.curation.patho.dedup.bands import DENSE_BITS, Band, split_flips

__all__: list[str] = []

#: a task: hashes, the band, the radius, this part and the number of parts of its work,
#: and optionally whether to run the compiled loop (default: when numba is installed)
Job = (
    tuple[NDArray[np.uint64], Band, int, int, int]
    | tuple[NDArray[np.uint64], Band, int, int, int, bool]
)

_CHUNK = 4_000_000  # candidate pairs expanded + verified per batch (bounds memory)
_BATCH = 1 << 18  # probes (item × flip) per vectorised step


class _BandIndex:
    """One band's items sorted by key, its bucket tables, and the verified pairs found."""

    def __init__(self, h: NDArray[np.uint64], band: Band, radius: int) -> None:
        self.n = n = h.size
        self.radius = radius
        self.dtype: Any = np.uint32 if band.width <= 32 else np.uint64
        keys: NDArray[Any] = ((h >> np.uint64(band.shift)) & np.uint64(band.mask)).astype(
            self.dtype
        )
        self.order = np.argsort(keys, kind="stable")
        self.sk: NDArray[Any] = keys[self.order]
        self.hs = h[self.order]
        self.dense = band.width <= DENSE_BITS
        self.found: list[NDArray[np.int64]] = []
        empty = np.zeros(0, dtype=np.uint32)
        self.occupied = self.multi = np.zeros(0, dtype=np.bool_)
        self.starts: NDArray[Any] = np.zeros(1, dtype=np.int64)
        self.outside, self.fingerprint = empty, empty
        if self.dense:
            self._build_tables(band, n)

    def _build_tables(self, band: Band, n: int) -> None:
        """Dense tables over the ``2**width`` buckets: occupied, more than one item, first
        position, and 32 hash bits from outside the band of the first item (fingerprint)."""
        sk, hs = self.sk, self.hs
        size = 1 << band.width
        first = np.concatenate(([0], np.flatnonzero(np.diff(sk)) + 1))  # each distinct key
        run = np.diff(np.append(first, n))
        self.occupied = np.zeros(size, dtype=np.bool_)
        self.occupied[sk[first]] = True
        self.multi = np.zeros(size, dtype=np.bool_)
        self.multi[sk[first[run > 1]]] = True
        starts = np.zeros(size + 1, dtype=np.int32 if n < 2**31 else np.int64)
        starts[sk[first].astype(np.int64) + 1] = run
        np.cumsum(starts, out=starts)
        self.starts = starts
        rot = (band.shift + band.width) % 64  # rotate the band to the top: low bits are outside
        self.outside = ((hs >> np.uint64(rot)) | (hs << np.uint64((64 - rot) % 64))).astype(
            np.uint32
        )
        self.fingerprint = np.zeros(size, dtype=np.uint32)
        self.fingerprint[sk[first]] = self.outside[first]

    def bucket(self, targets: NDArray[Any]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Sorted positions ``lo .. hi - 1`` of the items whose key is each target."""
        if self.dense:
            t = targets.astype(np.int64)
            return self.starts[t].astype(np.int64), self.starts[t + 1].astype(np.int64)
        lo = np.searchsorted(self.sk, targets, side="left")
        return lo, np.searchsorted(self.sk, targets, side="right")

    def check(self, a: NDArray[np.int64], b: NDArray[np.int64]) -> None:
        """Keep the pairs of sorted positions ``(a, b)`` within the radius, as pair keys
        ``min(i, j) * n + max(i, j)`` of the original items."""
        ok = np.bitwise_count(self.hs[a] ^ self.hs[b]) <= self.radius
        if ok.any():
            ia, ib = self.order[a[ok]], self.order[b[ok]]
            self.found.append(np.minimum(ia, ib) * self.n + np.maximum(ia, ib))

    def verify(self, q: NDArray[np.int64], lo: NDArray[np.int64], hi: NDArray[np.int64]) -> None:
        """Check ``q`` against every item of its bucket ``lo .. hi - 1`` (sorted positions)."""
        counts = hi - lo
        if not q.size:
            return
        if int(counts.max()) == 1:
            self.check(q, lo)
            return
        csum = np.cumsum(counts)
        begin = 0
        while begin < q.size:  # bounded batches: a big bucket (clustered data) cannot blow up
            base = int(csum[begin - 1]) if begin else 0
            stop = max(int(np.searchsorted(csum, base + _CHUNK, side="right")), begin + 1)
            qq, ll, cc = q[begin:stop], lo[begin:stop], counts[begin:stop]
            a = np.repeat(qq, cc)
            b = np.repeat(ll - (np.cumsum(cc) - cc), cc) + np.arange(a.size, dtype=np.int64)
            self.check(a, b)
            begin = stop

    def probe_own_buckets(self) -> None:
        """Pairs with equal band keys: each item with the later ones of its bucket."""
        pos = np.arange(self.n, dtype=np.int64)
        _, hi = self.bucket(self.sk)
        more = np.flatnonzero(hi > pos + 1)
        self.verify(pos[more], pos[more] + 1, hi[more])

    def probe_flips(self, b: int, flips_b: list[int]) -> None:
        """Probe ``flips_b`` (flips whose highest bit is ``b``) from the items with a 0 there."""
        sk, dtype = self.sk, self.dtype
        sel = np.flatnonzero(((sk >> dtype(b)) & dtype(1)) == 0)  # probe from the 0 side
        if not sel.size:
            return
        sub: NDArray[Any] = sk[sel]
        osub = self.outside[sel] if self.dense else self.outside
        fl: NDArray[Any] = np.array(flips_b, dtype=dtype)
        step = max(1, _BATCH // sel.size)
        for k in range(0, fl.size, step):
            fk = fl[k : k + step]
            targets = sub ^ fk[0] if fk.size == 1 else (sub[None, :] ^ fk[:, None]).ravel()
            if self.dense:
                self._probe_dense(sel, osub, fk, targets)
                continue
            lo, hi = self.bucket(targets)  # wide band: binary search in the sorted keys
            idx = np.flatnonzero(hi > lo)
            self.verify(sel[idx % sel.size], lo[idx], hi[idx])

    def _probe_dense(
        self, sel: NDArray[np.int64], osub: NDArray[np.uint32], fk: NDArray[Any],
        targets: NDArray[Any],
    ) -> None:  # fmt: skip
        """One batch of probes ``targets`` (items ``sel`` × flips ``fk``) of a dense band."""
        idx = np.flatnonzero(self.occupied[targets])
        if not idx.size:
            return
        col = idx if fk.size == 1 else idx % sel.size
        t = targets[idx]
        several = self.multi[t]
        # one-item buckets: the pair differs in |f| bits of the band, so at most
        # radius - |f| of the fingerprint bits; this rejects nearly every random hit
        limit = self.radius - int(np.bitwise_count(fk).min())
        near = np.flatnonzero(np.bitwise_count(osub[col] ^ self.fingerprint[t]) <= limit)
        near = near[~several[near]]
        if near.size:
            self.check(sel[col[near]], self.starts[t[near]].astype(np.int64))
        more = np.flatnonzero(several)
        if more.size:  # buckets holding more than one item: check each item
            lo, hi = self.bucket(t[more])
            self.verify(sel[col[more]], lo, hi)


def compiled_available() -> bool:
    """Whether the compiled loop runs (numba installed, not switched off)."""
    from hepatokit.curation.patho.dedup.compiled import available

    return available()


def _search_band(job: Job) -> NDArray[np.int64]:
    """Verified pair keys ``min(i, j) * n + max(i, j)`` found through one band, or through
    part ``part`` of ``parts`` of its flips (a picklable work item). Within a band, each
    pair is found at most once."""
    h, band, radius, part, parts = job[:5]
    if compiled_available() if len(job) < 6 else job[5] and compiled_available():
        from hepatokit.curation.patho.dedup.compiled import search_band_compiled

        return search_band_compiled(h, band, radius, part, parts)
    index = _BandIndex(h, band, radius)
    own, by_bit = split_flips(band, part, parts)
    if own:
        index.probe_own_buckets()
    for b, flips_b in by_bit.items():
        index.probe_flips(b, flips_b)
    if not index.found:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(index.found)
