"""Header reading: vendor b-value tags, exclusion reasons, pydicom's own test files."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from hepatokit.curation.mri.dicom.tags import b_value_of, read_header, seconds_of_day
from hepatokit.curation.mri.index.stage import index_dicom, raw_sources
from hepatokit.manifest import Manifest, stable_id


def _mr(implicit: bool = False) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.PatientID = "PID-TEST-1"
    ds.Modality = "MR"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(32)
    return ds


def _write(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("implicit", [False, True])
def test_vendor_private_b_values(tmp_path: Path, implicit: bool) -> None:
    cases = {
        "siemens": (0x0019, "SIEMENS MR HEADER", 0x0C, "IS", "800"),
        "ge": (0x0043, "GEMS_PARM_01", 0x39, "IS", ["1000000800", "8", "0", "0"]),
        "philips": (0x2001, "Philips Imaging DD 001", 0x03, "FL", 800.0),
        "uih": (0x0065, "Uih", 0x09, "FD", 800.0),
    }
    for vendor, (group, creator, elem, vr, value) in cases.items():
        ds = _mr(implicit)
        block = ds.private_block(group, creator, create=True)
        block.add_new(elem, vr, value)
        path = _write(ds, tmp_path / f"{vendor}.dcm")
        rec = read_header(path)
        assert rec.reason is None, rec.detail
        assert rec.public["b_value"] == pytest.approx(800.0), vendor
        assert rec.public["b_value_source"] == vendor


def test_standard_b_value_wins(tmp_path: Path) -> None:
    ds = _mr()
    ds.DiffusionBValue = 50.0
    ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0C, "IS", "800")
    assert b_value_of(pydicom.dcmread(_write(ds, tmp_path / "a.dcm"))) == (50.0, "standard")


def test_bad_inputs_get_reasons(tmp_path: Path) -> None:
    good = _write(_mr(), tmp_path / "good.dcm")
    data = good.read_bytes()
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "note.txt").write_text("hello, not a DICOM file at all\n")
    (tmp_path / "cut_header.dcm").write_bytes(data[:200])
    (tmp_path / "cut_pixels.dcm").write_bytes(data[:-10])
    expected = {
        "good.dcm": None,
        "empty.dcm": "not_dicom",
        "note.txt": "not_dicom",
        "cut_header.dcm": {"truncated", "corrupt"},
        "cut_pixels.dcm": "truncated",
    }
    for name, reason in expected.items():
        got = read_header(tmp_path / name).reason
        assert got in reason if isinstance(reason, set) else got == reason, name


def test_times() -> None:
    assert seconds_of_day("093015.5") == pytest.approx(9 * 3600 + 30 * 60 + 15.5)
    assert seconds_of_day("0930") == 9 * 3600 + 30 * 60
    assert seconds_of_day(None) is None
    assert seconds_of_day(float("nan")) is None


def test_pydicom_test_files_all_indexed(tmp_path: Path) -> None:
    """Real files no one here made: every one gets a row, kept or excluded with a reason."""
    import pydicom.data

    root = Path(pydicom.data.get_testdata_file("MR_small.dcm")).parent
    key = tmp_path / "key"
    key.write_text("k")
    summary = index_dicom(raw=root, out=tmp_path / "b", workers=1, key_file=key)
    files = sorted(
        Path(d, f).relative_to(root).as_posix() for d, _, fs in os.walk(root) for f in fs
    )
    rows = Manifest(tmp_path / "b").rows().to_pylist()
    raw_of = raw_sources(tmp_path / "b")  # the raw names are kept in private/ only
    for r in rows:
        r["source"] = raw_of[r["item_id"]]
    assert sorted(r["source"] for r in rows) == files
    assert {r["item_id"] for r in rows} == {stable_id("file", f) for f in files}
    assert summary.files == len(files) and summary.kept > 40
    for r in rows:
        assert r["outcome"] == "kept" or r["reason"], r
    reasons = {r["source"].rsplit("/", 1)[-1]: r["reason"] for r in rows}
    assert reasons["MR_small.dcm"] is None
    assert reasons["MR_truncated.dcm"] == "truncated"
    assert reasons["DICOMDIR-implicit"] == "dicomdir"
    assert reasons["test-SR.dcm"] == "non_image"
    assert reasons["crayons.icc"] == "not_dicom"


def test_private_tag_binary_fl_in_implicit(tmp_path: Path) -> None:
    """Philips FL in an implicit-VR file arrives as raw bytes: decoded as float32."""
    ds = _mr(implicit=True)
    ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(
        0x03, "OB", struct.pack("<f", 1000.0)
    )
    rec = read_header(_write(ds, tmp_path / "p.dcm"))
    assert rec.public["b_value"] == pytest.approx(1000.0)


def test_fast_reader_agrees_with_dcmread(
    tmp_path: Path, mri_raw: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generator-only read gives exactly what ``dcmread`` gives, on every bundled pydicom
    file, the synthetic studies (good and planted-bad files) and big-endian / implicit files."""
    import pydicom.data
    from pydicom.uid import ExplicitVRBigEndian

    from hepatokit.curation.mri.dicom import tags as dicom_tags

    root = Path(pydicom.data.get_testdata_file("MR_small.dcm")).parent
    files = sorted(Path(d, f) for d, _, fs in os.walk(root) for f in fs)
    files += sorted(Path(d, f) for d, _, fs in os.walk(mri_raw / "dicom") for f in fs)
    for name, implicit in (("implicit.dcm", True), ("explicit.dcm", False)):
        ds = _mr(implicit)
        ds.EchoTime, ds.ImageOrientationPatient = "4.5", [1, 0, 0, 0, 1, 0]
        files.append(_write(ds, tmp_path / name))
    big = _mr()
    big.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    big.EchoTime = "80"
    files.append(_write(big, tmp_path / "big.dcm"))

    taken = []
    fast_read = dicom_tags._read_fast

    def counting(path: Path):  # type: ignore[no-untyped-def]
        got = fast_read(path)
        taken.append(got is not None)
        return got

    monkeypatch.setattr(dicom_tags, "_read_fast", counting)
    fast = [read_header(f) for f in files]
    monkeypatch.setattr(dicom_tags, "_read_fast", lambda path: None)
    slow = [read_header(f) for f in files]
    for f, a, b in zip(files, fast, slow, strict=True):
        assert a == b, f
    assert sum(taken) > 0.9 * len(files)  # the fast path is the common one
    assert fast[-1].public["echo_time"] == 80.0 and fast[-2].public["echo_time"] == 4.5
    assert fast[-3].public["orientation"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("charset", [None, "GB18030"])
def test_header_values_longer_than_the_deferral_are_read_not_corrupt(tmp_path, implicit, charset):
    # a 300-character SeriesDescription is longer than the 256 bytes the header read defers:
    # the file is a kept image and the description equals pydicom's own reading of the file
    ds = _mr(implicit)
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SeriesDescription = ("t2_haste_tra 腹部 " if charset else "t2_haste_tra ") + "x" * 300
    ds.InstitutionName = "Klinik " + "y" * 290  # an identifying value past the deferral too
    path = tmp_path / "long.dcm"
    ds.save_as(path, enforce_file_format=True)
    reference = pydicom.dcmread(path)
    record = read_header(path)
    assert record.reason is None, record.detail
    assert record.public["series_description"] == reference.SeriesDescription
    assert reference.InstitutionName in record.phi.values()
