"""Structural checks of JPEG 2000 pixel data (ISO/IEC 15444-1 Annex A), without decoding.

A JPEG 2000 codestream that is damaged (cut short, spliced, bytes flipped) often still
decodes without an error: OpenJPEG, and so dcm2niix, fill what they cannot read with
whatever the remaining bits give, and the slice converts "fine". What can be checked
cheaply, from the bytes alone, is the codestream's frame:

* it starts with SOC and SIZ, and SIZ's image size and components agree with the DICOM
  header (Rows, Columns, SamplesPerPixel; a precision no larger than BitsAllocated);
* every marker segment of the main and tile-part headers is a known kind and fits;
* the tile-parts' lengths (``Psot``) chain from one SOT to the next and end at EOC;
* the packet data hold no marker code (``FF`` followed by a byte above ``8F``, other than
  the SOP / EPH markers): the coder never writes one, a flipped or foreign byte does.

Damage confined to the entropy-coded bytes that keeps every length and makes no marker
code is not visible this way (a JPEG 2000 codestream carries no checksum); volume QC's
``corrupt_slice`` catches it when the slice turns into noise.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["J2K_SYNTAXES", "codestream_problem", "j2k_problem"]

#: JPEG 2000 transfer syntaxes (Part 1 lossless / lossy, HTJ2K)
J2K_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    }
)

_SOC, _SIZ, _SOT, _SOD, _EOC, _SOP, _EPH = 0x4F, 0x51, 0x90, 0x93, 0xD9, 0x91, 0x92
#: marker segments with a length that may appear in a main or tile-part header
_SEGMENTS = frozenset(range(0x50, 0x80)) - {_SIZ}
_ITEM, _SEQ_END = 0xE000FFFE, 0xE0DDFFFE  # (FFFE,E000) / (FFFE,E0DD), little endian
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def _size(cs: bytes, rows: int, cols: int, samples: int, bits: int | None) -> str | None:
    """SIZ against the DICOM header."""
    if len(cs) < 42 or cs[:4] != b"\xff\x4f\xff\x51":
        return "does not start with the SOC and SIZ markers"
    lsiz = struct.unpack_from(">H", cs, 4)[0]
    xsiz, ysiz, xo, yo = struct.unpack_from(">IIII", cs, 8)
    csiz = struct.unpack_from(">H", cs, 40)[0]
    if lsiz != 38 + 3 * csiz or len(cs) < 4 + lsiz:
        return f"SIZ length {lsiz} does not fit {csiz} component(s)"
    if (xsiz - xo, ysiz - yo) != (cols, rows) or csiz != samples:
        return (
            f"SIZ says {xsiz - xo}x{ysiz - yo} with {csiz} component(s), the header "
            f"{cols}x{rows} with {samples}"
        )
    precision = max((cs[42 + 3 * c] & 0x7F) + 1 for c in range(csiz))
    if bits and precision > bits:
        return f"SIZ precision {precision} bits exceeds BitsAllocated {bits}"
    return None


def _segments(cs: bytes, pos: int, stop: int) -> tuple[int, str | None]:
    """Walk marker segments from ``pos`` until SOT or SOD; the position of that marker."""
    while pos + 4 <= stop:
        if cs[pos] != 0xFF:
            return pos, f"byte {pos}: expected a marker, found {cs[pos]:02X}"
        code = cs[pos + 1]
        if code in (_SOT, _SOD):
            return pos, None
        if code not in _SEGMENTS:
            return pos, f"byte {pos}: unexpected marker FF{code:02X} in a header"
        pos += 2 + struct.unpack_from(">H", cs, pos + 2)[0]
    return pos, "the codestream ends inside a header"


def _packet_data(cs: bytes, start: int, end: int) -> str | None:
    """A marker code inside packet data (only SOP and EPH may appear there)."""
    pos = cs.find(b"\xff", start, end - 1)
    while pos != -1:
        code = cs[pos + 1]
        if code > 0x8F and code not in (_SOP, _EPH):
            return f"byte {pos}: marker code FF{code:02X} inside packet data"
        pos = cs.find(b"\xff", pos + 1, end - 1)
    return None


def _jp2_codestream(data: bytes) -> bytes:
    """The contents of the ``jp2c`` box of a JP2 file (empty when there is none)."""
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if length == 1 and pos + 16 <= len(data):
            length, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif length == 0:
            length = len(data) - pos
        if kind == b"jp2c":
            return data[pos + head : pos + length]
        if length < head:
            break
        pos += length
    return b""


def codestream_problem(
    cs: bytes, *, rows: int, cols: int, samples: int = 1, bits_allocated: int | None = None
) -> str | None:
    """What is wrong with one JPEG 2000 codestream (None: nothing the frame shows)."""
    if cs[:12] == _JP2_SIGNATURE:  # a JP2 file around the codestream (decoders accept it)
        cs = _jp2_codestream(cs)
    problem = _size(cs, rows, cols, samples, bits_allocated)
    if problem:
        return problem
    end = len(cs.rstrip(b"\x00"))  # DICOM pads fragments to an even length
    if cs[end - 3 : end - 1] == b"\xff\xd9":  # (some writers pad with another byte)
        end -= 1
    if end < 2 or cs[end - 2 : end] != b"\xff\xd9":
        return f"does not end with the EOC marker ({len(cs)} bytes: cut short?)"
    end -= 2
    pos, problem = _segments(cs, 4 + struct.unpack_from(">H", cs, 4)[0], end)
    if problem:
        return problem
    while pos < end:
        if cs[pos : pos + 2] != b"\xff\x90" or pos + 12 > end:
            return f"byte {pos}: expected a tile-part (SOT), found {cs[pos : pos + 2].hex()}"
        psot = struct.unpack_from(">I", cs, pos + 6)[0]
        part_end = end if psot == 0 else pos + psot
        if part_end > end:
            return f"byte {pos}: tile-part length {psot} runs past the end of the codestream"
        sod, problem = _segments(cs, pos + 12, part_end)
        if problem or cs[sod + 1] != _SOD:
            return problem or f"byte {sod}: tile-part header without SOD"
        problem = _packet_data(cs, sod + 2, part_end)
        if problem:
            return problem
        pos = part_end
    return None


def _fragments(fh: BinaryIO, limit: int) -> Iterator[bytes]:
    """The fragments of encapsulated pixel data read from ``fh`` (after the basic offset
    table), each bounded by ``limit`` bytes in all."""
    first = True
    while True:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError("the pixel data end without a sequence delimiter")
        tag, length = struct.unpack("<II", head)
        if tag == _SEQ_END:
            return
        if tag != _ITEM or length > limit:
            raise ValueError(f"bad pixel data item (tag {tag:08X}, length {length})")
        data = fh.read(length)
        if len(data) < length:
            raise ValueError("a pixel data fragment is cut short")
        limit -= length
        if not first:
            yield data
        first = False


def j2k_problem(
    path: str | Path, offset: int, *, frames: int, rows: int, cols: int, samples: int,
    bits_allocated: int | None,
) -> str | None:  # fmt: skip
    """What is wrong with the JPEG 2000 pixel data of the file at ``path`` (its value
    starting at byte ``offset``), or None. One fragment per frame, or one frame in several
    fragments; other layouts are not checked."""
    size = Path(path).stat().st_size
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            fragments = list(_fragments(fh, size))
    except ValueError as exc:
        return str(exc)
    if frames == 1:
        fragments = [b"".join(fragments)]
    elif len(fragments) != frames:
        return None  # several fragments per frame: frame boundaries not known here
    for k, cs in enumerate(fragments):
        problem = codestream_problem(
            cs, rows=rows, cols=cols, samples=samples, bits_allocated=bits_allocated
        )
        if problem:
            return f"JPEG 2000 frame {k + 1} of {frames}: {problem}"
    return None
