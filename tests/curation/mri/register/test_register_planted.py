"""End to end on the synthetic DICOM studies with planted per-sequence offsets: generate →
index / series / convert / labels → register; the recovered transforms are compared with
the offsets the generator planted (truth.json), never with anything the stage computed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hepatokit.curation.mri.register.stage import register_sequences
from hepatokit.pipelines import build_lifs
from hepatokit.synthetic.mri import generate_mri_studies

F = np.diag([-1.0, -1.0, 1.0, 1.0])  # LPS <-> RAS


def _kept_unit(truth: dict, patient: str, seq: str) -> dict:
    units = [
        u
        for u in truth["units"]
        if u["patient_id"] == patient and u["expected_label"] == seq and not u["ignore_reason"]
    ]
    assert len(units) == 1, (patient, seq, len(units))
    return units[0]


def _planted(unit: dict) -> np.ndarray:
    return np.asarray(unit["pixels"]["params"]["motion"]["matrix_lps"], dtype=float)


@pytest.mark.slow
def test_recovers_the_generators_planted_offsets(tmp_path, deid_key_file):
    raw = tmp_path / "raw"
    generate_mri_studies(raw, patients=2, seed=3, workers=2, matrix=96,
                         sequence_offsets=(5.0, 10.0))  # fmt: skip
    build = tmp_path / "build"
    build_lifs(recipe="lifs", raw=raw / "dicom", labels=raw / "clinical_labels.csv", out=build,
               workers=2, key_file=deid_key_file)  # fmt: skip
    register_sequences(build=build, workers=2)
    truth = json.loads((raw / "truth.json").read_text(encoding="utf-8"))
    pseudonyms = pd.read_parquet(build / "private" / "pseudonyms.parquet")
    patient = dict(zip(pseudonyms["subject_id"], pseudonyms["original_patient_id"], strict=True))
    table = pd.read_parquet(build / "registration" / "registration.parquet")
    pairs = table[table["status"] != "reference"]
    assert len(pairs) == 12 and (pairs["status"] == "ok").all(), pairs[["sequence", "reason"]]
    errors, planted_mm = [], []
    for r in pairs.to_dict("records"):
        fixed = _kept_unit(truth, patient[r["subject_id"]], r["reference"])
        moving = _kept_unit(truth, patient[r["subject_id"]], r["sequence"])
        want = F @ _planted(moving) @ np.linalg.inv(_planted(fixed)) @ F  # fixed → moving, RAS
        found = np.asarray(r["matrix_ras"], dtype=float).reshape(4, 4)
        centre = F[:3, :3] @ np.asarray(fixed["geometry"]["center_lps"])  # the scan's centre
        d = found - want
        mm = float(np.linalg.norm(d[:3, :3] @ centre + d[:3, 3]))
        cos = (np.trace(found[:3, :3].T @ want[:3, :3]) - 1) / 2
        errors.append((mm, float(np.degrees(np.arccos(np.clip(cos, -1, 1))))))
        planted_mm.append(float(np.linalg.norm(want[:3, :3] @ centre + want[:3, 3] - centre)))
    e = np.array(errors)
    assert max(planted_mm) > 5.0  # registration was needed: the offsets are not negligible
    # the generator's voxels are 4-5 mm in-plane with 6-7 mm slices: 1 mm / 1° is ~1/6 voxel
    within = (e[:, 0] <= 1.0) & (e[:, 1] <= 1.0)
    assert within.mean() >= 0.95, e
