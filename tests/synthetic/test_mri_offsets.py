"""``generate_mri_studies(sequence_offsets=...)``: planted rigid offsets of the anatomy."""

from __future__ import annotations

import json

import numpy as np
import pydicom

from hepatokit.synthetic.mri import generate_mri_studies
from hepatokit.synthetic.mri_phantom import array_sha256, planted_volume


def test_offsets_move_the_pixels_not_the_headers(tmp_path):
    plain, moved = tmp_path / "plain", tmp_path / "moved"
    generate_mri_studies(plain, patients=1, seed=5, workers=1, matrix=32)
    generate_mri_studies(moved, patients=1, seed=5, workers=1, matrix=32,
                         sequence_offsets=(4.0, 8.0))  # fmt: skip
    a = json.loads((plain / "truth.json").read_text(encoding="utf-8"))
    b = json.loads((moved / "truth.json").read_text(encoding="utf-8"))
    assert "sequence_offsets" not in a and b["sequence_offsets"]["max_mm"] == 8.0
    assert [u["files"] for u in a["units"]] == [u["files"] for u in b["units"]]
    changed = 0
    for ua, ub in zip(a["units"], b["units"], strict=True):
        assert ua["geometry"] == ub["geometry"]  # the DICOM frame does not tell the motion
        m = np.asarray(ub["pixels"]["params"]["motion"]["matrix_lps"])
        rot = m[:3, :3]
        assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-6)
        angle = np.degrees(np.arccos(np.clip((np.trace(rot) - 1) / 2, -1, 1)))
        assert angle <= 4.0 + 1e-3
        c = np.asarray(ub["pixels"]["params"]["motion"]["centre_lps"])
        assert np.linalg.norm(m[:3, :3] @ c + m[:3, 3] - c) <= 8.0 + 1e-3
        changed += ua["pixels"]["sha256"] != ub["pixels"]["sha256"]
    assert changed >= len(a["units"]) - 3  # (a blank-ish localizer edge may not change)
    # truth.json recomputes what was written: the planted array (motion included) hashes to
    # the recorded sha256 and its middle slice is the DICOM file's PixelData
    unit = next(u for u in b["units"] if u["expected_label"] == "T1W")
    vol = planted_volume(unit)
    assert array_sha256(vol) == unit["pixels"]["sha256"]
    files = [pydicom.dcmread(moved / "dicom" / f) for f in unit["files"]]
    normal = np.cross(*np.reshape(files[0].ImageOrientationPatient, (2, 3)))
    files.sort(key=lambda ds: float(np.dot(ds.ImagePositionPatient, normal)))
    k = len(files) // 2
    assert np.array_equal(files[k].pixel_array, vol[:, :, k].T)
