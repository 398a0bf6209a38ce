"""Decode DICOM header values cheaply, and find the diffusion b-value of an image.

pydicom's attribute access converts a value through several layers (~20 µs an element); the
index reads ~45 elements per file, so decoding the raw bytes directly is what keeps it near
a bare ``dcmread`` loop. Odd cases (deferred, binary VRs, sequences) use pydicom's conversion.

Diffusion b-values come from the standard tag (0018,9087) and, when it is absent, from the
vendors' private tags: Siemens (0019,100C), GE (0043,1039) first value modulo 1e9, Philips
(2001,1003), United Imaging (0065,1009).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag, Tag

__all__ = [
    "BVALUE_PRIVATE_TAGS",
    "b_value_of",
    "float_of",
    "floats_of",
    "int_of",
    "seconds_of_day",
    "text_of",
    "values_of",
]

#: (tag, private creator element, VR hint, transform) for vendor private b-value tags
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
_SLOW_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "UN", "SQ", "AT"})


@lru_cache(maxsize=256)
def _tag(keyword: str) -> BaseTag:
    return Tag(keyword)


def values_of(ds: pydicom.Dataset, keyword: str) -> list[Any] | None:
    """The values of one element, decoded straight from the raw bytes when possible.

    pydicom's attribute access converts through several layers (~20 µs an element); the
    index reads ~45 elements per file, so raw decoding is what keeps it near a bare
    ``dcmread`` loop. Odd cases (deferred, binary VRs, sequences) use pydicom's conversion.
    """
    tag = _tag(keyword)
    elem = ds._dict.get(tag)
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and elem.value is not None:
        vr = elem.VR or dictionary_VR(tag)
        raw: bytes = elem.value
        if vr in _STRUCT:
            code, size = _STRUCT[vr]
            n = len(raw) // size
            order = "<" if elem.is_little_endian else ">"
            return list(struct.unpack(f"{order}{n}{code}", raw[: n * size]))
        if vr not in _SLOW_VRS:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            text = text.strip("\x00 ")
            return [p.strip("\x00 ") for p in text.split("\\")] if text else []
    value = ds[tag].value
    if value is None:
        return []
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return list(value)
    return [value]


def text_of(ds: pydicom.Dataset, keyword: str) -> str | None:
    values = values_of(ds, keyword)
    if not values:
        return None
    parts = [v.decode("latin-1", "replace") if isinstance(v, bytes) else str(v) for v in values]
    text = "\\".join(parts).strip().strip("\x00").strip()
    return text or None


def float_of(ds: pydicom.Dataset, keyword: str) -> float | None:
    values = values_of(ds, keyword)
    if not values or values[0] in ("", None):
        return None
    try:
        return float(values[0])
    except (TypeError, ValueError):
        return None


def int_of(ds: pydicom.Dataset, keyword: str) -> int | None:
    number = float_of(ds, keyword)
    return None if number is None else int(number)


def floats_of(ds: pydicom.Dataset, keyword: str, n: int) -> list[float] | None:
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
            if len(value) >= 8 and hint == "FD":
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


def b_value_of(ds: pydicom.Dataset) -> tuple[float | None, str | None]:
    """The diffusion b-value (s/mm²) of an image and the tag it came from.

    Standard (0018,9087) first, then the vendor private tags of :data:`BVALUE_PRIVATE_TAGS`.
    Values outside 0–10000 s/mm² are ignored (a private tag reused for something else).
    """
    standard = values_of(ds, "DiffusionBValue")
    if standard:
        number = _number_from_raw(standard[0], "FD", "FD")
        if number is not None and 0 <= number <= 10000:
            return number, "standard"
    for tag, vendor, hint in BVALUE_PRIVATE_TAGS:
        elem = ds.get(Tag(tag))
        if elem is None:
            continue
        number = _number_from_raw(elem.value, elem.VR, hint)
        if number is None:
            continue
        if vendor == "ge":
            number = number % 1e9
        if 0 <= number <= 10000:
            return float(round(number, 3)), vendor
    return None, None
