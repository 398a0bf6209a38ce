"""Text values are decoded with the file's Specific Character Set exactly as pydicom does.

Truth: pydicom's own decoding (``Dataset`` attribute access) of pydicom's character-set test
files (real files from the DICOM standard's examples and other toolkits), and of series
written here in GB18030, Latin-1, UTF-8 and ISO 2022 (Japanese, Korean).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pydicom.data
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from hepatokit.curation.mri.dicom.tags import read_header
from hepatokit.curation.mri.dicom.values import character_set_of, text_of
from hepatokit.curation.mri.index.stage import index_dicom

CHARSET_FILES = sorted(pydicom.data.get_charset_files("*.dcm"))
_TEXT_VRS = {"SH", "LO", "ST", "LT", "UT", "PN", "UC"}


def _pydicom_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue | list):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return text.strip("\x00 ") or None


def test_charset_files_are_there() -> None:
    assert len(CHARSET_FILES) >= 15


@pytest.mark.parametrize("path", CHARSET_FILES, ids=lambda p: Path(p).name)
def test_every_text_element_equals_pydicom(path: str) -> None:
    """Every top-level text element of every pydicom charset file, raw → decoded here, equals
    pydicom's decoding; at least one non-ASCII value per file is checked."""
    raw = pydicom.dcmread(path, force=True)
    elements = dict(raw._dict)  # the raw (undecoded) elements, as the index reads them
    truth = pydicom.dcmread(path, force=True)
    checked = non_ascii = 0
    for tag, elem in elements.items():
        if elem.VR not in _TEXT_VRS or elem.value is None:
            continue
        keyword = pydicom.datadict.keyword_for_tag(tag)
        if not keyword:
            continue
        expected = _pydicom_text(truth[tag].value)
        assert text_of(elements, keyword) == expected, (Path(path).name, keyword)
        checked += 1
        non_ascii += not (expected or "").isascii()
    assert checked >= 1
    if Path(path).name not in {"chrSQEncoding.dcm", "chrSQEncoding1.dcm"}:  # text in items
        assert non_ascii >= 1


def test_known_names() -> None:
    """A few decoded names spelled out (the DICOM standard's Part 5 examples)."""
    by_name = {Path(p).name: p for p in CHARSET_FILES}
    expect = {
        "chrX2.dcm": "Wang^XiaoDong=王^小东",
        "chrI2.dcm": "Hong^Gildong=洪^吉洞=홍^길동",
        "chrH31.dcm": "Yamada^Tarou=山田^太郎=やまだ^たろう",
        "chrGerm.dcm": "Äneas^Rüdiger",
        "chrRuss.dcm": "Люкceмбypг",
    }
    for name, text in expect.items():
        ds = pydicom.dcmread(by_name[name], force=True)
        assert text_of(dict(ds._dict), "PatientName") == text, name


def _series(charset: str | list[str], description: str, institution: str, name: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.PatientID = "PID-CS-1"
    ds.PatientName = name
    ds.Modality = "MR"
    ds.SeriesDescription = description
    ds.InstitutionName = institution
    ds.Manufacturer = "UIH"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(32)
    return ds


WRITTEN = [
    ("GB18030", "t2_haste_tra 腹部 T2", "中山大学附属第三医院", "王^小东"),
    ("GB18030", "t1_vibe_dixon_tra 增强 动脉期", "复旦大学附属中山医院", "李^明"),
    ("ISO_IR 100", "t2_tse_tra Leber Übersicht", "Klinikum Müllersohn", "Müllersohn^Jörg"),
    ("ISO_IR 192", "dwi b800 肝脏 Léber", "Hôpital Saint-Éloi 医院", "Éloi^Zoë"),
    (["", "ISO 2022 IR 87"], "T2 肝臓", "山田病院", "山田^太郎"),
    (["", "ISO 2022 IR 149"], "T2 간", "서울대학교병원", "홍^길동"),
]


@pytest.mark.parametrize("charset,description,institution,name", WRITTEN)
def test_written_series_decode_like_pydicom(
    tmp_path: Path, charset: str | list[str], description: str, institution: str, name: str
) -> None:
    path = tmp_path / "a.dcm"
    _series(charset, description, institution, name).save_as(path, enforce_file_format=True)
    assert not path.read_bytes().isascii()  # really encoded, not stored as ASCII
    truth = pydicom.dcmread(path)
    rec = read_header(path)
    assert rec.reason is None, rec.detail
    assert rec.public["series_description"] == str(truth.SeriesDescription) == description
    assert rec.phi["institution"] == str(truth.InstitutionName) == institution
    assert rec.phi["patient_name"] == str(truth.PatientName) == name
    encodings = character_set_of(dict(pydicom.dcmread(path)._dict))
    assert encodings == pydicom.charset.convert_encodings(truth.SpecificCharacterSet)


def test_plain_ascii_fast_path_needs_no_charset() -> None:
    ds = Dataset()
    ds.SeriesDescription = "t1_vibe_fs_tra"
    elements = {0x0008103E: pydicom.dataelem.RawDataElement(
        pydicom.tag.Tag(0x0008103E), "LO", 14, b"t1_vibe_fs_tra", 0, False, True
    )}  # fmt: skip
    assert text_of(elements, "SeriesDescription") == "t1_vibe_fs_tra"


def test_distinct_non_latin_institutions_get_distinct_centres(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, (charset, description, institution, name) in enumerate(WRITTEN):
        ds = _series(charset, description, institution, name)
        ds.PatientID = f"PID-CS-{i}"
        ds.save_as(raw / f"{i}.dcm", enforce_file_format=True)
    key = tmp_path / "key"
    key.write_text("k")
    index_dicom(raw=raw, out=tmp_path / "b", workers=1, key_file=key)
    sites = pq.read_table(tmp_path / "b" / "private" / "sites.parquet").to_pylist()
    centers = {r["original"]: r["pseudonym"] for r in sites if r["kind"] == "center"}
    assert set(centers) == {w[2] for w in WRITTEN}  # decoded, not mojibake
    assert len(set(centers.values())) == len(WRITTEN)
    inst = pq.read_table(tmp_path / "b" / "instances.parquet").to_pylist()
    assert sorted(r["series_description"] for r in inst) == sorted(w[1] for w in WRITTEN)
