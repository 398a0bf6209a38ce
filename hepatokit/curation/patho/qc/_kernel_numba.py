"""numba code of :mod:`.kernel` (imported only when numba is installed).

Every function mirrors a step of :func:`hepatokit.curation.patho.qc.raw._measure`;
the comments name it. No ``fastmath``: the floating-point operations are those written,
in the order written, as numpy performs them element by element.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hepatokit.curation.patho.qc._kernel_morph import _hwindow, _thick

# the bits of masks.colour_flags
_WHITE, _GREEN, _BLACK, _INK, _TISSUE = 1, 2, 4, 8, 16
_NB = 4096  # buckets of the order-statistic histograms
_COS, _AMOUNT, _EOSIN = 0, 1, 2


@njit(cache=True, nogil=True)
def _bucket(v: float, kind: int) -> int:
    """A monotone (non-decreasing) bucket of ``v``: values in a lower bucket are smaller."""
    if kind == _COS:
        x = v * 4096.0  # |cos| in [0, 1]
    elif kind == _AMOUNT:
        x = v * 512.0  # H + E amount, >= 0: [0, 8) spread over the buckets
    else:
        x = (v + 4.0) * 512.0  # E amount: [-4, 4)
    if x >= 4095.0:
        return 4095
    if x <= 0.0:
        return 0
    return int(x)


@njit(cache=True, nogil=True)
def _select(
    values: np.ndarray, codes: np.ndarray, n: int, hist: np.ndarray, k1: int, k2: int
) -> tuple[float, float]:
    """``np.sort(values[:n])[[k1, k2]]`` (``k1 <= k2``) from the values' buckets ``codes``
    and the bucket counts ``hist``: only the values of the buckets holding the two ranks
    are sorted."""
    cum = 0
    b1 = -1
    b2 = _NB - 1
    before = 0
    for b in range(_NB):
        c = hist[b]
        if b1 < 0 and cum + c > k1:
            b1 = b
            before = cum
        if cum + c > k2:
            b2 = b
            break
        cum += c
    m = 0
    for b in range(b1, b2 + 1):
        m += hist[b]
    kept = np.empty(m, dtype=np.float64)
    j = 0
    lo, hi = np.uint16(b1), np.uint16(b2)
    for i in range(n):
        b = codes[i]
        if b >= lo and b <= hi:
            kept[j] = values[i]
            j += 1
    kept.sort()
    return kept[k1 - before], kept[k2 - before]


@njit(cache=True, nogil=True)
def _block_ratio(lines: np.ndarray) -> float:
    """``raw._block_ratio``."""
    n = lines.size - lines.size % 8
    if n < 16:
        return np.nan
    k = n // 8
    total = 0
    for i in range(n):
        total += lines[i]
    if total == 0:
        return np.nan
    per = np.empty((8, k), dtype=np.float64)
    for p in range(k):
        s = 0
        for j in range(8):
            s += lines[8 * p + j]
        for j in range(8):
            per[j, p] = float(8 * lines[8 * p + j]) / float(s) if s > 0 else 0.0
    best = -np.inf
    half = k // 2
    for j in range(8):
        col = per[j].copy()
        col.sort()
        med = col[half] if k % 2 else (col[half - 1] + col[half]) / 2
        if med > best:
            best = med
    return best


@njit(cache=True, nogil=True)
def _stain_values(
    t0s: np.ndarray,
    t1s: np.ndarray,
    t2s: np.ndarray,
    nt: int,
    normal: np.ndarray,
    unmix: np.ndarray,
    cos_v: np.ndarray,
    amount: np.ndarray,
    eosin: np.ndarray,
    codes: np.ndarray,
) -> tuple[int, int]:
    """``raw._stain_stats`` per tissue pixel: |cos| to the H-E normal, H + E amount, E
    amount, their buckets, and the fixed-point sums of the positive amounts.

    A loop of its own over the gathered ODs, with no branch the compiler cannot turn into
    a select: it runs on SIMD lanes (square root and division are correctly rounded there
    too, so the values are the same), ~1.5x faster than inside the per-pixel pass."""
    n0, n1, n2 = normal[0], normal[1], normal[2]
    h0, h1, h2 = unmix[0, 0], unmix[0, 1], unmix[0, 2]
    e0, e1, e2 = unmix[1, 0], unmix[1, 1], unmix[1, 2]
    sum_h = sum_e = 0  # fixed point, 2**-24 (raw._FIXED)
    for i in range(nt):
        t0, t1, t2 = t0s[i], t1s[i], t2s[i]
        norm = math.sqrt((t0 * t0 + t1 * t1) + t2 * t2)
        c = abs((t0 * n0 + t1 * n1) + t2 * n2) / max(norm, 1e-9)
        ch = (t0 * h0 + t1 * h1) + t2 * h2
        ce = (t0 * e0 + t1 * e1) + t2 * e2
        ph = ch if ch > 0.0 else 0.0
        pe = ce if ce > 0.0 else 0.0
        am = ph + pe
        cos_v[i] = c
        amount[i] = am
        eosin[i] = ce
        sum_h += int(ph * 16777216.0 + 0.5)
        sum_e += int(pe * 16777216.0 + 0.5)
        codes[_COS, i] = _bucket(c, _COS)
        codes[_AMOUNT, i] = _bucket(am, _AMOUNT)
        codes[_EOSIN, i] = _bucket(ce, _EOSIN)
    return sum_h, sum_e


@njit(cache=True, nogil=True)
def measure(
    rgb: np.ndarray,
    table: np.ndarray,
    od: np.ndarray,
    normal: np.ndarray,
    unmix: np.ndarray,
    flags: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The raw statistics (``raw._Raw``) as (integers, floats); fills ``flags``."""
    h, w = rgb.shape[0], rgb.shape[1]
    size = h * w
    gray = np.empty((h, w), dtype=np.int64)
    # the tissue pixels' channel ODs, gathered here; their stain values in _stain_values
    t0s = np.empty(size, dtype=np.float64)
    t1s = np.empty(size, dtype=np.float64)
    t2s = np.empty(size, dtype=np.float64)
    n_white = n_green = n_ink = n_black = nt = 0
    for y in range(h):
        for x in range(w):
            r, g, b = rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2]
            f = table[np.int64(r) | (np.int64(g) << 8) | (np.int64(b) << 16)]
            flags[y, x] = f
            gray[y, x] = (299 * np.int64(r) + 587 * np.int64(g)) + 114 * np.int64(b)
            if f & _WHITE:
                n_white += 1
            if f & _GREEN:
                n_green += 1
            if f & _INK:
                n_ink += 1
            if f & _BLACK:
                n_black += 1
            if (f & (_TISSUE | _WHITE)) == _TISSUE:
                t0s[nt] = od[r]
                t1s[nt] = od[g]
                t2s[nt] = od[b]
                nt += 1
    enough = nt >= max(50.0, 0.02 * size)  # else too little tissue to judge the stain
    m = nt if enough else 0
    cos_v = np.empty(m, dtype=np.float64)
    amount = np.empty(m, dtype=np.float64)
    eosin = np.empty(m, dtype=np.float64)
    codes = np.empty((3, m), dtype=np.uint16)
    sum_h, sum_e = _stain_values(t0s, t1s, t2s, m, normal, unmix, cos_v, amount, eosin, codes)
    hist = np.zeros((3, _NB), dtype=np.int64)
    for k in range(3):
        hk = hist[k]
        ck = codes[k]
        for i in range(m):
            hk[ck[i]] += 1

    floats = np.zeros(8, dtype=np.float64)
    if enough:
        half = nt // 2
        k1 = half - 1 if nt % 2 == 0 else half
        floats[0], floats[1] = _select(cos_v, codes[_COS], nt, hist[_COS], k1, half)
        lo = math.floor((nt - 1) * (99 / 100))
        hi = min(lo + 1, nt - 1)
        floats[2], floats[3] = _select(amount, codes[_AMOUNT], nt, hist[_AMOUNT], lo, hi)
        lo = math.floor((nt - 1) * (90 / 100))
        hi = min(lo + 1, nt - 1)
        floats[4], floats[5] = _select(eosin, codes[_EOSIN], nt, hist[_EOSIN], lo, hi)

    thick_ink = thick_black = 0
    if n_ink / size >= 0.02:
        thick_ink = _thick(flags, _INK)
        if n_black / size >= 0.005:
            thick_black = _thick(flags, _BLACK)

    # sharpness: the Laplacian off the glass edge (masks.cross2_dilate of the glass)
    white = np.empty((h, w), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            white[y, x] = flags[y, x] & _WHITE
    w1 = _hwindow(white, 1, False)
    w2 = _hwindow(w1, 1, False)
    near_glass = w2  # the cross of radius 2: row y over x ± 2, y ± 1 over x ± 1, y ± 2 at x
    for y in range(h):
        o = near_glass[y]
        for dy in (-2, -1, 1, 2):
            yy = y + dy
            if yy < 0 or yy >= h:
                continue
            src = white[yy] if (dy == 2 or dy == -2) else w1[yy]
            for x in range(w):
                o[x] |= src[x]
    keep_n = keep_s1 = keep_s2 = all_s1 = all_s2 = 0
    for y in range(h):
        up = y - 1 if y > 0 else 0
        down = y + 1 if y < h - 1 else h - 1
        for x in range(w):
            left = x - 1 if x > 0 else 0
            right = x + 1 if x < w - 1 else w - 1
            c = gray[y, x]
            lap = (gray[up, x] + gray[down, x]) + (gray[y, left] + gray[y, right]) - 4 * c
            sq = lap * lap
            all_s1 += lap
            all_s2 += sq
            near = near_glass[y, x] != 0
            if not near:
                keep_n += 1
                keep_s1 += lap
                keep_s2 += sq

    # blocking: neighbour differences summed per line between pixels
    rows = np.zeros(max(h - 1, 0), dtype=np.int64)
    cols = np.zeros(max(w - 1, 0), dtype=np.int64)
    for y in range(h):
        for x in range(w):
            c = gray[y, x]
            if y < h - 1:
                rows[y] += abs(gray[y + 1, x] - c)
            if x < w - 1:
                cols[x] += abs(gray[y, x + 1] - c)
    floats[6] = _block_ratio(rows)
    floats[7] = _block_ratio(cols)

    ints = np.empty(16, dtype=np.int64)
    ints[14] = sum_h
    ints[15] = sum_e
    ints[0] = size
    ints[1] = n_white
    ints[2] = n_green
    ints[3] = n_ink
    ints[4] = n_black
    ints[5] = thick_ink
    ints[6] = thick_black
    ints[7] = nt
    ints[8] = keep_n
    ints[9] = keep_s1
    ints[10] = keep_s2
    ints[11] = size
    ints[12] = all_s1
    ints[13] = all_s2
    return ints, floats
