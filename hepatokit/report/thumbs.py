"""Thumbnails of the curation report, made once and cached by content key.

A thumbnail's file name is the sha256 of what it shows (the source's content key — a
patch's MD5, a volume's bytes — plus the view and size), so a rebuilt report reuses every
thumbnail whose source did not change and never shows a stale one. Files are written
atomically under ``BUILD/reports/pix/``; the page refers to them relatively, so it works
opened from disk.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from hepatokit.atomic import write_bytes_atomic
from hepatokit.contracts.common import REPORT_PIX

__all__ = ["THUMB_DIR", "ThumbCache", "mid_slices", "patch_thumb", "to_uint8"]

#: the thumbnails' folder under ``reports/``: a name no raw file is likely to share (the
#: PHI audit looks for the raw tree's file names, e.g. ``Thumbs.db``, in every output)
THUMB_DIR = PurePosixPath(REPORT_PIX).name

#: longest side of a thumbnail, pixels
THUMB_PX = 128


class ThumbCache:
    """``reports/pix/<key>.png`` keyed by content; counts what was made and reused."""

    def __init__(self, reports: Path):
        self.folder = reports / THUMB_DIR
        self.made = 0
        self.reused = 0
        self.used: set[str] = set()

    def get(self, key: str, make: Callable[[], bytes | None]) -> str | None:
        """The page-relative path of the thumbnail ``key`` (made by ``make`` if absent;
        ``None`` when ``make`` cannot draw it)."""
        name = hashlib.sha256(key.encode()).hexdigest()[:24] + ".png"
        path = self.folder / name
        if path.is_file():
            self.reused += 1
        else:
            png = make()
            if png is None:
                return None
            self.folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, png, durable=False)  # derived: remade if torn
            self.made += 1
        self.used.add(name)
        return f"{THUMB_DIR}/{name}"

    def remove_unused(self) -> int:
        """Delete thumbnails no section of the page refers to any more."""
        removed = 0
        if self.folder.is_dir():
            for path in self.folder.glob("*.png"):
                if path.name not in self.used:
                    path.unlink()
                    removed += 1
        return removed


def to_uint8(arr: Any) -> np.ndarray:
    """A 2D array windowed to its 1st–99th percentile as 8-bit grey."""
    a = np.asarray(arr, dtype=np.float32)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros(a.shape, dtype=np.uint8)
    lo, hi = np.percentile(finite, [1, 99])
    if hi <= lo:
        hi = lo + 1
    a = np.nan_to_num((a - lo) / (hi - lo), nan=0.0)
    return np.ascontiguousarray((np.clip(a, 0, 1) * 255).astype(np.uint8))


def _png(gray: np.ndarray, aspect: float) -> bytes:
    """PNG of ``gray`` (rows × cols) scaled so the longest side is ``THUMB_PX``; ``aspect``
    is the physical height of a row over the width of a column."""
    from PIL import Image

    h, w = gray.shape
    phys_h, phys_w = h * aspect, float(w)
    scale = THUMB_PX / max(phys_h, phys_w)
    size = (max(1, round(phys_w * scale)), max(1, round(phys_h * scale)))
    img = Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def mid_slices(path: Path) -> dict[str, bytes]:
    """PNG mid-slices of a NIfTI volume in RAS: ``axial`` always, ``coronal`` when the
    volume has more than one slice along z (a 3D acquisition or a stack). 4D volumes show
    their first volume (DWI: the lowest b-value)."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4:
        data = data[..., 0]
    if data.ndim != 3:
        return {}
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    _, y, z = data.shape
    # axial: rows = y (anterior up), columns = x (patient right on the left: radiological)
    axial = np.flipud(data[::-1, :, z // 2].T)
    out = {"axial": _png(to_uint8(axial), zooms[1] / zooms[0])}
    if z > 1:
        coronal = np.flipud(data[::-1, y // 2, :].T)  # rows = z (superior up)
        out["coronal"] = _png(to_uint8(coronal), zooms[2] / zooms[0])
    return out


def patch_thumb(path: Path, *, px: int = 96) -> bytes | None:
    """A PNG thumbnail of an image file (``None`` if it cannot be decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as src:
            img = src.convert("RGB")
        img.thumbnail((px, px))
        buf = io.BytesIO()
        img.save(buf, format="PNG")  # no metadata chunks: pixels only
        return buf.getvalue()
    except (OSError, UnidentifiedImageError, ValueError):
        return None
