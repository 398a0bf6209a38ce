"""Open a whole-slide image and do its level / magnification / mpp arithmetic.

OpenSlide reads pyramidal slides (Aperio SVS, generic tiled TIFF, NDPI, MRXS...). A flat
(stripped, single-level) TIFF that OpenSlide refuses is read through tifffile / Pillow into
memory when it is small enough (:data:`FLAT_LIMIT_PIXELS`), else refused with a clear reason.

Magnification and mpp are tied by the usual convention ``magnification = 10 / mpp``
(0.25 µm/px ≈ 40×, 0.5 µm/px ≈ 20×): a slide that has only one of them gets the other
derived; one that has neither needs the user's ``mpp``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hepatokit.errors import DataFormatError

__all__ = [
    "FLAT_LIMIT_PIXELS",
    "ReadPlan",
    "SlideError",
    "SlideInfo",
    "SlideReader",
    "magnification_from_mpp",
    "mpp_from_magnification",
    "open_slide",
    "plan_read",
]

FLAT_LIMIT_PIXELS = 400_000_000  # a flat TIFF above this is refused (it would not fit in memory)
#: level-0 resolutions (µm/px) a slide's metadata may give; outside them it is a file default,
#: not a scan (72 dpi is 352.8 µm/px; 28.35 px per inch, 72 per cm written as per inch, is 896)
PLAUSIBLE_MPP = (0.05, 50.0)


class SlideError(DataFormatError):
    """A slide cannot be tiled; ``reason`` is the manifest code (corrupt, no_mpp, ...)."""

    def __init__(self, reason: str, message: str, *, path: str | Path, hint: str | None = None):
        self.reason = reason
        super().__init__(message, path=path, hint=hint)


def magnification_from_mpp(mpp: float) -> float:
    """Objective magnification of a resolution in µm/px (``10 / mpp``: 0.25 → 40×)."""
    return 10.0 / mpp


def mpp_from_magnification(magnification: float) -> float:
    """Resolution in µm/px of an objective magnification (``10 / magnification``)."""
    return 10.0 / magnification


@dataclass(frozen=True)
class SlideInfo:
    """What the tiler needs to know about a slide (sizes in pixels, mpp in µm/px)."""

    backend: str  # "openslide" or "flat"
    vendor: str
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    mpp: float  # level 0
    magnification: float  # level 0
    mpp_source: str  # "metadata", "objective-power", "user", "user-forced"

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.level_dimensions[0]


@dataclass(frozen=True)
class ReadPlan:
    """How to read one tile at a target magnification.

    ``level0_size`` pixels of level 0 are covered; they are read at ``level`` as
    ``read_size`` pixels and resized to ``patch_size`` when the two differ.
    """

    level: int
    read_size: int
    level0_size: int
    patch_size: int
    downsample: float  # level-0 pixels per output pixel
    target_mpp: float

    @property
    def resize(self) -> bool:
        return self.read_size != self.patch_size


def plan_read(info: SlideInfo, *, target_magnification: float, patch_size: int) -> ReadPlan:
    """Pick the pyramid level for tiles of ``patch_size`` px at ``target_magnification``.

    The finest level whose downsample does not exceed the needed one is read (so tiles are
    only ever reduced, never enlarged): a 40× slide read at 20× with 150 px tiles covers
    300 level-0 px, read at level 0 (300 px, resized) or at a level of downsample 2 (150 px).

    Raises
    ------
    SlideError
        When the target magnification is higher than the slide's scan magnification.
    """
    factor = info.magnification / target_magnification
    if factor < 1 - 1e-6:
        raise SlideError(
            "magnification_too_low",
            f"slide scanned at {info.magnification:.3g}x, below the target "
            f"{target_magnification:.3g}x",
            path="<slide>",
            hint="lower tiling.target_magnification in the recipe",
        )
    level0_size = round(patch_size * factor)
    level = 0
    for k, ds in enumerate(info.level_downsamples):
        if ds <= factor * (1 + 1e-3):
            level = k
    read_size = max(1, round(level0_size / info.level_downsamples[level]))
    return ReadPlan(
        level=level,
        read_size=read_size,
        level0_size=level0_size,
        patch_size=patch_size,
        downsample=factor,
        target_mpp=info.mpp * factor,
    )


class SlideReader:
    """A slide opened for reading (OpenSlide, or an in-memory flat image)."""

    def __init__(self, path: Path, info: SlideInfo, handle: Any, array: NDArray[np.uint8] | None):
        self.path = path
        self.info = info
        self._slide = handle
        self._array = array

    def read(self, x: int, y: int, level: int, size: int) -> NDArray[np.uint8]:
        """``(size, size, 3)`` RGB pixels at ``level`` whose top-left is level-0 ``(x, y)``."""
        if self._array is not None:
            a = self._array[y : y + size, x : x + size]
            if a.shape[:2] != (size, size):  # past the edge: pad with white like OpenSlide
                out = np.full((size, size, 3), 255, np.uint8)
                out[: a.shape[0], : a.shape[1]] = a
                return out
            return np.ascontiguousarray(a)
        region = self._slide.read_region((x, y), level, (size, size))
        return _rgba_to_rgb(region)

    def thumbnail(self, downsample: float) -> tuple[NDArray[np.uint8], float]:
        """The whole slide reduced about ``downsample`` times; returns (RGB, exact downsample)."""
        w0, h0 = self.info.dimensions
        size = (max(1, round(w0 / downsample)), max(1, round(h0 / downsample)))
        if self._array is not None:
            img = Image.fromarray(self._array).resize(size, Image.Resampling.BOX)
        else:
            img = self._slide.get_thumbnail(size)
            if img.mode != "RGB":
                img = Image.fromarray(_rgba_to_rgb(img))
        return np.asarray(img.convert("RGB")), w0 / img.width

    def close(self) -> None:
        if self._slide is not None:
            self._slide.close()

    def __enter__(self) -> SlideReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgba_to_rgb(img: Image.Image) -> NDArray[np.uint8]:
    """OpenSlide's premultiplied RGBA → RGB on white (transparent = outside the scan)."""
    a = np.asarray(img)
    if a.shape[-1] == 3:
        return np.ascontiguousarray(a)
    rgb = a[..., :3].astype(np.float32)
    alpha = a[..., 3:4].astype(np.float32) / 255.0
    return np.clip(rgb + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)


def _resolve(
    path: Path,
    mpp_meta: float | None,
    objective: float | None,
    mpp: float | None,
    force_mpp: bool = False,
) -> tuple[float, float, str]:
    """Level-0 mpp, magnification and where they came from.

    The slide's own metadata wins (mpp, then objective power); the user's ``mpp`` only fills
    in a slide that has neither, unless ``force_mpp`` (then it overrides every slide). A
    metadata mpp outside :data:`PLAUSIBLE_MPP` is a file's default resolution (a generic TIFF
    written with 72 dpi), not a scan's: it counts as absent.
    """
    if mpp is not None and force_mpp:
        return mpp, magnification_from_mpp(mpp), "user-forced"
    ignored = ""
    if mpp_meta and not PLAUSIBLE_MPP[0] <= mpp_meta <= PLAUSIBLE_MPP[1]:
        ignored = f" (its resolution tag says {mpp_meta:.4g} µm/px: a file default, not a scan)"
        mpp_meta = None
    if mpp_meta and mpp_meta > 0:
        mag = objective if objective else magnification_from_mpp(mpp_meta)
        return mpp_meta, mag, "metadata"
    if objective and objective > 0:
        return mpp_from_magnification(objective), objective, "objective-power"
    if mpp is not None:
        return mpp, magnification_from_mpp(mpp), "user"
    raise SlideError(
        "no_mpp",
        "the slide has neither mpp nor objective-power metadata" + ignored,
        path=path.name,
        hint="pass --mpp (µm per level-0 pixel, e.g. 0.25 for 40x, 0.5 for 20x)",
    )


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def open_slide(
    path: str | os.PathLike[str], *, mpp: float | None = None, force_mpp: bool = False
) -> SlideReader:
    """Open a slide (OpenSlide, else the flat-TIFF fallback).

    Parameters
    ----------
    mpp
        Level-0 µm/px given by the user, used only when the slide has no resolution metadata
        (neither mpp nor objective power): ``info.mpp_source == "user"``.
    force_mpp
        Use ``mpp`` even when the slide has its own resolution (``"user-forced"``).

    Raises
    ------
    SlideError
        ``corrupt`` (unreadable), ``unsupported`` (not a slide, or a flat image too large for
        the fallback) or ``no_mpp`` (no resolution metadata and no ``mpp``).
    """
    import openslide

    path = Path(path)
    if not path.is_file():
        raise SlideError("missing", "slide file not found", path=path.name)
    try:
        slide = openslide.OpenSlide(str(path))
    except openslide.OpenSlideUnsupportedFormatError:
        return _open_flat(path, mpp, force_mpp)
    except openslide.OpenSlideError as exc:
        raise SlideError("corrupt", f"OpenSlide cannot read it: {exc}", path=path.name) from exc
    try:
        props = slide.properties
        mpp0, mag, source = _resolve(
            path,
            _float(props.get(openslide.PROPERTY_NAME_MPP_X)),
            _float(props.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)),
            mpp,
            force_mpp,
        )
        info = SlideInfo(
            backend="openslide",
            vendor=str(props.get(openslide.PROPERTY_NAME_VENDOR, "unknown")),
            level_dimensions=tuple((int(d[0]), int(d[1])) for d in slide.level_dimensions),
            level_downsamples=tuple(float(d) for d in slide.level_downsamples),
            mpp=mpp0,
            magnification=mag,
            mpp_source=source,
        )
        slide.read_region((0, 0), slide.level_count - 1, (1, 1))  # fail now if undecodable
    except openslide.OpenSlideError as exc:
        slide.close()
        raise SlideError("corrupt", f"OpenSlide cannot read it: {exc}", path=path.name) from exc
    except SlideError:
        slide.close()
        raise
    return SlideReader(path, info, slide, None)


def _open_flat(path: Path, mpp: float | None, force_mpp: bool = False) -> SlideReader:
    """Fallback for flat TIFFs (and plain images) OpenSlide does not open."""
    import logging

    import tifffile

    # tifffile logs its own warnings naming the file (a slide's name may name a patient);
    # the reason reaches the ledger through the SlideError below
    logging.getLogger("tifffile").setLevel(logging.ERROR)

    mpp_meta: float | None = None
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            shape = page.shape
            if int(np.prod(shape[:2])) > FLAT_LIMIT_PIXELS:
                raise SlideError(
                    "unsupported",
                    f"flat (non-pyramidal) image of {shape[1]}x{shape[0]} px is too large "
                    "to read without a pyramid",
                    path=path.name,
                    hint="convert it to a tiled pyramidal TIFF "
                    "(e.g. `vips tiffsave --tile --pyramid`)",
                )
            mpp_meta = _tiff_mpp(page)
            arr = page.asarray()
    except SlideError:
        raise
    except Exception as exc:
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"))
        except Exception:
            raise SlideError(
                "corrupt", f"not a readable slide or image: {exc}", path=path.name
            ) from exc
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    arr = np.ascontiguousarray(arr[..., :3]).astype(np.uint8, copy=False)
    mpp0, mag, source = _resolve(path, mpp_meta, None, mpp, force_mpp)
    h, w = arr.shape[:2]
    info = SlideInfo("flat", "flat-tiff", ((w, h),), (1.0,), mpp0, mag, source)
    return SlideReader(path, info, None, arr)


def _tiff_mpp(page: Any) -> float | None:
    """µm/px from the TIFF XResolution / ResolutionUnit tags (None if absent)."""
    tags = page.tags
    if "XResolution" not in tags:
        return None
    num, den = tags["XResolution"].value
    res = num / den if den else 0.0
    unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
    if res <= 0 or unit == 1:
        return None
    per_um = res / (1e4 if unit == 3 else 25_400.0)
    mpp = 1.0 / per_um
    return mpp  # a 72-dpi default is set aside by _resolve (PLAUSIBLE_MPP)
