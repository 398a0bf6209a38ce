"""Content hashes of one decoded patch: bytes MD5, pixel SHA-256, pHash (and dHash).

Everything here works on an image that is decoded **once**: the caller reads the file bytes,
decodes them with Pillow, and passes both; the byte digest, the pixel digest and the
perceptual hashes all derive from that single decode (see :func:`image_hashes`).

Perceptual hashes are imagehash's 64-bit pHash / dHash, stored as 16 lowercase hex chars
(imagehash's own ``str()``), so they compare with any other imagehash user. They depend on
Pillow's resampling, which has changed between releases: :func:`hash_versions` gives the
versions recorded in the manifest provenance.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass

import imagehash
import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "ImageHashes",
    "hamming",
    "hash_versions",
    "hex_to_uint64",
    "image_hashes",
    "phash_hex",
    "pixel_sha256",
    "uint64_to_hex",
]


@dataclass(frozen=True)
class ImageHashes:
    """The hashes of one image (hex strings)."""

    md5: str
    pixel_sha256: str
    phash: str
    dhash: str | None = None


def pixel_sha256(rgb: NDArray[np.uint8]) -> str:
    """SHA-256 of decoded pixels (shape and mode included), equal for lossless re-encodings.

    Parameters
    ----------
    rgb
        ``(H, W, 3)`` uint8 array.
    """
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    h = hashlib.sha256(f"{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


_N = 32  # imagehash's pHash: 8x8 hash, high-frequency factor 4 → 32x32 grey image
_K = np.arange(8)[:, None]
_DCT8 = 2.0 * np.cos(np.pi * _K * (2 * np.arange(_N)[None, :] + 1) / (2 * _N))  # (8, 32)


def phash_hex(gray: Image.Image) -> str:
    """imagehash's ``str(phash(img))`` for a mode-``L`` image, computed without its overhead.

    Same steps as imagehash 4.3 (Lanczos resize to 32×32, unnormalised DCT-II on both axes,
    8×8 low frequencies compared with their median), but only the 8 needed DCT rows are
    evaluated, as a matrix product. When a coefficient lies within rounding noise of the
    median (flat images) imagehash itself is called, so the result is always identical.
    """
    small = gray.resize((_N, _N), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.float64)
    low = _DCT8 @ pixels @ _DCT8.T
    med = np.median(low)
    if np.min(np.abs(low - med)) < 1e-6 * (1.0 + abs(med)):
        return str(imagehash.phash(gray))
    return np.packbits((low > med).ravel()).tobytes().hex()


def image_hashes(image: Image.Image, data: bytes, *, dhash: bool = False) -> ImageHashes:
    """Hashes of an already decoded RGB image and the bytes it was decoded from.

    Parameters
    ----------
    image
        The decoded image in mode ``RGB`` (the caller converts once).
    data
        The file's bytes (MD5 is of these, so a re-encoding changes it).
    dhash
        Also compute imagehash's dHash.
    """
    rgb = np.asarray(image)
    gray = image.convert("L")  # one conversion shared by both perceptual hashes
    return ImageHashes(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        pixel_sha256=pixel_sha256(rgb),
        phash=phash_hex(gray),
        dhash=str(imagehash.dhash(gray)) if dhash else None,
    )


def hex_to_uint64(hexes: list[str] | NDArray[np.str_]) -> NDArray[np.uint64]:
    """16-char hex hashes → ``(N,)`` uint64 array (the bit order of imagehash's hex)."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def uint64_to_hex(values: NDArray[np.uint64]) -> list[str]:
    """Inverse of :func:`hex_to_uint64`."""
    return [f"{int(v):016x}" for v in values]


def hamming(a: str, b: str) -> int:
    """Hamming distance between two hex hashes of the same length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hash_versions() -> dict[str, str]:
    """Versions that determine the perceptual hashes (stored in the manifest provenance)."""
    out = {}
    for name in ("imagehash", "pillow", "scipy", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "unknown"
    return out
