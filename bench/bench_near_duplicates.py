"""Near-duplicate search over 140k 64-bit pHashes: multi-index hashing vs BK-tree vs brute force.

    python bench/bench_near_duplicates.py [--n 140000] [--radius 10] [--hashes hashes.parquet]

Hash sets: ``uniform`` (random 64-bit), ``clustered`` (texture-like: hashes spread 10–24
bits around a few thousand centres, like H&E pHashes, which sit closer together than random
ones) — both with 3 % planted near duplicates (1–radius bit flips) — or the ``phash``
column of a build's ``hashes.parquet`` (``--hashes``). The plain Python one-against-all loop
and the BK-tree are timed on a subset and extrapolated (quadratic / measured per query);
all three must return the same pairs (checked on the subset).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hepatokit.curation.patho.near_duplicates import near_pairs


class BKTree:
    """A Burkhard–Keller tree over Hamming distance (the usual metric-tree baseline)."""

    def __init__(self) -> None:
        self.root: list | None = None  # [value, index, {distance: child}]

    def add(self, value: int, index: int) -> None:
        if self.root is None:
            self.root = [value, index, {}]
            return
        node = self.root
        while True:
            d = (value ^ node[0]).bit_count()
            child = node[2].get(d)
            if child is None:
                node[2][d] = [value, index, {}]
                return
            node = child

    def query(self, value: int, radius: int) -> list[int]:
        out, stack = [], [self.root] if self.root else []
        while stack:
            node = stack.pop()
            d = (value ^ node[0]).bit_count()
            if d <= radius:
                out.append(node[1])
            for k, child in node[2].items():
                if d - radius <= k <= d + radius:
                    stack.append(child)
        return out


def bk_pairs(values: list[int], radius: int) -> set[tuple[int, int]]:
    tree, pairs = BKTree(), set()
    for i, v in enumerate(values):
        for j in tree.query(v, radius):
            pairs.add((j, i))
        tree.add(v, i)
    return pairs


def python_pairs(values: list[int], radius: int) -> set[tuple[int, int]]:
    pairs = set()
    for i, a in enumerate(values):
        for j in range(i + 1, len(values)):
            if (a ^ values[j]).bit_count() <= radius:
                pairs.add((i, j))
    return pairs


def make_hashes(kind: str, n: int, radius: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        h = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(
            0, 2, n
        ).astype(np.uint64)
    else:
        centres = rng.integers(0, 2**63, max(1, n // 40), dtype=np.uint64) * np.uint64(2)
        h = centres[rng.integers(0, centres.size, n)]
        flips = rng.integers(5, 13, n)  # 10–24 bits from the centre → NN distances ~10–20
        for k in range(12):
            bit = rng.integers(0, 64, n).astype(np.uint64)
            m = flips > k
            h[m] ^= np.uint64(1) << bit[m]
    dup = rng.choice(n, int(0.03 * n), replace=False)
    src = rng.integers(0, n, dup.size)
    h[dup] = h[src]
    for _ in range(radius):
        bit = rng.integers(0, 64, dup.size).astype(np.uint64)
        m = rng.random(dup.size) < 0.5
        h[dup[m]] ^= np.uint64(1) << bit[m]
    return h


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=140_000)
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--subset", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hashes", default=None, help="hashes.parquet of a build")
    args = ap.parse_args()
    sets = {}
    if args.hashes:
        import pyarrow.parquet as pq

        from hepatokit.curation.patho.hashing import hex_to_uint64

        sets["build"] = hex_to_uint64(pq.read_table(args.hashes).column("phash").to_pylist())
    else:
        sets = {k: make_hashes(k, args.n, args.radius) for k in ("uniform", "clustered")}
    for name, h in sets.items():
        n = h.size
        t0 = time.perf_counter()
        i, j, _ = near_pairs(h, args.radius)
        t_mih1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        i2, j2, _ = near_pairs(h, args.radius, workers=args.workers)
        t_mih = time.perf_counter() - t0
        assert np.array_equal(i, i2) and np.array_equal(j, j2)
        sub = h[: args.subset].tolist()
        t0 = time.perf_counter()
        ref = python_pairs(sub, args.radius)
        t_py = time.perf_counter() - t0
        t0 = time.perf_counter()
        bk = bk_pairs(sub, args.radius)
        t_bk_sub = time.perf_counter() - t0
        si, sj, _ = near_pairs(h[: args.subset], args.radius)
        mih_sub = set(zip(si.tolist(), sj.tolist(), strict=True))
        assert mih_sub == ref == bk, "the three searches disagree"
        # extrapolate: brute force is quadratic; BK-tree measured per query on a larger prefix
        py_full = t_py * (n / args.subset) ** 2
        m = min(n, 8_000)
        t0 = time.perf_counter()
        bk_pairs(h[:m].tolist(), args.radius)
        t_bk_m = time.perf_counter() - t0
        bk_full = t_bk_m * (n / m) ** 1.5  # BK-tree queries grow sub-linearly per item at best
        print(f"[{name}] n={n} radius={args.radius}: {len(i)} pairs")
        print(
            f"  multi-index hashing : {t_mih:8.2f} s   ({args.workers} processes; "
            f"{t_mih1:.2f} s in one)"
        )
        print(
            f"  python one-vs-all   : {py_full:8.0f} s   "
            f"(extrapolated from {args.subset}: {t_py:.1f} s)"
        )
        print(
            f"  BK-tree             : {bk_full:8.0f} s   (extrapolated from {m}: {t_bk_m:.1f} s; "
            f"{args.subset}: {t_bk_sub:.1f} s)"
        )
        print(
            f"  same pairs on {args.subset}: yes ({len(ref)} pairs);  speed-up vs python "
            f"{py_full / t_mih:.0f}x, vs BK-tree {bk_full / t_mih:.0f}x;  ratio to 10 s goal "
            f"{t_mih / 10:.2f}"
        )


if __name__ == "__main__":
    main()
