"""numba morphology of :mod:`.kernel` (imported only when numba is installed): exact squared
Euclidean distances, the radius-3 opening, thick components (``raw._thick``) and the
cross / window dilations of the glass edge. Split from :mod:`._kernel_numba` to keep each
module readable; the same rules apply (no ``fastmath``, the operations as written).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _edt2(mask: np.ndarray, out: np.ndarray) -> int:
    """Exact squared Euclidean distance of each pixel of ``mask`` to the nearest pixel
    outside it (Meijster et al. 2000, integers); 0 outside. ``mask`` must have a pixel
    outside. Returns the largest value."""
    h, w = mask.shape
    inf = h + w
    # column distances, row by row (contiguous): down, then up
    g = np.empty((h, w), dtype=np.int64)
    for x in range(w):
        g[0, x] = inf if mask[0, x] else 0
    for y in range(1, h):
        for x in range(w):
            g[y, x] = (g[y - 1, x] + 1) * (mask[y, x] != 0)
    for y in range(h - 2, -1, -1):
        for x in range(w):
            g[y, x] = min(g[y, x], g[y + 1, x] + 1)
    s = np.empty(w, dtype=np.int64)
    t = np.empty(w, dtype=np.int64)
    top = 0
    for y in range(h):
        q = 0
        s[0] = 0
        t[0] = 0
        for u in range(1, w):
            gu = g[y, u] * g[y, u]
            while q >= 0:
                i = s[q]
                gi = g[y, i] * g[y, i]
                tq = t[q]
                if (tq - i) * (tq - i) + gi > (tq - u) * (tq - u) + gu:
                    q -= 1
                else:
                    break
            if q < 0:
                q = 0
                s[0] = u
            else:
                i = s[q]
                gi = g[y, i] * g[y, i]
                # floor of the exact quotient: the float quotient of these small
                # integers is never within rounding of an integer it is not equal to
                sep = math.floor(float(u * u - i * i + gu - gi) / float(2 * (u - i)))
                ww = 1 + sep
                if ww < w:
                    q += 1
                    s[q] = u
                    t[q] = ww
        for u in range(w - 1, -1, -1):
            i = s[q]
            d = (u - i) * (u - i) + g[y, i] * g[y, i]
            out[y, u] = d
            if d > top:
                top = d
            if u == t[q]:
                q -= 1
    return top


@njit(cache=True, nogil=True)
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@njit(cache=True, nogil=True)
def _hwindow(m: np.ndarray, r: int, erode: bool) -> np.ndarray:
    """AND (``erode``; outside the image counts as in) or OR (outside: out) of ``m`` over
    ``x - r .. x + r`` in each row; 0 / 1 uint8. Elementwise passes over shifted rows."""
    h, w = m.shape
    out = m.copy()
    for k in range(1, r + 1):
        for y in range(h):
            row = m[y]
            o = out[y]
            if erode:
                for x in range(k, w):
                    o[x] &= row[x - k]
                for x in range(0, w - k):
                    o[x] &= row[x + k]
            else:
                for x in range(k, w):
                    o[x] |= row[x - k]
                for x in range(0, w - k):
                    o[x] |= row[x + k]
    return out


@njit(cache=True, nogil=True)
def _vcombine(h3: np.ndarray, h2: np.ndarray, m: np.ndarray, erode: bool) -> np.ndarray:
    """The radius-3 disk from row windows: ``h3`` (x ± 3) on row y, ``h2`` (x ± 2) on rows
    y ± 1 and y ± 2, ``m`` on rows y ± 3; AND (``erode``, rows outside count as in) or OR."""
    h, w = m.shape
    out = h3.copy()
    for y in range(h):
        o = out[y]
        for dy in range(-3, 4):
            yy = y + dy
            if dy == 0 or yy < 0 or yy >= h:
                continue
            src = m[yy] if (dy == 3 or dy == -3) else h2[yy]
            if erode:
                for x in range(w):
                    o[x] &= src[x]
            else:
                for x in range(w):
                    o[x] |= src[x]
    return out


@njit(cache=True, nogil=True)
def _far4_any(m: np.ndarray) -> bool:
    """Whether a pixel of ``m`` lies 4 px from its edge (``masks.far4``: no pixel off ``m``
    within a 7 x 5 and a 5 x 7 rectangle; outside the image counts as in): the test the
    exact EDT made from its largest value, with byte passes, before paying for the EDT."""
    h, w = m.shape
    r3 = _hwindow(m, 3, True)  # x ± 3
    r2 = _hwindow(m, 2, True)  # x ± 2
    for y in range(h):
        for x in range(w):
            ok = True
            for dy in range(-3, 4):
                yy = y + dy
                if yy < 0 or yy >= h:
                    continue
                # rows y ± 2 need x ± 3 (7 x 5) and x ± 2; rows y ± 3 need x ± 2 (5 x 7)
                v = r2[yy, x] if (dy == 3 or dy == -3) else r3[yy, x]
                if v == 0:
                    ok = False
                    break
            if ok:
                return True
    return False


@njit(cache=True, nogil=True)
def _ones(m: np.ndarray) -> int:
    """How many pixels of a 0/1 ``uint8`` mask are set."""
    n = 0
    for y in range(m.shape[0]):
        for x in range(m.shape[1]):
            n += m[y, x]
    return n


@njit(cache=True, nogil=True)
def _thick(flags: np.ndarray, bit: int) -> int:
    """Pixels of the ``bit`` mask in thick components (``raw._thick``): the opening by
    a radius-3 disk, its 4-connected components, those whose mean distance to the opening's
    edge is >= 4 px. -1: a case where scipy measures from outside the image (no pixel off
    the mask, or an opening covering the patch), left to the numpy code."""
    h, w = flags.shape
    m = np.empty((h, w), dtype=np.uint8)
    n_in = 0
    for y in range(h):
        for x in range(w):
            v = int((flags[y, x] & bit) != 0)
            m[y, x] = v
            n_in += v
    if n_in == h * w:  # no pixel off the mask
        return -1
    # erosion (masks.disk3_erode): no pixel off the mask within dx² + dy² <= 9, i.e. rows
    # y ± 3 at x, rows y ± 1, y ± 2 over x ± 2, row y over x ± 3 (outside the image: in)
    h2 = _hwindow(m, 2, True)
    h3 = _hwindow(h2, 1, True)
    eroded = _vcombine(h3, h2, m, True)
    if _ones(eroded) == 0:
        return 0
    # dilation (masks.disk3_dilate): an eroded pixel within dx² + dy² <= 9 (the same disk)
    h2 = _hwindow(eroded, 2, False)
    h3 = _hwindow(h2, 1, False)
    opened = _vcombine(h3, h2, eroded, False)
    if _ones(opened) == h * w:
        return -1
    if not _far4_any(opened):
        return 0  # no pixel 4 px from the edge: no mean radius >= 4
    d2 = np.empty((h, w), dtype=np.int64)
    _edt2(opened, d2)
    # 4-connected components (ndimage.label), the distances summed in raster order
    # (np.bincount with weights), the mean radius of each
    size = h * w
    parent = np.arange(size)
    for y in range(h):
        for x in range(w):
            if not opened[y, x]:
                continue
            p = y * w + x
            if x > 0 and opened[y, x - 1]:
                a, b = _find(parent, p), _find(parent, p - 1)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            if y > 0 and opened[y - 1, x]:
                a, b = _find(parent, p), _find(parent, p - w)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    sums = np.zeros(size, dtype=np.float64)
    area = np.zeros(size, dtype=np.int64)
    for y in range(h):
        for x in range(w):
            if opened[y, x]:
                r = _find(parent, y * w + x)
                sums[r] += math.sqrt(float(d2[y, x]))
                area[r] += 1
    count = 0
    for i in range(size):
        if area[i] and sums[i] / float(area[i]) >= 4.0:
            count += area[i]
    return count
