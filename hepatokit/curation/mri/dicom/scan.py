"""Scan a Part-10 file's elements from a few large reads, as pydicom's element generator would.

The index reads every header of the raw tree. pydicom's
:func:`~pydicom.filereader.data_element_generator` reads each element with several small file
calls (``read`` / ``tell`` / ``seek`` on a buffered file, ~7 µs an element, ~380 µs a synthetic
slice: as much CPU as dcm2niix spends converting it). :func:`scan_elements` walks the same
elements over an in-memory window of the file (16 KiB reads; the pixel data are skipped, not
read) and builds the same :class:`~pydicom.dataelem.RawDataElement` objects, for the same tags,
with the same deferral and end-of-file behaviour.

It handles only the plain case: explicit or implicit VR little endian, every element of defined
length and a known VR (or implicit), the file meta group the same. On anything else (undefined
lengths, a VR switch, big endian, a short file meta group) it returns :data:`DECLINED` and the
caller reads the file with pydicom's generator instead. Its result is checked against that
generator on pydicom's own test files, the real scanner files under ``tests/data`` and every
synthetic file (``tests/curation/mri/dicom/test_header_scan.py``).
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO, Final

from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement, empty_value_for_VR
from pydicom.filereader import ENCODED_VR
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32
from pydicom.values import convert_string

__all__ = ["DECLINED", "scan_elements"]

#: returned when the file is not the plain case: read it with pydicom's generator
DECLINED: Final = None

_WINDOW = 16384
_UNDEFINED = 0xFFFFFFFF
_ITEM_DELIMITER = 0xFFFEE00D
_CHARSET = 0x00080005
_EXPLICIT = struct.Struct("<HH2sH").unpack_from
_IMPLICIT = struct.Struct("<HHL").unpack_from
_LENGTH32 = struct.Struct("<L").unpack_from
_KNOWN_VR = frozenset(ENCODED_VR)
_LONG_VR = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_32)
_VR_TEXT = {vr: vr.decode() for vr in ENCODED_VR}
#: VR bytes → (VR, whether its length is 32-bit after 2 reserved bytes)
_VR_KIND = {vr: (vr.decode(), vr in _LONG_VR) for vr in ENCODED_VR}
_TAGS: dict[int, BaseTag] = {}


def _base_tag(tag: int) -> BaseTag:
    """One ``BaseTag`` a tag, reused (an immutable int)."""
    out = _TAGS.get(tag)
    if out is None:
        out = _TAGS[tag] = BaseTag(tag)
    return out


class _Decline(Exception):
    """The file is not the plain case."""


class _Window:
    """Reads of a file through one buffer: ``take(pos, n)`` returns the file's bytes
    ``[pos, pos + n)`` (fewer at its end), refilling the buffer only when they are outside it."""

    __slots__ = ("base", "data", "eof", "fh")

    def __init__(self, fh: BinaryIO, start: int) -> None:
        self.fh = fh
        self.base = start
        self.data = fh.read(_WINDOW)
        self.eof = start + len(self.data) if len(self.data) < _WINDOW else -1

    def take(self, pos: int, n: int) -> bytes:
        off = pos - self.base
        if off >= 0 and off + n <= len(self.data):
            return self.data[off : off + n]
        if 0 <= self.eof <= pos:
            return b""
        if off >= 0 and self.eof >= 0:  # inside the buffer, running past the file's end
            return self.data[off:]
        self.fh.seek(pos)
        want = max(n, _WINDOW)
        self.data = self.fh.read(want)
        self.base = pos
        self.eof = pos + len(self.data) if len(self.data) < want else -1
        return self.data[:n]


def _header(win: _Window, pos: int, implicit: bool) -> tuple[int, str | None, int, int]:
    """``(tag, VR, length, value position)`` of the element at ``pos``; raises
    :class:`_Decline` where pydicom's generator would do anything but the plain read, and
    :class:`EOFError` at the file's end."""
    head = win.take(pos, 8)
    if len(head) < 8:
        raise EOFError
    if implicit:
        group, elem, length = _IMPLICIT(head)
        vr = None
        pos += 8
    else:
        group, elem, vr_bytes, length = _EXPLICIT(head)
        if vr_bytes not in _KNOWN_VR:
            raise _Decline  # a VR switch or an unknown VR: pydicom guesses
        vr = _VR_TEXT[vr_bytes]
        pos += 8
        if vr_bytes in _LONG_VR:
            extra = win.take(pos, 4)
            if len(extra) < 4:
                raise _Decline  # pydicom raises on it
            length = _LENGTH32(extra)[0]
            pos += 4
    if length == _UNDEFINED:
        raise _Decline
    return group << 16 | elem, vr, length, pos


def _value(win: _Window, pos: int, length: int, vr: str | None) -> Any:
    return win.take(pos, length) if length > 0 else empty_value_for_VR(vr, raw=True)


def scan_elements(
    fh: BinaryIO, tags: frozenset[int], *, defer_size: int
) -> tuple[dict[int, RawDataElement], dict[int, RawDataElement], bool] | None:
    """``(file meta, dataset, implicit VR)`` elements of the Part-10 file open in ``fh``
    (positioned after the preamble and ``DICM``), keyed by tag: the file meta group whole,
    the dataset's elements in ``tags`` (+ Specific Character Set; values longer than
    ``defer_size`` bytes deferred: ``None``). Exactly what
    ``data_element_generator(fh, False, True, stop_when=<group is not 0002>)`` then
    ``data_element_generator(fh, implicit, True, defer_size=…, specific_tags=tags)`` yield;
    :data:`DECLINED` (None) where the file is not the plain case, or the dataset's transfer
    syntax is not little endian (the caller reads those with pydicom)."""
    start = fh.tell()
    win = _Window(fh, start)
    pos = start
    meta: dict[int, RawDataElement] = {}
    try:
        while True:
            head = win.take(pos, 8)
            if len(head) < 8:
                return DECLINED  # a file of file meta only: pydicom's path decides
            group, elem, vr_bytes, _ = _EXPLICIT(head)
            if group << 16 | elem == _ITEM_DELIMITER:
                return DECLINED
            if group != 0x0002:  # the dataset starts (pydicom rewinds to it, any VR)
                if vr_bytes in _LONG_VR and len(win.take(pos + 8, 4)) < 4:
                    return DECLINED  # pydicom raises on it
                break
            tag, vr, length, at = _header(win, pos, False)
            meta[tag] = RawDataElement(
                BaseTag(tag), vr, length, _value(win, at, length, vr), at, False, True
            )
            pos = at + length
        syntax = meta.get(0x00020010)
        if syntax is None or not isinstance(syntax.value, bytes):
            return DECLINED
        uid = syntax.value.rstrip(b"\x00 ").decode("ascii", "replace")
        if uid == "1.2.840.10008.1.2":
            implicit = True
        elif uid in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
            return DECLINED  # big endian, deflated
        else:
            implicit = False
        elements: dict[int, RawDataElement] = {}
        new = tuple.__new__  # a RawDataElement without its keyword-argument handling
        explicit = not implicit
        data, base = win.data, win.base
        end = base + len(data) - 12  # the last position whose longest header is in the buffer
        while True:
            # the plain element, its header in the buffer: inline; anything else: _header
            if base <= pos <= end:
                off = pos - base
                if explicit:
                    group, elem, vr_bytes, length = _EXPLICIT(data, off)
                    kind = _VR_KIND.get(vr_bytes)
                    if kind is None:
                        raise _Decline  # a VR switch or an unknown VR: pydicom guesses
                    vr, long = kind
                    if long:
                        length = _LENGTH32(data, off + 8)[0]
                        at = pos + 12
                    else:
                        at = pos + 8
                else:
                    group, elem, length = _IMPLICIT(data, off)
                    vr = None
                    at = pos + 8
                if length == _UNDEFINED:
                    raise _Decline
                tag = group << 16 | elem
            else:
                try:
                    tag, vr, length, at = _header(win, pos, implicit)
                except EOFError:
                    break
                data, base = win.data, win.base
                end = base + len(data) - 12
            if tag == _ITEM_DELIMITER:
                break
            pos = at + length
            if tag == _CHARSET:  # never deferred; decoded now, as pydicom (its warnings too)
                value = _value(win, at, length, vr)
                data, base = win.data, win.base
                end = base + len(data) - 12
                convert_encodings(convert_string(value or b"", True))
            elif tag not in tags:
                continue
            elif length > defer_size:
                value = None
            elif length:
                if base <= at and pos <= base + len(data):
                    value = data[at - base : pos - base]
                else:
                    value = win.take(at, length)
                    data, base = win.data, win.base
                    end = base + len(data) - 12
            else:
                value = empty_value_for_VR(vr, raw=True)
            elements[tag] = new(
                RawDataElement,
                (_base_tag(tag), vr, length, value, at, implicit, True, True, False),
            )
    except _Decline:
        return DECLINED
    return meta, elements, implicit
