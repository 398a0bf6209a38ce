"""The registration's QC figure: checkerboards of reference / sequence, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepatokit.atomic import atomic_path
from hepatokit.curation.mri.register.config import RegistrationResult

__all__ = ["qc_figure"]


def _slice_png(arr: NDArray[Any]) -> NDArray[np.uint8]:
    lo, hi = np.percentile(arr, [1, 99]) if arr.size else (0.0, 1.0)
    scaled = np.clip((arr - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return (scaled * 255).astype(np.uint8)


def qc_figure(
    sitk: Any,
    path: Path,
    ref: str,
    fixed: Any,
    pairs: Sequence[tuple[str, Any, RegistrationResult]],
) -> None:
    """Per sequence: a checkerboard of reference / sequence on the reference's middle slice
    (working grid), before (scanner frames) and after registration; flagged rows say why."""
    from PIL import Image, ImageDraw

    k = fixed.GetSize()[2] // 2
    slab = fixed[:, :, k : k + 1]  # only this slice is resampled
    tile = 8
    fixed_slice = _slice_png(sitk.GetArrayFromImage(slab)[0])
    h, w = fixed_slice.shape
    yy, xx = np.mgrid[0:h, 0:w]
    board = ((yy // tile + xx // tile) % 2).astype(bool)
    label_h = 14
    canvas = Image.new("L", (2 * w + 4, max(1, len(pairs)) * (h + label_h)), 0)
    draw = ImageDraw.Draw(canvas)
    for i, (seq, moving, res) in enumerate(pairs):
        y0 = i * (h + label_h)
        tx_after = res.transform if res.transform is not None else sitk.Transform()
        for j, tx in enumerate((sitk.Transform(), tx_after)):
            m = sitk.Resample(moving, slab, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
            ms = _slice_png(sitk.GetArrayFromImage(m)[0])
            canvas.paste(
                Image.fromarray(np.where(board, fixed_slice, ms)), (j * (w + 4), y0 + label_h)
            )
        text = f"{seq}->{ref} before | after: {res.status}"
        if res.flags:
            text += f" ({res.reason})"
        draw.text((2, y0 + 1), text[:80], fill=255)
    with atomic_path(path, suffix=".png", durable=False) as tmp:
        canvas.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(tmp, format="PNG")
