# numba's @intrinsic functions are typed as taking the typing context first: their calls
# inside the kernels look like missing arguments to mypy (only where numba is installed)
# mypy: disable-error-code="call-arg"
"""The numba kernels of :mod:`hepatokit.curation.patho.dedup.compiled` (imported only where
numba is installed; compiled at first use and cached by numba).

Why each piece is here (CPU time on the 2-core bench machine, uniform hashes, radius 10,
one band; bench/RESULTS.md, "bucket-pair joins"):

- :func:`sort_band`: a counting sort by band key, ~8 ns an item against ~65–75 ns for
  ``np.argsort(kind="stable")`` + the two gathers (140k and 1 M hashes, 12–20-bit keys);
- :func:`probe_dense` joins a *bucket* with each probed bucket (8 items of one side against
  all of the other, in SIMD registers) instead of looking every item's probe up on its own:
  the probes that meet an occupied bucket are paid once a bucket, not once an item, and the
  pairs are checked ~8 at a time. A (16, 2) band of 1 M hashes: 0.21 s against 0.84 s for
  the per-item loop it replaced, a (13, 1) band 0.13 s against 0.48 s;
- every loop that should vectorise indexes with unsigned integers: with a signed index
  numba guards against negative indices, and LLVM gathers instead of loading (a bucket
  check of 122 × 122 hashes ran at 0.45 ns a pair instead of 0.066).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

_LOW = 6  # low key bits resolved inside one bitmap word
_BLOCK = 512  # items per block (sorted by key) of a wide band's probes
LANES = 8  # items of one bucket checked at once against the other bucket (one zmm register)


def _popcount(typingctx: Any, x: Any) -> Any:
    """LLVM's ``ctpop`` on a uint64: one POPCNT instruction (VPOPCNTQ when vectorised)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


def _trailing_zeros(typingctx: Any, x: Any) -> Any:
    """LLVM's ``cttz`` on a uint64 (never given 0)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


# typed as Any: numba's intrinsic objects take the typing context, which the calls inside
# the compiled functions never pass
popcount: Any = intrinsic(_popcount)
trailing_zeros: Any = intrinsic(_trailing_zeros)


njit = numba.njit(cache=True, nogil=True)
inline = numba.njit(cache=True, nogil=True, inline="always")
one = np.uint64(1)

# The kernels write pair keys into ``out`` (fixed size: no array is reallocated in the
# loops) unit by unit; a unit that overflows ``out`` is undone and the kernel returns
# ``(k, unit, needed)``: the caller grows ``out`` and resumes at that unit.


@njit
def sort_band(h: Any, shift: int, width: int) -> Any:
    """Items sorted by their ``width``-bit key at ``shift`` (counting sort, stable): the
    order, the sorted keys (uint32) and hashes (followed by ``LANES`` zeros, read past the
    end by :func:`_any_close`)."""
    n = h.size
    mask = np.uint64((1 << width) - 1)
    sh = np.uint64(shift)
    count = np.zeros((1 << width) + 1, dtype=np.int64)
    for p in range(n):
        count[np.int64((h[p] >> sh) & mask) + 1] += 1
    for i in range(1 << width):
        count[i + 1] += count[i]
    order = np.empty(n, dtype=np.int64)
    sk = np.empty(n, dtype=np.uint32)
    hs = np.zeros(n + LANES, dtype=np.uint64)
    for p in range(n):
        key = np.int64((h[p] >> sh) & mask)
        pos = count[key]
        count[key] = pos + 1
        order[pos] = p
        sk[pos] = key
        hs[pos] = h[p]
    return order, sk, hs


@njit
def tables(sk: Any, width: int) -> Any:
    """Bitmap of the occupied buckets and the rank of each word (occupied buckets before
    it); each bucket's first sorted position (plus ``n``) and key; the runs of buckets that
    share a bitmap word (first bucket plus the count, words); blocks of runs over 64
    aligned words."""
    n = sk.size
    words = max(1, (1 << width) >> _LOW)
    bitmap = np.zeros(words, dtype=np.uint64)
    dstart = np.empty(n + 1, dtype=np.int64)
    dkey = np.empty(n, dtype=np.uint32)
    runs = np.empty(n + 1, dtype=np.int64)
    run_word = np.empty(n, dtype=np.uint64)
    d = 0
    n_runs = 0
    low = np.uint64(_LOW)
    for p in range(n):
        if p == 0 or sk[p] != sk[p - 1]:
            key = np.uint64(sk[p])
            hi = key >> low
            bitmap[hi] |= one << (key & np.uint64(63))
            dstart[d] = p
            dkey[d] = sk[p]
            if n_runs == 0 or run_word[n_runs - 1] != hi:
                runs[n_runs] = d
                run_word[n_runs] = hi
                n_runs += 1
            d += 1
    dstart[d] = n
    runs[n_runs] = d
    blocks = np.empty(n_runs + 1, dtype=np.int64)
    n_blocks = 0
    for ri in range(n_runs):
        if ri == 0 or (run_word[ri] >> low) != (run_word[ri - 1] >> low):
            blocks[n_blocks] = ri
            n_blocks += 1
    blocks[n_blocks] = n_runs
    rank = np.empty(words, dtype=np.int64)
    acc = np.int64(0)
    for w in range(words):
        rank[w] = acc
        acc += np.int64(popcount(bitmap[w]))
    return (bitmap, rank, dstart[: d + 1], dkey[:d], runs[: n_runs + 1], run_word[:n_runs],
            blocks[: n_blocks + 1])  # fmt: skip


@inline
def _load(hs: Any, lanes: Any, pa: int, na: int) -> None:
    """Items ``pa .. pa + na - 1`` into the lanes, the spare lanes repeating the first."""
    for j in range(LANES):
        lanes[j] = hs[pa + j] if j < na else hs[pa]


@inline
def _any_close(lanes: Any, hs: Any, sb: int, eb: int, r: Any) -> Any:
    """Whether any lane is within ``r`` bits of an item of ``sb .. eb - 1`` (or of the few
    items after it, up to a multiple of ``LANES``: a filter, :func:`_emit` checks exactly).
    Branch-free; LLVM vectorises it over the items, all lanes each."""
    close = False
    end = np.uint64(sb) + ((np.uint64(eb - sb) + np.uint64(LANES - 1)) & ~np.uint64(LANES - 1))
    for q in range(np.uint64(sb), end):
        y = hs[q]
        for j in range(LANES):
            close |= popcount(lanes[j] ^ y) <= r
    return close


@njit
def _emit(hs: Any, order: Any, n: int, pa: int, na: int, sb: int, eb: int, r: Any,
          out: Any, k: int) -> int:  # fmt: skip
    """The pairs within ``r`` bits between items ``pa .. pa + na - 1`` and ``sb .. eb - 1``."""
    cap = out.size
    for p in range(pa, pa + na):
        x = hs[p]
        a = order[p]
        for q in range(sb, eb):
            if popcount(x ^ hs[q]) <= r:
                if k < cap:
                    b = order[q]
                    out[k] = a * n + b if a < b else b * n + a
                k += 1
    return k


@njit
def own_buckets(hs: Any, order: Any, dstart: Any, radius: int, out: Any, k: int,
                start: int) -> Any:  # fmt: skip
    """Pairs with equal band keys: the items of each bucket (a unit) among themselves,
    ``LANES`` at a time against the later ones."""
    n = order.size
    r = np.uint64(radius)
    lanes = np.empty(LANES, dtype=np.uint64)
    cap = out.size
    for d in range(start, dstart.size - 1):
        k0 = k
        s, e = dstart[d], dstart[d + 1]
        for pa in range(s, e, LANES):
            na = min(LANES, e - pa)
            for i in range(pa + 1, pa + na):  # inside the chunk
                k = _emit(hs, order, n, i - 1, 1, i, pa + na, r, out, k)
            if pa + na < e:
                _load(hs, lanes, pa, na)
                if _any_close(lanes, hs, pa + na, e, r):
                    k = _emit(hs, order, n, pa, na, pa + na, e, r, out, k)
        if k > cap:
            return k0, d, k
    return k, dstart.size - 1, k


@njit
def probe_dense(
    hs: Any, order: Any, bitmap: Any, rank: Any, dstart: Any, dkey: Any, runs: Any,
    run_word: Any, blocks: Any, gs: Any, gbits: Any, ball: Any, above: Any, threshold: int,
    radius: int, out: Any, k: int, start: int,
) -> Any:  # fmt: skip
    """Every high-bit flip ``gs`` (``gbits`` bits set) with its ball of low-bit flips, from
    each bucket: one bitmap word (ANDed with the ball around the bucket's low key bits)
    gives the occupied buckets to join it with. A unit is a block of runs (64 aligned
    words) × one high-bit flip; with ``gs`` sorted, consecutive flips of a block read the
    same words and buckets. A pair is probed from one side only (the larger word, or in the
    same word the larger low bits)."""
    n = order.size
    cap = out.size
    r = np.uint64(radius)
    m63 = np.uint64(63)
    lanes = np.empty(LANES, dtype=np.uint64)
    n_g = gs.size
    n_units = (blocks.size - 1) * n_g
    for unit in range(start, n_units):
        gi = unit % n_g
        g = gs[gi]
        left = threshold - gbits[gi]
        k0 = k
        for ri in range(blocks[unit // n_g], blocks[unit // n_g + 1]):
            hi = run_word[ri]
            th = hi ^ g
            if th < hi:
                continue  # probed from the other side
            full = bitmap[th]
            if full == 0:
                continue
            base = rank[th]
            for da in range(runs[ri], runs[ri + 1]):
                lo = np.uint64(dkey[da]) & m63
                word = full & (above[left, lo] if g == 0 else ball[left, lo])
                if word == 0:
                    continue
                s, e = dstart[da], dstart[da + 1]
                for pa in range(s, e, LANES):
                    na = min(LANES, e - pa)
                    _load(hs, lanes, pa, na)
                    rest = word
                    while rest != 0:
                        bit = trailing_zeros(rest)
                        rest &= rest - one
                        db = base + np.int64(popcount(full & ((one << bit) - one)))
                        sb, eb = dstart[db], dstart[db + 1]
                        if _any_close(lanes, hs, sb, eb, r):
                            k = _emit(hs, order, n, pa, na, sb, eb, r, out, k)
        if k > cap:
            return k0, unit, k
    return k, n_units, k


@njit
def own_sorted(sk: Any, hs: Any, order: Any, radius: int, out: Any, k: int, start: int) -> Any:
    """Pairs with equal keys of a wide band: each item (a unit) with the later ones of its
    bucket."""
    n = sk.size
    cap = out.size
    for p in range(start, n):
        k0 = k
        q = p + 1
        while q < n and sk[q] == sk[p]:
            q += 1
        k = _emit(hs, order, n, p, 1, p + 1, q, np.uint64(radius), out, k)
        if k > cap:
            return k0, p, k
    return k, n, k


@njit
def probe_sorted(
    sk: Any, hs: Any, order: Any, flips: Any, radius: int, out: Any, k: int, start: int
) -> Any:
    """Every flip of a wide band, by binary search in the sorted keys (one-sided);
    a unit is one block of items × one flip."""
    n = sk.size
    cap = out.size
    r = np.uint64(radius)
    n_f = flips.size
    n_units = ((n + _BLOCK - 1) // _BLOCK) * n_f
    for unit in range(start, n_units):
        f = flips[unit % n_f]
        b0 = (unit // n_f) * _BLOCK
        b1 = min(n, b0 + _BLOCK)
        k0 = k
        for p in range(b0, b1):
            key = sk[p]
            t = key ^ f
            if t < key:
                continue
            q = np.searchsorted(sk, t)
            e = q
            while e < n and sk[e] == t:
                e += 1
            k = _emit(hs, order, n, p, 1, q, e, r, out, k)
        if k > cap:
            return k0, unit, k
    return k, n_units, k
