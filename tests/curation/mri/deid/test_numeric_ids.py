"""Digits-only identifiers (a numeric PatientName / PatientID / accession) against the numbers
hepatokit writes itself.

A 610-patient synthetic build failed its PHI audit on one such coincidence: a numeric patient
name equal to an output size written in a convert resume record. Each precision case here
plants an identifier equal to a number hepatokit writes (it must pass); each recall case
plants the same identifier as text (a string column, a file name, a JSON string, a NIfTI
text field, a CSV), which must still fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepatokit.curation.mri.convert.job import stamp
from hepatokit.identifier_audit import audit_identifiers

#: a numeric patient name, as a synthetic header may hold
ID = "123457"


def _audit(folder: Path, values: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return audit_identifiers(folder=folder, identifiers=values or {ID: "PatientName"}, workers=1)


def _outputs(folder: Path, size: int) -> list[Path]:
    """Two converted outputs, the first of ``size`` bytes."""
    folder.mkdir(parents=True)
    nii, side = folder / "sub-1_DWI.nii.gz", folder / "sub-1_DWI.json"
    nii.write_bytes(b"\0" * size)
    side.write_text("{}")
    return [nii, side]


def test_resume_record_holds_no_output_size(tmp_path: Path) -> None:
    outs = _outputs(tmp_path / "work", int(ID))
    record = stamp("ab" * 32, outs)
    assert ID not in record  # the size is digested, never written
    build = tmp_path / "build"
    (build / ".state" / "convert").mkdir(parents=True)
    (build / ".state" / "convert" / "volumes__sub-1_DWI.key").write_text(record)
    assert _audit(build).ok
    # the record still tells sizes apart (a truncated output is converted again)
    outs[0].write_bytes(b"\0" * (int(ID) - 1))
    assert stamp("ab" * 32, outs) != record


def test_the_old_record_would_have_failed(tmp_path: Path) -> None:
    """The false alarm reproduced: the sizes written as numbers are found."""
    (tmp_path / "x.key").write_text("ab" * 32 + f"\n{ID} 2\n")
    result = _audit(tmp_path)
    assert not result.ok and result.hits[0].tag == "PatientName"


def _plant_string_column(folder: Path) -> None:
    pq.write_table(pa.table({"note": ["a", f"seen {ID}"]}), folder / "t.parquet")


def _plant_file_name(folder: Path) -> None:
    (folder / f"scan_{ID}.txt").write_text("nothing")


def _plant_json_string(folder: Path) -> None:
    (folder / "s.json").write_text(json.dumps({"SeriesDescription": f"t1 {ID}"}))


def _plant_nifti_text(folder: Path) -> None:
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4))
    img.header["descrip"] = f"pt {ID}".encode()
    nib.save(img, folder / "v.nii.gz")


def _plant_csv(folder: Path) -> None:
    (folder / "t.csv").write_text(f"subject,value\nsub-1,{ID}\n")


@pytest.mark.parametrize(
    "plant",
    [_plant_string_column, _plant_file_name, _plant_json_string, _plant_nifti_text, _plant_csv],
)
def test_numeric_id_in_text_is_found(tmp_path: Path, plant) -> None:  # type: ignore[no-untyped-def]
    plant(tmp_path)
    result = _audit(tmp_path)
    assert not result.ok
    assert [h.tag for h in result.hits] == ["PatientName"]


def test_a_size_or_count_in_a_numeric_field_is_no_hit(tmp_path: Path) -> None:
    """Numbers hepatokit computes: a size column, sidecar numbers, a report's counts."""
    sizes = [int(ID), 5, 999, 70_000, 1_234_567]
    pq.write_table(
        pa.table({"size": sizes, "mm": [0.5, 1.0, 1.5, 2.0, float(ID)], "n": [[int(ID), 2]] * 5}),
        tmp_path / "volumes.parquet",
    )
    (tmp_path / "sub-1_T1w.json").write_text(
        json.dumps({"EchoTime": 0.01, "FileSize": int(ID), "Frames": [4, 8], "Flip": 9.0})
    )
    (tmp_path / "summary.json").write_text(json.dumps({"inputs": int(ID), "kept": 1234}))
    assert _audit(tmp_path).ok


def test_a_field_of_numeric_ids_is_found(tmp_path: Path) -> None:
    """An identifier parsed as a number: a column (or JSON file) mostly of identifiers."""
    ids = {ID: "PatientID", "7654321": "PatientID", "20240315": "StudyDate"}
    pq.write_table(pa.table({"subject": [int(ID), 7654321, 42]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"day": [20240315, 20240315]}), tmp_path / "b.parquet")
    (tmp_path / "c.json").write_text(json.dumps({"patient": int(ID)}))
    hits = {(h.file, h.where) for h in _audit(tmp_path, ids).hits}
    assert hits == {
        ("a.parquet", "column:subject"),
        ("b.parquet", "column:day"),
        ("c.json", "json"),
    }


def _dicom(path: Path, pixels: bytes, description: str) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SeriesDescription = description
    ds.Rows, ds.Columns, ds.BitsAllocated = 1, len(pixels), 8
    ds.PixelData = pixels
    ds.save_as(path, enforce_file_format=True)


def test_digits_in_dicom_pixel_data_are_no_hit(tmp_path: Path) -> None:
    """Voxels are not text: a run of digit bytes in the pixel data is no hit; the same
    digits in the header's text are."""
    _dicom(tmp_path / "a.dcm", b"\x00\x01" + ID.encode() + b"\x02\x03", "t1 vibe")
    assert _audit(tmp_path).ok
    _dicom(tmp_path / "b.dcm", b"\x00\x01\x02\x03", f"t1 {ID}")
    assert [(h.file, h.where) for h in _audit(tmp_path).hits] == [("b.dcm", "dicom")]
