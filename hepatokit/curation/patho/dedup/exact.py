"""Exact and near-duplicate decisions over a set of patches (pure, no files).

Exact duplicates share the MD5 of their bytes or the SHA-256 of their decoded pixels (a
lossless re-encoding); near duplicates have pHashes within ``radius`` bits (and, if given,
dHashes within ``second_radius``), found by multi-index hashing. All links are merged with
union-find; in each cluster one representative is kept — the best quality score, then the
first path in sort order, then the id, so the choice does not depend on input order — and
the others are excluded as ``duplicate_of:<representative id>``. A cluster whose members
carry more than one class is a label conflict: every member is excluded (``label_conflict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hepatokit.curation.patho.dedup.near import UnionFind, near_pairs
from hepatokit.manifest import stable_id

__all__ = ["DedupDecision", "DedupInput", "decide_duplicates"]


@dataclass(frozen=True)
class DedupInput:
    """Column arrays of the items to deduplicate (all the same length)."""

    ids: Sequence[str]
    paths: Sequence[str]
    classes: Sequence[str | None]
    md5: Sequence[str]
    pixel_sha256: Sequence[str]
    phash: NDArray[np.uint64]
    quality: Sequence[float]
    dhash: NDArray[np.uint64] | None = None


@dataclass(frozen=True)
class DedupDecision:
    """The outcome of one item that belongs to a cluster (items in no cluster are kept)."""

    id: str
    cluster_id: str
    representative: str | None  # None for label-conflict clusters
    distance: int  # pHash Hamming distance to the representative (or to the first member)
    link: str  # "exact" (same bytes / pixels as the representative) or "near"
    reason: str | None  # None = kept (the representative)


def _exact_links(uf: UnionFind, keys: Sequence[str]) -> None:
    first: dict[str, int] = {}
    for k, key in enumerate(keys):
        if key in first:
            uf.union(first[key], k)
        else:
            first[key] = k


def decide_duplicates(
    data: DedupInput,
    *,
    radius: int,
    second_radius: int | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> list[DedupDecision]:
    """Cluster exact + near duplicates and choose representatives.

    ``workers`` > 1 searches the multi-index bands in that many processes; an ``executor``
    (process pool, Dask client executor) runs them as its tasks instead.

    Returns
    -------
    list[DedupDecision]
        One decision per member of every cluster of two or more items, ordered by
        ``(cluster_id, id)``.
    """
    n = len(data.ids)
    uf = UnionFind(n)
    _exact_links(uf, data.md5)
    _exact_links(uf, data.pixel_sha256)
    ph = np.asarray(data.phash, dtype=np.uint64)
    i, j, _ = near_pairs(
        ph,
        radius,
        second=data.dhash if second_radius is not None else None,
        second_radius=second_radius,
        workers=workers,
        executor=executor,
    )
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        uf.union(a, b)
    out: list[DedupDecision] = []
    for members in uf.groups():
        ids = sorted(data.ids[m] for m in members)
        cid = stable_id("cluster", *ids)
        classes = {data.classes[m] for m in members if data.classes[m] is not None}
        ranked = sorted(members, key=lambda m: (-data.quality[m], data.paths[m], data.ids[m]))
        head = ranked[0]
        conflict = len(classes) > 1
        for m in members:
            dist = int((int(ph[m]) ^ int(ph[head])).bit_count())
            exact = data.md5[m] == data.md5[head] or data.pixel_sha256[m] == data.pixel_sha256[head]
            if conflict:
                reason: str | None = "label_conflict"
            elif m == head:
                reason = None
            else:
                reason = f"duplicate_of:{data.ids[head]}"
            out.append(
                DedupDecision(
                    id=data.ids[m],
                    cluster_id=cid,
                    representative=None if conflict else data.ids[head],
                    distance=dist,
                    link="exact" if exact else "near",
                    reason=reason,
                )
            )
    return sorted(out, key=lambda d: (d.cluster_id, d.id))
