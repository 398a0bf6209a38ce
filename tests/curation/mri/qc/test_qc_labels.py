"""Volume QC, the missing-modality matrix, and subjects.parquet against the truth."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from hepatokit.curation.mri.config import LabelsConfig, VolumeQCConfig
from hepatokit.curation.mri.labels.stage import SUBJECTS_SCHEMA, normalise_stage
from hepatokit.curation.mri.qc.checks import check_volume
from hepatokit.manifest import Manifest

SEQS = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")


def test_volume_qc_rows(curated_lifs) -> None:
    qc = curated_lifs.table("qc/volume_qc.parquet")
    vols = curated_lifs.table("volumes.parquet")
    assert sorted(qc["path"]) == sorted(vols["path"])
    assert qc["qc_reason"].isna().all()
    for row in qc.to_dict("records"):
        img = nib.load(curated_lifs.build / row["path"])
        assert list(row["shape"]) == list(img.shape)
        assert row["n_nonfinite"] == 0 and not row["empty"] and not row["constant"]
        assert row["percentiles"][0] <= row["percentiles"][1] <= row["percentiles"][2]
        assert row["slice_gap_ratio"] < 0.05


def test_qc_catches_bad_volumes(tmp_path: Path) -> None:
    cfg = VolumeQCConfig()
    info = {
        "subject_id": "s",
        "sequence": "T2W",
        "series_id": "x",
        "positions": [],
        "orientation": None,
    }
    cases = {
        "const.nii.gz": (np.full((8, 8, 12), 7, np.int16), "constant"),
        "zero.nii.gz": (np.zeros((8, 8, 12), np.int16), "empty"),
        "nan.nii.gz": (
            np.where(np.eye(8)[..., None] > 0, np.nan, 1.0) * np.ones((8, 8, 12)),
            "non_finite",
        ),
    }
    for name, (data, reason) in cases.items():
        nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 6.0, 1.0])), tmp_path / name)
        assert check_volume((str(tmp_path), name, info, cfg))["qc_reason"] == reason
    thin = np.random.default_rng(0).integers(0, 100, (8, 8, 3)).astype(np.int16)
    nib.save(nib.Nifti1Image(thin, np.eye(4)), tmp_path / "thin.nii.gz")
    row = check_volume((str(tmp_path), "thin.nii.gz", info, cfg))
    assert row["tiny_coverage"] and row["qc_reason"] is None and row["flags"] == ["tiny_coverage"]
    gaps = {
        **info,
        "positions": [[0, 0, z] for z in (0, 5, 10, 20, 25)],
        "orientation": [1, 0, 0, 0, 1, 0],
    }
    assert check_volume((str(tmp_path), "thin.nii.gz", gaps, cfg))["irregular_spacing"]


def test_missing_modality_matrix(curated_lifs) -> None:
    matrix = pd.read_csv(curated_lifs.build / "qc" / "missing_modality.csv").set_index("subject_id")
    sub_of = curated_lifs.subject_of_patient()
    for p in curated_lifs.truth["patients"]:
        row = matrix.loc[sub_of[p["patient_id"]]]
        assert [s for s in SEQS if row[s] == 1] == p["sequences_present"], p["patient_id"]
    png = curated_lifs.build / "reports" / "missing_modality.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_subjects_table_follows_the_contract(curated_lifs) -> None:
    table = pq.read_table(curated_lifs.build / "subjects.parquet")
    assert table.schema.remove_metadata() == SUBJECTS_SCHEMA
    subjects = curated_lifs.table("subjects.parquet").set_index("subject_id")
    sub_of = curated_lifs.subject_of_patient()
    centers = defaultdict(set)
    for p in curated_lifs.truth["patients"]:
        row = subjects.loc[sub_of[p["patient_id"]]]
        assert row["vendor"] == f"Vendor {p['vendor']}"
        assert row["scanner"] == p["scanner"]
        assert row["field_strength"] == p["field_strength"]
        centers[p["center"]].add(row["center"])
        assert row["stage"] == p["expected_stage"], p["patient_id"]
        if p["expected_stage"] is None:
            assert row["cirrhosis"] is None and row["significant_fibrosis"] is None
        else:
            assert row["cirrhosis"] == int(p["expected_stage"] == "S4")
            assert row["significant_fibrosis"] == int(p["expected_stage"] != "S1")
        assert list(row["sequences"]) == p["sequences_present"]
        for s in SEQS:
            path = row[f"volume_{s}"]
            assert (path is not None) == (s in p["sequences_present"])
            if path:
                assert (curated_lifs.build / path).is_file()
    assert all(len(v) == 1 for v in centers.values())
    assert len({next(iter(v)) for v in centers.values()}) == len(centers)


def test_label_problems_in_manifest(curated_lifs) -> None:
    rows = pd.read_parquet(curated_lifs.build / "manifest" / "labels.parquet")
    label_rows = rows[rows["kind"] == "label_row"]
    n_csv = len(pd.read_csv(curated_lifs.root / "clinical_labels.csv"))
    assert len(label_rows) == n_csv
    reasons = label_rows["reason"].dropna().str.split(":").str[0].value_counts().to_dict()
    kinds = {p["kind"] for p in curated_lifs.truth["labels"]["problems"]}
    assert {
        "unknown_stage",
        "conflict",
        "duplicate_consistent",
        "label_without_images",
        "no_label",
    } <= kinds
    assert reasons == {
        "unknown_stage": 1,
        "conflicting_labels": 2,
        "duplicate_of": 1,
        "no_images": 1,
    }
    assert (rows["kind"] == "subject").sum() == sum(
        p["expected_stage"] is None for p in curated_lifs.truth["patients"]
    )
    summary = Manifest(curated_lifs.build).check()
    assert summary.inputs == summary.kept + summary.excluded


def test_normalise_stage() -> None:
    cfg = LabelsConfig(stage_map={"cirrhosis": "S4"})
    for value, want in {
        "S3": "S3",
        "3": "S3",
        "F3": "S3",
        " s2 ": "S2",
        "stage 1": "S1",
        "cirrhosis": "S4",
        "S5": None,
        "": None,
        "F": None,
    }.items():
        assert normalise_stage(value, cfg) == want, value
