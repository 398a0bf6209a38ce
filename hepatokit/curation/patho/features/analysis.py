"""Decode a patch once and derive everything from that decode: size, hashes, QC scores.

This is the per-patch work of ``patho ingest`` (and of ``patho tile`` for the tiles it
writes): the file bytes are read once, decoded once with Pillow, and the MD5 of the bytes,
the SHA-256 of the pixels, the perceptual hashes and the QC scores all come from that one
decoded array. Later stages (``qc``, ``dedup``) only read the tables written here.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from hepatokit.curation.patho.features.hashing import ImageHashes, image_hashes
from hepatokit.curation.patho.qc.measures import QCScores, qc_scores
from hepatokit.manifest import clean_detail

__all__ = ["PatchAnalysis", "PatchRejected", "analyse_image", "analyse_patch_bytes", "sniff_image"]

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)


class PatchRejected(Exception):
    """A patch that cannot be used: ``reason`` is the manifest reason code.

    ``detail`` is cleaned as ledger details are (no memory address from a decoder's error
    text, no absolute path), so the ingest cache that keeps it is the same on every run.
    """

    def __init__(self, reason: str, detail: str):
        detail = clean_detail(detail) or detail
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PatchAnalysis:
    """What one decode of a patch yields."""

    width: int
    height: int
    mode: str
    format: str
    resized: bool
    hashes: ImageHashes
    scores: QCScores


def sniff_image(data: bytes) -> str | None:
    """The image format named by the file's magic bytes (PNG, JPEG, TIFF), else None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() or 1.0
        return Image.fromarray((arr / top * 255).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def analyse_image(
    image: Image.Image,
    data: bytes,
    *,
    fmt: str,
    expected_size: tuple[int, int] | None = None,
    size_policy: str = "exclude",
    dhash: bool = False,
) -> PatchAnalysis:
    """Hashes and QC scores of an already decoded image (``data``: the bytes it came from).

    Raises
    ------
    PatchRejected
        ``wrong_size`` when the size differs from ``expected_size`` (width, height) and the
        policy is ``exclude``.
    """
    width, height = image.size
    mode = image.mode
    rgb = _to_rgb(image)
    resized = False
    if expected_size is not None and (width, height) != tuple(expected_size):
        if size_policy != "resize":
            raise PatchRejected(
                "wrong_size",
                f"{width}x{height} px, expected {expected_size[0]}x{expected_size[1]}",
            )
        rgb = rgb.resize((expected_size[0], expected_size[1]), Image.Resampling.BILINEAR)
        resized = True
    pixels = np.asarray(rgb)  # one copy of the pixels for the hashes and the QC scores
    return PatchAnalysis(
        width=width,
        height=height,
        mode=mode,
        format=fmt,
        resized=resized,
        hashes=image_hashes(rgb, data, dhash=dhash, pixels=pixels),
        scores=qc_scores(pixels),
    )


def analyse_patch_bytes(
    data: bytes,
    *,
    expected_size: tuple[int, int] | None = None,
    size_policy: str = "exclude",
    dhash: bool = False,
) -> PatchAnalysis:
    """Decode ``data`` once and analyse it.

    Raises
    ------
    PatchRejected
        ``not_image`` (no image signature Pillow knows), ``corrupt`` (an image signature
        but the pixels do not decode: truncated, damaged) or ``wrong_size``.
    """
    magic = sniff_image(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            fmt = img.format or (magic or "unknown")
            img.load()
    except UnidentifiedImageError as exc:
        if magic is None:
            raise PatchRejected("not_image", "not a PNG, JPEG or TIFF image") from exc
        raise PatchRejected("corrupt", f"{magic} signature but undecodable: {exc}") from exc
    except Exception as exc:  # truncated / damaged streams raise OSError, SyntaxError, ...
        raise PatchRejected("corrupt", f"cannot decode: {type(exc).__name__}: {exc}") from exc
    if img.width < 1 or img.height < 1:
        raise PatchRejected("corrupt", "image has no pixels")
    return analyse_image(
        img, data, fmt=fmt, expected_size=expected_size, size_policy=size_policy, dhash=dhash
    )
