"""A kept image's index columns from its header elements: technical and identifying ones.

Pure functions of the element mapping :func:`~.tags.read_header` read (no file access).
Enhanced multi-frame MR images carry TE / TR / flip / TI / b-value in their functional
groups rather than at the top level; Siemens mosaics hold several slices per file.
"""

from __future__ import annotations

import contextlib
import operator
import struct
from itertools import repeat
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.tag import Tag

from hepatokit.curation.mri.dicom.values import (
    Elements,
    b_value_of,
    float_of,
    floats_of,
    int_of,
    text_of,
)

__all__ = [
    "MOSAIC_IMAGES",
    "PER_FRAME_GROUPS",
    "SERIES_TAGS",
    "SHARED_GROUPS",
    "functional_groups",
    "header_columns",
    "mosaic_images",
    "phi_columns",
    "public_columns",
]

#: Siemens (0019,100A) NumberOfImagesInMosaic (a mosaic file holds this many slices)
MOSAIC_IMAGES = 0x0019100A
#: (5200,9229) / (5200,9230): the functional groups of an enhanced multi-frame image
SHARED_GROUPS, PER_FRAME_GROUPS = 0x52009229, 0x52009230


def functional_groups(ds: Elements) -> dict[str, Any]:
    """TE / TR / flip / TI / b-value / sequence type of an enhanced multi-frame MR image, from
    its shared functional groups and the first frame's (they are not at the top level)."""
    out: dict[str, Any] = {}
    items = []
    for tag in (SHARED_GROUPS, PER_FRAME_GROUPS):
        elem = ds.get(tag)
        if elem is None:
            continue
        try:
            raw = isinstance(elem, RawDataElement)
            value = convert_raw_data_element(elem).value if raw else elem.value
        except Exception:
            continue
        if value:
            items.append(value[0])
    for item in items:
        for macro, keyword, key in (
            ("MREchoSequence", "EffectiveEchoTime", "echo_time"),
            ("MRTimingAndRelatedParametersSequence", "RepetitionTime", "repetition_time"),
            ("MRTimingAndRelatedParametersSequence", "FlipAngle", "flip_angle"),
            ("MRModifierSequence", "InversionTimes", "inversion_time"),
            ("MRDiffusionSequence", "DiffusionBValue", "b_value"),
            ("MRModifierSequence", "InversionRecovery", "_ir"),
        ):
            seq = item.get(macro)
            if not seq or key in out:
                continue
            value = seq[0].get(keyword)
            if value is None or value == "":
                continue
            if key == "_ir":
                out[key] = str(value).upper() == "YES"
                continue
            if isinstance(value, pydicom.multival.MultiValue | list | tuple):
                value = value[0] if len(value) else None
            with contextlib.suppress(TypeError, ValueError):
                out[key] = float(value)
    return out


def mosaic_images(ds: Elements) -> int | None:
    """Siemens NumberOfImagesInMosaic (US; raw bytes in implicit-VR files), or None."""
    elem = ds.get(MOSAIC_IMAGES)
    if elem is None or elem.value is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        if len(value) >= 2 and (elem.VR in (None, "US", "UN", "OB")):
            return int(struct.unpack("<H", value[:2])[0])
        return None
    with contextlib.suppress(TypeError, ValueError):
        return int(value[0] if isinstance(value, list | tuple) else value)
    return None


def public_columns(ds: Elements, sop_class: str | None) -> dict[str, Any]:
    """The :data:`~.tags.PUBLIC_COLUMNS` of a kept image (technical values only)."""
    b_value, b_source = b_value_of(ds)
    image_type = text_of(ds, "ImageType")
    frames = int_of(ds, "NumberOfFrames") or 1
    mosaic = mosaic_images(ds) if image_type and "MOSAIC" in image_type.upper() else None
    groups = functional_groups(ds) if frames > 1 or SHARED_GROUPS in ds else {}
    scanning = text_of(ds, "ScanningSequence")
    if scanning is None and groups:  # enhanced MR: EchoPulseSequence (+ inversion recovery)
        pulse = (text_of(ds, "EchoPulseSequence") or "").upper()
        kinds = {"GRADIENT": "GR", "SPIN": "SE", "BOTH": "SE\\GR"}.get(pulse)
        if kinds is not None:
            scanning = kinds + ("\\IR" if groups.get("_ir") else "")
    if b_value is None and groups.get("b_value") is not None:
        b_value, b_source = groups["b_value"], "standard"
    return {
        "sop_class_uid": sop_class,
        "modality": text_of(ds, "Modality"),
        "study_uid": text_of(ds, "StudyInstanceUID"),
        "series_uid": text_of(ds, "SeriesInstanceUID"),
        "sop_uid": text_of(ds, "SOPInstanceUID"),
        "series_number": int_of(ds, "SeriesNumber"),
        "instance_number": int_of(ds, "InstanceNumber"),
        "field_strength": float_of(ds, "MagneticFieldStrength"),
        "series_description": text_of(ds, "SeriesDescription"),
        "protocol_name": text_of(ds, "ProtocolName"),
        "sequence_name": text_of(ds, "SequenceName"),
        "scanning_sequence": scanning,
        "sequence_variant": text_of(ds, "SequenceVariant"),
        "image_type": image_type,
        "echo_time": _first(float_of(ds, "EchoTime"), groups.get("echo_time")),
        "repetition_time": _first(float_of(ds, "RepetitionTime"), groups.get("repetition_time")),
        "flip_angle": _first(float_of(ds, "FlipAngle"), groups.get("flip_angle")),
        "b_value": b_value,
        "b_value_source": b_source,
        "acquisition_number": int_of(ds, "AcquisitionNumber"),
        "temporal_position": int_of(ds, "TemporalPositionIdentifier"),
        "contrast_agent": text_of(ds, "ContrastBolusAgent"),
        "orientation": floats_of(ds, "ImageOrientationPatient", 6),
        "position": floats_of(ds, "ImagePositionPatient", 3),
        "pixel_spacing": floats_of(ds, "PixelSpacing", 2),
        "slice_thickness": float_of(ds, "SliceThickness"),
        "rows": int_of(ds, "Rows"),
        "columns": int_of(ds, "Columns"),
        "frames": frames,
        "inversion_time": _first(float_of(ds, "InversionTime"), groups.get("inversion_time")),
        "slices": frames * (mosaic if mosaic and mosaic > 1 else 1),
    }


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def phi_columns(ds: Elements) -> dict[str, Any]:
    """The :data:`~.tags.PHI_COLUMNS` of a kept image (identifying: ``private/`` only)."""
    return {
        "patient_id": text_of(ds, "PatientID"),
        "patient_name": text_of(ds, "PatientName"),
        "birth_date": text_of(ds, "PatientBirthDate"),
        "study_date": text_of(ds, "StudyDate"),
        "series_date": text_of(ds, "SeriesDate"),
        "acquisition_date": text_of(ds, "AcquisitionDate"),
        "accession_number": text_of(ds, "AccessionNumber"),
        "institution": text_of(ds, "InstitutionName"),
        "station": text_of(ds, "StationName"),
        "device_serial": text_of(ds, "DeviceSerialNumber"),
        "manufacturer": text_of(ds, "Manufacturer"),
        "model": text_of(ds, "ManufacturerModelName"),
        "study_time": text_of(ds, "StudyTime"),
        "series_time": text_of(ds, "SeriesTime"),
        "acquisition_time": text_of(ds, "AcquisitionTime") or text_of(ds, "ContentTime"),
        "contrast_start_time": text_of(ds, "ContrastBolusStartTime"),
    }


# ----------------------------------------------------------------------- once a series
#: the columns that vary from slice to slice within a series (decoded for every file)
_SLICE_PUBLIC = (
    "sop_uid", "instance_number", "b_value", "b_value_source", "acquisition_number",
    "temporal_position", "position",
)  # fmt: skip
_SLICE_PHI = ("acquisition_date", "acquisition_time")
#: every element the other columns are decoded from (with the character set): when a file
#: has the same raw values of these as an earlier one, it has the same other columns
SERIES_TAGS: tuple[int, ...] = (
    *(int(Tag(k)) for k in (
        "SpecificCharacterSet", "Modality", "StudyInstanceUID", "SeriesInstanceUID",
        "SeriesNumber", "MagneticFieldStrength", "SeriesDescription", "ProtocolName",
        "SequenceName", "ScanningSequence", "SequenceVariant", "ImageType", "EchoTime",
        "RepetitionTime", "FlipAngle", "ContrastBolusAgent", "ImageOrientationPatient",
        "PixelSpacing", "SliceThickness", "Rows", "Columns", "NumberOfFrames",
        "InversionTime", "PatientID", "PatientName", "PatientBirthDate", "StudyDate",
        "SeriesDate", "AccessionNumber", "InstitutionName", "StationName",
        "DeviceSerialNumber", "Manufacturer", "ManufacturerModelName", "StudyTime",
        "SeriesTime", "ContrastBolusStartTime",
    )),
    MOSAIC_IMAGES,
)  # fmt: skip
#: series key → (public, phi) columns of the first file seen with it (bounded)
_SEEN: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
_SEEN_MAX = 256
_RAW = RawDataElement


#: an element's raw value, VR, length and flags: everything but its file offset
_SIGNATURE = operator.itemgetter(1, 2, 3, 5, 6, 7, 8)
_ABSENT = (None,) * 9


def _series_key(ds: Elements, sop_class: str | None) -> tuple[Any, ...] | None:
    """The raw values of :data:`SERIES_TAGS` (everything but the file offset) and the SOP
    class, or None when one is not a raw element (pydicom converted it: decoded the long
    way) or not hashable. Built by C-level ``map`` calls (a Python loop over the 38 tags
    cost ~20 µs a file, as much as the decoding it saves)."""
    found = list(map(ds.get, SERIES_TAGS, repeat(_ABSENT)))
    if not all(type(e) is _RAW or e is _ABSENT for e in found):
        return None
    key = (sop_class, *map(_SIGNATURE, found))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def header_columns(ds: Elements, sop_class: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`public_columns` and :func:`phi_columns` of a kept image, with the columns that
    are the same on every slice of a series decoded once a series.

    Why: decoding ~45 values was ~60 % of the index's CPU a file beyond the element scan,
    and ~38 of them repeat on every slice. A file whose raw values of :data:`SERIES_TAGS`
    (and SOP class) equal an earlier file's takes that file's columns and decodes only the
    slice columns (:data:`_SLICE_PUBLIC`, :data:`_SLICE_PHI`) — the same functions on the
    same bytes, so the same values (test: every file against the direct decoding).
    Enhanced multi-frame images (functional groups) are always decoded whole.
    """
    if SHARED_GROUPS in ds or PER_FRAME_GROUPS in ds:
        return public_columns(ds, sop_class), phi_columns(ds)
    key = _series_key(ds, sop_class)
    seen = None if key is None else _SEEN.get(key)
    if seen is None:
        public, phi = public_columns(ds, sop_class), phi_columns(ds)
        if key is not None:
            if len(_SEEN) >= _SEEN_MAX:
                _SEEN.clear()
            _SEEN[key] = (public, phi)
        return _copy(public), _copy(phi)
    public, phi = _copy(seen[0]), _copy(seen[1])
    b_value, b_source = b_value_of(ds)  # no functional groups: as public_columns
    public["sop_uid"] = text_of(ds, "SOPInstanceUID")
    public["instance_number"] = int_of(ds, "InstanceNumber")
    public["b_value"], public["b_value_source"] = b_value, b_source
    public["acquisition_number"] = int_of(ds, "AcquisitionNumber")
    public["temporal_position"] = int_of(ds, "TemporalPositionIdentifier")
    public["position"] = floats_of(ds, "ImagePositionPatient", 3)
    phi["acquisition_date"] = text_of(ds, "AcquisitionDate")
    phi["acquisition_time"] = text_of(ds, "AcquisitionTime") or text_of(ds, "ContentTime")
    return public, phi


def _copy(columns: dict[str, Any]) -> dict[str, Any]:
    """A record's own columns (its lists not shared with another record's)."""
    out = columns.copy()
    for k, v in out.items():
        if type(v) is list:
            out[k] = v.copy()
    return out
