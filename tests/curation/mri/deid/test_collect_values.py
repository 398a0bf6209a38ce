"""The PHI values collection (:func:`collect_header_text`) against a plain oracle: every
element of ``dcmread(stop_before_pixels=True)`` converted by pydicom, file by file, with the
same keep rules. The collection skips elements it has collected before and reads plain
headers with the index's scanner; neither may change a value, an origin or the public text.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pydicom.data
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from hepatokit.curation.mri.deid.phi_values import (
    ID_KEYWORDS,
    PUBLIC_TEXT_KEYWORDS,
    _collect_files,
    add_value,
    collect_header_text,
)

_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "PN", "UC"}


def _oracle_dataset(ds: Any, out: dict[str, str], public: set[str]) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                _oracle_dataset(item, out, public)
            continue
        tag = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        value = elem.value
        if value is None or value == "":
            continue
        values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
        if elem.keyword in PUBLIC_TEXT_KEYWORDS:
            public.add("\\".join(str(v) for v in values))
        elif elem.VR == "PN":
            for v in values:
                add_value(out, str(v), tag)
                add_value(out, str(v).replace("^", " ").strip(), tag)
                for part in re.split(r"[\^=\s]+", str(v)):
                    add_value(out, part, tag)
        elif elem.VR in ("DA", "DT"):
            for v in values:
                text = str(v).strip()
                if re.fullmatch(r"\d{8}.*", text):
                    add_value(out, text[:8], tag)
                    add_value(out, f"{text[:4]}-{text[4:6]}-{text[6:8]}", tag)
        elif elem.keyword in ID_KEYWORDS and elem.VR not in ("SQ", "OB", "OW", "UN"):
            for v in values:
                add_value(out, str(v), tag)
        elif elem.tag.is_private and elem.tag.element >= 0x1000:
            for v in values:
                if isinstance(v, bytes):
                    try:
                        v = v.decode("ascii")
                    except UnicodeDecodeError:
                        continue
                    if not v.isprintable():
                        continue
                elif elem.VR not in _TEXT_VRS:
                    continue
                if re.search(r"[^\W\d_]", str(v)):
                    add_value(out, str(v), tag)


def _oracle(root: Path) -> tuple[dict[str, str], set[str]]:
    out: dict[str, str] = {}
    public: set[str] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            except Exception:
                continue
            try:
                if getattr(ds, "file_meta", None) is not None:
                    _oracle_dataset(ds.file_meta, out, public)
                _oracle_dataset(ds, out, public)
            except Exception:
                pass
    return out, public


def _check(root: Path, workers: int = 1) -> None:
    want = _oracle(root)
    got = collect_header_text(root, workers=workers)
    assert got[1] == want[1]
    assert got[0] == want[0]  # values and their origins
    # one worker's run over every file (the skip's memory shared by all of them)
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.stat().st_size)
    assert _collect_files(files) == want


def test_synthetic_tree_equals_the_oracle(curated_lifs) -> None:  # type: ignore[no-untyped-def]
    _check(curated_lifs.raw, workers=2)


def test_pydicom_and_real_scanner_files_equal_the_oracle(tmp_path: Path) -> None:
    root = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent
    shutil.copytree(root, tmp_path / "pydicom")
    data = Path(__file__).parents[3] / "data"
    if data.is_dir():
        shutil.copytree(data, tmp_path / "data")
    _check(tmp_path)


def _write(path: Path, implicit: bool, **elements: Any) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = "1.2.3." + str(abs(hash(path)) % 10**8)
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for key, value in elements.items():
        if key.startswith("private"):
            creator, text, vr = value
            ds.private_block(0x0029, creator, create=True).add_new(0x10, vr, text)
        else:
            setattr(ds, key, value)
    ds.Rows = ds.Columns = 1
    ds.BitsAllocated = 8
    ds.PixelData = b"\0\0"
    ds.save_as(path, enforce_file_format=True, implicit_vr=implicit, little_endian=True)


@pytest.mark.parametrize("implicit", [False, True])
def test_repeated_bytes_under_other_context_are_collected(tmp_path: Path, implicit: bool) -> None:
    """The same raw bytes under another character set, private creator or tag, in later
    files of one worker's run, are collected again (what the skip must not hide)."""
    name = "M\xfcller^Hans"
    _write(tmp_path / "a.dcm", implicit, SpecificCharacterSet="ISO_IR 100", PatientName=name,
           private1=("ACME 1", "Scanner room seven", "LO"))  # fmt: skip
    # the same bytes as ``name`` in Latin-1 (0xFC), read as Cyrillic
    _write(tmp_path / "b.dcm", implicit, SpecificCharacterSet="ISO_IR 144",
           PatientName="M\u045cller^Hans",
           private1=("OTHER 2", "Scanner room seven", "LO"),
           StationName="Scanner room seven")  # fmt: skip
    _write(tmp_path / "c.dcm", implicit, PatientName="Plain^Name", PatientID="0012345678",
           OtherPatientIDs="0012345678", AccessionNumber="A77X", StudyDate="20240315")  # fmt: skip
    _check(tmp_path)
    values, _ = collect_header_text(tmp_path, workers=1)
    assert values["Scanner room seven"] == "StationName"  # a name replaces a private origin
    assert values["0012345678"] == "PatientID"
    assert values["Müller Hans"] == values["M\u045cller Hans"] == "PatientName"
