# numba's @intrinsic functions are typed as taking the typing context first: their calls
# inside the kernels look like missing arguments to mypy (only where numba is installed)
# mypy: disable-error-code="call-arg"
"""The numba kernels of :mod:`hepatokit.curation.patho.dedup.compiled` (imported only where
numba is installed; compiled at first use and cached by numba)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

_LOW = 6  # low key bits resolved inside one bitmap word
_BLOCK = 512  # items per block (sorted by key)


def _popcount(typingctx: Any, x: Any) -> Any:
    """LLVM's ``ctpop`` on a uint64: one POPCNT instruction."""

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
one = np.uint64(1)

# The kernels write pair keys into ``out`` (fixed size: no array is reallocated in the
# loops) unit by unit; a unit that overflows ``out`` is undone and the kernel returns
# ``(k, unit, needed)``: the caller grows ``out`` and resumes at that unit.


@njit
def own_buckets(sk: Any, hs: Any, order: Any, radius: int, out: Any, k: int, start: int) -> Any:
    """Pairs with equal band keys: each item (a unit) with the later ones of its bucket."""
    n = sk.size
    cap = out.size
    r = np.uint64(radius)
    for p in range(start, n):
        k0 = k
        hp = hs[p]
        a = order[p]
        q = p + 1
        while q < n and sk[q] == sk[p]:
            if popcount(hp ^ hs[q]) <= r:
                if k < cap:
                    b = order[q]
                    out[k] = a * n + b if a < b else b * n + a
                k += 1
            q += 1
        if k > cap:
            return k0, p, k
    return k, n, k


@njit
def tables(sk: Any, hs: Any, width: int) -> Any:
    """Bitmap of the occupied buckets and of those with more than one item, rank of each
    word (occupied buckets before it), the first sorted position of each distinct key (plus
    ``n``) and its first item's hash (plus a 0), the runs of items that share a bitmap word
    (first positions plus ``n``, words), and blocks of runs over 64 aligned words."""
    n = sk.size
    words = max(1, (1 << width) >> 6)
    bitmap = np.zeros(words, dtype=np.uint64)
    multi = np.zeros(words, dtype=np.uint64)
    dstart = np.empty(n + 1, dtype=np.int32)
    dh = np.zeros(n + 1, dtype=np.uint64)
    runs = np.empty(n + 1, dtype=np.int32)
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
            dh[d] = hs[p]
            d += 1
            if n_runs == 0 or run_word[n_runs - 1] != hi:
                runs[n_runs] = p
                run_word[n_runs] = hi
                n_runs += 1
        elif p == 1 or sk[p] != sk[p - 2]:  # a bucket's second item
            key = np.uint64(sk[p])
            multi[key >> low] |= one << (key & np.uint64(63))
    dstart[d] = n
    runs[n_runs] = n
    # blocks of runs: the runs whose words share their bits above the 6 low ones (64 words)
    blocks = np.empty(n_runs + 1, dtype=np.int32)
    n_blocks = 0
    for ri in range(n_runs):
        if ri == 0 or (run_word[ri] >> low) != (run_word[ri - 1] >> low):
            blocks[n_blocks] = ri
            n_blocks += 1
    blocks[n_blocks] = n_runs
    rank = np.empty(words, dtype=np.int32)
    acc = np.int32(0)
    for w in range(words):
        rank[w] = acc
        acc += np.int32(popcount(bitmap[w]))
    return (bitmap, multi, rank, dstart[: d + 1], dh[: d + 1], runs[: n_runs + 1],
            run_word[:n_runs], blocks[: n_blocks + 1])  # fmt: skip


@njit
def probe_dense(
    sk: Any, hs: Any, order: Any, bitmap: Any, multi: Any, rank: Any, dstart: Any, dh: Any,
    runs: Any, run_word: Any, blocks: Any, gs: Any, gbits: Any, ball: Any, above: Any,
    threshold: int, radius: int, out: Any, k: int, start: int,
) -> Any:  # fmt: skip
    """Every high-bit flip ``gs`` (``gbits`` bits set) with its ball of low-bit flips, from
    each run of items sharing a bitmap word; a unit is a block of runs (64 aligned words) ×
    one high-bit flip. With ``gs`` sorted, consecutive flips of a block differ in their low
    bits only and read the same 64 words (and their buckets' starts and hashes).

    Most high-bit flips use up the threshold (no low-bit flip left): then the word has one
    candidate bit, and the loop is branch-free until a hit is close or its bucket holds more
    than one item (the first item's hash ``dh`` is compared without a branch)."""
    n = sk.size
    cap = out.size
    r = np.uint64(radius)
    m63 = np.uint64(63)
    n_g = gs.size
    n_units = (blocks.size - 1) * n_g
    for unit in range(start, n_units):
        gi = unit % n_g
        r0 = blocks[unit // n_g]
        r1 = blocks[unit // n_g + 1]
        g = gs[gi]
        left = threshold - gbits[gi]
        k0 = k
        for ri in range(r0, r1):
            hi = run_word[ri]
            th = hi ^ g
            if th < hi:
                continue  # probed from the other side
            full = bitmap[th]
            if full == 0:
                continue
            base = np.int64(rank[th])
            if left == 0 and g != 0:  # one candidate bit per item
                many = multi[th]
                for p in range(runs[ri], runs[ri + 1]):
                    bit = one << (np.uint64(sk[p]) & m63)
                    d = base + np.int64(popcount(full & (bit - one)))
                    hit = (full & bit) != 0
                    close = popcount(hs[p] ^ dh[d]) <= r
                    if hit & (close | ((many & bit) != 0)):
                        hp = hs[p]
                        a = order[p]
                        for q in range(dstart[d], dstart[d + 1]):
                            if popcount(hp ^ hs[q]) <= r:
                                if k < cap:
                                    b = order[q]
                                    out[k] = a * n + b if a < b else b * n + a
                                k += 1
                continue
            for p in range(runs[ri], runs[ri + 1]):
                lo = np.uint64(sk[p]) & m63
                word = full & (above[left, lo] if g == 0 else ball[left, lo])
                if word == 0:
                    continue
                hp = hs[p]
                a = order[p]
                while word != 0:
                    bit = trailing_zeros(word)
                    word &= word - one
                    d = base + np.int64(popcount(full & ((one << bit) - one)))
                    for q in range(dstart[d], dstart[d + 1]):
                        if popcount(hp ^ hs[q]) <= r:
                            if k < cap:
                                b = order[q]
                                out[k] = a * n + b if a < b else b * n + a
                            k += 1
        if k > cap:
            return k0, unit, k
    return k, n_units, k


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
            hp = hs[p]
            a = order[p]
            while q < n and sk[q] == t:
                if popcount(hp ^ hs[q]) <= r:
                    if k < cap:
                        b = order[q]
                        out[k] = a * n + b if a < b else b * n + a
                    k += 1
                q += 1
        if k > cap:
            return k0, unit, k
    return k, n_units, k
