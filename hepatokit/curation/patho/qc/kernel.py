"""The QC statistics of a patch in one compiled pass per pixel (numba, the ``fast`` extra).

:func:`measure` returns what :func:`hepatokit.curation.patho.qc.raw._measure` returns,
bit for bit: the same colour table, the same per-pixel floating-point operations in the
same order (numba does not contract or reorder them without ``fastmath``), integers where
the numpy path has integers, order statistics (exact whatever the algorithm), numpy's
and the same thick-component rule (an opening
by a radius-3 disk, then the mean exact Euclidean distance of each 4-connected component).
The two cases where scipy measures distances from outside the image (a mask without a
background pixel, an opening that covers the patch) are handed back to the numpy code.

Without numba :func:`available` is False and the scores come from the numpy path alone.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from hepatokit._extras import numba_path_enabled

if TYPE_CHECKING:
    from hepatokit.curation.patho.qc.raw import _Raw

__all__ = ["available", "measure"]

#: ``HEPATOKIT_QC_KERNEL=numpy`` forces the numpy path even when numba is installed
ENV = "HEPATOKIT_QC_KERNEL"


@functools.cache
def available() -> bool:
    """Whether the compiled path runs: numba importable and not switched off."""
    return numba_path_enabled(ENV)


@functools.cache
def _compiled() -> tuple[Any, tuple[NDArray[Any], ...]]:
    """The numba module and the constant arrays it is called with (built once a process:
    converting them at every call cost ~40 µs a patch, a tenth of the pass)."""
    from hepatokit.curation.patho.qc import _kernel_numba, raw
    from hepatokit.curation.patho.qc.masks import OD_LUT, _flag_table

    consts = (
        _flag_table(),
        OD_LUT.astype(np.float64),
        np.asarray(raw._NORMAL, dtype=np.float64),
        np.ascontiguousarray(raw._UNMIX, dtype=np.float64),
    )
    return _kernel_numba, consts


def measure(rgb: NDArray[np.uint8]) -> _Raw:
    """The raw QC statistics of a contiguous ``(H, W, 3)`` uint8 patch (see :mod:`.raw`)."""
    from hepatokit.curation.patho.qc import raw
    from hepatokit.curation.patho.qc.masks import BLACK, INK

    k, consts = _compiled()
    flags = np.empty(rgb.shape[:2], dtype=np.uint8)
    ints, floats = k.measure(rgb, *consts, flags)
    counts = ints.tolist()
    # thick-component counts the compiled code hands back (-1): scipy's distances
    for slot, bit in ((5, INK), (6, BLACK)):
        if counts[slot] < 0:
            counts[slot] = int(np.count_nonzero(raw._thick((flags & bit) != 0)))
    f = floats.tolist()
    # _Raw's order: counts, stain statistics and sums, Laplacian sums, blocking
    return raw._Raw._make(counts[:8] + f[:6] + counts[14:16] + counts[8:14] + f[6:8])
