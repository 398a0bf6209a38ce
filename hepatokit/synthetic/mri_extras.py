"""Bad raw files and the clinical/reader CSVs of the synthetic MRI studies.

Bad files (each with the exclusion reason a curation must give): a DICOM truncated inside
its header and one truncated inside its pixel data (``corrupt``), a text note, a JPEG, a
random binary and an empty file (``not_dicom``), a ``DICOMDIR`` (``dicomdir``) and a
Basic Text structured report (``non_image``).

Label problems planted in ``clinical_labels.csv``: an unknown stage value, a conflicting
duplicate row, a consistent duplicate row (same stage in two notations: not a conflict),
a label of a patient without images, and an imaged patient without a label.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence as Seq
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    BasicTextSRStorage,
    ExplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)

from hepatokit.synthetic.mri_dicom import tm, write_bytes
from hepatokit.synthetic.mri_encode import encode_dataset
from hepatokit.synthetic.mri_plan_series import PatientPlan, uid_for

__all__ = ["write_bad_files", "write_label_csvs"]


def write_bad_files(
    raw_root: Path, plan: PatientPlan, template: str, seed: int
) -> list[dict[str, Any]]:
    """Write the bad inputs next to ``plan``'s files; ``template`` is one of its DICOMs."""
    rng = np.random.default_rng([seed, 4242])
    folder = str(Path(template).parent)
    bad: list[dict[str, Any]] = []

    def put(name: str, data: bytes, reason: str, accepted: list[str], detail: str) -> None:
        rel = name if "/" in name else f"{folder}/{name}"
        write_bytes(raw_root / rel, data)
        bad.append({"path": rel, "reason": reason, "accepted_reasons": accepted, "detail": detail})

    ds = dcmread(raw_root / template)
    lost_series = uid_for(seed, plan.index, "lost-transfer")
    ds.SeriesInstanceUID = lost_series
    ds.SeriesDescription = "t2_haste_tra_mbh"
    whole = encode_dataset(ds, ds.SOPClassUID, uid_for(seed, plan.index, "truncated", 1))
    pixel_at = whole.rfind(b"\xe0\x7f\x10\x00")
    put(
        f"{rng.integers(16**15):015x}",
        whole[: pixel_at // 2],
        "corrupt",
        ["corrupt", "truncated"],
        "DICOM cut half-way through its header: SOP UIDs present, no Rows/PixelData "
        "(pydicom reads it without an error)",
    )
    whole2 = encode_dataset(ds, ds.SOPClassUID, uid_for(seed, plan.index, "truncated", 2))
    put(
        f"{rng.integers(16**15):015x}.dcm",
        whole2[: pixel_at + 12 + 1000],
        "corrupt",
        ["corrupt", "truncated"],
        "DICOM cut inside PixelData: the header reads, PixelData is 1000 bytes short of "
        "Rows*Columns*2",
    )
    put(
        "export_notes.txt",
        b"Export of MR studies, batch 7.\nChecked by PACS admin.\n",
        "not_dicom",
        ["not_dicom"],
        "plain text note",
    )
    img = Image.fromarray((np.add.outer(np.arange(48), np.arange(48)) * 2).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    put("screenshot_0001.jpg", buf.getvalue(), "not_dicom", ["not_dicom"], "JPEG image")
    put(
        f"{rng.integers(16**15):015x}",
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "not_dicom",
        ["not_dicom", "corrupt"],
        "4 KiB of random bytes",
    )
    put(
        f"{rng.integers(16**15):015x}.dcm",
        b"",
        "not_dicom",
        ["not_dicom", "corrupt", "empty"],
        "empty file",
    )
    put(
        f"{Path(template).parts[0]}/DICOMDIR",  # at the root of the center's export
        _dicomdir(plan, seed),
        "dicomdir",
        ["dicomdir"],
        "Media Storage Directory (DICOMDIR) with a PATIENT record",
    )
    put(
        f"{rng.integers(16**15):015x}",
        _structured_report(plan, seed),
        "non_image",
        ["non_image", "not_image"],
        "Basic Text SR (SOP class 1.2.840.10008.5.1.4.1.1.88.11)",
    )
    return bad


def _dicomdir(plan: PatientPlan, seed: int) -> bytes:
    ds = Dataset()
    ds.FileSetID = "EXPORT7"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    rec = Dataset()
    rec.OffsetOfTheNextDirectoryRecord = 0
    rec.RecordInUseFlag = 0xFFFF
    rec.OffsetOfReferencedLowerLevelDirectoryEntity = 0
    rec.DirectoryRecordType = "PATIENT"
    rec.PatientName = plan.phi.name
    rec.PatientID = plan.phi.patient_id
    ds.DirectoryRecordSequence = Sequence([rec])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    meta.MediaStorageSOPInstanceUID = UID(uid_for(seed, "dicomdir"))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _structured_report(plan: PatientPlan, seed: int) -> bytes:
    phi = plan.phi
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.Modality = "SR"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = phi.name, phi.patient_id, phi.birth_date
    ds.StudyInstanceUID = plan.study_uid
    ds.SeriesInstanceUID = uid_for(seed, plan.index, "sr-series")
    ds.StudyDate = ds.ContentDate = phi.study_date
    ds.ContentTime = tm(phi.study_time_s + 3600)
    ds.AccessionNumber = phi.accession_number
    ds.SeriesNumber = 999
    ds.InstanceNumber = 1
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.TextValue = f"Liver MRI of {phi.name.replace('^', ' ')}: nodular liver surface."
    ds.ContentSequence = Sequence([item])
    return encode_dataset(ds, BasicTextSRStorage, uid_for(seed, plan.index, "sr"))


def write_label_csvs(
    out: Path, plans: list[PatientPlan], seed: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Write ``clinical_labels.csv`` and ``readers.csv``; return (problems, per-patient labels)."""
    rng = np.random.default_rng([seed, 777])
    order = [int(i) for i in rng.permutation(len(plans))]
    roles = {
        "unlabelled": order[0],
        "unknown_stage": order[1 % len(plans)],
        "conflict": order[2 % len(plans)],
        "duplicate_consistent": order[3 % len(plans)],
    }
    rows: list[tuple[str, str, str]] = []
    per: dict[str, dict[str, Any]] = {}
    problems: list[dict[str, Any]] = []
    for p in plans:
        pid, st = p.phi.patient_id, p.stage
        notation = ("S{}", "{}", "F{}")[int(rng.integers(3))].format(st)
        per[pid] = {"label_value": notation, "expected_stage": f"S{st}", "label_problem": None}
        if p.index == roles["unlabelled"]:
            per[pid] |= {"label_value": None, "expected_stage": None, "label_problem": "no_label"}
            problems.append({"kind": "no_label", "patient_id": pid})
            continue
        if p.index == roles["unknown_stage"]:
            per[pid] |= {
                "label_value": "S5",
                "expected_stage": None,
                "label_problem": "unknown_stage",
            }
            problems.append({"kind": "unknown_stage", "patient_id": pid, "value": "S5"})
            rows.append((pid, "S5", p.phi.biopsy_date))
            continue
        rows.append((pid, notation, p.phi.biopsy_date))
        if p.index == roles["conflict"]:
            other = f"F{1 + (st % 4)}"
            per[pid] |= {"expected_stage": None, "label_problem": "conflict"}
            problems.append({"kind": "conflict", "patient_id": pid, "values": [notation, other]})
            rows.append((pid, other, p.phi.biopsy_date))
        elif p.index == roles["duplicate_consistent"] and len(plans) > 4:
            again = f"{st}" if not notation.isdigit() else f"S{st}"
            per[pid]["label_problem"] = "duplicate_consistent"
            problems.append(
                {"kind": "duplicate_consistent", "patient_id": pid, "values": [notation, again]}
            )
            rows.append((pid, again, p.phi.biopsy_date))
    ghost = f"PID{int(rng.integers(10000, 99999))}9999{'QZ'}"
    rows.append((ghost, "S2", "20210304"))
    problems.append({"kind": "label_without_images", "patient_id": ghost})
    rows = [rows[int(i)] for i in rng.permutation(len(rows))]
    _write_csv(out / "clinical_labels.csv", ["patient_id", "stage", "biopsy_date"], rows)
    readers = []
    for p in plans:
        base = 1 + (p.stage - 1) * 2
        r1 = int(np.clip(round(base + rng.normal(0, 1.1)), 1, 7))
        r2 = int(np.clip(round(base + rng.normal(0, 1.3)), 1, 7))
        readers.append((p.phi.patient_id, str(r1), str(r2)))
        per[p.phi.patient_id]["readers"] = [r1, r2]
    _write_csv(out / "readers.csv", ["patient_id", "reader_1", "reader_2"], readers)
    return problems, per


def _write_csv(path: Path, header: list[str], rows: Seq[tuple[str, ...]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_bytes(path, buf.getvalue().encode("utf-8"))
