"""Decode DICOM header values cheaply, and find the diffusion b-value of an image.

The index reads ~50 elements of every file. pydicom's attribute access converts each value
through several layers (~20 µs an element), so these helpers decode the raw bytes of a
:class:`~pydicom.dataelem.RawDataElement` directly (text VRs, and the binary number VRs
``US``/``SS``/``UL``/``SL``/``FL``/``FD``) and use pydicom's own conversion only for the
rest (sequences, other binary VRs, elements pydicom already converted).

Every helper takes the elements of one header as a mapping ``tag (int) → element``: a
``Dataset`` (its ``_dict``) or the mapping that :func:`~.dicom_tags.read_header` builds
without one.

Text is decoded exactly as pydicom decodes it: 7-bit values without escape sequences (the
common case) directly, every other value of a character-set VR (SH, LO, ST, LT, UT, PN, UC)
through pydicom's own conversion with the header's (0008,0005) Specific Character Set
(GB18030, ISO 2022 IR 87 / 149 escapes, Latin-1, UTF-8, multi-valued sets); a header without
one is read as pydicom reads it (ISO-IR 6, with pydicom's Latin-1 fallback).

Diffusion b-values come from the standard tag (0018,9087) and, when it is absent, from the
vendors' private tags: Siemens (0019,100C), GE (0043,1039) first value modulo 1e9, Philips
(2001,1003), United Imaging (0065,1009).
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pydicom
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.tag import Tag

__all__ = [
    "BVALUE_PRIVATE_TAGS",
    "Elements",
    "b_value_of",
    "character_set_of",
    "elements_of",
    "float_of",
    "floats_of",
    "int_of",
    "seconds_of_day",
    "text_of",
    "values_of",
]

#: the elements of one header: tag → pydicom ``RawDataElement`` or ``DataElement``
Elements = Mapping[int, Any]

#: (tag, vendor, VR hint) of the vendors' private b-value tags
BVALUE_PRIVATE_TAGS: tuple[tuple[int, str, str], ...] = (
    (0x0019100C, "siemens", "IS"),
    (0x00431039, "ge", "IS"),
    (0x20011003, "philips", "FL"),
    (0x00651009, "uih", "FD"),
)

# ----------------------------------------------------------------------------- values
_STRUCT = {
    "US": ("H", 2),
    "SS": ("h", 2),
    "UL": ("L", 4),
    "SL": ("l", 4),
    "FL": ("f", 4),
    "FD": ("d", 8),
}
#: VRs whose raw bytes are not text (decoded by pydicom, or by :data:`_STRUCT`)
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ", "AT", "SV", "UV"})
#: padding stripped from text values (DICOM pads with space or NUL; some writers add more)
_PAD = "\x00 \t\n\r\x0b\x0c"


@lru_cache(maxsize=512)
def _tag(keyword: str) -> int:
    return int(Tag(keyword))


@lru_cache(maxsize=512)
def _vr_of(tag: int) -> str | None:
    """The dictionary VR of a standard tag (implicit-VR files carry none); None if unknown."""
    try:
        return str(dictionary_VR(tag)).split(" or ")[0]
    except KeyError:
        return None


def elements_of(ds: pydicom.Dataset | Elements) -> Elements:
    """The tag → element mapping of a ``Dataset`` (or the mapping itself)."""
    if isinstance(ds, pydicom.Dataset):
        return ds._dict  # type: ignore[return-value]  # BaseTag is an int
    return ds


#: (0008,0005) Specific Character Set
_CHARSET_TAG = 0x00080005
#: text VRs whose bytes follow the Specific Character Set (the others are plain ASCII)
_CHARSET_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "PN", "UC"})


def _is_plain_ascii(raw: bytes) -> bool:
    """True when every byte is 7-bit and there is no ISO 2022 escape (the fast path)."""
    return raw.isascii() and b"\x1b" not in raw


def character_set_of(elements: Elements) -> list[str]:
    """The Python codecs of a header's (0008,0005) Specific Character Set, as pydicom
    resolves them (:func:`pydicom.charset.convert_encodings`; default ISO-IR 6)."""
    elem = elements.get(_CHARSET_TAG)
    values: Any = None
    if elem is not None and elem.value is not None:
        raw = elem.value
        if isinstance(raw, bytes):
            text = raw.decode("ascii", "replace").strip(_PAD)
            values = [p.strip(_PAD) for p in text.split("\\")] if text else None
        else:
            values = list(raw) if isinstance(raw, pydicom.multival.MultiValue | list) else raw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(convert_encodings(values))


def _decoded_text(elem: Any, tag: int, vr: str, elements: Elements | None) -> str:
    """A raw text value as pydicom decodes it: plain ASCII directly, anything else through
    :func:`~pydicom.dataelem.convert_raw_data_element` with the header's character set
    (multi-valued sets and ISO 2022 escape sequences included)."""
    raw: bytes = elem.value
    if _is_plain_ascii(raw) or vr not in _CHARSET_VRS:
        return raw.decode("latin-1")
    encodings = character_set_of(elements or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = convert_raw_data_element(elem, encoding=encodings).value
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _raw_parts(
    elem: Any, tag: int, elements: Elements | None = None
) -> tuple[str | None, list[Any] | None]:
    """Decode a raw element: ``(text, None)`` for a text VR, ``(None, numbers)`` for a binary
    number VR, ``(None, None)`` when pydicom must convert it."""
    vr = elem.VR or _vr_of(tag)
    raw: bytes = elem.value
    if vr in _STRUCT:
        code, size = _STRUCT[vr]
        n = len(raw) // size
        order = "<" if elem.is_little_endian else ">"
        return None, list(struct.unpack(f"{order}{n}{code}", raw[: n * size]))
    if vr is None or vr in _BINARY_VRS:
        return None, None
    return _decoded_text(elem, tag, vr, elements), None


def _converted(elem: Any) -> list[Any]:
    if isinstance(elem, RawDataElement) and elem.value is None and elem.length:
        return []  # still deferred (longer than the index reads): absent, not a crash
    value = convert_raw_data_element(elem).value if isinstance(elem, RawDataElement) else elem.value
    if value is None:
        return []
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return list(value)
    return [value]


def _decoded(ds: pydicom.Dataset | Elements, keyword: str) -> tuple[str | None, list[Any]] | None:
    """One element, decoded: None if absent, ``(text, [])`` for a raw text value (left for
    the caller to split), else ``(None, values)``."""
    tag = _tag(keyword)
    elements = elements_of(ds)
    elem = elements.get(tag)
    if elem is None:
        return None
    if type(elem) is RawDataElement and elem.value is not None:
        text, numbers = _raw_parts(elem, tag, elements)
        if text is not None:
            return text, []
        if numbers is not None:
            return None, numbers
    return None, _converted(elem)


def values_of(ds: pydicom.Dataset | Elements, keyword: str) -> list[Any] | None:
    """The values of one element (None if absent), decoded from the raw bytes when possible."""
    decoded = _decoded(ds, keyword)
    if decoded is None:
        return None
    text, values = decoded
    if text is None:
        return values
    text = text.strip("\x00 ")
    return [p.strip("\x00 ") for p in text.split("\\")] if text else []


def text_of(ds: pydicom.Dataset | Elements, keyword: str) -> str | None:
    """An element's value as one text (multiple values joined by ``\\``); None if empty."""
    decoded = _decoded(ds, keyword)
    if decoded is None:
        return None
    text, values = decoded
    if text is not None:
        text = text.strip(_PAD)
        if "\\" in text:
            text = "\\".join(p.strip("\x00 ") for p in text.split("\\")).strip(_PAD)
        return text or None
    if not values:
        return None
    parts = [v.decode("latin-1", "replace") if isinstance(v, bytes) else str(v) for v in values]
    joined = "\\".join(parts).strip().strip("\x00").strip()
    return joined or None


def float_of(ds: pydicom.Dataset | Elements, keyword: str) -> float | None:
    """An element's first value as a float; None if absent, empty or not a number."""
    decoded = _decoded(ds, keyword)
    if decoded is None:
        return None
    text, values = decoded
    first: Any
    if text is not None:
        first = text.split("\\", 1)[0].strip("\x00 ")
    else:
        first = values[0] if values else None
    if first in ("", None):
        return None
    try:
        return float(first)
    except (TypeError, ValueError):
        return None


def int_of(ds: pydicom.Dataset | Elements, keyword: str) -> int | None:
    """An element's first value as an int (DS values truncated); None if not a number."""
    number = float_of(ds, keyword)
    return None if number is None else int(number)


def floats_of(ds: pydicom.Dataset | Elements, keyword: str, n: int) -> list[float] | None:
    """Exactly ``n`` float values of an element, or None."""
    values = values_of(ds, keyword)
    if not values:
        return None
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def seconds_of_day(tm: object) -> float | None:
    """DICOM TM text (``HHMMSS.ffffff``, parts optional) → seconds since midnight."""
    if not isinstance(tm, str) or not tm.strip():
        return None
    tm = tm.strip().replace(":", "")
    try:
        hh = int(tm[0:2])
        mm = int(tm[2:4]) if len(tm) >= 4 else 0
        ss = float(tm[4:]) if len(tm) > 4 else 0.0
    except ValueError:
        return None
    return hh * 3600 + mm * 60 + ss


def _number_from_raw(value: Any, vr: str, hint: str) -> float | None:
    """A number from a private element whose VR may be unknown (implicit VR → bytes)."""
    if value is None:
        return None
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        value = value[0] if len(value) else None
        if value is None:
            return None
    if isinstance(value, bytes):
        if vr in ("FL", "FD") or (vr in ("UN", "OB") and hint in ("FL", "FD")):
            if len(value) >= 8 and (vr == "FD" or (vr != "FL" and hint == "FD")):
                return float(struct.unpack("<d", value[:8])[0])
            if len(value) >= 4:
                return float(struct.unpack("<f", value[:4])[0])
            return None
        text = value.decode("ascii", "replace").strip("\x00 ")
        first = text.split("\\")[0].strip().strip("\x00")
        try:
            return float(first)
        except ValueError:
            return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def b_value_of(ds: pydicom.Dataset | Elements) -> tuple[float | None, str | None]:
    """The diffusion b-value (s/mm²) of an image and the tag it came from.

    Standard (0018,9087) first, then the vendor private tags of :data:`BVALUE_PRIVATE_TAGS`.
    Values outside 0–10000 s/mm² are ignored (a private tag reused for something else).
    """
    elements = elements_of(ds)
    standard = values_of(elements, "DiffusionBValue")
    if standard:
        number = _number_from_raw(standard[0], "FD", "FD")
        if number is not None and 0 <= number <= 10000:
            return number, "standard"
    for tag, vendor, hint in BVALUE_PRIVATE_TAGS:
        elem = elements.get(tag)
        if elem is None:
            continue
        number = _number_from_raw(elem.value, elem.VR or "UN", hint)
        if number is None:
            continue
        if vendor == "ge":
            number = number % 1e9
        if 0 <= number <= 10000:
            return float(round(number, 3)), vendor
    return None, None
