"""Read one DICOM file's header once and turn it into an index row.

:func:`read_header` is the only place that opens a raw DICOM file during indexing. It reads the
header once with pydicom (``specific_tags``: only the elements the index needs; the pixel
data element is *deferred*, so its bytes are never read but its declared length is checked
against the file size to catch truncation; JPEG 2000 pixel data are read and their
codestream checked, :mod:`.j2k`) and returns a :class:`HeaderRecord`: the outcome
(``kept`` or an exclusion reason), the technical columns that go to ``instances.parquet``, and
the identifying values that go only to ``BUILD/private/instances_phi.parquet``.

Diffusion b-values come from the standard tag (0018,9087) and, when it is absent, from the
vendors' private tags: Siemens (0019,100C), GE (0043,1039) first value modulo 1e9, Philips
(2001,1003), United Imaging (0065,1009).
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.tag import BaseTag, Tag
from pydicom.uid import PrivateTransferSyntaxes

from hepatokit.curation.mri.dicom.columns import MOSAIC_IMAGES, header_columns
from hepatokit.curation.mri.dicom.j2k import J2K_SYNTAXES, j2k_problem
from hepatokit.curation.mri.dicom.scan import scan_elements
from hepatokit.curation.mri.dicom.values import (
    BVALUE_PRIVATE_TAGS,
    Elements,
    b_value_of,
    elements_of,
    int_of,
    seconds_of_day,
    text_of,
)

__all__ = [
    "BVALUE_PRIVATE_TAGS",
    "HEADER_TAGS",
    "PHI_COLUMNS",
    "PUBLIC_COLUMNS",
    "HeaderRecord",
    "b_value_of",
    "read_header",
    "seconds_of_day",
]

#: SOP class of a DICOMDIR (media storage directory)
DICOMDIR_SOP = "1.2.840.10008.1.3.10"

#: (0004,1220) Directory Record Sequence: only a DICOMDIR has one
_DIRECTORY_RECORDS = 0x00041220
#: (7FE0,0010) Pixel Data
_PIXEL_DATA = 0x7FE00010

#: storage SOP classes (images, once the non-image ones below are ruled out)
IMAGE_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1."

#: SOP class UID prefixes that carry no image for this toolkit (reason ``non_image``)
NON_IMAGE_SOP_PREFIXES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.88.": "structured report",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
    "1.2.840.10008.5.1.4.1.1.481.": "radiotherapy object",
    "1.2.840.10008.5.1.4.1.1.66": "raw data / segmentation / registration",
    "1.2.840.10008.5.1.4.1.1.4.2": "MR spectroscopy",
}

#: header elements read for the index (keywords, or tags for private ones)
# fmt: off
HEADER_TAGS: list[BaseTag] = [
    Tag(k)
    for k in (
        "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
        "SeriesInstanceUID", "Modality",
        "PatientID", "PatientName", "PatientBirthDate", "StudyDate", "SeriesDate",
        "AcquisitionDate", "AccessionNumber", "InstitutionName", "StationName",
        "DeviceSerialNumber", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
        "Manufacturer", "ManufacturerModelName", "MagneticFieldStrength", "SeriesDescription",
        "ProtocolName", "SequenceName", "ScanningSequence", "SequenceVariant", "ImageType",
        "EchoTime", "RepetitionTime", "FlipAngle", "DiffusionBValue", "AcquisitionNumber",
        "TemporalPositionIdentifier", "ContrastBolusAgent", "ContrastBolusStartTime",
        "ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "SliceThickness",
        "Rows", "Columns", "NumberOfFrames", "SeriesNumber", "InstanceNumber", "BitsAllocated",
        "SamplesPerPixel", "PixelData", "InversionTime", "EchoPulseSequence",
        "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
    )
] + [Tag(MOSAIC_IMAGES)] + [Tag(t) for t, _, _ in BVALUE_PRIVATE_TAGS] + [
    Tag(t & 0xFFFF0000 | 0x0010) for t, _, _ in BVALUE_PRIVATE_TAGS
]

#: columns of ``instances.parquet`` produced from a header (besides item_id/path/size)
PUBLIC_COLUMNS = (
    "sop_class_uid", "modality", "study_uid", "series_uid", "sop_uid", "series_number",
    "instance_number", "field_strength", "series_description", "protocol_name",
    "sequence_name", "scanning_sequence", "sequence_variant", "image_type", "echo_time",
    "repetition_time", "flip_angle", "b_value", "b_value_source", "acquisition_number",
    "temporal_position", "contrast_agent", "orientation", "position", "pixel_spacing",
    "slice_thickness", "rows", "columns", "frames", "inversion_time", "slices",
)

#: identifying columns, written only to ``BUILD/private/instances_phi.parquet``
PHI_COLUMNS = (
    "patient_id", "patient_name", "birth_date", "study_date", "series_date",
    "acquisition_date", "accession_number", "institution", "station", "device_serial",
    "manufacturer", "model", "study_time", "series_time", "acquisition_time",
    "contrast_start_time",
)
# fmt: on


@dataclass
class HeaderRecord:
    """The outcome of reading one file: ``reason`` None means the file is a kept image."""

    reason: str | None
    detail: str | None = None
    public: dict[str, Any] = field(default_factory=dict)
    phi: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- reading
_IMPLICIT_LITTLE = "1.2.840.10008.1.2"
_EXPLICIT_BIG = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_HEADER_TAG_INTS = [int(t) for t in HEADER_TAGS]
_HEADER_TAG_SET = frozenset(_HEADER_TAG_INTS)
_DEFER_BYTES = 256


def _not_file_meta(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >> 16 != 0x0002


def _read_fast(path: str | Path) -> tuple[Elements, Elements] | None:
    """``(file meta, dataset)`` element mappings of a Part-10 file, read with
    :func:`.scan.scan_elements` (the plain case: pydicom's element generator's elements from a
    few large reads) or else pydicom's element generator, and no ``Dataset`` around them (that
    wrapping costs as much as the parsing).

    Only the common case: a 128-byte preamble + ``DICM``, a file meta group with a transfer
    syntax, a dataset that is not deflated. Anything else, or any error, returns None and
    :func:`_read_slow` (``dcmread``) decides.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(132)[128:] != b"DICM":
                return None
            scanned = scan_elements(fh, _HEADER_TAG_SET, defer_size=_DEFER_BYTES)
            if scanned is not None:
                scanned_meta, scanned_elements, implicit = scanned
                syntax = text_of(scanned_meta, "TransferSyntaxUID")
                if (
                    syntax is not None
                    and syntax not in (_DEFLATED, _EXPLICIT_BIG)
                    and syntax not in PrivateTransferSyntaxes
                    and implicit == (syntax == _IMPLICIT_LITTLE)
                ):
                    return scanned_meta, scanned_elements
            fh.seek(132)  # not the plain case: pydicom's generator
            meta = {
                int(e.tag): e
                for e in data_element_generator(fh, False, True, stop_when=_not_file_meta)
            }
            syntax = text_of(meta, "TransferSyntaxUID")
            if syntax is None or syntax == _DEFLATED or syntax in PrivateTransferSyntaxes:
                return None
            elements = {
                int(e.tag): e
                for e in data_element_generator(
                    fh,
                    syntax == _IMPLICIT_LITTLE,
                    syntax != _EXPLICIT_BIG,
                    defer_size=_DEFER_BYTES,
                    specific_tags=_HEADER_TAG_INTS,
                )
            }
    except Exception:
        return None
    return meta, elements


def _starts_like_dicom(path: str | Path) -> bool:
    """Whether a file without a preamble starts with a DICOM element (group 0002 or 0008,
    either byte order): forcing pydicom through anything else (a 2 GB file of zeros) reads
    the whole file as empty elements."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if len(head) < 4:
        return False
    return int.from_bytes(head[:2], "little") in (2, 8) or int.from_bytes(head[:2], "big") in (2, 8)


def _read_slow(path: str | Path) -> tuple[Elements, Elements, bool] | HeaderRecord:
    """``dcmread`` (forced when there is no preamble): ``(file meta, dataset, forced)``, or the
    exclusion when pydicom cannot read the header."""
    try:
        try:
            ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES, specific_tags=HEADER_TAGS)
            forced = False
        except InvalidDicomError:
            if not _starts_like_dicom(path):
                return HeaderRecord(
                    "not_dicom", "no DICOM preamble and no DICOM element at the start"
                )
            ds = pydicom.dcmread(
                path,
                defer_size=_DEFER_BYTES,
                specific_tags=HEADER_TAGS,
                force=True,
                stop_before_pixels=True,
            )
            forced = True
    except (EOFError, struct.error) as exc:
        return HeaderRecord("truncated", f"header ends early: {type(exc).__name__}: {exc}")
    except (InvalidDicomError, OSError, ValueError, TypeError, KeyError, OverflowError) as exc:
        return HeaderRecord("not_dicom", f"{type(exc).__name__}: {exc}"[:300])
    except Exception as exc:
        return HeaderRecord("corrupt", f"{type(exc).__name__}: {exc}"[:300])
    meta = getattr(ds, "file_meta", None)
    return elements_of(meta) if meta is not None else {}, elements_of(ds), forced


def _short_element(elements: Elements) -> int | None:
    """An element whose value has fewer bytes than its length says (the file ends in it)."""
    for tag, elem in elements.items():
        if (
            isinstance(elem, RawDataElement)
            and elem.value is not None
            and elem.length != 0xFFFFFFFF
            and len(elem.value) < elem.length
        ):
            return tag
    return None


#: pixel data elements: left deferred (their length is checked, their bytes never read)
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
#: the most bytes read for one deferred header value (a header text the index decodes is far
#: shorter; a longer one stays deferred and reads as absent)
_MAX_DEFERRED_BYTES = 1 << 16


def _fill_deferred(path: str | Path, elements: Elements) -> Elements:
    """``elements`` with the header values that were deferred for being longer than
    ``_DEFER_BYTES`` (a 300-character SeriesDescription, a long ImageComments) read from the
    file, up to ``_MAX_DEFERRED_BYTES`` each; the pixel data stays deferred. A value the file
    ends inside comes back short, and :func:`_short_element` reports the file truncated."""
    todo = [
        (tag, elem)
        for tag, elem in elements.items()
        if isinstance(elem, RawDataElement)
        and elem.value is None
        and tag not in _PIXEL_TAGS
        and 0 < elem.length <= _MAX_DEFERRED_BYTES
        and elem.value_tell is not None
    ]
    if not todo:
        return elements
    filled = dict(elements)
    try:
        with open(path, "rb") as fh:
            for tag, elem in todo:
                fh.seek(elem.value_tell)
                filled[tag] = elem._replace(value=fh.read(elem.length))
    except OSError:
        return elements
    return filled


def _non_image_reason(sop_class: str | None) -> str | None:
    if not sop_class:
        return None
    for prefix, what in NON_IMAGE_SOP_PREFIXES.items():
        if sop_class.startswith(prefix):
            return what
    return None


def read_header(path: str | Path) -> HeaderRecord:
    """Read one file's header once and decide whether it is an image to keep.

    Returns
    -------
    HeaderRecord
        ``reason`` is None for a kept image, else one of ``not_dicom``, ``truncated``,
        ``corrupt``, ``dicomdir``, ``non_image`` (``detail`` says why, one line).
    """
    path = os.fspath(path)  # a str: os calls, no Path objects (~4 µs a file, 22k files)
    try:
        size = os.stat(path).st_size  # noqa: PTH116 (hot loop)
    except OSError as exc:
        return HeaderRecord("not_dicom", f"{type(exc).__name__}: {exc}"[:300])
    if size == 0:
        return HeaderRecord("not_dicom", "empty file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = _read_fast(path)
        if fast is not None:
            read: tuple[Elements, Elements, bool] | HeaderRecord = (*fast, False)
        else:
            read = _read_slow(path)
    if isinstance(read, HeaderRecord):
        return read
    meta, elements, forced = read
    elements = _fill_deferred(path, elements)
    record = _classify(meta, elements, forced=forced, size=size, warned=caught)
    return record if record.reason else _check_j2k(path, meta, elements, record)


def _check_j2k(
    path: str | Path, meta: Elements, elements: Elements, record: HeaderRecord
) -> HeaderRecord:
    """A kept image whose JPEG 2000 pixel data are damaged (:mod:`.j2k`: read only for those
    transfer syntaxes) becomes ``corrupt``."""
    pixel = elements.get(_PIXEL_DATA)
    tell = getattr(pixel, "value_tell", None)
    if text_of(meta, "TransferSyntaxUID") not in J2K_SYNTAXES or tell is None:
        return record
    problem = j2k_problem(
        path, tell, frames=int_of(elements, "NumberOfFrames") or 1,
        rows=int_of(elements, "Rows") or 0, cols=int_of(elements, "Columns") or 0,
        samples=int_of(elements, "SamplesPerPixel") or 1,
        bits_allocated=int_of(elements, "BitsAllocated"),
    )  # fmt: skip
    return record if problem is None else HeaderRecord("corrupt", problem[:300])


def _classify(
    meta: Elements,
    elements: Elements,
    *,
    forced: bool,
    size: int,
    warned: list[warnings.WarningMessage],
) -> HeaderRecord:
    meta_sop = text_of(meta, "MediaStorageSOPClassUID")
    if meta_sop == DICOMDIR_SOP or _DIRECTORY_RECORDS in elements:
        return HeaderRecord("dicomdir", "DICOMDIR (media directory), not an image")
    if forced and not any(t >> 16 in (0x0008, 0x0010, 0x0020, 0x0028) for t in elements):
        return HeaderRecord("not_dicom", "no DICOM preamble and no recognisable DICOM elements")
    short = _short_element(elements)
    if short is None:
        short = _short_element(meta)
    if short is not None:
        return HeaderRecord("truncated", f"the file ends inside element {Tag(short)}")
    for w in warned:
        text = str(w.message).lower()
        if "end of file" in text or "truncat" in text:
            return HeaderRecord("truncated", str(w.message).splitlines()[0][:300])
    sop_class = text_of(elements, "SOPClassUID") or meta_sop
    what = _non_image_reason(sop_class)
    if what is not None:
        return HeaderRecord("non_image", f"{what} (SOP class {sop_class})")
    pixel = elements.get(_PIXEL_DATA)
    rows, cols = int_of(elements, "Rows"), int_of(elements, "Columns")
    if pixel is None or not rows or not cols:
        if sop_class and sop_class.startswith(IMAGE_SOP_PREFIX):
            return HeaderRecord(
                "corrupt", f"image object (SOP class {sop_class}) without pixel data: cut short?"
            )
        return HeaderRecord("non_image", f"no pixel data (SOP class {sop_class or 'absent'})")
    length = getattr(pixel, "length", None)
    tell = getattr(pixel, "value_tell", None)
    deflated = text_of(meta, "TransferSyntaxUID") == _DEFLATED  # offsets: inflated stream
    if (
        not deflated
        and length is not None
        and tell is not None
        and length != 0xFFFFFFFF
        and tell + length > size
    ):
        return HeaderRecord(
            "truncated", f"pixel data declares {length} bytes but the file ends {size - tell} in"
        )
    public, phi = header_columns(elements, sop_class)
    return HeaderRecord(None, None, public=public, phi=phi)
