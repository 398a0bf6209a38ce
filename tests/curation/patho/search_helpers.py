"""Test helpers for the near-duplicate search: the brute-force oracle and a recording executor.

The oracle (every item against every later one) is kept out of the package: it is quadratic,
so it is only a reference for tests. It shares no code with
:mod:`hepatokit.curation.patho.dedup.near`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

Pairs = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]


def brute_force_pairs(
    hashes: NDArray[np.uint64],
    radius: int,
    *,
    second: NDArray[np.uint64] | None = None,
    second_radius: int | None = None,
) -> Pairs:
    """All ``(i, j, distance)``, ``i < j`` in ``(i, j)`` order, within ``radius`` bits
    (and within ``second_radius`` on ``second`` when given)."""
    h = np.asarray(hashes, dtype=np.uint64)
    s = None if second is None else np.asarray(second, dtype=np.uint64)
    out_i: list[NDArray[np.int64]] = []
    out_j: list[NDArray[np.int64]] = []
    for i in range(h.size - 1):
        dist = np.bitwise_count(h[i + 1 :] ^ h[i])
        ok = dist <= radius
        if s is not None and second_radius is not None:
            ok &= np.bitwise_count(s[i + 1 :] ^ s[i]) <= second_radius
        j = np.nonzero(ok)[0] + i + 1
        out_i.append(np.full(j.size, i, dtype=np.int64))
        out_j.append(j.astype(np.int64))
    if not out_i:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    i_arr, j_arr = np.concatenate(out_i), np.concatenate(out_j)
    return i_arr, j_arr, np.bitwise_count(h[i_arr] ^ h[j_arr]).astype(np.int64)


class RecordingExecutor(ThreadPoolExecutor):
    """A thread pool that records the name of every task function it is given.

    :func:`hepatokit.parallel.map_items` submits ``_run_chunk(fn, chunk)``; the recorded name
    is that of ``fn`` (the work item function), so a test can see which stage used the pool.
    """

    def __init__(self, max_workers: int = 2) -> None:
        super().__init__(max_workers=max_workers)
        self.calls: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        inner = args[0] if args and callable(args[0]) else fn
        self.calls.append(getattr(inner, "__name__", repr(inner)))
        return super().submit(fn, *args, **kwargs)
