"""Benchmarks of the split stage: near-duplicate leakage search and assignment throughput.

    python bench/bench_splits.py [--hashes 20000 100000] [--rows 150000]

1. Cross-split near-duplicate search (multi-index hashing, ``hepatokit.splits.hamming``)
   against brute force (all pairs, XOR + popcount in numpy blocks) on the same hashes; the
   results must be equal. Goal: ≥ 3× faster at 20k hashes, the gap growing with n.
2. ``assign_splits`` on a HepatoBench-sized table (rows of patches, ~100 per slide), with
   scikit-learn's ``GroupShuffleSplit`` (grouped, neither stratified nor balanced) on the same
   table as the reference. Goal: under 1 s per 100k rows (the rest of a build dwarfs it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

from hepatokit.splits import assign_splits
from hepatokit.splits.hamming import cross_split_pairs


def brute_force(hashes: np.ndarray, splits: np.ndarray, radius: int) -> list[tuple[int, int, int]]:
    out = []
    for i in range(hashes.size - 1):
        d = np.bitwise_count(hashes[i + 1 :] ^ hashes[i]).astype(np.int64)
        js = np.flatnonzero((d <= radius) & (splits[i + 1 :] != splits[i])) + i + 1
        out += [(i, int(j), int(d[j - i - 1])) for j in js]
    return out


def bench_near(n: int, radius: int = 6) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, n // 2, dtype=np.uint64) * np.uint64(2) + rng.integers(
        0, 2, n // 2, dtype=np.uint64
    )
    flips = np.array(
        [
            sum(1 << int(b) for b in rng.choice(64, rng.integers(0, radius + 1), replace=False))
            for _ in range(n - base.size)
        ],
        dtype=np.uint64,
    )
    hashes = np.concatenate([base, base[: flips.size] ^ flips])
    splits = rng.integers(0, 3, hashes.size)
    t0 = time.perf_counter()
    fast = cross_split_pairs(hashes, splits, radius)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = brute_force(hashes, splits, radius)
    t_slow = time.perf_counter() - t0
    assert fast == sorted(slow), "multi-index result differs from brute force"
    print(f"near-duplicate search, n={hashes.size}, radius={radius}: {len(fast)} cross-split pairs")
    ratio = t_slow / t_fast
    print(f"  multi-index {t_fast:.3f} s, brute force {t_slow:.3f} s")
    print(f"  speed-up {ratio:.1f}x (goal >= 3x at 20k hashes, growing with n)")


def bench_assign(rows: int) -> None:
    from sklearn.model_selection import GroupShuffleSplit

    rng = np.random.default_rng(1)
    slides = rng.integers(0, max(1, rows // 100), rows)
    classes = np.array(["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"])
    table = pa.table(
        {
            "id": [f"p{i}" for i in range(rows)],
            "slide_id": [f"s{s}" for s in slides],
            "class": classes[(slides + rng.integers(0, 2, rows)) % 7],
        }
    )
    t0 = time.perf_counter()
    out = assign_splits(table, group="slide_id", stratify="class", ratios="7:2:1", seed=0)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    gss = GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=0)
    _, rest = next(gss.split(np.zeros(rows), groups=slides))
    gss2 = GroupShuffleSplit(n_splits=1, test_size=1 / 3, random_state=0)
    next(gss2.split(np.zeros(rest.size), groups=slides[rest]))
    t_ref = time.perf_counter() - t0
    n_split = len(set(out["split"].to_pylist()))
    print(f"assign_splits, {rows} rows / {len(set(slides.tolist()))} slides → {n_split} splits")
    print(f"  hepatokit {t_ours:.3f} s, sklearn GroupShuffleSplit x2 {t_ref:.3f} s")
    print(f"  ratio {t_ours / t_ref:.1f}x the reference time (goal: under 1 s per 100k rows)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--hashes", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--rows", type=int, default=150000)
    args = ap.parse_args()
    for n in args.hashes:
        bench_near(n)
    bench_assign(args.rows)
