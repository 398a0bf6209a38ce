"""The index's own element scan gives exactly pydicom's element generator's elements.

Truth: ``pydicom.filereader.data_element_generator`` (the read the index used before, and
still uses wherever the scan declines) on pydicom's own test files, the real scanner files
under ``tests/data`` and in nibabel's ``nicom`` test data, every synthetic file (good and
planted-bad), files written here in implicit / explicit / big-endian syntaxes, and copies of
real and synthetic files cut short at many offsets (end-of-file behaviour).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import pydicom
import pydicom.data
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import data_element_generator
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from hepatokit.curation.mri.dicom import tags as dicom_tags
from hepatokit.curation.mri.dicom.scan import scan_elements
from hepatokit.curation.mri.dicom.tags import read_header

TESTS_DATA = Path(__file__).resolve().parents[3] / "data"
NICOM = Path(nib.__file__).parent / "nicom" / "tests" / "data"


def _testdata(name: str) -> str:
    return str(pydicom.data.get_testdata_file(name))


def _by_generator(path: Path) -> tuple[dict[int, Any], dict[int, Any]] | None:
    """pydicom's generator, as the index calls it (None: not a plain Part-10 file)."""
    with open(path, "rb") as fh:
        if fh.read(132)[128:] != b"DICM":
            return None
        try:
            meta = {
                int(e.tag): e
                for e in data_element_generator(
                    fh, False, True, stop_when=lambda t, vr, n: t >> 16 != 0x0002
                )
            }
            syntax = bytes(meta[0x00020010].value or b"").rstrip(b"\x00 ").decode()
            elements = {
                int(e.tag): e
                for e in data_element_generator(
                    fh,
                    syntax == ImplicitVRLittleEndian,
                    syntax != ExplicitVRBigEndian,
                    defer_size=256,
                    specific_tags=dicom_tags._HEADER_TAG_INTS,
                )
            }
        except Exception:
            return None
    return meta, elements


def _by_scan(path: Path) -> tuple[dict[int, Any], dict[int, Any]] | None:
    with open(path, "rb") as fh:
        if fh.read(132)[128:] != b"DICM":
            return None
        got = scan_elements(fh, dicom_tags._HEADER_TAG_SET, defer_size=256)
    return None if got is None else got[:2]


def _mr(syntax: Any, **extra: object) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.4")
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "PID-1", "Müller^Jörg", "MR"
    ds.SeriesDescription = "LAVA dyn"
    ds.EchoTime, ds.ImageOrientationPatient = "4.5", [1, 0, 0, 0, 1, 0]
    ds.Rows = ds.Columns = 16
    ds.BitsAllocated, ds.SamplesPerPixel = 16, 1
    ds.PixelData = bytes(512)  # longer than the deferral size
    for k, v in extra.items():
        setattr(ds, k, v)
    return ds


def _written(tmp: Path) -> list[Path]:
    item = Dataset()
    item.EchoTime = "7"
    cases = {
        "explicit.dcm": _mr(ExplicitVRLittleEndian),
        "implicit.dcm": _mr(ImplicitVRLittleEndian),
        "big.dcm": _mr(ExplicitVRBigEndian),
        "empty_values.dcm": _mr(ExplicitVRLittleEndian, ProtocolName="", SliceThickness=None),
        "sequence.dcm": _mr(
            ExplicitVRLittleEndian, SharedFunctionalGroupsSequence=Sequence([item])
        ),
        "sequence_implicit.dcm": _mr(
            ImplicitVRLittleEndian, SharedFunctionalGroupsSequence=Sequence([item])
        ),
    }
    for name in ("undefined_sequence.dcm", "undefined_sequence_implicit.dcm"):
        ds = _mr(
            ImplicitVRLittleEndian if "implicit" in name else ExplicitVRLittleEndian,
            SharedFunctionalGroupsSequence=Sequence([item]),
        )
        ds["SharedFunctionalGroupsSequence"].is_undefined_length = True
        cases[name] = ds
    out = []
    for name, ds in cases.items():
        path = tmp / name
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def _real_files(tmp: Path) -> list[Path]:
    root = Path(_testdata("MR_small.dcm")).parent
    files = sorted(Path(d, f) for d, _, fs in os.walk(root) for f in fs)
    files += sorted(p for p in TESTS_DATA.rglob("*") if p.is_file() and p.suffix != ".md")
    if NICOM.is_dir():
        for p in sorted(NICOM.iterdir()):
            if p.name.endswith(".dcm.gz"):
                files.append(tmp / p.name[:-3])
                files[-1].write_bytes(gzip.decompress(p.read_bytes()))
            elif p.suffix == ".dcm":
                files.append(p)
    return files


def _cut(files: list[Path], tmp: Path, step: int) -> list[Path]:
    """Copies of ``files`` cut short every ``step`` bytes through the first 4 KiB and at a
    few points in the rest."""
    out = []
    for i, f in enumerate(files):
        data = f.read_bytes()
        ends = [*range(132, min(len(data), 4096), step), len(data) // 2, len(data) - 1]
        for end in ends:
            path = tmp / f"cut{i}_{end}.dcm"
            path.write_bytes(data[:end])
            out.append(path)
    return out


def _check(files: list[Path]) -> int:
    """Every scanned file equals the generator's reading; returns how many were scanned."""
    scanned = 0
    for f in files:
        got = _by_scan(f)
        if got is None:
            continue
        want = _by_generator(f)
        assert want is not None, f
        assert got[0] == want[0], f
        assert got[1] == want[1], f
        for tag, elem in got[1].items():  # same element types and tags, field by field
            assert type(elem) is type(want[1][tag]) and int(elem.tag) == tag, (f, tag)
        scanned += 1
    return scanned


def test_scan_equals_pydicom_generator_on_real_and_written_files(tmp_path: Path) -> None:
    real = _real_files(tmp_path)
    written = _written(tmp_path)
    assert len(real) > 80
    scanned = _check(real + written)
    # the plain case is common on real files too (encapsulated pixel data: pydicom reads them)
    assert scanned > 0.5 * len(real)
    # the written ones: little-endian plain files scanned, big endian and undefined-length
    # sequences declined (read by pydicom)
    by_name = {p.name: _by_scan(p) is not None for p in written}
    assert by_name == {
        "explicit.dcm": True,
        "implicit.dcm": True,
        "big.dcm": False,
        "empty_values.dcm": True,
        "sequence.dcm": True,  # of defined length: its bytes, as pydicom
        "sequence_implicit.dcm": True,
        "undefined_sequence.dcm": False,
        "undefined_sequence_implicit.dcm": False,
    }
    got = _by_scan(tmp_path / "explicit.dcm")
    assert got is not None and got[1][0x7FE00010].value is None  # deferred: 512 bytes
    assert got[1][0x00100010].value == "Müller^Jörg ".encode("latin-1")  # padded to even


def test_scan_equals_pydicom_generator_on_cut_files(tmp_path: Path) -> None:
    sources = [
        Path(_testdata("MR_small.dcm")),
        Path(_testdata("MR_small_implicit.dcm")),
        TESTS_DATA / "heudiconv" / "phantom.dcm",
        *_written(tmp_path)[:2],
    ]
    cut = _cut([s for s in sources if s.is_file()], tmp_path, 7)
    assert _check(cut) > len(cut) // 2


def test_scan_equals_pydicom_generator_on_synthetic_tree(mri_raw: Path, tmp_path: Path) -> None:
    files = sorted(Path(d, f) for d, _, fs in os.walk(mri_raw / "dicom") for f in fs)
    scanned = _check(files)
    assert scanned > 0.9 * len(files)
    assert _check(_cut(files[:: max(1, len(files) // 6)], tmp_path, 29)) > 0


def test_read_header_same_records_with_and_without_scan(
    mri_raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index's records (every column, every exclusion reason) do not depend on which
    reader read the header."""
    files = sorted(Path(d, f) for d, _, fs in os.walk(mri_raw / "dicom") for f in fs)
    files += _real_files(tmp_path) + _written(tmp_path)
    files += _cut(files[:: max(1, len(files) // 4)], tmp_path, 61)
    with_scan = [read_header(f) for f in files]
    monkeypatch.setattr(dicom_tags, "scan_elements", lambda *a, **k: None)
    without = [read_header(f) for f in files]
    for f, a, b in zip(files, with_scan, without, strict=True):
        assert a == b, f
    assert {r.reason for r in with_scan} >= {None, "truncated"}
