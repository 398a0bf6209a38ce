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


@intrinsic
def popcount(typingctx: Any, x: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def trailing_zeros(typingctx: Any, x: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))  # 0 never passed

    return types.uint64(types.uint64), codegen


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
def tables(sk: Any, width: int) -> Any:
    """Bitmap of the occupied buckets, rank of each word (occupied buckets before it),
    and the first sorted position of each distinct key (plus ``n`` at the end)."""
    n = sk.size
    words = max(1, (1 << width) >> 6)
    bitmap = np.zeros(words, dtype=np.uint64)
    dstart = np.empty(n + 1, dtype=np.int64)
    d = 0
    for p in range(n):
        if p == 0 or sk[p] != sk[p - 1]:
            key = np.uint64(sk[p])
            bitmap[key >> np.uint64(6)] |= one << (key & np.uint64(63))
            dstart[d] = p
            d += 1
    dstart[d] = n
    rank = np.empty(words, dtype=np.int64)
    acc = np.int64(0)
    for w in range(words):
        rank[w] = acc
        acc += np.int64(popcount(bitmap[w]))
    return bitmap, rank, dstart[: d + 1]


@njit
def probe_dense(
    sk: Any, hs: Any, order: Any, bitmap: Any, rank: Any, dstart: Any, gs: Any,
    gbits: Any, ball: Any, above: Any, threshold: int, radius: int, out: Any, k: int,
    start: int,
) -> Any:  # fmt: skip
    """Every high-bit flip ``gs`` (``gbits`` bits set) with its ball of low-bit flips;
    a unit is one block of items × one high-bit flip."""
    n = sk.size
    cap = out.size
    r = np.uint64(radius)
    m63 = np.uint64(63)
    low = np.uint64(_LOW)
    n_g = gs.size
    n_units = ((n + _BLOCK - 1) // _BLOCK) * n_g
    for unit in range(start, n_units):
        gi = unit % n_g
        b0 = (unit // n_g) * _BLOCK
        b1 = min(n, b0 + _BLOCK)
        g = gs[gi]
        left = threshold - gbits[gi]
        k0 = k
        for p in range(b0, b1):
            key = np.uint64(sk[p])
            hi = key >> low
            th = hi ^ g
            lo = key & m63
            if g == 0:
                mask = above[left, lo]
            elif th < hi:
                continue  # probed from the other side
            else:
                mask = ball[left, lo]
            full = bitmap[th]
            word = full & mask
            if word == 0:
                continue
            hp = hs[p]
            a = order[p]
            base = rank[th]
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
