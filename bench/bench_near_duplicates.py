"""Near-duplicate search over 64-bit pHashes: hepatokit's multi-index hashing vs faiss.

    python bench/bench_near_duplicates.py [--sizes 140000,1000000,5000000] [--radius 10]
        [--workers 2] [--faiss] [--inline] [--hashes hashes.parquet]
        [--kernels numba,numpy] [--rounds 2] [--compare-plans 8]

Hash sets: ``uniform`` (random 64-bit) with 3 % planted near duplicates (1–radius bit flips),
or the ``phash`` column of a build's ``hashes.parquet`` (``--hashes``). For each size:

- ``near_pairs`` with ``--workers`` processes (wall time), and in one process (``--inline``,
  wall and CPU time);
- ``--kernels``: the search paths timed, in the same process, alternating for ``--rounds``
  rounds (best of each): ``numba`` (the compiled loop, the ``fast`` extra) and ``numpy``;
  the first is the one timed above, the others are compared with it (same pairs asserted);
- with ``--faiss`` (the ``bench`` extra), in the same process, as the reference run:
  ``IndexBinaryMultiHash`` set up to be exact (3 hash tables of 21 bits, 3 flips: by the
  pigeonhole principle every pair within 10 bits shares a probed bucket) and
  ``IndexBinaryHash`` (one 16-bit table, 2 flips: fast but not exact, its recall is shown);
  both answer ``range_search`` over all items, with ``--workers`` OpenMP threads;
- the pairs are checked: equal to faiss's exact index, and to a brute-force scan on the
  first ``--subset`` items.

``--compare-plans K``: the K plans the compiled cost model ranks cheapest (and the plan it
chooses), each timed band by band through the compiled loop (CPU, best of ``--rounds``,
alternating): whether the chosen plan is the cheapest measured.

The growth exponent between consecutive sizes is ``log(t2 / t1) / log(n2 / n1)``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time

import numpy as np

from hepatokit.curation.patho.dedup.near import near_pairs, plan_bands


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


def brute_force_keys(h: np.ndarray, radius: int) -> set[tuple[int, int]]:
    out = set()
    for i in range(h.size - 1):
        j = np.nonzero(np.bitwise_count(h[i + 1 :] ^ h[i]) <= radius)[0] + i + 1
        out.update((i, int(k)) for k in j)
    return out


def faiss_pairs(h: np.ndarray, radius: int, kind: str, threads: int) -> tuple[float, np.ndarray]:
    """All pairs ``i * n + j`` (i < j) within ``radius`` by a faiss binary hash index."""
    import faiss

    faiss.omp_set_num_threads(threads)
    x = np.ascontiguousarray(h).view(np.uint8).reshape(-1, 8)
    t0 = time.perf_counter()
    if kind == "multihash":
        index = faiss.IndexBinaryMultiHash(64, 3, 21)
        index.nflip = 3  # 3 tables × (3 + 1) > 10: exact
    else:
        index = faiss.IndexBinaryHash(64, 16)
        index.nflip = 2
    index.add(x)
    lims, _, ids = index.range_search(x, radius + 1)  # faiss: distance < threshold
    dt = time.perf_counter() - t0
    q = np.repeat(np.arange(h.size, dtype=np.int64), np.diff(lims).astype(np.int64))
    ids = ids.astype(np.int64)
    keep = q < ids
    return dt, np.unique(q[keep] * h.size + ids[keep])


def compare_plans(h: np.ndarray, radius: int, k: int, rounds: int) -> None:
    """CPU time of the ``k`` plans the compiled cost model ranks cheapest, band by band."""
    from hepatokit.curation.patho.dedup import bands as b
    from hepatokit.curation.patho.dedup.compiled import search_band_compiled

    n = h.size

    def model(plan: tuple[b.Band, ...]) -> float:
        return sum(b._band_cost_compiled(n, x.width, x.threshold) for x in plan)

    plans = [p for p in b._plans(radius, None)
             if all(b._ball(x.width, x.threshold) <= b._MAX_FLIPS for x in p)]  # fmt: skip
    plans = sorted(plans, key=model)[:k]
    chosen = plan_bands(n, radius, compiled=True)
    best = dict.fromkeys(plans, math.inf)
    for _ in range(rounds):
        for p in plans:
            c0 = time.process_time()
            found = [search_band_compiled(h, x, radius, 0, 1) for x in p if x.threshold >= 0]
            np.unique(np.concatenate(found))
            best[p] = min(best[p], time.process_time() - c0)
    for p in sorted(plans, key=best.__getitem__):
        mark = "  <- chosen" if p == chosen else ""
        print(f"  plan CPU {best[p] * 1e3:8.1f} ms  model {model(p) / 1e6:7.1f} ms  "
              f"{[(x.width, x.threshold) for x in p]}{mark}", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="140000,1000000")
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--subset", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--inline", action="store_true", help="also time one process")
    ap.add_argument("--faiss", action="store_true", help="compare with faiss (bench extra)")
    ap.add_argument(
        "--faiss-exact-max",
        type=int,
        default=60_000,
        help="largest size for faiss's exact multi-hash index (slow with 3 flips)",
    )
    ap.add_argument("--hashes", default=None, help="hashes.parquet of a build")
    ap.add_argument("--kernels", default="numba", help="numba,numpy: paths timed (first: main)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (best of)")
    ap.add_argument("--compare-plans", type=int, default=0, help="time the K cheapest plans")
    args = ap.parse_args()
    kernels = [k.strip() == "numba" for k in args.kernels.split(",")]
    r = args.radius
    if args.hashes:
        import pyarrow.parquet as pq

        from hepatokit.curation.patho.features.hashing import hex_to_uint64

        sets = {"build": hex_to_uint64(pq.read_table(args.hashes).column("phash").to_pylist())}
    else:
        sets = {
            f"uniform-{n}": make_hashes("uniform", n, r) for n in map(int, args.sizes.split(","))
        }
    rows = []
    for name, h in sets.items():
        n = h.size
        for compiled in kernels:
            plan = [(b.width, b.threshold) for b in plan_bands(n, r, compiled=compiled)]
            print(f"[{name}] n={n} radius={r}: {'numba' if compiled else 'numpy'} plan "
                  f"(width, threshold) {plan}", flush=True)  # fmt: skip
        best: dict[bool, tuple[float, float]] = {}
        keys = np.empty(0, dtype=np.int64)
        for rnd in range(args.rounds):
            for compiled in kernels:
                load = os.getloadavg()[0]
                t0, c0 = time.perf_counter(), time.process_time()
                i, j, _ = near_pairs(h, r, workers=args.workers, compiled=compiled)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                got = i * n + j
                if keys.size or rnd or compiled != kernels[0]:
                    assert np.array_equal(got, keys), "the search paths disagree"
                keys = got
                b = best.get(compiled, (math.inf, math.inf))
                best[compiled] = (min(b[0], wall), min(b[1], cpu))
                name = "numba" if compiled else "numpy"
                print(f"  round {rnd} {name:5s} {args.workers} processes: wall {wall:8.3f} s  "
                      f"CPU (this process) {cpu:8.3f} s  load {load:.1f}  {got.size} pairs",
                      flush=True)  # fmt: skip
        t_par, cpu_par = best[kernels[0]]
        if len(best) > 1:
            other = best[kernels[1]]
            print(f"  best {args.kernels}: wall {t_par:.3f} / {other[0]:.3f} s, CPU "
                  f"{cpu_par:.3f} / {other[1]:.3f} s: ratio {t_par / other[0]:.3f} wall, "
                  f"{cpu_par / other[1]:.3f} CPU", flush=True)  # fmt: skip
        row = {"n": n, "par": t_par}
        if args.workers == 1:
            row["cpu"] = cpu_par
        if args.inline:
            t0, c0 = time.perf_counter(), time.process_time()
            i1, j1, _ = near_pairs(h, r, compiled=kernels[0])
            row["inline"] = time.perf_counter() - t0
            row["cpu"] = time.process_time() - c0
            assert np.array_equal(i1 * n + j1, keys)
            print(f"  hepatokit, 1 process   : {row['inline']:8.2f} s  (CPU {row['cpu']:.2f} s)",
                  flush=True)  # fmt: skip
        if args.faiss and n <= args.faiss_exact_max:
            t_mh, mh = faiss_pairs(h, r, "multihash", args.workers)
            assert np.array_equal(mh, keys), "faiss exact multi-hash disagrees"
            row["faiss_mh"] = t_mh
            print(f"  faiss IndexBinaryMultiHash (exact) : {t_mh:8.2f} s  same pairs: yes; "
                  f"hepatokit / faiss = {t_par / t_mh:.2f}", flush=True)  # fmt: skip
        if args.faiss:
            t_h, bh = faiss_pairs(h, r, "hash", args.workers)
            recall = np.isin(keys, bh).mean() if keys.size else 1.0
            row["faiss_h"] = t_h
            print(f"  faiss IndexBinaryHash (16 bits, 2 flips): {t_h:8.2f} s  recall {recall:.4f}; "
                  f"hepatokit / faiss = {t_par / t_h:.2f}", flush=True)  # fmt: skip
        m = min(n, args.subset)
        si, sj, _ = near_pairs(h[:m], r)
        assert set(zip(si.tolist(), sj.tolist(), strict=True)) == brute_force_keys(h[:m], r)
        print(f"  same pairs as brute force on the first {m}: yes", flush=True)
        rows.append(row)
        if args.compare_plans:
            compare_plans(h, r, args.compare_plans, args.rounds)
    pairs_of_rows = list(itertools.pairwise(rows))
    if len(rows) > 2:
        pairs_of_rows.append((rows[0], rows[-1]))
    for a, b in pairs_of_rows:
        for k in ("par", "inline", "cpu", "faiss_mh"):
            if k in a and k in b:
                e = math.log(b[k] / a[k]) / math.log(b["n"] / a["n"])
                print(f"growth exponent {a['n']} -> {b['n']} ({k}): {e:.2f}")


if __name__ == "__main__":
    main()
