"""Image files without metadata: what a published patch or tile may carry, and nothing else.

Patch files come with whatever their scanner, viewer or exporter wrote into them: PNG
``tEXt`` / ``zTXt`` / ``iTXt`` / ``eXIf`` chunks, JPEG EXIF / XMP / ICC / comment segments,
TIFF ``ImageDescription`` and private tags, bytes appended after the image's end. Any of
them can hold a patient name, an accession number or a slide label.

:func:`scrub_image` gives the bytes a published file holds:

* **PNG** and every lossless format PIL reads (TIFF, BMP, GIF, WebP...): re-encoded as PNG
  from the decoded pixels, with no ancillary chunk except ``tRNS`` (transparency is pixel
  data). The pixels are identical; the bytes are new.
* **JPEG**: re-encoding from pixels would lose quality, so the file is rebuilt segment by
  segment instead: only what a decoder needs is kept (``SOF``, ``DHT``, ``DQT``, ``DRI``,
  ``SOS`` + entropy-coded data, a JFIF ``APP0`` without its thumbnail, an Adobe ``APP14``
  that tells the colour transform); EXIF, XMP, ICC, comments, any other ``APPn`` and
  everything after the first ``EOI`` (MPO images, appended data) are dropped. The
  compressed data is kept byte for byte, so the decoded pixels are identical.

:func:`metadata_text` lists the text-bearing metadata a file still holds (the histology
PHI audit and the tests check that published files hold none).
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from typing import Literal

__all__ = [
    "ImageScrubError",
    "metadata_text",
    "metadata_values",
    "published_format",
    "scrub_image",
]

#: PNG chunks a published file may hold (critical chunks + transparency)
PNG_KEEP = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS"})
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


class ImageScrubError(ValueError):
    """The file cannot be rebuilt without its metadata (not a decodable image)."""


def published_format(fmt: str | None) -> Literal["png", "jpg"]:
    """The extension a file of PIL format ``fmt`` is published as (JPEG stays JPEG)."""
    return "jpg" if str(fmt or "").upper() in ("JPEG", "JPG", "MPO") else "png"


def scrub_image(data: bytes | memoryview, fmt: str | None = None) -> bytes:
    """``data`` without any metadata, as the format :func:`published_format` names.

    Parameters
    ----------
    data
        The file's bytes.
    fmt
        PIL's format name when known (else sniffed from the bytes).

    Raises
    ------
    ImageScrubError
        The bytes are not a decodable image (or a malformed JPEG).
    """
    data = bytes(data)
    if fmt is None:
        fmt = "JPEG" if data[:3] == b"\xff\xd8\xff" else "PNG"
    if published_format(fmt) == "jpg":
        return strip_jpeg(data)
    return reencode_png(data)


def reencode_png(data: bytes) -> bytes:
    """A PNG with the pixels of ``data`` (any format PIL decodes) and no metadata."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            transparency = im.info.get("transparency")
            clean = im.copy()
    except Exception as exc:  # PIL raises many types for bad bytes
        raise ImageScrubError(f"not a decodable image: {type(exc).__name__}") from exc
    clean.info = {}
    if clean.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        clean = clean.convert("RGBA" if "A" in clean.mode else "RGB")
    buf = io.BytesIO()
    kwargs = {}
    if transparency is not None and clean.mode in ("P", "L", "RGB", "I", "I;16"):
        kwargs["transparency"] = transparency  # pixel data (which value is see-through)
    # zlib level 1: measured ~2.6× faster than Pillow's default 6 on 150 px H&E patches for
    # ~3 % more bytes (bench/RESULTS.md); the bytes are deterministic for one zlib
    clean.save(buf, format="PNG", compress_level=1, **kwargs)
    return buf.getvalue()


# JPEG markers
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_KEEP_SEGMENTS = {0xC4, 0xDB, 0xDD} | {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}
_KEEP_SEGMENTS.add(0xCC)  # DAC: arithmetic-coding conditioning (no text)


def strip_jpeg(data: bytes) -> bytes:
    """A JPEG holding only the segments a decoder needs (see the module docstring)."""
    if data[:2] != b"\xff\xd8":
        raise ImageScrubError("not a JPEG (no SOI marker)")
    out = bytearray(b"\xff\xd8")
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ImageScrubError(f"malformed JPEG: no marker at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            out += b"\xff\xd9"
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            out += bytes((0xFF, marker))
            continue
        if pos + 2 > n:
            raise ImageScrubError("malformed JPEG: truncated segment header")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > n:
            raise ImageScrubError("malformed JPEG: segment runs past the end")
        body = data[pos + 2 : pos + length]
        pos += length
        if marker == 0xE0 and body[:5] == b"JFIF\x00" and len(body) >= 14:
            out += b"\xff\xe0" + struct.pack(">H", 16) + body[:12] + b"\x00\x00"
        elif marker == 0xEE and body[:5] == b"Adobe" and len(body) >= 12:
            out += b"\xff\xee" + struct.pack(">H", 14) + body[:12]
        elif marker in _KEEP_SEGMENTS or marker == _SOS:
            out += bytes((0xFF, marker)) + struct.pack(">H", length) + body
        # else: APPn (EXIF, XMP, ICC...), COM, DNL-less oddities: dropped
        if marker == _SOS:  # entropy-coded data up to the next real marker
            start = pos
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    raise ImageScrubError("malformed JPEG: no end of image (EOI) marker")
                nxt = data[pos + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    pos += 1 if nxt == 0xFF else 2
                    continue
                break
            out += data[start:pos]
    raise ImageScrubError("malformed JPEG: no end of image (EOI) marker")


# --------------------------------------------------------------------------- inspection
def metadata_text(data: bytes) -> list[str]:
    """Text-bearing metadata still in ``data``: a list of ``"<where>: <text>"`` (empty = none).

    Looks at PNG ancillary chunks (text inflated), JPEG ``APPn`` / ``COM`` segments, TIFF
    tags PIL exposes, and bytes after the image's end.
    """
    if data[:8] == _PNG_SIG:
        return _png_text(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_text(data)
    from PIL import Image

    found = []
    try:
        with Image.open(io.BytesIO(data)) as im:
            for key, value in getattr(im, "tag_v2", {}).items():
                if isinstance(value, str | bytes):
                    found.append(f"tiff tag {key}: {value!r}")
            found += [f"info {k}: {v!r}" for k, v in im.info.items() if isinstance(v, str | bytes)]
    except Exception as exc:
        found.append(f"undecodable: {type(exc).__name__}")
    return found


def _png_text(data: bytes) -> list[str]:
    found, pos = [], 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if ctype in PNG_KEEP:
            if ctype == b"IEND":
                break
            continue
        text = body
        if ctype in (b"zTXt", b"iCCP"):
            key, _, rest = body.partition(b"\x00")
            with contextlib.suppress(zlib.error):
                text = key + b" " + zlib.decompress(rest[1:])
        found.append(f"png {ctype.decode('latin-1')}: {text[:200]!r}")
    if pos < len(data):
        found.append(f"png trailing bytes: {data[pos : pos + 200]!r}")
    return found


def _jpeg_text(data: bytes) -> list[str]:
    found, pos, n = [], 2, len(data)
    while pos + 4 <= n and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (_SOS, _EOI):
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if marker == 0xE0 and body[:5] == b"JFIF\x00" and len(body) <= 14:
            continue
        if marker == 0xEE and body[:5] == b"Adobe" and len(body) <= 12:
            continue
        if marker == 0xFE or 0xE0 <= marker <= 0xEF:
            found.append(f"jpeg segment {marker:#04x}: {body[:200]!r}")
    eoi = data.rfind(b"\xff\xd9")
    if eoi >= 0 and eoi + 2 < n:
        found.append(f"jpeg trailing bytes: {data[eoi + 2 : eoi + 202]!r}")
    return found


def metadata_values(data: bytes) -> list[str]:
    """The text values of ``data``'s metadata (PNG text chunks, JPEG comments, EXIF and TIFF
    string tags), for the PHI audit to look for in published outputs. Empty when none, or
    when the bytes do not decode."""
    from PIL import Image

    values: list[str] = []

    def add(v: object) -> None:
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, str):
            v = v.strip("\x00 \t\r\n")
            if v:
                values.append(v)

    try:
        with Image.open(io.BytesIO(data)) as im:
            for key, v in im.info.items():
                if key in (
                    "icc_profile",
                    "exif",
                    "dpi",
                    "transparency",
                    "gamma",
                    "jfif_density",
                    "compression",
                ):  # fmt: skip:
                    continue
                add(v)
            for v in (getattr(im, "text", None) or {}).values():
                add(v)
            for v in im.getexif().values():
                add(v)
            for v in getattr(im, "tag_v2", {}).values():
                add(v)
    except Exception:
        return values
    return sorted(set(values))
