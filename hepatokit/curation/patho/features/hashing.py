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

import functools
import hashlib
import importlib.metadata
import math
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
    h.update(arr.data)  # the buffer itself, not a copy
    return h.hexdigest()


_N = 32  # imagehash's pHash: 8x8 hash, high-frequency factor 4 → 32x32 grey image
_K = np.arange(8)[:, None]
_DCT8 = 2.0 * np.cos(np.pi * _K * (2 * np.arange(_N)[None, :] + 1) / (2 * _N))  # (8, 32)

# Pillow's 8-bit resampling (libImaging/Resample.c) weighs pixels with integer coefficients
# scaled by 2**22 (32 - 8 - 2 bits) and rounds each pass back to 8 bits.
_PRECISION_BITS = 22
_LANCZOS_SUPPORT = 3.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    if -_LANCZOS_SUPPORT <= x < _LANCZOS_SUPPORT:
        return _sinc(x) * _sinc(x / 3)
    return 0.0


def _lanczos_weights(in_size: int, out_size: int) -> NDArray[np.float64]:
    """Pillow's Lanczos weights for ``in_size`` → ``out_size`` pixels, ``(out_size, in_size)``.

    Mirrors ``precompute_coeffs`` and ``normalize_coeffs_8bpc`` of Pillow's ``Resample.c``
    operation by operation (Python floats and ``math.sin`` are C's doubles and libm's
    ``sin``), so each entry is Pillow's integer coefficient times ``2**-22``: exact in
    float64, as is every partial sum of pixels times them (Pillow's own sums fit an int32).
    A matrix product with them thus gives Pillow's sums whatever the summation order.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    ss = 1.0 / filterscale
    one = float(1 << _PRECISION_BITS)
    out = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        weights = [_lanczos((x - center + 0.5) * ss) for x in range(xmin, xmax)]
        ww = 0.0
        for w in weights:  # in order, as C does (not Python's compensated sum())
            ww += w
        for x, w in enumerate(weights):
            k = w / ww if ww != 0.0 else w
            out[xx, xmin + x] = int(-0.5 + k * one) if k < 0 else int(0.5 + k * one)
    return out / one


def _round_to_uint8(sums: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pillow's ``clip8((ss + 2**21) >> 22)`` on sums already scaled by ``2**-22`` (in place)."""
    sums += 0.5
    np.floor(sums, out=sums)
    return sums.clip(0.0, 255.0, out=sums)


@dataclass(frozen=True)
class _BandedWeights:
    """A ``(32, n)`` resampling matrix as blocks of 8 rows over their non-zero columns.

    Each output pixel weighs a narrow window of input pixels, so block products do a third
    of the dense product's work, and each stays small enough that BLAS runs it on the
    calling thread (a dense 150-pixel pass would start OpenBLAS's thread pool in every
    worker process).
    """

    blocks: tuple[tuple[slice, slice, NDArray[np.float64]], ...]

    @classmethod
    def of(cls, weights: NDArray[np.float64], rows: int = 8) -> _BandedWeights:
        blocks = []
        for start in range(0, weights.shape[0], rows):
            block = weights[start : start + rows]
            used = np.flatnonzero(block.any(axis=0))
            lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
            blocks.append(
                (slice(start, start + rows), slice(lo, hi), np.ascontiguousarray(block[:, lo:hi]))
            )
        return cls(tuple(blocks))

    def apply(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``weights @ x`` for an ``(n, m)`` array."""
        out = np.empty((_N, x.shape[1]))
        for rows, cols, block in self.blocks:
            np.matmul(block, x[cols], out=out[rows])
        return out


@dataclass(frozen=True)
class _Lanczos32:
    """Pillow's 8-bit Lanczos resize of one input size to 32×32, as matrix products.

    ``horizontal`` weighs the ``W`` columns, ``vertical`` the ``H`` rows, each pass rounded
    to 8 bits as Pillow does. Pillow resizes horizontally first, except (recent releases)
    when the height shrinks much more than the width: ``vertical_first``.
    """

    horizontal: _BandedWeights
    vertical: _BandedWeights
    vertical_first: bool

    def __call__(self, gray: NDArray[np.uint8]) -> NDArray[np.float64]:
        pixels = gray.astype(np.float64)
        if self.vertical_first:
            columns = _round_to_uint8(self.vertical.apply(pixels))  # (32, W)
            return _round_to_uint8(self.horizontal.apply(columns.T)).T
        rows_t = _round_to_uint8(self.horizontal.apply(pixels.T))  # (32, H): transposed rows
        return _round_to_uint8(self.vertical.apply(rows_t.T))


@functools.lru_cache(maxsize=16)
def _lanczos_32_for(width: int, height: int) -> _Lanczos32 | None:
    """The 32×32 resize of ``width``×``height`` images, in the installed Pillow's pass order.

    Both orders are compared with Pillow's own resize of noise images of that size; None
    when neither reproduces it (a Pillow whose resampling differs): Pillow resizes then.
    """
    horizontal = _BandedWeights.of(_lanczos_weights(width, _N))
    vertical = _BandedWeights.of(_lanczos_weights(height, _N))
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (height, width), dtype=np.uint8) for _ in range(2)]
    lanczos = Image.Resampling.LANCZOS
    refs = [np.asarray(Image.fromarray(n).resize((_N, _N), lanczos)) for n in noise]
    for vertical_first in (False, True):
        resize = _Lanczos32(horizontal, vertical, vertical_first)
        if all(np.array_equal(resize(n), ref) for n, ref in zip(noise, refs, strict=True)):
            return resize
    return None


def _lanczos_32(gray: Image.Image) -> NDArray[np.float64]:
    """``gray.resize((32, 32), LANCZOS)`` as a float64 array, bit-identical to Pillow's."""
    resize = _lanczos_32_for(gray.width, gray.height)
    if resize is None:
        return np.asarray(gray.resize((_N, _N), Image.Resampling.LANCZOS), dtype=np.float64)
    return resize(np.asarray(gray))


def phash_hex(gray: Image.Image) -> str:
    """imagehash's ``str(phash(img))`` for a mode-``L`` image, computed without its overhead.

    Same steps as imagehash 4.3 (Lanczos resize to 32×32, unnormalised DCT-II on both axes,
    8×8 low frequencies compared with their median), but Pillow's fixed-point Lanczos resize
    is reproduced as two matrix products (bit for bit; Pillow resizes for any size where it
    would not be) and only the 8 needed DCT rows are evaluated. When a coefficient lies
    within rounding noise of the median (flat images) imagehash itself is called, so the
    result is always identical.
    """
    low = _DCT8 @ _lanczos_32(gray) @ _DCT8.T
    ordered = np.sort(low, axis=None)
    med = 0.5 * (ordered[31] + ordered[32])  # np.median of the 64 values, without its overhead
    if np.min(np.abs(low - med)) < 1e-6 * (1.0 + abs(med)):
        return str(imagehash.phash(gray))
    return np.packbits((low > med).ravel()).tobytes().hex()


def image_hashes(
    image: Image.Image,
    data: bytes,
    *,
    dhash: bool = False,
    pixels: NDArray[np.uint8] | None = None,
) -> ImageHashes:
    """Hashes of an already decoded RGB image and the bytes it was decoded from.

    Parameters
    ----------
    image
        The decoded image in mode ``RGB`` (the caller converts once).
    data
        The file's bytes (MD5 is of these, so a re-encoding changes it).
    dhash
        Also compute imagehash's dHash.
    pixels
        ``np.asarray(image)`` when the caller has it already (each conversion copies the
        image, ~60 µs for a 150 px patch: the ingest analysis makes one for every measure).
    """
    rgb = np.asarray(image) if pixels is None else pixels
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
