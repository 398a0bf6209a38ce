"""The columns decoded once a series (:func:`header_columns`) equal the direct decoding.

Truth: :func:`public_columns` / :func:`phi_columns` of every file's own elements (the
decoding the index did for every file before), on the synthetic tree read in listing order
(so that most files reuse an earlier file's series columns), the real scanner files, and
planted pairs of headers that differ only in one slice value, one series value or their
character set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydicom.data
import pytest
from pydicom.dataelem import RawDataElement

from hepatokit.curation.mri.dicom import columns
from hepatokit.curation.mri.dicom.columns import (
    SERIES_TAGS,
    header_columns,
    phi_columns,
    public_columns,
)
from hepatokit.curation.mri.dicom.tags import _read_fast
from hepatokit.curation.mri.dicom.values import text_of

TESTS_DATA = Path(__file__).resolve().parents[3] / "data"
_SLICE_KEYS = {"sop_uid", "instance_number", "b_value", "b_value_source", "acquisition_number",
               "temporal_position", "position", "acquisition_date", "acquisition_time"}  # fmt: skip


def _direct(elements: Any, sop_class: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    return public_columns(elements, sop_class), phi_columns(elements)


def _headers(files: list[Path]) -> list[Any]:
    out = []
    for f in files:
        read = _read_fast(f)
        if read is not None:
            out.append(read[1])
    return out


def test_every_synthetic_file_as_decoded_directly(mri_raw: Path) -> None:
    files = sorted(Path(d, f) for d, _, fs in os.walk(mri_raw / "dicom") for f in fs)
    real = sorted(p for p in TESTS_DATA.rglob("*") if p.is_file())
    real += [Path(pydicom.data.get_testdata_file(n)) for n in ("MR_small.dcm", "CT_small.dcm")]
    headers = _headers(files + real)
    columns._SEEN.clear()
    misses = 0
    original = columns.public_columns

    def counting(ds: Any, sop: str | None) -> dict[str, Any]:
        nonlocal misses
        misses += 1
        return original(ds, sop)

    for elements in headers:
        sop = text_of(elements, "SOPClassUID")
        columns.public_columns = counting
        try:
            got = header_columns(elements, sop)
        finally:
            columns.public_columns = original
        assert got == _direct(elements, sop)
    assert len(headers) > 100
    assert misses < len(headers) / 4  # most files took their series' columns


def _raw(tag: int, vr: str, value: bytes) -> RawDataElement:
    return RawDataElement(tag, vr, len(value), value, 1000, False, True)


def _planted(**changes: bytes) -> dict[int, RawDataElement]:
    values = {
        "Modality": ("CS", b"MR"), "SeriesInstanceUID": ("UI", b"1.2.3.4\x00"),
        "SeriesDescription": ("LO", b"t1_vibe_dixon "), "PatientName": ("PN", b"Doe^Jane"),
        "SOPInstanceUID": ("UI", b"1.2.3.4.5\x00"), "InstanceNumber": ("IS", b"7 "),
        "ImagePositionPatient": ("DS", b"1\\2\\3 "), "AcquisitionTime": ("TM", b"101500"),
        "PixelSpacing": ("DS", b"0.5\\0.5 "), "Rows": ("US", b"\x00\x01"),
    }  # fmt: skip
    out = {}
    for keyword, (vr, value) in values.items():
        tag = int(pydicom.tag.Tag(keyword))
        out[tag] = _raw(tag, vr, changes.get(keyword, value))
    if "SpecificCharacterSet" in changes:
        out[0x00080005] = _raw(0x00080005, "CS", changes["SpecificCharacterSet"])
    return out


@pytest.mark.parametrize(
    "change",
    [
        {"InstanceNumber": b"8 ", "ImagePositionPatient": b"1\\2\\4 ", "SOPInstanceUID": b"9\x00"},
        {"AcquisitionTime": b"101501"},
        {"SeriesDescription": b"t2_haste "},
        {"PixelSpacing": b"0.6\\0.5 "},
        {"SpecificCharacterSet": b"ISO_IR 100", "PatientName": b"M\xfcller^Jos\xe9"},
    ],
)
def test_planted_pairs(change: dict[str, bytes]) -> None:
    columns._SEEN.clear()
    first, second = _planted(), _planted(**change)
    for elements in (first, second, first, second):
        assert header_columns(elements, "1.2.840.10008.5.1.4.1.1.4") == _direct(
            elements, "1.2.840.10008.5.1.4.1.1.4"
        )
    assert header_columns(first, None) == _direct(first, None)  # the SOP class is in the key


def test_a_record_owns_its_lists() -> None:
    columns._SEEN.clear()
    a, _ = header_columns(_planted(), None)
    a["pixel_spacing"].append(9.0)
    b, _ = header_columns(_planted(), None)
    assert b["pixel_spacing"] == [0.5, 0.5]


def test_series_columns_read_only_the_series_tags(mri_raw: Path) -> None:
    """Every element the non-slice columns are decoded from is in :data:`SERIES_TAGS`: the
    direct decoding of a header cut down to those tags (+ the slice ones removed) gives the
    same non-slice columns."""
    files = sorted(Path(d, f) for d, _, fs in os.walk(mri_raw / "dicom") for f in fs)
    for elements in _headers(files[::7]):
        kept = {t: e for t, e in elements.items() if t in SERIES_TAGS}
        sop = text_of(elements, "SOPClassUID")
        full, cut = _direct(elements, sop), _direct(kept, sop)
        for got, want in zip(cut, full, strict=True):
            assert {k: v for k, v in got.items() if k not in _SLICE_KEYS} == {
                k: v for k, v in want.items() if k not in _SLICE_KEYS
            }
